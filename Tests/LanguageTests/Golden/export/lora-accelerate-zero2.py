#!/usr/bin/env python3
"""The Finch run of models/all-MiniLM-L6-v2 on data/reviews "bn".tsv, for transformers' Trainer + PEFT.

Written by Finch (`export script`). Same model, data file, columns, label order, split rows, seed,
method (rslora), adapter settings, training arguments and metrics as the Finch session.

Launch:
  one GPU (or the CPU):  python train.py
  several GPUs:         accelerate launch --config_file accelerate_config.yaml --num_processes NUM_GPUS train.py
  several nodes:        on each node, accelerate launch --config_file accelerate_config.yaml \
                            --num_machines NUM_NODES --machine_rank THIS_NODE --num_processes ALL_GPUS \
                            --main_process_ip FIRST_NODE_HOST --main_process_port 29500 train.py
  check against Finch:  python train.py --stop-after 3 --dump-first-steps first_steps.json
  on GPUs with bf16:    add --bf16 (Finch trains in fp32; bf16 changes the numbers slightly)
Needs: torch, transformers, peft, safetensors, numpy, accelerate, deepspeed (ZeRO stage 2, settings in ds_zero2.json).

Data order: Finch shuffles the training rows each epoch with its own generator (xoshiro256** seeded
through SplitMix64 by the run's seed); FinchOrder below draws the same numbers, so batch k holds the
same rows as Finch's batch k. Split rows are stored in SPLIT (two bits a row, file order), not recomputed.
Initial weights: the head (and any module the checkpoint lacks) starts from Finch's values in
INITIAL_WEIGHTS when that file is beside this script, so step 1 computes the loss Finch computed.

Not exactly as in Finch:
  - accumulate=2: Finch's optimizer steps run on across epoch ends; the Trainer ends each epoch with a shorter step when the batches do not divide evenly
  - LoRA dropout 0.1: other masks than Finch's, as for model dropout
  - LoRA A matrices: PEFT initialises them with its own random draws (B starts at zero, so the first step's loss is unaffected)
  - several GPUs: each process takes batch rows of Finch's order in turn, so the global batch is batch × processes
"""
import argparse
import base64
import csv
import io
import json
import os
import sys

# ---- The Finch session's settings ----
MODEL = "models/all-MiniLM-L6-v2"
DATA_FILE = "data/reviews \"bn\".tsv"  # relative paths are relative to this script's folder
FORMAT = "tsv"
TEXT_COLUMN = "text"
LABEL_COLUMN = "class_label"
LABELS = ["negative", "neutral", "positive"]  # class ids in this order
ROWS = 10
# Split of each row in file order, two bits a row (0 train, 1 valid, 2 test, 3 none), base64.
SPLIT = (
    "kNAC"
)
SEED = 7
MAX_LENGTH = 128
METHOD = "lora"
LORA = dict(r=8, lora_alpha=16.0, lora_dropout=0.1, target_modules=["query", "value"], use_rslora=True, use_dora=False, bias="none", modules_to_save=["classifier", "pooler"])
QUANTIZATION = None
HEAD_MODULES = ["classifier", "pooler"]  # trained in full
DROPOUT_KEYS = ["hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"]  # the config's dropout rates
MODEL_DROPOUT = False  # False: every dropout of the model off, as Finch's model_dropout=false
INITIAL_WEIGHTS = "train.init.safetensors"
CLASS_WEIGHTS = None
LABEL_SMOOTHING = 0.0
GROUP_BY_LENGTH = False
PATIENCE = 3
DEEPSPEED = "ds_zero2.json"
TRAINING = dict(
    num_train_epochs=4,
    max_steps=-1,
    learning_rate=0.0005,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=8,
    gradient_accumulation_steps=2,
    warmup_steps=0.1,
    lr_scheduler_type="cosine",
    weight_decay=0.01,
    max_grad_norm=1.0,
    optim="adamw_torch",
    seed=7,
    eval_strategy="steps",
    eval_steps=20,
    save_strategy="steps",
    save_steps=40,
    save_total_limit=3,
    load_best_model_at_end=True,
    metric_for_best_model="loss",
    greater_is_better=False,
    logging_steps=1,
    report_to="none",
)

# ---- The run ----
HERE = os.path.dirname(os.path.abspath(__file__))
MASK64 = (1 << 64) - 1


def beside(path):
    return path if os.path.isabs(path) else os.path.join(HERE, path)


class FinchRandom:
    """Finch's generator: xoshiro256** seeded through SplitMix64 (Sources/Engine/Tensor/Random.swift)."""

    def __init__(self, seed):
        z, state = seed, []
        for _ in range(4):
            z = (z + 0x9E3779B97F4A7C15) & MASK64
            x = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
            state.append(x ^ (x >> 31))
        self.state = state

    @staticmethod
    def rotate(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK64

    def next(self):
        s0, s1, s2, s3 = self.state
        result = (self.rotate((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self.rotate(s3, 45)
        self.state = [s0, s1, s2, s3]
        return result

    def shuffle(self, values):
        """Fisher-Yates from the end, as Finch's trainer shuffles each epoch's rows."""
        for i in range(len(values) - 1, 0, -1):
            j = self.next() % (i + 1)
            values[i], values[j] = values[j], values[i]


def cell(value):
    """A JSON value as the text Finch reads from it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def read_rows(path):
    """(text, label) of every row, read as Finch reads the format."""
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if FORMAT == "jsonl":
        records = [json.loads(line) for line in text.split("\n") if line.strip()]
        return [(cell(r.get(TEXT_COLUMN)), cell(r.get(LABEL_COLUMN))) for r in records]
    if FORMAT == "tsv":
        records = [line.replace("\r", "").split("\t") for line in text.split("\n")]
    else:
        records = [[field.replace("\r", "") for field in record] for record in csv.reader(io.StringIO(text))]
    records = [r for r in records if r and r != [""]]
    header, body = records[0], records[1:]
    t, l = header.index(TEXT_COLUMN), header.index(LABEL_COLUMN)
    return [(r[t], r[l]) for r in body]


def load_splits():
    """Texts and label ids of the train and valid rows."""
    rows = read_rows(beside(DATA_FILE))
    if ROWS is not None and len(rows) != ROWS:
        sys.exit(f"{DATA_FILE}: {len(rows)} rows, but Finch's split was made for {ROWS}")
    packed = base64.b64decode("".join(SPLIT)) if SPLIT is not None else None
    parts = {0: ([], []), 1: ([], [])}
    for i, (text, label) in enumerate(rows):
        if label not in LABELS:
            sys.exit(f"{DATA_FILE}: row {i}: label {label!r} is not one of {LABELS}")
        code = (packed[i // 4] >> (2 * (i % 4))) & 3 if packed is not None else 0
        if code in parts:
            parts[code][0].append(text)
            parts[code][1].append(LABELS.index(label))
    return parts[0], parts[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--output-dir", default=os.path.splitext(os.path.basename(__file__))[0] + "-output")
    p.add_argument("--data", help="the data file, if it has moved (default: DATA_FILE)")
    p.add_argument("--model", help="the base model, if it has moved (default: MODEL)")
    p.add_argument("--stop-after", type=int, help="stop after N optimizer steps; the schedule still spans the whole run")
    p.add_argument("--dump-first-steps", help="write each step's loss and learning rate as JSON to this file")
    p.add_argument("--bf16", action="store_true", help="bf16 mixed precision (GPUs that have it)")
    p.add_argument("--no-deepspeed", action="store_true", help="train without DeepSpeed even on GPUs")
    args = p.parse_args()

    import numpy as np
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed)

    global DATA_FILE
    DATA_FILE = args.data or DATA_FILE
    model_name = args.model or MODEL
    set_seed(SEED)
    (train_texts, train_labels), (valid_texts, valid_labels) = load_splits()
    tokenizer = AutoTokenizer.from_pretrained(model_name)

    class Rows(torch.utils.data.Dataset):
        def __init__(self, texts, labels):
            self.encodings = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)
            self.labels = labels

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return {**{k: v[i] for k, v in self.encodings.items()}, "labels": self.labels[i]}

    class FinchOrder(torch.utils.data.Sampler):
        """Each epoch's row order as Finch's trainer draws it (the same generator, seed and draws)."""

        def __init__(self, rows):
            self.rows, self.random, self.orders, self.epoch = rows, FinchRandom(SEED), [], 0
            if MODEL_DROPOUT:
                self.random.next()  # Finch seeds its dropout generator with the first draw

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return len(self.rows)

        def __iter__(self):
            while len(self.orders) <= self.epoch:
                order = list(range(len(self.rows)))
                self.random.shuffle(order)
                if GROUP_BY_LENGTH:  # groups of 50 batches, longest rows first (Finch's and the HF Trainer's rule)
                    size = 50 * TRAINING["per_device_train_batch_size"]
                    lengths = [len(ids) for ids in self.rows.encodings["input_ids"]]
                    order = [i for start in range(0, len(order), size)
                             for i in sorted(order[start:start + size], key=lambda i: -lengths[i])]
                self.orders.append(order)
            order, self.epoch = self.orders[self.epoch], self.epoch + 1
            return iter(order)

    config = {"num_labels": len(LABELS), "id2label": dict(enumerate(LABELS)),
              "label2id": {name: i for i, name in enumerate(LABELS)}}
    if not MODEL_DROPOUT:
        config.update({key: 0.0 for key in DROPOUT_KEYS})
    if QUANTIZATION is not None:
        from transformers import BitsAndBytesConfig
        config["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=QUANTIZATION["quant_type"],
            bnb_4bit_use_double_quant=QUANTIZATION["double_quant"], bnb_4bit_compute_dtype=torch.float32,
            llm_int8_skip_modules=HEAD_MODULES)
    model = AutoModelForSequenceClassification.from_pretrained(model_name, **config)
    if INITIAL_WEIGHTS is not None and os.path.exists(beside(INITIAL_WEIGHTS)):
        from safetensors.torch import load_file
        result = model.load_state_dict(load_file(beside(INITIAL_WEIGHTS)), strict=False)
        if result.unexpected_keys:
            sys.exit(f"{INITIAL_WEIGHTS}: tensors this model does not have: {result.unexpected_keys}")
    if LORA is not None:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", **LORA))
        model.print_trainable_parameters()
    elif METHOD == "bitfit":  # the biases and the head
        for name, parameter in model.named_parameters():
            parameter.requires_grad = name.endswith(".bias") or any(
                name.startswith(m + ".") or f".{m}." in name for m in HEAD_MODULES)

    def compute_metrics(prediction):
        logits, labels = prediction
        predicted = np.asarray(logits).argmax(-1)
        labels = np.asarray(labels)
        f1s, supports = [], []
        for c in range(len(LABELS)):
            tp = int(((predicted == c) & (labels == c)).sum())
            precision = tp / max(int((predicted == c).sum()), 1)
            recall = tp / max(int((labels == c).sum()), 1)
            f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
            supports.append(int((labels == c).sum()))
        return {"accuracy": float((predicted == labels).mean()), "f1_macro": float(np.mean(f1s)),
                "f1_weighted": float(np.dot(f1s, supports) / max(sum(supports), 1))}

    class FinchTrainer(Trainer):
        """Finch's loss (cross-entropy, mean over the batch; class weights and label smoothing as set), the
        data order of FinchOrder, and a record of each step's loss (row-weighted mean) and learning rate."""

        def __init__(self, *a, order=None, **kw):
            super().__init__(*a, **kw)
            self.order, self.steps, self.pending = order, [], [0.0, 0, None]
            self.model_accepts_loss_kwargs = False
            self.loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides it by the accumulation

        def _get_train_sampler(self, *a, **kw):
            return self.order

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            weight = torch.tensor(CLASS_WEIGHTS, device=labels.device) if CLASS_WEIGHTS else None
            loss = torch.nn.functional.cross_entropy(outputs.logits.float(), labels, weight=weight,
                                                     label_smoothing=LABEL_SMOOTHING)
            if model.training:
                self.pending[0] += loss.item() * len(labels)
                self.pending[1] += len(labels)
                self.pending[2] = self.lr_scheduler.get_last_lr()[0]  # the rate this step uses
            return (loss, outputs) if return_outputs else loss

    class StepRecord(TrainerCallback):
        def on_step_end(self, training_args, state, control, **kw):
            total, rows, rate = trainer.pending
            trainer.steps.append({"step": state.global_step, "loss": total / max(rows, 1), "lr": rate})
            trainer.pending = [0.0, 0, None]
            if args.stop_after is not None and state.global_step >= args.stop_after:
                control.should_training_stop = True

    # DeepSpeed needs GPUs; accelerate launch with a DeepSpeed config sets it up by itself.
    use_deepspeed = (DEEPSPEED and not args.no_deepspeed and torch.cuda.is_available()
                     and os.environ.get("ACCELERATE_USE_DEEPSPEED") != "true")
    deepspeed = beside(DEEPSPEED) if use_deepspeed else None
    training_args = TrainingArguments(output_dir=args.output_dir, bf16=args.bf16, deepspeed=deepspeed,
                                      **TRAINING)
    train_rows = Rows(train_texts, train_labels)
    callbacks = [StepRecord()]
    if PATIENCE is not None and training_args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=PATIENCE))
    trainer = FinchTrainer(model=model, args=training_args, train_dataset=train_rows,
                           eval_dataset=Rows(valid_texts, valid_labels) if valid_texts else None,
                           data_collator=DataCollatorWithPadding(tokenizer), processing_class=tokenizer,
                           compute_metrics=compute_metrics, callbacks=callbacks, order=FinchOrder(train_rows))
    trainer.train()
    if args.dump_first_steps and trainer.is_world_process_zero():
        with open(args.dump_first_steps, "w", encoding="utf-8") as f:
            json.dump({"steps": trainer.steps}, f, indent=1)
    if args.stop_after is None:
        if valid_texts:
            print(trainer.evaluate())
        trainer.save_model(os.path.join(args.output_dir, "final"))


if __name__ == "__main__":
    main()

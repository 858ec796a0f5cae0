#!/usr/bin/env python3
"""A `finch finetune` run done with transformers + PEFT, for side-by-side numbers (defaults: the
`finch finetune` defaults, SST-2 with all-MiniLM-L6-v2).

Same data (the evenly spaced rows i*count//rows of the training table, or all with --rows 0; the whole
evaluation table; labels named and ordered as Finch orders them), same model with a fresh head, same LoRA (r, alpha, dropout, targets; the head trained as modules_to_save), same
optimizer (AdamW, weight decay 0.01 except biases and LayerNorm weights, as the HF Trainer groups
them), same schedule (linear, ceil(ratio * steps) warmup), batch, max_length, clipping at 1.0, steps.
Prints accuracy / macro-F1 before and after, and seconds per step.

  .venv/bin/python Tests/Reference/peft_finetune_run.py [--steps 200] [--model-dropout 0.0] [--threads 1]
  .venv/bin/python Tests/Reference/peft_finetune_run.py --model $FINCH_MODELS/multilingual-e5-small \
      --train ../shared/data/bengali-absa/cricket_train.tsv --eval ../shared/data/bengali-absa/cricket_test.tsv \
      --text text --eval-text text --label class_label --rows 0 --steps 360 --max-length 128
"""
import argparse
import math
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def read_tsv(path, text_column, label_column):
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    t, l = header.index(text_column), header.index(label_column)
    return [r[t] for r in rows], [r[l] for r in rows]


def label_names(values):
    """Finch's order: numerically when every value is an integer, else alphabetically."""
    distinct = set(values)
    if all(v.lstrip("-").isdigit() for v in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def macro_f1(labels, predictions, classes):
    scores = []
    for c in range(classes):
        tp = sum(1 for y, p in zip(labels, predictions) if y == c and p == c)
        predicted = sum(1 for p in predictions if p == c)
        actual = sum(1 for y in labels if y == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / classes


def main():
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    models = os.environ.get("FINCH_MODELS", os.path.expanduser("~/.cache/finch/models"))
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=os.path.join(models, "all-MiniLM-L6-v2"))
    sst2 = os.path.join(repo, "..", "shared", "data", "sst2")
    p.add_argument("--train", default=os.path.join(sst2, "train.tsv"))
    p.add_argument("--eval", default=os.path.join(sst2, "dev.tsv"))
    p.add_argument("--text", default="sentence")
    p.add_argument("--eval-text", default="content")
    p.add_argument("--label", default="label")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--r", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--targets", default="query,value")
    p.add_argument("--model-dropout", type=float, default=0.1,
                   help="hidden and attention dropout of the base model (config.json's 0.1; finch finetune --no-model-dropout ↔ 0)")
    p.add_argument("--modules-to-save", default="",
                   help="extra modules_to_save, e.g. 'pooler' for a checkpoint without pooler weights (Finch trains "
                        "and saves a freshly initialised pooler by itself)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_scheduler

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    texts, raw_labels = read_tsv(a.train, a.text, a.label)
    names = label_names(raw_labels)
    labels = [names.index(v) for v in raw_labels]
    if 0 < a.rows < len(texts):
        picked = [i * len(texts) // a.rows for i in range(a.rows)]
        texts, labels = [texts[i] for i in picked], [labels[i] for i in picked]
    dev_texts, dev_raw = read_tsv(a.eval, a.eval_text, a.label)
    dev_labels = [names.index(v) for v in dev_raw]

    tokenizer = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model, num_labels=len(names), hidden_dropout_prob=a.model_dropout, attention_probs_dropout_prob=a.model_dropout)
    targets = a.targets if a.targets == "all-linear" else a.targets.split(",")
    extra = [m for m in a.modules_to_save.split(",") if m]
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=a.r, lora_alpha=a.alpha,
                                             lora_dropout=a.lora_dropout, target_modules=targets,
                                             modules_to_save=["classifier"] + extra))
    model.print_trainable_parameters()

    def evaluate():
        model.eval()
        predictions = []
        with torch.inference_mode():
            for start in range(0, len(dev_texts), 32):
                batch = tokenizer(dev_texts[start:start + 32], padding=True, truncation=True,
                                  max_length=a.max_length, return_tensors="pt")
                predictions += model(**batch).logits.argmax(-1).tolist()
        accuracy = sum(int(p == y) for p, y in zip(predictions, dev_labels)) / len(dev_labels)
        return accuracy, macro_f1(dev_labels, predictions, len(names))

    print("before: accuracy %.4f  f1_macro %.4f" % evaluate())
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=math.ceil(a.warmup_ratio * a.steps),
                              num_training_steps=a.steps)
    generator = torch.Generator().manual_seed(a.seed)
    order, cursor = [], 0
    model.train()
    started = time.perf_counter()
    window = []
    for step in range(a.steps):
        if cursor >= len(order):
            order, cursor = torch.randperm(len(texts), generator=generator).tolist(), 0
        rows = order[cursor:cursor + a.batch]
        cursor += len(rows)
        batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=a.max_length,
                          return_tensors="pt")
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, torch.tensor([labels[i] for i in rows]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([q for q in model.parameters() if q.requires_grad], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        window.append(loss.item())
        if (step + 1) % 10 == 0 or step + 1 == a.steps:
            print("step %4d/%d  loss %.4f" % (step + 1, a.steps, sum(window) / len(window)), flush=True)
            window = []
    seconds = time.perf_counter() - started
    print("trained %d steps in %.1f s (%.3f s/step, %.1f samples/s)" % (a.steps, seconds, seconds / a.steps,
                                                                         a.steps * a.batch / seconds))
    print("after:  accuracy %.4f  f1_macro %.4f" % evaluate())
    print("labels: " + ", ".join(names))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks Finch's exports against the libraries that consume them (run by Tests/CLI/export.sh).

  steps   FINCH_JSONL DUMP_JSON N_LOSSES   the exported script's first steps vs Finch's: learning rate of every
                                           dumped step and the loss of the first N_LOSSES steps, within 1e-4
  merged  FINCH_JSONL MODEL_DIR            transformers' AutoModelForSequenceClassification on the exported folder:
                                           log-softmax of its logits vs log of Finch's `predict` probabilities, 1e-4
  configs FOLDER                           accelerate_config.yaml through accelerate's own loader; ds_zero*.json
                                           through transformers' DeepSpeed config (filling "auto") and DeepSpeed's
                                           DeepSpeedConfig when deepspeed is installed, else its documented keys

FINCH_JSONL is `finch run --json` output: `plot loss`, `plot lr` and `predict` values are found by their keys.
Prints one line per check and exits 1 on any failure.
"""
import json
import math
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TOLERANCE = 1e-4


def finch_values(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plotted(values, what):
    for v in values:
        if isinstance(v, dict) and v.get("plot") == what:
            return next(s["y"] for s in v["series"] if s["name"] == what)
    sys.exit(f"no `plot {what}` value in the finch output")


def check_steps(finch_jsonl, dump, losses_to_compare):
    values = finch_values(finch_jsonl)
    finch_loss, finch_lr = plotted(values, "loss"), plotted(values, "lr")
    with open(dump, encoding="utf-8") as f:
        steps = json.load(f)["steps"]
    failures = 0
    for i, step in enumerate(steps):
        lr_ok = abs(step["lr"] - finch_lr[i]) <= TOLERANCE * max(1.0, abs(finch_lr[i]))
        line = f"step {step['step']}: lr {step['lr']:.8g} vs Finch {finch_lr[i]:.8g}"
        loss_ok = True
        if i < losses_to_compare:
            loss_ok = abs(step["loss"] - finch_loss[i]) <= TOLERANCE
            line += f"; loss {step['loss']:.8f} vs Finch {finch_loss[i]:.8f} (|Δ| {abs(step['loss'] - finch_loss[i]):.2e})"
        ok = lr_ok and loss_ok
        failures += not ok
        print(("ok   " if ok else "FAIL ") + line)
    if len(steps) < max(losses_to_compare, 1):
        print(f"FAIL the script dumped {len(steps)} steps")
        failures += 1
    return failures


def check_merged(finch_jsonl, model_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    predictions = next(v for v in finch_values(finch_jsonl)
                       if isinstance(v, list) and v and isinstance(v[0], dict) and "probabilities" in v[0])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    texts = [p["text"] for p in predictions]
    with torch.inference_mode():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        logits = model(**batch).logits.double()
    log_probabilities = torch.log_softmax(logits, -1)
    worst = 0.0
    for row, p in enumerate(predictions):
        for c, name in enumerate(names):
            worst = max(worst, abs(math.log(p["probabilities"][name]) - log_probabilities[row, c].item()))
    ok = worst <= TOLERANCE
    print(("ok   " if ok else "FAIL ") + f"merged model: max |log p(transformers) - log p(Finch)| = {worst:.2e} over "
          f"{len(texts)} texts × {len(names)} classes ({type(model).__name__})")
    return 0 if ok else 1


def check_configs(folder):
    failures = 0
    import accelerate
    from accelerate.commands.config.config_args import load_config_from_file

    yaml_path = os.path.join(folder, "accelerate_config.yaml")
    if os.path.exists(yaml_path):
        config = load_config_from_file(yaml_path)
        print(f"ok   {yaml_path}: accelerate {accelerate.__version__} loads it: {type(config).__name__}, "
              f"distributed_type {config.distributed_type}, num_processes {config.num_processes}")
    for name in sorted(os.listdir(folder)):
        if name.startswith("ds_zero") and name.endswith(".json"):
            failures += check_deepspeed(os.path.join(folder, name), os.path.join(folder, "merged"))
    return failures


def check_deepspeed(path, model_dir):
    from transformers import AutoConfig, TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    stage = raw["zero_optimization"]["stage"]
    config = HfTrainerDeepSpeedConfig(path)
    args = TrainingArguments(output_dir="/tmp/finch-export-ds", per_device_train_batch_size=8, gradient_accumulation_steps=2,
                             max_grad_norm=1.0, report_to="none", use_cpu=True)
    config.trainer_config_process(args)

    class Model:  # what trainer_config_finalize reads to size ZeRO-3's buckets
        config = AutoConfig.from_pretrained(model_dir)

    config.trainer_config_finalize(args, Model(), 100)
    filled = config.config
    leftover = [k for k, v in filled.items() if v == "auto"] + [k for k, v in filled["zero_optimization"].items() if v == "auto"]
    if leftover:
        print(f"FAIL {path}: keys still 'auto' after the Trainer filled them: {leftover}")
        return 1
    try:
        import deepspeed
        from deepspeed.runtime.config import DeepSpeedConfig
    except ImportError as error:
        print(f"note deepspeed is not installed ({error}); {path} checked against the documented keys only")
        known = {"bf16", "fp16", "zero_optimization", "gradient_accumulation_steps", "gradient_clipping", "train_batch_size",
                 "train_micro_batch_size_per_gpu", "steps_per_print", "wall_clock_breakdown"}
        unknown = set(filled) - known
        ok = not unknown and stage in (2, 3)
        print(("ok   " if ok else "FAIL ") + f"{path}: keys {sorted(filled)}")
        return 0 if ok else 1
    ds = DeepSpeedConfig(filled)
    ok = ds.zero_optimization_stage == stage and ds.gradient_accumulation_steps == 2 and ds.train_micro_batch_size_per_gpu == 8
    print(("ok   " if ok else "FAIL ") + f"{path}: deepspeed {deepspeed.__version__} DeepSpeedConfig reads it: ZeRO stage "
          f"{ds.zero_optimization_stage}, micro batch {ds.train_micro_batch_size_per_gpu}, accumulation {ds.gradient_accumulation_steps}, "
          f"clipping {ds.gradient_clipping}")
    return 0 if ok else 1


def main():
    command, *rest = sys.argv[1:]
    if command == "steps":
        failures = check_steps(rest[0], rest[1], int(rest[2]))
    elif command == "merged":
        failures = check_merged(rest[0], rest[1])
    elif command == "configs":
        failures = check_configs(rest[0])
    else:
        sys.exit(__doc__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

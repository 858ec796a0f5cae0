#!/usr/bin/env python3
"""Seconds per LoRA training step of SmolLM2-135M-Instruct in Finch and in transformers + PEFT, interleaved.

    .venv/bin/python Tests/Reference/causal_step_bench.py [--finch .build/release/finch] [--models DIR] [--data DIR]
                                                          [--threads 1 2] [--steps 6]

Both sides train the same thing: GSM8K rows in SmolLM2's chat format (ChatML with its default system message),
the loss on the assistant's reply only (prompt masked with -100), every row cut to 128 tokens (only rows at
least that long are used, so each batch is exactly 4 x 128 tokens), LoRA r=8 alpha=16 on all linear layers of the
blocks (dropout 0), AdamW lr 1e-4, float32, eager attention. transformers loads the Q4_1 GGUF (dequantized);
Finch reads the same file. For each thread count the two run one after the other (Finch, then torch); each
reports the median step time of steps 2..N. Prints one line per side and the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def examples(tokenizer, data_dir: Path, count: int, length: int):
    """The first `count` GSM8K rows whose chat-formatted text has at least `length` tokens: (row, ids, labels)."""
    chosen = []
    with open(data_dir / "gsm8k" / "train.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            prompt = tokenizer.apply_chat_template([{"role": "user", "content": row["question"]}], tokenize=False,
                                                   add_generation_prompt=True)
            reply = row["answer"] + "<|im_end|>"
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
            ids = (prompt_ids + reply_ids)[:length]
            if len(prompt_ids) + len(reply_ids) < length or len(prompt_ids) >= length - 8:
                continue
            labels = ([-100] * len(prompt_ids) + reply_ids)[:length]
            chosen.append((row, ids, labels))
            if len(chosen) == count:
                return chosen
    raise SystemExit("not enough long GSM8K rows")


def torch_steps(model_dir: Path, batches, threads: int, steps: int) -> list[float]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=GGUF, dtype=torch.float32, attn_implementation="eager")
    peft_model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear",
                                                  lora_dropout=0.0))
    peft_model.train()
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    times = []
    for i in range(steps):
        ids, labels = batches[i % len(batches)]
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        peft_model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times[1:]


def finch_steps(finch: str, rows, models: Path, threads: int, steps: int) -> list[float]:
    with tempfile.TemporaryDirectory() as work:
        data = Path(work) / "rows.jsonl"
        data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        script = Path(work) / "bench.finch"
        script.write_text(f"""threads {threads}
model load "SmolLM2-135M-Instruct-GGUF"
data load "{data}" prompt=question response=answer
lora r=8 alpha=16 targets=all-linear dropout=0
train max_steps={steps} batch=4 lr=1e-4 weight_decay=0 max_length=128 schedule=constant clip=0
""", encoding="utf-8")
        env = dict(os.environ, FINCH_MODELS=str(models))
        out = subprocess.run([finch, "run", "--json", str(script)], capture_output=True, text=True, env=env, check=True).stdout
    for line in out.splitlines():
        value = json.loads(line)
        if isinstance(value, dict) and "step_seconds" in value:
            return value["step_seconds"][1:]
    raise SystemExit(f"Finch reported no step times: {out[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finch", default=str(ROOT / ".build/release/finch"))
    parser.add_argument("--models", type=Path, default=Path(os.environ.get("FINCH_MODELS", Path.home() / ".cache/finch/models")))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    model_dir = args.models / "SmolLM2-135M-Instruct-GGUF"
    tokenizer = AutoTokenizer.from_pretrained(model_dir, gguf_file=GGUF)
    chosen = examples(tokenizer, args.data, 4 * args.steps, 128)
    batches = [(torch.tensor([c[1] for c in chosen[i:i + 4]]), torch.tensor([c[2] for c in chosen[i:i + 4]]))
               for i in range(0, len(chosen), 4)]
    print(f"SmolLM2-135M-Instruct, LoRA r=8 all-linear, batch 4 x 128 tokens (GSM8K, prompt masked), AdamW; "
          f"median of steps 2..{args.steps}; load average {os.getloadavg()[0]:.2f}")
    for threads in args.threads:
        finch = statistics.median(finch_steps(args.finch, [c[0] for c in chosen], args.models, threads, args.steps))
        reference = statistics.median(torch_steps(model_dir, batches, threads, args.steps))
        print(f"{threads} thread{'s' if threads > 1 else ''}: Finch {finch:.2f} s/step, transformers + PEFT {reference:.2f} s/step, "
              f"Finch {reference / finch:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

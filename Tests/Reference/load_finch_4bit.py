#!/usr/bin/env python3
"""Checks that a model folder Finch wrote (`save model "DIR"`) loads in transformers and computes what Finch computed.

Usage (from the repository root; Tests/CLI/save-model.sh runs it):

    .venv/bin/python Tests/Reference/load_finch_4bit.py FOLDER PREDICTIONS.json [--source DIR] [--quant nf4|fp4|none]
        [--double-quant]

FOLDER is Finch's output. PREDICTIONS.json is the value of Finch's `predict "text" ...` on that model (`finch run --json`:
a list of {"text", "label", "probabilities": {label: p}}). The folder is loaded with
AutoModelForSequenceClassification.from_pretrained(FOLDER) and nothing else: config.json's quantization_config alone
must make transformers build bitsandbytes Linear4bit layers. The check fails (exit 1) unless
  - every block linear layer and the pooler is a Linear4bit of the --quant type (double-quantized as --double-quant
    says), or, with --quant none, no layer is;
  - with --source (the float32 folder the model was quantized from): every Linear4bit holds exactly
    bitsandbytes.functional.quantize_4bit(its float32 weight) (packed bytes and statistics);
  - the class probabilities of the texts (tokenized by FOLDER's tokenizer, padded as one batch) are Finch's within
    1e-4, and the label names are config.json's id2label.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import bitsandbytes  # noqa: E402
import bitsandbytes.functional as bnbf  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

TOLERANCE = 1e-4


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("predictions", type=Path)
    ap.add_argument("--source", type=Path, help="the float32 model folder the 4-bit layers were quantized from")
    ap.add_argument("--quant", choices=["nf4", "fp4", "none"], default="nf4")
    ap.add_argument("--double-quant", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    problems = []

    m = AutoModelForSequenceClassification.from_pretrained(str(args.folder), attn_implementation="eager", device_map="cpu")
    m.eval()
    four_bit = {n: mod for n, mod in m.named_modules() if isinstance(mod, bitsandbytes.nn.Linear4bit)}
    linears = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear) and n != "classifier"]
    if args.quant == "none":
        if four_bit:
            problems.append(f"{len(four_bit)} Linear4bit layers in a float32 model")
    else:
        if sorted(four_bit) != sorted(linears):
            problems.append(f"Linear4bit layers {len(four_bit)} of {len(linears)}: missing {sorted(set(linears) - set(four_bit))[:3]}")
        source = load_file(str(args.source / "model.safetensors")) if args.source else None
        for name, mod in four_bit.items():
            mod.support_avx512bf16_for_cpu = False  # else bitsandbytes multiplies in bfloat16 on this CPU
            state = mod.weight.quant_state
            if state.quant_type != args.quant or state.nested != args.double_quant:
                problems.append(f"{name}: {state.quant_type}, nested {state.nested}")
            if source is not None:
                key = name + ".weight" if name + ".weight" in source else name[len("bert."):] + ".weight"
                packed, ref = bnbf.quantize_4bit(source[key], blocksize=state.blocksize,
                                                 compress_statistics=args.double_quant, quant_type=args.quant)
                if not torch.equal(mod.weight.data.reshape(-1), packed.reshape(-1)):
                    problems.append(f"{name}: packed bytes are not quantize_4bit's")
                if not torch.equal(state.absmax, ref.absmax):
                    problems.append(f"{name}: absmax is not quantize_4bit's")
                if args.double_quant and not (torch.equal(state.state2.absmax, ref.state2.absmax) and torch.equal(state.offset, ref.offset)):
                    problems.append(f"{name}: nested statistics are not quantize_4bit's")

    finch = json.loads(args.predictions.read_text(encoding="utf-8"))
    texts = [p["text"] for p in finch]
    names = [m.config.id2label[i] for i in range(m.config.num_labels)]
    if list(finch[0]["probabilities"]) != names:
        problems.append(f"labels {list(finch[0]['probabilities'])} but config.json has {names}")
    expected = torch.tensor([[p["probabilities"][n] for n in finch[0]["probabilities"]] for p in finch])
    tokenizer = AutoTokenizer.from_pretrained(str(args.folder))
    feed = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        probabilities = torch.softmax(m(**feed).logits, dim=-1)
    difference = float((probabilities - expected).abs().max())
    if not difference <= TOLERANCE:
        problems.append(f"probabilities differ from Finch's by {difference:.2e} (tolerance {TOLERANCE:g})")

    for problem in problems:
        print(f"FAIL: {args.folder}: {problem}")
    print(f"{args.folder.name}: transformers loads it ({len(four_bit)} Linear4bit layers, {args.quant}"
          f"{', double quant' if args.double_quant else ''}); probabilities max |Δ| {difference:.1e} vs Finch")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

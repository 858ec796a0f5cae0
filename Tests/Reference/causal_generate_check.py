#!/usr/bin/env python3
"""Checks a Finch `generate` (its --json value) against transformers + PEFT on the same GGUF base.

    causal_generate_check.py --gguf-dir DIR --gguf-file NAME [--adapter DIR] --finch generate.json [--tolerance 1e-4]

Loads the base (AutoModelForCausalLM, float32, dequantized from the GGUF) and, with --adapter, a Finch-saved PEFT
adapter (PeftModel.from_pretrained; missing or unexpected adapter keys fail). Feeds Finch's prompt_ids plus its
generated ids through the model once, then checks that (1) each generated id is the argmax of the logits before it
(greedy decoding, as Finch did with temperature=0) and (2) log_softmax(logits)[id] equals Finch's logprobs within
the tolerance. Prints the largest difference; exits 1 on a mismatch.
"""
from __future__ import annotations

import argparse
import json
import sys

import torch


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf-dir", required=True)
    parser.add_argument("--gguf-file", required=True)
    parser.add_argument("--adapter")
    parser.add_argument("--finch", required=True, help="a file holding the JSON value of Finch's generate")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.gguf_dir, gguf_file=args.gguf_file, dtype=torch.float32)
    if args.adapter:
        from peft import PeftModel
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = PeftModel.from_pretrained(model, args.adapter)
        problems = [str(w.message) for w in caught if "missing" in str(w.message).lower() or "unexpected" in str(w.message).lower()]
        if problems:
            print("PEFT reports adapter key problems:", problems)
            return 1
    model.eval()
    finch = json.load(open(args.finch, encoding="utf-8"))
    prompt, generated, logprobs = finch["prompt_ids"], finch["ids"], finch["logprobs"]
    if not generated:
        print("Finch generated nothing")
        return 1
    ids = torch.tensor([prompt + generated])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float()
    worst, mismatched = 0.0, []
    for k, token in enumerate(generated):
        row = logits[len(prompt) - 1 + k]
        if int(row.argmax()) != token:
            mismatched.append((k, token, int(row.argmax())))
        worst = max(worst, abs(float(torch.log_softmax(row.double(), -1)[token]) - logprobs[k]))
    print(f"{len(generated)} tokens; greedy mismatches {mismatched}; max |Δ log p| {worst:.3g}")
    return 0 if not mismatched and worst <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())

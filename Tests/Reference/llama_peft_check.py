#!/usr/bin/env python3
"""Check a LoRA adapter for a Llama-family causal LM (for example one Finch wrote) against expected logits with PEFT.

Usage (from the repository root):

    .venv/bin/python Tests/Reference/llama_peft_check.py --base DIR [--gguf-file NAME] --adapter ADAPTER_DIR \\
        --inputs INPUTS.safetensors --expect LOGITS.safetensors [--tolerance 1e-4]

Loads LlamaForCausalLM.from_pretrained(DIR[, gguf_file=NAME]) in float32 with eager attention and eval mode, then
PeftModel.from_pretrained(model, ADAPTER_DIR), runs `input_ids` (and `attention_mask` when present; int64 [B,S])
from INPUTS, and compares the logits with the `logits` tensor of --expect (e.g. llama/<case>/lora/logits.safetensors
for llama/<case>/inputs.safetensors). Prints one line `max |Δ| = ...` (plus diagnostics) and exits with

    0  the adapter loaded cleanly and max |Δ| <= tolerance;
    1  max |Δ| > tolerance, shapes differ, or the adapter does not fit the model: PEFT warned about missing adapter
       keys, a tensor of adapter_model.safetensors matches no model parameter (PEFT drops those silently), a tensor
       was loaded with a different value, or a LoRA / DoRA parameter of the model got nothing from the file;
    2  bad command line.

Key rules (peft 0.21.2): the file's `<module>.lora_A.weight` / `.lora_B.weight` live in memory as
`<module>.lora_A.default.weight`; DoRA's `<module>.lora_magnitude_vector` as `<module>.lora_magnitude_vector.default.weight`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ADAPTER = "default"
ADAPTER_TAGS = (".lora_A.", ".lora_B.", ".lora_magnitude_vector.")


class CheckError(Exception):
    pass


def memory_name(key: str) -> str:
    """adapter_model.safetensors key -> PEFT's in-memory parameter name."""
    for tag in (".lora_A.", ".lora_B."):
        if tag in key:
            return key.replace(tag, f"{tag}{ADAPTER}.")
    if key.endswith(".lora_magnitude_vector"):
        return f"{key}.{ADAPTER}.weight"
    return key


def load_checked(args):
    """The PEFT model, after checking that every adapter tensor landed in it and every LoRA parameter came from it."""
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM

    adapter_dir = Path(args.adapter)
    weights_path = adapter_dir / "adapter_model.safetensors"
    for p in (adapter_dir / "adapter_config.json", weights_path, Path(args.inputs), Path(args.expect)):
        if not p.is_file():
            raise CheckError(f"{p}: no such file")
    extra = {"gguf_file": args.gguf_file} if args.gguf_file else {}
    model = LlamaForCausalLM.from_pretrained(args.base, dtype=torch.float32, attn_implementation="eager", **extra)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = PeftModel.from_pretrained(model, str(adapter_dir))
    missing = [str(w.message) for w in caught if "missing adapter keys" in str(w.message)]
    if missing:
        raise CheckError(f"PEFT: {missing[0]}")
    pm.eval()

    sd = pm.state_dict()
    file_tensors = load_file(str(weights_path))
    unexpected = [k for k in sorted(file_tensors) if memory_name(k) not in sd]
    if unexpected:
        raise CheckError(f"{len(unexpected)} adapter tensors match no model parameter (PEFT ignores them), e.g. "
                         f"{unexpected[:3]}")
    for k, v in file_tensors.items():
        if not torch.equal(sd[memory_name(k)], v.to(sd[memory_name(k)].dtype)):
            raise CheckError(f"adapter tensor {k!r} was not loaded as saved")
    loaded = {memory_name(k) for k in file_tensors}
    unfilled = [n for n in sd if any(f"{t}{ADAPTER}." in n for t in ADAPTER_TAGS) and n not in loaded]
    if unfilled:
        raise CheckError(f"{len(unfilled)} LoRA parameters got no tensor from the file, e.g. {unfilled[:3]}")
    print(f"adapter: {len(file_tensors)} tensors loaded", file=sys.stderr)
    return pm


def run(args) -> float:
    import torch
    from safetensors.torch import load_file
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(2)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    pm = load_checked(args)
    inputs, expect = load_file(args.inputs), load_file(args.expect)
    if "input_ids" not in inputs or "logits" not in expect:
        raise CheckError("--inputs needs `input_ids`, --expect needs `logits`")
    feed = {"input_ids": inputs["input_ids"].to(torch.int64)}
    if "attention_mask" in inputs:
        feed["attention_mask"] = inputs["attention_mask"].to(torch.int64)
    with torch.no_grad():
        logits = pm(**feed).logits
    if logits.shape != expect["logits"].shape:
        raise CheckError(f"logits shape {list(logits.shape)} != expected {list(expect['logits'].shape)}")
    return float((logits - expect["logits"].to(logits.dtype)).abs().max())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="transformers model folder (or GGUF folder with --gguf-file)")
    ap.add_argument("--gguf-file", help="GGUF file name inside --base (transformers dequantizes it)")
    ap.add_argument("--adapter", required=True, help="PEFT adapter folder")
    ap.add_argument("--inputs", required=True, help="safetensors with input_ids [B,S] (+ attention_mask)")
    ap.add_argument("--expect", required=True, help="safetensors with the expected `logits` [B,S,V]")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest allowed max |Δ| (default 1e-4)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    try:
        diff = run(args)
    except CheckError as e:
        print(f"llama_peft_check: error: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # noqa: BLE001  (PEFT / transformers refusing the adapter, e.g. a shape mismatch)
        print(f"llama_peft_check: error: {type(e).__name__}: {str(e)[:500]}", file=sys.stderr, flush=True)
        return 1
    ok = diff <= args.tolerance
    print(f"max |Δ| = {diff:.3e} (tolerance {args.tolerance:g}): {'OK' if ok else 'FAIL'}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

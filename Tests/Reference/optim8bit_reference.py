#!/usr/bin/env python3
"""Reference trajectories of bitsandbytes.optim.AdamW8bit on the CPU, for Finch's Swift tests.

Usage (from the repository root):

    HF_HUB_OFFLINE=1 .venv/bin/python Tests/Reference/optim8bit_reference.py [--out DIR]

Default: --out $FINCH_REFERENCE or <repo>/.reference. Writes DIR/optim8bit/:

- cases.json: per case the betas, eps, weight decay, the parameters (name, shape, decays, whether bnb keeps
  their state in 8 bits) and the learning rate of every step (also bit-exact in the tensors, see below).
- <case>.safetensors:
  - `rates`: I64, the float64 bit pattern of every step's learning rate (JSON may be read 1 ulp off).
  - `<name>.initial` [shape], `<name>.gradients` [STEPS, *shape] (F32).
  - `<name>.trajectory` [STEPS, *shape] (F32): the parameter after every step.
  - 8-bit parameters (numel >= 4096): `<name>.state1` / `<name>.state2` [STEPS, numel] (U8 codes of the
    signed / unsigned dynamic map) and `<name>.absmax1` / `<name>.absmax2` [STEPS, blocks] (F32), after every
    step (block size 256, the last block shorter).
  - 32-bit parameters (numel < 4096): `<name>.state1` / `<name>.state2` [STEPS, numel] (F32), after every step.

bitsandbytes 0.50.2 on the CPU: AdamW8bit keeps tensors under min_8bit_size = 4096 elements in 32-bit state
(`_optimizer_update_32bit_cpu`) and quantizes the rest blockwise (`_optimizer_update_8bit_blockwise_cpu`):
dequantize both moments, update them in fp32 with torch ops, update the parameter, requantize. Parameters whose
`decays` is false are in a group with weight_decay 0, as the HF Trainer groups them.

torch 2.13's CPU `add_(x, alpha=a)` and `addcmul_` are fused multiply-adds (in the vector loop and the scalar
tail alike) and `addcdiv_` computes p + (s*m)/d: Finch's AdamW8bit follows these. The script runs with one torch
thread (every tensor here is under torch's 32768-element grain, so 2 threads would give the same numbers).

A self-check replays every case with a float64 AdamW on the same gradients: the 8-bit trajectory must stay within
25 % of the summed learning rate of it (printed as "vs float64"), so a wrong setup (say, no 8-bit state at all, or the
wrong map) shows. Deterministic and idempotent: DIR/optim8bit is deleted and rewritten; every draw is seeded.
--models and --data are accepted (and unused) so that a setup loop can pass the same arguments to every script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

import logging  # noqa: E402

logging.disable(logging.WARNING)  # bnb's CPU backend logs a missing optional 'kernels' package

import torch  # noqa: E402
import bitsandbytes as bnb  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STEPS = 10
BETAS = (0.9, 0.999)
EPS = 1e-8
MIN_8BIT_SIZE = 4096
BLOCK = 256

# name, shape, decays, gradient scale. Sizes: under 4096 (32-bit state), a multiple of 256, one that is
# neither a multiple of 256 nor of 32 (a short last block and a scalar tail), and a LoRA-A-like one whose
# gradient is zero at step 1 (B starts at zero), so blocks of zeros are quantized.
PARAMETERS = [
    ("small.weight", [40, 50], True, 1.0),
    ("small.bias", [37], False, 1.0),
    ("big.weight", [64, 96], True, 1.0),
    ("odd.weight", [77, 91], True, 0.3),
    ("lora_A.weight", [16, 384], False, 1.0),
]

CASES = [
    dict(name="decay", lr=1e-3, weight_decay=0.01, warmup=3, seed=21),
    dict(name="no-decay", lr=5e-3, weight_decay=0.0, warmup=0, seed=22),
]


def rates(case: dict) -> list[float]:
    """Linear warmup to lr over `warmup` steps, then linear decay to 0 at STEPS (transformers' formula)."""
    out = []
    for step in range(STEPS):
        if step < case["warmup"]:
            factor = float(step + 1) / float(max(1, case["warmup"]))
        else:
            factor = max(0.0, float(STEPS - step) / float(max(1, STEPS - case["warmup"])))
        out.append(case["lr"] * factor)
    return out


def initial_and_gradients(seed: int):
    g = torch.Generator().manual_seed(seed)
    scales = 10 ** torch.empty(STEPS, dtype=torch.float64).uniform_(-2.5, -0.5, generator=g)
    initial, gradients = {}, {}
    for name, shape, _, relative in PARAMETERS:
        initial[name] = torch.randn(shape, generator=g) * 0.05
        grads = torch.randn([STEPS, *shape], generator=g, dtype=torch.float64)
        grads *= (scales * relative).view(STEPS, *([1] * len(shape)))
        if name == "lora_A.weight":
            grads[0] = 0
        if name == "big.weight":  # a whole block without gradient at some steps
            grads[::3, :8] = 0
        gradients[name] = grads.float()
    return initial, gradients


def bnb_run(case: dict, initial: dict, gradients: dict, lrs: list[float]) -> dict:
    params = {name: torch.nn.Parameter(initial[name].clone()) for name in initial}
    groups = [
        dict(params=[params[n] for n, _, d, _ in PARAMETERS if d], weight_decay=case["weight_decay"]),
        dict(params=[params[n] for n, _, d, _ in PARAMETERS if not d], weight_decay=0.0),
    ]
    optimizer = bnb.optim.AdamW8bit(groups, lr=lrs[0], betas=BETAS, eps=EPS, min_8bit_size=MIN_8BIT_SIZE)
    record = {name: {"trajectory": [], "state1": [], "state2": [], "absmax1": [], "absmax2": []} for name in params}
    for step in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = lrs[step]
        for name, p in params.items():
            p.grad = gradients[name][step].clone()
        optimizer.step()
        for name, p in params.items():
            state = optimizer.state[p]
            assert state["step"] == step + 1
            r = record[name]
            r["trajectory"].append(p.detach().clone())
            r["state1"].append(state["state1"].detach().reshape(-1).clone())
            r["state2"].append(state["state2"].detach().reshape(-1).clone())
            if "absmax1" in state:
                r["absmax1"].append(state["absmax1"].clone())
                r["absmax2"].append(state["absmax2"].clone())
    return {name: {k: torch.stack(v) for k, v in r.items() if v} for name, r in record.items()}


def float64_adamw(case: dict, initial: dict, gradients: dict, lrs: list[float]) -> dict:
    """AdamW in float64 (the self-check's yardstick)."""
    out = {}
    for name, shape, decays, _ in PARAMETERS:
        p = initial[name].double().clone()
        m = torch.zeros_like(p)
        v = torch.zeros_like(p)
        for step in range(STEPS):
            t = step + 1
            g = gradients[name][step].double()
            if decays:
                p *= 1 - lrs[step] * case["weight_decay"]
            m = BETAS[0] * m + (1 - BETAS[0]) * g
            v = BETAS[1] * v + (1 - BETAS[1]) * g * g
            denominator = (v / (1 - BETAS[1] ** t)).sqrt() + EPS
            p -= lrs[step] * (m / (1 - BETAS[0] ** t)) / denominator
        out[name] = p
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    env_out = os.environ.get("FINCH_REFERENCE")
    parser.add_argument("--out", type=Path, default=Path(env_out) if env_out else REPO / ".reference")
    parser.add_argument("--models", type=Path, help="unused")
    parser.add_argument("--data", type=Path, help="unused")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = args.out / "optim8bit"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    summaries = []
    for case in CASES:
        lrs = rates(case)
        initial, gradients = initial_and_gradients(case["seed"])
        run = bnb_run(case, initial, gradients, lrs)
        exact = float64_adamw(case, initial, gradients, lrs)
        total_lr = sum(lrs)
        tensors = {"rates": torch.tensor([struct.unpack("<q", struct.pack("<d", r))[0] for r in lrs], dtype=torch.int64)}
        parameters = []
        for name, shape, decays, _ in PARAMETERS:
            eight_bit = initial[name].numel() >= MIN_8BIT_SIZE
            r = run[name]
            assert (r["state1"].dtype == torch.uint8) == eight_bit, name
            # Adam moves each entry by at most ~lr per step: compare with the summed lr.
            drift = (r["trajectory"][-1].double() - exact[name]).abs().max().item() / total_lr
            if drift > 0.25:
                raise SystemExit(f"{case['name']} {name}: 8-bit run is {drift:.3g} of the update size from float64 AdamW")
            tensors[f"{name}.initial"] = initial[name].contiguous()
            tensors[f"{name}.gradients"] = gradients[name].contiguous()
            for key, value in r.items():
                tensors[f"{name}.{key}"] = value.contiguous()
            parameters.append(dict(name=name, shape=shape, decays=decays, eight_bit=eight_bit, vs_float64=drift))
            print(f"{case['name']:9s} {name:14s} {'8-bit' if eight_bit else '32-bit'}  vs float64 {drift:.3g} of Σlr")
        save_file(tensors, str(out / f"{case['name']}.safetensors"), metadata={"format": "pt"})
        summaries.append(dict(name=case["name"], betas=list(BETAS), eps=EPS, weight_decay=case["weight_decay"],
                              min_8bit_size=MIN_8BIT_SIZE, block_size=BLOCK, steps=STEPS, rates=lrs,
                              parameters=parameters))
    (out / "cases.json").write_text(json.dumps(summaries, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{out}: {len(summaries)} cases, bitsandbytes {bnb.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference trajectories of torch.optim.AdamW, clip_grad_norm_ and transformers' LR schedules, for Finch's Swift tests.

Usage (from the repository root):

    HF_HUB_OFFLINE=1 .venv/bin/python Tests/Reference/optim_reference.py [--out DIR]

Default: --out $FINCH_REFERENCE or <repo>/.reference. Writes DIR/optim/:

- schedules.json: the learning rate at every step 0..total of transformers.get_scheduler (on a dummy
  optimizer) for each schedule kind and several warmups (steps and ratios), plus how
  TrainingArguments.get_warmup_steps resolves warmup values.
- cases.json and <case>.safetensors: 50 optimizer steps per case as the HF Trainer takes them
  (clip_grad_norm_, AdamW.step, scheduler.step), with seeded initial parameters and gradients, the
  parameters after every step, the pre-clip gradient norms and the final optimizer state.

Every case is also replayed by an independent float64 re-implementation (`manual_adamw`) that must match
torch within 1e-5 (float32 rounding alone drifts up to ~5e-6 in 50 steps: with lr*wd ~ 2e-6, the rounding of
p * (1 - lr*wd) is nearly the same fraction of an ulp at every step, so it accumulates); the same code, with one convention changed at a time, measures how far a plausible
mistake would move the trajectory (cases.json "sensitivity"). Tests/Reference/README.md documents the files.

Deterministic and idempotent: DIR/optim is deleted and rewritten, and every draw comes from a fixed seed.
--models and --data are accepted (and unused) so that a setup loop can pass the same arguments to every script.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import TrainingArguments, get_scheduler  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STEPS = 50

# name, shape, decays (HF Trainer groups: no decay on biases and LayerNorm weights), initial value
# generator, gradient scale relative to the step's scale. `tiny.weight` gets gradients around 1e-9, so
# sqrt(v) is comparable to eps and the placement of eps in the denominator is visible.
PARAMETERS = [
    ("dense.weight", [7, 5], True, "normal", 1.0),
    ("dense.bias", [13], False, "normal", 1.0),
    ("proj.weight", [3, 17], True, "normal", 1.0),
    ("LayerNorm.weight", [37], False, "one", 1.0),
    ("tiny.weight", [19], True, "normal", 1e-8),
]

CASES = [
    dict(name="constant", schedule="constant", lr=2e-4, weight_decay=0.0, warmup=0, max_norm=None, seed=11),
    dict(name="constant_with_warmup", schedule="constant_with_warmup", lr=2e-4, weight_decay=0.01, warmup=10,
         max_norm=1.0, seed=12),
    dict(name="linear-warmup-steps", schedule="linear", lr=1e-3, weight_decay=0.01, warmup=5, max_norm=1.0,
         seed=13),
    dict(name="linear-warmup-ratio", schedule="linear", lr=2e-4, weight_decay=0.0, warmup=0.25, max_norm=None,
         seed=14),
    dict(name="cosine", schedule="cosine", lr=1e-3, weight_decay=0.01, warmup=0.07, max_norm=1.0, seed=15),
    dict(name="cosine_with_restarts", schedule="cosine_with_restarts", lr=1e-3, weight_decay=0.01, warmup=0.1,
         max_norm=None, seed=16, kwargs={"num_cycles": 3}),
    dict(name="polynomial", schedule="polynomial", lr=1e-3, weight_decay=0.01, warmup=5, max_norm=1.0, seed=17,
         kwargs={"lr_end": 1e-5, "power": 2.0}),
    dict(name="large-lr-wd", schedule="linear", lr=5e-2, weight_decay=0.5, warmup=3, max_norm=1.0, seed=18),
]

BETAS = (0.9, 0.999)
EPS = 1e-8


def warmup_steps(value: float, total: int) -> int:
    """TrainingArguments.get_warmup_steps, called on real TrainingArguments."""
    with tempfile.TemporaryDirectory() as folder:
        return TrainingArguments(output_dir=folder, warmup_steps=value, report_to=[]).get_warmup_steps(total)


def schedule_rates(kind: str, base: float, warmup: int, total: int, kwargs: dict | None) -> list[float]:
    """The lr of every update 0..total-1 and, last, the value after the final scheduler.step()."""
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    scheduler = get_scheduler(kind, dummy, num_warmup_steps=warmup, num_training_steps=total,
                              scheduler_specific_kwargs=kwargs)
    rates = [dummy.param_groups[0]["lr"]]
    for _ in range(total):
        dummy.step()
        scheduler.step()
        rates.append(dummy.param_groups[0]["lr"])
    return rates


def schedules_table() -> dict:
    base = 5e-5
    kinds = [
        ("constant", None), ("constant_with_warmup", None), ("linear", None), ("cosine", None),
        ("cosine_with_restarts", None), ("cosine_with_restarts", {"num_cycles": 3}),
        ("polynomial", None), ("polynomial", {"lr_end": 1e-6, "power": 2.0}),
    ]
    tables = []
    for total in (50, 37, 1):
        warmups = [0, 5, total, 0.07, 0.1, 0.5]
        for kind, kwargs in kinds:
            for warmup in warmups:
                steps = warmup_steps(warmup, total) if isinstance(warmup, float) else warmup
                if kind == "polynomial" and steps >= total:
                    continue  # transformers divides by total - warmup (ZeroDivisionError); Finch rejects it
                if steps > total:
                    continue
                tables.append(dict(kind=kind, kwargs=kwargs or {}, base_rate=base, total_steps=total,
                                   warmup={"ratio": warmup} if isinstance(warmup, float) else {"steps": warmup},
                                   warmup_steps=steps, rates=schedule_rates(kind, base, steps, total, kwargs)))
    resolution = [dict(value=v, total_steps=t, warmup_steps=warmup_steps(v, t))
                  for v in (0.0, 0.07, 0.1, 1 / 3, 0.5, 0.99, 1.0, 1.5, 7.0, 10.0) for t in (1, 37, 50, 1000)]
    return dict(schedules=tables, warmup_resolution=resolution)


def initial_and_gradients(seed: int):
    """Seeded initial values and STEPS gradients per parameter (float32)."""
    g = torch.Generator().manual_seed(seed)
    scales = 10 ** torch.empty(STEPS, dtype=torch.float64).uniform_(-1.8, -0.4, generator=g)
    initial, gradients = {}, {}
    for name, shape, _, init, relative in PARAMETERS:
        value = torch.randn(shape, generator=g)
        initial[name] = value * 0.1 + 1 if init == "one" else value
        grads = torch.randn([STEPS, *shape], generator=g, dtype=torch.float64)
        grads *= (scales * relative).view(STEPS, *([1] * len(shape)))
        if name == "dense.weight":  # embedding-like: some entries get no gradient at some steps
            grads *= (torch.rand([STEPS, *shape], generator=g) > 0.3)
        gradients[name] = grads.float()
    return initial, gradients


def torch_run(case: dict, initial: dict, gradients: dict, fused: bool = False) -> dict:
    """The Trainer's loop: clip, AdamW.step (single-tensor or fused), scheduler.step."""
    params = {name: torch.nn.Parameter(initial[name].clone()) for name in initial}
    decay = [params[n] for n, _, d, _, _ in PARAMETERS if d]
    no_decay = [params[n] for n, _, d, _, _ in PARAMETERS if not d]
    groups = [dict(params=decay, weight_decay=case["weight_decay"]), dict(params=no_decay, weight_decay=0.0)]
    optimizer = torch.optim.AdamW(groups, lr=case["lr"], betas=BETAS, eps=EPS,
                                  **({"fused": True} if fused else {"foreach": False}))
    steps = warmup_steps(float(case["warmup"]), STEPS) if isinstance(case["warmup"], float) else case["warmup"]
    scheduler = get_scheduler(case["schedule"], optimizer, num_warmup_steps=steps, num_training_steps=STEPS,
                              scheduler_specific_kwargs=case.get("kwargs"))
    max_norm = case["max_norm"] if case["max_norm"] is not None else math.inf
    trajectory = {name: [] for name in params}
    rates, norms = [], []
    for k in range(STEPS):
        for name, p in params.items():
            p.grad = gradients[name][k].clone()
        norms.append(torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm).item())
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        for name, p in params.items():
            trajectory[name].append(p.detach().clone())
    state = {}
    for name, p in params.items():
        s = optimizer.state[p]
        state[f"{name}.exp_avg"] = s["exp_avg"].clone()
        state[f"{name}.exp_avg_sq"] = s["exp_avg_sq"].clone()
        state[f"{name}.step"] = s["step"].clone().float()
    return dict(warmup_steps=steps, rates=rates, norms=norms, state=state,
                trajectory={n: torch.stack(t) for n, t in trajectory.items()})


def manual_adamw(case: dict, initial: dict, gradients: dict, rates: list[float], variant: str = "exact") -> dict:
    """An independent float64 AdamW + clipping, with one convention changed when `variant` says so."""
    beta1, beta2 = BETAS
    p = {n: initial[n].double().clone() for n in initial}
    m = {n: torch.zeros_like(v) for n, v in p.items()}
    v = {n: torch.zeros_like(x) for n, x in p.items()}
    decays = {n: d or variant == "decay_every_parameter" for n, _, d, _, _ in PARAMETERS}
    trajectory = {n: [] for n in p}
    for k in range(STEPS):
        g = {n: gradients[n][k].double() for n in p}
        norm = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        if case["max_norm"] is not None and variant != "no_clipping":
            coef = min(1.0, case["max_norm"] / (norm + 1e-6))
            g = {n: x * coef for n, x in g.items()}
        lr = rates[min(k + 1, STEPS - 1)] if variant == "lr_one_step_late" else rates[k]
        t = k + 1
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
        for n in p:
            wd = case["weight_decay"] if decays[n] else 0.0
            # torch multiplies by 1 - lr*wd rounded to float32 (the scalar takes the tensor's dtype), which
            # is visibly coarse when lr*wd is ~1e-6: float32's spacing just below 1 is 6e-8.
            factor = 1 - lr * wd if variant == "unrounded_decay_factor" else float(torch.tensor(1 - lr * wd).float())
            if variant != "decay_after_update":
                p[n] *= factor
            m[n] = beta1 * m[n] + (1 - beta1) * g[n]
            v[n] = beta2 * v[n] + (1 - beta2) * g[n] ** 2
            if variant == "epsilon_hat":  # Kingma & Ba's "efficient" form: eps added before bias correction
                update = lr * math.sqrt(bc2) / bc1 * m[n] / (v[n].sqrt() + EPS)
            else:
                update = lr / bc1 * m[n] / (v[n].sqrt() / math.sqrt(bc2) + EPS)
            if variant == "decay_after_update":
                p[n] = (p[n] - update) * factor
            else:
                p[n] -= update
            trajectory[n].append(p[n].clone())
    return {n: torch.stack(t) for n, t in trajectory.items()}


def max_abs(a: dict, b: dict) -> float:
    return max(float((a[n].double() - b[n].double()).abs().max()) for n in a)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    env_out = os.environ.get("FINCH_REFERENCE")
    parser.add_argument("--out", type=Path, default=Path(env_out) if env_out else REPO / ".reference")
    parser.add_argument("--models", type=Path, help="unused")
    parser.add_argument("--data", type=Path, help="unused")
    args = parser.parse_args()
    torch.set_num_threads(2)
    out = args.out / "optim"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    table = schedules_table()
    (out / "schedules.json").write_text(json.dumps(table, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{out / 'schedules.json'}: {len(table['schedules'])} schedules")

    summaries = []
    for case in CASES:
        initial, gradients = initial_and_gradients(case["seed"])
        run = torch_run(case, initial, gradients)
        manual = manual_adamw(case, initial, gradients, run["rates"])
        check = max_abs(run["trajectory"], manual)
        if check > 1e-5:
            raise SystemExit(f"{case['name']}: float64 re-implementation differs from torch by {check:.3g}")
        variants = ["lr_one_step_late", "decay_after_update", "unrounded_decay_factor", "epsilon_hat",
                    "decay_every_parameter"]
        if case["max_norm"] is not None:
            variants.append("no_clipping")
        sensitivity = {"float32_vs_float64_max_abs": check,
                       "fused_vs_single_tensor_max_abs": max_abs(run["trajectory"],
                                                                 torch_run(case, initial, gradients, True)["trajectory"])}
        for variant in variants:
            sensitivity[variant] = max_abs(run["trajectory"], manual_adamw(case, initial, gradients, run["rates"], variant))
        tensors = {"grad_norm": torch.tensor(run["norms"], dtype=torch.float32)}
        for name in initial:
            tensors[f"{name}.initial"] = initial[name].contiguous()
            tensors[f"{name}.gradients"] = gradients[name].contiguous()
            tensors[f"{name}.trajectory"] = run["trajectory"][name].contiguous()
        tensors.update({f"state.{key}": value.contiguous() for key, value in run["state"].items()})
        save_file(tensors, str(out / f"{case['name']}.safetensors"), metadata={"format": "pt"})
        summaries.append(dict(
            name=case["name"], schedule=case["schedule"], kwargs=case.get("kwargs", {}), base_rate=case["lr"],
            weight_decay=case["weight_decay"],
            warmup={"ratio": case["warmup"]} if isinstance(case["warmup"], float) else {"steps": case["warmup"]},
            warmup_steps=run["warmup_steps"], total_steps=STEPS, max_norm=case["max_norm"], betas=list(BETAS),
            eps=EPS, seed=case["seed"], rates=run["rates"],
            parameters=[dict(name=n, shape=s, decays=d) for n, s, d, _, _ in PARAMETERS],
            sensitivity=sensitivity,
        ))
        print(f"{case['name']:22s} warmup {run['warmup_steps']:2d}  norms {min(run['norms']):.3g}..{max(run['norms']):.3g}  "
              + "  ".join(f"{k} {v:.2g}" for k, v in sensitivity.items()))
    (out / "cases.json").write_text(json.dumps(summaries, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

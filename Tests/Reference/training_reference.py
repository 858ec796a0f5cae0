#!/usr/bin/env python3
"""Reference losses, gradients, LoRA adapters and logits for Finch's training code (PyTorch + transformers + PEFT).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/training_reference.py [--out DIR] [--models DIR] [--only full|lora|real]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models (--data is
accepted, as by every reference script, and unused). Needs DIR/encoder/ written first by encoder_reference.py: the
tiny models (DIR/encoder/tiny-*/model) and the inputs in DIR/encoder/*/expected.safetensors are reused as they are.

Writes DIR/training/<case>/ for every case in FULL_CASES and LORA_CASES:
  full-*  full fine-tuning: logits, loss and the gradient of every parameter (and of every hidden state);
  lora-*  LoRA through PEFT (get_peft_model): logits, loss, gradients of the trainable parameters, the adapter
          folder written by PeftModel.save_pretrained, and the logits after merge_and_unload.
The DoRA and two-adapter cases (also under DIR/training/) are written by peft_reference.py; the code both scripts
share is in reference_common.py. Tests/Reference/README.md ("training_reference.py") documents every file, key and
naming rule.

Conventions: float32, attn_implementation="eager", dropout OFF through model.eval() (the configs keep their
dropout probabilities; eval() turns every nn.Dropout into the identity, gradients still flow). Deterministic and
idempotent: every random draw has a fixed seed, each case folder is deleted and rewritten, and the only set PEFT
writes in an unspecified order (target_modules in adapter_config.json) is sorted after saving.

Self-checks (the script fails if one does not hold): the reloaded tiny models reproduce the encoder reference's
logits; F.cross_entropy equals the written-out formula (weights, label smoothing); every gradient exists and agrees
with a float64 copy of the model (the measured float32 error goes to case.json); every trainable PEFT parameter is
in the adapter file under the documented key; PeftModel.from_pretrained on a freshly loaded base reproduces the
logits; merge_and_unload reproduces them within float32 rounding.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)  # reference_common, encoder_reference (siblings)
if _HERE not in sys.path:  # already there when run as a script
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch and transformers are imported.
from reference_common import (  # noqa: E402
    Base,
    base_cache,
    float64_check,
    forward_backward,
    fresh_dir,
    parse_args,
    run_lora,
    save_tensors,
    setup_torch,
    write_json,
)

import peft  # noqa: E402
import torch  # noqa: E402

# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------

# Full fine-tuning: every parameter trainable. `class_weights` -> CrossEntropyLoss(weight=...),
# `label_smoothing` -> CrossEntropyLoss(label_smoothing=...).
FULL_CASES = [
    dict(name="full-tiny-bert-h30", model="tiny-bert-h30"),
    dict(name="full-tiny-bert-h30-class-weights", model="tiny-bert-h30", class_weights=[0.3, 1.0, 2.5]),
    dict(name="full-tiny-bert-h30-label-smoothing", model="tiny-bert-h30", label_smoothing=0.1),
    dict(name="full-tiny-bert-h30-weights-smoothing", model="tiny-bert-h30", class_weights=[0.3, 1.0, 2.5],
         label_smoothing=0.1),
    dict(name="full-tiny-bert-h21-pair", model="tiny-bert-h21-pair"),
    dict(name="full-tiny-bert-h64-5labels", model="tiny-bert-h64-5labels"),
    dict(name="full-tiny-roberta-h35", model="tiny-roberta-h35"),
    dict(name="full-tiny-xlm-roberta-h33", model="tiny-xlm-roberta-h33"),
    dict(name="full-tiny-distilbert-d36", model="tiny-distilbert-d36"),
]

# LoRA through PEFT. `lora` holds the LoraConfig arguments besides task_type="SEQ_CLS" and lora_dropout=0.0
# (defaults: r=4, lora_alpha=8, bias="none"). `seed` seeds PEFT's own initialisation (torch.manual_seed before
# get_peft_model) and the perturbation that follows it.
LORA_CASES = [
    dict(name="lora-tiny-bert-h30-qv", model="tiny-bert-h30", seed=3001,
         lora=dict(target_modules=["query", "value"])),
    dict(name="lora-tiny-bert-h30-all-linear", model="tiny-bert-h30", seed=3002,
         lora=dict(target_modules="all-linear")),
    dict(name="lora-tiny-bert-h30-rslora", model="tiny-bert-h30", seed=3003,
         lora=dict(target_modules=["query", "value"], use_rslora=True)),
    dict(name="lora-tiny-bert-h30-bias-all", model="tiny-bert-h30", seed=3004,
         lora=dict(target_modules=["query", "value"], bias="all")),
    dict(name="lora-tiny-bert-h30-bias-lora-only", model="tiny-bert-h30", seed=3005,
         lora=dict(target_modules=["query", "value"], bias="lora_only")),
    dict(name="lora-tiny-bert-h30-pooler", model="tiny-bert-h30", seed=3006,
         lora=dict(target_modules=["query", "value"], modules_to_save=["classifier", "pooler"])),
    dict(name="lora-tiny-roberta-h35-qv", model="tiny-roberta-h35", seed=3007,
         lora=dict(target_modules=["query", "value"])),
    dict(name="lora-tiny-roberta-h35-all-linear", model="tiny-roberta-h35", seed=3008,
         lora=dict(target_modules="all-linear")),
    dict(name="lora-tiny-distilbert-d36-qv", model="tiny-distilbert-d36", seed=3009,
         lora=dict(target_modules=["q_lin", "v_lin"])),
    # Real models: fresh seeded 3-label head (torch.manual_seed(0), as in encoder_reference.py).
    dict(name="lora-real-all-MiniLM-L6-v2", model="real-all-MiniLM-L6-v2", seed=3101,
         lora=dict(r=16, lora_alpha=32, target_modules=["query", "value"], modules_to_save=["classifier"])),
    # e5 has no pooler in its checkpoint: the fresh pooler must travel in the adapter, so it is listed too.
    dict(name="lora-real-multilingual-e5-small", model="real-multilingual-e5-small", seed=3102,
         lora=dict(r=16, lora_alpha=32, target_modules=["query", "value"], modules_to_save=["classifier", "pooler"])),
]


def loss_formula(logits, labels, weights=None, smoothing=0.0):
    """The documented formula, written out (float64): must equal F.cross_entropy."""
    logp = torch.log_softmax(logits.double(), -1)
    B, C = logp.shape
    w = torch.ones(C, dtype=torch.float64) if weights is None else torch.tensor(weights, dtype=torch.float64)
    nll = -logp[torch.arange(B), labels]
    wy = w[labels]
    smooth = -(logp * w).sum(-1) / C
    per_row = (1 - smoothing) * wy * nll + smoothing * smooth
    return per_row.sum() / wy.sum()


# --------------------------------------------------------------------------------------------------
# Full fine-tuning
# --------------------------------------------------------------------------------------------------


def run_full(case: dict, base: Base, out_root: Path) -> None:
    t0 = time.time()
    case_dir = out_root / "training" / case["name"]
    fresh_dir(case_dir)
    weights, smoothing = case.get("class_weights"), case.get("label_smoothing", 0.0)

    model = base.load()
    base.check_base(model)
    for p in model.parameters():
        p.requires_grad_(True)
    logits, loss, grads, hgrads, glogits = forward_backward(model, base.feed, base.labels, weights, smoothing)
    assert torch.equal(logits, base.expected["logits"]), "logits with autograd differ from the encoder reference"
    # The loss is F.cross_entropy; check it against the written-out formula (and, unweighted, transformers' loss).
    formula = float(loss_formula(logits, base.labels, weights, smoothing))
    assert abs(formula - float(loss)) < 1e-5 * max(1.0, abs(formula)), (formula, float(loss))
    if weights is None and smoothing == 0.0:
        with torch.no_grad():
            hf_loss = model(**base.feed, labels=base.labels).loss
        assert torch.allclose(hf_loss, loss, rtol=1e-6, atol=0), (hf_loss, loss)
    state_names = list(model.state_dict().keys())
    assert sorted(grads) == sorted(state_names), "parameter names differ from state-dict names"

    tensors = base.input_tensors()
    tensors["logits"] = logits
    tensors["loss"] = loss.reshape(1)
    tensors["grad.logits"] = glogits
    for i, g in enumerate(hgrads):
        tensors[f"grad.hidden_states.{i}"] = g
    for n in state_names:
        tensors[f"grad.{n}"] = grads[n]
    if weights is not None:
        tensors["class_weights"] = torch.tensor(weights, dtype=torch.float32)
    save_tensors(case_dir / "expected.safetensors", tensors)

    sens = float64_check(model, base.feed, base.labels, weights, smoothing, grads, loss, hidden=True)
    write_json(case_dir / "case.json", {
        "kind": "full",
        "base_model": base.ref,
        "model_type": base.model_type,
        "num_labels": base.num_labels,
        "labels": base.labels.tolist(),
        "loss": float(loss),
        "loss_fn": {"class_weights": weights, "label_smoothing": smoothing, "reduction": "mean"},
        "parameters": [{"name": n, "shape": list(grads[n].shape)} for n in state_names],
        "num_hidden_state_grads": len(hgrads),
        "sensitivity": sens,
    })
    B, S = base.ids.shape
    print(f"{case['name']:38s} full  B={B:2d} S={S:3d} params={len(state_names):3d} loss={float(loss):.6f} "
          f"grad f32/f64 rel={sens['grad_float32_vs_float64_max_rel']:.1e} {time.time() - t0:.2f}s", flush=True)


# --------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(__doc__, argv, only=["full", "lora", "real"],
                      only_help="full: full fine-tuning cases; lora: tiny LoRA cases; real: the real-model LoRA cases")
    setup_torch(quiet_peft=True)

    t0 = time.time()
    out_root = args.out.resolve()
    (out_root / "training").mkdir(parents=True, exist_ok=True)
    print(f"training reference -> {out_root / 'training'} (torch {torch.__version__}, transformers "
          f"{__import__('transformers').__version__}, peft {peft.__version__})", flush=True)
    get_base = base_cache(out_root, args.models)

    if args.only in (None, "full"):
        for case in FULL_CASES:
            run_full(case, get_base(case["model"]), out_root)
    for case in LORA_CASES:
        real = case["model"].startswith("real-")
        if args.only is None or (args.only == "lora" and not real) or (args.only == "real" and real):
            run_lora(case, get_base(case["model"]), out_root)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

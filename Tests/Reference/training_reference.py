#!/usr/bin/env python3
"""Reference losses, gradients, LoRA adapters and logits for Finch's training code (PyTorch + transformers + PEFT).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/training_reference.py [--out DIR] [--models DIR] [--only full|lora|real]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models.
Needs DIR/encoder/ written first by encoder_reference.py: the tiny models (DIR/encoder/tiny-*/model) and the
inputs in DIR/encoder/*/expected.safetensors are reused as they are.

Writes DIR/training/<case>/ for every case in FULL_CASES, LORA_CASES and MULTI_ADAPTER_CASES:
  full-*  full fine-tuning: logits, loss and the gradient of every parameter (and of every hidden state);
  lora-*  LoRA through PEFT (get_peft_model): logits, loss, gradients of the trainable parameters, the adapter
          folder written by PeftModel.save_pretrained, and the logits after merge_and_unload. The *-dora* cases
          use DoRA (use_dora=True: a trainable magnitude vector per layer) and add the row norms and DoRA facts;
          the two-adapter case holds two named adapters (add_adapter/set_adapter) and writes everything per
          adapter (keys suffixed .first/.second, adapter/<name>/ subfolders).
Tests/Reference/README.md ("training_reference.py") documents every file, key and naming rule.

Conventions: float32, attn_implementation="eager", dropout OFF through model.eval() (the configs keep their
dropout probabilities; eval() turns every nn.Dropout into the identity, gradients still flow). Deterministic and
idempotent: every random draw has a fixed seed, each case folder is deleted and rewritten, and the only set PEFT
writes in an unspecified order (target_modules in adapter_config.json) is sorted after saving.

Self-checks (the script fails if one does not hold): the reloaded tiny models reproduce the encoder reference's
logits; F.cross_entropy equals the written-out formula (weights, label smoothing); every gradient exists and agrees
with a float64 copy of the model (the measured float32 error goes to case.json); every trainable PEFT parameter is
in the adapter file under the documented key; PeftModel.from_pretrained on a freshly loaded base reproduces the
logits; merge_and_unload reproduces them within float32 rounding. DoRA: merge+unmerge restores the base weights,
and the documented backward formulas match autograd in float64.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForSequenceClassification  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

import peft  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.tuners.lora.dora import DoraLinearLayer  # noqa: E402
from peft.utils import ModulesToSaveWrapper  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # encoder_reference.manual_forward for a self-check

# Seeds of the labels, one per base model, so that every case on the same model uses the same labels.
LABEL_SEEDS = {
    "tiny-bert-h30": 2001,
    "tiny-bert-h21-pair": 2002,
    "tiny-bert-h64-5labels": 2003,
    "tiny-roberta-h35": 2004,
    "tiny-xlm-roberta-h33": 2005,
    "tiny-distilbert-d36": 2006,
    "real-all-MiniLM-L6-v2": 2101,
    "real-multilingual-e5-small": 2102,
}

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
    # DoRA (weight-decomposed LoRA): besides lora_A/lora_B, every LoRA layer gets a trainable magnitude vector.
    dict(name="lora-tiny-bert-h30-dora", model="tiny-bert-h30", seed=3010,
         lora=dict(target_modules=["query", "value"], use_dora=True)),
    dict(name="lora-tiny-roberta-h35-dora-rslora", model="tiny-roberta-h35", seed=3011,
         lora=dict(target_modules="all-linear", use_dora=True, use_rslora=True)),
    # Real models: fresh seeded 3-label head (torch.manual_seed(0), as in encoder_reference.py).
    dict(name="lora-real-all-MiniLM-L6-v2", model="real-all-MiniLM-L6-v2", seed=3101,
         lora=dict(r=16, lora_alpha=32, target_modules=["query", "value"], modules_to_save=["classifier"])),
    # e5 has no pooler in its checkpoint: the fresh pooler must travel in the adapter, so it is listed too.
    dict(name="lora-real-multilingual-e5-small", model="real-multilingual-e5-small", seed=3102,
         lora=dict(r=16, lora_alpha=32, target_modules=["query", "value"], modules_to_save=["classifier", "pooler"])),
]

LORA_B_STD = 0.1     # lora_B := normal(0, 0.1)   (PEFT initialises it to zero)
LORA_A_STD = 0.02    # lora_A += normal(0, 0.02)  (on top of PEFT's kaiming-uniform init)
OTHER_STD = 0.05     # tiny cases only: every other trainable parameter (head copies, biases) += normal(0, 0.05)
DORA_M_STD = 0.05    # DoRA: lora_magnitude_vector += normal(0, 0.05) (PEFT initialises it to the row norms of W)

# Several named adapters on one model (PeftModel.add_adapter / set_adapter). `adapters` lists them in the order they
# are added: the first through get_peft_model(..., adapter_name=...), the others through add_adapter. Each has its
# own LoraConfig arguments (same defaults as LORA_CASES) and its own seed (PEFT's init + the perturbation).
MULTI_ADAPTER_CASES = [
    dict(name="lora-tiny-bert-h30-two-adapters", model="tiny-bert-h30", adapters=[
        dict(name="first", seed=3012, lora=dict(r=4, target_modules=["query", "value"])),
        dict(name="second", seed=3013, lora=dict(r=2, target_modules="all-linear")),
    ]),
]

# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def save_tensors(path: Path, tensors: dict) -> None:
    out = {}
    for k, v in tensors.items():
        v = v.detach()
        v = v.to(torch.int64) if not v.is_floating_point() else v.to(torch.float32)
        out[k] = v.contiguous().clone()
    save_file(out, str(path))


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def jsonable(obj):
    """PEFT config dict -> plain JSON (sets become sorted lists, enums their values)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, set):
        return sorted(jsonable(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), (str, int)):
        return obj.value
    return obj


def sig(x: float) -> float:
    return float(f"{x:.2g}")


class Base:
    """Where a case's base model and inputs come from."""

    def __init__(self, model: str, out_root: Path, models_dir: Path):
        self.name = model
        self.real = model.startswith("real-")
        enc = out_root / "encoder" / model
        if not (enc / "expected.safetensors").exists():
            raise SystemExit(f"{enc}/expected.safetensors is missing: run encoder_reference.py first")
        self.expected = load_file(str(enc / "expected.safetensors"))
        if self.real:
            self.folder = models_dir / model[len("real-"):]
            if not (self.folder / "config.json").exists():
                raise SystemExit(f"model folder {self.folder} is missing; run scripts/setup or get-models.sh")
            self.ref = {"models": model[len("real-"):]}
        else:
            self.folder = enc / "model"
            self.ref = {"reference": f"encoder/{model}/model"}
        case = json.loads((enc / "case.json").read_text())
        self.num_labels = case["num_labels"]
        self.model_type = case["model_type"]
        self.ids = self.expected["input_ids"]
        self.mask = self.expected["attention_mask"]
        self.tt = self.expected["token_type_ids"]
        self.feed = dict(input_ids=self.ids, attention_mask=self.mask)
        if self.model_type != "distilbert":
            self.feed["token_type_ids"] = self.tt
        g = torch.Generator().manual_seed(LABEL_SEEDS[model])
        self.labels = torch.randint(0, self.num_labels, (self.ids.shape[0],), generator=g)

    def load(self, head_seed: int = 0):
        """Tiny: the saved model. Real: torch.manual_seed(head_seed), then a fresh num_labels head."""
        if self.real:
            torch.manual_seed(head_seed)
            m = AutoModelForSequenceClassification.from_pretrained(
                str(self.folder), num_labels=self.num_labels, attn_implementation="eager")
        else:
            m = AutoModelForSequenceClassification.from_pretrained(str(self.folder), attn_implementation="eager")
        assert m.config._attn_implementation == "eager"
        m.eval()
        return m

    def check_base(self, m) -> None:
        """Tiny: the loaded model must reproduce encoder_reference.py's logits. Real: the same fresh head."""
        if self.real:
            sd = m.state_dict()
            assert torch.equal(sd["classifier.weight"], self.expected["classifier.weight"]), "fresh head differs"
            if "pooler.dense.weight" in self.expected:
                assert torch.equal(sd["bert.pooler.dense.weight"], self.expected["pooler.dense.weight"])
            return  # same checkpoint and head as encoder_reference.py; skip the (costly) forward pass
        with torch.no_grad():
            logits = m(**self.feed).logits
        assert torch.equal(logits, self.expected["logits"]), f"{self.name}: logits differ from encoder reference"

    def input_tensors(self) -> dict:
        return dict(input_ids=self.ids, attention_mask=self.mask, token_type_ids=self.tt, labels=self.labels)


def loss_fn(logits, labels, weights=None, smoothing=0.0):
    w = None if weights is None else torch.tensor(weights, dtype=logits.dtype)
    return F.cross_entropy(logits, labels, weight=w, label_smoothing=smoothing)


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


def forward_backward(model, feed, labels, weights=None, smoothing=0.0, hidden=True):
    """One forward and backward pass. Returns logits, loss, {param name: grad}, [hidden-state grads], logits grad."""
    model.zero_grad(set_to_none=True)
    out = model(**feed, output_hidden_states=hidden, return_dict=True)
    logits = out.logits
    logits.retain_grad()
    hs = list(out.hidden_states) if hidden else []
    for h in hs:
        h.retain_grad()
    loss = loss_fn(logits, labels, weights, smoothing)
    loss.backward()
    grads = {}
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient for {n}"
            grads[n] = p.grad.detach().clone()
    hgrads = []
    for i, h in enumerate(hs):
        assert h.grad is not None, f"hidden_states.{i} did not receive a gradient"
        hgrads.append(h.grad.detach().clone())
    return logits.detach(), loss.detach(), grads, hgrads, logits.grad.detach().clone()


def float64_check(model, feed, labels, weights, smoothing, grads32, loss32, hidden):
    """Rerun the same pass on a float64 copy of the model and measure the float32 error of every gradient.

    grad_float32_vs_float64_max_abs: max over all tensors of max |g32 - g64|.
    grad_float32_vs_float64_max_rel: max over the other tensors of max |g32 - g64| / max |g64|.
    grad_zero_tensors: tensors whose float64 gradient is below 1e-9 * G (G = the largest |g64| of the case), i.e.
    zero in exact arithmetic (the attention key bias: softmax is invariant to a per-query constant). Their float32
    gradient is rounding noise, at most grad_zero_tensors_max_abs: compare them with an absolute tolerance.
    """
    m64 = copy.deepcopy(model).double()
    _, loss64, grads64, _, _ = forward_backward(m64, feed, labels, weights, smoothing, hidden=hidden)
    del m64
    G = max(float(g.abs().max()) for g in grads64.values())
    rel, worst, abs_err, zero, zero_abs = 0.0, "", 0.0, [], 0.0
    for n, g in grads32.items():
        g64 = grads64[n]
        err = float((g.double() - g64).abs().max())
        abs_err = max(abs_err, err)
        scale = float(g64.abs().max())
        if scale < 1e-9 * G:
            zero.append(n)
            zero_abs = max(zero_abs, float(g.abs().max()))
            continue
        r = err / scale
        if r > rel:
            rel, worst = r, n
    return {
        "loss_float32_vs_float64_abs": sig(abs(float(loss32) - float(loss64))),
        "grad_float32_vs_float64_max_abs": sig(abs_err),
        "grad_float32_vs_float64_max_rel": sig(rel),
        "grad_max_abs": sig(G),
        "grad_worst_rel_tensor": worst,
        "grad_zero_tensors": zero,
        "grad_zero_tensors_max_abs": sig(zero_abs),
    }


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
# LoRA through PEFT
# --------------------------------------------------------------------------------------------------

PREFIX = "base_model.model."


def saved_key(name: str, adapter: str = "default") -> str:
    """In-memory PEFT parameter name -> key in adapter_model.safetensors (peft 0.21.2's get_peft_model_state_dict).

    The adapter name is removed. DoRA's magnitude vector loses its `.weight` as well:
    `<module>.lora_magnitude_vector.<adapter>.weight` is saved as `<module>.lora_magnitude_vector`."""
    a = adapter
    return (name.replace(f".lora_A.{a}.", ".lora_A.").replace(f".lora_B.{a}.", ".lora_B.")
            .replace(f".lora_magnitude_vector.{a}.weight", ".lora_magnitude_vector")
            .replace(f".modules_to_save.{a}.", "."))


def hf_name(name: str, adapter: str = "default") -> str | None:
    """In-memory PEFT parameter name -> the plain transformers state-dict name (None for LoRA/DoRA tensors)."""
    if ".lora_A." in name or ".lora_B." in name or ".lora_magnitude_vector." in name:
        return None
    s = name[len(PREFIX):] if name.startswith(PREFIX) else name
    return s.replace(".base_layer.", ".").replace(f".modules_to_save.{adapter}.", ".")


def hf_module(name: str, adapter: str = "default") -> str:
    s = name[len(PREFIX):]
    for tag in (".lora_A.", ".lora_B.", ".lora_magnitude_vector."):
        if tag in s:
            return s.split(tag)[0]
    return hf_name(name, adapter).rsplit(".", 1)[0]


def kind_of(name: str, adapter: str = "default") -> str:
    if ".lora_A." in name:
        return "lora_A"
    if ".lora_B." in name:
        return "lora_B"
    if ".lora_magnitude_vector." in name:
        return "lora_magnitude_vector"
    if f".modules_to_save.{adapter}." in name:
        return "modules_to_save"
    return "bias"


def fix_adapter_config(adapter_dir: Path) -> dict:
    """PEFT writes target_modules with list(set): its order depends on PYTHONHASHSEED. Sort it (same format)."""
    path = adapter_dir / "adapter_config.json"
    cfg = json.loads(path.read_text())
    if isinstance(cfg.get("target_modules"), list):
        cfg["target_modules"] = sorted(cfg["target_modules"])
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return cfg


def perturb(pm, seed: int, real: bool, select) -> None:
    """Seeded change of the parameters `select(name, param)` picks, in named_parameters() order, from one generator
    Generator().manual_seed(seed*31+7): lora_B := normal(0, LORA_B_STD); lora_A += normal(0, LORA_A_STD);
    DoRA's lora_magnitude_vector += normal(0, DORA_M_STD); tiny cases: anything else += normal(0, OTHER_STD)."""
    g = torch.Generator().manual_seed(seed * 31 + 7)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if not select(n, p):
                continue
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * LORA_B_STD)
            elif ".lora_A." in n:
                p.add_(torch.randn(p.shape, generator=g) * LORA_A_STD)
            elif ".lora_magnitude_vector." in n:
                p.add_(torch.randn(p.shape, generator=g) * DORA_M_STD)
            elif not real:
                p.add_(torch.randn(p.shape, generator=g) * OTHER_STD)


def _dora_forward_norm_not_detached(self, x, *, lora_A, lora_B, scaling, base_layer, base_result=None,
                                    adapter_name="default"):
    """peft's DoraLinearLayer.forward (eval, dropout 0: base_result given) with the weight norm NOT detached: the
    mistake whose effect dora_report measures. The forward value is the same; the lora_A/lora_B gradients are not."""
    weight = base_layer.weight
    norm = torch.linalg.norm(weight + scaling * (lora_B.weight @ lora_A.weight), dim=1)
    c = (self.weight / norm).view(1, -1)
    bias = base_layer.bias
    z = base_result - bias if bias is not None else base_result
    return (c - 1) * z + c * lora_B(lora_A(x)) * scaling


def _dora_forward_plain_lora(self, x, *, lora_A, lora_B, scaling, base_layer, base_result=None,
                             adapter_name="default"):
    """What the layer adds without DoRA (plain LoRA): for the sensitivity figure in dora_report."""
    return lora_B(lora_A(x)) * scaling


def dora_gradient_check(pm, adapter: str, base: "Base") -> float:
    """Check the README's DoRA backward formulas in float64: capture each DoRA layer's input x and output gradient g
    (forward hook + tensor hook, and the input gradient via a full backward hook), then compare
    dL/dm, dL/dA, dL/dB and dL/dx computed by hand with autograd's. Returns the largest relative difference."""
    m64 = copy.deepcopy(pm).double()
    caps, hooks = {}, []
    for name, mod in m64.named_modules():
        if isinstance(mod, LoraLayer) and adapter in mod.lora_magnitude_vector:
            def fwd(module, inp, out, name=name):
                caps[name] = {"x": inp[0].detach()}
                out.register_hook(lambda gr, name=name: caps[name].__setitem__("g", gr.detach()))
            def bwd(module, gin, gout, name=name):
                caps[name]["gx"] = gin[0].detach()
            hooks.append(mod.register_forward_hook(fwd))
            hooks.append(mod.register_full_backward_hook(bwd))
    _, _, g64, _, _ = forward_backward(m64, base.feed, base.labels, hidden=False)
    for h in hooks:
        h.remove()
    worst = 0.0

    def rel(a, b):
        return float((a - b).abs().max()) / max(float(b.abs().max()), 1e-300)

    for name, c in caps.items():
        mod = m64.get_submodule(name)
        W = mod.get_base_layer().weight.detach()
        A = mod.lora_A[adapter].weight.detach()
        B = mod.lora_B[adapter].weight.detach()
        mag = mod.lora_magnitude_vector[adapter].weight.detach()
        sc = mod.scaling[adapter]
        x = c["x"].reshape(-1, W.shape[1])
        gr = c["g"].reshape(-1, W.shape[0])
        n = torch.linalg.norm(W + sc * (B @ A), dim=1)       # [out], a constant for autograd
        cf = mag / n                                          # [out]
        z = x @ W.T                                           # base result without bias
        u = x @ A.T                                           # [N, r]
        lo = u @ B.T                                          # LoRA result, unscaled
        gm = (gr * (z + sc * lo)).sum(0) / n
        gc = gr * cf
        gB = sc * gc.T @ u
        gA = sc * (gc @ B).T @ x
        gx = gc @ W + sc * (gc @ B) @ A
        worst = max(worst,
                    rel(gm, g64[f"{name}.lora_magnitude_vector.{adapter}.weight"]),
                    rel(gA, g64[f"{name}.lora_A.{adapter}.weight"]),
                    rel(gB, g64[f"{name}.lora_B.{adapter}.weight"]),
                    rel(gx, c["gx"].reshape(gx.shape)))
    del m64
    return worst


def dora_report(pm, adapter: str, base: "Base", grads: dict, logits: torch.Tensor):
    """DoRA facts for case.json and extra tensors for expected.safetensors; also self-checks merge/unmerge.

    Per DoRA layer: the magnitude vector's in-memory name and adapter-file key, and the row norm
    ||W + scaling * B A||_2 (dim=1) exactly as DoraLinearLayer.forward computes it (`dora_weight_norm.<module>`).
    Then, on deep copies: merge_adapter() + unmerge_adapter() (how far the base weights come back), and the gradients
    with the norm not detached (how far a Swift implementation that forgets the detach would be)."""
    params = dict(pm.named_parameters())
    layers, tensors = [], {}
    ratio_min, ratio_max = math.inf, -math.inf
    for mname, m in pm.named_modules():
        if not (isinstance(m, LoraLayer) and adapter in m.lora_magnitude_vector):
            continue
        module = mname[len(PREFIX):]
        mag_name = f"{mname}.lora_magnitude_vector.{adapter}.weight"
        assert mag_name in params and params[mag_name].requires_grad, mag_name
        assert mag_name in grads and float(grads[mag_name].abs().max()) > 0, f"{mag_name}: zero gradient"
        dl = m.lora_magnitude_vector[adapter]
        W = m.get_base_layer().weight
        s = m.scaling[adapter]
        with torch.no_grad():
            lw = dl.get_lora_weight(m.lora_A[adapter], m.lora_B[adapter])  # = B @ A, computed as PEFT's forward does
            norm = dl.get_weight_norm(W, lw, s)
            ref = torch.linalg.norm(W.double() + s * (m.lora_B[adapter].weight.double() @
                                                       m.lora_A[adapter].weight.double()), dim=1)
            assert float((norm.double() - ref).abs().max()) < 1e-5 * float(ref.max()), f"{module}: norm formula"
            ratio = params[mag_name].detach() / norm
        ratio_min, ratio_max = min(ratio_min, float(ratio.min())), max(ratio_max, float(ratio.max()))
        tensors[f"dora_weight_norm.{module}"] = norm
        layers.append({
            "hf_module": module,
            "magnitude_name": mag_name,
            "magnitude_saved_key": saved_key(mag_name, adapter),
            "magnitude_shape": list(params[mag_name].shape),
            "base_weight_shape": list(W.shape),
            "has_bias": m.get_base_layer().bias is not None,
            "scaling": s,
        })

    # merge_adapter() then unmerge_adapter() on a copy: unmerge divides by the cached dora factor.
    pc = copy.deepcopy(pm)
    w0 = {n: m.get_base_layer().weight.detach().clone() for n, m in pc.named_modules() if isinstance(m, LoraLayer)}
    pc.merge_adapter()
    with torch.no_grad():
        merged_adapter_logits = pc(**base.feed).logits
    pc.unmerge_adapter()
    unmerge_diff = max(float((m.get_base_layer().weight - w0[n]).abs().max())
                       for n, m in pc.named_modules() if isinstance(m, LoraLayer))
    with torch.no_grad():
        unmerged_logits = pc(**base.feed).logits
    assert unmerge_diff < 1e-5, f"unmerge did not restore the base weights ({unmerge_diff:.2e})"
    assert float((unmerged_logits - logits).abs().max()) < 1e-5 * max(1.0, float(logits.abs().max()))
    del pc

    # The norm's detach matters: gradients of lora_A/lora_B without it.
    pc = copy.deepcopy(pm)
    for mod in pc.modules():
        if isinstance(mod, DoraLinearLayer):
            mod.forward = _dora_forward_norm_not_detached.__get__(mod)
    _, _, grads_nd, _, _ = forward_backward(pc, base.feed, base.labels, hidden=False)
    del pc
    # How far plain LoRA (the same A, B, no magnitude/norm) is from DoRA.
    pc = copy.deepcopy(pm)
    for mod in pc.modules():
        if isinstance(mod, DoraLinearLayer):
            mod.forward = _dora_forward_plain_lora.__get__(mod)
    with torch.no_grad():
        plain_diff = float((pc(**base.feed).logits - logits).abs().max())
    del pc
    grad_check = dora_gradient_check(pm, adapter, base)
    assert grad_check < 1e-9, f"DoRA gradient formulas differ from autograd by {grad_check:.2e}"
    worst, worst_kind = 0.0, {}
    for n, g in grads.items():
        r = float((grads_nd[n] - g).abs().max()) / max(float(g.abs().max()), 1e-30)
        k = kind_of(n, adapter)
        worst_kind[k] = max(worst_kind.get(k, 0.0), r)
        worst = max(worst, r)

    return {
        "layers": layers,
        "num_layers": len(layers),
        "magnitude_init": f"PEFT: ||W||_2 per output row (B = 0 then); here += normal(0, {DORA_M_STD})",
        "magnitude_over_norm_range": [sig(ratio_min), sig(ratio_max)],
        "merge_adapter_logits_max_abs_diff": sig(float((merged_adapter_logits - logits).abs().max())),
        "unmerge_base_weight_max_abs_diff": sig(unmerge_diff),
        "norm_not_detached_grad_max_rel": sig(worst),
        "plain_lora_logits_max_abs_diff": sig(plain_diff),
        "grad_formula_float64_max_rel": sig(grad_check),
        "norm_not_detached_grad_max_rel_by_kind": {k: sig(v) for k, v in sorted(worst_kind.items())},
        "weight_norm_tensors": "expected.safetensors dora_weight_norm.<hf_module>, f32 [out]",
    }, tensors


def run_lora(case: dict, base: Base, out_root: Path) -> None:
    t0 = time.time()
    case_dir = out_root / "training" / case["name"]
    fresh_dir(case_dir)
    seed = case["seed"]
    requested = dict(task_type="SEQ_CLS", r=4, lora_alpha=8, lora_dropout=0.0, bias="none")
    requested.update(copy.deepcopy(case["lora"]))

    model = base.load()
    base.check_base(model)
    # Frozen embeddings would leave hidden_states.0 without a gradient: make the embedding output require grad
    # (transformers' hook for gradient checkpointing; it changes no parameter gradient).
    if not base.real:
        model.enable_input_require_grads()
    torch.manual_seed(seed)  # PEFT's kaiming-uniform init of lora_A uses the global generator
    pm = get_peft_model(model, LoraConfig(**copy.deepcopy(requested)))
    pm.eval()
    cfg = pm.peft_config["default"]

    # PEFT initialises lora_B to zero, which would make every lora_A gradient zero: perturb (seeded).
    perturb(pm, seed, base.real, lambda n, p: p.requires_grad)

    lora_modules = sorted(n[len(PREFIX):] for n, m in pm.named_modules() if isinstance(m, LoraLayer))
    wrapped = sorted(n[len(PREFIX):] for n, m in pm.named_modules() if isinstance(m, ModulesToSaveWrapper))
    scalings = {m.scaling["default"] for _, m in pm.named_modules() if isinstance(m, LoraLayer)}
    assert len(scalings) == 1
    scaling = scalings.pop()
    expected_scaling = cfg.lora_alpha / (math.sqrt(cfg.r) if cfg.use_rslora else cfg.r)
    assert abs(scaling - expected_scaling) < 1e-12, (scaling, expected_scaling)

    hidden = not base.real
    logits, loss, grads, hgrads, glogits = forward_backward(pm, base.feed, base.labels, hidden=hidden)
    if not base.real:
        with torch.no_grad():
            hf_loss = pm(**base.feed, labels=base.labels).loss
        assert torch.allclose(hf_loss, loss, rtol=1e-6, atol=0), (hf_loss, loss)
    trainable = list(grads)
    lora_a = [n for n in trainable if kind_of(n) == "lora_A"]
    assert lora_a and all(float(grads[n].abs().max()) > 0 for n in lora_a), "a lora_A gradient is zero"

    # Save the adapter exactly as PEFT does; then check every trainable parameter is in it under saved_key().
    adapter_dir = case_dir / "adapter"
    pm.save_pretrained(str(adapter_dir))
    saved_cfg = fix_adapter_config(adapter_dir)
    saved = load_file(str(adapter_dir / "adapter_model.safetensors"))
    params = dict(pm.named_parameters())
    mapping = []
    for n in trainable:
        k = saved_key(n)
        assert k in saved, f"{n}: {k} not in the adapter file"
        assert torch.equal(saved[k], params[n].detach()), f"{n}: saved value differs"
        mapping.append({"name": n, "saved_key": k, "kind": kind_of(n), "hf_module": hf_module(n),
                        "hf_name": hf_name(n), "shape": list(params[n].shape)})
    extra = sorted(set(saved) - {m["saved_key"] for m in mapping})
    extra_info = {}
    sd = pm.state_dict()
    for k in extra:  # e.g. bias="all" also writes the wrapper's internals; say what each one holds
        same = [n for n, v in sd.items() if v.shape == saved[k].shape and torch.equal(v, saved[k])]
        extra_info[k] = {"shape": list(saved[k].shape), "equals": same}

    tensors = base.input_tensors()
    tensors["logits"] = logits
    tensors["loss"] = loss.reshape(1)
    tensors["grad.logits"] = glogits
    for i, hg in enumerate(hgrads):
        tensors[f"grad.hidden_states.{i}"] = hg
    for n in trainable:
        tensors[f"grad.{n}"] = grads[n]
    if base.real:  # the fresh head (and e5's fresh pooler) the base model got from torch.manual_seed(0)
        for k in ("classifier.weight", "classifier.bias", "pooler.dense.weight", "pooler.dense.bias"):
            if k in base.expected:
                tensors[k] = base.expected[k]

    sens = float64_check(pm, base.feed, base.labels, None, 0.0, grads, loss, hidden=hidden)

    # Independent check of the documented adapter semantics (tiny cases; the real ones share the code path).
    by_hand = None
    if not base.real:
        ref = logits_by_hand(base, base.load(), adapter_dir)
        by_hand = float((logits.double() - ref).abs().max()) / max(1.0, float(ref.abs().max()))
        assert by_hand < 1e-5, f"{case['name']}: adapter applied by hand differs by {by_hand:.2e}"

    # Reload: a freshly loaded base (real models: a *different* head seed) + PeftModel.from_pretrained.
    base2 = base.load(head_seed=12345)
    reloaded = PeftModel.from_pretrained(base2, str(adapter_dir))
    reloaded.eval()
    with torch.no_grad():
        reload_logits = reloaded(**base.feed).logits
    reload_diff = float((reload_logits - logits).abs().max())
    assert reload_diff == 0.0, f"{case['name']}: reloaded adapter logits differ by {reload_diff:.2e}"
    del reloaded, base2

    dora, dora_tensors = None, {}
    if cfg.use_dora:
        dora, dora_tensors = dora_report(pm, "default", base, grads, logits)

    # Merge: W + scaling * B @ A folded into the base weights; equal to the unmerged logits up to rounding.
    merged = pm.merge_and_unload()
    merged.eval()
    assert not any(isinstance(m, (LoraLayer, ModulesToSaveWrapper)) for m in merged.modules())
    with torch.no_grad():
        merged_logits = merged(**base.feed).logits
    merge_diff = float((merged_logits - logits).abs().max())
    assert merge_diff < 1e-5 * max(1.0, float(logits.abs().max())), f"merge changed logits by {merge_diff:.2e}"
    tensors["merged_logits"] = merged_logits
    if dora is not None:
        tensors.update(dora_tensors)
    save_tensors(case_dir / "expected.safetensors", tensors)

    info = {
        "kind": "lora",
        "base_model": base.ref,
        "model_type": base.model_type,
        "num_labels": base.num_labels,
        "labels": base.labels.tolist(),
        "loss": float(loss),
        "loss_fn": {"class_weights": None, "label_smoothing": 0.0, "reduction": "mean"},
        "peft_version": peft.__version__,
        "lora_config_requested": jsonable(requested),
        "lora_config": jsonable(cfg.to_dict()),
        "adapter_config_target_modules": saved_cfg.get("target_modules"),
        "adapter_config_modules_to_save": saved_cfg.get("modules_to_save"),
        "lora_modules": lora_modules,
        "modules_to_save_wrapped": wrapped,
        "scaling": scaling,
        "init": {
            "peft_seed": seed,
            "lora_B": f"normal(0, {LORA_B_STD})",
            "lora_A": f"PEFT kaiming-uniform + normal(0, {LORA_A_STD})",
            "other_trainable": ("unchanged (the fresh seeded head)" if base.real
                                else f"+= normal(0, {OTHER_STD}) (head copies and biases)"),
        },
        "trainable": mapping,
        "adapter_extra_keys": extra_info,
        "num_hidden_state_grads": len(hgrads),
        "merge_max_abs_diff": sig(merge_diff),
        "by_hand_logits_max_rel_diff": None if by_hand is None else sig(by_hand),
        "sensitivity": sens,
    }
    if dora is not None:  # only DoRA cases get the key, so the other case.json files stay as they were
        info["dora"] = dora
    write_json(case_dir / "case.json", info)
    B, S = base.ids.shape
    print(f"{case['name']:38s} lora  B={B:2d} S={S:3d} lora-modules={len(lora_modules):2d} "
          f"wrapped={','.join(wrapped)} trainable={len(trainable)} saved-keys={len(saved)} loss={float(loss):.6f} "
          f"grad f32/f64 rel={sens['grad_float32_vs_float64_max_rel']:.1e} merge={merge_diff:.1e} "
          f"{time.time() - t0:.2f}s", flush=True)


def run_lora_multi(case: dict, base: Base, out_root: Path) -> None:
    """Several named LoRA adapters on one PeftModel: get_peft_model(..., adapter_name=first), then add_adapter for the
    others; set_adapter(a) before each forward/backward. Writes per-adapter logits/loss/gradients (keys suffixed
    `.<adapter>`; parameter names already carry the adapter name) and one adapter folder saved by save_pretrained."""
    t0 = time.time()
    case_dir = out_root / "training" / case["name"]
    fresh_dir(case_dir)
    names = [a["name"] for a in case["adapters"]]
    assert "default" not in names
    requested = {}
    for a in case["adapters"]:
        req = dict(task_type="SEQ_CLS", r=4, lora_alpha=8, lora_dropout=0.0, bias="none")
        req.update(copy.deepcopy(a["lora"]))
        requested[a["name"]] = req

    model = base.load()
    base.check_base(model)
    hidden = not base.real
    if hidden:
        model.enable_input_require_grads()
    pm = None
    for a in case["adapters"]:
        torch.manual_seed(a["seed"])  # PEFT's kaiming-uniform init of this adapter's lora_A
        cfg = LoraConfig(**copy.deepcopy(requested[a["name"]]))
        if pm is None:
            pm = get_peft_model(model, cfg, adapter_name=a["name"])
        else:
            pm.add_adapter(a["name"], cfg)
    active_after_add = list(pm.active_adapters)
    pm.eval()
    # Every adapter's parameters (trainable or not at this point), each adapter from its own seed.
    for a in case["adapters"]:
        perturb(pm, a["seed"], base.real, lambda n, p, tag=f".{a['name']}.": tag in n)

    tensors = base.input_tensors()
    per = {}
    for a in names:
        pm.set_adapter(a)
        pm.eval()
        assert list(pm.active_adapters) == [a], pm.active_adapters
        logits, loss, grads, hgrads, glogits = forward_backward(pm, base.feed, base.labels, hidden=hidden)
        assert all(f".{a}." in n for n in grads), f"set_adapter({a}) left another adapter trainable"
        with torch.no_grad():
            hf_loss = pm(**base.feed, labels=base.labels).loss
        assert torch.allclose(hf_loss, loss, rtol=1e-6, atol=0), (hf_loss, loss)
        lora_a = [n for n in grads if kind_of(n, a) == "lora_A"]
        assert lora_a and all(float(grads[n].abs().max()) > 0 for n in lora_a), "a lora_A gradient is zero"
        tensors[f"logits.{a}"] = logits
        tensors[f"loss.{a}"] = loss.reshape(1)
        tensors[f"grad.logits.{a}"] = glogits
        for i, hg in enumerate(hgrads):
            tensors[f"grad.hidden_states.{i}.{a}"] = hg
        for n, gr in grads.items():
            tensors[f"grad.{n}"] = gr
        sens = float64_check(pm, base.feed, base.labels, None, 0.0, grads, loss, hidden=hidden)
        per[a] = dict(logits=logits, loss=loss, grads=grads, sens=sens, nh=len(hgrads))
    assert not torch.equal(per[names[0]]["logits"], per[names[1]]["logits"])

    lora_modules = {a: sorted(n[len(PREFIX):] for n, m in pm.named_modules()
                              if isinstance(m, LoraLayer) and a in m.lora_A) for a in names}
    wrapped = {n[len(PREFIX):]: sorted(m.modules_to_save.keys()) for n, m in pm.named_modules()
               if isinstance(m, ModulesToSaveWrapper)}
    scaling = {}
    for a in names:
        sc = {m.scaling[a] for _, m in pm.named_modules() if isinstance(m, LoraLayer) and a in m.scaling}
        assert len(sc) == 1
        scaling[a] = sc.pop()
        c = pm.peft_config[a]
        assert abs(scaling[a] - c.lora_alpha / (math.sqrt(c.r) if c.use_rslora else c.r)) < 1e-12

    # Save: every adapter whose name is not "default" goes to a subfolder named after it.
    adapter_dir = case_dir / "adapter"
    pm.save_pretrained(str(adapter_dir))
    adapter_files = sorted(str(f.relative_to(adapter_dir)) for f in adapter_dir.rglob("*") if f.is_file())
    params = dict(pm.named_parameters())
    sd = pm.state_dict()
    report = {}
    for a in names:
        sub = adapter_dir / a
        saved_cfg = fix_adapter_config(sub)
        saved = load_file(str(sub / "adapter_model.safetensors"))
        mapping = []
        for n in per[a]["grads"]:
            k = saved_key(n, a)
            assert k in saved, f"{n}: {k} not in {a}/adapter_model.safetensors"
            assert torch.equal(saved[k], params[n].detach()), f"{n}: saved value differs"
            mapping.append({"name": n, "saved_key": k, "kind": kind_of(n, a), "hf_module": hf_module(n, a),
                            "hf_name": hf_name(n, a), "shape": list(params[n].shape)})
        extra = sorted(set(saved) - {m["saved_key"] for m in mapping})
        extra_info = {k: {"shape": list(saved[k].shape),
                          "equals": [n for n, v in sd.items() if v.shape == saved[k].shape and torch.equal(v, saved[k])]}
                      for k in extra}
        ref = logits_by_hand(base, base.load(), sub) if not base.real else None
        by_hand = None
        if ref is not None:
            lg = per[a]["logits"]
            by_hand = float((lg.double() - ref).abs().max()) / max(1.0, float(ref.abs().max()))
            assert by_hand < 1e-5, f"{case['name']}/{a}: adapter applied by hand differs by {by_hand:.2e}"
        c = pm.peft_config[a]
        report[a] = {
            "folder": f"adapter/{a}",
            "seed": next(x["seed"] for x in case["adapters"] if x["name"] == a),
            "lora_config_requested": jsonable(requested[a]),
            "lora_config": jsonable(c.to_dict()),
            "adapter_config_target_modules": saved_cfg.get("target_modules"),
            "adapter_config_modules_to_save": saved_cfg.get("modules_to_save"),
            "lora_modules": lora_modules[a],
            "scaling": scaling[a],
            "loss": float(per[a]["loss"]),
            "trainable": mapping,
            "adapter_extra_keys": extra_info,
            "by_hand_logits_max_rel_diff": None if by_hand is None else sig(by_hand),
            "sensitivity": per[a]["sens"],
        }

    # Reload 1: both folders into one PeftModel (from_pretrained + load_adapter), under their own names.
    reloaded = PeftModel.from_pretrained(base.load(head_seed=12345), str(adapter_dir / names[0]),
                                         adapter_name=names[0])
    for a in names[1:]:
        reloaded.load_adapter(str(adapter_dir / a), adapter_name=a)
    for a in names:
        reloaded.set_adapter(a)
        reloaded.eval()
        with torch.no_grad():
            d = float((reloaded(**base.feed).logits - per[a]["logits"]).abs().max())
        assert d == 0.0, f"{case['name']}: reloaded adapter {a} logits differ by {d:.2e}"
    del reloaded
    # Reload 2: each folder alone, as the "default" adapter of a fresh base.
    for a in names:
        alone = PeftModel.from_pretrained(base.load(head_seed=12345), str(adapter_dir / a))
        alone.eval()
        with torch.no_grad():
            d = float((alone(**base.feed).logits - per[a]["logits"]).abs().max())
        assert d == 0.0, f"{case['name']}: adapter {a} loaded alone gives logits differing by {d:.2e}"
        del alone

    # Merge each adapter (on a copy): merge_and_unload merges the active adapter only and drops the others.
    for a in names:
        pc = copy.deepcopy(pm)
        pc.set_adapter(a)
        merged = pc.merge_and_unload()
        merged.eval()
        assert not any(isinstance(m, (LoraLayer, ModulesToSaveWrapper)) for m in merged.modules())
        with torch.no_grad():
            ml = merged(**base.feed).logits
        lg = per[a]["logits"]
        diff = float((ml - lg).abs().max())
        assert diff < 1e-5 * max(1.0, float(lg.abs().max())), f"merge of {a} changed logits by {diff:.2e}"
        tensors[f"merged_logits.{a}"] = ml
        report[a]["merge_max_abs_diff"] = sig(diff)
        del pc, merged
    save_tensors(case_dir / "expected.safetensors", tensors)

    write_json(case_dir / "case.json", {
        "kind": "lora-multi",
        "base_model": base.ref,
        "model_type": base.model_type,
        "num_labels": base.num_labels,
        "labels": base.labels.tolist(),
        "loss_fn": {"class_weights": None, "label_smoothing": 0.0, "reduction": "mean"},
        "peft_version": peft.__version__,
        "adapter_names": names,
        "active_adapters_after_add_adapter": active_after_add,
        "adapter_files": adapter_files,
        "adapters": report,
        "modules_to_save_wrapped": wrapped,
        "init": {
            "peft_seed": "per adapter: torch.manual_seed(seed) before get_peft_model / add_adapter",
            "perturbation": ("per adapter, Generator().manual_seed(seed*31+7) over the parameters whose name holds "
                             f"'.<adapter>.': lora_B := normal(0, {LORA_B_STD}); lora_A += normal(0, {LORA_A_STD}); "
                             f"modules_to_save copy += normal(0, {OTHER_STD})"),
        },
        "num_hidden_state_grads": per[names[0]]["nh"],
    })
    B, S = base.ids.shape
    print(f"{case['name']:38s} multi B={B:2d} S={S:3d} adapters={','.join(names)} "
          + " ".join(f"{a}: modules={len(lora_modules[a])} loss={float(per[a]['loss']):.6f} "
                     f"rel={per[a]['sens']['grad_float32_vs_float64_max_rel']:.1e} "
                     f"merge={report[a]['merge_max_abs_diff']:.1e}" for a in names)
          + f" {time.time() - t0:.2f}s", flush=True)


def logits_by_hand(base: Base, base_model, adapter_dir: Path) -> torch.Tensor:
    """Apply the adapter file to the base weights following only the README's rules (no PEFT), then run
    encoder_reference.manual_forward (float64). Checks the documented key names and scaling."""
    from encoder_reference import family, manual_forward  # sibling script

    acfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    scale = acfg["lora_alpha"] / (math.sqrt(acfg["r"]) if acfg["use_rslora"] else acfg["r"])
    sd = {k: v.detach().double().clone() for k, v in base_model.state_dict().items()}
    ad = load_file(str(adapter_dir / "adapter_model.safetensors"))
    for key, v in ad.items():
        assert key.startswith(PREFIX), key
        k = key[len(PREFIX):]
        if k.endswith(".lora_A.weight"):
            module = k[: -len(".lora_A.weight")]
            B = ad[PREFIX + module + ".lora_B.weight"].double()
            if acfg.get("use_dora"):
                # DoRA, merged: W' = (m / ||W + scale*B A||_row)[:, None] * (W + scale*B A); the bias is unchanged.
                V = sd[module + ".weight"] + scale * (B @ v.double())
                mag = ad[PREFIX + module + ".lora_magnitude_vector"].double()
                sd[module + ".weight"] = (mag / torch.linalg.norm(V, dim=1))[:, None] * V
            else:
                sd[module + ".weight"] += scale * (B @ v.double())
        elif k.endswith(".lora_B.weight") or k.endswith(".lora_magnitude_vector"):
            continue
        elif ".original_module." in k or ".modules_to_save." in k:
            continue  # duplicates PEFT itself writes under bias="all"
        else:
            name = k.replace(".base_layer.", ".")
            assert name in sd, f"{key} -> {name}: not a base parameter"
            sd[name] = v.double()
    fam = family(base.model_type)
    prefix = {"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert."}[fam]
    has_pooler = fam == "bert"
    _, _, logits = manual_forward(sd, base_model.config, base.ids, base.mask, base.tt, fam, prefix, head=fam,
                                  pooler=has_pooler)
    return logits


# --------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    env_ref = os.environ.get("FINCH_REFERENCE")
    env_models = os.environ.get("FINCH_MODELS")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(env_ref) if env_ref else REPO / ".reference")
    ap.add_argument("--models", type=Path,
                    default=Path(env_models) if env_models else Path.home() / ".cache" / "finch" / "models")
    ap.add_argument("--only", choices=["full", "lora", "real"],
                    help="full: full fine-tuning cases; lora: tiny LoRA cases; real: the real-model LoRA cases")
    args = ap.parse_args(argv)

    torch.set_num_threads(2)
    torch.manual_seed(0)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", module=r"peft(\..*)?")
    warnings.filterwarnings("ignore", category=FutureWarning)

    t0 = time.time()
    out_root = args.out.resolve()
    (out_root / "training").mkdir(parents=True, exist_ok=True)
    print(f"training reference -> {out_root / 'training'} (torch {torch.__version__}, transformers "
          f"{__import__('transformers').__version__}, peft {peft.__version__})", flush=True)
    bases: dict[str, Base] = {}

    def get_base(name):
        if name not in bases:
            bases[name] = Base(name, out_root, args.models)
        return bases[name]

    if args.only in (None, "full"):
        for case in FULL_CASES:
            run_full(case, get_base(case["model"]), out_root)
    for case in LORA_CASES:
        real = case["model"].startswith("real-")
        if args.only is None or (args.only == "lora" and not real) or (args.only == "real" and real):
            run_lora(case, get_base(case["model"]), out_root)
    if args.only in (None, "lora"):
        for case in MULTI_ADAPTER_CASES:
            run_lora_multi(case, get_base(case["model"]), out_root)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Code the reference scripts share (encoder_reference.py, training_reference.py, peft_reference.py).

Not a script: the *_reference.py scripts import it (they put their own folder on sys.path first). It holds the
command line (--out, --models, --data and their defaults), the output writers (safetensors, case.json), the tiny
models and inputs written by encoder_reference.py (`Base`), the loss / gradient / float32-vs-float64 helpers, and
the LoRA-through-PEFT machinery both training scripts use (key naming, seeded perturbation, `run_lora`, and the
independent `logits_by_hand`). PEFT is imported only inside the functions that need it, so encoder_reference.py
does not load it. Tests/Reference/README.md documents what the scripts write.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
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

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------------------
# Command line and run set-up
# --------------------------------------------------------------------------------------------------


def parse_args(doc: str, argv=None, only: list[str] | None = None, only_help: str | None = None):
    """--out ($FINCH_REFERENCE or <repo>/.reference), --models ($FINCH_MODELS or ~/.cache/finch/models),
    --data (<repo>/../shared/data) and, when `only` is given, --only with those choices."""
    env_ref = os.environ.get("FINCH_REFERENCE")
    env_models = os.environ.get("FINCH_MODELS")
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(env_ref) if env_ref else REPO / ".reference")
    ap.add_argument("--models", type=Path,
                    default=Path(env_models) if env_models else Path.home() / ".cache" / "finch" / "models")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    if only:
        ap.add_argument("--only", choices=only, help=only_help)
    return ap.parse_args(argv)


def setup_torch(quiet_peft: bool = False) -> None:
    """2 CPU threads, global seed 0, transformers quiet (and PEFT's warnings off for the training scripts)."""
    torch.set_num_threads(2)
    torch.manual_seed(0)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if quiet_peft:
        warnings.filterwarnings("ignore", module=r"peft(\..*)?")
        warnings.filterwarnings("ignore", category=FutureWarning)


# --------------------------------------------------------------------------------------------------
# Output writers
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


# --------------------------------------------------------------------------------------------------
# Base models and inputs (written by encoder_reference.py), loss and gradients
# --------------------------------------------------------------------------------------------------

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


def base_cache(out_root: Path, models_dir: Path):
    """A get_base(name) that builds each Base once."""
    bases: dict[str, Base] = {}

    def get_base(name: str) -> Base:
        if name not in bases:
            bases[name] = Base(name, out_root, models_dir)
        return bases[name]

    return get_base


def loss_fn(logits, labels, weights=None, smoothing=0.0):
    w = None if weights is None else torch.tensor(weights, dtype=logits.dtype)
    return F.cross_entropy(logits, labels, weight=w, label_smoothing=smoothing)


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
# LoRA through PEFT: key naming, perturbation, one adapter per case, the adapter applied by hand
# --------------------------------------------------------------------------------------------------

LORA_B_STD = 0.1     # lora_B := normal(0, 0.1)   (PEFT initialises it to zero)
LORA_A_STD = 0.02    # lora_A += normal(0, 0.02)  (on top of PEFT's kaiming-uniform init)
OTHER_STD = 0.05     # tiny cases only: every other trainable parameter (head copies, biases) += normal(0, 0.05)
DORA_M_STD = 0.05    # DoRA: lora_magnitude_vector += normal(0, 0.05) (PEFT initialises it to the row norms of W)

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


def run_lora(case: dict, base: Base, out_root: Path, dora_report=None) -> None:
    """One LoRA adapter (LORA_CASES / DORA_CASES): forward/backward, the adapter folder, reload and merge checks.
    DoRA cases (use_dora) need `dora_report` (peft_reference.py), whose facts go to case.json["dora"]."""
    import peft
    from peft import LoraConfig, PeftModel, get_peft_model
    from peft.tuners.lora import LoraLayer
    from peft.utils import ModulesToSaveWrapper

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
        assert dora_report is not None, f"{case['name']}: DoRA cases run from peft_reference.py"
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

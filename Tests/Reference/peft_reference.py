#!/usr/bin/env python3
"""Reference DoRA and multi-adapter LoRA cases for Finch's training code (PyTorch + transformers + PEFT).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/peft_reference.py [--out DIR] [--models DIR] [--data DIR]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models, --data
<repo>/../shared/data (accepted, as by every reference script, and unused). Needs only DIR/encoder/, written first by
encoder_reference.py (the tiny models and their inputs); it reads nothing training_reference.py writes, which
scripts/setup runs after this script.

Writes DIR/training/<case>/, next to training_reference.py's cases and in the same format, for every case in
DORA_CASES and MULTI_ADAPTER_CASES:
  lora-*-dora*          DoRA (use_dora=True: a trainable magnitude vector per layer) through the same code path as
                        training_reference.py's LoRA cases (reference_common.run_lora), plus the row norms and DoRA
                        facts (case.json "dora", expected.safetensors dora_weight_norm.*);
  lora-*-two-adapters   two named adapters on one model (add_adapter/set_adapter), everything written per adapter
                        (keys suffixed .first/.second, adapter/<name>/ subfolders).
Tests/Reference/README.md ("training_reference.py" and "peft_reference.py") documents every file, key and naming rule.

Conventions and self-checks are those of training_reference.py (float32, eager attention, eval mode, seeded,
idempotent; gradients against float64, adapter file keys, reload and merge). DoRA also checks that merge+unmerge
restores the base weights and that the documented backward formulas match autograd in float64.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)  # reference_common, encoder_reference (siblings)
if _HERE not in sys.path:  # already there when run as a script
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch and transformers are imported.
from reference_common import (  # noqa: E402
    DORA_M_STD,
    LORA_A_STD,
    LORA_B_STD,
    OTHER_STD,
    PREFIX,
    Base,
    base_cache,
    fix_adapter_config,
    float64_check,
    forward_backward,
    fresh_dir,
    hf_module,
    hf_name,
    jsonable,
    kind_of,
    logits_by_hand,
    parse_args,
    perturb,
    run_lora,
    save_tensors,
    saved_key,
    setup_torch,
    sig,
    write_json,
)

import peft  # noqa: E402
import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from peft.tuners.lora import LoraLayer  # noqa: E402
from peft.tuners.lora.dora import DoraLinearLayer  # noqa: E402
from peft.utils import ModulesToSaveWrapper  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

# --------------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------------

# DoRA (weight-decomposed LoRA): besides lora_A/lora_B, every LoRA layer gets a trainable magnitude vector. Same
# fields and defaults as training_reference.py's LORA_CASES (`lora`: LoraConfig arguments; `seed`: PEFT's init and
# the perturbation that follows it).
DORA_CASES = [
    dict(name="lora-tiny-bert-h30-dora", model="tiny-bert-h30", seed=3010,
         lora=dict(target_modules=["query", "value"], use_dora=True)),
    dict(name="lora-tiny-roberta-h35-dora-rslora", model="tiny-roberta-h35", seed=3011,
         lora=dict(target_modules="all-linear", use_dora=True, use_rslora=True)),
]

# Several named adapters on one model (PeftModel.add_adapter / set_adapter). `adapters` lists them in the order they
# are added: the first through get_peft_model(..., adapter_name=...), the others through add_adapter. Each has its
# own LoraConfig arguments (same defaults as training_reference.py's LORA_CASES) and its own seed (PEFT's init + the
# perturbation).
MULTI_ADAPTER_CASES = [
    dict(name="lora-tiny-bert-h30-two-adapters", model="tiny-bert-h30", adapters=[
        dict(name="first", seed=3012, lora=dict(r=4, target_modules=["query", "value"])),
        dict(name="second", seed=3013, lora=dict(r=2, target_modules="all-linear")),
    ]),
]

# --------------------------------------------------------------------------------------------------
# DoRA
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Several named adapters on one model
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(__doc__, argv)
    setup_torch(quiet_peft=True)

    t0 = time.time()
    out_root = args.out.resolve()
    (out_root / "training").mkdir(parents=True, exist_ok=True)
    print(f"peft reference -> {out_root / 'training'} (torch {torch.__version__}, transformers "
          f"{__import__('transformers').__version__}, peft {peft.__version__})", flush=True)
    get_base = base_cache(out_root, args.models)

    for case in DORA_CASES:
        run_lora(case, get_base(case["model"]), out_root, dora_report=dora_report)
    for case in MULTI_ADAPTER_CASES:
        run_lora_multi(case, get_base(case["model"]), out_root)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

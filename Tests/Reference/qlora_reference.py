#!/usr/bin/env python3
"""Reference QLoRA cases for Finch (transformers + bitsandbytes 4-bit + PEFT, on the CPU).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/qlora_reference.py [--out DIR] [--models DIR] [--data DIR]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models, --data
<repo>/../shared/data. Needs bitsandbytes==0.50.2, the model folder all-MiniLM-L6-v2 and sst2/dev.tsv (the texts);
reads nothing another reference script writes.

all-MiniLM-L6-v2 is loaded as AutoModelForSequenceClassification (2 labels, head seeded with torch.manual_seed(0))
with BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
bnb_4bit_compute_dtype=torch.float32, llm_int8_skip_modules=["classifier"]) on the CPU: every block linear layer and
the pooler become bnb.nn.Linear4bit. Two workarounds, both needed on this CPU and neither changing a number of the
float32 computation:
  - llm_int8_skip_modules=["classifier"]: transformers 5.24 otherwise makes the freshly initialised head a
    Linear4bit whose weight is never quantized, and its forward fails ("quantization state not initialized");
  - Linear4bit.support_avx512bf16_for_cpu = False on every layer: on CPUs with AVX512-BF16, bitsandbytes otherwise
    repacks the weights in eval mode (inputs without grad) and computes the product in bfloat16.
Then PEFT adds a seeded LoRA adapter (lora_B non-zero, reference_common.perturb), and the script writes, per case in
CASES, DIR/qlora/<case>/: the PEFT adapter folder, expected.safetensors (inputs, logits, loss, every trainable
gradient, the fresh head, the 4-bit statistics of every quantized layer and the packed bytes of two) and case.json.
Tests/Reference/README.md ("qlora_reference.py") documents the keys.

Self-checks (the script fails if one does not hold): every Linear4bit holds exactly
bitsandbytes.functional.quantize_4bit(checkpoint weight, 64, compress_statistics=True, "nf4"); the same adapter on a
float32 model whose weights are the dequantized ones gives the same logits and gradients (so bitsandbytes' 4-bit
forward and backward are float32 products with W = dequantize(W4)).
"""

from __future__ import annotations

import copy
import csv
import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch and transformers are imported.
from reference_common import (  # noqa: E402
    fix_adapter_config,
    forward_backward,
    fresh_dir,
    hf_module,
    jsonable,
    kind_of,
    parse_args,
    perturb,
    saved_key,
    setup_torch,
    sig,
    write_json,
)

import bitsandbytes  # noqa: E402
import bitsandbytes.functional as bnbf  # noqa: E402
import peft  # noqa: E402
import torch  # noqa: E402
from peft import LoraConfig, PeftModel, get_peft_model  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BitsAndBytesConfig  # noqa: E402

BNB_VERSION = "0.50.2"
MODEL = "all-MiniLM-L6-v2"
NUM_LABELS = 2
TEXT_ROWS = 6               # the first rows of sst2/dev.tsv
PACKED_LAYERS = ["bert.encoder.layer.0.attention.self.query", "bert.encoder.layer.5.output.dense"]

CASES = [
    dict(name="qlora-minilm-all-linear", seed=5001,
         lora=dict(r=8, lora_alpha=16, target_modules="all-linear")),
    dict(name="qlora-minilm-dora-rslora-qv", seed=5002,
         lora=dict(r=4, lora_alpha=8, target_modules=["query", "value"], use_dora=True, use_rslora=True)),
]


def sst2_rows(data: Path):
    path = data / "sst2" / "dev.tsv"
    if not path.exists():
        raise SystemExit(f"{path} is missing (the SST-2 dev split, columns label/content)")
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:TEXT_ROWS]
    return [r["content"] for r in rows], torch.tensor([int(r["label"]) for r in rows])


def load_4bit(folder: Path):
    torch.manual_seed(0)  # the fresh classifier head
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32, llm_int8_skip_modules=["classifier"])
    m = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=NUM_LABELS, quantization_config=config,
                                                           attn_implementation="eager", device_map="cpu")
    for mod in m.modules():
        if isinstance(mod, bitsandbytes.nn.Linear4bit):
            mod.support_avx512bf16_for_cpu = False
    m.eval()
    return m


def check_quantization(m, checkpoint: dict, tensors: dict) -> dict:
    """Every Linear4bit holds quantize_4bit(checkpoint weight); its statistics (and two layers' bytes) are saved.
    Returns {module name: dequantized weight}."""
    quantized = {}
    for name, mod in m.named_modules():
        if not isinstance(mod, bitsandbytes.nn.Linear4bit):
            continue
        state = mod.weight.quant_state
        assert state is not None and state.nested and state.blocksize == 64 and state.quant_type == "nf4", name
        source = checkpoint[name[len("bert."):] + ".weight"]
        packed, ref = bnbf.quantize_4bit(source, blocksize=64, compress_statistics=True, quant_type="nf4")
        assert torch.equal(mod.weight.data.reshape(-1), packed.reshape(-1)), f"{name}: packed bytes differ"
        assert torch.equal(state.absmax, ref.absmax) and torch.equal(state.state2.absmax, ref.state2.absmax), name
        assert torch.equal(state.offset, ref.offset), f"{name}: offset differs"
        tensors[f"quant.{name}.nested_codes"] = state.absmax
        tensors[f"quant.{name}.nested_absmax"] = state.state2.absmax
        tensors[f"quant.{name}.offset"] = state.offset.reshape(1)
        if name in PACKED_LAYERS:
            tensors[f"quant.{name}.packed"] = mod.weight.data.reshape(-1)
        quantized[name] = bnbf.dequantize_4bit(mod.weight.data, state)
    assert isinstance(m.classifier, torch.nn.Linear) and not isinstance(m.classifier, bitsandbytes.nn.Linear4bit)
    return quantized


def dequantized_fp32_model(folder: Path, dequantized: dict, head: dict, adapter_dir: Path):
    """A float32 model whose linear weights are the 4-bit ones dequantized, with the same head and adapter."""
    m = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=NUM_LABELS, attn_implementation="eager")
    sd = m.state_dict()
    sd.update({name + ".weight": w for name, w in dequantized.items()})
    sd.update(head)
    m.load_state_dict(sd)
    m.eval()
    pm = PeftModel.from_pretrained(m, str(adapter_dir), is_trainable=True)
    pm.eval()
    return pm


def run_case(case: dict, folder: Path, checkpoint: dict, feed: dict, labels: torch.Tensor, texts: list, out_root: Path):
    t0 = time.time()
    case_dir = out_root / "qlora" / case["name"]
    fresh_dir(case_dir)
    tensors = {}
    m = load_4bit(folder)
    head = {"classifier.weight": m.classifier.weight.detach().clone(), "classifier.bias": m.classifier.bias.detach().clone()}
    quantized = check_quantization(m, checkpoint, tensors)

    requested = dict(task_type="SEQ_CLS", lora_dropout=0.0, bias="none")
    requested.update(copy.deepcopy(case["lora"]))
    torch.manual_seed(case["seed"])  # PEFT's kaiming-uniform init of lora_A
    pm = get_peft_model(m, LoraConfig(**copy.deepcopy(requested)))
    pm.eval()
    perturb(pm, case["seed"], True, lambda n, p: p.requires_grad)
    logits, loss, grads, _, glogits = forward_backward(pm, feed, labels, hidden=False)
    trainable = list(grads)
    assert all(float(grads[n].abs().max()) > 0 for n in trainable if kind_of(n) == "lora_A"), "a lora_A gradient is zero"

    adapter_dir = case_dir / "adapter"
    pm.save_pretrained(str(adapter_dir))
    saved_cfg = fix_adapter_config(adapter_dir)
    saved = load_file(str(adapter_dir / "adapter_model.safetensors"))
    params = dict(pm.named_parameters())
    mapping = []
    for n in trainable:
        k = saved_key(n)
        assert k in saved and torch.equal(saved[k], params[n].detach()), f"{n}: {k} missing or different in the adapter"
        mapping.append({"name": n, "saved_key": k, "kind": kind_of(n), "hf_module": hf_module(n),
                        "shape": list(params[n].shape)})

    # The same adapter on float32 weights W = dequantize(W4): bitsandbytes' 4-bit layers compute exactly that.
    ref = dequantized_fp32_model(folder, quantized, head, adapter_dir)
    ref_logits, _, ref_grads, _, _ = forward_backward(ref, feed, labels, hidden=False)
    logits_diff = float((ref_logits - logits).abs().max())
    grad_rel = max(float((ref_grads[n] - grads[n]).abs().max()) / float(grads[n].abs().max()) for n in trainable)
    assert logits_diff < 1e-5 and grad_rel < 1e-4, f"4-bit vs dequantized float32: logits {logits_diff:.2e}, grads {grad_rel:.2e}"
    # How far the unquantized model is: what a missing or wrong quantization would move.
    torch.manual_seed(0)
    fp32 = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=NUM_LABELS, attn_implementation="eager")
    assert torch.equal(fp32.classifier.weight, head["classifier.weight"]), "the fresh head differs between loads"
    fp32.eval()
    fp32_pm = PeftModel.from_pretrained(fp32, str(adapter_dir))
    fp32_pm.eval()
    with torch.no_grad():
        unquantized_diff = float((fp32_pm(**feed).logits - logits).abs().max())
    del ref, fp32, fp32_pm

    tensors.update({k: v for k, v in feed.items()})
    tensors.update(head)
    tensors["labels"] = labels
    tensors["logits"] = logits
    tensors["loss"] = loss.reshape(1)
    tensors["grad.logits"] = glogits
    for n in trainable:
        tensors[f"grad.{n}"] = grads[n]
    # As reference_common.save_tensors (floats as float32, ids as int64), but 4-bit bytes and 8-bit codes stay uint8.
    save_file({k: (v if v.dtype == torch.uint8 else v.float() if v.is_floating_point() else v.long()).detach().contiguous()
               for k, v in tensors.items()}, str(case_dir / "expected.safetensors"))

    write_json(case_dir / "case.json", {
        "kind": "qlora",
        "base_model": {"models": MODEL},
        "num_labels": NUM_LABELS,
        "texts": texts,
        "labels": labels.tolist(),
        "loss": float(loss),
        "versions": {"torch": torch.__version__, "bitsandbytes": bitsandbytes.__version__, "peft": peft.__version__,
                     "transformers": __import__("transformers").__version__},
        "quantization": {"quant_type": "nf4", "blocksize": 64, "double_quant": True, "nested_blocksize": 256,
                         "compute_dtype": "float32", "skipped": ["classifier"], "quantized_modules": list(quantized),
                         "packed_layers": PACKED_LAYERS},
        "lora_config_requested": jsonable(requested),
        "adapter_config_target_modules": saved_cfg.get("target_modules"),
        "adapter_config_modules_to_save": saved_cfg.get("modules_to_save"),
        "trainable": mapping,
        "sensitivity": {"dequantized_float32_logits_max_abs": sig(logits_diff),
                        "dequantized_float32_grad_max_rel": sig(grad_rel),
                        "unquantized_logits_max_abs": sig(unquantized_diff)},
    })
    print(f"{case['name']:30s} quantized={len(quantized)} trainable={len(trainable)} loss={float(loss):.6f} "
          f"vs fp32(dequantized): logits {logits_diff:.1e} grads {grad_rel:.1e}; vs unquantized {unquantized_diff:.1e} "
          f"{time.time() - t0:.1f}s", flush=True)


def main(argv=None) -> int:
    args = parse_args(__doc__, argv)
    setup_torch(quiet_peft=True)
    if bitsandbytes.__version__ != BNB_VERSION:
        raise SystemExit(f"bitsandbytes {bitsandbytes.__version__} is installed; these references need {BNB_VERSION}")
    t0 = time.time()
    folder = args.models / MODEL
    if not (folder / "config.json").exists():
        raise SystemExit(f"model folder {folder} is missing; run scripts/setup or get-models.sh")
    out_root = args.out.resolve()
    (out_root / "qlora").mkdir(parents=True, exist_ok=True)
    print(f"qlora reference -> {out_root / 'qlora'} (torch {torch.__version__}, bitsandbytes {bitsandbytes.__version__}, "
          f"peft {peft.__version__})", flush=True)
    checkpoint = load_file(str(folder / "model.safetensors"))
    texts, labels = sst2_rows(args.data)
    enc = AutoTokenizer.from_pretrained(str(folder))(texts, padding=True, return_tensors="pt")
    feed = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "token_type_ids": enc["token_type_ids"]}
    for case in CASES:
        run_case(case, folder, checkpoint, feed, labels, texts, out_root)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

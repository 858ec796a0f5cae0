#!/usr/bin/env python3
"""Reference bitsandbytes 4-bit checkpoints for Finch (transformers save_pretrained of a BitsAndBytesConfig model).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/qlora_checkpoint_reference.py [--out DIR] [--models DIR] [--data DIR]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models, --data
<repo>/../shared/data. Needs bitsandbytes==0.50.2, the model folder all-MiniLM-L6-v2, sst2/dev.tsv (the texts) and
encoder_reference.py's tiny-bert-h21-pair (a model whose 21×21 layers hold an odd number of values).

Per case, transformers loads the float32 model for sequence classification with BitsAndBytesConfig(load_in_4bit=True,
bnb_4bit_compute_dtype=float32, llm_int8_skip_modules=["classifier"]) on the CPU (every block linear layer and the pooler
become bnb.nn.Linear4bit) and save_pretrained writes DIR/qlora_checkpoint/<case>/model/ (config.json with
quantization_config, model.safetensors in bitsandbytes' layout) plus the source folder's tokenizer files. The script
writes expected.safetensors (inputs, the 4-bit model's logits) and case.json. Tests/Reference/README.md documents them.

Self-checks (the script fails if one does not hold): every Linear4bit holds exactly
bitsandbytes.functional.quantize_4bit(the float32 checkpoint weight) (packed bytes, absmax or nested statistics);
model.safetensors holds, per 4-bit weight, the packed weight, absmax, quant_map, nested_absmax / nested_quant_map
(double quantization only) and one quant_state.bitsandbytes__<type> JSON entry; and the saved folder, loaded again with
from_pretrained (no quantization_config given: config.json carries it), gives bit-identical logits.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch and transformers are imported.
from reference_common import Base, fresh_dir, parse_args, setup_torch, sig, write_json  # noqa: E402

import bitsandbytes  # noqa: E402
import bitsandbytes.functional as bnbf  # noqa: E402
import torch  # noqa: E402
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BitsAndBytesConfig  # noqa: E402

BNB_VERSION = "0.50.2"
TEXT_ROWS = 6  # the first rows of sst2/dev.tsv
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]

CASES = [
    dict(name="minilm-nf4-dq", base="real-all-MiniLM-L6-v2", num_labels=3, quant_type="nf4", double_quant=True),
    dict(name="minilm-fp4", base="real-all-MiniLM-L6-v2", num_labels=3, quant_type="fp4", double_quant=False),
    dict(name="tiny-bert-h21-nf4-dq", base="tiny-bert-h21-pair", num_labels=2, quant_type="nf4", double_quant=True),
]


def sst2_texts(data: Path) -> list[str]:
    path = data / "sst2" / "dev.tsv"
    if not path.exists():
        raise SystemExit(f"{path} is missing (the SST-2 dev split, columns label/content)")
    with path.open(encoding="utf-8", newline="") as f:
        return [r["content"] for r in list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[:TEXT_ROWS]]


def no_bf16_repacking(m) -> None:
    """On CPUs with AVX512-BF16 bitsandbytes repacks 4-bit weights in eval mode and multiplies in bfloat16."""
    for mod in m.modules():
        if isinstance(mod, bitsandbytes.nn.Linear4bit):
            mod.support_avx512bf16_for_cpu = False


def load_4bit(folder: Path, case: dict):
    torch.manual_seed(0)  # a fresh classification head (the real model has none)
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=case["quant_type"],
                                bnb_4bit_use_double_quant=case["double_quant"], bnb_4bit_compute_dtype=torch.float32,
                                llm_int8_skip_modules=["classifier"])
    m = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=case["num_labels"], quantization_config=config,
                                                           attn_implementation="eager", device_map="cpu")
    no_bf16_repacking(m)
    m.eval()
    return m


def check_quantization(m, checkpoint: dict, case: dict) -> list[str]:
    """Every Linear4bit holds quantize_4bit(its float32 checkpoint weight). Returns the quantized module names."""
    names = []
    for name, mod in m.named_modules():
        if not isinstance(mod, bitsandbytes.nn.Linear4bit):
            continue
        state = mod.weight.quant_state
        assert state.quant_type == case["quant_type"] and state.nested == case["double_quant"] and state.blocksize == 64, name
        key = name + ".weight" if name + ".weight" in checkpoint else name[len("bert."):] + ".weight"
        packed, ref = bnbf.quantize_4bit(checkpoint[key], blocksize=64, compress_statistics=case["double_quant"],
                                         quant_type=case["quant_type"])
        assert torch.equal(mod.weight.data.reshape(-1), packed.reshape(-1)), f"{name}: packed bytes differ"
        assert torch.equal(state.absmax, ref.absmax), f"{name}: absmax differs"
        if case["double_quant"]:
            assert torch.equal(state.state2.absmax, ref.state2.absmax) and torch.equal(state.offset, ref.offset), name
        names.append(name)
    assert isinstance(m.classifier, torch.nn.Linear) and not isinstance(m.classifier, bitsandbytes.nn.Linear4bit)
    return names


def check_layout(path: Path, modules: list[str], case: dict) -> dict:
    """The saved entries per 4-bit weight, as Finch reads them. Returns one weight's entries (dtype, shape) and JSON."""
    with safe_open(str(path), "pt") as f:
        keys = set(f.keys())
        example = {}
        for name in modules:
            w = name + ".weight"
            expected = {w, w + ".absmax", w + ".quant_map", f"{w}.quant_state.bitsandbytes__{case['quant_type']}"}
            if case["double_quant"]:
                expected |= {w + ".nested_absmax", w + ".nested_quant_map"}
            present = {k for k in keys if k == w or k.startswith(w + ".")}
            assert present == expected, f"{w}: entries {sorted(present)}"
            state = json.loads(bytes(f.get_tensor(f"{w}.quant_state.bitsandbytes__{case['quant_type']}").numpy()).decode())
            assert state["quant_type"] == case["quant_type"] and ("nested_offset" in state) == case["double_quant"], state
            if not example:
                example = {k: {"dtype": str(f.get_tensor(k).dtype).replace("torch.", ""), "shape": list(f.get_tensor(k).shape)}
                           for k in sorted(expected)}
                example["quant_state_json"] = state
    return example


def run_case(case: dict, base: Base, texts: list[str], out_root: Path) -> None:
    t0 = time.time()
    case_dir = out_root / "qlora_checkpoint" / case["name"]
    fresh_dir(case_dir)
    source = base.folder
    checkpoint = load_file(str(source / "model.safetensors"))

    if base.real:
        tokenizer = AutoTokenizer.from_pretrained(str(source))
        enc = tokenizer(texts, padding=True, return_tensors="pt")
        feed = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    else:
        feed = {"input_ids": base.ids, "attention_mask": base.mask, "token_type_ids": base.tt}

    m = load_4bit(source, case)
    modules = check_quantization(m, checkpoint, case)
    with torch.no_grad():
        logits = m(**feed).logits
    model_dir = case_dir / "model"
    m.save_pretrained(str(model_dir))
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy(source / name, model_dir / name)
    layout = check_layout(model_dir / "model.safetensors", modules, case)
    config = json.loads((model_dir / "config.json").read_text())
    assert config["quantization_config"]["bnb_4bit_quant_type"] == case["quant_type"], config["quantization_config"]

    # The folder loads back in transformers from its config.json alone, with the same logits.
    again = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager", device_map="cpu")
    no_bf16_repacking(again)
    again.eval()
    with torch.no_grad():
        reloaded = again(**feed).logits
    assert torch.equal(reloaded, logits), f"reloaded logits differ by {float((reloaded - logits).abs().max()):.2e}"

    # How far the float32 model is: what reading the 4-bit weights wrongly (or re-quantizing differently) would move.
    torch.manual_seed(0)
    fp32 = AutoModelForSequenceClassification.from_pretrained(str(source), num_labels=case["num_labels"], attn_implementation="eager")
    fp32.eval()
    with torch.no_grad():
        unquantized = float((fp32(**feed).logits - logits).abs().max())
    del m, again, fp32

    save_file({**{k: v.long().contiguous() for k, v in feed.items()}, "logits": logits.float().contiguous()},
              str(case_dir / "expected.safetensors"))
    write_json(case_dir / "case.json", {
        "kind": "qlora_checkpoint",
        "base_model": base.ref,
        "num_labels": case["num_labels"],
        "texts": texts if base.real else None,
        "quantization": {"quant_type": case["quant_type"], "double_quant": case["double_quant"], "blocksize": 64,
                         "skipped": ["classifier"], "quantized_modules": modules},
        "layout_example": layout,
        "versions": {"torch": torch.__version__, "bitsandbytes": bitsandbytes.__version__,
                     "transformers": __import__("transformers").__version__},
        "sensitivity": {"unquantized_logits_max_abs": sig(unquantized)},
    })
    print(f"{case['name']:24s} {case['quant_type']} dq={case['double_quant']!s:5s} quantized={len(modules)} "
          f"logits {tuple(logits.shape)} reload identical; vs float32 {unquantized:.1e} {time.time() - t0:.1f}s", flush=True)


def main(argv=None) -> int:
    args = parse_args(__doc__, argv)
    setup_torch()
    if bitsandbytes.__version__ != BNB_VERSION:
        raise SystemExit(f"bitsandbytes {bitsandbytes.__version__} is installed; these references need {BNB_VERSION}")
    t0 = time.time()
    out_root = args.out.resolve()
    (out_root / "qlora_checkpoint").mkdir(parents=True, exist_ok=True)
    print(f"qlora checkpoint reference -> {out_root / 'qlora_checkpoint'} (torch {torch.__version__}, "
          f"bitsandbytes {bitsandbytes.__version__})", flush=True)
    texts = sst2_texts(args.data)
    for case in CASES:
        run_case(case, Base(case["base"], out_root, args.models), texts, out_root)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

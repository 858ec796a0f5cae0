#!/usr/bin/env python3
"""Load a LoRA adapter (for example one Finch wrote) with PEFT and print the logits it gives.

Usage (from the repository root):

    .venv/bin/python Tests/Reference/peft_check.py --base MODEL_DIR --adapter ADAPTER_DIR \\
        --inputs INPUTS.safetensors --num-labels N [--pooler-from-adapter]

Loads AutoModelForSequenceClassification.from_pretrained(MODEL_DIR, num_labels=N) (float32, eager attention,
eval mode), then PeftModel.from_pretrained(model, ADAPTER_DIR), runs input_ids / attention_mask / token_type_ids
(int64) from INPUTS.safetensors (token_type_ids is optional, and is not fed to models that take none, such as
DistilBERT) and prints ONE line to stdout:

    {"logits": [[...], ...]}

with every float32 logit written as the shortest decimal that round-trips (full precision). Diagnostics go to
stderr. On any failure it prints "peft_check: error: ..." to stderr and exits with status 1 (2 for bad arguments).

Beyond what PEFT itself checks, it fails when:
  - adapter_config.json is missing or is not a LoRA SEQ_CLS adapter, or adapter_model.safetensors is missing;
  - a tensor in adapter_model.safetensors was not loaded into the model (PEFT ignores unknown keys silently), or
    was loaded with a different value;
  - a LoRA matrix or modules_to_save parameter of the model got no tensor from the file (PEFT would silently keep
    its fresh initialisation: lora_B = 0, a random head);
  - a weight the base checkpoint lacks (freshly initialised by transformers, e.g. the classifier head, or the pooler
    of multilingual-e5-small) is not supplied by the adapter;
  - --pooler-from-adapter is given and the adapter holds no pooler (modules_to_save "pooler": keys
    base_model.model.<prefix>.pooler.dense.{weight,bias}), or the model does not use it.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class CheckError(Exception):
    pass


def log(msg: str) -> None:
    print(f"peft_check: {msg}", file=sys.stderr, flush=True)


def run(args) -> list:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer
    from peft.utils import ModulesToSaveWrapper

    torch.set_num_threads(2)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore")

    base_dir, adapter_dir, inputs_path = Path(args.base), Path(args.adapter), Path(args.inputs)
    if not (base_dir / "config.json").is_file():
        raise CheckError(f"--base {base_dir}: no config.json (expected a transformers model folder)")
    cfg_path = adapter_dir / "adapter_config.json"
    weights_path = adapter_dir / "adapter_model.safetensors"
    if not cfg_path.is_file():
        raise CheckError(f"--adapter {adapter_dir}: no adapter_config.json")
    if not weights_path.is_file():
        raise CheckError(f"--adapter {adapter_dir}: no adapter_model.safetensors")
    if not inputs_path.is_file():
        raise CheckError(f"--inputs {inputs_path}: no such file")
    if args.num_labels < 1:
        raise CheckError("--num-labels must be at least 1")
    try:
        acfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"{cfg_path}: not valid JSON ({e})") from e
    if acfg.get("peft_type") != "LORA":
        raise CheckError(f"{cfg_path}: peft_type is {acfg.get('peft_type')!r}, expected \"LORA\"")
    if acfg.get("task_type") != "SEQ_CLS":
        raise CheckError(f"{cfg_path}: task_type is {acfg.get('task_type')!r}, expected \"SEQ_CLS\"")
    try:
        file_tensors = load_file(str(weights_path))
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"{weights_path}: cannot be read as safetensors ({e})") from e
    try:
        inputs = load_file(str(inputs_path))
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"{inputs_path}: cannot be read as safetensors ({e})") from e
    for k in ("input_ids", "attention_mask"):
        if k not in inputs:
            raise CheckError(f"{inputs_path}: no {k!r} tensor")

    # Base model: what the checkpoint lacks is freshly initialised; the adapter must supply it.
    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            str(base_dir), num_labels=args.num_labels, attn_implementation="eager", dtype=torch.float32,
            output_loading_info=True)
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"cannot load the base model from {base_dir}: {e}") from e
    model.eval()
    fresh = sorted(info.get("missing_keys", []))
    log(f"base {base_dir} ({model.config.model_type}); freshly initialised: {fresh or 'nothing'}")

    try:
        pm = PeftModel.from_pretrained(model, str(adapter_dir))
    except KeyError as e:  # peft 0.21.2: a modules_to_save parameter missing from the file
        raise CheckError(f"PeftModel.from_pretrained failed: adapter_model.safetensors has no tensor {e} "
                         f"(every parameter of a modules_to_save module must be in the file; modules_to_save in "
                         f"adapter_config.json: {acfg.get('modules_to_save')})") from e
    except Exception as e:  # noqa: BLE001
        raise CheckError(f"PeftModel.from_pretrained failed: {type(e).__name__}: {e}") from e
    pm.eval()
    sd = pm.state_dict()  # in-memory names, e.g. ...query.lora_A.default.weight, classifier.modules_to_save.default.weight
    adapter_name = pm.active_adapter if isinstance(pm.active_adapter, str) else pm.active_adapters[0]
    wrapped = sorted((n for n, m in pm.named_modules() if isinstance(m, ModulesToSaveWrapper)), key=len, reverse=True)
    lora_modules = [n for n, m in pm.named_modules() if isinstance(m, LoraLayer)]
    if not lora_modules:
        raise CheckError("the adapter put LoRA on no module: check target_modules in adapter_config.json")

    # 1. Every tensor of the file must have landed in the model, unchanged.
    def memory_name(key: str) -> str | None:
        if f".{adapter_name}." in key and key in sd:  # already the in-memory form: PEFT accepts it too
            log(f"note: {key!r} carries the adapter name; PEFT writes it without '.{adapter_name}'")
            return key
        for tag in (".lora_A.", ".lora_B."):
            if tag in key:
                return key.replace(tag, f"{tag}{adapter_name}.")
        if key.endswith(".lora_magnitude_vector"):  # DoRA: saved without the ".weight" of its module
            return f"{key}.{adapter_name}.weight"
        for w in wrapped:
            if key.startswith(w + "."):
                rest = key[len(w) + 1:]
                if rest.startswith("original_module."):  # written by PEFT itself under bias="all"
                    return key
                if rest.startswith("modules_to_save."):  # ditto
                    return f"{w}.modules_to_save.{adapter_name}.{rest[len('modules_to_save.'):]}"
                return f"{w}.modules_to_save.{adapter_name}.{rest}"
        return key

    loaded_names = set()
    for key, value in sorted(file_tensors.items()):
        name = memory_name(key)
        if name not in sd:
            raise CheckError(f"adapter tensor {key!r} was not loaded: the model has no parameter {name!r} "
                             f"(LoRA modules: {len(lora_modules)}, modules_to_save: {wrapped})")
        if tuple(sd[name].shape) != tuple(value.shape):
            raise CheckError(f"adapter tensor {key!r} has shape {list(value.shape)}, the model's {name!r} has "
                             f"{list(sd[name].shape)}")
        if not torch.equal(sd[name], value.to(sd[name].dtype)):
            raise CheckError(f"adapter tensor {key!r} was not applied: {name!r} holds a different value")
        loaded_names.add(name)

    # 2. Every adapter parameter of the model must have come from the file.
    for name in sd:
        is_adapter = (f".lora_A.{adapter_name}." in name or f".lora_B.{adapter_name}." in name
                      or f".lora_magnitude_vector.{adapter_name}." in name
                      or f".modules_to_save.{adapter_name}." in name)
        if is_adapter and name not in loaded_names:
            raise CheckError(f"the model's {name!r} got no tensor from {weights_path.name}; PEFT would use its "
                             f"fresh initialisation")

    # 3. Weights the base checkpoint lacks must be overridden by the adapter.
    prefix = "base_model.model."
    for k in fresh:
        full = prefix + k
        owner = next((w for w in wrapped if full.startswith(w + ".")), None)
        name = None if owner is None else f"{owner}.modules_to_save.{adapter_name}.{full[len(owner) + 1:]}"
        if name is None or name not in loaded_names:
            raise CheckError(f"the base checkpoint has no {k!r} (transformers initialised it randomly) and the "
                             f"adapter does not provide it: list its module in modules_to_save")

    # 4. --pooler-from-adapter: the pooler must be a modules_to_save module loaded from the file.
    if args.pooler_from_adapter:
        pooler_keys = [k for k in file_tensors if ".pooler." in k]
        pooler_wrapped = [w for w in wrapped if w.endswith(".pooler")]
        if not pooler_keys or not pooler_wrapped:
            raise CheckError("--pooler-from-adapter: the adapter holds no pooler (expected modules_to_save "
                             "'pooler' and keys base_model.model.<prefix>.pooler.dense.{weight,bias}); found keys "
                             f"{sorted(k for k in file_tensors if 'pooler' in k) or 'none'}")
        log(f"pooler from the adapter: {sorted(pooler_keys)}")

    log(f"adapter {adapter_dir}: {len(file_tensors)} tensors loaded; LoRA on {len(lora_modules)} modules; "
        f"modules_to_save: {[w[len(prefix):] for w in wrapped]}")

    # Run.
    hf = pm.get_base_model()
    accepts_tt = "token_type_ids" in inspect.signature(hf.forward).parameters
    feed = {"input_ids": inputs["input_ids"].to(torch.int64),
            "attention_mask": inputs["attention_mask"].to(torch.int64)}
    if "token_type_ids" in inputs and accepts_tt:
        feed["token_type_ids"] = inputs["token_type_ids"].to(torch.int64)
    elif "token_type_ids" in inputs:
        tt = inputs["token_type_ids"]
        if bool((tt != 0).any()):
            raise CheckError(f"{model.config.model_type} takes no token_type_ids but the inputs hold non-zero ones")
    if feed["input_ids"].dim() != 2 or feed["attention_mask"].shape != feed["input_ids"].shape:
        raise CheckError(f"input_ids {list(feed['input_ids'].shape)} and attention_mask "
                         f"{list(feed['attention_mask'].shape)} must be the same [B, S]")
    with torch.no_grad():
        logits = pm(**feed).logits
    if logits.shape[-1] != args.num_labels:
        raise CheckError(f"logits have {logits.shape[-1]} labels, --num-labels is {args.num_labels}")
    if not bool(torch.isfinite(logits).all()):
        raise CheckError("the logits are not all finite")
    return logits.to(torch.float32).tolist()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Load base + LoRA adapter with PEFT and print the logits as one JSON line.")
    ap.add_argument("--base", required=True, help="transformers model folder (config.json + model.safetensors)")
    ap.add_argument("--adapter", required=True, help="PEFT adapter folder (adapter_config.json + adapter_model.safetensors)")
    ap.add_argument("--inputs", required=True, help="safetensors with input_ids, attention_mask[, token_type_ids] (int64 [B,S])")
    ap.add_argument("--num-labels", type=int, required=True, help="label count of the classification head")
    ap.add_argument("--pooler-from-adapter", action="store_true",
                    help="require the pooler to come from the adapter (modules_to_save 'pooler'); needed when the "
                         "base checkpoint has none, e.g. multilingual-e5-small")
    args = ap.parse_args(argv)
    try:
        logits = run(args)
    except CheckError as e:
        print(f"peft_check: error: {e}", file=sys.stderr, flush=True)
        return 1
    except Exception as e:  # noqa: BLE001
        print(f"peft_check: error: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    sys.stdout.write(json.dumps({"logits": logits}) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

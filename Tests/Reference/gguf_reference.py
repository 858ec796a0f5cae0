#!/usr/bin/env python3
"""Reference GGUF files and their dequantization for Finch's GGUF reader (FinchCheckpoint.GGUFFile), gguf-py 0.19.

Usage (from the repository root):

    .venv/bin/python Tests/Reference/gguf_reference.py [--out DIR] [--models DIR] [--data DIR]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models, --data
(accepted, as by every reference script, and unused). Needs gguf==0.19 and the model folder
SmolLM2-135M-Instruct-GGUF (SmolLM2-135M-Instruct.Q4_1.gguf). Takes about 5 s.

Writes DIR/gguf/:
  types.gguf                  written with gguf.GGUFWriter (version 3, alignment 32): one small tensor per type and
                              shape case (TENSOR_CASES) and metadata of every value type (METADATA), arrays of
                              strings and nested arrays included. F32/F16 are stored as such; BF16, Q8_0, Q4_0, Q4_1,
                              Q5_0, Q5_1 are gguf.quants.quantize of seeded normal data; Q2_K, Q3_K, Q4_K, Q5_K, Q6_K
                              are seeded random block bytes whose fp16 scale fields are overwritten with finite values
                              (|x| <= 2), stored raw with their type.
  types_expected.safetensors  gguf.quants.dequantize of every tensor as read back by gguf.GGUFReader (float32,
                              PyTorch shape order: GGUF ne[] reversed).
  types_metadata.json         {key: {"type": "UINT8"...}} with "value" for scalars; for arrays "element_type",
                              "count" and "value" (nested lists for nested arrays; float32 values as the exact double
                              of the stored float32).
  smollm2_tensors.safetensors gguf.quants.dequantize of token_embd.weight (first 64 rows, key
                              "token_embd.weight[:64]"), blk.0.attn_q.weight, blk.0.attn_k.weight,
                              blk.0.ffn_down.weight and output_norm.weight of the real file.
  smollm2_metadata.json       {"metadata": {key: {"type", "value"} or, for arrays, {"type", "element_type", "count",
                              "first": first 5 items}}, "tensor_count", "tensors": [{"name", "type", "shape"}] in file
                              order, shape in PyTorch order}.

Self-checks (the script fails if one does not hold): every value read back from types.gguf by gguf.GGUFReader equals
what was written (scalars and flat arrays; the reader has no nested-array support), every expected tensor is finite,
and the Q8_0/Q4_x/Q5_x round trips are within half a quantization step of the source data.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reference_common import fresh_dir, parse_args, write_json  # noqa: E402

import gguf  # noqa: E402
import numpy as np  # noqa: E402
from gguf import GGMLQuantizationType as Q, GGUFValueType as V  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

SMOLLM2 = "SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_TENSORS = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight",
                   "output_norm.weight"]

# (name, type, PyTorch shape). Quantized rows are whole blocks; 1-D, 2-D and 3-D shapes, several blocks per row.
TENSOR_CASES = [
    ("f32.matrix", Q.F32, (5, 7)), ("f32.vector", Q.F32, (13,)),
    ("f16.matrix", Q.F16, (3, 10)), ("f16.vector", Q.F16, (9,)),
    ("bf16.matrix", Q.BF16, (4, 6)),
    ("q8_0.matrix", Q.Q8_0, (3, 64)), ("q8_0.vector", Q.Q8_0, (96,)),
    ("q4_0.matrix", Q.Q4_0, (3, 64)), ("q4_0.cube", Q.Q4_0, (2, 2, 32)),
    ("q4_1.matrix", Q.Q4_1, (3, 64)), ("q4_1.vector", Q.Q4_1, (96,)),
    ("q5_0.matrix", Q.Q5_0, (3, 64)), ("q5_0.vector", Q.Q5_0, (32,)),
    ("q5_1.matrix", Q.Q5_1, (3, 64)), ("q5_1.vector", Q.Q5_1, (64,)),
    ("q2_k.matrix", Q.Q2_K, (2, 512)),
    ("q3_k.matrix", Q.Q3_K, (2, 512)),
    ("q4_k.matrix", Q.Q4_K, (2, 512)), ("q4_k.vector", Q.Q4_K, (256,)),
    ("q5_k.matrix", Q.Q5_K, (2, 512)),
    ("q6_k.matrix", Q.Q6_K, (3, 256)), ("q6_k.vector", Q.Q6_K, (512,)),
]

# Byte offsets of the fp16 scale fields inside one block of each K type (ggml's block_qN_K structs).
K_FP16_FIELDS = {Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}

# key -> (type, value[, element type]); value as written (float32 keys are rounded on the way in).
METADATA = {
    "test.uint8": (V.UINT8, 200), "test.int8": (V.INT8, -100),
    "test.uint16": (V.UINT16, 60000), "test.int16": (V.INT16, -30000),
    "test.uint32": (V.UINT32, 4_000_000_000), "test.int32": (V.INT32, -2_000_000_000),
    "test.uint64": (V.UINT64, 2**64 - 1), "test.int64": (V.INT64, -(2**63)),
    "test.float32": (V.FLOAT32, 3.14159), "test.float64": (V.FLOAT64, 2.718281828459045),
    "test.bool.true": (V.BOOL, True), "test.bool.false": (V.BOOL, False),
    "test.string": (V.STRING, "Finch 🐦 liest GGUF — ünïcödé"), "test.string.empty": (V.STRING, ""),
    "test.array.strings": (V.ARRAY, ["alpha", "", "βeta", "<|im_start|>"], V.STRING),
    "test.array.int32": (V.ARRAY, [1, -2, 3, 2_147_483_647], V.INT32),
    "test.array.uint8": (V.ARRAY, [0, 7, 255], V.UINT8),
    "test.array.uint64": (V.ARRAY, [0, 2**40, 2**64 - 1], V.UINT64),
    "test.array.float32": (V.ARRAY, [0.5, -1.25, 1e-3], V.FLOAT32),
    "test.array.float64": (V.ARRAY, [0.1, -2.5e300], V.FLOAT64),
    "test.array.bool": (V.ARRAY, [True, False, True], V.BOOL),
    "test.array.nested.int32": (V.ARRAY, [[1, 2], [3], [-4, 5, 6]], V.ARRAY),
    "test.array.nested.strings": (V.ARRAY, [["x"], ["y", "zz"]], V.ARRAY),
    "test.array.nested.deep": (V.ARRAY, [[[1.5], [2.5, 3.5]], [[-1.0]]], V.ARRAY),
}


def f32(x: float) -> float:
    return float(np.float32(x))


def json_value(vtype: V, value):
    """The value as the file holds it: float32 values rounded to float32."""
    if isinstance(value, list):
        return [json_value(vtype, v) for v in value]
    return f32(value) if vtype == V.FLOAT32 else value


def element_type_of(value: list) -> V:
    """The type GGUFWriter gives the elements of a nested (inner) list."""
    return V.get_type(value[0])


def metadata_entry(vtype: V, value, element: V | None = None) -> dict:
    if vtype != V.ARRAY:
        return {"type": vtype.name, "value": json_value(vtype, value)}
    if element == V.ARRAY:
        def nested(v):
            return [nested(x) for x in v] if isinstance(v, list) else json_value(V.get_type(v), v)
        return {"type": "ARRAY", "element_type": "ARRAY", "count": len(value), "value": nested(value)}
    return {"type": "ARRAY", "element_type": element.name, "count": len(value), "value": json_value(element, value)}


def tensor_bytes(rng: np.random.Generator, qtype: Q, shape: tuple) -> np.ndarray:
    """The stored form of one tensor: float arrays for F32/F16, uint8 block bytes for everything else."""
    data = rng.standard_normal(shape).astype(np.float32)
    if qtype in (Q.F32, Q.F16):
        return gguf.quants.quantize(data, qtype)
    if qtype not in K_FP16_FIELDS:
        flat = data.reshape(-1, shape[-1])
        flat[0, :32] = 0.0          # an all-zero block (scale 0)
        flat[-1, -32:] = 0.75       # a constant block
        return gguf.quants.quantize(flat.reshape(shape), qtype)
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(int(np.prod(shape)) // block, size), dtype=np.uint8)
    for offset in K_FP16_FIELDS[qtype]:
        scale = rng.uniform(-2.0, 2.0, size=blocks.shape[0]).astype(np.float16)
        blocks[:, offset:offset + 2] = scale.view(np.uint8).reshape(-1, 2)
    return blocks.reshape(*shape[:-1], shape[-1] // block * size)


def write_types(out: Path) -> None:
    rng = np.random.default_rng(20240607)
    path = out / "types.gguf"
    writer = gguf.GGUFWriter(str(path), arch="finch-test")
    for key, (vtype, value, *element) in METADATA.items():
        writer.add_key_value(key, value, vtype, sub_type=element[0] if element and element[0] != V.ARRAY else None)
    stored = {}
    for name, qtype, shape in TENSOR_CASES:
        raw = tensor_bytes(rng, qtype, shape)
        stored[name] = raw
        writer.add_tensor(name, raw, raw_dtype=None if qtype in (Q.F32, Q.F16) else qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    reader = gguf.GGUFReader(str(path))
    expected = {}
    by_name = {t.name: t for t in reader.tensors}
    for name, qtype, shape in TENSOR_CASES:
        t = by_name[name]
        assert t.tensor_type == qtype, (name, t.tensor_type)
        assert tuple(int(d) for d in reversed(t.shape)) == shape, (name, t.shape)
        values = gguf.quants.dequantize(t.data, qtype).astype(np.float32).reshape(shape)
        assert np.isfinite(values).all(), name
        if qtype not in K_FP16_FIELDS and qtype not in (Q.F32, Q.F16, Q.BF16):
            source = gguf.quants.dequantize(stored[name], qtype).reshape(shape)
            assert np.array_equal(source, values), name
        expected[name] = np.ascontiguousarray(values)
    save_file(expected, str(out / "types_expected.safetensors"))

    metadata = {"general.architecture": {"type": "STRING", "value": "finch-test"}}
    for key, (vtype, value, *element) in METADATA.items():
        metadata[key] = metadata_entry(vtype, value, element[0] if element else None)
        field = reader.fields[key]
        if vtype != V.ARRAY:
            assert field.contents() == metadata[key]["value"], key
        elif element[0] != V.ARRAY:
            assert field.contents() == metadata[key]["value"], key
    write_json(out / "types_metadata.json", metadata)
    print(f"types.gguf: {len(TENSOR_CASES)} tensors, {len(metadata)} keys, {path.stat().st_size} bytes")


def field_entry(field) -> dict:
    main = V(field.types[0])
    if main != V.ARRAY:
        value = field.contents()
        return {"type": main.name, "value": f32(value) if main == V.FLOAT32 else value}
    element = V(field.types[-1])
    first = field.contents(slice(0, 5))
    if element == V.FLOAT32:
        first = [f32(v) for v in first]
    return {"type": "ARRAY", "element_type": element.name, "count": len(field.data), "first": first}


def write_smollm2(out: Path, models: Path) -> None:
    path = models / SMOLLM2
    if not path.exists():
        sys.exit(f"{path} is missing; run ../shared/models/get-models.sh")
    reader = gguf.GGUFReader(str(path))
    metadata = {k: field_entry(f) for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    tensors = [{"name": t.name, "type": t.tensor_type.name, "shape": [int(d) for d in reversed(t.shape)]}
               for t in reader.tensors]
    write_json(out / "smollm2_metadata.json",
               {"metadata": metadata, "tensor_count": len(tensors), "tensors": tensors})

    by_name = {t.name: t for t in reader.tensors}
    expected = {}
    for name in SMOLLM2_TENSORS:
        t = by_name[name]
        data = t.data[:64] if name == "token_embd.weight" else t.data
        values = gguf.quants.dequantize(data, t.tensor_type).astype(np.float32)
        assert np.isfinite(values).all(), name
        expected[name + "[:64]" if name == "token_embd.weight" else name] = np.ascontiguousarray(values)
    save_file(expected, str(out / "smollm2_tensors.safetensors"))
    print(f"{SMOLLM2}: {len(tensors)} tensors, {len(metadata)} keys; saved "
          + ", ".join(f"{k} {list(v.shape)}" for k, v in expected.items()))


def main() -> None:
    args = parse_args(__doc__)
    out = args.out / "gguf"
    fresh_dir(out)
    start = time.time()
    write_types(out)
    write_smollm2(out, args.models)
    print(f"gguf reference written to {out} in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()

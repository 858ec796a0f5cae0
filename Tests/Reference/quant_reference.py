#!/usr/bin/env python3
"""Reference 4-bit and 8-bit blockwise quantization for Finch's FinchQuantization (bitsandbytes 0.50.2 on the CPU).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/quant_reference.py [--out DIR] [--models DIR] [--data DIR]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models, --data
<repo>/../shared/data (accepted, as by every reference script, and unused). Needs bitsandbytes==0.50.2 and the model
folder all-MiniLM-L6-v2 (one of its weights is quantized); reads nothing another reference script writes.

Writes DIR/quant/expected.safetensors and DIR/quant/case.json:
  code.*            bitsandbytes' NF4, FP4 and 8-bit dynamic code tables;
  input.*           the seeded inputs (randn 1024x1024, randn 256x1536, two odd shapes, tie cases, a real weight);
  <case>.*          per 4-bit case (FOUR_BIT_CASES): packed bytes, absmax or the nested statistics, dequantized values;
  blockwise8.*      8-bit blockwise quantization (block 256, the dynamic map) of seeded values and edge values;
  sum.<n>.*         torch.sum of seeded float32 vectors (the order double quantization's mean depends on).
Tests/Reference/README.md ("quant_reference.py") documents every key and the conventions Finch must follow.

Every value comes from bitsandbytes' own CPU functions (quantize_4bit, dequantize_4bit, quantize_blockwise,
dequantize_blockwise); the script checks each result against the documented formulas (dequantized = code[q] * absmax,
nested absmax = dynamic[q8] * absmax2 + offset, high nibble first) and fails if one does not hold.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch is imported.
from reference_common import fresh_dir, parse_args, setup_torch, sig, write_json  # noqa: E402

import bitsandbytes  # noqa: E402
import bitsandbytes.functional as bnbf  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

BNB_VERSION = "0.50.2"
REAL_WEIGHT = "encoder.layer.0.attention.self.query.weight"  # all-MiniLM-L6-v2's checkpoint has no "bert." prefix

# Inputs: name -> (seed, shape); values are torch.randn from a Generator seeded with `seed`.
RANDN_INPUTS = {
    "randn-1024x1024": (4001, (1024, 1024)),
    "randn-256x1536": (4002, (256, 1536)),
    "randn-37x53": (4003, (37, 53)),      # 1961 values: 30 blocks of 64 and one of 41; odd, so a padding nibble
    "randn-100x33": (4004, (100, 33)),    # 3300 values: 25 blocks of 128 and one of 100
}

# 4-bit cases: bitsandbytes.functional.quantize_4bit(input, blocksize, compress_statistics=dq, quant_type=type).
FOUR_BIT_CASES = [
    dict(name="nf4-b64", input="randn-1024x1024", type="nf4", block=64, dq=False),
    dict(name="nf4-b64-dq", input="randn-1024x1024", type="nf4", block=64, dq=True),
    dict(name="fp4-b64", input="randn-256x1536", type="fp4", block=64, dq=False),
    dict(name="nf4-b32", input="randn-256x1536", type="nf4", block=32, dq=False),
    dict(name="nf4-b128", input="randn-256x1536", type="nf4", block=128, dq=False),
    dict(name="nf4-b4096-dq", input="randn-256x1536", type="nf4", block=4096, dq=True),
    dict(name="nf4-b64-dq-37x53", input="randn-37x53", type="nf4", block=64, dq=True),
    dict(name="fp4-b128-dq-100x33", input="randn-100x33", type="fp4", block=128, dq=True),
    dict(name="nf4-b64-ties", input="ties-nf4", type="nf4", block=64, dq=False),
    dict(name="fp4-b64-ties", input="ties-fp4", type="fp4", block=64, dq=False),
    dict(name="minilm-query-nf4-b64-dq", input="minilm-query", type="nf4", block=64, dq=True),
    dict(name="minilm-query-fp4-b64", input="minilm-query", type="fp4", block=64, dq=False),
]

SUM_SIZES = [17, 1000, 2304, 9216, 16384, 30011]
SUM_SEED = 4100


def randn(seed: int, shape) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


def tie_input(kind: str) -> torch.Tensor:
    """Values that sit exactly on the midpoints between neighbouring codes (and on the codes themselves), in full
    blocks (x * (1/absmax)) and in the last, shorter block (x / absmax); absmax is a power of two, so the scaled
    values are the midpoints exactly. Also a block of zeros (absmax 0) and values below the smallest code gap."""
    code = bnbf.get_4bit_type(kind, device="cpu")
    ordered = torch.sort(code, stable=True).values
    mids = (ordered[:-1] + ordered[1:]) / 2
    row = torch.cat([torch.tensor([1.0]), mids, -mids, ordered, torch.tensor([0.0, -0.0, 1e-3, -1e-3, 3e-3, -3e-3])])
    row = torch.cat([row, torch.zeros(64 - row.numel())])
    assert row.numel() == 64
    tail = torch.cat([torch.tensor([2.0]), 2 * mids[:8]])  # 9 values: the shorter last block, absmax 2
    return torch.cat([row * 0.5, row * 4, torch.zeros(64), tail]).reshape(1, -1).contiguous()


def unpack(packed: torch.Tensor, count: int) -> torch.Tensor:
    """Codes from packed bytes: element 2k in the high nibble of byte k, element 2k+1 in the low nibble."""
    p = packed.reshape(-1).to(torch.int64)
    return torch.stack([p >> 4, p & 15], dim=1).reshape(-1)[:count]


def run_four_bit(case: dict, x: torch.Tensor, tensors: dict) -> dict:
    t0 = time.time()
    name, count = case["name"], x.numel()
    packed, state = bnbf.quantize_4bit(x, blocksize=case["block"], compress_statistics=case["dq"],
                                       quant_type=case["type"])
    deq = bnbf.dequantize_4bit(packed, state)
    assert packed.dtype == torch.uint8 and packed.numel() == (count + 1) // 2, packed.shape
    assert deq.shape == x.shape and deq.dtype == torch.float32

    # The documented formulas, by hand.
    code = bnbf.get_4bit_type(case["type"], device="cpu")
    blocks = -(-count // case["block"])
    if case["dq"]:
        assert state.nested and state.state2.blocksize == 256
        assert torch.equal(state.state2.code, bnbf.create_dynamic_map()), "nested code is not the dynamic map"
        q8 = state.absmax.to(torch.int64)
        absmax = state.state2.code[q8] * state.state2.absmax.repeat_interleave(256)[: q8.numel()] + state.offset
        assert state.offset.dtype == torch.float32
    else:
        assert not state.nested
        absmax = state.absmax
    assert absmax.numel() == blocks
    by_hand = code[unpack(packed, count)] * absmax.repeat_interleave(case["block"])[:count]
    assert torch.equal(deq.reshape(-1), by_hand), f"{name}: dequantized values differ from code[q] * absmax"
    if count % 2:
        assert float(code[int(packed.reshape(-1)[-1]) & 15]) == 0.0, f"{name}: the padding nibble does not code 0"

    tensors[f"{name}.packed"] = packed.reshape(-1).contiguous()
    if case["dq"]:
        tensors[f"{name}.nested_codes"] = state.absmax.contiguous()
        tensors[f"{name}.nested_absmax"] = state.state2.absmax.contiguous()
        tensors[f"{name}.offset"] = state.offset.reshape(1).contiguous()
    else:
        tensors[f"{name}.absmax"] = state.absmax.contiguous()
    tensors[f"{name}.dequantized"] = deq.contiguous()

    nbytes = packed.numel() + (state.absmax.numel() + 4 * state.state2.absmax.numel() + 4 if case["dq"]
                               else 4 * state.absmax.numel())
    mae = float((x.double() - deq.double()).abs().mean())
    info = {"input": case["input"], "shape": list(x.shape), "type": case["type"], "block": case["block"],
            "double_quant": case["dq"], "blocks": blocks, "mean_abs_error": mae, "bytes": nbytes,
            "bits_per_value": 8 * nbytes / count}
    if case["dq"]:
        info["offset"] = float(state.offset)
    print(f"{name:26s} {case['type']} block={case['block']:4d} dq={int(case['dq'])} shape={list(x.shape)} "
          f"MAE={mae:.6f} bits/value={info['bits_per_value']:.4f} {time.time() - t0:.2f}s", flush=True)
    return info


def run_blockwise8(tensors: dict) -> dict:
    """quantize_blockwise(x, blocksize=256) with the default dynamic map: seeded normal values at several scales
    (the last block shorter), a block of exact code values and midpoints, and a block of zeros."""
    dyn = bnbf.create_dynamic_map()
    g = torch.Generator().manual_seed(4200)
    scales = torch.tensor([1e-3, 1.0, 30.0]).repeat_interleave(1000)
    noise = torch.randn(3000, generator=g) * scales
    mids = (dyn[:-1] + dyn[1:]) / 2
    exact = torch.cat([dyn, mids])[:256] * 0.25
    exact[0] = 0.25
    x = torch.cat([noise, exact, torch.zeros(256), torch.randn(77, generator=g)]).contiguous()
    codes, state = bnbf.quantize_blockwise(x, blocksize=256)
    deq = bnbf.dequantize_blockwise(codes, state)
    blocks = -(-x.numel() // 256)
    assert codes.dtype == torch.uint8 and state.absmax.numel() == blocks
    by_hand = state.code[codes.to(torch.int64)] * state.absmax.repeat_interleave(256)[: x.numel()]
    assert torch.equal(deq, by_hand), "8-bit dequantization differs from code[q] * absmax"
    nearest = (x.unsqueeze(1) / state.absmax.repeat_interleave(256)[: x.numel()].clamp(min=1e-38).unsqueeze(1)
               - dyn.unsqueeze(0)).abs().argmin(dim=1)
    tensors.update({"blockwise8.input": x, "blockwise8.codes": codes.contiguous(),
                    "blockwise8.absmax": state.absmax.contiguous(), "blockwise8.dequantized": deq.contiguous()})
    differs = int((nearest != codes.to(torch.int64)).sum())
    print(f"blockwise8                 block=256 values={x.numel()} codes differing from the nearest code: {differs}",
          flush=True)
    return {"values": x.numel(), "blocks": blocks, "block": 256, "codes_not_nearest": differs}


def run_sums(tensors: dict) -> list:
    g = torch.Generator().manual_seed(SUM_SEED)
    out = []
    for n in SUM_SIZES:
        x = (torch.rand(n, generator=g) * 3).contiguous()
        s, m = x.sum(), x.mean()
        assert m == s / n, "torch.mean is not sum / n in float32"
        tensors[f"sum.{n}.input"] = x
        tensors[f"sum.{n}"] = s.reshape(1)
        out.append({"n": n, "sum": float(s), "float64_sum": float(x.double().sum())})
    return out


def main(argv=None) -> int:
    args = parse_args(__doc__, argv)
    setup_torch()
    if bitsandbytes.__version__ != BNB_VERSION:
        raise SystemExit(f"bitsandbytes {bitsandbytes.__version__} is installed; these references need {BNB_VERSION}")
    t0 = time.time()
    out = args.out.resolve() / "quant"
    fresh_dir(out)
    print(f"quant reference -> {out} (torch {torch.__version__}, bitsandbytes {bitsandbytes.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()})", flush=True)

    model = args.models / "all-MiniLM-L6-v2" / "model.safetensors"
    if not model.exists():
        raise SystemExit(f"{model} is missing; run scripts/setup or get-models.sh")
    inputs = {name: randn(seed, shape) for name, (seed, shape) in RANDN_INPUTS.items()}
    inputs["ties-nf4"], inputs["ties-fp4"] = tie_input("nf4"), tie_input("fp4")
    inputs["minilm-query"] = load_file(str(model))[REAL_WEIGHT].contiguous()

    tensors = {"code.nf4": bnbf.get_4bit_type("nf4", device="cpu"), "code.fp4": bnbf.get_4bit_type("fp4", device="cpu"),
               "code.dynamic": bnbf.create_dynamic_map()}
    tensors.update({f"input.{k}": v for k, v in inputs.items()})
    cases = {case["name"]: run_four_bit(case, inputs[case["input"]], tensors) for case in FOUR_BIT_CASES}
    mae = cases["nf4-b64"]["mean_abs_error"]
    assert 0.06 < mae < 0.09, f"NF4 mean absolute error {mae} on randn is not about 0.073"
    blockwise8 = run_blockwise8(tensors)
    sums = run_sums(tensors)

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "expected.safetensors"), metadata={"format": "pt"})
    write_json(out / "case.json", {
        "bitsandbytes_version": bitsandbytes.__version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "real_weight": {"model": "all-MiniLM-L6-v2", "tensor": REAL_WEIGHT},
        "inputs": {name: {"seed": seed, "shape": list(shape), "distribution": "torch.randn"}
                   for name, (seed, shape) in RANDN_INPUTS.items()},
        "four_bit": cases,
        "blockwise8": blockwise8,
        "sums": sums,
        "nf4_randn_mean_abs_error": sig(mae),
    })
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reference bf16 products for Finch's `precision bf16` (frozen weights rounded to bf16, fp32 sums).

Usage (from the repository root):

    .venv/bin/python Tests/Reference/bf16_reference.py [--out DIR] [--models DIR] [--data DIR]

Writes DIR/bf16/expected.safetensors and DIR/bf16/case.json. Finch's bf16 path rounds the weight and the
activations to bf16 (round to nearest even, torch's `.bfloat16()`) and sums the exact products in fp32, so
each reference below is torch's fp32 arithmetic on bf16-rounded operands:
  linear.<case>.{x,weight,bias,dy}   seeded inputs (odd and real-model shapes);
  linear.<case>.y                    F.linear(x.bf16().float(), weight.bf16().float(), bias);
  linear.<case>.dx                   dy.bf16().float() @ weight.bf16().float();
  nf4.<case>.{y,dx}                  the same with the weight quantized by bitsandbytes (NF4, double
                                     quantization, block 64) and dequantized first, then rounded to bf16
                                     (`bnb_4bit_compute_dtype=torch.bfloat16` with fp32 sums);
  minilm.{input_ids,attention_mask}  a seeded batch for all-MiniLM-L6-v2;
  minilm.hidden_bf16                 its last hidden state with every nn.Linear computing as above;
  minilm.hidden_fp32                 the same in plain fp32 (how far bf16 moves the model).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from reference_common import fresh_dir, parse_args, setup_torch, write_json  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoModel  # noqa: E402
import bitsandbytes.functional as bnbf  # noqa: E402

# name -> (seed, rows, in, out, bias)
LINEAR_CASES = {
    "odd": (5001, 37, 53, 70, True),
    "minilm-ffn": (5002, 130, 384, 1536, True),
    "minilm-down": (5003, 64, 1536, 384, False),
}


def rounded(t: torch.Tensor) -> torch.Tensor:
    return t.bfloat16().float()


def nf4_dequantized(w: torch.Tensor) -> torch.Tensor:
    packed, state = bnbf.quantize_4bit(w, blocksize=64, compress_statistics=True, quant_type="nf4")
    return bnbf.dequantize_4bit(packed, state).float()


def linear_cases(out: dict) -> None:
    for name, (seed, rows, fan_in, fan_out, has_bias) in LINEAR_CASES.items():
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(rows, fan_in, generator=g)
        w = torch.randn(fan_out, fan_in, generator=g) * fan_in ** -0.5
        b = torch.randn(fan_out, generator=g) * 0.1 if has_bias else None
        dy = torch.randn(rows, fan_out, generator=g)
        prefix = f"linear.{name}."
        out[prefix + "x"], out[prefix + "weight"], out[prefix + "dy"] = x, w, dy
        if b is not None:
            out[prefix + "bias"] = b
        with torch.no_grad():
            out[prefix + "y"] = F.linear(rounded(x), rounded(w), b)
            out[prefix + "dx"] = rounded(dy) @ rounded(w)
            wq = nf4_dequantized(w)
            out[f"nf4.{name}.y"] = F.linear(rounded(x), rounded(wq), b)
            out[f"nf4.{name}.dx"] = rounded(dy) @ rounded(wq)


class RoundedLinear(torch.nn.Module):
    """nn.Linear computing on bf16-rounded input and weight, summing in fp32."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.inner = linear

    def forward(self, x):
        return F.linear(rounded(x), rounded(self.inner.weight), self.inner.bias)


def round_every_linear(module: torch.nn.Module) -> None:
    for child_name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, child_name, RoundedLinear(child))
        else:
            round_every_linear(child)


def minilm(models: Path, out: dict) -> None:
    g = torch.Generator().manual_seed(5100)
    ids = torch.randint(1000, 20000, (2, 24), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 17:] = 0
    model = AutoModel.from_pretrained(models / "all-MiniLM-L6-v2", attn_implementation="eager").eval()
    with torch.no_grad():
        out["minilm.hidden_fp32"] = model(input_ids=ids, attention_mask=mask).last_hidden_state
        round_every_linear(model)
        out["minilm.hidden_bf16"] = model(input_ids=ids, attention_mask=mask).last_hidden_state
    out["minilm.input_ids"], out["minilm.attention_mask"] = ids, mask


def main() -> None:
    args = parse_args(__doc__)
    setup_torch()
    target = args.out / "bf16"
    fresh_dir(target)
    out: dict = {}
    linear_cases(out)
    minilm(args.models, out)
    save_file({k: v.contiguous() for k, v in out.items()}, str(target / "expected.safetensors"))
    write_json(target / "case.json", {"torch": torch.__version__, "linear_cases": {
        name: {"rows": c[1], "in": c[2], "out": c[3], "bias": c[4]} for name, c in LINEAR_CASES.items()}})


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference outputs of Llama-family decoders (transformers LlamaForCausalLM + PEFT LoRA) for Finch's Swift tests.

Usage (from the repository root):

    .venv/bin/python Tests/Reference/llama_reference.py [--out DIR] [--models DIR] [--only tiny|smollm2]
                                                       [--timing]

Writes DIR/llama/<case>/ for three seeded tiny models and DIR/llama/smollm2/ for SmolLM2-135M-Instruct (Q4_1 GGUF,
dequantized by transformers). float32, attn_implementation="eager", eval mode, dropout 0 everywhere. Deterministic and
idempotent (each case folder is deleted and rewritten) except smollm2/lora_step.json, which holds wall-clock timings.

Tiny cases (`tiny-gqa`, `tiny-mha-untied`, `tiny-bias-mqa`), each with:
  model/                 save_pretrained(safe_serialization=True): config.json, model.safetensors, generation_config.json
  inputs.safetensors     input_ids, attention_mask, labels: int64 [3,12]; rows of 12, 9, 5 real tokens (bos 1, then
                         ids from [3, V)), RIGHT-padded with pad id 0; labels = input_ids with -100 on the first 3
                         tokens of each row (the prompt) and on padding.
  outputs.safetensors    logits [3,12,V]; loss [1]; hidden.{i}, i = 0..L (output_hidden_states=True).
  full_gradients.safetensors   d loss / d every parameter, HF names (tied: only model.embed_tokens.weight).
  lora/, lora-rslora/, lora-dora/   adapter/ (PEFT save_pretrained), logits.safetensors (logits, loss),
                         gradients.safetensors (every LoRA tensor, keyed exactly as in adapter_model.safetensors).
  generate.json          greedy generate, 32 new tokens, EOS disabled, two 5-id prompts each run alone (batch 1).
  case.json              config summary, float32-vs-float64 sensitivities, conventions.
  tiny-gqa only: training.json + training_final.safetensors (3 AdamW steps on the LoRA model) and classifier/.

Conventions (each is checked by an independent float64 re-implementation, `manual_forward`, written from the saved
weights: logits, every hidden state, the loss and every gradient, LoRA / rsLoRA / DoRA included):
  - Positions are 0..S-1 for every row (from the sequence index, not the mask); padding is on the right.
  - Attention: q/k/v = x Wᵀ (+ b); heads are contiguous blocks of head_dim; KV head of query head h is
    h // (heads / kv_heads); RoPE (HF "rotate_half", NOT interleaved): inv_freq_i = theta^(-2i/d), i < d/2,
    angle = pos * inv_freq, cos/sin = cat(angle, angle); q' = q cos + rotate_half(q) sin, rotate_half(x) =
    cat(-x[d/2:], x[:d/2]). Scores / sqrt(head_dim); a key is masked when it is after the query or has mask 0
    (transformers adds finfo(float32).min). Pad queries are computed normally (they see the real keys before them).
  - RMSNorm(x) = weight * x / sqrt(mean(x²) + eps); MLP = down(silu(gate(x)) * up(x)); pre-norm residual blocks.
  - hidden.0 = embeddings; hidden.i (1 <= i < L) = output of decoder layer i; hidden.L = model.norm(output of
    layer L), i.e. the FINAL NORM IS APPLIED to the last one (logits = lm_head(hidden.L)).
  - Loss (transformers ForCausalLMLoss): labels shifted left (position t predicts labels[t+1]), -100 ignored,
    cross-entropy MEAN over the non-ignored shifted targets of the whole batch (float32 logits).
  - LoRA (PEFT 0.21.2, target_modules "all-linear" = q,k,v,o,gate,up,down; not lm_head): y = W x + b +
    s · B (A x), s = alpha / r (rsLoRA: alpha / sqrt(r)). lora_A [r,in], lora_B [out,r]. Init: torch.manual_seed(seed)
    then get_peft_model (A: kaiming-uniform), then B := normal(0, 0.05) and, DoRA, magnitude += normal(0, 0.05)
    (both from Generator().manual_seed(seed + 17), in named_parameters order).
  - DoRA: y = b + (m / ‖W + s B A‖_row) ⊙ (W x + s B A x), the row norm is DETACHED (no gradient flows through it).
    Saved key: `base_model.model.<module>.lora_magnitude_vector` (no ".weight", no adapter name), shape [out].
  - Adapter keys: `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` etc.
  - Classifier (LlamaForSequenceClassification): logits of the LAST NON-PAD TOKEN of each row, found from input_ids
    (rightmost position whose id != pad_token_id), not from the attention mask; loss = mean cross-entropy.

SmolLM2 (`smollm2/`): AutoModelForCausalLM.from_pretrained(DIR, gguf_file=..., dtype=float32). transformers un-permutes
GGUF's Q and K rows in `transformers.modeling_gguf_pytorch_utils.LlamaTensorProcessor._reverse_permute_weights`
(n = heads for attn_q, kv_heads for attn_k; d = rows / n / 2): W.reshape(n, d, 2, cols).swapaxes(1, 2).reshape(rows,
cols), i.e. HF row h·2d + j·d + i = GGUF row h·2d + 2i + j (i < d, j ∈ {0,1}). The script re-derives that from the raw
GGUF tensors (gguf.quants.dequantize) and checks it. Files: prompts.safetensors (ids.0, ids.1), logits.safetensors
(logits.{k} [S,49152]), generate.json, weights.safetensors, case.json and (with --timing) lora_step.json.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)  # reference_common (sibling)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch and transformers are imported.
from reference_common import (  # noqa: E402
    fix_adapter_config, fresh_dir, parse_args, save_tensors, saved_key, setup_torch, sig, write_json,
)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM,
    LlamaForSequenceClassification,
)

INIT_RANGE = 0.1        # initializer_range: gives logits with real spread
NORM_STD = 0.1          # RMSNorm weights += normal(0, 0.1) (transformers initialises them to 1)
BIAS_STD = 0.05         # attention biases := normal(0, 0.05) (transformers initialises them to 0)
LORA_B_STD = 0.05       # lora_B := normal(0, 0.05) (PEFT initialises it to 0)
DORA_M_STD = 0.05       # lora_magnitude_vector += normal(0, 0.05) (PEFT initialises it to ‖W‖_row)
LENGTHS = [12, 9, 5]
PROMPT_TOKENS = 3
NEW_TOKENS = 32

COMMON = dict(max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0, hidden_act="silu",
              initializer_range=INIT_RANGE, attention_dropout=0.0)
CASES = [
    dict(name="tiny-gqa", seed=3001, classifier=True, training=True,
         config=dict(vocab_size=320, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True, rope_theta=10000.0,
                     rms_norm_eps=1e-6)),
    dict(name="tiny-mha-untied", seed=3002, classifier=False, training=False,
         config=dict(vocab_size=288, hidden_size=48, head_dim=12, intermediate_size=128, num_hidden_layers=3,
                     num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
                     rope_theta=500000.0, rms_norm_eps=1e-5)),
    dict(name="tiny-bias-mqa", seed=3003, classifier=False, training=False,
         config=dict(vocab_size=256, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True, rope_theta=10000.0,
                     rms_norm_eps=1e-5, attention_bias=True)),
]
LORA_VARIANTS = [("lora", {}), ("lora-rslora", dict(use_rslora=True)), ("lora-dora", dict(use_dora=True))]

SMOL_DIR = "SmolLM2-135M-Instruct-GGUF"
SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_PROMPTS = ["What is 7 times 8?", "Write one short sentence about the sea."]
SMOL_WEIGHTS = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                "model.layers.0.self_attn.v_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.norm.weight"]


# --------------------------------------------------------------------------------------------------
# Independent float64 forward pass (the conventions in the docstring)
# --------------------------------------------------------------------------------------------------


def manual_forward(P: dict, cfg, ids, mask, labels=None, lora=None, scale=1.0):
    """Float64 Llama forward from the weights `P` (HF names). `lora`: module -> {"A", "B"[, "m"]} (DoRA when "m").
    Returns (logits, hidden states [L+1], loss or None)."""
    H, nh, nkv = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    d = cfg.head_dim
    B_, S = ids.shape

    def linear(x, name):
        W = P[name + ".weight"]
        y = x @ W.T
        ad = (lora or {}).get(name)
        if ad is not None:
            delta = (x @ ad["A"].T) @ ad["B"].T * scale
            if "m" in ad:
                norm = torch.linalg.norm(W + scale * ad["B"] @ ad["A"], dim=1).detach()
                y = (ad["m"] / norm) * (y + delta)
            else:
                y = y + delta
        bias = P.get(name + ".bias")
        return y if bias is None else y + bias

    def rms(x, name):
        return P[name + ".weight"] * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps)

    def rope(x):  # x [B, heads, S, d]
        theta = cfg.rope_parameters["rope_theta"]
        inv = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
        ang = torch.arange(S, dtype=torch.float64)[:, None] * inv[None, :]
        cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
        rot = torch.cat([-x[..., d // 2:], x[..., : d // 2]], -1)
        return x * cos + rot * sin

    allowed = torch.tril(torch.ones(S, S, dtype=torch.bool))[None, None] & mask.bool()[:, None, None, :]
    x = P["model.embed_tokens.weight"][ids]
    hidden = [x]
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        h = rms(x, p + "input_layernorm")
        q = rope(linear(h, p + "self_attn.q_proj").view(B_, S, nh, d).transpose(1, 2))
        k = rope(linear(h, p + "self_attn.k_proj").view(B_, S, nkv, d).transpose(1, 2))
        v = linear(h, p + "self_attn.v_proj").view(B_, S, nkv, d).transpose(1, 2)
        k, v = k.repeat_interleave(nh // nkv, dim=1), v.repeat_interleave(nh // nkv, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d)
        att = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1) @ v
        x = x + linear(att.transpose(1, 2).reshape(B_, S, nh * d), p + "self_attn.o_proj")
        h = rms(x, p + "post_attention_layernorm")
        x = x + linear(F.silu(linear(h, p + "mlp.gate_proj")) * linear(h, p + "mlp.up_proj"), p + "mlp.down_proj")
        hidden.append(x)
    hidden[-1] = rms(x, "model.norm")
    head = P["model.embed_tokens.weight"] if cfg.tie_word_embeddings else P["lm_head.weight"]
    logits = hidden[-1] @ head.T
    loss = None
    if labels is not None:
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                               ignore_index=-100)
    return logits, hidden, loss


def rel_err(a, b) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).abs().max()) / max(1e-30, float(b.abs().max()))


def check_grads(grads32: dict, grads64: dict, what: str, tol: float = 1e-4) -> float:
    """max over tensors of max|g32 - g64| / max|g64|; fails above `tol`."""
    assert set(grads32) == set(grads64), (what, sorted(set(grads32) ^ set(grads64)))
    worst = max(rel_err(grads32[k], grads64[k]) for k in grads32)
    assert worst < tol, f"{what}: float32 gradients differ from the float64 re-implementation by {worst:.2e}"
    return worst


# --------------------------------------------------------------------------------------------------
# Tiny cases
# --------------------------------------------------------------------------------------------------


def build_model(case: dict) -> LlamaForCausalLM:
    cfg = LlamaConfig(**COMMON, **case["config"])
    cfg._attn_implementation = "eager"
    torch.manual_seed(case["seed"])
    model = LlamaForCausalLM(cfg)
    g = torch.Generator().manual_seed(case["seed"] + 1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.add_(torch.randn(p.shape, generator=g) * NORM_STD)
            elif n.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * BIAS_STD)
    return model.eval()


def make_inputs(case: dict, vocab: int, pad: int, bos: int):
    g = torch.Generator().manual_seed(case["seed"] + 2)
    S = max(LENGTHS)
    ids = torch.full((len(LENGTHS), S), pad, dtype=torch.int64)
    mask = torch.zeros_like(ids)
    for r, n in enumerate(LENGTHS):
        ids[r, 0] = bos
        ids[r, 1:n] = torch.randint(3, vocab, (n - 1,), generator=g)
        mask[r, :n] = 1
    labels = ids.clone()
    labels[:, :PROMPT_TOKENS] = -100
    labels[mask == 0] = -100
    return ids, mask, labels


def float64_params(model, requires_grad: bool) -> dict:
    return {n: p.detach().double().clone().requires_grad_(requires_grad) for n, p in model.named_parameters()}


def min_top2_gap(logits) -> float:
    top = logits.topk(2, dim=-1).values
    return float((top[..., 0] - top[..., 1]).min())


def run_base(model, ids, mask, labels, case_dir: Path) -> dict:
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    out.loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    logits, hidden = out.logits.detach(), [h.detach() for h in out.hidden_states]
    assert len(hidden) == model.config.num_hidden_layers + 1
    assert torch.equal(model.lm_head(hidden[-1]).detach(), logits), "hidden.L is not the normed last state"
    gap = min_top2_gap(logits[mask.bool()])
    assert gap > 1e-3, f"argmax near-tie in the logits ({gap:.1e})"

    P = float64_params(model, True)
    l64, h64, loss64 = manual_forward(P, model.config, ids, mask, labels)
    loss64.backward()
    fwd = max([rel_err(logits, l64)] + [rel_err(a, b) for a, b in zip(hidden, h64)])
    assert fwd < 1e-5, f"forward differs from the float64 re-implementation by {fwd:.2e}"
    grad = check_grads(grads, {n: p.grad for n, p in P.items()}, "full gradients")

    tensors = {"logits": logits, "loss": out.loss.detach().reshape(1)}
    tensors.update({f"hidden.{i}": h for i, h in enumerate(hidden)})
    save_tensors(case_dir / "outputs.safetensors", tensors)
    save_tensors(case_dir / "full_gradients.safetensors", grads)
    return {"loss": float(out.loss.detach()), "min_top2_logit_gap": sig(gap), "forward_f32_vs_f64_max_rel": sig(fwd),
            "grad_f32_vs_f64_max_rel": sig(grad), "parameters": sorted(grads)}


def lora_model(model_dir: Path, seed: int, extra: dict):
    """The PEFT model every LoRA file is made from (see the docstring for the seeded initialisation)."""
    from peft import LoraConfig, get_peft_model

    base = LlamaForCausalLM.from_pretrained(str(model_dir), attn_implementation="eager", dtype=torch.float32)
    torch.manual_seed(seed)
    pm = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules="all-linear",
                                         lora_dropout=0.0, bias="none", **extra))
    g = torch.Generator().manual_seed(seed + 17)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if ".lora_B." in n:
                p.copy_(torch.randn(p.shape, generator=g) * LORA_B_STD)
            elif ".lora_magnitude_vector." in n:
                p.add_(torch.randn(p.shape, generator=g) * DORA_M_STD)
    return pm.eval()


def lora_by_hand(pm, saved: dict, cfg, ids, mask, labels):
    """float64 manual_forward with the adapter file's tensors; returns logits, loss, {saved key: grad}."""
    acfg = pm.peft_config["default"]
    scale = acfg.lora_alpha / (math.sqrt(acfg.r) if acfg.use_rslora else acfg.r)
    P = {n.replace("base_model.model.", "").replace(".base_layer.", "."): p.detach().double()
         for n, p in pm.named_parameters() if not p.requires_grad}
    T = {k: v.double().requires_grad_(True) for k, v in saved.items()}
    lora = {}
    for k, v in T.items():
        module, _, kind = k[len("base_model.model."):].rpartition(".lora_")
        lora.setdefault(module, {})[{"A.weight": "A", "B.weight": "B", "magnitude_vector": "m"}[kind]] = v
    logits, _, loss = manual_forward(P, cfg, ids, mask, labels, lora=lora, scale=scale)
    loss.backward()
    return logits, loss, {k: v.grad for k, v in T.items()}, scale


def run_lora(case: dict, variant: str, extra: dict, case_dir: Path, ids, mask, labels, cfg) -> dict:
    out_dir = case_dir / variant
    fresh_dir(out_dir)
    pm = lora_model(case_dir / "model", case["seed"] + 100, extra)
    out = pm(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    grads = {saved_key(n): p.grad.detach().clone() for n, p in pm.named_parameters() if p.requires_grad}
    pm.save_pretrained(str(out_dir / "adapter"))
    fix_adapter_config(out_dir / "adapter")
    saved = load_file(str(out_dir / "adapter" / "adapter_model.safetensors"))
    assert set(saved) == set(grads), sorted(set(saved) ^ set(grads))
    n_modules = 7 * cfg.num_hidden_layers
    assert len(saved) == n_modules * (3 if extra.get("use_dora") else 2), len(saved)
    assert all(float(g.abs().max()) > 0 for g in grads.values()), "a LoRA gradient is zero"

    l64, loss64, g64, scale = lora_by_hand(pm, saved, cfg, ids, mask, labels)
    fwd = rel_err(out.logits, l64)
    assert fwd < 1e-5, f"{variant}: logits differ from the float64 re-implementation by {fwd:.2e}"
    grad = check_grads(grads, g64, variant)
    save_tensors(out_dir / "logits.safetensors", {"logits": out.logits, "loss": out.loss.reshape(1)})
    save_tensors(out_dir / "gradients.safetensors", grads)
    return {"loss": float(out.loss.detach()), "scaling": scale, "keys": len(saved),
            "forward_f32_vs_f64_max_rel": sig(fwd), "grad_f32_vs_f64_max_rel": sig(grad),
            "example_keys": sorted(k for k in saved if ".layers.0.self_attn.q_proj." in k)}


def run_training(case: dict, case_dir: Path, ids, mask, labels) -> dict:
    """3 AdamW steps on the `lora/` model (same seed, so its initial weights are lora/adapter's)."""
    pm = lora_model(case_dir / "model", case["seed"] + 100, {})
    params = [p for p in pm.parameters() if p.requires_grad]
    hp = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    opt = torch.optim.AdamW(params, **hp)
    losses = []
    for _ in range(3):
        opt.zero_grad(set_to_none=True)
        loss = pm(input_ids=ids, attention_mask=mask, labels=labels).loss
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    with torch.no_grad():
        final_loss = float(pm(input_ids=ids, attention_mask=mask, labels=labels).loss)
    assert final_loss < losses[0], (losses, final_loss)
    final = {saved_key(n): p.detach() for n, p in pm.named_parameters() if p.requires_grad}
    save_tensors(case_dir / "training_final.safetensors", final)
    info = {"initial_adapter": "lora/adapter", "optimizer": "torch.optim.AdamW", **hp, "betas": list(hp["betas"]),
            "steps": 3, "batch": "inputs.safetensors (the same batch every step)", "loss_before_step": losses,
            "loss_after_last_step": final_loss, "final_weights": "training_final.safetensors (adapter keys)",
            "notes": "zero_grad, loss = model(input_ids, attention_mask, labels).loss, backward, step; eval mode."}
    write_json(case_dir / "training.json", info)
    return info


def greedy(model, prompt: list[int], cfg) -> dict:
    """transformers' generate (KV cache), checked by teacher forcing: one full forward pass (no cache) over prompt +
    generated tokens must have its argmax at every generating position equal to the next generated token."""
    gen = GenerationConfig(do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0, eos_token_id=None,
                           pad_token_id=cfg.pad_token_id, bos_token_id=cfg.bos_token_id)
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), generation_config=gen)
        new = out[0, len(prompt):].tolist()
        assert len(new) == NEW_TOKENS, len(new)
        steps = model(out[:, :-1]).logits[0, len(prompt) - 1:]  # [NEW_TOKENS, V]
    assert steps.argmax(-1).tolist() == new, "generate() differs from the argmax of a full forward pass"
    return {"prompt_ids": prompt, "generated_ids": new, "min_top2_logit_gap": sig(min_top2_gap(steps))}


def run_classifier(case: dict, case_dir: Path, ids, mask) -> None:
    """LlamaForSequenceClassification on the causal model's weights, seeded fresh `score` head (no bias)."""
    out_dir = case_dir / "classifier"
    fresh_dir(out_dir)
    torch.manual_seed(case["seed"] + 200)
    clf = LlamaForSequenceClassification.from_pretrained(str(case_dir / "model"), num_labels=3, pad_token_id=0,
                                                         attn_implementation="eager", dtype=torch.float32).eval()
    clf.save_pretrained(str(out_dir / "model"), safe_serialization=True)
    labels = torch.tensor([0, 2, 1])
    out = clf(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    out.loss.backward()
    last = torch.tensor(LENGTHS) - 1  # last non-pad token of each row
    pooled = out.hidden_states[-1][torch.arange(len(LENGTHS)), last]
    assert torch.allclose(pooled @ clf.score.weight.T, out.logits, rtol=0, atol=1e-6)
    save_tensors(out_dir / "outputs.safetensors", {"logits": out.logits, "labels": labels,
                                                   "loss": out.loss.reshape(1),
                                                   "grad.score.weight": clf.score.weight.grad})


def run_case(case: dict, out_root: Path) -> None:
    t0 = time.time()
    case_dir = out_root / "llama" / case["name"]
    fresh_dir(case_dir)
    model = build_model(case)
    cfg = model.config
    model.save_pretrained(str(case_dir / "model"), safe_serialization=True)
    reloaded = LlamaForCausalLM.from_pretrained(str(case_dir / "model"), attn_implementation="eager",
                                                dtype=torch.float32).eval()
    ids, mask, labels = make_inputs(case, cfg.vocab_size, cfg.pad_token_id, cfg.bos_token_id)
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids, attention_mask=mask).logits,
                           model(input_ids=ids, attention_mask=mask).logits), "reloaded model differs"
    save_tensors(case_dir / "inputs.safetensors", {"input_ids": ids, "attention_mask": mask, "labels": labels})
    info = {"config": {k: v for k, v in case["config"].items()}, "seed": case["seed"],
            "head_dim": cfg.head_dim, "lengths": LENGTHS, "prompt_tokens_masked": PROMPT_TOKENS,
            "init": {"initializer_range": INIT_RANGE, "rms_norm_weights": f"1 + normal(0, {NORM_STD})",
                     "attention_biases": f"normal(0, {BIAS_STD})", "lora_B": f"normal(0, {LORA_B_STD})",
                     "dora_magnitude": f"row norm of W + normal(0, {DORA_M_STD})"},
            "base": run_base(reloaded, ids, mask, labels, case_dir)}
    info["lora"] = {v: run_lora(case, v, extra, case_dir, ids, mask, labels, cfg) for v, extra in LORA_VARIANTS}
    g = torch.Generator().manual_seed(case["seed"] + 3)
    prompts = [[cfg.bos_token_id] + torch.randint(3, cfg.vocab_size, (4,), generator=g).tolist() for _ in range(2)]
    write_json(case_dir / "generate.json", {
        "max_new_tokens": NEW_TOKENS, "do_sample": False, "eos_token_id": None, "batch": 1,
        "notes": "each prompt runs alone (batch 1, no padding); EOS does not stop generation",
        "runs": [greedy(reloaded, p, cfg) for p in prompts]})
    if case["training"]:
        info["training_losses"] = run_training(case, case_dir, ids, mask, labels)["loss_before_step"]
    if case["classifier"]:
        run_classifier(case, case_dir, ids, mask)
    write_json(case_dir / "case.json", info)
    print(f"{case['name']:16s} L={cfg.num_hidden_layers} H={cfg.hidden_size} heads={cfg.num_attention_heads}/"
          f"{cfg.num_key_value_heads} V={cfg.vocab_size} loss={info['base']['loss']:.5f} "
          f"grad f32/f64 rel={info['base']['grad_f32_vs_f64_max_rel']:.1e} "
          f"lora losses={[round(v['loss'], 5) for v in info['lora'].values()]} {time.time() - t0:.1f}s", flush=True)


# --------------------------------------------------------------------------------------------------
# SmolLM2-135M-Instruct (GGUF)
# --------------------------------------------------------------------------------------------------


def check_unpermute(model, gguf_path: Path) -> list[str]:
    """Dequantize GGUF's blk.0 tensors with the gguf package, apply the documented reverse permutation to Q and K,
    and require transformers' weights to be identical."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    cfg, sd = model.config, model.state_dict()
    reader = GGUFReader(str(gguf_path))
    raw = {t.name: t for t in reader.tensors}
    types = []
    for gname, hname, n in [("blk.0.attn_q.weight", SMOL_WEIGHTS[0], cfg.num_attention_heads),
                            ("blk.0.attn_k.weight", SMOL_WEIGHTS[1], cfg.num_key_value_heads),
                            ("blk.0.attn_v.weight", SMOL_WEIGHTS[2], None),
                            ("blk.0.ffn_down.weight", SMOL_WEIGHTS[3], None), ("output_norm.weight", SMOL_WEIGHTS[4], None)]:
        t = raw[gname]
        w = np.array(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(sd[hname].shape)
        if n is not None:
            rows, d = w.shape[0], w.shape[0] // n // 2
            w = w.reshape(n, d, 2, -1).swapaxes(1, 2).reshape(rows, -1)
        assert torch.equal(torch.from_numpy(w.copy()), sd[hname]), f"{hname}: un-permute differs"
        types.append(f"{gname}: {t.tensor_type.name} -> {hname} {list(sd[hname].shape)}")
    return types


def lora_step_timing(model, out_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    pm = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, target_modules="all-linear",
                                          lora_dropout=0.0))
    pm.train()
    ids = torch.randint(0, model.config.vocab_size, (4, 128), generator=torch.Generator().manual_seed(5))
    opt = torch.optim.AdamW([p for p in pm.parameters() if p.requires_grad], lr=1e-4)
    result = {"batch": [4, 128], "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
              "step": "zero_grad + forward(labels=input_ids) + backward + AdamW.step", "dtype": "float32",
              "attn_implementation": "eager", "statistic": "median of 5 steps after 1 warm-up",
              "torch": torch.__version__, "loadavg_before": list(__import__("os").getloadavg())}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = []
        for i in range(6):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            pm(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            if i:
                times.append(time.perf_counter() - t0)
        result[f"seconds_per_step_threads_{threads}"] = round(statistics.median(times), 4)
        result[f"all_steps_threads_{threads}"] = [round(t, 4) for t in times]
    torch.set_num_threads(2)
    write_json(out_dir / "lora_step.json", result)
    print(f"smollm2 LoRA step: {result['seconds_per_step_threads_1']}s (1 thread), "
          f"{result['seconds_per_step_threads_2']}s (2 threads)", flush=True)


def run_smollm2(models_dir: Path, out_root: Path, timing: bool) -> None:
    t0 = time.time()
    src = models_dir / SMOL_DIR
    if not (src / SMOL_GGUF).exists():
        raise SystemExit(f"{src / SMOL_GGUF} is missing; run scripts/setup or get-models.sh")
    out_dir = out_root / "llama" / "smollm2"
    fresh_dir(out_dir)
    tok = AutoTokenizer.from_pretrained(str(src), gguf_file=SMOL_GGUF)
    model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=SMOL_GGUF, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    types = check_unpermute(model, src / SMOL_GGUF)
    save_tensors(out_dir / "weights.safetensors", {k: model.state_dict()[k] for k in SMOL_WEIGHTS})

    prompts, logits, runs = {}, {}, []
    for k, text in enumerate(SMOL_PROMPTS):
        msgs = [{"role": "user", "content": text}]
        rendered = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        ids = tok(rendered, add_special_tokens=False, return_tensors="pt")["input_ids"]
        via_template = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=True)
        assert ids[0].tolist() == list(via_template["input_ids"]), "template ids differ"
        assert 20 <= ids.shape[1] <= 40, ids.shape
        prompts[f"ids.{k}"] = ids[0]
        with torch.no_grad():
            logits[f"logits.{k}"] = model(ids).logits[0]
        run = greedy(model, ids[0].tolist(), model.config)
        assert run["generated_ids"][0] == int(logits[f"logits.{k}"][-1].argmax())
        run.update(text=text, rendered_prompt=rendered,
                   generated_text=tok.decode(run["generated_ids"], skip_special_tokens=False))
        runs.append(run)
    save_tensors(out_dir / "prompts.safetensors", prompts)
    save_tensors(out_dir / "logits.safetensors", logits)
    write_json(out_dir / "generate.json", {"max_new_tokens": NEW_TOKENS, "do_sample": False, "eos_token_id": None,
                                           "batch": 1, "runs": runs})
    cfg = model.config
    write_json(out_dir / "case.json", {
        "source": f"{SMOL_DIR}/{SMOL_GGUF}", "gguf_tensor_types": types,
        "config": {k: getattr(cfg, k) for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                                "num_attention_heads", "num_key_value_heads", "head_dim",
                                                "rms_norm_eps", "tie_word_embeddings", "bos_token_id",
                                                "eos_token_id", "pad_token_id")},
        "rope_parameters": cfg.rope_parameters,
        "reverse_permute": "transformers.modeling_gguf_pytorch_utils.LlamaTensorProcessor._reverse_permute_weights: "
                           "W.reshape(n, rows/n/2, 2, cols).swapaxes(1, 2).reshape(rows, cols); n = heads (attn_q) or "
                           "kv_heads (attn_k)",
        "notes": "rms_norm_eps is the GGUF float32 value 1e-5 read back as a double"})
    print(f"smollm2          prompts={[int(p.shape[0]) for p in prompts.values()]} "
          f"generated={[r['generated_text'][:40] for r in runs]} {time.time() - t0:.1f}s", flush=True)
    if timing:
        lora_step_timing(model, out_dir)


def main(argv=None) -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--timing", action="store_true", help="also time a LoRA training step (smollm2/lora_step.json; slow)")
    own, rest = pre.parse_known_args(argv)
    args = parse_args(__doc__, rest, only=["tiny", "smollm2"], only_help="run only one group of cases")
    setup_torch(quiet_peft=True)
    t0 = time.time()
    out_root = args.out.resolve()
    (out_root / "llama").mkdir(parents=True, exist_ok=True)
    print(f"llama reference -> {out_root / 'llama'} (torch {torch.__version__}, "
          f"transformers {__import__('transformers').__version__}, peft {__import__('peft').__version__})", flush=True)
    if args.only in (None, "tiny"):
        for case in CASES:
            run_case(case, out_root)
    if args.only in (None, "smollm2"):
        run_smollm2(args.models, out_root, timing=own.timing)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

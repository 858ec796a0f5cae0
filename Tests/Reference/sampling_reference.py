#!/usr/bin/env python3
"""Reference next-token scores of transformers' logits processors, for Finch's sampling tests (FinchExperiment).

Usage (from the repository root):

    HF_HUB_OFFLINE=1 .venv/bin/python Tests/Reference/sampling_reference.py [--out DIR]

Default: --out $FINCH_REFERENCE or <repo>/.reference. Writes DIR/sampling/ (deleted and rewritten):

- cases.json: one entry per case, {"name", "vector", "vocab", "options" (the generate() keyword arguments),
  "history" (prompt + generated ids; one id may lie past the vocabulary, which transformers ignores),
  "processors" ([{"name", ...parameters}] in the order transformers applies them), "greedy" (torch.argmax of the
  processed scores, or null when the case samples)}.
- cases.safetensors, float32 [vocab] each: "<name>.logits" (the input), "<name>.stage.<i>" (the scores after
  processor i, i = 0..<len(processors), each applied to the previous stage) and "<name>.final" (after all of them;
  equals the input when there is no processor).
  "top_p_tie" in cases.json is the score (after the processors before top-p) of a group of equal scores that the
  top-p cut splits, else null: torch.sort is not stable, so which members of that group torch removes depends on
  its internal order (how many it removes does not). Tests compare such a group by count.

The processor list comes from transformers' own `GenerationMixin._get_logits_processor` on a tiny random
LlamaForCausalLM (no download), with the generation config `generate(**options)` would build
(`_prepare_generation_config`: GenerationConfig defaults top_k=50, top_p=1.0, temperature=1.0,
repetition_penalty=1.0), so the order and the parameters are transformers' (5.24): repetition penalty first (also
when greedy), then, only when do_sample, temperature, top-k, top-p and min-p.

The input vectors are seeded, with vocabularies of 50 to 1000 entries, ties (rounded values, a tied maximum) and
-inf entries. Deterministic and idempotent.
--models and --data are accepted (and unused) so that a setup loop can pass the same arguments to every script.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from transformers.generation.logits_process import TopPLogitsWarper  # noqa: E402

from reference_common import fresh_dir, parse_args, save_tensors, setup_torch, write_json  # noqa: E402

# Option combinations, as generate() keyword arguments.
OPTIONS = {
    "greedy": dict(),
    "greedy_rep1.2": dict(repetition_penalty=1.2),
    "greedy_rep0.8": dict(repetition_penalty=0.8),
    "sample_defaults": dict(do_sample=True),
    "t0.7": dict(do_sample=True, temperature=0.7, top_k=0),
    "t1.3_k50": dict(do_sample=True, temperature=1.3),
    "k1": dict(do_sample=True, top_k=1),
    "k5": dict(do_sample=True, top_k=5),
    "p0.5": dict(do_sample=True, top_k=0, top_p=0.5),
    "p0.9_k50": dict(do_sample=True, top_p=0.9),
    "p1.0": dict(do_sample=True, top_k=0, top_p=1.0),
    "minp0.1": dict(do_sample=True, top_k=0, min_p=0.1),
    "rep1.2_t0.7_k50_p0.9_minp0.1": dict(do_sample=True, repetition_penalty=1.2, temperature=0.7, top_k=50,
                                         top_p=0.9, min_p=0.1),
    "rep0.8_t1.3_k5_p0.5": dict(do_sample=True, repetition_penalty=0.8, temperature=1.3, top_k=5, top_p=0.5),
    "t0.7_k50_p0.9": dict(do_sample=True, temperature=0.7, top_p=0.9),
}


def vectors() -> dict:
    """name -> (logits float32 [vocab], history ids). Seeded; ties and -inf entries on purpose."""
    g = torch.Generator().manual_seed(20240611)
    out = {}

    def history(vocab: int, length: int, extra: list[int] = ()) -> list[int]:
        ids = torch.randint(0, vocab, (length,), generator=g).tolist()
        return ids + list(extra)

    # 50 entries on a 0.25 grid (many ties), a tied maximum, four -inf entries; one history id past the vocab.
    v = torch.round(torch.randn(50, generator=g) * 2 * 4) / 4
    v[[7, 31]] = v.max() + 1
    v[[3, 11, 12, 40]] = -float("inf")
    out["v50_grid"] = (v, history(50, 12, [7, 55, 7]))
    # 257 entries, a tenth -inf, some exact duplicates of other entries.
    v = torch.randn(257, generator=g) * 3
    v[torch.randperm(257, generator=g)[:26]] = -float("inf")
    v[100:110] = v[200]
    out["v257_dups"] = (v, history(257, 40))
    # 1000 entries, mild logits with repeated values and a few -inf.
    v = torch.randn(1000, generator=g) * 1.5
    v[torch.randperm(1000, generator=g)[:30]] = -float("inf")
    v[500:520] = v[3]
    out["v1000_mild"] = (v, history(1000, 60))
    # 1000 entries, one confident token (min-p and top-p then keep very few).
    v = torch.randn(1000, generator=g)
    v[321] = 9.0
    v[torch.randperm(1000, generator=g)[:5]] = -float("inf")
    out["v1000_peaked"] = (v, history(1000, 25, [321]))
    # 64 integer logits in [-3, 3] (large tie groups); zero scores in the history.
    v = torch.randint(-3, 4, (64,), generator=g).float()
    out["v64_integers"] = (v, history(64, 30))
    return out


def processor_info(p) -> dict:
    name = type(p).__name__
    if name == "RepetitionPenaltyLogitsProcessor":
        return {"name": "repetition_penalty", "penalty": p.penalty}
    if name == "TemperatureLogitsWarper":
        return {"name": "temperature", "temperature": p.temperature}
    if name == "TopKLogitsWarper":
        return {"name": "top_k", "top_k": p.top_k, "min_tokens_to_keep": p.min_tokens_to_keep}
    if name == "TopPLogitsWarper":
        return {"name": "top_p", "top_p": p.top_p, "min_tokens_to_keep": p.min_tokens_to_keep}
    if name == "MinPLogitsWarper":
        return {"name": "min_p", "min_p": p.min_p, "min_tokens_to_keep": p.min_tokens_to_keep}
    raise AssertionError(f"unexpected processor {name}")


def top_p_tie_at_cut(p: TopPLogitsWarper, scores: torch.Tensor) -> float | None:
    """The score when equal finite scores fall on both sides of the top-p cut (which of them torch removes depends
    on torch.sort's order), else None."""
    sorted_logits, _ = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - p.top_p)
    remove[..., -p.min_tokens_to_keep:] = False
    r = int(remove.sum())
    s = sorted_logits[0]
    if 0 < r < s.numel() and bool(torch.isfinite(s[r])) and bool(s[r - 1] == s[r]):
        return float(s[r])
    return None


def main() -> None:
    args = parse_args(__doc__)
    setup_torch()
    out_dir = args.out / "sampling"
    fresh_dir(out_dir)

    cases, tensors = [], {}
    for vector_name, (logits, history) in vectors().items():
        vocab = logits.numel()
        config = LlamaConfig(vocab_size=vocab, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=2)
        model = LlamaForCausalLM(config)
        ids = torch.tensor([history])
        for option_name, options in OPTIONS.items():
            name = f"{vector_name}.{option_name}"
            generation_config, _ = model._prepare_generation_config(None, **options)
            processors = model._get_logits_processor(
                generation_config=generation_config, input_ids_seq_length=ids.shape[1], encoder_input_ids=ids,
                logits_processor=None, device="cpu", model_kwargs={"attention_mask": torch.ones_like(ids)})
            scores = logits.clone()[None, :]
            tensors[f"{name}.logits"] = logits
            tie = None
            for i, p in enumerate(processors):
                if isinstance(p, TopPLogitsWarper):
                    tie = top_p_tie_at_cut(p, scores)
                scores = p(ids, scores)
                tensors[f"{name}.stage.{i}"] = scores[0]
            whole = processors(ids, logits.clone()[None, :])
            assert torch.equal(whole, scores), name
            tensors[f"{name}.final"] = scores[0]
            sampling = bool(generation_config.do_sample)
            kept = int(torch.isfinite(scores).sum())
            cases.append({"name": name, "vector": vector_name, "vocab": vocab, "options": options,
                          "history": history, "processors": [processor_info(p) for p in processors],
                          "greedy": None if sampling else int(torch.argmax(scores, dim=-1)), "kept": kept,
                          "top_p_tie": tie})
            print(f"{name:42s} vocab={vocab:4d} processors={len(processors)} kept={kept}"
                  + ("" if tie is None else f" top-p cut splits the tie at {tie}"), flush=True)
    save_tensors(out_dir / "cases.safetensors", tensors)
    write_json(out_dir / "cases.json", cases)


if __name__ == "__main__":
    main()

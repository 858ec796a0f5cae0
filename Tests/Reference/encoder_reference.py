#!/usr/bin/env python3
"""Reference outputs of BERT-family encoders, computed with PyTorch + transformers, for Finch's Swift tests.

Usage (from the repository root):

    .venv/bin/python Tests/Reference/encoder_reference.py [--out DIR] [--models DIR] [--data DIR]

Defaults: --out $FINCH_REFERENCE or <repo>/.reference, --models $FINCH_MODELS or ~/.cache/finch/models,
--data <repo>/../shared/data. Writes DIR/encoder/tiny-*/ (seeded random tiny models, saved with
save_pretrained, and their expected outputs) and DIR/encoder/real-*/ (all-MiniLM-L6-v2 and
multilingual-e5-small on 16 fixed texts). Tests/Reference/README.md documents every file and the
conventions the Swift side must follow. The command line and the file writers are reference_common.py's.

Deterministic and idempotent: each case directory is deleted and rewritten; every random draw comes from
a fixed seed; texts are chosen by a fixed rule. Every case is also checked against an independent float64
re-implementation of the forward pass (`manual_forward`) written from the saved weights, so the conventions
documented in the README (position ids, GELU, LayerNorm eps, heads) are the ones actually used.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)  # reference_common (sibling)
if _HERE not in sys.path:  # already there when run as a script
    sys.path.insert(0, _HERE)

# reference_common first: it sets HF_HUB_OFFLINE & co. before torch and transformers are imported.
from reference_common import fresh_dir, parse_args, save_tensors, setup_torch, write_json  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

# --------------------------------------------------------------------------------------------------
# Tiny random cases
# --------------------------------------------------------------------------------------------------

COMMON_BERTLIKE = dict(
    max_position_embeddings=64,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
)

# Initialisation std for the tiny models. transformers' default (0.02) gives near-uniform attention and a
# [CLS] state that barely depends on the rest of the row; 0.2 (plus the perturbation below) gives peaked
# attention, row-dependent logits, and GELU pre-activations large enough that the tanh approximation of GELU
# shifts hidden states by ~1e-3 (see the per-case "sensitivity" in case.json).
TINY_INITIALIZER_RANGE = 0.2

# Each case: name, model_type, seed, config overrides, batch spec. "lengths" are the number of real tokens
# per row (including the special tokens); rows are right-padded to max(lengths) with the config's pad id.
TINY_CASES = [
    dict(
        name="bert-h30",
        model_type="bert",
        seed=1001,
        config=dict(
            hidden_size=30, num_attention_heads=5, num_hidden_layers=2, intermediate_size=47,
            vocab_size=120, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0, num_labels=3,
        ),
        lengths=[13, 20, 5, 17],
        pair=False,
        notes="BERT, hidden 30 / 5 heads (head dim 6), 2 layers, intermediate 47, eps 1e-12, 3 labels. "
        "Single segment: token_type_ids all 0.",
    ),
    dict(
        name="bert-h21-pair",
        model_type="bert",
        seed=1002,
        config=dict(
            hidden_size=21, num_attention_heads=3, num_hidden_layers=3, intermediate_size=50,
            vocab_size=150, type_vocab_size=2, layer_norm_eps=1e-5, pad_token_id=0, num_labels=2,
        ),
        lengths=[24, 11, 18],
        pair=True,
        notes="BERT, hidden 21 / 3 heads (head dim 7), 3 layers, intermediate 50, eps 1e-5, 2 labels. "
        "Sentence pairs: [CLS] a [SEP] b [SEP]; token_type_ids are 0 for [CLS] a [SEP], 1 for b [SEP], "
        "0 on padding.",
    ),
    dict(
        name="bert-h64-5labels",
        model_type="bert",
        seed=1003,
        config=dict(
            hidden_size=64, num_attention_heads=4, num_hidden_layers=1, intermediate_size=100,
            vocab_size=300, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0, num_labels=5,
            problem_type="single_label_classification",
        ),
        lengths=[9, 16, 3, 12],
        pair=False,
        notes="BERT, hidden 64 / 4 heads (head dim 16), 1 layer, intermediate 100, eps 1e-12, 5 labels, "
        "problem_type single_label_classification (saved in config.json; does not change logits).",
    ),
    dict(
        name="roberta-h35",
        model_type="roberta",
        seed=1004,
        config=dict(
            hidden_size=35, num_attention_heads=5, num_hidden_layers=2, intermediate_size=58,
            vocab_size=200, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, num_labels=3,
        ),
        lengths=[22, 7, 15, 22],
        pair=False,
        notes="RoBERTa, hidden 35 / 5 heads (head dim 7), 2 layers, intermediate 58, eps 1e-5, 3 labels, "
        "pad_token_id 1, type_vocab_size 1. Position ids = padding_idx + 1 + index for real tokens, "
        "padding_idx (1) on pad tokens. Head: classifier.dense -> tanh -> classifier.out_proj on token 0; "
        "no pooler.",
    ),
    dict(
        name="xlm-roberta-h33",
        model_type="xlm-roberta",
        seed=1005,
        config=dict(
            hidden_size=33, num_attention_heads=3, num_hidden_layers=2, intermediate_size=70,
            vocab_size=250, type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0,
            eos_token_id=2, num_labels=3,
        ),
        lengths=[6, 19, 12],
        pair=False,
        notes="XLM-RoBERTa (same computation as RoBERTa; checkpoint keys also use the 'roberta.' prefix), "
        "hidden 33 / 3 heads (head dim 11), 2 layers, intermediate 70, eps 1e-5, 3 labels, pad_token_id 1.",
    ),
    dict(
        name="distilbert-d36",
        model_type="distilbert",
        seed=1006,
        config=dict(
            dim=36, n_heads=6, n_layers=2, hidden_dim=77, vocab_size=130, pad_token_id=0,
            sinusoidal_pos_embds=False, activation="gelu", max_position_embeddings=64,
            dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2,
            num_labels=3,
        ),
        lengths=[10, 21, 4, 15],
        pair=False,
        notes="DistilBERT, dim 36 / 6 heads (head dim 6), 2 layers, hidden_dim 77, 3 labels, learned "
        "positions. No token types (token_type_ids written as zeros, not fed to the model). All LayerNorm "
        "eps are hard-coded 1e-12. Head: pre_classifier -> ReLU -> classifier on token 0; no pooler.",
    ),
]

# Special ids used to build tiny inputs (random models: they only matter for padding and RoBERTa positions).
SPECIALS = {
    "bert": dict(start=2, sep=3, first_random=5),
    "distilbert": dict(start=2, sep=3, first_random=5),
    "roberta": dict(start=0, sep=2, first_random=5),
    "xlm-roberta": dict(start=0, sep=2, first_random=5),
}


def family(model_type: str) -> str:
    return {"bert": "bert", "roberta": "roberta", "xlm-roberta": "roberta", "distilbert": "distilbert"}[model_type]


def make_tiny_inputs(case: dict, cfg) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(case["seed"] * 7 + 3)
    sp = SPECIALS[case["model_type"]]
    pad = cfg.pad_token_id
    lengths = case["lengths"]
    B, S = len(lengths), max(lengths)
    assert S <= 24 and 3 <= B <= 4
    ids = torch.full((B, S), pad, dtype=torch.int64)
    mask = torch.zeros((B, S), dtype=torch.int64)
    tt = torch.zeros((B, S), dtype=torch.int64)
    for b, n in enumerate(lengths):
        body = torch.randint(sp["first_random"], cfg.vocab_size, (n,), generator=g)
        body[0] = sp["start"]
        body[n - 1] = sp["sep"]
        if case["pair"]:
            # [CLS] a [SEP] b [SEP]; the first [SEP] sits about 40% of the way in.
            cut = max(1, min(n - 3, int(round(n * 0.4))))
            body[cut] = sp["sep"]
            tt[b, cut + 1 : n] = 1
        assert (body != pad).all()  # a real token equal to pad would change RoBERTa positions
        ids[b, :n] = body
        mask[b, :n] = 1
    return ids, mask, tt


def perturb_(model: torch.nn.Module, seed: int) -> None:
    """Add seeded normal noise to every parameter (LayerNorm scale/shift and all biases included)."""
    g = torch.Generator().manual_seed(seed * 13 + 5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = "LayerNorm" in name or "layer_norm" in name
            std = 0.1 if is_norm else 0.05
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)


# --------------------------------------------------------------------------------------------------
# Independent float64 forward pass (used only as a self-check of the documented conventions)
# --------------------------------------------------------------------------------------------------


def _ln(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased variance
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _lin(x, sd, name):
    return x @ sd[name + ".weight"].T + sd[name + ".bias"]


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):  # NOT what "gelu" means; used only to measure how sensitive a case is to the GELU variant
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _attention(x, q, k, v, mask, heads):
    B, S, H = x.shape
    D = H // heads
    q = q.view(B, S, heads, D).transpose(1, 2)
    k = k.view(B, S, heads, D).transpose(1, 2)
    v = v.view(B, S, heads, D).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
    scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
    probs = scores.softmax(-1)
    return (probs @ v).transpose(1, 2).reshape(B, S, H)


def manual_forward(sd: dict, cfg, ids, mask, tt, fam: str, prefix: str, head: str | None, pooler: bool,
                   gelu=_gelu_erf):
    """Returns (hidden_states list, pooler_output or None, logits or None), float64."""
    sd = {k: v.double() for k, v in sd.items() if v.is_floating_point()}
    B, S = ids.shape
    p = prefix
    if fam == "distilbert":
        eps = 1e-12
        pos = torch.arange(S).expand(B, S)
        x = sd[p + "embeddings.word_embeddings.weight"][ids] + sd[p + "embeddings.position_embeddings.weight"][pos]
        x = _ln(x, sd[p + "embeddings.LayerNorm.weight"], sd[p + "embeddings.LayerNorm.bias"], eps)
        hs = [x]
        for i in range(cfg.n_layers):
            L = f"{p}transformer.layer.{i}."
            a = _attention(x, _lin(x, sd, L + "attention.q_lin"), _lin(x, sd, L + "attention.k_lin"),
                           _lin(x, sd, L + "attention.v_lin"), mask, cfg.n_heads)
            a = _lin(a, sd, L + "attention.out_lin")
            x = _ln(a + x, sd[L + "sa_layer_norm.weight"], sd[L + "sa_layer_norm.bias"], eps)
            f = _lin(gelu(_lin(x, sd, L + "ffn.lin1")), sd, L + "ffn.lin2")
            x = _ln(f + x, sd[L + "output_layer_norm.weight"], sd[L + "output_layer_norm.bias"], eps)
            hs.append(x)
        logits = None
        if head == "distilbert":
            logits = _lin(torch.relu(_lin(x[:, 0], sd, "pre_classifier")), sd, "classifier")
        return hs, None, logits

    eps = cfg.layer_norm_eps
    if fam == "roberta":
        pad = cfg.pad_token_id
        nonpad = (ids != pad).long()
        pos = torch.cumsum(nonpad, 1) * nonpad + pad
    else:
        pos = torch.arange(S).expand(B, S)
    x = (sd[p + "embeddings.word_embeddings.weight"][ids]
         + sd[p + "embeddings.token_type_embeddings.weight"][tt]
         + sd[p + "embeddings.position_embeddings.weight"][pos])
    x = _ln(x, sd[p + "embeddings.LayerNorm.weight"], sd[p + "embeddings.LayerNorm.bias"], eps)
    hs = [x]
    for i in range(cfg.num_hidden_layers):
        L = f"{p}encoder.layer.{i}."
        a = _attention(x, _lin(x, sd, L + "attention.self.query"), _lin(x, sd, L + "attention.self.key"),
                       _lin(x, sd, L + "attention.self.value"), mask, cfg.num_attention_heads)
        a = _lin(a, sd, L + "attention.output.dense")
        x = _ln(a + x, sd[L + "attention.output.LayerNorm.weight"], sd[L + "attention.output.LayerNorm.bias"], eps)
        f = _lin(gelu(_lin(x, sd, L + "intermediate.dense")), sd, L + "output.dense")
        x = _ln(f + x, sd[L + "output.LayerNorm.weight"], sd[L + "output.LayerNorm.bias"], eps)
        hs.append(x)
    pooled = torch.tanh(_lin(x[:, 0], sd, p + "pooler.dense")) if pooler else None
    logits = None
    if head == "bert":
        logits = _lin(pooled, sd, "classifier")
    elif head == "roberta":
        logits = _lin(torch.tanh(_lin(x[:, 0], sd, "classifier.dense")), sd, "classifier.out_proj")
    return hs, pooled, logits


def max_rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a-b| / max(1, max |b|)."""
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


# --------------------------------------------------------------------------------------------------
# Shared output helpers
# --------------------------------------------------------------------------------------------------


def pooled_outputs(last: torch.Tensor, mask: torch.Tensor) -> dict:
    m = mask.unsqueeze(-1).to(last.dtype)
    mean = (last * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return {"mean_pooled": mean, "cls_pooled": last[:, 0]}


# --------------------------------------------------------------------------------------------------
# Tiny cases
# --------------------------------------------------------------------------------------------------


def run_tiny(case: dict, out_root: Path) -> None:
    t0 = time.time()
    name = "tiny-" + case["name"]
    case_dir = out_root / "encoder" / name
    fresh_dir(case_dir)
    mt = case["model_type"]
    fam = family(mt)
    extra = {} if fam == "distilbert" else COMMON_BERTLIKE
    torch.manual_seed(case["seed"])
    cfg = AutoConfig.for_model(mt, **{**extra, "initializer_range": TINY_INITIALIZER_RANGE, **case["config"]})
    model = AutoModelForSequenceClassification.from_config(cfg, attn_implementation="eager")
    perturb_(model, case["seed"])
    model.eval()
    assert model.config._attn_implementation == "eager"

    ids, mask, tt = make_tiny_inputs(case, cfg)
    feed = dict(input_ids=ids, attention_mask=mask)
    if fam != "distilbert":
        feed["token_type_ids"] = tt
    base = model.base_model
    has_pooler = getattr(base, "pooler", None) is not None
    with torch.no_grad():
        out = base(**feed, output_hidden_states=True, return_dict=True)
        logits = model(**feed, return_dict=True).logits
    n_layers = cfg.num_hidden_layers
    assert len(out.hidden_states) == n_layers + 1
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)

    tensors = dict(input_ids=ids, attention_mask=mask, token_type_ids=tt)
    for i, h in enumerate(out.hidden_states):
        tensors[f"hidden_states.{i}"] = h
    tensors["last_hidden_state"] = out.last_hidden_state
    if has_pooler:
        tensors["pooler_output"] = out.pooler_output
    tensors["logits"] = logits
    tensors.update(pooled_outputs(out.last_hidden_state, mask))

    model.save_pretrained(str(case_dir / "model"), safe_serialization=True)
    save_tensors(case_dir / "expected.safetensors", tensors)

    # Self-checks: (1) the saved checkpoint reloads to the same logits; (2) an independent float64
    # implementation from the saved weights reproduces every hidden state, the pooler and the logits.
    reloaded = AutoModelForSequenceClassification.from_pretrained(str(case_dir / "model"), attn_implementation="eager")
    reloaded.eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**feed).logits, logits), f"{name}: reload changed logits"
    sd = load_file(str(case_dir / "model" / "model.safetensors"))
    prefix = {"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert."}[fam]
    hs, pooled, mlogits = manual_forward(sd, cfg, ids, mask, tt, fam, prefix, head=fam, pooler=has_pooler)
    pairs = list(zip(out.hidden_states, hs)) + [(logits, mlogits)]
    if has_pooler:
        pairs.append((out.pooler_output, pooled))
    diff = max(max_rel_diff(a, b) for a, b in pairs)
    assert diff < 1e-5, f"{name}: manual float64 forward differs by {diff:.2e}"
    f32_abs = max(float((a.double() - b).abs().max()) for a, b in pairs)
    # How far the outputs move if GELU were the tanh approximation: a tolerance below this catches it.
    hs_t, pooled_t, logits_t = manual_forward(sd, cfg, ids, mask, tt, fam, prefix, head=fam, pooler=has_pooler,
                                              gelu=_gelu_tanh)
    tanh_abs = max(float((a - b).abs().max()) for a, b in zip(hs, hs_t))

    write_json(case_dir / "case.json", {
        "model_type": mt,
        "has_pooler": has_pooler,
        "num_labels": cfg.num_labels,
        "notes": case["notes"],
        "sensitivity": {
            "float32_vs_float64_max_abs": float(f"{f32_abs:.2g}"),
            "tanh_gelu_hidden_states_max_abs": float(f"{tanh_abs:.2g}"),
        },
    })

    B, S = ids.shape
    print(f"{name:28s} {mt:11s} B={B} S={S:3d} L={n_layers} H={cfg.hidden_size:3d} "
          f"labels={cfg.num_labels} pooler={'yes' if has_pooler else 'no ':3s} "
          f"logits={tuple(logits.shape)} f64-check={diff:.1e} tanh-gelu-shift={tanh_abs:.1e} "
          f"{time.time() - t0:.2f}s", flush=True)


# --------------------------------------------------------------------------------------------------
# Real models
# --------------------------------------------------------------------------------------------------

BANGLISH = [
    "ei match e Tamim onek bhalo khelse",
    "restaurant ta te khabar er dam onek beshi, kintu taste valo na",
    "Mashrafe bhai er captaincy miss kori, ajker bowling ta ekdom faltu chilo",
    "biryani ta oshadharon chilo, abar jabo inshallah",
    "service khub slow, 45 minute wait korlam just ekta burger er jonno!!",
]


def _read_tsv(path: Path, text_col: int) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]  # header; CRLF handled by splitlines
    texts = []
    for line in lines:
        cols = line.split("\t")
        t = cols[text_col].strip()
        if t and t not in texts:
            texts.append(t)
    return texts


def _pick_by_length(texts: list[str], fractions: list[float]) -> list[str]:
    """Deterministic: sort by (character length, text), take the items at the given quantiles."""
    s = sorted(texts, key=lambda t: (len(t), t))
    return [s[min(len(s) - 1, int(f * (len(s) - 1)))] for f in fractions]


def choose_texts(data_dir: Path) -> list[str]:
    absa = data_dir / "bengali-absa"
    cricket = _pick_by_length(_read_tsv(absa / "cricket_test.tsv", 1), [0.1, 0.5, 0.99])
    restaurant = _pick_by_length(_read_tsv(absa / "restaurant_test.tsv", 1), [0.2, 0.6, 1.0])
    english = _pick_by_length(_read_tsv(data_dir / "sst2" / "dev.tsv", 1), [0.02, 0.3, 0.55, 0.8, 0.97])
    texts = cricket + restaurant + BANGLISH + english
    assert len(texts) == 16 and len(set(texts)) == 16
    return texts


REAL_MODELS = [
    dict(name="all-MiniLM-L6-v2", prefix="", pooler=True),
    dict(name="multilingual-e5-small", prefix="query: ", pooler=False),
]


def run_real(spec: dict, models_dir: Path, texts: list[str], out_root: Path) -> None:
    t0 = time.time()
    folder = models_dir / spec["name"]
    if not (folder / "config.json").exists():
        raise SystemExit(f"model folder {folder} is missing; run scripts/setup or ../shared/models/get-models.sh")
    name = "real-" + spec["name"]
    case_dir = out_root / "encoder" / name
    fresh_dir(case_dir)
    inputs = [spec["prefix"] + t for t in texts]

    tok = AutoTokenizer.from_pretrained(str(folder))
    enc = tok(inputs, padding="longest", truncation=True, max_length=128, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    tt = enc.get("token_type_ids")
    tokenizer_gives_tt = tt is not None
    if tt is None:
        tt = torch.zeros_like(ids)
    feed = dict(input_ids=ids, attention_mask=mask, token_type_ids=tt)

    kw = {} if spec["pooler"] else {"add_pooling_layer": False}
    model, info = AutoModel.from_pretrained(str(folder), attn_implementation="eager", output_loading_info=True, **kw)
    model.eval()
    assert not info["missing_keys"], f"{name}: missing keys {info['missing_keys']}"
    assert (getattr(model, "pooler", None) is not None) == spec["pooler"]
    with torch.no_grad():
        out = model(**feed, output_hidden_states=True, return_dict=True)
    cfg = model.config
    assert len(out.hidden_states) == cfg.num_hidden_layers + 1

    tensors = dict(input_ids=ids, attention_mask=mask, token_type_ids=tt)
    for i, h in enumerate(out.hidden_states):
        tensors[f"hidden_states.{i}"] = h
    tensors["last_hidden_state"] = out.last_hidden_state
    if spec["pooler"]:
        tensors["pooler_output"] = out.pooler_output
    pooled = pooled_outputs(out.last_hidden_state, mask)
    tensors.update(pooled)
    tensors["mean_pooled_normalized"] = F.normalize(pooled["mean_pooled"], p=2, dim=1)

    # Classification head: fresh, seeded initialisation on top of the real encoder.
    torch.manual_seed(0)
    clf, cinfo = AutoModelForSequenceClassification.from_pretrained(
        str(folder), num_labels=3, attn_implementation="eager", output_loading_info=True)
    clf.eval()
    fresh = sorted(cinfo["missing_keys"])
    expected_fresh = ["classifier.bias", "classifier.weight"]
    if not spec["pooler"]:
        expected_fresh += ["bert.pooler.dense.bias", "bert.pooler.dense.weight"]
    assert fresh == sorted(expected_fresh), f"{name}: freshly initialised {fresh}"
    csd = clf.state_dict()
    with torch.no_grad():
        logits = clf(**feed).logits
        base_last = clf.bert(**feed).last_hidden_state
    assert torch.equal(base_last, out.last_hidden_state), f"{name}: classifier encoder differs from AutoModel"
    tensors["classifier.weight"] = csd["classifier.weight"]
    tensors["classifier.bias"] = csd["classifier.bias"]
    if not spec["pooler"]:
        tensors["pooler.dense.weight"] = csd["bert.pooler.dense.weight"]
        tensors["pooler.dense.bias"] = csd["bert.pooler.dense.bias"]
    tensors["logits"] = logits

    save_tensors(case_dir / "expected.safetensors", tensors)
    write_json(case_dir / "texts.json", texts)

    # Self-check against the independent float64 forward (weights taken from the classification model,
    # whose encoder was just shown to equal the AutoModel's), plus the tanh-GELU sensitivity.
    hs, mpooled, mlogits = manual_forward(csd, cfg, ids, mask, tt, "bert", "bert.", head="bert", pooler=True)
    pairs = list(zip(out.hidden_states, hs)) + [(logits, mlogits)]
    if spec["pooler"]:
        pairs.append((out.pooler_output, mpooled))
    diff = max(max_rel_diff(a, b) for a, b in pairs)
    assert diff < 1e-4, f"{name}: manual float64 forward differs by {diff:.2e}"
    f32_abs = max(float((a.double() - b).abs().max()) for a, b in pairs)
    hs_t, _, _ = manual_forward(csd, cfg, ids, mask, tt, "bert", "bert.", head=None, pooler=False, gelu=_gelu_tanh)
    tanh_abs = max(float((a - b).abs().max()) for a, b in zip(hs, hs_t))

    write_json(case_dir / "case.json", {
        "model_type": cfg.model_type,
        "model_folder": spec["name"],
        "has_pooler": spec["pooler"],
        "num_labels": 3,
        "text_prefix": spec["prefix"],
        "tokenizer_returns_token_type_ids": tokenizer_gives_tt,
        "notes": ("texts.json holds the texts WITHOUT the prefix; the model saw text_prefix + text. "
                  "Tokenized with padding='longest', truncation=True, max_length=128. "
                  "classifier.* (and, without a checkpoint pooler, pooler.dense.*) in expected.safetensors "
                  "are a fresh seeded initialisation; logits = classifier(tanh(pooler.dense(h[:,0]))))."),
        "sensitivity": {
            "float32_vs_float64_max_abs": float(f"{f32_abs:.2g}"),
            "tanh_gelu_hidden_states_max_abs": float(f"{tanh_abs:.2g}"),
        },
    })

    B, S = ids.shape
    ntok = mask.sum(1).tolist()
    print(f"{name:28s} {cfg.model_type:11s} B={B} S={S:3d} L={cfg.num_hidden_layers} H={cfg.hidden_size:3d} "
          f"labels=3 pooler={'yes' if spec['pooler'] else 'no ':3s} logits={tuple(logits.shape)} "
          f"f64-check={diff:.1e} tanh-gelu-shift={tanh_abs:.1e} tokens/row min={min(ntok)} max={max(ntok)} {time.time() - t0:.2f}s", flush=True)


# --------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(__doc__, argv, only=["tiny", "real"], only_help="run only one group of cases")
    setup_torch()

    t0 = time.time()
    out_root = args.out.resolve()
    (out_root / "encoder").mkdir(parents=True, exist_ok=True)
    print(f"encoder reference -> {out_root / 'encoder'} (torch {torch.__version__}, "
          f"transformers {__import__('transformers').__version__})", flush=True)
    if args.only in (None, "tiny"):
        for case in TINY_CASES:
            run_tiny(case, out_root)
    if args.only in (None, "real"):
        texts = choose_texts(args.data)
        for spec in REAL_MODELS:
            run_real(spec, args.models, texts, out_root)
    print(f"done in {time.time() - t0:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

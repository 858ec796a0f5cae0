#!/usr/bin/env python3
"""Reference values of scikit-learn, sacrebleu, rouge-score and the SQuAD v1.1 evaluation script, for FinchMetrics.

Usage (from the repository root):

    .venv/bin/python Tests/Reference/metrics_reference.py [--out DIR] [--data DIR]

Default: --out $FINCH_REFERENCE or <repo>/.reference, --data <repo>/../shared/data. Writes DIR/metrics/:

- classification.json: labels, predictions and scikit-learn's accuracy, confusion matrix, precision / recall /
  F1 / support per class, micro / macro / weighted averages and classification_report text (digits 2 and 4) for
  every zero_division option, Cohen's kappa (unweighted, linear, quadratic), Matthews correlation and balanced
  accuracy. Real labels (bengali-absa, SST-2, TweetEval) with seeded noisy predictions, and edge cases.
- bleu.json: sacrebleu.corpus_bleu with its defaults (13a tokenizer, exp smoothing) on English (GSM8K, SST-2)
  and Bengali (bengali-absa) sentences against seeded perturbed copies, edge cases, and the 13a tokenization of
  every string used.
- rouge.json: rouge_score.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False).score(target, prediction)
  per pair, with the tokens of both sides, and the mean F-measure per set.
- squad.json: exact match and F1 of the official SQuAD v1.1 evaluation script (copied below verbatim), per item
  and aggregated as its compute_score does.
- gsm8k.json: final answers extracted from GSM8K solutions and from model-like completions.
- perplexity.json: seeded logits and targets, torch cross-entropy (float64, ignore_index=-100) and its exp.

Non-finite numbers are written as the strings "nan", "inf" and "-inf" (JSON has no NaN). Deterministic and
idempotent: DIR/metrics is deleted and rewritten, and every draw comes from a fixed seed. --models is accepted
(and unused) so that a setup loop can pass the same arguments to every script. Tests/Reference/README.md
documents the files.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import shutil
import string
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import sacrebleu
import torch
import torch.nn.functional as F
from importlib.metadata import version
from rouge_score import rouge_scorer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, classification_report, cohen_kappa_score,
                             confusion_matrix, matthews_corrcoef, precision_recall_fscore_support)

REPO = Path(__file__).resolve().parents[2]
ZERO_DIVISIONS = {"warn": "warn", "zero": 0.0, "one": 1.0, "nan": np.nan}
BENGALI_SENTIMENT = ["নেতিবাচক", "নিরপেক্ষ", "ইতিবাচক"]

# ----------------------------------------------------------------------------------------------------------------
# Official SQuAD v1.1 evaluation script (evaluate-v1.1.py), the functions used, verbatim
# ----------------------------------------------------------------------------------------------------------------


def normalize_answer(s):
    """Lower text and remove punctuation, articles and extra whitespace."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()

    return white_space_fix(remove_articles(remove_punc(lower(s))))


def f1_score(prediction, ground_truth):
    prediction_tokens = normalize_answer(prediction).split()
    ground_truth_tokens = normalize_answer(ground_truth).split()
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(prediction_tokens)
    recall = 1.0 * num_same / len(ground_truth_tokens)
    f1 = (2 * precision * recall) / (precision + recall)
    return f1


def exact_match_score(prediction, ground_truth):
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def metric_max_over_ground_truths(metric_fn, prediction, ground_truths):
    scores_for_ground_truths = []
    for ground_truth in ground_truths:
        score = metric_fn(prediction, ground_truth)
        scores_for_ground_truths.append(score)
    return max(scores_for_ground_truths)


# ----------------------------------------------------------------------------------------------------------------
# GSM8K answer extraction: OpenAI grade-school-math's extract_answer, then the last number as a fallback
# ----------------------------------------------------------------------------------------------------------------

ANS_RE = re.compile(r"#### (\-?[0-9\.\,]+)")  # grade-school-math/dataset.py
NUMBER_RE = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


def extract_gsm8k(completion):
    match = ANS_RE.search(completion)
    if match:
        return match.group(1).strip().replace(",", "")
    numbers = NUMBER_RE.findall(completion)
    return numbers[-1].replace(",", "") if numbers else None


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------


def finite(x):
    """JSON-safe: non-finite floats become "nan", "inf", "-inf"; numpy scalars become Python numbers."""
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
    return x


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(finite(obj), ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def read_tsv(path: Path, text_column: int, label_column: int):
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    return [r[text_column] for r in rows], [r[label_column].strip() for r in rows]


def noisy(labels, classes, rate, seed):
    """Seeded predictions: each label is replaced, with probability `rate`, by a different class."""
    rng = random.Random(seed)
    out = []
    for y in labels:
        if rng.random() < rate:
            out.append(rng.choice([c for c in range(classes) if c != y]))
        else:
            out.append(y)
    return out


def perturb(text, rng, rate, pool):
    """Seeded word-level edits of `text` split on single spaces (newlines stay inside words): delete, replace by
    a word of `pool`, swap with the next word, or duplicate, each with probability rate/4."""
    words = text.split(" ")
    out = []
    i = 0
    while i < len(words):
        r = rng.random()
        if r < rate / 4:
            pass
        elif r < rate / 2:
            out.append(rng.choice(pool))
        elif r < 3 * rate / 4 and i + 1 < len(words):
            out.extend([words[i + 1], words[i]])
            i += 1
        elif r < rate:
            out.extend([words[i], words[i]])
        else:
            out.append(words[i])
        i += 1
    return " ".join(out)


# ----------------------------------------------------------------------------------------------------------------
# Classification
# ----------------------------------------------------------------------------------------------------------------


def classification_case(name, label_names, y, p, note):
    labels = list(range(len(label_names)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = dict(
            name=name, note=note, label_names=label_names, labels=y, predictions=p,
            confusion=confusion_matrix(y, p, labels=labels).tolist(),
            accuracy=accuracy_score(y, p),
            balanced_accuracy=balanced_accuracy_score(y, p),
            balanced_accuracy_adjusted=balanced_accuracy_score(y, p, adjusted=True),
            matthews=matthews_corrcoef(y, p),
            kappa={str(w).lower(): cohen_kappa_score(y, p, labels=labels, weights=w)
                   for w in (None, "linear", "quadratic")},
            zero_division={},
        )
        for key, zd in ZERO_DIVISIONS.items():
            prec, rec, f1, support = precision_recall_fscore_support(y, p, labels=labels, zero_division=zd)
            entry = dict(precision=prec.tolist(), recall=rec.tolist(), f1=f1.tolist(), support=support.tolist(),
                         averages={})
            for average in ("micro", "macro", "weighted"):
                ap, ar, af, _ = precision_recall_fscore_support(y, p, labels=labels, average=average,
                                                                zero_division=zd)
                entry["averages"][average] = dict(precision=ap, recall=ar, f1=af)
            for digits in (2, 4):
                entry[f"report{digits}"] = classification_report(y, p, labels=labels, target_names=label_names,
                                                                 digits=digits, zero_division=zd)
            case["zero_division"][key] = entry
    print(f"classification {name:28s} n={len(y):5d} classes={len(labels):2d} accuracy={case['accuracy']:.4f} "
          f"macro-F1={case['zero_division']['warn']['averages']['macro']['f1']:.4f}")
    return case


def classification_cases(data: Path):
    cases = []
    names = ["negative", "neutral", "positive"]
    index = {n: i for i, n in enumerate(names)}
    _, cricket = read_tsv(data / "bengali-absa" / "cricket_test.tsv", 1, 2)
    cricket = [index[c] for c in cricket]
    cricket_pred = noisy(cricket, 3, 0.3, seed=101)
    cases.append(classification_case("cricket-test", names, cricket, cricket_pred,
                                     "bengali-absa cricket_test.tsv labels, 30% seeded noise"))
    cases.append(classification_case("cricket-test-bengali-names", BENGALI_SENTIMENT, cricket, cricket_pred,
                                     "same, Bengali label names (report column width counts code points)"))
    cases.append(classification_case("cricket-never-neutral", names, cricket,
                                     [0 if c == 1 else c for c in cricket_pred],
                                     "the neutral class is never predicted"))
    _, restaurant = read_tsv(data / "bengali-absa" / "restaurant_test.tsv", 1, 2)
    restaurant = [index[c] for c in restaurant]
    cases.append(classification_case("restaurant-test", names, restaurant, noisy(restaurant, 3, 0.2, seed=102),
                                     "bengali-absa restaurant_test.tsv labels, 20% seeded noise"))
    sst2 = [int(line.split("\t")[0]) for line in
            (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    cases.append(classification_case("sst2-dev", ["negative", "positive"], sst2, noisy(sst2, 2, 0.12, seed=103),
                                     "SST-2 dev labels, 12% seeded flips"))
    tweets = [int(x) for x in (data / "tweeteval-sentiment" / "val_labels.txt").read_text().split()]
    cases.append(classification_case("tweeteval-val", names, tweets, noisy(tweets, 3, 0.35, seed=104),
                                     "TweetEval sentiment validation labels, 35% seeded noise"))
    rng = random.Random(105)
    many_y = [rng.randrange(12) for _ in range(500)]
    many_names = [f"class-{i}" for i in range(11)] + ["a-label-longer-than-weighted-avg"]
    cases.append(classification_case("twelve-classes", many_names, many_y, noisy(many_y, 12, 0.4, seed=106),
                                     "12 classes (numpy's pairwise summation path), a label name wider than 12"))
    cases.append(classification_case("predicted-not-in-truth", ["a", "b", "c"], [0, 0, 1, 1, 0, 1],
                                     [0, 2, 1, 2, 0, 1], "class c is predicted but has no support"))
    cases.append(classification_case("absent-class", ["none", "low", "mid", "high"],
                                     [0, 2, 3, 3, 2, 0, 0, 3, 2, 2], [0, 2, 3, 2, 3, 0, 2, 3, 2, 0],
                                     "class 'low' is in neither labels nor predictions (weighted kappa uses "
                                     "labels=range(4))"))
    cases.append(classification_case("one-class-only", ["a", "b", "c"], [1] * 6, [1] * 6,
                                     "every label and prediction is class b"))
    cases.append(classification_case("one-class-truth", ["a", "b", "c"], [0] * 6, [0, 1, 0, 2, 0, 0],
                                     "every label is class a"))
    cases.append(classification_case("never-right", ["a", "b"], [0, 0], [1, 1],
                                     "zero_division=nan drops a's precision; the weighted average falls back "
                                     "to an unweighted one (support of the rest is 0)"))
    cases.append(classification_case("binary-perfect", ["no", "yes"], [0, 1, 1, 0, 1], [0, 1, 1, 0, 1],
                                     "all correct"))
    cases.append(classification_case("binary-all-wrong", ["no", "yes"], [0, 1, 1, 0, 1], [1, 0, 0, 1, 0],
                                     "all wrong"))
    cases.append(classification_case("single-sample", ["a", "b", "c"], [2], [0], "one sample"))
    return cases


# ----------------------------------------------------------------------------------------------------------------
# BLEU
# ----------------------------------------------------------------------------------------------------------------

TOKENIZER_STRINGS = [
    "Hello, world!", "U.S.A. costs $1,000.50 (approx.) e.g., 3-4 items; x-y", "a..b ,. 5.- 5. .5 5,a a,5",
    "&quot;quoted&quot; &amp;lt; &lt;tag&gt; & more", "drop<skipped>ped line-\nbreak\nnext", "tab\there  \t end  ",
    "no\u00a0break\u2028line\u3000ideographic\u200bzero-width\u2009thin", "trailing\u00a0", "{[(<>)]}~`^_|\\/@?:;=+*%#\"'",
    "বাংলাদেশ দল জিতেছে! খেলা-ধুলা, ১২৩ রান। (ভালো)", "\u09dc\u09a1\u09bc \u09df\u09af\u09bc", "ZWNJ র\u200c্যাব",
    "1-2-3 -4 x-5", "ending with period .", "", "   ", "\r\nwindows\r\n",
]


def bleu_result(hyps, refs):
    score = sacrebleu.corpus_bleu(hyps, refs)
    return dict(score=score.score, counts=list(score.counts), totals=list(score.totals),
                precisions=list(score.precisions), bp=score.bp, sys_len=score.sys_len, ref_len=score.ref_len,
                description=str(score))


def bleu_case(name, hyps, refs, note):
    case = dict(name=name, note=note, hypotheses=hyps, references=refs, result=bleu_result(hyps, refs))
    r = case["result"]
    print(f"bleu {name:28s} segments={len(hyps):4d} refs={len(refs)} {r['description']}")
    return case


def bleu_cases(data: Path):
    gsm = [json.loads(line) for line in (data / "gsm8k" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    answers = [row["answer"] for row in gsm[:300]]
    questions = [row["question"] for row in gsm[300:500]]
    pool = " ".join(answers).split(" ")
    rng = random.Random(201)
    cases = [bleu_case("gsm8k-answers", [perturb(a, rng, 0.3, pool) for a in answers], [answers],
                       "GSM8K solutions (with <<calc>> markup and newlines) against seeded perturbed copies")]
    qpool = " ".join(questions).split(" ")
    rng = random.Random(202)
    second = [perturb(q, rng, 0.2, qpool) for q in questions]
    hyps = [perturb(q, rng, 0.35, qpool) for q in questions]
    cases.append(bleu_case("gsm8k-questions-two-refs", hyps, [questions, second],
                           "two reference streams: the question and a perturbed copy"))
    sst = [line.split("\t", 1)[1] for line in
           (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:301]]
    spool = " ".join(sst).split(" ")
    rng = random.Random(203)
    cases.append(bleu_case("sst2-dev", [perturb(s, rng, 0.25, spool) for s in sst], [sst],
                           "SST-2 dev sentences (already tokenized, ending in ' .')"))
    texts, _ = read_tsv(data / "bengali-absa" / "cricket_test.tsv", 1, 2)
    bpool = " ".join(texts).split(" ")
    rng = random.Random(204)
    hyps = []
    for t in texts:
        h = perturb(t, rng, 0.3, bpool)
        if rng.random() < 0.5:  # the same letters, the other encoding: sacrebleu compares code points
            h = h.replace("\u09dc", "\u09a1\u09bc").replace("\u09df", "\u09af\u09bc")
        hyps.append(h)
    cases.append(bleu_case("bengali-cricket", hyps, [texts],
                           "bengali-absa cricket_test.tsv comments against perturbed copies; half of them with "
                           "ড়/য় decomposed (U+09A1 U+09BC, U+09AF U+09BC)"))
    rtexts, _ = read_tsv(data / "bengali-absa" / "restaurant_test.tsv", 1, 2)
    cases.append(bleu_case("bengali-restaurant-identical", rtexts, [rtexts], "identical: BLEU 100"))
    cases.append(bleu_case("short-segments", ["the cat", "a dog runs"], [["the cat", "a dog runs"]],
                           "no 4-grams at all: sacrebleu stops at the first empty order and the score is 0"))
    cases.append(bleu_case("no-match", ["alpha beta gamma delta"], [["one two three four five"]],
                           "no matching unigram: early exit, score 0 with BP computed"))
    cases.append(bleu_case("exp-smoothing", ["the quick brown fox jumped over a lazy dog",
                                             "it is raining cats and dogs today"],
                           [["the quick brown fox jumps over the lazy dog", "it rains cats and dogs today"]],
                           "some orders have zero matches: exp smoothing"))
    cases.append(bleu_case("empty-hypothesis", ["", "a b c d e f"], [["x y", "a b c d e f g"]],
                           "an empty hypothesis contributes its closest reference length only"))
    cases.append(bleu_case("all-empty", [""], [[""]], "empty hypothesis and reference: sys_len = ref_len = 0"))
    cases.append(bleu_case("closest-length-tie", ["a b c d e"], [["a b c d"], ["a b c d e f"]],
                           "reference lengths 4 and 6 tie for a 5-token hypothesis: the shorter wins"))
    cases.append(bleu_case("punctuation-and-entities", TOKENIZER_STRINGS,
                           [TOKENIZER_STRINGS[1:] + TOKENIZER_STRINGS[:1]],
                           "13a special cases, each against the next one"))
    cases.append(bleu_case("bengali-nfc-vs-nfd", ["সে বা\u09dcি যা\u09df আজ রাতে", "আমরা জ\u09dfী হয়েছি খেলায় আজ"],
                           [["সে বা\u09a1\u09bcি যা\u09af\u09bc আজ রাতে", "আমরা জয়ী হয়েছি খেলায় আজ"]],
                           "U+09DC / U+09DF in the hypothesis, decomposed in the first reference"))
    return cases


def tokenizer_cases(bleu):
    tokenizer = Tokenizer13a()
    seen, out = set(), []
    for text in TOKENIZER_STRINGS + [s for c in bleu for s in c["hypotheses"][:20] + c["references"][0][:20]]:
        if text not in seen:
            seen.add(text)
            out.append(dict(text=text, tokenized=tokenizer(text.rstrip())))
    return out


# ----------------------------------------------------------------------------------------------------------------
# ROUGE, SQuAD, GSM8K, perplexity
# ----------------------------------------------------------------------------------------------------------------

ROUGE_EDGE = [
    ("", ""), ("", "something"), ("something", ""), ("!!! ???", "..."), ("The cat", "the CAT"),
    ("a b a b a", "a b"), ("İstanbul has 15.5 million people", "istanbul: 15,5 million"),
    ("Kelvin \u212a sign", "kelvin k sign"), ("snake_case and kebab-case", "snake case and kebab case"),
    ("বাংলাদেশ দল জিতেছে", "বাংলাদেশ দল জিতেছে"), ("বাংলাদেশ 2 উইকেটে জিতেছে match", "match 2 উইকেট"),
    ("১২৩ রান", "১২৩ রান"), ("café naïve", "cafe naive"), ("x y z w", "w z y x"),
]


def rouge_sets(data: Path):
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    tokenizer = scorer._tokenizer
    gsm = [json.loads(line)["answer"] for line in
           (data / "gsm8k" / "train.jsonl").read_text(encoding="utf-8").splitlines()[1000:1100]]
    sst = [line.split("\t", 1)[1] for line in
           (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[400:500]]
    texts, _ = read_tsv(data / "bengali-absa" / "cricket_test.tsv", 1, 2)
    rng = random.Random(301)
    sets = {
        "gsm8k": [(t, perturb(t, rng, 0.3, " ".join(gsm).split(" "))) for t in gsm],
        "sst2": [(t, perturb(t, rng, 0.3, " ".join(sst).split(" "))) for t in sst],
        "bengali-cricket": [(t, perturb(t, rng, 0.3, " ".join(texts).split(" "))) for t in texts[:100]],
        "edge": ROUGE_EDGE,
    }
    out = {}
    for name, pairs in sets.items():
        items = []
        for target, prediction in pairs:
            scores = scorer.score(target, prediction)
            items.append(dict(target=target, prediction=prediction,
                              target_tokens=tokenizer.tokenize(target),
                              prediction_tokens=tokenizer.tokenize(prediction),
                              **{k: [v.precision, v.recall, v.fmeasure] for k, v in scores.items()}))
        means = {k: float(np.mean([i[k][2] for i in items])) for k in ("rouge1", "rouge2", "rougeL")}
        out[name] = dict(items=items, mean_fmeasure=means)
        print(f"rouge {name:16s} pairs={len(items):4d} " + " ".join(f"{k}={v:.4f}" for k, v in means.items()))
    return out


SQUAD_EDGE = [
    ("The Eiffel Tower", ["Eiffel Tower", "the tower"]), ("an apple a day", ["Apple Day"]),
    ("theater", ["the ater"]), ("Denver Broncos!", ["denver broncos"]), ("", [""]), ("", ["something"]),
    ("U.S.-based", ["US based"]), ("snake_case", ["snakecase"]), ("ΟΔΟΣ ΣΟΦΙΑΣ", ["οδος σοφιας", "οδοσ σοφιασ"]),
    ("İstanbul", ["i̇stanbul", "istanbul"]), ("বাংলাদেশ জিতেছে।", ["বাংলাদেশ জিতেছে"]),
    ("the\u09be word", ["word"]), ("the১ word", ["word"]), ("a\u00a0b\u2003c", ["a b c"]),
    ("বা\u09a1\u09bcি", ["বা\u09dcি"]), ("1,000 people", ["1000 people"]), ("the the the", ["the"]),
    ("«quoted» — dash", ["quoted dash"]), ("a b b c", ["b c c"]),
]


def squad_sets(data: Path):
    sst = [line.split("\t", 1)[1] for line in
           (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[600:700]]
    texts, _ = read_tsv(data / "bengali-absa" / "restaurant_test.tsv", 1, 2)
    rng = random.Random(401)
    items = []
    for t in sst:
        edited = perturb(t, rng, 0.2, ["the", "a", "An", ",", "!", "movie"])
        if rng.random() < 0.3:
            edited = edited.upper()
        items.append((edited, [t, perturb(t, rng, 0.3, ["film"])]))
    for t in texts[:60]:
        items.append((perturb(t, rng, 0.15, ["।", "!", "ভালো"]), [t]))
    items.extend(SQUAD_EDGE)
    out = []
    for prediction, truths in items:
        out.append(dict(prediction=prediction, ground_truths=truths,
                        normalized_prediction=normalize_answer(prediction),
                        normalized_ground_truths=[normalize_answer(t) for t in truths],
                        exact_match=float(metric_max_over_ground_truths(exact_match_score, prediction, truths)),
                        f1=float(metric_max_over_ground_truths(f1_score, prediction, truths))))
    total = len(out)
    summary = dict(exact_match=100.0 * sum(i["exact_match"] for i in out) / total,
                   f1=100.0 * sum(i["f1"] for i in out) / total)
    print(f"squad items={total} exact_match={summary['exact_match']:.4f} f1={summary['f1']:.4f}")
    return dict(items=out, summary=summary)


GSM8K_COMPLETIONS = [
    "She sold 48 + 24 = 72 clips.\n#### 72", "#### 1,080", "#### -5", "#### .5", "####72 apples", "##### 9",
    "#### abc then #### 12", "The answer is $1,234.56.", "So 3.14.15 is odd", "We get 5, 6, and 7,",
    "no digits here", "", "#### 72.", "Total: -3 degrees, then 4", "Answer: ১২৩ (Bengali digits) or 123",
    "#### 1,000\n#### 2,000", "x = 10-4 = 6", "It costs $ 1,000,000 dollars",
]


def gsm8k_items(data: Path):
    rows = [json.loads(line) for line in (data / "gsm8k" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    comma = [r["answer"] for r in rows if "," in r["answer"].split("####")[-1]][:40]
    texts = [r["answer"] for r in rows[:200]] + comma
    texts += [t.rsplit("####", 1)[0] for t in texts[:100]]  # without the final line: the last-number fallback
    texts += GSM8K_COMPLETIONS
    items = [dict(text=t, extracted=extract_gsm8k(t)) for t in texts]
    print(f"gsm8k items={len(items)} fallback={sum(1 for t in texts if not ANS_RE.search(t))} "
          f"none={sum(1 for i in items if i['extracted'] is None)}")
    return items


def perplexity_cases():
    cases = []
    for name, tokens, vocab, scale, ignored, seed in [("random-64x97", 64, 97, 3.0, 0.2, 501),
                                                      ("peaked-100x300", 100, 300, 6.0, 0.0, 502),
                                                      ("all-but-one-ignored-5x7", 5, 7, 1.0, 0.8, 503)]:
        g = torch.Generator().manual_seed(seed)
        logits = (torch.randn(tokens, vocab, generator=g) * scale).float()
        targets = torch.randint(0, vocab, (tokens,), generator=g)
        mask = torch.rand(tokens, generator=g) < ignored
        if name.startswith("all-but-one"):
            mask = torch.ones(tokens, dtype=torch.bool)
            mask[2] = False
        targets[mask] = -100
        nll = F.cross_entropy(logits.double(), targets, ignore_index=-100, reduction="none")
        mean = F.cross_entropy(logits.double(), targets, ignore_index=-100)
        mean32 = F.cross_entropy(logits, targets, ignore_index=-100)
        cases.append(dict(name=name, vocabulary_size=vocab, logits=logits.flatten().tolist(),
                          targets=targets.tolist(), token_nll=[nll[i].item() for i in range(tokens) if not mask[i]],
                          mean_nll=mean.item(), perplexity=math.exp(mean.item()),
                          mean_nll_float32=mean32.item()))
        print(f"perplexity {name:26s} mean_nll={mean.item():.6f} ppl={math.exp(mean.item()):.4f}")
    return cases


def main():
    env_ref = os.environ.get("FINCH_REFERENCE")
    env_models = os.environ.get("FINCH_MODELS")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path(env_ref) if env_ref else REPO / ".reference")
    ap.add_argument("--models", type=Path,
                    default=Path(env_models) if env_models else Path.home() / ".cache" / "finch" / "models")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)
    torch.set_num_threads(2)
    out = args.out / "metrics"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    versions = {name: version(name) for name in ("scikit-learn", "sacrebleu", "rouge-score", "numpy", "torch")}
    write_json(out / "classification.json", dict(versions=versions, cases=classification_cases(args.data)))
    bleu = bleu_cases(args.data)
    write_json(out / "bleu.json", dict(versions=versions, cases=bleu, tokenizer=tokenizer_cases(bleu)))
    write_json(out / "rouge.json", dict(versions=versions, sets=rouge_sets(args.data)))
    write_json(out / "squad.json", dict(versions=versions, **squad_sets(args.data)))
    write_json(out / "gsm8k.json", dict(versions=versions, items=gsm8k_items(args.data)))
    write_json(out / "perplexity.json", dict(versions=versions, cases=perplexity_cases()))


if __name__ == "__main__":
    main()

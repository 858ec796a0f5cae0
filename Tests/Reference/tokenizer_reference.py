#!/usr/bin/env python3
"""Reference tokenizer outputs for Finch's TokenizerTests.

For each model folder this writes OUT/tokenizers/<model>.json with what transformers'
`AutoTokenizer.from_pretrained(folder)` produces (ids, tokens, type ids, special-tokens masks,
decodes) for a fixed, deterministic set of strings taken from ../shared/data plus hand-written
Banglish and edge cases; truncated encodings, text pairs and padded batches; what the
`tokenizers` library's `Tokenizer.from_file(folder/tokenizer.json)` produces for the same strings;
and, when the folder has a SentencePiece model, what `sentencepiece` gives with the fairseq id
layout and what its Precompiled normalizer makes of each string. OUT/tokenizers/synthetic.json
holds tokenizer.json pipelines the real models do not use (built with `tokenizers` over cut-down
copies of their vocabularies) with their outputs. Run:

    HF_HUB_OFFLINE=1 .venv/bin/python Tests/Reference/tokenizer_reference.py [--out DIR] [--models DIR] [--data DIR]

`--unicode-tables` instead prints the character classes Finch's Bert normalizer and
pre-tokenizer take from the `tokenizers` library (Sources/Tokenizers/BertCharacterClasses.swift).
"""

import argparse
import base64
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parents[2]
MODELS = ["all-MiniLM-L6-v2", "multilingual-e5-small"]

BANGLISH = [
    "khela ta darun chilo",
    "ei match e Tamim onek bhalo khelse 😍",
    "ami tomake bhalobashi",
    "Mushfiq er batting dekhe mon bhore gelo",
    "restaurant er khabar ta ekdom baje chilo",
    "biriyani ta joss hoise bhai!!!",
    "service onek slow, 1 ghonta wait korlam",
    "Bangladesh jitbe inshallah 🇧🇩🇧🇩",
    "Shakib bhai is the best all-rounder",
    "ki je bolo na tumi, eta kono khela holo?",
    "price ta ektu beshi but taste valo",
    "Tamim vai er century miss hoye gelo 😢",
    "ajke weather ta onek shundor",
    "BCB er decision gula faltu",
    "এই match টা darun ছিল",
    "khabar valo, কিন্তু service খারাপ",
    "Mashrafe er captaincy te team ta ekdom change hoye gese",
    "kemon acho? ami valo achi :)",
    "fuchka khete chai, cholo jai",
    "oder bowling line-up ta weak, batting o tothoibo",
    "IPL e Mustafiz er cutter gulo unplayable!!",
]

EDGE_CASES = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\n\n\t \r\n",
    " leading space",
    "trailing space ",
    "  both sides  ",
    "multiple   spaces   inside",
    "tab\tseparated\twords",
    "line one\nline two\r\nline three",
    "\u00a0non-breaking\u00a0spaces\u00a0",
    "ideographic\u3000space",
    "emoji 😀😃😄 and 👍🏽 skin tone",
    "family 👨‍👩‍👧‍👦 zwj sequence",
    "flags 🇧🇩🇮🇳🇺🇸",
    "🥰🫠🧑‍💻",
    "ক্‍ষ র‍্যাব বাং‌লা",
    "zero\u200bwidth\u200cnon\u200djoiner",
    "e\u0301 cafe\u0301 Cafe\u0301",
    "Crème brûlée à la française, naïve façade, Ångström, Ærø",
    "ÀÉÎÕÜ àéîõü ñÑ çÇ ß ẞ",
    "我爱自然语言处理",
    "東京は日本の首都です。カタカナとひらがな",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Привет, мир!",
    "Γειά σου Κόσμε",
    "a" * 150,
    "ক" * 120,
    "supercalifragilisticexpialidocious" * 4,
    "Bangladeshবাংলাদেশ2024বিশ্বকাপ",
    "mixed: English বাংলা 中文 العربية हिन्दी 😀",
    "control\x00chars\x07here\x1b[0m",
    "bom\ufeffinside and soft\u00adhyphen",
    "replacement \ufffd char",
    "private use \ue000\U000f0000",
    "ＦＵＬＬＷＩＤＴＨ　ｔｅｘｔ１２３",
    "ligatures ﬁ ﬂ ﬀ and ① ② Ⅻ ™ ㎏ ½",
    "৳১২৩৪৫ টাকা। দাম ৫০০/-",
    "!!!???...,,,;;;",
    "“curly quotes” ‘single’ «guillemets» — – …",
    "C++ & C# are languages; 3.14 != 22/7 @user #hashtag https://example.com/a?b=c",
    "[MASK] [mask] [Mask] <mask> <MASK>",
    "hello <mask> world",
    "a<mask>b",
    "x  <mask>  y",
    "<s>hi</s>",
    "<unk> <pad> [UNK] [PAD] [CLS] [SEP]",
    "don't won't it's I'm you're we've",
    "UPPER lower MiXeD",
    "numbers 1234567890 3.14159 1,000,000",
    "▁ already has the meta symbol ▁▁",
    "combining ̀ at start and ̀̀ doubled",
    "\u0985\u09be\u09ae\u09bf \u09ad\u09be\u09b2\u09cb \u0986\u099b\u09bf",
    "য় য় ড় ড় ঢ় ঢ়",
    "কি\u09bc বাংলা\u09cd\u200d",
    "x" + "\u0301" * 8,
    "🏳️‍🌈 🏴‍☠️ ❤️ ✌🏿",
]


def read_tsv_texts(path, column, limit):
    rows = []
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) > column and parts[column].strip():
                rows.append(parts[column])
            if len(rows) >= limit:
                break
    return rows


def data_strings(data):
    absa = data / "bengali-absa"
    cricket = read_tsv_texts(absa / "cricket_train.tsv", 1, 150)
    restaurant = read_tsv_texts(absa / "restaurant_train.tsv", 1, 100)
    code_mixed = []
    for name in ["cricket_train", "cricket_dev", "cricket_test", "restaurant_train", "restaurant_dev", "restaurant_test"]:
        for text in read_tsv_texts(absa / f"{name}.tsv", 1, 10**9):
            if any("a" <= c.lower() <= "z" for c in text) and text not in cricket and text not in restaurant:
                code_mixed.append(text)
    sst2 = read_tsv_texts(data / "sst2" / "train.tsv", 1, 80) + read_tsv_texts(data / "sst2" / "dev.tsv", 1, 20)
    with open(data / "tweeteval-sentiment" / "val_text.txt", encoding="utf-8") as handle:
        tweets = [line.rstrip("\n") for _, line in zip(range(80), handle)]
    return cricket + restaurant + code_mixed[:100] + sst2 + tweets


def strings(data):
    seen, result = set(), []
    for text in data_strings(data) + BANGLISH + EDGE_CASES:
        if text not in seen:
            seen.add(text)
            result.append(text)
    return result


def encoding_record(encoding):
    """The parts of a `tokenizers.Encoding` the Swift tests compare."""
    return {"ids": encoding.ids, "tokens": encoding.tokens, "type_ids": encoding.type_ids,
            "special_mask": encoding.special_tokens_mask}


def auto_tokenizer_section(tokenizer, texts):
    """Single strings, truncation, pairs and batches through AutoTokenizer."""
    single = []
    for text in texts:
        output = tokenizer(text, return_special_tokens_mask=True)
        record = {"text": text, **encoding_record(output.encodings[0])}
        assert record["ids"] == output["input_ids"]
        record["decoded"] = tokenizer.decode(output["input_ids"])
        record["decoded_skip"] = tokenizer.decode(output["input_ids"], skip_special_tokens=True)
        record["plain_ids"] = tokenizer(text, add_special_tokens=False)["input_ids"]
        single.append(record)

    lengths = {record["text"]: len(record["ids"]) for record in single}
    by_length = sorted(texts, key=lambda text: -lengths[text])  # stable: ties keep their order
    truncated = []
    for max_length, count in ((128, 40), (16, 40), (3, 10), (2, 10), (1, 10), (0, 10)):
        for text in by_length[:count]:
            output = tokenizer(text, truncation=True, max_length=max_length, return_special_tokens_mask=True)
            truncated.append({"text": text, "max_length": max_length, **encoding_record(output.encodings[0])})

    pairs = []
    pair_texts = [t for t in texts if t.strip()][:200:4]
    edge_pairs = [("", "hello world"), ("hello world", ""), ("   ", "x"), ("<mask>", "[MASK]"), (" a ", " b ")]
    for first, second in list(zip(pair_texts, pair_texts[1:])) + edge_pairs:
        for max_length in (None, 32, 16, 7, 3):
            kwargs = {"truncation": True, "max_length": max_length} if max_length else {}
            output = tokenizer(first, second, return_special_tokens_mask=True, **kwargs)
            pairs.append({"text": first, "pair": second, "max_length": max_length, **encoding_record(output.encodings[0])})

    batches = []
    for start in range(0, 400, 50):
        group = texts[start : start + 8]
        output = tokenizer(group, padding=True)
        batches.append({"texts": group, "padding": "longest", "max_length": None, "ids": output["input_ids"],
                        "attention_mask": output["attention_mask"],
                        "type_ids": [e.type_ids for e in output.encodings]})
    group = texts[-40:-33] + [""]
    for padding, max_length in (("longest", 12), ("max_length", 24), ("max_length", 64)):
        output = tokenizer(group, padding=padding, truncation=True, max_length=max_length)
        batches.append({"texts": group, "padding": padding, "max_length": max_length, "ids": output["input_ids"],
                        "attention_mask": output["attention_mask"],
                        "type_ids": [e.type_ids for e in output.encodings]})
    firsts, seconds = pair_texts[:6], pair_texts[6:12]
    output = tokenizer(firsts, seconds, padding=True, truncation=True, max_length=40)
    batches.append({"texts": firsts, "pairs": seconds, "padding": "longest", "max_length": 40,
                    "ids": output["input_ids"], "attention_mask": output["attention_mask"],
                    "type_ids": [e.type_ids for e in output.encodings]})
    return {"single": single, "truncated": truncated, "pairs": pairs, "batches": batches}


def tokenizer_json_section(folder, texts):
    """Ids from tokenizer.json alone, with the padding and truncation it stores switched off."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    records = []
    for text in texts:
        encoding = tokenizer.encode(text)
        records.append({"text": text, **encoding_record(encoding),
                        "decoded": tokenizer.decode(encoding.ids, skip_special_tokens=False)})
    pairs = []
    for first, second in zip(texts[0:40], texts[40:80]):
        encoding = tokenizer.encode(first, second)
        pairs.append({"text": first, "pair": second, **encoding_record(encoding)})
    return {"single": records, "pairs": pairs}


def sentencepiece_section(folder, texts, special_tokens):
    """fairseq-layout ids (<s>=0 <pad>=1 </s>=2 <unk>=3, pieces shifted by one) from sentencepiece."""
    import sentencepiece

    model = folder / "sentencepiece.bpe.model"
    if not model.exists():
        return None
    processor = sentencepiece.SentencePieceProcessor(model_file=str(model))
    records = []
    for text in texts:
        if any(token in text for token in special_tokens):
            continue
        pieces = processor.encode(text)
        ids = [0] + [3 if piece == processor.unk_id() else piece + 1 for piece in pieces] + [2]
        records.append({"text": text, "ids": ids})
    return {"piece_count": processor.get_piece_size(), "single": records}


def synthetic_tokenizers(models):
    """tokenizer.json pipelines the two real models do not use, over cut-down copies of their vocabularies."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models as model_types, normalizers, pre_tokenizers, processors

    minilm = json.loads((models / "all-MiniLM-L6-v2" / "tokenizer.json").read_text(encoding="utf-8"))
    e5 = json.loads((models / "multilingual-e5-small" / "tokenizer.json").read_text(encoding="utf-8"))
    wordpiece_vocab = {token: index for token, index in minilm["model"]["vocab"].items() if index < 6000}
    unigram_vocab = [tuple(entry) for entry in e5["model"]["vocab"][:8000]]
    byte_vocab = unigram_vocab + [(f"<0x{byte:02X}>", -30.0) for byte in range(256)]
    charsmap = base64.b64decode(e5["normalizer"]["normalizers"][0]["precompiled_charsmap"])
    built = {}

    tokenizer = Tokenizer(model_types.WordPiece(wordpiece_vocab, unk_token="[UNK]", max_input_chars_per_word=20))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(),
                                                 normalizers.Replace("``", '"'), normalizers.Strip()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.BertProcessing(("[SEP]", 102), ("[CLS]", 101))
    tokenizer.decoder = decoders.WordPiece(cleanup=False)
    tokenizer.add_special_tokens(["[CLS]", "[SEP]", "[MASK]"])
    tokenizer.add_tokens([AddedToken("hello world", single_word=True), AddedToken("<Extra>", lstrip=True, rstrip=True),
                          AddedToken("mask", normalized=True)])
    built["wordpiece-nfd-whitespace-bert"] = tokenizer

    tokenizer = Tokenizer(model_types.WordPiece(wordpiece_vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.BertNormalizer(lowercase=False)])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                       pre_tokenizers.Punctuation("contiguous")])
    tokenizer.post_processor = processors.RobertaProcessing(("[SEP]", 102), ("[CLS]", 101))
    tokenizer.add_special_tokens(["[CLS]", "[SEP]"])
    built["wordpiece-nfkc-punctuation-roberta"] = tokenizer

    tokenizer = Tokenizer(model_types.Unigram(byte_vocab, unk_id=3, byte_fallback=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                             special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="first")
    tokenizer.add_special_tokens(["<s>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True)])
    built["unigram-bytefallback-metaspace-first"] = tokenizer

    tokenizer = Tokenizer(model_types.Unigram(unigram_vocab, unk_id=3))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Precompiled(charsmap), normalizers.Lowercase(),
                                                 normalizers.Prepend("▁")])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Punctuation("merged_with_previous"),
                                                       pre_tokenizers.Metaspace(prepend_scheme="never")])
    tokenizer.decoder = decoders.Metaspace(prepend_scheme="never")
    built["unigram-precompiled-punctuation-never"] = tokenizer

    tokenizer = Tokenizer(model_types.Unigram(unigram_vocab, unk_id=3))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Strip(left=False, right=True)])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Punctuation("merged_with_next"),
                                                       pre_tokenizers.Metaspace(split=False)])
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.add_tokens([AddedToken("hello", single_word=True, normalized=False)])
    built["unigram-nfc-metaspace-unsplit"] = tokenizer
    return built


def synthetic_section(models, texts):
    section = {}
    for name, tokenizer in synthetic_tokenizers(models).items():
        cases = []
        for text in texts:
            encoding = tokenizer.encode(text)
            cases.append({"text": text, **encoding_record(encoding),
                          "decoded": tokenizer.decode(encoding.ids, skip_special_tokens=False)})
        for first, second in zip(texts[:20], texts[20:40]):
            cases.append({"text": first, "pair": second, **encoding_record(tokenizer.encode(first, second))})
        section[name] = {"tokenizer": json.loads(tokenizer.to_str()), "cases": cases}
    return section


def precompiled_section(folder, texts):
    """What the Precompiled normalizer of the folder's tokenizer.json makes of each string."""
    from tokenizers import normalizers

    spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["normalizer"]["normalizers"][0]
    normalizer = normalizers.Precompiled(base64.b64decode(spec["precompiled_charsmap"]))
    extra = ["\r\n", "ｆｕｌｌ", "ℌ", "①", "\u3000", "e\u0301", "A\u030a", "\u1100\u1161", "ﬁ", "㈱", "x\u0301\u0302"]
    return [{"text": text, "normalized": normalizer.normalize_str(text)} for text in texts + extra]


def build(folder, texts):
    import tokenizers
    import transformers
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    reference = {
        "model": folder.name,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "tokenizer_class": type(tokenizer).__name__,
        "vocabulary_size": len(tokenizer),
        "pad_id": tokenizer.pad_token_id,
        "backend": {key: backend.get(key) for key in ("pre_tokenizer", "post_processor", "decoder")},
        "auto": auto_tokenizer_section(tokenizer, texts),
        "tokenizer_json": tokenizer_json_section(folder, texts),
    }
    spm = sentencepiece_section(folder, texts, [str(t) for t in tokenizer.all_special_tokens])
    if spm is not None:
        reference["sentencepiece"] = spm
        reference["precompiled"] = precompiled_section(folder, texts)
    return reference


def unicode_tables():
    """Character classes the `tokenizers` library (its own, older Unicode tables) uses for Bert."""
    from tokenizers import normalizers, pre_tokenizers

    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    split = pre_tokenizers.BertPreTokenizer()
    removed, nonspacing, punctuation = [], [], []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        if clean.normalize_str(char) == "":
            removed.append(code)
        if strip.normalize_str(char) == "":
            nonspacing.append(code)
        pieces = split.pre_tokenize_str("x" + char + "x")
        if len(pieces) == 3 and pieces[1][0] == char:
            punctuation.append(code)

    def ranges(codes):
        spans = []
        for code in codes:
            if spans and spans[-1][1] == code - 1:
                spans[-1][1] = code
            else:
                spans.append([code, code])
        return ", ".join(f"0x{a:X}...0x{b:X}" for a, b in spans)

    for name, codes in (("removedByCleanText", removed), ("nonspacingMarks", nonspacing), ("punctuation", punctuation)):
        print(f"{name}: {ranges(codes)}\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / ".reference")
    parser.add_argument("--models", type=Path,
                        default=Path(os.environ.get("FINCH_MODELS", Path.home() / ".cache/finch/models")))
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--unicode-tables", action="store_true")
    args = parser.parse_args()
    if args.unicode_tables:
        unicode_tables()
        return
    texts = strings(args.data)
    (args.out / "tokenizers").mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        folder = args.models / name
        if not (folder / "tokenizer_config.json").exists():
            sys.exit(f"model folder {folder} is missing; run ../shared/models/get-models.sh")
        reference = build(folder, texts)
        path = args.out / "tokenizers" / f"{name}.json"
        path.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        print(f"{path}: {len(reference['auto']['single'])} strings")
    synthetic_texts = [t for t in texts if len(t) < 200][::6] + BANGLISH + EDGE_CASES
    path = args.out / "tokenizers" / "synthetic.json"
    section = synthetic_section(args.models, list(dict.fromkeys(synthetic_texts)))
    path.write_text(json.dumps(section, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    print(f"{path}: {len(section)} pipelines")


if __name__ == "__main__":
    main()

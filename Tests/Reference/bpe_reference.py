#!/usr/bin/env python3
"""Reference outputs for Finch's byte-level BPE tokenizer and chat templates (Tests/TokenizerTests/BPETests.swift,
ChatTemplateTests.swift).

Writes OUT/bpe/:
- smollm2-gguf/: transformers' `AutoTokenizer.from_pretrained(SmolLM2 GGUF folder, gguf_file=...)` saved with
  `save_pretrained` (tokenizer.json, tokenizer_config.json, chat_template.jinja), and `gguf_vocab.json` with the GGUF
  tokenizer metadata (tokens, merges, token_type, bos/eos/pad/unk ids, pre, add_bos/add_eos, chat_template), so the
  Swift tests can call the GGUF factory without a GGUF reader.
- <variant>/tokenizer.json for tokenizers built with the `tokenizers` library over the same vocabulary and merges:
  `llama3` (Llama-3 Split regex + ByteLevel without regex, ignore_merges, a BOS template inside a post-processor
  Sequence), `qwen2` (Qwen2's Split regex), `digits` (Digits(individual_digits) + ByteLevel, as SmolLM2's own
  tokenizer.json), `prefix` (ByteLevel with add_prefix_space, merges written as "a b" strings).
- cases.json: the test strings and, per variant (`gguf` = the transformers tokenizer), ids without and with special
  tokens and decode(ids with special tokens).
- chat.json: SmolLM2's `apply_chat_template(tokenize=False)` for several conversations with and without a system
  message and generation prompt, the UTF-8 byte span of each assistant turn (content through the end-of-turn token),
  and the same for Llama-3, Llama-2, Mistral, Gemma and Zephyr templates (template text written here, rendered by
  transformers' Jinja).

    HF_HUB_OFFLINE=1 .venv/bin/python Tests/Reference/bpe_reference.py [--out DIR] [--models DIR] [--data DIR]
"""

import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_common import fresh_dir, parse_args, write_json  # noqa: E402

from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors  # noqa: E402
from tokenizers.models import BPE  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

MODEL = "SmolLM2-135M-Instruct-GGUF"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

HANDWRITTEN = [
    "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \r\n ", "a\r\nb", "a\n\nb", "a \n b", "a  \n\n  b",
    "Hello world", " Hello world", "Hello  world", "Hello   world ", "  leading", "trailing  ", "tab\tseparated\tvalues",
    "multiple    spaces    here", "line one\nline two\n", "x\r\n\r\ny", "\t\tindented", " \t \n mixed",
    "I'm sure you'll see it's what they've done, we'd say.", "DON'T SHOUT, I'LL HEAR", "It'S O'Reilly's 'quoted'",
    "'s 't 're 've 'm 'll 'd", "rock'n'roll", "he'ſ", "x'Re'VE",
    "1", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "-42", "+7e10", "0x1F", "2024-05-17",
    "I have 3 apples and 12 oranges.", "½ ² ³ Ⅻ ٣٤٥ ১২৩", "$12.50 / €3,99", "100%", "phone: +1 (555) 010-9999",
    "café résumé naïve", "Ångström Øre Æsir", "e\u0301 vs é", "Straße", "ﬁne ﬂow", "ΑΒΓ αβγ Ωμέγα", "Привет, мир!",
    "日本語のテキスト", "中文测试，标点。", "한국어 문장", "ไทย", "עברית", "العربية", "हिन्दी", "ẞ ſ K Å",
    "emoji 😀😃😄 🎉", "👍🏽 👨‍👩‍👧‍👦 🇧🇩🇺🇸", "❤️ ☺️", "a😀b", "😀", "🤖🤖🤖", "\u200b\u200d\ufeff",
    "\u00a0non\u00a0breaking\u00a0", "\u3000ideographic\u3000space", "\u2028line\u2029para", "\u0085next", "\x1c\x1d\x1e\x1f",
    "def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }", "if x != None: print('hi')",
    "```python\nimport numpy as np\n```", "<div class=\"a\">Hi</div>", "SELECT * FROM t WHERE id = 1;",
    "https://example.com/path?q=1&r=2#frag", "user@example.com", "foo_bar_baz = fooBarBaz", "snake_case CamelCase",
    "    four spaces", "\ttab\n\ttab", "a\\nb", "!!!???...", "--- *** ___", "...", "—–-", "«quotes» “curly” ‘single’",
    "<|im_start|>user\nhi<|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more", "<|endoftext|><|endoftext|>", " <|im_end|> ", "<|im_start|>", "<|im_start", "im_start|>",
    "<repo_name>finch<file_sep>main.swift", "<|im_end|>\n<|im_start|>assistant",
    "a" * 300, "ab" * 200, "😀" * 50, "1" * 100, " " * 40, "word " * 60,
    "Ĳ ĳ Ŀ ŀ ł Ń ń", "ĠĊ ĉ Ā", "Ġhello", "Ċ",
]

BANGLISH = [
    "khela ta darun chilo", "ei match e Tamim onek bhalo khelse 😍", "ami tomake bhalobashi",
    "restaurant er khabar ta ekdom baje chilo", "biriyani ta joss hoise bhai!!!", "service onek slow, 1 ghonta wait korlam",
    "Bangladesh jitbe inshallah 🇧🇩🇧🇩", "ki je bolo na tumi, eta kono khela holo?", "এই match টা darun ছিল",
    "khabar valo, কিন্তু service খারাপ", "kemon acho? ami valo achi :)", "Tamim vai er century miss hoye gelo 😢",
]


def tsv_column(path: Path, column: str, limit: int) -> list:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row[column] for row in rows[:limit]]


def test_strings(data: Path) -> list:
    strings = list(HANDWRITTEN) + BANGLISH
    strings += tsv_column(data / "sst2" / "dev.tsv", "content", 150)
    with open(data / "gsm8k" / "train.jsonl", encoding="utf-8") as handle:
        for _, line in zip(range(80), handle):
            item = json.loads(line)
            strings += [item["question"], item["answer"]]
    strings += tsv_column(data / "bengali-absa" / "cricket_dev.tsv", "text", 90)
    strings += tsv_column(data / "bengali-absa" / "restaurant_dev.tsv", "text", 90)
    seen, unique = set(), []
    for text in strings:
        if text not in seen:
            seen.add(text)
            unique.append(text)
    return unique


def gguf_metadata(path: Path) -> dict:
    import gguf

    reader = gguf.GGUFReader(str(path))

    def value(key):
        field = reader.fields.get(key)
        return None if field is None else field.contents()

    return {
        "model": value("tokenizer.ggml.model"), "pre": value("tokenizer.ggml.pre"),
        "tokens": value("tokenizer.ggml.tokens"), "merges": value("tokenizer.ggml.merges"),
        "token_type": value("tokenizer.ggml.token_type"),
        "bos_id": value("tokenizer.ggml.bos_token_id"), "eos_id": value("tokenizer.ggml.eos_token_id"),
        "pad_id": value("tokenizer.ggml.padding_token_id"), "unk_id": value("tokenizer.ggml.unknown_token_id"),
        "add_bos": value("tokenizer.ggml.add_bos_token"), "add_eos": value("tokenizer.ggml.add_eos_token"),
        "chat_template": value("tokenizer.chat_template"),
    }


def variant_tokenizers(saved: Path) -> dict:
    """Tokenizers over the GGUF vocabulary with other pre-tokenizers and options."""
    base = json.loads((saved / "tokenizer.json").read_text(encoding="utf-8"))
    vocab, merges = base["model"]["vocab"], [tuple(m) for m in base["model"]["merges"]]
    added = base["added_tokens"]

    def build(pre, ignore_merges=False, post=None):
        tokenizer = Tokenizer(BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
        tokenizer.pre_tokenizer = pre
        tokenizer.decoder = decoders.ByteLevel()
        tokenizer.post_processor = post or processors.ByteLevel(trim_offsets=False)
        tokenizer.add_special_tokens([token["content"] for token in added])
        return tokenizer

    no_regex = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    bos = processors.TemplateProcessing(single="<|im_start|> $A", pair="<|im_start|> $A <|im_start|>:1 $B:1",
                                        special_tokens=[("<|im_start|>", 1)])
    return {
        "llama3": (build(pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_SPLIT), "isolated"), no_regex]),
                         ignore_merges=True, post=processors.Sequence([processors.ByteLevel(trim_offsets=False), bos])),
                   False),
        "qwen2": (build(pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(QWEN2_SPLIT), "isolated"), no_regex])),
                  False),
        "digits": (build(pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                  pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])),
                   False),
        "prefix": (build(pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)), True),
    }


def save_variant(tokenizer: Tokenizer, folder: Path, string_merges: bool) -> None:
    fresh_dir(folder)
    document = json.loads(tokenizer.to_str())
    if string_merges:
        document["model"]["merges"] = [" ".join(pair) for pair in document["model"]["merges"]]
    write_json(folder / "tokenizer.json", document)
    # The file must load back to the same tokenizer.
    assert Tokenizer.from_file(str(folder / "tokenizer.json")).to_str() == tokenizer.to_str() or string_merges


CONVERSATIONS = [
    [("user", "Hi!")],
    [("system", "You are a pirate."), ("user", "Where is the treasure?")],
    [("user", "What is 2+2?"), ("assistant", "2+2 = 4.")],
    [("system", "Be brief."), ("user", "Name a colour."), ("assistant", "Blue."), ("user", "Another?"),
     ("assistant", "Green.")],
    [("user", "  spaced  \n"), ("assistant", " answer with spaces "), ("user", "বাংলা তে বলো 😀")],
    [("user", "Line one\nLine two"), ("assistant", "Reply\n\nwith paragraphs"), ("user", "ok")],
]

# Templates of the other families, as their model repositories publish them.
FAMILY_TEMPLATES = {
    "llama3": ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
               "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
               "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
               "{{ content }}{% endfor %}{% if add_generation_prompt %}"
               "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
               {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}),
    "llama2": ("{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
               "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
               "{% endif %}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}"
               "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
               "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
               "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
               "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
               {"bos_token": "<s>", "eos_token": "</s>"}),
    "mistral": ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
                "{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
                {"bos_token": "<s>", "eos_token": "</s>"}),
    "gemma": ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'assistant') %}"
              "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
              "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}",
              {"bos_token": "<bos>", "eos_token": "<eos>"}),
    "zephyr": ("{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content']"
               " + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + "
               "eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + "
               "eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n"
               "{% endif %}\n{% endfor %}",
               {"bos_token": "<s>", "eos_token": "</s>"}),
}

END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>", "llama2": "</s>", "mistral": "</s>",
               "gemma": "<end_of_turn>", "zephyr": "</s>"}


def chat_cases(tokenizer, family: str, template: str | None, extra: dict) -> list:
    def render(messages, generation):
        return tokenizer.apply_chat_template(
            [{"role": r, "content": c} for r, c in messages], tokenize=False, add_generation_prompt=generation,
            chat_template=template, **extra)

    cases = []
    for conversation in CONVERSATIONS:
        if family in ("mistral", "gemma") and conversation[0][0] == "system":
            continue  # these templates have no system role
        for generation in (False, True):
            text = render(conversation, generation)
            spans = []
            for index, (role, _) in enumerate(conversation):
                if role != "assistant":
                    continue
                start = len(render(conversation[:index], True)) if family not in ("llama2", "mistral") \
                    else len(render(conversation[:index], False))
                end = text.index(END_OF_TURN[family], start) + len(END_OF_TURN[family])
                spans.append([len(text[:start].encode()), len(text[:end].encode())])
            cases.append({"messages": [list(m) for m in conversation], "add_generation_prompt": generation,
                          "text": text, "assistant_spans": spans})
    return cases


def main() -> None:
    args = parse_args(__doc__)
    out = args.out / "bpe"
    fresh_dir(out)
    model_dir = args.models / MODEL
    gguf_tok = AutoTokenizer.from_pretrained(str(model_dir), gguf_file=GGUF_FILE)
    saved = out / "smollm2-gguf"
    gguf_tok.save_pretrained(str(saved))
    metadata = gguf_metadata(model_dir / GGUF_FILE)
    write_json(saved / "gguf_vocab.json", metadata)

    variants = variant_tokenizers(saved)
    for name, (tokenizer, string_merges) in variants.items():
        save_variant(tokenizer, out / name, string_merges)

    strings = test_strings(args.data)
    results = {"gguf": []}
    for text in strings:
        plain = gguf_tok(text, add_special_tokens=False)["input_ids"]
        special = gguf_tok(text, add_special_tokens=True)["input_ids"]
        results["gguf"].append({"ids": plain, "ids_special": special, "decoded": gguf_tok.decode(special)})
    for name, (tokenizer, _) in variants.items():
        results[name] = []
        for text in strings:
            plain = tokenizer.encode(text, add_special_tokens=False).ids
            special = tokenizer.encode(text, add_special_tokens=True).ids
            results[name].append({"ids": plain, "ids_special": special,
                                  "decoded": tokenizer.decode(special, skip_special_tokens=False)})
    write_json(out / "cases.json", {"strings": strings, "variants": results, "vocabulary_size": len(gguf_tok)})

    chat = {"smollm2": {"template": metadata["chat_template"],
                        "cases": chat_cases(gguf_tok, "chatml", None, {})}}
    for family, (template, extra) in FAMILY_TEMPLATES.items():
        chat[family] = {"template": template, **extra, "cases": chat_cases(gguf_tok, family, template, extra)}
    write_json(out / "chat.json", chat)
    print(f"bpe: {len(strings)} strings, variants {sorted(results)}, chat families {sorted(chat)}")


if __name__ == "__main__":
    main()

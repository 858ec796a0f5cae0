"""Writes the seed corpus of every fuzz target into Fuzz/Corpus/<target>/ from the project's own material:
Finch lines and cells (parser tests, golden files, tutorials, notebooks), real Jupyter messages, small
safetensors and GGUF files, config.json files, tiny tokenizers retrained on the pipelines of real ones, and
table samples. Run from the repository root with the reference Python (`.venv/bin/python Fuzz/make-corpus.py`);
models come from $FINCH_MODELS (default ~/.cache/finch/models) and are skipped when absent.
"""
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "Fuzz" / "Corpus"
MODELS = Path(os.environ.get("FINCH_MODELS", Path.home() / ".cache/finch/models"))
DATA = ROOT.parent / "shared" / "data"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def language():
    seeds = []
    source = (ROOT / "Tests/LanguageTests/ParserFuzzTests.swift").read_text()
    corpus = source[source.index("static let corpus"):source.index("/// Pieces that tend")]
    for raw, plain in re.findall(r'#"(.*?)"#|"((?:[^"\\]|\\.)*)"', corpus):
        seeds.append(raw if raw else plain.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace"))
    for path in sorted((ROOT / "Tests/LanguageTests/Golden").glob("*/*.txt")):
        seeds.append(path.read_text().split("\n---\n")[0])
    for path in sorted((ROOT / "tutorials").glob("*.md")):
        seeds += re.findall(r"```finch\n(.*?)```", path.read_text(), re.S)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                seeds.append("".join(cell["source"]))
    for text in dict.fromkeys(s for s in seeds if s.strip()):
        write("language", hashlib.sha1(text.encode()).hexdigest()[:16], text)


def wire():
    header = lambda kind, n: {"msg_id": f"m{n}", "msg_type": kind, "session": "s1", "username": "u", "date": "2026-01-01T00:00:00.000000Z", "version": "5.4"}
    messages = [
        ("kernel_info_request", {}), ("execute_request", {"code": "lora r=16\ntrain epochs=1", "silent": False, "store_history": True,
                                                           "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}),
        ("is_complete_request", {"code": "sweep lr=[1e-4,"}), ("complete_request", {"code": "lora r", "cursor_pos": 6}),
        ("inspect_request", {"code": "train", "cursor_pos": 3, "detail_level": 1}), ("history_request", {"output": False, "raw": True, "hist_access_type": "tail", "n": 10}),
        ("comm_info_request", {"target_name": ""}), ("shutdown_request", {"restart": False}), ("interrupt_request", {}),
        ("execute_request", {"code": "print \"আমি \\u{1F600}\" 😀", "silent": False}),
    ]
    for n, (kind, content) in enumerate(messages):
        parts = [json.dumps(header(kind, n)).encode(), json.dumps(header("execute_request", 99) if n % 2 else {}).encode(),
                 json.dumps({"k": [1, 2.5, -3e-7, None, True]} if n % 3 == 0 else {}).encode(), json.dumps(content, ensure_ascii=n % 2 == 0).encode()]
        identities = [b"client-" + str(n).encode()] if n % 4 else []
        buffers = [b"\x01\x02buffer"] if n == 3 else []
        for mode, signature in ((3, b""), (1, hmac.new(b"fuzz-key", b"".join(parts), hashlib.sha256).hexdigest().encode()), (0, b"")):
            frames = identities + [b"<IDS|MSG>", signature] + parts + buffers
            write("wire", f"{kind}-{n}-{mode}", bytes([mode]) + b"\x00".join(frames))


def safetensors():
    import numpy as np
    from safetensors.numpy import save
    arrays = {
        "f32": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, dtype=np.float32)},
        "mixed": {"h": np.arange(4, dtype=np.float16), "d": np.arange(2, dtype=np.float64), "i": np.arange(3, dtype=np.int64),
                  "u": np.arange(5, dtype=np.uint8), "s": np.arange(3, dtype=np.int16), "t": np.array([True, False])},
        "empty": {"z": np.zeros((0, 4), dtype=np.float32), "scalar": np.array(3.5, dtype=np.float32)},
    }
    for name, tensors in arrays.items():
        write("safetensors", name, save(tensors, metadata={"format": "pt"} if name == "f32" else None))
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    write("safetensors", "bf16", struct.pack("<Q", len(header)) + header + b"\x80\x3f\x00\x40")


def gguf():
    import numpy as np
    import gguf as g
    folder = CORPUS / "gguf"
    folder.mkdir(parents=True, exist_ok=True)
    for name, quant in (("f32", None), ("q8", g.GGMLQuantizationType.Q8_0)):
        path = folder / f"{name}.gguf"
        writer = g.GGUFWriter(str(path), "llama")
        writer.add_block_count(1)
        writer.add_context_length(16)
        writer.add_tokenizer_model("gpt2")
        writer.add_token_list(["a", "b", "ab", "Ġ", "<|endoftext|>"])
        writer.add_token_merges(["a b"])
        writer.add_token_types([1, 1, 1, 1, 3])
        writer.add_bos_token_id(4)
        writer.add_eos_token_id(4)
        writer.add_array("general.tags", [1.5, 2.5])
        data = np.arange(64, dtype=np.float32).reshape(2, 32)
        if quant is None:
            writer.add_tensor("w", data)
            writer.add_tensor("v", np.ones(3, dtype=np.float16))
        else:
            writer.add_tensor("w", g.quants.quantize(data, quant), raw_dtype=quant)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()


def configs():
    for folder in sorted(MODELS.glob("*")):
        if (folder / "config.json").exists():
            write("config", folder.name, (folder / "config.json").read_bytes())
    llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
             "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
             "max_position_embeddings": 8192, "tie_word_embeddings": True, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": [2, 0]}
    write("config", "smollm2", json.dumps(llama, indent=2))
    write("config", "qwen2", json.dumps(dict(llama, model_type="qwen2", head_dim=64, rope_parameters={"rope_theta": 1e6, "rope_type": "default"})))
    write("config", "distilbert", json.dumps({"model_type": "distilbert", "vocab_size": 30522, "dim": 768, "n_heads": 12, "n_layers": 6,
                                              "hidden_dim": 3072, "max_position_embeddings": 512, "activation": "gelu",
                                              "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "dropout": 0.1}))


def tokenizers():
    from tokenizers import Tokenizer, trainers
    texts = ["Hello, world! LoRA adapters are small.", "আমি খুব খুশি, খেলা দারুণ", "Ünïcödé 😀 你好 123 4.5k", "ami khub happy"] * 20
    sources = [MODELS / "all-MiniLM-L6-v2/tokenizer.json", MODELS / "multilingual-e5-small/tokenizer.json"]
    sources += sorted((ROOT / ".reference/bpe").glob("*/tokenizer.json"))
    for path in sources:
        if not path.exists():
            continue
        tokenizer = Tokenizer.from_file(str(path))
        kind = json.loads(path.read_text())["model"]["type"]
        special = [t.content for t in tokenizer.get_added_tokens_decoder().values()][:8]
        trainer = {"BPE": trainers.BpeTrainer, "WordPiece": trainers.WordPieceTrainer, "Unigram": trainers.UnigramTrainer}[kind](
            vocab_size=120, special_tokens=special, **({"unk_token": special[0]} if kind == "Unigram" and special else {}))
        tokenizer.train_from_iterator(texts, trainer=trainer)
        name = path.parent.name
        text = tokenizer.to_str()
        # XLM-R's Precompiled charsmap is ~300 KB, past max_len: NFKC stands in for it.
        text = re.sub(r'\{"type":\s*"Precompiled",\s*"precompiled_charsmap":\s*"[^"]*"\}', '{"type": "NFKC"}', text)
        write("tokenizer", name, text)
        config = path.parent / "tokenizer_config.json"
        if config.exists():
            settings = json.loads(config.read_text())
            settings.pop("added_tokens_decoder", None)
            write("tokenizer", name + "-with-config", text.encode() + b"\x00" + json.dumps(settings).encode())


def tables():
    for path, lines in (("sst2/dev.tsv", 12), ("bengali-absa/cricket_dev.tsv", 8), ("gsm8k/train.jsonl", 2), ("tweeteval-sentiment/train.csv", 10)):
        full = DATA / path
        if full.exists():
            with open(full, "rb") as f:
                write("table", path.replace("/", "-"), b"".join(f.readline() for _ in range(lines)))
    write("table", "quoted.csv", 'text,label\r\n"খেলা, দারুণ",pos\n"he said ""hi""\nthen left",neg\nplain,neu\n')
    write("table", "chat.jsonl", '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], "id": 1}\n'
                                 '{"messages": [], "id": null, "label": "x"}\n')


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    for make in (language, wire, safetensors, gguf, configs, tokenizers, tables):
        make()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")

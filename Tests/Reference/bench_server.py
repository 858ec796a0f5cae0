#!/usr/bin/env python3
"""PyTorch side of `finch bench`: serves timed passes so Finch can interleave its own rounds.

Modes (the same work Finch does in each):
  inference  forward only (inference_mode), AutoModel
  lora-qv    a training step (train mode, dropout as configured, forward + cross-entropy + backward +
             AdamW step) of AutoModelForSequenceClassification(num_labels=3) with PEFT LoRA r=16,
             alpha=32, dropout 0.05 on query,value
  lora-all   the same with target_modules="all-linear"
  qlora      lora-all over a bitsandbytes 4-bit base (BitsAndBytesConfig nf4, double quantization, block 64,
             compute dtype float32, the classifier head kept in float32), as qlora_reference.py loads it
  full       the same without PEFT (every parameter trains)

Protocol (one JSON object per output line):
  start  -> {"ready": true, "torch": version, "threads": n, "load_seconds": s}
  "run K" on stdin -> {"seconds": [t1, ..., tK], "max_rss_kb": n}
  "quit" or EOF -> exit

The input is the one Finch builds: token ids 1000 + (b * 7919 + s * 104729) % 20000 for 0 < s < seq-1,
[CLS]=101 first, [SEP]=102 last, no padding, token types 0, mask all ones; labels b % 3.
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def benchmark_token(b, s, seq):
    if s == 0:
        return 101
    if s == seq - 1:
        return 102
    return 1000 + (b * 7919 + s * 104729) % 20000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--mode", default="inference", choices=["inference", "lora-qv", "lora-all", "qlora", "full"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started = time.perf_counter()
    ids = torch.tensor([[benchmark_token(b, s, args.seq) for s in range(args.seq)] for b in range(args.batch)])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    labels = torch.tensor([b % 3 for b in range(args.batch)])

    if args.mode == "inference":
        model = AutoModel.from_pretrained(args.model, attn_implementation="sdpa").eval()

        def one_pass():
            with torch.inference_mode():
                model(**inputs)
    else:
        if args.mode == "qlora":
            import bitsandbytes
            from transformers import BitsAndBytesConfig
            config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                        bnb_4bit_compute_dtype=torch.float32, llm_int8_skip_modules=["classifier"])
            model = AutoModelForSequenceClassification.from_pretrained(
                args.model, num_labels=3, quantization_config=config, attn_implementation="sdpa", device_map="cpu")
            for module in model.modules():
                if isinstance(module, bitsandbytes.nn.Linear4bit):
                    module.support_avx512bf16_for_cpu = False  # as qlora_reference.py: keep float32 products
        else:
            model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=3, attn_implementation="sdpa")
        if args.mode.startswith("lora") or args.mode == "qlora":
            from peft import LoraConfig, get_peft_model
            targets = ["query", "value"] if args.mode == "lora-qv" else "all-linear"
            model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=16, lora_alpha=32, lora_dropout=0.05,
                                                     target_modules=targets))
        model.train()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

        def one_pass():
            loss = torch.nn.functional.cross_entropy(model(**inputs).logits, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    one_pass()  # warm-up
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "load_seconds": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        seconds = []
        for _ in range(int(words[1]) if len(words) > 1 else 1):
            t0 = time.perf_counter()
            one_pass()
            seconds.append(time.perf_counter() - t0)
        print(json.dumps({"seconds": seconds, "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}),
              flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch side of `finch bench`: serves timed forward passes so Finch can interleave its own rounds.

Protocol (one JSON object per output line):
  start  -> {"ready": true, "torch": version, "threads": n, "load_seconds": s}
  "run K" on stdin -> {"seconds": [t1, ..., tK], "max_rss_kb": n}   (K forward passes, each timed)
  "quit" or EOF -> exit

The input is the one Finch builds: token ids 1000 + (b * 7919 + s * 104729) % 20000 for s > 0,
[CLS]=101 at s = 0, [SEP]=102 at the end, no padding, token types 0, mask all ones.
"""
import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import AutoModel

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    model = AutoModel.from_pretrained(args.model, attn_implementation="sdpa").eval()
    ids = torch.tensor([[benchmark_token(b, s, args.seq) for s in range(args.seq)] for b in range(args.batch)])
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask, token_type_ids=types)  # warm-up
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "load_seconds": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        count = int(words[1]) if len(words) > 1 else 1
        seconds = []
        with torch.inference_mode():
            for _ in range(count):
                t0 = time.perf_counter()
                model(input_ids=ids, attention_mask=mask, token_type_ids=types)
                seconds.append(time.perf_counter() - t0)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"seconds": seconds, "max_rss_kb": rss}), flush=True)


def benchmark_token(b, s, seq):
    if s == 0:
        return 101
    if s == seq - 1:
        return 102
    return 1000 + (b * 7919 + s * 104729) % 20000


if __name__ == "__main__":
    main()

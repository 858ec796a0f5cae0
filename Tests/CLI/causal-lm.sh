#!/usr/bin/env bash
# Causal LMs end to end on SmolLM2-135M-Instruct (Q4_1 GGUF): Finch's greedy generation with the base model and
# with a LoRA adapter it trained and saved equals transformers + PEFT on the same dequantized weights (each token
# the argmax, log-probabilities within 1e-4; Tests/Reference/causal_generate_check.py); PEFT loads the adapter
# without missing keys; the saved adapter loads back into Finch and generates the same; bad input is refused
# with a message. Needs the finch binary (path as $1), .venv (scripts/setup) and the GGUF in $FINCH_MODELS.
set -uo pipefail
finch=${1:?usage: causal-lm.sh FINCH_BINARY}
python=${PYTHON:-.venv/bin/python}
models=${FINCH_MODELS:-$HOME/.cache/finch/models}
gguf_dir="$models/SmolLM2-135M-Instruct-GGUF"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
# The Nth (from 0) generate value of a --json run (the JSON lines holding "prompt_ids"), written to a file.
generated() { grep '"prompt_ids"' "$1" | sed -n "$(($2 + 1))p" > "$3"; }
verify() { HF_HUB_OFFLINE=1 "$python" Tests/Reference/causal_generate_check.py --gguf-dir "$gguf_dir" --gguf-file SmolLM2-135M-Instruct.Q4_1.gguf "$@"; }
same() { "$python" -c "import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); sys.exit(0 if (a[sys.argv[3]]==b[sys.argv[3]]) == (sys.argv[4]=='same') else 1)" "$@"; }

head -n 12 ../shared/data/gsm8k/train.jsonl > "$work/gsm8k.jsonl"
cat > "$work/train.finch" <<SCRIPT
model load "SmolLM2-135M-Instruct-GGUF"
generate "What is 7 times 8?" max_tokens=16
data load "$work/gsm8k.jsonl" prompt=question response=answer
lora r=4 alpha=8 targets=all-linear dropout=0
train max_steps=2 batch=2 lr=5e-3 max_length=160
save adapter "$work/adapter"
generate "What is 7 times 8?" max_tokens=16
SCRIPT
FINCH_MODELS="$models" "$finch" run --json "$work/train.finch" > "$work/train.out" 2> "$work/train.err"; status=$?
check "load, generate, lora, train, save adapter run" '[ "$status" -eq 0 ]'
generated "$work/train.out" 0 "$work/base.json"
generated "$work/train.out" 1 "$work/tuned.json"
check "base model: greedy tokens and log-probabilities equal transformers'" 'verify --finch "$work/base.json"'
check "the saved adapter is PEFT's CAUSAL_LM layout" \
  '"$python" -c "import json,sys; c=json.load(open(sys.argv[1])); sys.exit(0 if c[\"task_type\"]==\"CAUSAL_LM\" and c[\"r\"]==4 else 1)" "$work/adapter/adapter_config.json"'
check "trained adapter in PEFT: greedy tokens and log-probabilities equal Finch's" 'verify --adapter "$work/adapter" --finch "$work/tuned.json"'
check "the adapter changed the model (log-probabilities differ from the base)" 'same "$work/base.json" "$work/tuned.json" logprobs differ'

cat > "$work/reload.finch" <<SCRIPT
model load "SmolLM2-135M-Instruct-GGUF"
load adapter "$work/adapter"
generate "What is 7 times 8?" max_tokens=16
SCRIPT
FINCH_MODELS="$models" "$finch" run --json "$work/reload.finch" > "$work/reload.out" 2>&1
generated "$work/reload.out" 0 "$work/reload.json"
check "the adapter loads back into Finch and generates the same tokens" 'same "$work/tuned.json" "$work/reload.json" ids same'

printf 'GGUF\003\000\000\000' > "$work/broken.gguf"
printf 'model load "%s"\n' "$work/broken.gguf" > "$work/broken.finch"
FINCH_MODELS="$models" "$finch" run "$work/broken.finch" > "$work/broken.out" 2>&1
check "a truncated GGUF is refused with its path and 'truncated'" 'grep -q "broken.gguf" "$work/broken.out" && grep -qi "truncated" "$work/broken.out"'

printf '{"question": "", "answer": "4"}\n' > "$work/empty.jsonl"
printf 'data load "%s" prompt=question response=answer\n' "$work/empty.jsonl" > "$work/empty.finch"
FINCH_MODELS="$models" "$finch" run "$work/empty.finch" > "$work/empty.out" 2>&1
check "an empty prompt is refused with its line" 'grep -q "line 1" "$work/empty.out" && grep -q "prompt" "$work/empty.out"'

echo "causal-lm.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

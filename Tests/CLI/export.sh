#!/usr/bin/env bash
# `export script`, `export model`, `export config` against the libraries that run them: Finch trains LoRA on 30
# rows of SST-2 with all-MiniLM-L6-v2, exports; the exported script (transformers Trainer + PEFT, CPU) runs 3
# steps and its learning rates (steps 1-3) and losses (steps 1-2: step 1 has lr 0 in warmup, so step 2 still
# starts from the same weights) equal Finch's within 1e-4; transformers loads the merged folder and its
# log-probabilities equal Finch's `predict` within 1e-4; the accelerate and DeepSpeed configs pass their
# libraries' loaders. Needs the finch binary ($1), .venv (torch, transformers, peft, accelerate, deepspeed)
# and all-MiniLM-L6-v2 under $FINCH_MODELS (default ~/.cache/finch/models).
set -uo pipefail
finch=$(realpath "${1:?usage: export.sh FINCH_BINARY}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
models=${FINCH_MODELS:-$HOME/.cache/finch/models}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
if [ ! -f "$models/all-MiniLM-L6-v2/config.json" ]; then
  echo "SKIP: export checks need $models/all-MiniLM-L6-v2"; exit 0
fi

# 40 rows of SST-2's dev set, 20 of each label, in file order.
awk -F'\t' 'NR == 1 { print; next } ($1 == 0 && a < 20) { print; a++ } ($1 == 1 && b < 20) { print; b++ }' \
  "$repo/../shared/data/sst2/dev.tsv" > "$work/tiny.tsv"
cat > "$work/export.finch" <<'FINCH'
data load "tiny.tsv" text=content label=label
data split train=75% valid=25% test=0% seed=7
model load "all-MiniLM-L6-v2"
lora r=8 alpha=16 dropout=0 targets=[query, value]
train epochs=2 batch=8 lr=1e-3 warmup=2 model_dropout=false seed=11
plot loss
plot lr
export script "out/train.py" launcher=accelerate deepspeed=zero3
export script "out2/train.py" deepspeed=zero2
export config "out/axolotl.yaml"
export model "out/merged"
predict "a gorgeous , witty , seductive movie ." "the acting is bad and the plot is worse ." "মোটামুটি ভালো"
FINCH
(cd "$work" && FINCH_MODELS="$models" "$finch" run --json export.finch > finch.jsonl 2> finch.err); status=$?
check "finch trains and exports (exit 0)" '[ "$status" -eq 0 ] || { cat "$work/finch.err"; false; }'
check "export script wrote the script, accelerate config, ZeRO-3 JSON and the initial head" \
  '[ -f "$work/out/train.py" ] && [ -f "$work/out/accelerate_config.yaml" ] && [ -f "$work/out/ds_zero3.json" ] && [ -f "$work/out/train.init.safetensors" ]'
check "export model wrote config, safetensors and tokenizer files" \
  '[ -f "$work/out/merged/config.json" ] && [ -f "$work/out/merged/model.safetensors" ] && [ -f "$work/out/merged/vocab.txt" ]'
check "export config wrote an Axolotl YAML that parses" \
  '"$python" -c "import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); assert c[\"adapter\"] == \"lora\" and c[\"lora_r\"] == 8, c" "$work/out/axolotl.yaml"'
check "the script's header says how to launch on one GPU, several GPUs and several nodes" \
  'grep -q "one GPU" "$work/out/train.py" && grep -q "several GPUs:.*accelerate launch" "$work/out/train.py" && grep -q "several nodes" "$work/out/train.py"'

(cd "$work" && HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 "$python" out/train.py --stop-after 3 --dump-first-steps steps.json \
  --output-dir "$work/hf" > script.out 2>&1); status=$?
check "the exported script runs 3 steps on the CPU" '[ "$status" -eq 0 ] || { tail -30 "$work/script.out"; false; }'
check "its learning rates (steps 1-3) and losses (steps 1-2) equal Finch's within 1e-4" \
  'HF_HUB_OFFLINE=1 "$python" "$repo/Tests/Reference/export_check.py" steps "$work/finch.jsonl" "$work/steps.json" 2'
check "transformers loads the merged folder; log-probabilities equal Finch's predict within 1e-4" \
  'HF_HUB_OFFLINE=1 "$python" "$repo/Tests/Reference/export_check.py" merged "$work/finch.jsonl" "$work/out/merged"'
cp -r "$work/out/merged" "$work/out2/merged"
check "accelerate's loader and DeepSpeed's config class accept the configs (ZeRO-3 with accelerate, ZeRO-2)" \
  'HF_HUB_OFFLINE=1 "$python" "$repo/Tests/Reference/export_check.py" configs "$work/out" && HF_HUB_OFFLINE=1 "$python" "$repo/Tests/Reference/export_check.py" configs "$work/out2"'

# QLoRA: every linear layer but the head in NF4 (double quantization), as load_in_4bit does; same data and seed.
cat > "$work/qlora.finch" <<'FINCH'
data load "tiny.tsv" text=content label=label
data split train=75% valid=25% test=0% seed=7
model load "all-MiniLM-L6-v2"
qlora r=8 alpha=16 dropout=0 targets=[query, value]
train epochs=2 batch=8 lr=1e-3 warmup=2 model_dropout=false seed=11
plot loss
plot lr
export script "q/train.py"
FINCH
(cd "$work" && FINCH_MODELS="$models" "$finch" run --json qlora.finch > qlora.jsonl 2> qlora.err); status=$?
check "finch trains QLoRA and exports (exit 0)" '[ "$status" -eq 0 ] || { cat "$work/qlora.err"; false; }'
(cd "$work" && HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 "$python" q/train.py --stop-after 2 --dump-first-steps qsteps.json \
  --output-dir "$work/hfq" > qscript.out 2>&1); status=$?
check "the exported QLoRA script (transformers + bitsandbytes 4-bit) runs 2 steps on the CPU" '[ "$status" -eq 0 ] || { tail -30 "$work/qscript.out"; false; }'
check "its learning rates and losses (steps 1-2) equal Finch's QLoRA run within 1e-4" \
  'HF_HUB_OFFLINE=1 "$python" "$repo/Tests/Reference/export_check.py" steps "$work/qlora.jsonl" "$work/qsteps.json" 2'

echo "export: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# `save model "DIR"` writes a Hugging Face folder that transformers loads: after `qlora` (NF4 with double
# quantization, and FP4 without) its 4-bit layers come back as bitsandbytes Linear4bit holding exactly
# quantize_4bit's bytes, and the probabilities are Finch's within 1e-4 (Tests/Reference/load_finch_4bit.py);
# without qlora the weights are float32. Finch loads its own 4-bit folder as 4 bits (model info), `qlora` on it
# does not quantize again, and it predicts what it predicted before saving. Needs the finch binary (path as $1),
# .venv with transformers + bitsandbytes (scripts/setup) and all-MiniLM-L6-v2 in $FINCH_MODELS.
set -uo pipefail
finch=${1:?usage: save-model.sh FINCH_BINARY}
python=${PYTHON:-.venv/bin/python}
models=${FINCH_MODELS:-$HOME/.cache/finch/models}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
texts='"a gripping, beautifully acted film" "the plot is thin and the jokes fall flat" "it was fine, i guess"'
# The last JSON line of a run: the predict value.
last() { tail -1 "$1" > "$2"; }
# Field of one JSON line of a --json run (line number, python expression over v).
field() { "$python" -c "import json,sys; v=[json.loads(l) for l in open(sys.argv[1], encoding='utf-8')][int(sys.argv[2])]; print($3)" "$1" "$2"; }

# 1. qlora (NF4, double quantization) then save: transformers loads it as 4 bits with bitsandbytes' own bytes.
cat > "$work/nf4.finch" <<EOF
model load "all-MiniLM-L6-v2" labels=3 seed=7
qlora r=8 alpha=16
save model "$work/nf4"
predict $texts
EOF
FINCH_MODELS="$models" "$finch" run --json "$work/nf4.finch" > "$work/nf4.out" 2> "$work/nf4.err"; status=$?
check "qlora + save model runs" '[ "$status" -eq 0 ]'
check "the save reports 37 layers in 4 bits and that the adapter is not included" \
  '[ "$(field "$work/nf4.out" 2 "v[\"quantized_layers\"], v[\"quant\"], v[\"adapter_included\"]")" = "37 nf4 False" ]'
check "the folder holds config.json, model.safetensors and the tokenizer files" \
  '[ -f "$work/nf4/config.json" ] && [ -f "$work/nf4/model.safetensors" ] && [ -f "$work/nf4/tokenizer.json" ] && [ -f "$work/nf4/vocab.txt" ]'
last "$work/nf4.out" "$work/nf4.json"
check "transformers loads the NF4 folder: Linear4bit with quantize_4bit's bytes, Finch's probabilities" \
  '"$python" Tests/Reference/load_finch_4bit.py "$work/nf4" "$work/nf4.json" --source "$models/all-MiniLM-L6-v2" --quant nf4 --double-quant'

# 2. Finch reads its own 4-bit folder: 4-bit base, no second quantization, the same predictions.
cat > "$work/reload.finch" <<EOF
model load "$work/nf4"
qlora r=8 alpha=16 quant=fp4
predict $texts
EOF
FINCH_MODELS="$models" "$finch" run --json "$work/reload.finch" > "$work/reload.out" 2> "$work/reload.err"; status=$?
check "model load of the 4-bit folder and qlora on it run" '[ "$status" -eq 0 ]'
check "model info says the base is 4-bit (37 layers, nf4)" '[ "$(field "$work/reload.out" 0 "v[\"quantized_layers\"], v[\"quant\"]")" = "37 nf4" ]'
FINCH_MODELS="$models" "$finch" run "$work/reload.finch" > "$work/reload.txt" 2>&1
check "qlora keeps the stored 4-bit layers and ignores quant=fp4" \
  'grep -q "already in 4 bits (nf4, block 64, double quantization): 37 layers kept as stored" "$work/reload.txt" && grep -q "quant, block and double_quant are ignored" "$work/reload.txt" && ! grep -q "^quantized " "$work/reload.txt"'
last "$work/reload.out" "$work/reload.json"
check "the reloaded model predicts what Finch predicted before saving" \
  '"$python" -c "import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); assert max(abs(x[\"probabilities\"][k]-y[\"probabilities\"][k]) for x,y in zip(a,b) for k in x[\"probabilities\"]) <= 1e-6, (a,b)" "$work/nf4.json" "$work/reload.json"'

# 3. FP4 without double quantization.
cat > "$work/fp4.finch" <<EOF
model load "all-MiniLM-L6-v2" labels=2 seed=3
qlora r=4 alpha=8 quant=fp4 double_quant=false
save model "$work/fp4"
predict $texts
EOF
FINCH_MODELS="$models" "$finch" run --json "$work/fp4.finch" > "$work/fp4.out" 2> "$work/fp4.err"; status=$?
check "qlora quant=fp4 double_quant=false + save model runs" '[ "$status" -eq 0 ]'
last "$work/fp4.out" "$work/fp4.json"
check "transformers loads the FP4 folder with quantize_4bit's bytes and Finch's probabilities" \
  '"$python" Tests/Reference/load_finch_4bit.py "$work/fp4" "$work/fp4.json" --source "$models/all-MiniLM-L6-v2" --quant fp4'

# 4. No qlora: float32, and an attached LoRA adapter is said not to be included.
cat > "$work/fp32.finch" <<EOF
model load "all-MiniLM-L6-v2" labels=3 seed=11
lora r=8 alpha=16
save model "$work/fp32"
predict $texts
EOF
FINCH_MODELS="$models" "$finch" run "$work/fp32.finch" > "$work/fp32.txt" 2>&1; status=$?
check "lora + save model runs and says only the base is written" \
  '[ "$status" -eq 0 ] && grep -q "only the base model is written: the adapter is not in it (write it with save adapter)" "$work/fp32.txt"'
FINCH_MODELS="$models" "$finch" run --json "$work/fp32.finch" > "$work/fp32.out" 2> /dev/null
last "$work/fp32.out" "$work/fp32.json"
check "transformers loads the float32 folder (no quantization_config) with Finch's probabilities" \
  '! grep -q quantization_config "$work/fp32/config.json" && "$python" Tests/Reference/load_finch_4bit.py "$work/fp32" "$work/fp32.json" --quant none'

echo "save-model: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# A training run killed with SIGKILL right after a checkpoint (while the next steps and checkpoint
# writes are under way) resumes with `finch finetune --resume` and ends with an adapter byte-identical
# to the uninterrupted run's. Needs the release build of finch (path as $1).
set -euo pipefail
finch=${1:?usage: kill-and-resume.sh FINCH_BINARY}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run=(finetune --steps 40 --rows 300 --threads 1)
"$finch" "${run[@]}" --output "$work/straight" > "$work/straight.log"
"$finch" "${run[@]}" --checkpoints "$work/ck" --save-every 10 --output "$work/resumed" > "$work/killed.log" &
pid=$!
for _ in $(seq 1 600); do [ -d "$work/ck/checkpoint-20" ] && break; sleep 0.1; done
sleep 0.7
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
ls "$work/ck" | grep -q '^checkpoint-20$' || { echo "FAIL: no checkpoint-20 survived the kill"; exit 1; }
"$finch" "${run[@]}" --checkpoints "$work/ck" --save-every 10 --resume --output "$work/resumed" > "$work/resumed.log"
grep -q "resuming from" "$work/resumed.log" || { echo "FAIL: the run did not resume"; exit 1; }
if cmp -s "$work/straight/adapter_model.safetensors" "$work/resumed/adapter_model.safetensors"; then
  echo "kill-and-resume: 1 passed, 0 failed"
else
  echo "FAIL: the resumed adapter differs from the uninterrupted run's"; exit 1
fi

#!/usr/bin/env bash
# A training run predicted not to fit in memory is refused before it allocates anything, with what it
# needs and what to change, and the session goes on: `finch repl` reading cells from a pipe, with
# FINCH_MEMORY_LIMIT far below the run's need, then far above it (the run trains). Needs the finch binary
# (path as $1), the model all-MiniLM-L6-v2 (scripts/setup) and ../shared/data/sst2/dev.tsv.
set -uo pipefail
finch=${1:?usage: memory-guard.sh FINCH_BINARY}
data=$(cd "$(dirname "$0")/../../../shared/data/sst2" && pwd)/dev.tsv
passed=0 failed=0
expect() { if grep -qF -- "$2" <<< "$3"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1: no \"$2\" in:"; echo "$3" | tail -20; fi; }
cells() {
  printf '%s\n' "data load \"$data\" text=content label=label" "data sample n=64 seed=1" 'model load "all-MiniLM-L6-v2"' \
    "lora r=8" "train max_steps=2 batch=16 max_length=64" "print 6*7"
}
refused=$(cells | FINCH_MEMORY_LIMIT=50MB "$finch" repl 2>&1)
expect "refusal" "this run needs about" "$refused"
expect "refusal names what is available" "is available" "$refused"
expect "refusal says what to change" "a smaller batch= (now 16)" "$refused"
expect "refusal points at memory" '`memory` shows where the bytes go' "$refused"
expect "the session answers after the refusal" "42" "$refused"
if grep -q "step 2/2" <<< "$refused"; then failed=$((failed + 1)); echo "FAIL: the refused run trained"; fi
trained=$(cells | FINCH_MEMORY_LIMIT=64GB "$finch" repl 2>&1)
expect "a run that fits trains" "step 2/2" "$trained"
echo "memory-guard: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

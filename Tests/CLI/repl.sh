#!/usr/bin/env bash
# `finch repl` in a real terminal (tmux): line editing, history (Up arrow, the history file), TAB completion,
# multi-line entry, Bengali text, Ctrl-C during `sleep 30` and during a real `train` (then `train resume`
# finishes the run), Ctrl-D. Needs the release build of finch (path as $1), tmux, python3, the model
# all-MiniLM-L6-v2 in $FINCH_MODELS (default ~/.cache/finch/models) and ../shared/data/sst2/dev.tsv.
# Every wait polls the screen and gives up after a bounded time.
set -uo pipefail
finch=$(realpath "${1:?usage: repl.sh FINCH_BINARY}")
cd "$(dirname "$0")/../.."
command -v tmux > /dev/null || { echo "FAIL: tmux is not installed"; exit 1; }
models=${FINCH_MODELS:-$HOME/.cache/finch/models}
data=../shared/data/sst2/dev.tsv
[ -d "$models/all-MiniLM-L6-v2" ] || { echo "FAIL: no model $models/all-MiniLM-L6-v2 (scripts/setup fetches it)"; exit 1; }
[ "$(head -1 "$data" | tr -d '\r')" = "$(printf 'label\tcontent')" ] || { echo "FAIL: $data lacks the label/content columns"; exit 1; }

work=$(mktemp -d)
socket="finch-repl-test-$$"
tmux() { command tmux -u -L "$socket" "$@"; }
trap 'tmux kill-server 2> /dev/null; rm -rf "$work"' EXIT
passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; echo "----- screen -----"; screen | tail -15; echo "------------------"; fi; }

# The whole pane with its scrollback, trailing blank lines dropped.
screen() { tmux capture-pane -p -J -t repl -S -2000 | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
# Polls until the screen matches the extended regex $1 (grep -E), for at most $2 seconds.
wait_for() {
  local deadline=$(( $(date +%s%N) + ${2:-10} * 1000000000 ))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do
    screen | grep -qE "$1" && return 0
    sleep 0.05
  done
  return 1
}
# The last line is an empty prompt.
at_prompt() { [ "$(screen | tail -1 | sed 's/ *$//')" = "finch>" ]; }
# Polls until the prompt is back (at most $1 seconds).
wait_prompt() {
  local deadline=$(( $(date +%s%N) + ${1:-10} * 1000000000 ))
  while [ "$(date +%s%N)" -lt "$deadline" ]; do at_prompt && return 0; sleep 0.05; done
  return 1
}
# Types $1 literally, then Enter, then waits for the prompt (at most $2 seconds).
run() { tmux send-keys -t repl -l "$1"; tmux send-keys -t repl Enter; sleep 0.1; wait_prompt "${2:-10}"; }
# Lines of the screen matching the extended regex $1.
count() { screen | grep -cE "$1"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

started=$(now_ms)
tmux new-session -d -s repl -x 160 -y 50 \
  "cd '$PWD' && FINCH_HISTORY='$work/history' FINCH_MODELS='$models' '$finch' repl; echo \"EXIT:\$?\" > '$work/exit'; sleep 60"
check "banner, then the prompt" 'wait_for "^Finch .*help lists the commands, Ctrl-D exits" 20 && wait_prompt 10'

# Editing: type, move left, insert, run.
tmux send-keys -t repl -l "prnt 42"; tmux send-keys -t repl Left Left Left Left Left; tmux send-keys -t repl -l "i"
check "moving left and inserting edits the line" 'wait_for "^finch> print 42 *$" 5'
tmux send-keys -t repl Enter
check "the edited line runs" 'wait_for "^42$" 5 && wait_prompt 5'

# History: Up recalls the previous statement.
tmux send-keys -t repl Up
check "Up recalls the previous statement" 'wait_for "^finch> print 42 *$" 5 && [ "$(count "^finch> print 42 *$")" -eq 2 ]'
tmux send-keys -t repl Enter
check "the recalled statement runs" 'wait_prompt 5 && [ "$(count "^42$")" -eq 2 ]'

# TAB completion: a single match is inserted; Ctrl-C then abandons the line.
tmux send-keys -t repl -l "dat"; tmux send-keys -t repl Tab
check "dat + TAB completes to data" 'wait_for "^finch> data *$" 5'
tmux send-keys -t repl C-c
check "Ctrl-C at the prompt abandons the line" 'wait_for "^finch> data *\^C$" 5 && wait_prompt 5'
tmux send-keys -t repl -l "lora ta"; tmux send-keys -t repl Tab
check "lora ta + TAB completes to targets=" 'wait_for "^finch> lora targets=$" 5'
tmux send-keys -t repl C-c; wait_prompt 5
tmux send-keys -t repl -l "data s"; tmux send-keys -t repl Tab
check "several matches are listed below the line" 'wait_for "show.*split|split.*show" 5 && wait_for "^finch> data s$" 5'
tmux send-keys -t repl C-c; wait_prompt 5

# Multi-line entry: an open [ continues on the next line.
tmux send-keys -t repl -l "x = [1,"; tmux send-keys -t repl Enter
check "an open [ asks for another line" 'wait_for "^  \.\.\.> " 5'
tmux send-keys -t repl -l "2]"; tmux send-keys -t repl Enter; wait_prompt 5
run "x"
check "the multi-line value is [1, 2]" 'wait_for "^\[1, 2\]$" 5'

# Bengali text round-trips through the line editor and print.
run 'print "আমি খুব খুশি"'
check "Bengali text prints back exactly" 'wait_for "^আমি খুব খুশি$" 5'

# Ctrl-C during sleep 30: back at the prompt within a second.
tmux send-keys -t repl -l "sleep 30"; tmux send-keys -t repl Enter
sleep 0.5
t0=$(now_ms); tmux send-keys -t repl C-c
wait_for "sleep interrupted" 5 && wait_prompt 5; t1=$(now_ms)
check "Ctrl-C stops sleep 30 within 1 s ($((t1 - t0)) ms)" '[ $((t1 - t0)) -lt 1000 ] && wait_for "^cell\[[0-9]+\]:1:1: error: sleep interrupted" 1'

# Ctrl-C during a real train, then train resume finishes the run in the same session.
run "data load \"$data\" text=content label=label" 30
run "data sample n=64" 10
run 'model load "all-MiniLM-L6-v2"' 60
run "lora r=4" 10
check "data, model and adapter set up without errors" '[ "$(count "error:")" -eq 1 ]'
tmux send-keys -t repl -l "train max_steps=30 batch=8 max_length=32"; tmux send-keys -t repl Enter
check "training shows a progress line at step 2 or later" 'wait_for "step ([2-9]|[12][0-9])/30 " 60'
t0=$(now_ms); tmux send-keys -t repl C-c
wait_for "train interrupted" 5 && wait_prompt 5; t1=$(now_ms)
check "Ctrl-C stops train within 1 s ($((t1 - t0)) ms)" '[ $((t1 - t0)) -lt 1000 ]'
check "the error line says train resume continues" 'wait_for "error: train interrupted at step [0-9]+ of 30.*train resume" 1'
stopped=$(screen | grep -oE "train interrupted at step [0-9]+" | tail -1 | grep -oE "[0-9]+$")
check "the progress line was ended, not overwritten by the error" 'wait_for "^step [0-9]+/30 .*(\^C)?$" 1'
t0=$(now_ms)
run "train resume" 120; t1=$(now_ms)
check "train resume finishes the run ($((t1 - t0)) ms, from step ${stopped:-?})" \
  'wait_for "^step 30/30 " 1 && [ "$(count "error:")" -eq 2 ]'
run "sessions" 10
check "sessions shows the run" 'screen | sed -n "/^finch> sessions/,\$p" | grep -qiE "run|train"'

# Ctrl-D on an empty line exits 0 and the history file holds the statements.
tmux send-keys -t repl C-d
for _ in $(seq 1 100); do [ -s "$work/exit" ] && break; sleep 0.05; done
check "Ctrl-D exits with status 0" '[ "$(cat "$work/exit" 2> /dev/null)" = "EXIT:0" ]'
history_text() {
  python3 - "$work/history" << 'EOF'
import re, sys
raw = open(sys.argv[1], "rb").read()
# libedit writes entries vis(3)-encoded: octal escapes such as \040 for a space.
print(re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), raw).decode("utf-8", "replace"))
EOF
}
check "the history file holds the statements" \
  'h=$(history_text) && grep -qx "print 42" <<< "$h" && grep -qx "sleep 30" <<< "$h" && grep -qx "train resume" <<< "$h" && grep -qx "print \"আমি খুব খুশি\"" <<< "$h"'

echo "repl: $passed passed, $failed failed ($(( ($(now_ms) - started) / 1000 )) s)"
[ "$failed" -eq 0 ]

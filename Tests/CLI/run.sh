#!/usr/bin/env bash
# `finch run FILE`: a script runs as one cell; the first error prints FILE:LINE:COL: error: … on stderr and
# exits 1 (statements before it ran, none after); --json prints one JSON value a line on stdout; a missing
# file is a clear error; a Markdown file runs its finch blocks. Needs the finch binary (path as $1) and python3; no model.
set -uo pipefail
finch=${1:?usage: run.sh FINCH_BINARY}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }

# A script that works: outputs, print and the final value, in order, status 0.
printf 'x = 6*7\nprint x\nprint "আমি খুব খুশি"\nx + 1\n' > "$work/ok.finch"
"$finch" run "$work/ok.finch" > "$work/ok.out" 2> "$work/ok.err"; status=$?
check "a working script exits 0" '[ "$status" -eq 0 ]'
check "prints 42, the Bengali line and the last value 43" '[ "$(cat "$work/ok.out")" = "$(printf "42\nআমি খুব খুশি\n43")" ]'
check "nothing on stderr" '[ ! -s "$work/ok.err" ]'

# An error in line 2: reported with the file's path, line and column, a caret; status 1; line 3 never runs.
printf 'print "before"\nlora rnk=4\nprint "after"\n' > "$work/bad.finch"
"$finch" run "$work/bad.finch" > "$work/bad.out" 2> "$work/bad.err"; status=$?
check "an error exits 1" '[ "$status" -eq 1 ]'
check "stderr names FILE:2:COL: error:" 'head -1 "$work/bad.err" | grep -qE "^$work/bad.finch:2:[0-9]+: error: unknown option .rnk."'
check "stderr shows the line and a caret" 'sed -n 2p "$work/bad.err" | grep -qx "lora rnk=4" && sed -n 3p "$work/bad.err" | grep -qE "^ +\^~*$"'
check "statements before the error ran, none after" '[ "$(cat "$work/bad.out")" = "before" ]'

# --json: every stdout line is JSON (values, print as {"stream": …}), the error too; status 1.
printf 'x = 6*7\nprint x\nx\n[1, 2]\nprint "আমি" to=stderr\nnope\n' > "$work/json.finch"
"$finch" run --json "$work/json.finch" > "$work/json.out" 2> "$work/json.err"; status=$?
check "--json with an error exits 1" '[ "$status" -eq 1 ]'
check "--json prints 5 lines" '[ "$(wc -l < "$work/json.out")" -eq 5 ]'
check "every --json line parses with json.loads" \
  'python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1], encoding=\"utf-8\")]" "$work/json.out"'
check "print is a stream line, the value is 42" \
  'python3 -c "import json,sys; l=[json.loads(x) for x in open(sys.argv[1], encoding=\"utf-8\")]; assert l[0]=={\"stream\":\"stdout\",\"text\":\"42\n\"} and l[1]==42 and l[2]==[1,2] and l[3][\"stream\"]==\"stderr\" and l[4][\"line\"]==6, l" "$work/json.out"'
check "--json errors still render on stderr" 'grep -q "json.finch:6:1: error: unknown command" "$work/json.err"'

# Files that cannot run.
"$finch" run "$work/missing.finch" > /dev/null 2> "$work/missing.err"; status=$?
check "a missing file exits 1 with 'no such file'" '[ "$status" -eq 1 ] && grep -q "missing.finch: error: no such file" "$work/missing.err"'
printf 'Prose.\n\n```finch\nx = 6\nprint x * 7\n```\n\n```finch\nfrobnicate\n```\n' > "$work/notes.md"
"$finch" run "$work/notes.md" > "$work/md.out" 2> "$work/md.err"; status=$?
check "a .md file runs its finch blocks; errors carry the Markdown line" \
  '[ "$status" -eq 1 ] && [ "$(cat "$work/md.out")" = "42" ] && grep -q "notes.md:9:1: error: unknown command" "$work/md.err"'

# Statements from a pipe (finch with no subcommand is the REPL): no prompt, status 1 after an error.
printf 'y = [1,\n2]\ny\nnope\n' | "$finch" > "$work/pipe.out" 2> "$work/pipe.err"; status=$?
check "piped REPL prints [1, 2] and exits 1 after an error" \
  '[ "$status" -eq 1 ] && [ "$(cat "$work/pipe.out")" = "[1, 2]" ] && grep -q "^<stdin>:4:1: error:" "$work/pipe.err"'

echo "run: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

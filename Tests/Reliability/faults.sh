#!/usr/bin/env bash
# Fault injection against a finch binary (Tests/Reliability/faults.py): SIGKILL during training, inside
# checkpoint / `save adapter` / `export model` writes (FINCH_FAULT points), a full disk (tmpfs; skipped with
# a message when mount is refused), a client that vanishes mid-cell, and interrupts at random moments of a
# training step. Prints PASS/FAIL per scenario and "N passed, M failed"; exits 1 on a failure.
#
#   Tests/Reliability/faults.sh FINCH_BINARY [--only WORD ...] [--seed N]
#
# Needs .venv (jupyter_client; scripts/setup) or $FINCH_PYTHON, and all-MiniLM-L6-v2 under $FINCH_MODELS.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 FINCH_BINARY [--only WORD ...] [--seed N]" >&2
  exit 2
fi
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
root="$(cd "$(dirname "$0")/../.." && pwd)"
python="${FINCH_PYTHON:-$root/.venv/bin/python}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$binary" kernel install --prefix "$tmp/prefix" >/dev/null
export JUPYTER_PATH="$tmp/prefix/share/jupyter"
export JUPYTER_DATA_DIR="$tmp/data"
export JUPYTER_RUNTIME_DIR="$tmp/runtime"
export JUPYTER_CONFIG_DIR="$tmp/config"
export JUPYTER_PLATFORM_DIRS=1
export FINCH_HISTORY_FILE="$tmp/history.jsonl"
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" "$JUPYTER_CONFIG_DIR"

"$python" "$root/Tests/Reliability/faults.py" --finch "$binary" "$@"

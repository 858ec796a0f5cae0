#!/usr/bin/env bash
# Runs the Python kernel tests (jupyter_kernel_test's checks and Finch's protocol checks) against a
# finch binary, with its kernelspec installed into a temporary Jupyter path so nothing of the user's
# Jupyter setup or cell history is touched.
#
#   Tests/Kernel/run.sh FINCH_BINARY [pytest arguments...]
#
# Python: $FINCH_PYTHON, else the repository's .venv/bin/python (jupyter_client, jupyter_kernel_test,
# pytest, nbclient, nbformat, ipykernel; see scripts/setup).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 FINCH_BINARY [pytest arguments...]" >&2
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

cd "$root"
"$python" -m pytest -q -p no:cacheprovider Tests/Kernel "$@"

#!/usr/bin/env bash
# build.sh DIR [cmake args...]: configures (once) and builds parley into DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
cmake -S "$root" -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" 2>&1 | grep -E "error|warning|Error" || true
cmake --build "$dir" -j"$(nproc)" >/dev/null

#!/usr/bin/env bash
# tests/fuzz/run_meson.sh TARGET: what meson's fuzz suite runs: run.sh TARGET for
# $DURO_FUZZ_SECONDS seconds (default 0: replay the seed corpus only).
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
exec bash "$here/run.sh" "$1" "${DURO_FUZZ_SECONDS:-0}"

#!/usr/bin/env bash
# Builds duro (installing its dependencies first) and runs the gateway in the foreground.
# The build leaves the tests out (no cmocka needed). Arguments go to duro-gateway; with none it
# uses the embedded config (127.0.0.1:8787).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

bash scripts/install-deps.sh run
if [ ! -f build/build.ninja ]; then
    meson setup build -Dtests=disabled >/dev/null
fi
meson compile -C build >/dev/null
exec build/gateway/duro-gateway "$@"

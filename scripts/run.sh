#!/usr/bin/env bash
# Builds duro (installing its dependencies first) and runs the gateway in the foreground.
# The build leaves the tests out (no cmocka needed). Arguments go to duro-gateway; with none it
# runs config/duro.ini (127.0.0.1:8787) with the objects' storage in build/storage, so that
# nothing outside the checkout is needed.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

bash scripts/install-deps.sh run
if [ ! -f build/build.ninja ]; then
    meson setup build -Dtests=disabled >/dev/null
fi
meson compile -C build >/dev/null
if [ "$#" -eq 0 ]; then
    mkdir -p build/storage
    { cat config/duro.ini; printf '\n[storage]\ndir = %s/build/storage\n' "$PWD"; } \
        >build/run.ini
    exec build/gateway/duro-gateway -c build/run.ini
fi
exec build/gateway/duro-gateway "$@"

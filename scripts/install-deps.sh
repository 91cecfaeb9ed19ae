#!/usr/bin/env bash
# Installs, with apt-get on Debian 12 (bookworm), what duro needs.
#   install-deps.sh run    what building and running needs (scripts/run.sh), and the client the
#                          README's first example uses (python3 -m websockets)
#   install-deps.sh [test] that plus every test's tools (scripts/test.sh, the default)
# Idempotent and quiet: when every package is already installed, apt-get is not run at all.
set -euo pipefail

set_name=${1:-test}
case "$set_name" in
    run | test) ;;
    *)
        echo "usage: install-deps.sh [run|test]" >&2
        exit 2
        ;;
esac

# meson configures the unit tests too, so cmocka is part of the build set.
packages=(
    build-essential pkg-config meson ninja-build
    libuv1-dev libwslay-dev node-llhttp libinih-dev libxxhash-dev nettle-dev zlib1g-dev
    libsqlite3-dev
    libsystemd-dev libcmocka-dev libluajit-5.1-dev
    python3 python3-websockets curl
)
if [ "$set_name" = test ]; then
    packages+=(
        procps systemd man-db
        prometheus haproxy openssl
        clang libclang-rt-14-dev chromium shellcheck
    )
    # Node.js for the npm clients (ws, playwright-core): Debian's, unless the machine has one.
    if ! command -v node >/dev/null 2>&1; then
        packages+=(nodejs npm)
    fi
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root, or: apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
apt-get -qq update >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null

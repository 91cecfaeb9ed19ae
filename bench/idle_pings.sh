#!/usr/bin/env bash
# bench/idle_pings.sh: worker memory per hibernated WebSocket with pings off, with the default
# ping interval (30 s: pings are armed but none falls inside the hold) and with pings that fire
# during the hold (every socket pinged and answering several times), in one run.
#
#   bench/idle_pings.sh [SOCKETS] [HOLD_S]      (defaults 10000 and 8)
#
# BUILD=DIR picks the release build (default build-bench/). BASELINE=DIR, a release build of a
# duro without pings (main before them), adds a first case with its binaries.
#
# Each case starts duro with one worker (all sockets in the one process measured), opens the
# sockets on the seed object (it hibernates after 1 s), holds them, and reads the worker's RSS
# before and after (duro-bench idle --pid); then counts pings sent (/metrics on the admin port).
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(dirname "$here")
build=${BUILD:-$root/build-bench}
sockets=${1:-10000}
hold=${2:-8}
bench=$build/bench/duro-bench

tmp=$(mktemp -d /tmp/duro-pings.XXXXXX)
gw_pid=""
cleanup() {
    if [ -n "$gw_pid" ]; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# run_case NAME BUILD_DIR [INTERVAL TIMEOUT]: without INTERVAL, no ping key is written.
run_case() {
    local name=$1 dir=$2 interval=${3:-} timeout=${4:-}
    {
        printf '[server]\nadmin = 127.0.0.1:0\n[objects]\nhibernate_after_ms = 1000\n'
        if [ -n "$interval" ]; then
            printf '[websocket]\nping_interval_ms = %s\nping_timeout_ms = %s\n' \
                "$interval" "$timeout"
        fi
    } >"$tmp/duro.ini"
    "$dir/gateway/duro-gateway" --listen 127.0.0.1:0 --workers 1 \
        --worker-bin "$dir/worker/duro-worker" -c "$tmp/duro.ini" 2>"$tmp/log" &
    gw_pid=$!
    local port="" admin="" wpid=""
    for _ in $(seq 100); do
        port=$(sed -n 's/.* listen=127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$tmp/log" | head -n1)
        admin=$(sed -n 's/.* admin=\(127\.0\.0\.1:[0-9]*\) .*/\1/p' "$tmp/log" | head -n1)
        wpid=$(sed -n 's/.*event=worker_spawned .*worker_pid=\([0-9]*\).*/\1/p' "$tmp/log" |
            head -n1)
        [ -n "$port" ] && [ -n "$wpid" ] && grep -q "event=configured" "$tmp/log" && break
        sleep 0.1
    done
    echo "## $name: ping_interval_ms=${interval:-none} ping_timeout_ms=${timeout:-none}"
    "$bench" idle --url "ws://127.0.0.1:$port/websocket" -c "$sockets" -d "$hold" --pid "$wpid"
    local pings
    pings=$(curl -s "http://$admin/metrics" | awk '$1 == "duro_pings_sent_total" {print $2}')
    echo "hibernations=$(grep -c 'event=hibernate obj=seed/foo' "$tmp/log" || true)" \
        "wakes=$(grep -c 'event=wake obj=seed/foo' "$tmp/log" || true)" \
        "pings_sent=${pings:-none}" \
        "ping_timeouts=$(grep -c 'event=ping_timeout' "$tmp/log" || true)"
    kill -TERM "$gw_pid"
    wait "$gw_pid" || true
    gw_pid=""
}

echo "date=$(date -u +%FT%TZ) nproc=$(nproc) sockets=$sockets hold_s=$hold"
if [ -n "${BASELINE:-}" ]; then
    run_case "baseline (no liveness)" "$BASELINE"
fi
run_case "pings off" "$build" 0 10000
run_case "pings on, default interval" "$build" 30000 10000
run_case "pings on, firing during the hold" "$build" 1000 1000

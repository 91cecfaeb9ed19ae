#!/usr/bin/env bash
# bench/lua.sh: the seed in Lua (examples/lua/seed.lua) beside the seed in C, in the same run:
# two gateways (2 workers each, log level warn) on loopback, rounds of echo c=100 p=1, echo
# c=100 p=16 and handshakes/s, each measure run against both gateways back to back (which goes
# first alternates between rounds), then bytes per idle socket of each. Prints medians, the
# Lua/C ratio, and the workers' CPU time per message at p=16 (user + system, from /proc: what a
# message costs the worker, whatever else the machine runs). Builds duro in release mode
# (build-bench/); stops what it starts.
#
#   bench/lua.sh [ROUNDS] [SECONDS]     defaults: 3 rounds of 3 s (plus 1 s warm-up)
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(dirname "$here")
rounds=${1:-3}
duration=${2:-3}
build=$root/build-bench
bench=$build/bench/duro-bench
tmp=$(mktemp -d /tmp/duro-bench-lua.XXXXXX)
pids=()

log() { printf 'lua.sh: %s\n' "$*" >&2; }

cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" -Dbuildtype=release >/dev/null
fi
meson compile -C "$build" >/dev/null
gateway=$build/gateway/duro-gateway

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # PORT PID
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || { log "gateway exited at start"; return 1; }
        sleep 0.1
    done
    return 1
}

printf '[server]\nlog_level = warn\n' >"$tmp/c.ini"
printf '[server]\nlog_level = warn\n[class seed]\nscript = %s\n' \
    "$root/examples/lua/seed.lua" >"$tmp/lua.ini"

declare -A port pid
start_both() {
    for k in c lua; do
        port[$k]=$(free_port)
        "$gateway" -c "$tmp/$k.ini" --listen "127.0.0.1:${port[$k]}" --workers 2 \
            --admin 127.0.0.1:0 2>"$tmp/$k.log" &
        pid[$k]=$!
        pids+=("${pid[$k]}")
        wait_port "${port[$k]}" "${pid[$k]}"
    done
}
start_both

measure() { # KIND MODE ARGS...: prints the rate
    local k=$1 mode=$2
    shift 2
    "$bench" "$mode" -u "ws://127.0.0.1:${port[$k]}/websocket" -d "$duration" -w 1 "$@" \
        | sed -n 's/.*"\(msgs\|handshakes\)_per_s":\([0-9.]*\).*/\2/p' | head -1
}

median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

cpu_ticks() { # PID: user + system clock ticks of the gateway's workers
    local total=0 w
    for w in $(pgrep -P "$1" duro-worker); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$w/stat")))
    done
    echo "$total"
}

hz=$(getconf CLK_TCK)
declare -A res
order="c lua"
for _ in $(seq "$rounds"); do
    for m in p1 p16 hs; do
        for k in $order; do
            case $m in
                p1) res[$k,p1]+="$(measure "$k" echo -c 100 -p 1) " ;;
                p16)
                    t0=$(cpu_ticks "${pid[$k]}")
                    rate=$(measure "$k" echo -c 100 -p 16)
                    t1=$(cpu_ticks "${pid[$k]}")
                    res[$k,p16]+="$rate "
                    # the ticks cover the warm-up second too, at about the same rate
                    res[$k,ns]+="$(awk -v t=$((t1 - t0)) -v r="$rate" -v d="$duration" -v hz="$hz" \
                        'BEGIN {printf "%.0f", t / hz * 1e9 / (r * (d + 1))}') "
                    ;;
                hs) res[$k,hs]+="$(measure "$k" connect -c 32) " ;;
            esac
        done
    done
    order=$([ "$order" = "c lua" ] && echo "lua c" || echo "c lua")
done

printf '| measure | C seed | Lua seed | Lua / C |\n|---|---:|---:|---:|\n'
for m in p1 p16 hs ns; do
    c=$(tr ' ' '\n' <<<"${res[c,$m]}" | grep . | median)
    l=$(tr ' ' '\n' <<<"${res[lua,$m]}" | grep . | median)
    name=$m
    case $m in p1) name="echo c=100 p=1 (msgs/s)" ;; p16) name="echo c=100 p=16 (msgs/s)" ;;
        hs) name="handshakes/s (c=32)" ;;
        ns) name="worker CPU ns per message, p=16" ;; esac
    printf '| %s | %s | %s | %s |\n' "$name" "$c" "$l" \
        "$(awk -v a="$l" -v b="$c" 'BEGIN {printf "%.2f", a / b}')"
done
# Idle memory on fresh gateways: the rounds above leave freed heap in the processes' RSS.
for k in c lua; do
    kill -TERM "${pid[$k]}"
    wait "${pid[$k]}" 2>/dev/null || true
done
start_both
for k in c lua; do
    printf '%s idle: ' "$k"
    "$bench" idle -u "ws://127.0.0.1:${port[$k]}/websocket" -c 5000 -d 2 --pid "${pid[$k]}" \
        | grep -o 'bytes_per_socket=[0-9]*' || true
done

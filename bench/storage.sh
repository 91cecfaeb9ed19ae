#!/usr/bin/env bash
# bench/storage.sh: incr round trips of the counter class (durable storage, group commit) beside
# the seed echo, in one run: 1 and 100 clients on one object, 100 clients on 100 objects, for
# durability full and relaxed. Prints one line per case and, from /metrics, the storage commits
# per incr (each commit is one fsync of the object's log in full mode).
# Usage: bench/storage.sh [SECONDS]   (from the repo root, after meson compile -C build)
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
secs=${1:-3}
bench=build/bench/duro-bench
tmp=$(mktemp -d /tmp/duro-storage-bench-XXXXXX)
gw_pid=""
cleanup() {
    if [ -n "$gw_pid" ]; then
        kill "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

metric() { # NAME ADMIN_PORT
    curl -s --noproxy '*' "http://127.0.0.1:$2/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

rate() { # JSON line -> msgs_per_s
    sed -n 's/.*"msgs_per_s":\([0-9]*\).*/\1/p'
}

for durability in full relaxed; do
    mkdir -p "$tmp/$durability"
    cat >"$tmp/$durability.ini" <<INI
[server]
listen = 127.0.0.1:0
admin = 127.0.0.1:0
workers = 1
log_level = warn
[storage]
dir = $tmp/$durability
durability = $durability
[route counter]
match = path /counter/{name}/websocket
class = counter
object = {name}
[route seed]
match = suffix /websocket
class = seed
object = foo
INI
    build/gateway/duro-gateway -c "$tmp/$durability.ini" 2>"$tmp/log" &
    gw_pid=$!
    for _ in $(seq 100); do
        if grep -q ' listen=' "$tmp/log"; then break; fi
        sleep 0.05
    done
    line=$(grep -m1 ' listen=' "$tmp/log")
    port=$(sed -n 's/.* listen=127.0.0.1:\([0-9]*\).*/\1/p' <<<"$line")
    admin=$(sed -n 's/.* admin=127.0.0.1:\([0-9]*\).*/\1/p' <<<"$line")
    url="ws://127.0.0.1:$port"
    if [ "$durability" = full ]; then
        echo "seed echo, 100 clients: $($bench echo -u "$url/websocket" -c 100 -d "$secs" -q | tail -1 | rate) msgs/s"
    fi
    one=$($bench echo -u "$url/counter/one/websocket" -c 1 --text incr -d "$secs" -q | tail -1 | rate)
    c0=$(metric duro_storage_commits_total "$admin")
    hundred=$($bench echo -u "$url/counter/one/websocket" -c 100 --text incr -d "$secs" -w 0 -q | tail -1)
    c1=$(metric duro_storage_commits_total "$admin")
    spread=$($bench echo -u "$url/counter/o{n}/websocket" --objects 100 -c 100 --text incr -d "$secs" -q | tail -1 | rate)
    samples=$(sed -n 's/.*"samples":\([0-9]*\).*/\1/p' <<<"$hundred")
    echo "durability=$durability incr 1 client/1 object: $one/s; 100 clients/1 object: $(rate <<<"$hundred")/s" \
         "($(awk -v a="$(rate <<<"$hundred")" -v b="$one" 'BEGIN { printf "%.1f", a / b }')x);" \
         "100 clients/100 objects: $spread/s;" \
         "commits per incr at 100 clients/1 object: $(awk -v c=$((c1 - c0)) -v s="$samples" 'BEGIN { printf "%.4f", c / s }')"
    kill "$gw_pid"
    wait "$gw_pid" 2>/dev/null || true
    gw_pid=""
done

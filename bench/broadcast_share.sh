#!/usr/bin/env bash
# bench/broadcast_share.sh: what sharing one broadcast frame across the recipients' queues
# changes, against a baseline build that copies it per recipient: one chat room of SOCKETS
# sockets, one worker, one message in flight (duro-bench broadcast -p 1), for message sizes of
# 64 B (still copied: under 1 KiB), 4 KiB and 64 KiB. Rounds alternate the two builds.
#
#   BASELINE=DIR bench/broadcast_share.sh [SOCKETS] [SECONDS] [ROUNDS]   (1000, 5, 3)
#
# BUILD=DIR is this tree's release build (default build-bench/), BASELINE=DIR the other one
# (required). Per run: deliveries/s and fan-out p50 (duro-bench), the worker's CPU seconds per
# million deliveries (/proc/PID/stat over the run), and how much its peak RSS (VmHWM,
# /proc/PID/status) grew over the run, the room's sockets included. Only 127.0.0.1 is targeted.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(dirname "$here")
build=${BUILD:-$root/build-bench}
baseline=${BASELINE:?BASELINE=DIR: a release build of the baseline}
sockets=${1:-1000}
duration=${2:-5}
rounds=${3:-3}
bench=$build/bench/duro-bench
sizes=(64 4096 65536)

tmp=$(mktemp -d /tmp/duro-bshare.XXXXXX)
gw_pid=""
cleanup() {
    if [ -n "$gw_pid" ]; then
        kill -TERM "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '$1 == "VmHWM:" {print $2}' "/proc/$1/status"; }

# run NAME DIR SIZE: prints one line "NAME SIZE deliveries_per_s p50_us cpu_s_per_M hwm_growth_kib"
run() {
    local name=$1 dir=$2 size=$3
    printf '[server]\nadmin = off\nlog_level = warn\n[route rooms]\nmatch = path /rooms/{name}/websocket\nclass = chat\nobject = {name}\n' >"$tmp/duro.ini"
    local port wpid=""
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$dir/gateway/duro-gateway" --listen "127.0.0.1:$port" --workers 1 \
        --worker-bin "$dir/worker/duro-worker" -c "$tmp/duro.ini" 2>"$tmp/log" &
    gw_pid=$!
    for _ in $(seq 100); do
        wpid=$(pgrep -P "$gw_pid" | head -n1 || true)
        if [ -n "$wpid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    [ -n "$wpid" ] || { echo "no worker under gateway $gw_pid" >&2; exit 1; }
    local hwm0 t0 ticks
    hwm0=$(hwm_kib "$wpid")
    t0=$(cpu_ticks "$wpid")
    "$bench" broadcast --url "ws://127.0.0.1:$port/rooms/r/websocket" -c "$sockets" -p 1 \
        -s "$size" -d "$duration" -w 1 -e echo >"$tmp/out"
    ticks=$(( $(cpu_ticks "$wpid") - t0 ))
    local hwm
    hwm=$(hwm_kib "$wpid")
    python3 - "$tmp/out" "$name" "$size" "$ticks" "$(getconf CLK_TCK)" "$hwm0" "$hwm" <<'PY'
import json, sys
out, name, size, ticks, hz, hwm0, hwm = sys.argv[1:]
j = json.loads(open(out).read().strip().splitlines()[-1])
if j["errors"] or j["verify_failures"]:
    sys.exit(f"{name}: errors={j['errors']} verify_failures={j['verify_failures']}")
total = j["deliveries"] or 1  # the whole run, warm-up included, like the CPU ticks
print(name, size, j["msgs_per_s"], j["p50_us"], "%.2f" % (int(ticks) / int(hz) / total * 1e6),
      int(hwm) - int(hwm0))
PY
    kill -TERM "$gw_pid"
    wait "$gw_pid" || true
    gw_pid=""
}

echo "date=$(date -u +%FT%TZ) nproc=$(nproc) sockets=$sockets duration_s=$duration rounds=$rounds"
echo "build=$build baseline=$baseline"
for _ in $(seq "$rounds"); do
    for size in "${sizes[@]}"; do
        run baseline "$baseline" "$size"
        run shared "$build" "$size"
    done
done | tee "$tmp/all"
python3 - "$tmp/all" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, size, rate, p50, cpu, hwm = line.split()
    rows.setdefault((int(size), name), []).append((float(rate), float(p50), float(cpu), int(hwm)))
print()
print("| size | build | deliveries/s | fan-out p50 us | worker CPU us per delivery | worker peak RSS growth KiB |")
print("|---|---|---|---|---|---|")
for (size, name) in sorted(rows):
    r = rows[(size, name)]
    med = [statistics.median(x[i] for x in r) for i in range(4)]
    print(f"| {size} | {name} | {med[0]:,.0f} | {med[1]:,.0f} | {med[2]:.2f} | {med[3]:,.0f} |")
for size in sorted({s for s, _ in rows}):
    b, s = rows.get((size, "baseline")), rows.get((size, "shared"))
    if b and s:
        mb = [statistics.median(x[i] for x in b) for i in range(4)]
        ms = [statistics.median(x[i] for x in s) for i in range(4)]
        print(f"size {size}: deliveries/s shared/baseline = {ms[0] / mb[0]:.2f}, "
              f"CPU per delivery = {ms[2] / mb[2]:.2f}, "
              f"peak RSS growth {mb[3]:,} -> {ms[3]:,} KiB")
PY

#!/usr/bin/env bash
# bench/run.sh: one command for BENCHMARKS.md. Builds duro in release mode (build-bench/),
# installs what the peers need (nginx from Debian, `npm ci` here for ws and Bun), starts duro
# (2 workers), Node's ws server, Bun's server and nginx (one worker) on loopback ports, runs
# interleaved rounds of every measure of issue 5's table against each, and prints a Markdown
# report: machine, date, command, medians and ratios. Everything it starts is stopped on exit.
#
#   bench/run.sh [ROUNDS] [SECONDS]     defaults: 3 rounds of 5 s (plus 1 s warm-up) per run
#
# Environment: ROUNDS, DURATION, WARMUP override the same; REPORT=FILE also writes the report
# there; DURO_COMMIT names the source when the tree is not a git checkout. A full run takes about 6 minutes on 2 cores. Only 127.0.0.1 is ever targeted.
#
# DURO_BENCH_UWS=/path/to/binary adds a native uWebSockets peer (issue 18): a server with the
# seed's semantics, built by hand outside this tree (BENCHMARKS.md says how; no uWebSockets code
# is in this repository). The binary is run as `BINARY PORT` and must listen on 127.0.0.1:PORT.
# It gets its own table, against duro's default config (log_level = info, 2 workers). Unset, the
# peer is skipped with a message. DURO_BENCH_UWS_ONLY=1 runs that table alone (no Bun, Node,
# nginx, no concurrent-sockets run).
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(dirname "$here")
cmdline="bench/run.sh${*:+ $*}"
rounds=${1:-${ROUNDS:-3}}
duration=${2:-${DURATION:-5}}
warmup=${WARMUP:-1}
build=$root/build-bench
bench=$build/bench/duro-bench
bun=$here/node_modules/@oven/bun-linux-x64/bin/bun

tmp=$(mktemp -d /tmp/duro-bench.XXXXXX)
pids=()

log() { printf 'run.sh: %s\n' "$*" >&2; }

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

# ---- build and install ----

uws_bin=${DURO_BENCH_UWS:-}
uws_only=${DURO_BENCH_UWS_ONLY:-0}
if [ -z "$uws_bin" ]; then
    log "DURO_BENCH_UWS is not set: skipping the native uWebSockets peer"
    uws_only=0
elif [ ! -x "$uws_bin" ]; then
    log "DURO_BENCH_UWS=$uws_bin is not an executable: skipping the native uWebSockets peer"
    uws_bin=""
    uws_only=0
fi
if [ -n "$uws_bin" ]; then
    cmdline="DURO_BENCH_UWS=$uws_bin${DURO_BENCH_UWS_ONLY:+ DURO_BENCH_UWS_ONLY=$uws_only} $cmdline"
fi

if [ -f "$root/scripts/install-deps.sh" ]; then
    bash "$root/scripts/install-deps.sh"
fi
if [ "$uws_only" != 1 ] && ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
    log "installing nginx"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [ "$uws_only" != 1 ] && { [ ! -x "$bun" ] || [ ! -d "$here/node_modules/ws" ]; }; then
    log "npm ci in bench/"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" -Dbuildtype=release >/dev/null
else
    meson configure "$build" -Dbuildtype=release >/dev/null
fi
log "building duro (release) in $build"
meson compile -C "$build" >/dev/null
gateway=$build/gateway/duro-gateway
[ -x "$bench" ] || { log "no $bench: the root meson.build needs subdir('bench')"; exit 1; }

# ---- servers ----

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # PORT PID NAME: until PORT accepts, bounded to 10 s
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || { log "$3 exited at start"; return 1; }
        sleep 0.1
    done
    log "$3 does not listen on $1"
    return 1
}

# The table's duro logs at warn level, as the peers log nothing per request; the routes add
# /rooms/NAME/websocket so that sockets can be aimed at each worker.
cat >"$tmp/duro.ini" <<'EOF'
[server]
log_level = warn
[route rooms]
match = path /rooms/{name}/websocket
class = seed
object = {name}
[route seed]
match = suffix /websocket
class = seed
object = foo
EOF

# Two gateways run at once (the table's and the memory run's): each gets its own admin port.
admin=()
if "$gateway" --help 2>/dev/null | grep -q -- --admin; then
    admin=(--admin 127.0.0.1:0)
fi

start_duro() { # PORT WORKERS LOGNAME -> sets started_pid
    "$gateway" -c "$tmp/duro.ini" --listen "127.0.0.1:$1" --workers "$2" "${admin[@]}" \
        2>"$tmp/$3.log" &
    started_pid=$!
    pids+=("$started_pid")
    wait_port "$1" "$started_pid" "duro ($3)"
}

forget() { # PID: no longer ours to stop (it has been reaped)
    local keep=() p
    for p in "${pids[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    pids=("${keep[@]}")
}

stop_pid() { # PID: SIGTERM, wait (bounded), SIGKILL, reap
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

port_duro=$(free_port)
start_duro "$port_duro" 2 duro

start_uws() { # PORT LOGNAME -> sets started_pid
    "$uws_bin" "$1" 2>"$tmp/$2.log" &
    started_pid=$!
    pids+=("$started_pid")
    wait_port "$1" "$started_pid" "uWebSockets ($2)"
}

start_duro_default() { # PORT LOGNAME -> sets started_pid: the compiled-in config, 2 workers
    "$gateway" --listen "127.0.0.1:$1" --workers 2 "${admin[@]}" 2>"$tmp/$2.log" &
    started_pid=$!
    pids+=("$started_pid")
    wait_port "$1" "$started_pid" "duro ($2)"
}

if [ -n "$uws_bin" ]; then
    port_uws=$(free_port)
    start_uws "$port_uws" uws
    pid_uws=$started_pid
    port_ddef=$(free_port)
    start_duro_default "$port_ddef" duro-default
    pid_ddef=$started_pid
fi

if [ "$uws_only" != 1 ]; then
port_node=$(free_port)
node "$here/peers/ws-server.js" "$port_node" 2>"$tmp/node.log" &
pid_node=$!
pids+=("$pid_node")
wait_port "$port_node" "$pid_node" node

port_bun=$(free_port)
"$bun" "$here/peers/bun-server.js" "$port_bun" 2>"$tmp/bun.log" &
pid_bun=$!
pids+=("$pid_bun")
wait_port "$port_bun" "$pid_bun" bun

port_nginx=$(free_port)
mkdir -p "$tmp/nginx"
sed -e "s#@DIR@#$tmp/nginx#g" -e "s#@PORT@#$port_nginx#g" "$here/peers/nginx.conf.in" \
    >"$tmp/nginx/nginx.conf"
"$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
pid_nginx=$!
pids+=("$pid_nginx")
wait_port "$port_nginx" "$pid_nginx" nginx
fi

port_of() {
    case $1 in
    duro) echo "$port_duro" ;; node) echo "$port_node" ;;
    bun) echo "$port_bun" ;; nginx) echo "$port_nginx" ;;
    uws) echo "$port_uws" ;; ddef) echo "$port_ddef" ;;
    esac
}

# ---- measures ----

results=$tmp/results.tsv
: >"$results"

tree_ticks() { # PID: CPU time (user + system, clock ticks) of PID and its children
    local t=0 p
    for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

cpu_pid="" # when set, run_one also records the CPU time this server's processes spent
run_one() { # MEASURE SERVER ROUND duro-bench-args...
    local measure=$1 server=$2 round=$3 out json t0=0
    shift 3
    out=$tmp/$measure.$server.$round.out
    [ -n "$cpu_pid" ] && t0=$(tree_ticks "$cpu_pid")
    if "$bench" "$@" -q >"$out" 2>"$out.err"; then :; fi
    json=$(tail -n 1 "$out")
    case $json in
    '{'*) ;;
    *) json='{"errors":-1}' ;;
    esac
    if [ -n "$cpu_pid" ] && [ "${json: -1}" = "}" ]; then
        json="${json%\}},\"server_cpu_ticks\":$(($(tree_ticks "$cpu_pid") - t0))}"
    fi
    printf '%s\t%s\t%s\t%s\n' "$measure" "$server" "$round" "$json" >>"$results"
    log "$measure $server round $round: $(tr -d '\n' <"$out" | sed 's/.*{/{/' | cut -c1-160)"
    if [ -s "$out.err" ]; then
        sed -n '1,3p' "$out.err" >&2
    fi
}

ws_url() { echo "ws://127.0.0.1:$(port_of "$1")/websocket"; }
http_url() { echo "http://127.0.0.1:$(port_of "$1")/"; }
common=(-d "$duration" -w "$warmup")

if [ "$uws_only" != 1 ]; then
log "servers up: duro:$port_duro node:$port_node bun:$port_bun nginx:$port_nginx;" \
    "$rounds rounds of ${duration}s"
for round in $(seq "$rounds"); do
    for s in duro bun node; do
        run_one echo_p1 "$s" "$round" echo --url "$(ws_url "$s")" -c 100 -p 1 -s 32 "${common[@]}"
    done
    for s in duro bun node; do
        run_one echo_p16 "$s" "$round" echo --url "$(ws_url "$s")" -c 100 -p 16 -s 32 "${common[@]}"
    done
    for s in duro bun node; do
        run_one connect "$s" "$round" connect --url "$(ws_url "$s")" -c 32 "${common[@]}"
    done
    for s in duro nginx bun node; do
        run_one http "$s" "$round" http --url "$(http_url "$s")" -c 50 --status 400 "${common[@]}"
    done
done

# Memory per idle socket: 10,000 sockets on one object. duro: a pool of one worker, measured
# alone (--pid of the worker); the peers: their one process.
port_mem=$(free_port)
start_duro "$port_mem" 1 duro-mem
pid_mem=$started_pid
pid_mem_worker=""
for _ in $(seq 50); do
    pid_mem_worker=$(awk '{print $1}' "/proc/$pid_mem/task/$pid_mem/children" 2>/dev/null)
    [ -n "$pid_mem_worker" ] && break
    sleep 0.1
done
idle=(-c 10000 -d 2)
run_one idle duro 1 idle --url "ws://127.0.0.1:$port_mem/websocket" --pid "$pid_mem_worker" \
    "${idle[@]}"
stop_pid "$pid_mem"
run_one idle bun 1 idle --url "$(ws_url bun)" --pid "$pid_bun" "${idle[@]}"
run_one idle node 1 idle --url "$(ws_url node)" --pid "$pid_node" "${idle[@]}"

# Concurrent sockets: 19,000 on each of duro's 2 workers, from two duro-bench processes (each
# process may open 20,000 files here), all held at once.
names=()
for slot in 0 1; do
    for n in $(seq 0 99); do
        if [ "$("$bench" slot seed "r$n" 2)" = "$slot" ]; then
            names+=("r$n")
            break
        fi
    done
done
hold=$((duration * 2 + 4))
conc=()
for i in 0 1; do
    "$bench" idle --url "ws://127.0.0.1:$port_duro/rooms/${names[$i]}/websocket" -c 19000 \
        -d "$hold" --source-ips 2 -q >"$tmp/conc.$i.out" 2>"$tmp/conc.$i.err" &
    conc+=("$!")
    pids+=("$!")
done
for p in "${conc[@]}"; do
    wait "$p" || true
    forget "$p"
done
for i in 0 1; do
    printf 'concurrent\tduro\t%s\t%s\n' "$((i + 1))" "$(tail -n 1 "$tmp/conc.$i.out")" >>"$results"
    log "concurrent worker $i: $(tail -n 1 "$tmp/conc.$i.out" | cut -c1-160)"
done
fi

# Native uWebSockets (issue 18) against duro's default config (ddef: no -c, log_level = info,
# 2 workers), every measure in turn against each, the order alternating between rounds.
if [ -n "$uws_bin" ]; then
    log "servers up: duro (default config):$port_ddef uWebSockets:$port_uws;" \
        "$rounds rounds of ${duration}s"
    cpu_of() { if [ "$1" = uws ]; then cpu_pid=$pid_uws; else cpu_pid=$pid_ddef; fi; }
    for round in $(seq "$rounds"); do
        order=(ddef uws)
        [ $((round % 2)) = 0 ] && order=(uws ddef)
        for s in "${order[@]}"; do
            cpu_of "$s"
            run_one u_echo_p1 "$s" "$round" echo --url "$(ws_url "$s")" -c 100 -p 1 -s 32 \
                "${common[@]}"
        done
        for s in "${order[@]}"; do
            cpu_of "$s"
            run_one u_echo_p16 "$s" "$round" echo --url "$(ws_url "$s")" -c 100 -p 16 -s 32 \
                "${common[@]}"
        done
        for s in "${order[@]}"; do
            cpu_of "$s"
            run_one u_echo_c1000 "$s" "$round" echo --url "$(ws_url "$s")" -c 1000 -p 1 -s 32 \
                "${common[@]}"
        done
        for s in "${order[@]}"; do
            cpu_of "$s"
            run_one u_connect "$s" "$round" connect --url "$(ws_url "$s")" -c 32 "${common[@]}"
        done
        for s in "${order[@]}"; do
            cpu_of "$s"
            run_one u_http "$s" "$round" http --url "$(http_url "$s")" -c 50 --status 400 \
                "${common[@]}"
        done
    done
    cpu_pid=""
    # Memory per idle socket over the whole process tree (duro: gateway and both workers),
    # 10,000 sockets on one object, each server freshly started for it.
    for s in ddef uws; do
        port_m=$(free_port)
        if [ "$s" = ddef ]; then
            start_duro_default "$port_m" duro-default-mem
        else
            start_uws "$port_m" uws-mem
        fi
        pid_m=$started_pid
        run_one u_idle "$s" 1 idle --url "ws://127.0.0.1:$port_m/websocket" --pid "$pid_m" \
            -c 10000 -d 2
        stop_pid "$pid_m"
    done
fi

# ---- report ----

# DURO_COMMIT names the source when the tree is not a git checkout (an exported copy).
commit=${DURO_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}
if [ -z "${DURO_COMMIT:-}" ] &&
    [ -n "$(git -C "$root" status --porcelain -- common gateway worker 2>/dev/null)" ]; then
    commit="$commit (with uncommitted changes in common/ gateway/ worker/)"
fi
report=$(python3 - "$results" "$cmdline" "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$commit" "$rounds" "$duration" "$warmup" "$(uname -r)" \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
    "$("$bun" --version 2>/dev/null || echo n/a)" "$(node --version 2>/dev/null || echo n/a)" \
    "$(node -e 'console.log(require(process.argv[1]).version)' \
        "$here/node_modules/ws/package.json" 2>/dev/null || echo n/a)" \
    "$("$nginx_bin" -v 2>&1 | sed 's#.*: ##; s#/# #')" "$uws_only" "${uws_bin:-}" \
    "$(getconf CLK_TCK)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys
(path, cmd, cores, date, commit, rounds, dur, warm, kernel, cpu, bunv, nodev, wsv,
 nginxv, uws_only, uws_bin, clk_tck, loadavg) = sys.argv[1:]
res = {}
for line in open(path):
    m, s, r, js = line.rstrip("\n").split("\t", 3)
    try:
        j = json.loads(js)
    except ValueError:
        j = {"errors": -1}
    res.setdefault((m, s), []).append(j)

def med(m, s, key):
    v = [j[key] for j in res.get((m, s), []) if key in j]
    return statistics.median(v) if v else None

def bad(m, s):
    return sum(1 for j in res.get((m, s), [])
               if j.get("errors", 0) != 0 or j.get("verify_failures", 0) != 0)

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M{unit}"
    if v >= 1e4:
        return f"{v / 1e3:.0f} k{unit}"
    return f"{v:.0f}{unit}"

def ratio(a, b, lower_better=False):
    if a is None or b is None or a == 0 or b == 0:
        return "n/a"
    return f"{(b / a if lower_better else a / b):.2f}x"

rows = [
    ("echo, c=100, p=1, 32 B: messages/s", "echo_p1", "msgs_per_s", ["bun", "node"],
     ">= 1.0x Bun, >= 3x Node"),
    ("echo, c=100, p=16, 32 B: messages/s", "echo_p16", "msgs_per_s", ["bun", "node"],
     ">= 1.3x Bun"),
    ("handshakes/s (connect, c=32)", "connect", "handshakes_per_s", ["bun", "node"],
     ">= 1.0x Bun"),
    ("HTTP 400 path, c=50: requests/s", "http", "req_per_s", ["bun", "node", "nginx"],
     ">= 1.0x nginx"),
]
out = []
out.append(f"- command: `{cmd}` ({rounds} interleaved rounds of {dur} s after {warm} s of warm-up;"
           " medians)")
out.append(f"- machine: {cores} cores ({cpu}), Linux {kernel}; date: {date}")
out.append(f"- duro {commit}, release build, 2 workers, log_level=warn; Bun {bunv}; Node {nodev}"
           f" with ws {wsv}; {nginxv}, 1 worker")
out.append("- load generator: bench/duro-bench (one thread, same machine: it shares the 2 cores)")
out.append("")
out.append("| measure | duro | Bun | Node ws | nginx | duro/Bun | duro/Node | duro/nginx | target |")
out.append("|---|---|---|---|---|---|---|---|---|")
flags = []
for title, m, key, peers, target in rows:
    d = med(m, "duro", key)
    cells = {s: med(m, s, key) for s in ["bun", "node", "nginx"]}
    line = [title, fmt(d)]
    for s in ["bun", "node", "nginx"]:
        line.append(fmt(cells[s]) if s in peers else "")
    for s in ["bun", "node", "nginx"]:
        line.append(ratio(d, cells[s]) if s in peers else "")
    line.append(target)
    out.append("| " + " | ".join(line) + " |")
    for s in ["duro"] + peers:
        if bad(m, s):
            flags.append(f"{m}/{s}: {bad(m, s)} run(s) with errors or verify failures")
d = med("idle", "duro", "bytes_per_socket")
b = med("idle", "bun", "bytes_per_socket")
n = med("idle", "node", "bytes_per_socket")
out.append("| memory per idle socket, 10,000 sockets (bytes; duro: its one worker) | "
           f"{fmt(d)} | {fmt(b)} | {fmt(n)} |  | {ratio(d, b, True)} | {ratio(d, n, True)} |  |"
           " <= 512 B |")
for s in ["duro", "bun", "node"]:
    if bad("idle", s):
        flags.append(f"idle/{s}: errors or verify failures")
conc = res.get(("concurrent", "duro"), [])
held = sum(j.get("established", 0) for j in conc)
cerr = sum(max(j.get("errors", 0), 0) + j.get("verify_failures", 0) for j in conc)
out.append(f"| concurrent sockets held (2 workers x 19,000, 2 duro-bench processes) | {held} |"
           "  |  |  |  |  |  | 38,000 |")
if cerr:
    flags.append(f"concurrent/duro: {cerr} errors or verify failures")
out.append("")
out.append("Ratios are duro's median over the peer's (memory: the peer's over duro's, so above 1.0x"
           " means duro uses less).")
out.append("")
out.append("Latency (medians of p50 / p99, microseconds):")
out.append("")
out.append("| measure | duro | Bun | Node ws | nginx |")
out.append("|---|---|---|---|---|")
for title, m, key, peers, _ in rows:
    line = [title.split(":")[0]]
    for s in ["duro", "bun", "node", "nginx"]:
        if s != "duro" and s not in peers:
            line.append("")
            continue
        p50, p99 = med(m, s, "p50_us"), med(m, s, "p99_us")
        line.append("n/a" if p50 is None else f"{p50:.0f} / {p99:.0f}")
    out.append("| " + " | ".join(line) + " |")
if uws_only == "1":
    out = out[:2] + [f"- duro {commit}, release build; load generator: bench/duro-bench (one"
                     " thread, same machine: it shares the 2 cores)"]
if res.get(("u_echo_p1", "uws")) or res.get(("u_idle", "uws")):
    urows = [
        ("echo, c=100, p=1, 32 B: messages/s", "u_echo_p1", "msgs_per_s"),
        ("echo, c=100, p=16, 32 B: messages/s", "u_echo_p16", "msgs_per_s"),
        ("echo, c=1000, p=1, 32 B: messages/s", "u_echo_c1000", "msgs_per_s"),
        ("handshakes/s (connect, c=32)", "u_connect", "handshakes_per_s"),
        ("HTTP 400 path, c=50: requests/s", "u_http", "req_per_s"),
    ]
    out.append("")
    out.append(f"duro with its default config (no -c: log_level = info, 2 workers) beside a native"
               f" uWebSockets server ({uws_bin}, one thread), interleaved, medians:")
    out.append("")
    def cpu_us(m, s, key):
        # server CPU per operation: its processes' CPU time over the run (warm-up included)
        # divided by rate x (duration + warm-up); steadier than the rate on a busy machine
        v = [j["server_cpu_ticks"] / float(clk_tck) * 1e6 / (j[key] * (float(dur) + float(warm)))
             for j in res.get((m, s), []) if "server_cpu_ticks" in j and j.get(key)]
        return statistics.median(v) if v else None

    def us(v):
        return "n/a" if v is None else f"{v:.1f}"

    out.append("| measure | duro | native uWS | duro/uWS | target | server CPU us/op: duro |"
               " uWS |")
    out.append("|---|---|---|---|---|---|---|")
    for title, m, key in urows:
        d, u = med(m, "ddef", key), med(m, "uws", key)
        out.append(f"| {title} | {fmt(d)} | {fmt(u)} | {ratio(d, u)} | >= 1.0x |"
                   f" {us(cpu_us(m, 'ddef', key))} | {us(cpu_us(m, 'uws', key))} |")
        for s in ["ddef", "uws"]:
            if bad(m, s):
                flags.append(f"{m}/{s}: {bad(m, s)} run(s) with errors or verify failures")
    d = med("u_idle", "ddef", "bytes_per_socket")
    u = med("u_idle", "uws", "bytes_per_socket")
    out.append("| memory per idle socket, 10,000 sockets, whole process tree (bytes) | "
               f"{fmt(d)} | {fmt(u)} | {ratio(d, u, True)} | <= 256 B |  |  |")
    for s in ["ddef", "uws"]:
        if bad("u_idle", s):
            flags.append(f"u_idle/{s}: errors or verify failures")
    out.append("")
    out.append(f"Memory: the peer's bytes over duro's. Load average when the report was written:"
               f" {loadavg}.")
    out.append("")
    out.append("| latency p50 / p99 (us) | duro | native uWS |")
    out.append("|---|---|---|")
    for title, m, key in urows:
        line = [title.split(":")[0]]
        for s in ["ddef", "uws"]:
            p50, p99 = med(m, s, "p50_us"), med(m, s, "p99_us")
            line.append("n/a" if p50 is None else f"{p50:.0f} / {p99:.0f}")
        out.append("| " + " | ".join(line) + " |")
if flags:
    out.append("")
    out.append("Runs with errors: " + "; ".join(flags))
print("\n".join(out))
PY
)
printf '%s\n' "$report"
if [ -n "${REPORT:-}" ]; then
    printf '%s\n' "$report" >"$REPORT"
fi

#!/usr/bin/env python3
"""bench/deflate.py: permessage-deflate measurements for BENCHMARKS.md ("permessage-deflate").

Starts three duro gateways (one worker each, log_level info: tests/lib waits on the spawn lines; `deflate = off | stateless |
takeover`) from the release build (build-bench/, made by bench/run.sh or `meson setup
build-bench -Dbuildtype=release`), then, interleaving the three modes in each round:
- echo, c=100, p=1 and p=16, 32-byte and 4 KiB JSON-like text (duro-bench echo --json, and
  --deflate against the stateless and takeover gateways): messages/s, frame bytes per message
  on the wire each way, and the worker's CPU per message (utime + stime from /proc/PID/stat
  before and after the run, over every message of the run, warm-up included);
- idle, each on a fresh gateway: duro-bench idle -c N --pid WORKER (the extension negotiated,
  no message yet), and 1,000 sockets after one compressed 300-byte message each (Python,
  tests/lib: takeover sockets then hold their windows);
- broadcast to 1,000 sockets of one chat room, 4 KiB JSON-like, one message in flight:
  deliveries/s, bytes per delivery, worker CPU per delivery.
Prints a Markdown table of medians. Every process it starts is stopped (tests/lib's Duro).

Usage: bench/deflate.py [--rounds 3] [--duration 2] [--idle 5000]
Only 127.0.0.1. Bounded: each duro-bench run has its own deadline (duro-bench's alarm).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("DURO_BENCH_BUILD", os.path.join(ROOT, "build-bench"))
os.environ.setdefault("DURO_GATEWAY", os.path.join(BUILD, "gateway", "duro-gateway"))
os.environ.setdefault("DURO_WORKER", os.path.join(BUILD, "worker", "duro-worker"))
BENCH = os.path.join(BUILD, "bench", "duro-bench")
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from duro_test import WS, Duro, Pmd, OP_TEXT, frame, upgrade_request, proc_rss_kib  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
MODES = ("off", "stateless", "takeover")
OFFER = "permessage-deflate; client_max_window_bits"

CONFIG = """\
[server]
admin = off

[websocket]
deflate = {mode}

[route echo]
match = exact /echo
class = echo
object = echo

[route rooms]
match = path /rooms/{{name}}/websocket
class = chat
object = {{name}}

[route seed]
match = suffix /websocket
class = seed
object = foo
"""


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of proc(5))


def bench(args, pid):
    t0 = cpu_ticks(pid)
    out = subprocess.run([BENCH, *args, "-q"], capture_output=True, text=True, timeout=120)
    cpu = (cpu_ticks(pid) - t0) / CLK
    if out.returncode != 0:
        raise SystemExit(f"duro-bench {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["cpu_s"] = cpu
    return r


def idle_after_message(d, n, mode):
    """RSS per socket of `n` sockets that each sent one compressed message and got its reply."""
    pid = d.live_workers()[0]
    before = proc_rss_kib(pid)
    socks = []
    msg = b'{"id":1,"user":"alice","text":"hello room","ts":1700000000},' * 5
    try:
        for _ in range(n):
            ws = WS(d.addr)
            socks.append(ws)
            offer = (("Sec-WebSocket-Extensions", OFFER),) if mode != "off" else ()
            ws.send(upgrade_request("/echo", extra=offer))
            r = ws.read_response()
            ext = r.header("Sec-WebSocket-Extensions")
            pmd = Pmd(ext[0]) if ext else None
            if pmd:
                ws.send_pmd(pmd, OP_TEXT, msg)
                ws.read_pmd(pmd)
            else:
                ws.send(frame(OP_TEXT, msg))
                ws.read_frame()
        time.sleep(0.5)  # let the worker's idle release run (deflate state of idle sockets)
        after = proc_rss_kib(pid)
    finally:
        for ws in socks:
            ws.close()
    return (after - before) * 1024 / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--idle", type=int, default=5000)
    a = ap.parse_args()
    dur = ["-d", str(a.duration), "-w", "0.5"]
    res = {}

    def put(key, v):
        res.setdefault(key, []).append(v)

    duros = {}
    try:
        for m in MODES:
            duros[m] = Duro(CONFIG.format(mode=m), workers=1)
        for rnd in range(a.rounds):
            print(f"deflate.py: round {rnd + 1}/{a.rounds}", file=sys.stderr)
            for size in (32, 4096):
                for p in (1, 16):
                    for m in MODES:
                        d = duros[m]
                        pid = d.live_workers()[0]
                        url = f"ws://127.0.0.1:{d.addr[1]}/echo"
                        r = bench(["echo", "-u", url, "-c", "100", "-p", str(p), "-s", str(size),
                                   "--json", "-e", "echo", *dur]
                                  + (["--deflate"] if m != "off" else []), pid)
                        put(("echo", size, p, m), r)
            for m in MODES:
                d = duros[m]
                pid = d.live_workers()[0]
                url = f"ws://127.0.0.1:{d.addr[1]}/rooms/r{rnd}/websocket"
                r = bench(["broadcast", "-u", url, "-c", "1000", "-p", "1", "-s", "4096",
                           "--json", "-e", "echo", *dur]
                          + (["--deflate"] if m != "off" else []), pid)
                put(("bcast", m), r)
            # Memory per socket only means something on a fresh worker: one that already held
            # sockets reuses its freed heap, and its RSS does not grow.
            for m in MODES:
                with Duro(CONFIG.format(mode=m), workers=1) as d:
                    pid = d.live_workers()[0]
                    url = f"ws://127.0.0.1:{d.addr[1]}/websocket"
                    r = bench(["idle", "-u", url, "-c", str(a.idle), "-d", "1", "--pid",
                               str(pid)] + (["--deflate"] if m != "off" else []), pid)
                    put(("idle", m), r)
                with Duro(CONFIG.format(mode=m), workers=1) as d:
                    put(("idle_msg", m), idle_after_message(d, 1000, m))
    finally:
        for d in duros.values():
            d.stop()

    med = statistics.median
    print(f"nproc={os.cpu_count()} date={time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
          f"kernel={platform.release()} rounds={a.rounds} duration={a.duration}s")
    print("\n| message | p | deflate | msgs/s | wire bytes/msg (in, out) | worker CPU us/msg |")
    print("|---|---|---|---|---|---|")
    for size in (32, 4096):
        for p in (1, 16):
            for m in MODES:
                rs = res[("echo", size, p, m)]
                rate = med(r["msgs_per_s"] for r in rs)
                win = med(r["wire_in_per_msg"] for r in rs)
                wout = med(r["wire_out_per_msg"] for r in rs)
                cpu = med(r["cpu_s"] / max(1, r["msgs_in"]) * 1e6 for r in rs)
                print(f"| {size} B JSON | {p} | {m} | {rate:,.0f} | {win:.0f}, {wout:.0f} | "
                      f"{cpu:.1f} |")
    print("\n| broadcast, 1,000 sockets, 4 KiB JSON | deliveries/s | wire bytes/delivery | "
          "worker CPU us/delivery |")
    print("|---|---|---|---|")
    for m in MODES:
        rs = res[("bcast", m)]
        rate = med(r["msgs_per_s"] for r in rs)
        win = med(r["wire_in_per_msg"] for r in rs)
        cpu = med(r["cpu_s"] / max(1, r["msgs_in"]) * 1e6 for r in rs)
        print(f"| {m} | {rate:,.0f} | {win:.0f} | {cpu:.2f} |")
    print(f"\n| idle sockets ({a.idle}) | bytes/socket, negotiated, no message | "
          f"bytes/socket after one compressed message (1,000 sockets) |")
    print("|---|---|---|")
    for m in MODES:
        b = med(r["bytes_per_socket"] for r in res[("idle", m)])
        b2 = med(res[("idle_msg", m)])
        print(f"| {m} | {b:.0f} | {b2:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

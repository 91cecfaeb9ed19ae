#!/usr/bin/env python3
"""bench/handover.py: the time to switch a worker holding N idle WebSockets, for BENCHMARKS.md
("Hand-over"). docs/design.md section 14.

For each N (by default 1000 and 10000), in --rounds interleaved rounds: starts a gateway with
one worker and the probe class (tests/classes/probe.c) on /probe/{name}, opens N raw WebSockets
over N/10 objects and leaves them idle, then replaces the class file by rename and sends SIGHUP:
the worker is replaced by a new one and every socket handed over. Reports the medians of
- switch_ms: the old worker's time from MSG_MIGRATE to its last socket sent (its log);
- retire_ms: the gateway's time from the retirement to the old worker's exit (its log);
- alive_ms: from the SIGHUP until every socket has answered a message through the new worker;
and checks that no socket closed (each one answers, nothing closed with 1012).

With --echo: echo throughput and latency across a switch instead. `bench/duro-bench echo`
(100 sockets, 1 message in flight each, 32 B, verified) runs for 8 s against /echo, twice per
round: once quietly, once with the class reload (every worker replaced, every socket handed
over) 3 s into it. Reports messages/s, p99 and max for both, medians over the rounds.

Usage: bench/handover.py [--rounds 3] [--sizes 1000,10000] [--echo]
Needs a build in build/ (DURO_GATEWAY, DURO_WORKER, DURO_PROBE_SO, DURO_PROBE_V2_SO override).
Only 127.0.0.1; every process it starts is stopped (tests/lib's Gateway, its cleanups).
"""

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

from duro_test import OP_TEXT, Gateway, frame, ws_request  # noqa: E402

BUILD = os.path.join(ROOT, "build")
PROBE = os.environ.get("DURO_PROBE_SO", os.path.join(BUILD, "tests", "probe.so"))
PROBE_V2 = os.environ.get("DURO_PROBE_V2_SO", os.path.join(BUILD, "tests", "probe_v2.so"))

CONFIG = """
[server]
workers = 1
log_level = info

[objects]
hibernate_after_ms = 600000

[class probe]
path = {so}
symbol = probe_class

[route probe]
match = path /probe/{{name}}
class = probe
object = {{name}}

[route echo]
match = exact /echo
class = echo
object = echo
"""

BENCH = os.environ.get("DURO_BENCH", os.path.join(BUILD, "bench", "duro-bench"))


def open_idle(gw, n):
    """N raw WebSockets (10 per object), each upgraded and left idle."""
    socks = []
    for i in range(n):
        s = socket.create_connection(gw.addr, timeout=10)
        s.sendall(ws_request(f"/probe/o{i // 10}"))
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                raise AssertionError(f"socket {i}: closed during the upgrade")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"socket {i}: {head[:60]!r}")
        socks.append(s)
    return socks


def all_answer(socks, timeout=60):
    """Sends "gen" on every socket and waits until each has its reply (a text frame)."""
    sel = selectors.DefaultSelector()
    msg = frame(OP_TEXT, "gen")
    for s in socks:
        s.sendall(msg)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    left = len(socks)
    deadline = time.monotonic() + timeout
    try:
        while left and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                data = key.fileobj.recv(4096)
                if not data:
                    raise AssertionError("a socket closed")
                buf = key.data
                buf += data
                if len(buf) >= 2 and len(buf) >= 2 + (buf[1] & 0x7F):
                    if buf[0] & 0x0F != OP_TEXT:
                        raise AssertionError(f"not a text reply: {bytes(buf[:8])!r}")
                    sel.unregister(key.fileobj)
                    key.fileobj.setblocking(True)
                    left -= 1
    finally:
        sel.close()
    if left:
        raise AssertionError(f"{left} sockets did not answer")


def one_run(n):
    tc = unittest.TestCase()
    tmp = tempfile.TemporaryDirectory(prefix="duro-bench-handover-")
    tc.addCleanup(tmp.cleanup)
    so = os.path.join(tmp.name, "probe.so")
    shutil.copy(PROBE, so)
    try:
        gw = Gateway(tc, config=CONFIG.format(so=so), workers=1, workers_flag=False)
        socks = open_idle(gw, n)
        tc.addCleanup(lambda: [s.close() for s in socks])
        all_answer(socks)
        shutil.copy(PROBE_V2, so + ".new")
        os.replace(so + ".new", so)
        mark = gw.mark()
        t0 = time.monotonic()
        gw.proc.send_signal(signal.SIGHUP)
        retired = gw.wait_for_line(r"event=worker_retired .*handover_ms=(\d+)", 120, mark)
        migrated = gw.wait_for_line(r"action=worker_migrated .*moved=(\d+) closed=(\d+) "
                                    r".*switch_ms=(\d+)", 5, mark)
        all_answer(socks)
        alive = (time.monotonic() - t0) * 1000
        if int(migrated.group(1)) != n or int(migrated.group(2)) != 0:
            raise AssertionError(f"moved {migrated.group(1)} closed {migrated.group(2)} of {n}")
        return {"switch_ms": int(migrated.group(3)), "retire_ms": int(retired.group(1)),
                "alive_ms": alive}
    finally:
        tc.doCleanups()


def echo_run(switch):
    """duro-bench echo for 8 s; with `switch`, the class reload 3 s in. Its JSON line."""
    import json
    import subprocess
    tc = unittest.TestCase()
    tmp = tempfile.TemporaryDirectory(prefix="duro-bench-handover-")
    tc.addCleanup(tmp.cleanup)
    so = os.path.join(tmp.name, "probe.so")
    shutil.copy(PROBE, so)
    try:
        gw = Gateway(tc, config=CONFIG.format(so=so), workers=1, workers_flag=False)
        cmd = [BENCH, "echo", "--url", f"ws://{gw.host}:{gw.port}/echo", "-c", "100", "-p", "1",
               "-s", "32", "-d", "8", "-w", "0", "-e", "echo"]
        bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        tc.addCleanup(lambda: bench.poll() is None and bench.kill())
        if switch:
            time.sleep(3.0)  # into the measured window: the load is running (not a sync)
            shutil.copy(PROBE_V2, so + ".new")
            os.replace(so + ".new", so)
            mark = gw.mark()
            gw.proc.send_signal(signal.SIGHUP)
            gw.wait_for_line(r"event=handover action=replaced_all", 30, mark)
        out, _ = bench.communicate(timeout=60)
        if bench.returncode != 0:
            raise AssertionError(f"duro-bench failed ({bench.returncode}):\n{out}")
        return json.loads(out.strip().splitlines()[-1])
    finally:
        tc.doCleanups()


def echo_main(rounds):
    res = {False: [], True: []}
    for r in range(rounds):
        for switch in (False, True):
            j = echo_run(switch)
            res[switch].append(j)
            print(f"round {r + 1} switch={switch}: msgs/s={j.get('msgs_per_s', j.get('rate'))} "
                  f"p99={j['p99_us']} max={j['max_us']} errors={j.get('errors')}", flush=True)
    key = next(k for k in res[False][0] if k.endswith("per_s") or k == "rate")
    print(f"\n| echo c=100 p=1 32 B, 8 s | {key} | p99 (us) | max (us) |")
    print("|---|---|---|---|")
    for switch in (False, True):
        med = lambda k: statistics.median(x[k] for x in res[switch])  # noqa: E731
        label = "with a worker switch 3 s in" if switch else "no switch"
        print(f"| {label} | {med(key):.0f} | {med('p99_us'):.0f} | {med('max_us'):.0f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--echo", action="store_true")
    args = ap.parse_args()
    if args.echo:
        echo_main(args.rounds)
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    results = {n: [] for n in sizes}
    for r in range(args.rounds):
        for n in sizes:
            res = one_run(n)
            results[n].append(res)
            print(f"round {r + 1} N={n}: {res}", flush=True)
    print("\n| idle sockets | switch_ms (worker) | retire_ms (gateway) | all answering again (ms) |")
    print("|---|---|---|---|")
    for n in sizes:
        med = {k: statistics.median(x[k] for x in results[n]) for k in results[n][0]}
        print(f"| {n:,} | {med['switch_ms']:.0f} | {med['retire_ms']:.0f} | "
              f"{med['alive_ms']:.0f} |")


if __name__ == "__main__":
    main()

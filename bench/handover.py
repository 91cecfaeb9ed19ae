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

Usage: bench/handover.py [--rounds 3] [--sizes 1000,10000]
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
"""


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000")
    args = ap.parse_args()
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

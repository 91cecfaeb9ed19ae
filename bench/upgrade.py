#!/usr/bin/env python3
"""bench/upgrade.py: the cost of an upgrade in place (SIGUSR2) with N idle WebSockets.

For each size, in interleaved rounds: copies of build/'s binaries in a temporary bin/, a gateway
with 2 workers, N raw WebSockets on the echo object (idle), one more echoing in a loop (its
round-trip times before and during the switch); the "+next" build is renamed over bin/ and the
gateway gets SIGUSR2. Reported, medians over the rounds:
  upgrade_ms  the old gateway's elapsed_ms (SIGUSR2 to its exit: pre-flight, successor start,
              every worker switch)
  switch_ms   each old worker's MSG_MIGRATE to its last socket sent (summed over the 2)
  answered_ms SIGUSR2 to every idle socket answering an echo through the new workers
  echo p50/p99/max during the switch (and p99 before), and the echoes answered per second
Fails (exit 1) if a socket closed or did not answer.

Run: python3 bench/upgrade.py --rounds 3 --sizes 1000,10000   (build/ and build/tests/ built)
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
import duro_test  # noqa: E402
from duro_test import OP_TEXT, Conn, frame, ws_request  # noqa: E402

NEXT = os.path.join(duro_test.REPO, "build", "tests")
CONFIG = ("[server]\nlog_level = info\n\n"
          "[route echo]\nmatch = exact /echo\nclass = echo\nobject = echo\n")


class Echoer(threading.Thread):
    def __init__(self, addr):
        super().__init__(daemon=True)
        self.c = Conn(addr, timeout=10)
        self.c.send(ws_request("/echo"))
        assert self.c.read_response().code == 101
        self.rtts = []   # (t_sent, rtt)
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            n += 1
            t0 = time.monotonic()
            self.c.send(frame(OP_TEXT, f"ping {n}"))
            f = self.c.read_frame()
            assert f.payload == f"ping {n}".encode(), f.payload
            self.rtts.append((t0, time.monotonic() - t0))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


class Run(unittest.TestCase):
    """A TestCase only for duro_test.Gateway's cleanups."""

    def runTest(self):
        pass


def one(n):
    t = Run()
    tmp = tempfile.mkdtemp(prefix="duro-bench-upgrade-")
    try:
        bin_dir = os.path.join(tmp, "bin")
        os.mkdir(bin_dir)
        gw_path = os.path.join(bin_dir, "duro-gateway")
        wk_path = os.path.join(bin_dir, "duro-worker")
        shutil.copy2(duro_test.GATEWAY, gw_path)
        shutil.copy2(duro_test.WORKER, wk_path)
        gw = duro_test.Gateway(t, config=CONFIG, workers=2, gateway_bin=gw_path, worker_bin=wk_path)
        idle = []
        for _ in range(n):
            c = Conn(gw.addr, timeout=30)
            c.send(ws_request("/echo"))
            assert c.read_response().code == 101
            idle.append(c)
        echo = Echoer(gw.addr)
        echo.start()
        time.sleep(1.0)   # echoes before the switch
        for src, dst in ((os.path.join(NEXT, "duro-gateway-next"), gw_path),
                         (os.path.join(NEXT, "duro-worker-next"), wk_path)):
            shutil.copy2(src, dst + ".new")
            os.replace(dst + ".new", dst)
        mark = gw.mark()
        t_sig = time.monotonic()
        gw.proc.send_signal(signal.SIGUSR2)
        done = gw.wait_for_line(r"event=upgrade phase=retired .*elapsed_ms=(\d+)", 120, mark)
        t_retired = time.monotonic()
        echo.halt.set()
        echo.join(10)
        for c in idle:
            c.send(frame(OP_TEXT, "after"))
        for c in idle:
            f = c.read_frame()
            assert f.payload == b"after", f.payload
        answered = time.monotonic() - t_sig
        switches = [int(m.group(1)) for m in map(
            re.compile(r"action=worker_migrated .*switch_ms=(\d+)").search, gw.lines[mark:]) if m]
        before = [r for t0, r in echo.rtts if t0 < t_sig]
        during = [r for t0, r in echo.rtts if t_sig <= t0 <= t_retired]
        for c in idle:
            c.close()
        echo.c.close()
        # The successor is not the test's child: stop it, then the helper's cleanups.
        succ = re.search(r"successor_pid=(\d+)", done.string)
        if succ:
            os.kill(int(succ.group(1)), signal.SIGTERM)
            duro_test.assert_pids_gone([int(succ.group(1))], timeout=20)
        t.doCleanups()
        return {
            "upgrade_ms": int(done.group(1)),
            "switch_ms": sum(switches),
            "answered_ms": answered * 1000,
            "p99_before_ms": pct(before, 0.99) * 1000,
            "p50_ms": pct(during, 0.5) * 1000,
            "p99_ms": pct(during, 0.99) * 1000,
            "max_ms": max(during) * 1000 if during else float("nan"),
            "echo_per_s": len(during) / max(t_retired - t_sig, 1e-9),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="1000,10000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {n: [] for n in sizes}
    for r in range(args.rounds):
        for n in sizes:
            res = one(n)
            results[n].append(res)
            print(f"round {r + 1} n={n}: " + " ".join(f"{k}={v:.1f}" for k, v in res.items()),
                  flush=True)
    keys = list(results[sizes[0]][0])
    print("| idle sockets | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for n in sizes:
        med = [statistics.median(x[k] for x in results[n]) for k in keys]
        print(f"| {n:,} | " + " | ".join(f"{v:.1f}" for v in med) + " |")


if __name__ == "__main__":
    main()

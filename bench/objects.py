#!/usr/bin/env python3
"""bench/objects.py: GET /objects under the issue 11 load, for BENCHMARKS.md ("Listing objects").

For each build given (by default the one in build/, and optionally a baseline such as a build
of an older commit), interleaved in each round: starts a gateway with 2 workers, creates
--rooms chat rooms with 256-byte names (one upgrade each, then the socket closes; the rooms
stay), connects 100 bystander sockets in rooms of their own and echoes through them in a loop,
and runs 16 concurrent complete listings: GET /objects, following `next` (a build that answers a
bare JSON array gives one answer per listing), retrying a 503 after its Retry-After. Reports per
build the medians over the rounds of: the time until all 16 listings are done, the fewest
objects one listing got, the slowest bystander echo during them, and the workers lost (PIDs
changed or `worker_hung` logged).

Usage: bench/objects.py [--rounds 3] [--rooms 20000] [--baseline GATEWAY:WORKER]
Only 127.0.0.1; every process it starts is stopped (tests/lib's Gateway, its cleanups).
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from duro_test import Gateway  # noqa: E402
from test_admin_objects import ROOMS, Bystanders, create_rooms, long_name  # noqa: E402


def listing(gw, out):
    """One complete listing; appends (objects, seconds) or the error to `out`."""
    t0 = time.monotonic()
    total, cursor = 0, ""
    try:
        while True:
            url = f"http://{gw.admin[0]}:{gw.admin[1]}/objects"
            if cursor:
                url += f"?cursor={cursor}"
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    doc = json.loads(r.read())
            except urllib.error.HTTPError as e:
                if e.code == 503 and e.headers.get("Retry-After"):
                    time.sleep(int(e.headers["Retry-After"]))
                    continue
                raise
            if isinstance(doc, list):  # a build before pages
                total += len(doc)
                break
            total += len(doc["objects"])
            cursor = doc["next"]
            if not cursor:
                break
        out.append((total, time.monotonic() - t0))
    except Exception as e:  # reported in the table
        out.append(e)


def one_run(gateway, worker, rooms):
    tc = unittest.TestCase()
    try:
        gw = Gateway(tc, workers=2, config=ROOMS, gateway_bin=gateway, worker_bin=worker)
        create_rooms(gw, [long_name(i) for i in range(rooms)])
        pids = sorted(gw.worker_pids())
        by = Bystanders(gw)
        tc.addCleanup(by.close)
        by.start()
        out = []
        threads = [threading.Thread(target=listing, args=(gw, out)) for _ in range(16)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        took = time.monotonic() - t0
        try:
            by.stop()
            broken = 0
        except AssertionError:
            broken = 1
        lost = int(sorted(gw.worker_pids()) != pids) + sum(
            "event=worker_hung" in line for line in gw.lines)
        counts = [o[0] for o in out if isinstance(o, tuple)]
        errors = [o for o in out if not isinstance(o, tuple)]
        return {"took": took, "fewest": min(counts) if counts else 0, "errors": len(errors),
                "slowest": by.slowest, "lost": lost + broken}
    finally:
        tc.doCleanups()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rooms", type=int, default=20000)
    ap.add_argument("--baseline", help="GATEWAY:WORKER of a build to compare with")
    args = ap.parse_args()
    builds = {"this build": (os.path.join(ROOT, "build", "gateway", "duro-gateway"),
                             os.path.join(ROOT, "build", "worker", "duro-worker"))}
    if args.baseline:
        builds = {"baseline": tuple(args.baseline.split(":", 1)), **builds}
    results = {name: [] for name in builds}
    for r in range(args.rounds):
        for name, (gateway, worker) in builds.items():
            res = one_run(gateway, worker, args.rooms)
            results[name].append(res)
            print(f"round {r + 1} {name}: {res}", file=sys.stderr)
    print(f"\n{args.rooms} rooms (256-byte names), 2 workers, 16 concurrent listings, "
          f"100 bystanders; medians of {args.rounds}\n")
    print("| build | all 16 listings done (s) | fewest objects in a listing | "
          "slowest bystander echo (ms) | failed listings | workers or bystanders lost |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        def med(k):
            return statistics.median(x[k] for x in runs)
        print(f"| {name} | {med('took'):.2f} | {med('fewest'):.0f} | {med('slowest') * 1000:.0f} "
              f"| {med('errors'):.0f} | {med('lost'):.0f} |")


if __name__ == "__main__":
    main()

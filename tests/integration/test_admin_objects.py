"""tests/integration/test_admin_objects.py: GET /objects in pages (issue 11 item 3; docs/design.md 7).

A worker builds one bounded chunk per query, one query at a time, so listing many long-named
rooms never starves its heartbeat or its sockets; the pages list every object once; a worker
that does not answer is named (partial), never answered as an empty list.

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_admin_objects.py -v
"""

import json
import os
import selectors
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from duro_test import (WORKER, Conn, Gateway, admin_objects, admin_page, frame,  # noqa: E402
                       http_request, pid_alive, ws_request)

ROOMS = ("[objects]\nhibernate_after_ms = 600000\n"
         "[route rooms]\nmatch = path /rooms/{name}/websocket\nclass = chat\nobject = {name}\n")

# The case: 20,000 rooms with 256-byte names (created in about 4 s on 2 cores). Before
# pages, 16 concurrent GET /objects over them answered `200 []` (timed out) and stalled the
# bystanders' echoes for 2.7 s.
MANY = int(os.environ.get("DURO_TEST_OBJECTS", "20000"))


def long_name(i, width=256):
    return f"{i:06d}" + "n" * (width - 6)


def create_rooms(gw, names, window=100):
    """Each room exists once its upgrade got 101 (the socket then closes; the room stays for
    hibernate_after_ms). Up to `window` upgrades in flight."""
    pending = list(names)
    inflight = {}
    sel = selectors.DefaultSelector()
    deadline = time.monotonic() + 120
    try:
        while pending or inflight:
            while pending and len(inflight) < window:
                s = socket.create_connection(gw.addr, timeout=5)
                s.sendall(ws_request(f"/rooms/{pending.pop()}/websocket"))
                s.setblocking(False)
                inflight[s] = b""
                sel.register(s, selectors.EVENT_READ)
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(pending) + len(inflight)} rooms not created in time")
            for key, _ in sel.select(5):
                s = key.fileobj
                data = s.recv(4096)
                inflight[s] += data
                if b"\r\n\r\n" in inflight[s] or not data:
                    if not inflight[s].startswith(b"HTTP/1.1 101"):
                        raise AssertionError(f"upgrade answered {inflight[s][:80]!r}")
                    sel.unregister(s)
                    s.close()
                    del inflight[s]
    finally:
        for s in list(inflight):
            s.close()
        sel.close()


def list_all(gw, limit=None, timeout=30):
    """Every object, pages followed from the start; a 503 is retried after its Retry-After."""
    objs, pages, cursor = [], [], None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, headers, doc = admin_page(gw.admin, limit, cursor, timeout)
        if status == 503:
            retry = headers.get("Retry-After")
            assert retry == "1", (status, dict(headers), doc)
            time.sleep(int(retry))  # the server's own back-off, as a client must
            continue
        assert status == 200, (status, doc)
        pages.append(doc)
        objs += doc["objects"]
        cursor = doc["next"]
        if cursor is None:
            return objs, pages
    raise AssertionError("listing not finished in time")


class Bystanders:
    """Sockets in rooms of their own on every worker, echoed through the chat class while the
    test runs: the slowest round trip is what a client saw of the workers' loops."""

    def __init__(self, gw, n=100):
        self.conns = []
        for i in range(n):
            c = Conn(gw.addr, timeout=10)
            c.send(ws_request(f"/rooms/bystander-{i}/websocket"))
            assert c.read_response().code == 101
            self.conns.append(c)
        self.slowest = 0.0
        self.rounds = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def echo_all(self):
        for i, c in enumerate(self.conns):
            t0 = time.monotonic()
            c.send(frame(0x1, b"still here %d" % i))
            f = c.read_frame()
            assert (f.opcode, f.payload) == (0x1, b"still here %d" % i), f
            self.slowest = max(self.slowest, time.monotonic() - t0)

    def _run(self):
        try:
            while not self._stop.is_set():
                self.echo_all()
                self.rounds += 1
        except Exception as e:  # reported by stop()
            self.error = e

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        if self.error is not None:
            raise AssertionError(f"a bystander socket failed: {self.error!r}")

    def close(self):
        for c in self.conns:
            c.close()


def names_of(objs, cls="chat"):
    return [o["name"] for o in objs if o["class"] == cls and not o["name"].startswith("bystander")]


class ObjectsPagesTest(unittest.TestCase):

    def assert_no_worker_lost(self, gw, pids):
        self.assertEqual(sorted(gw.worker_pids()), sorted(pids))
        for pid in pids:
            self.assertTrue(pid_alive(pid))
        hung = [line for line in gw.lines if "event=worker_hung" in line]
        self.assertEqual(hung, [])

    def test_concurrent_listings_of_many_long_named_rooms_starve_no_worker(self):
        gw = Gateway(self, workers=2, config=ROOMS)
        names = [long_name(i) for i in range(MANY)]
        create_rooms(gw, names)
        pids = gw.worker_pids()
        by = Bystanders(gw)
        self.addCleanup(by.close)
        by.start()
        results, errors = [], []

        def one(limit):
            try:
                results.append(list_all(gw, limit, timeout=120))
            except Exception as e:
                errors.append(e)
        # 16 listings at once, as in the issue, more than the pages allowed in progress (8)
        threads = [threading.Thread(target=one, args=(limit,))
                   for limit in [None, 10000, 997, 256] * 4]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        took = time.monotonic() - t0
        by.stop()
        self.assertEqual(errors, [])
        self.assertEqual(len(results), 16)
        for objs, pages in results:
            self.assertFalse(any(p["partial"] for p in pages))
            self.assertEqual([p["missing_workers"] for p in pages], [[]] * len(pages))
            listed = names_of(objs)
            self.assertEqual(len(listed), len(names), "every object once across the pages")
            self.assertEqual(sorted(listed), names)
            for o in objs[:3]:
                self.assertEqual(sorted(o), ["class", "id", "last_event_ms_ago", "name",
                                             "next_alarm_ms", "open", "sockets", "state",
                                             "storage_bytes", "worker"])
        self.assertGreater(by.rounds, 0)
        # A chunk is at most 256 objects: the loops kept turning (the whole list in one go took
        # 0.35 s per query for 20,000 rooms, and 16 of them stalled the workers for seconds).
        self.assertLess(by.slowest, 1.0, f"a bystander waited {by.slowest:.3f}s")
        by.echo_all()
        self.assert_no_worker_lost(gw, pids)
        print(f"\n{MANY} rooms, 16 listings: {took:.2f}s, slowest bystander echo "
              f"{by.slowest * 1000:.0f} ms over {by.rounds} rounds", file=sys.stderr)

    def test_a_stopped_worker_is_named_missing_and_the_rest_listed_once(self):
        gw = Gateway(self, workers=2, config=ROOMS)
        names = [long_name(i, 200) for i in range(2000)]
        create_rooms(gw, names)
        objs, pages = admin_objects(gw.admin, limit=300)
        self.assertEqual(sorted(names_of(objs)), names)
        on = {w: sorted(o["name"] for o in objs if o["worker"] == w) for w in (0, 1)}
        self.assertTrue(on[0] and on[1], "rooms on both workers")
        pids = gw.worker_pids()
        stopped = gw.workers[0][-1]
        mark = gw.mark()
        os.kill(stopped, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            objs, pages = admin_objects(gw.admin, limit=300)
            took = time.monotonic() - t0
        finally:
            os.kill(stopped, signal.SIGCONT)
        # The page that met worker 0 waited for its chunk (2 s), named it and went on.
        self.assertTrue(pages[0]["partial"])
        self.assertEqual(pages[0]["missing_workers"], [0])
        self.assertEqual([p["partial"] for p in pages[1:]], [False] * (len(pages) - 1))
        self.assertEqual(sorted(o["name"] for o in objs), on[1])
        self.assertLess(took, 5.0)
        gw.wait_for_line(r"event=objects_chunk_timeout worker=0 ", 1, mark)
        # Once it answers its late chunk, it is listed again.
        gw.wait_for_line(r"event=objects_worker_answering_again worker=0\b", 5, mark)
        objs, pages = admin_objects(gw.admin)
        self.assertFalse(any(p["partial"] for p in pages))
        self.assertEqual(sorted(names_of(objs)), names)
        self.assert_no_worker_lost(gw, pids)

    def test_a_down_worker_is_named_missing_at_once(self):
        block = os.path.join(self.tmp(), "block")
        wrapper = os.path.join(self.tmp(), "worker.sh")
        with open(wrapper, "w") as f:  # a worker that fails to start while `block` exists
            f.write(f"#!/bin/sh\n[ -e {block} ] && exit 1\nexec {WORKER} \"$@\"\n")
        os.chmod(wrapper, stat.S_IRWXU)
        gw = Gateway(self, workers=2, config=ROOMS, worker_bin=wrapper)
        names = [f"r{i}" for i in range(500)]
        create_rooms(gw, names)
        objs, _ = admin_objects(gw.admin, limit=100)
        on0 = sorted(o["name"] for o in objs if o["worker"] == 0)
        self.assertTrue(0 < len(on0) < len(names))
        open(block, "w").close()
        mark = gw.mark()
        os.kill(gw.workers[1][-1], signal.SIGKILL)
        gw.wait_for_line(r"event=worker_exited worker=1 ", 5, mark)
        t0 = time.monotonic()
        objs, pages = admin_objects(gw.admin, limit=100)
        self.assertLess(time.monotonic() - t0, 1.5, "a down worker is not waited for")
        self.assertEqual(sorted(o["name"] for o in objs), on0)
        self.assertTrue(pages[-1]["partial"])
        self.assertEqual(pages[-1]["missing_workers"], [1])
        self.assertIsNone(pages[-1]["next"])
        gw.wait_for_line(r"event=objects_worker_missing worker=1 reason=down", 1, mark)
        os.unlink(block)
        gw.wait_for_line(r"event=worker_spawned worker=1 ", 15, mark)
        objs, pages = admin_objects(gw.admin, limit=100)
        self.assertFalse(any(p["partial"] for p in pages))
        self.assertEqual(sorted(o["name"] for o in objs), on0)  # worker 1's rooms went with it

    def tmp(self):
        if not hasattr(self, "_tmp"):
            self._tmp = tempfile.mkdtemp(prefix="duro-objects-")
            self.addCleanup(shutil.rmtree, self._tmp, True)
        return self._tmp

    def test_pages_beyond_the_cap_get_503_with_retry_after(self):
        gw = Gateway(self, workers=2, config=ROOMS)
        create_rooms(gw, [f"r{i}" for i in range(50)])
        stopped = gw.workers[0][-1]
        conns = []
        os.kill(stopped, signal.SIGSTOP)
        try:
            # 9 pages at once: 8 wait for the stopped worker, one is refused at once
            for _ in range(9):
                c = Conn(gw.admin, timeout=10)
                c.send(http_request("GET", "/objects"))
                conns.append(c)
            answers = [c.read_response() for c in conns]
        finally:
            os.kill(stopped, signal.SIGCONT)
            for c in conns:
                c.close()
        refused = [r for r in answers if r.code == 503]
        self.assertEqual(len(refused), 1, [r.code for r in answers])
        self.assertEqual(refused[0].header("Retry-After"), ["1"])
        self.assertIn(b"retry", refused[0].body)
        served = [json.loads(r.body) for r in answers if r.code == 200]
        self.assertEqual(len(served), 8)
        for doc in served:
            self.assertEqual((doc["partial"], doc["missing_workers"]), (True, [0]))
            self.assertTrue(all(o["worker"] == 1 for o in doc["objects"]))

    def test_sigterm_while_pages_wait_for_a_stopped_worker(self):
        gw = Gateway(self, workers=2, config=ROOMS + "[server]\nlog_level = debug\n"
                     "drain_timeout_ms = 1000\n")
        create_rooms(gw, [f"r{i}" for i in range(50)])
        stopped = gw.workers[0][-1]
        conns = []
        mark = gw.mark()
        os.kill(stopped, signal.SIGSTOP)
        try:
            for _ in range(3):  # one chunk in flight to the stopped worker, two pages waiting
                c = Conn(gw.admin, timeout=10)
                c.send(http_request("GET", "/objects"))
                conns.append(c)
            gw.wait_for_line(r"event=objects_chunk_sent worker=0 ", 2, mark)
            gw.wait_for_lines(r"event=objects_page_waiting worker=0\b", 2, 2, mark)
            gw.proc.send_signal(signal.SIGTERM)
            for c in conns:  # the pages are dropped with their connections, unanswered
                with self.assertRaises(EOFError):
                    c.read_response()
        finally:
            os.kill(stopped, signal.SIGCONT)
            for c in conns:
                c.close()
        self.assertEqual(gw.terminate(send=False), 0)

    def test_cursor_holds_while_the_registry_grows_between_pages(self):
        gw = Gateway(self, workers=1, config=ROOMS)
        first = [f"a{i:04d}" for i in range(300)]
        create_rooms(gw, first)
        seen, cursor, pages = [], None, 0
        # Part of the listing, 7 a page, up to a page cut inside a bucket (the cursor then
        # holds the last id listed from it).
        while pages < 10 or len(cursor.split(".")) != 4:
            status, _, doc = admin_page(gw.admin, 7, cursor)
            self.assertEqual(status, 200)
            seen += names_of(doc["objects"])
            cursor = doc["next"]
            pages += 1
            self.assertLess(pages, 40)
        self.assertEqual(len(seen), 7 * pages)
        # 3000 more: the table doubles 3 times (512 to 4096 buckets) under the cursor
        create_rooms(gw, [f"b{i:04d}" for i in range(3000)])
        while cursor is not None:
            status, _, doc = admin_page(gw.admin, 7, cursor)
            self.assertEqual(status, 200)
            seen += names_of(doc["objects"])
            cursor = doc["next"]
        self.assertEqual(len(seen), len(set(seen)), "an object listed twice")
        self.assertEqual(sorted(n for n in seen if n.startswith("a")), first)

    def test_limit_cursor_and_link(self):
        gw = Gateway(self, workers=2, config=ROOMS)
        names = [f"room{i}" for i in range(1200)]
        create_rooms(gw, names)
        status, headers, doc = admin_page(gw.admin)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(len(doc["objects"]), 1000)  # the default limit
        self.assertRegex(doc["next"], r"^[01]\.[0-9a-f]+\.[0-9]+(\.[0-9a-f]{64})?$")
        self.assertEqual(headers["Link"],
                         f'</objects?limit=1000&cursor={doc["next"]}>; rel="next"')
        status, headers, rest = admin_page(gw.admin, cursor=doc["next"])
        self.assertEqual((status, rest["next"], headers["Link"]), (200, None, None))
        self.assertEqual(sorted(names_of(doc["objects"] + rest["objects"])), sorted(names))
        for q in ("limit=0", "limit=10001", "limit=abc", "limit=", "limit=-1",
                  "cursor=zz", "cursor=2.0.0", "cursor=0.10.4", "cursor=0.0.0.abc",
                  "cursor=0.0.64", "cursor=0..0"):
            c = Conn(gw.admin)
            c.send(http_request("GET", f"/objects?{q}"))
            r = c.read_response()
            c.close()
            self.assertEqual(r.code, 400, q)
            self.assertRegex(r.body, rb"^bad (limit|cursor)", q)
        status, _, doc = admin_page(gw.admin, limit=10000)
        self.assertEqual((status, len(names_of(doc["objects"])), doc["next"]), (200, 1200, None))


if __name__ == "__main__":
    unittest.main()

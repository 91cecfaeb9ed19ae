"""tests/integration/test_pings.py: dead peers found while their object sleeps (issue 13 item 5,
[websocket] ping_interval_ms and ping_timeout_ms, worker/liveness.c).

A client that never answers (a raw socket that never reads) is closed once it has been silent
for the interval and a ping has gone unanswered for the timeout: the class sees on_close with
1006 and was_clean 0, and its hibernated object is woken for that on_close only. A client that
answers (Python websockets answers pings by itself) stays open, its object asleep. With
ping_interval_ms = 0 no ping is sent.

The probe class (tests/classes/probe.c) tells sockets tagged "watch" what on_close saw.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... python3 tests/integration/test_pings.py -v
"""

import asyncio
import os
import re
import socket
import sys
import unittest
import urllib.request

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

from duro_test import OP_PING, OP_PONG, OP_TEXT, Gateway, frame, run_async  # noqa: E402

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
INTERVAL_MS = 300
TIMEOUT_MS = 300
HIBERNATE_MS = 150
# Generous: interval + timeout is 0.6 s; slow (sanitizer) builds get the same bound.
CLOSE_WITHIN_S = 15.0
PINGS_SEEN = 3  # pings an answering client must see while it stays open


def config(interval_ms=INTERVAL_MS, timeout_ms=TIMEOUT_MS):
    return f"""
[server]
log_level = debug

[websocket]
ping_interval_ms = {interval_ms}
ping_timeout_ms = {timeout_ms}

[objects]
hibernate_after_ms = {HIBERNATE_MS}

[class probe]
path = {PROBE_SO}
symbol = probe_class

[route probe]
match = path /probe/{{name}}
class = probe
object = {{name}}
"""


def metric(gw, name):
    url = f"http://{gw.admin[0]}:{gw.admin[1]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    if m is None:
        raise AssertionError(f"{name} not in /metrics")
    return float(m.group(1))


def lines_matching(gw, pattern, start, end=None):
    rx = re.compile(pattern)
    return [i for i, l in enumerate(gw.lines[start:end], start) if rx.search(l)]


class PingTest(unittest.TestCase):

    def setUp(self):
        if not PROBE_SO:
            self.skipTest("DURO_PROBE_SO not set")

    def test_silent_client_is_closed_and_the_object_woken_only_for_on_close(self):
        gw = Gateway(self, config())

        async def run():
            async with websockets.connect(gw.ws_url("/probe/dead?tags=watch"),
                                          ping_interval=None) as watcher:
                mark = gw.mark()
                dead = gw.ws_open("/probe/dead")  # never reads, never writes again
                await asyncio.to_thread(gw.wait_for_line, r"event=hibernate obj=probe/dead\b",
                                        5, mark)
                asleep = gw.mark()
                m = await asyncio.to_thread(
                    gw.wait_for_line, r"conn=(\d+) obj=probe/dead event=ping_timeout\b",
                    CLOSE_WITHIN_S, asleep)
                conn = m.group(1)
                # on_close saw an abnormal close; the watcher stays open.
                self.assertEqual(await asyncio.wait_for(watcher.recv(), 5), "closed:1006:0")
                closed = await asyncio.to_thread(
                    gw.wait_for_line, rf"event=ws_closed conn={conn} obj=probe/dead\b", 5,
                    asleep)
                self.assertIn("code_recv=1006", closed.string)
                timeout_at = lines_matching(
                    gw, rf"conn={conn} obj=probe/dead event=ping_timeout\b", asleep)[0]
                # Asleep from the hibernation to the ping timeout: the pings sent to both
                # sockets and the watcher's pongs woke nothing.
                self.assertEqual(lines_matching(gw, r"event=wake\b", asleep, timeout_at), [],
                                 gw.lines[asleep:timeout_at])
                self.assertTrue(lines_matching(gw, rf"conn={conn} obj=probe/dead event=ping\b",
                                               asleep, timeout_at), gw.lines[asleep:timeout_at])
                # ... and woken for the on_close.
                self.assertTrue(lines_matching(gw, r"event=wake obj=probe/dead\b", timeout_at))
                # The dead client's socket holds the ping(s) it never read, then the end.
                got = b""
                dead.sock.settimeout(5)
                while True:
                    try:
                        chunk = dead.sock.recv(65536)
                    except ConnectionResetError:
                        break
                    if not chunk:
                        break
                    got += chunk
                self.assertTrue(got.startswith(bytes([0x80 | OP_PING, 0])), got)

        run_async(run(), timeout=CLOSE_WITHIN_S + 20)
        self.assertGreaterEqual(metric(gw, "duro_ping_timeouts_total"), 1)

    def test_answering_client_stays_open_and_its_object_asleep(self):
        gw = Gateway(self, config())

        async def run():
            async with websockets.connect(gw.ws_url("/probe/alive"), ping_interval=None) as ws:
                mark = gw.mark()
                await ws.send("gen")
                self.assertRegex(await asyncio.wait_for(ws.recv(), 5), r"^gen:\d+$")
                await asyncio.to_thread(gw.wait_for_line, r"event=hibernate obj=probe/alive\b",
                                        5, mark)
                asleep = gw.mark()
                # Several intervals: each ping answered by websockets, nothing wakes the object.
                pings = await asyncio.to_thread(
                    gw.wait_for_lines, r"conn=\d+ obj=probe/alive event=ping\b", PINGS_SEEN,
                    CLOSE_WITHIN_S, asleep)
                last = lines_matching(gw, r"conn=\d+ obj=probe/alive event=ping\b",
                                      asleep)[PINGS_SEEN - 1]
                self.assertEqual(lines_matching(gw, r"event=wake\b|event=ping_timeout\b",
                                                asleep, last + 1), [], gw.lines[asleep:last + 1])
                self.assertEqual(len(pings), PINGS_SEEN)
                # Still open and served: a message wakes the object and gets its answer.
                await ws.send("gen")
                self.assertRegex(await asyncio.wait_for(ws.recv(), 5), r"^gen:\d+$")
                await asyncio.to_thread(gw.wait_for_line, r"event=wake obj=probe/alive\b", 5,
                                        last)

        run_async(run(), timeout=CLOSE_WITHIN_S + 20)
        self.assertEqual(metric(gw, "duro_ping_timeouts_total"), 0)

    def test_raw_client_answering_pings_is_kept(self):
        """The same with our own client: it answers each ping with a masked pong."""
        gw = Gateway(self, config())
        c = gw.ws_open("/probe/raw")
        mark = gw.mark()
        c.sock.settimeout(CLOSE_WITHIN_S)
        for _ in range(PINGS_SEEN):
            f = c.read_frame()
            self.assertEqual((f.opcode, f.payload, f.masked), (OP_PING, b"", False))
            c.send(frame(OP_PONG, f.payload))
        c.sock.settimeout(5)
        c.send(frame(OP_TEXT, b"name"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, b"raw"))
        self.assertEqual(lines_matching(gw, r"event=ping_timeout\b", mark), [])

    def test_interval_zero_sends_no_pings(self):
        gw = Gateway(self, config(interval_ms=0))
        mark = gw.mark()
        c = gw.ws_open("/probe/quiet")
        gw.wait_for_line(r"event=hibernate obj=probe/quiet\b", 5, mark)
        # Ten times what the interval and timeout of the other tests add up to: no frame.
        c.sock.settimeout(10 * (INTERVAL_MS + TIMEOUT_MS) / 1000)
        with self.assertRaises(socket.timeout):
            c.sock.recv(1)
        c.sock.settimeout(5)
        c.send(frame(OP_TEXT, b"name"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, b"quiet"))
        self.assertEqual(lines_matching(gw, r"event=ping\b|event=ping_timeout\b", mark), [])
        self.assertEqual(metric(gw, "duro_pings_sent_total"), 0)


if __name__ == "__main__":
    unittest.main()

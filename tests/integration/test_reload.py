"""tests/integration/test_reload.py: SIGHUP reloads against connections in flight, and the class
check a reload runs (issue 10, defects 1 and 3).

- A pipelined upgrade that waits behind answers its client has not read yet was parsed under
  one route table; a reload that replaces the table meanwhile must not change where it goes (the
  class it was routed to, on the worker chosen for that class).
- The class check of a reload runs in a child process: while it loads a slow class the gateway
  keeps answering.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_SLOW_SO=... \
     python3 tests/integration/test_reload.py -v
"""

import fcntl
import os
import signal
import struct
import tempfile
import termios
import time
import unittest

from harness import (HOST, OP_CLOSE, OP_TEXT, Conn, Gateway, close_payload, frame, http_request,
                     tcp_queues, upgrade_request)

SLOW_SO = os.environ.get("DURO_SLOW_SO", "")
SEED = "[Durable Object] message: {}, connections: {}"
R426 = (b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\n\r\n"
        b"Durable Object expected Upgrade: websocket")
HOLD_STEPS_MAX = 20000     # 426 answers sent before the gateway must be holding output
HOLD_TIMEOUT_S = 20.0


def routes(cls_of_r):
    return (f"[server]\nlog_level = debug\n"
            f"[route r]\nmatch = exact /r\nclass = {cls_of_r}\nobject = r\n"
            f"[route seed]\nmatch = suffix /websocket\nclass = seed\nobject = foo\n")


def queues(local_port, remote_port):
    return tcp_queues((HOST, local_port), (HOST, remote_port))


def unread(sock):
    """Bytes that arrived at `sock` and were not read (FIONREAD)."""
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0\0\0\0"))[0]


class ReloadTest(unittest.TestCase):
    def read_by_gateway(self, gw, port, deadline):
        """Waits until every byte the client sent was read by the gateway: the client's send
        queue and the gateway's receive queue are empty. The gateway handles what it reads in
        the same callback, so what it read is also answered, and its answer's write tried."""
        while queues(port, gw.port)[0] > 0 or queues(gw.port, port)[1] > 0:
            self.assertLess(time.monotonic(), deadline, "the gateway stopped reading: "
                            f"client {queues(port, gw.port)}, gateway {queues(gw.port, port)}")
            time.sleep(0.001)

    def hold_output(self, gw, c):
        """Pipelines GET /websocket (the seed's 426) one request at a time on `c`, which never
        reads, until the gateway holds an answer it could not write: its socket's send queue and
        what reached the client no longer account for every answer. The gateway then has a
        write in flight and still reads (one answer is far from filling its output buffer).
        Returns the number of 426 answers queued."""
        port = c.sock.getsockname()[1]
        request = http_request("GET", "/websocket")
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        for k in range(1, HOLD_STEPS_MAX + 1):
            c.send(request)
            self.read_by_gateway(gw, port, deadline)
            # Request k was read in a callback of its own, so the answers to 1..k-1 were
            # written or left in the gateway's output buffer, waiting for the socket.
            if k >= 2 and (k - 1) * len(R426) - unread(c.sock) - queues(gw.port, port)[0] > 0:
                return k
        self.fail(f"{HOLD_STEPS_MAX} answers did not fill the loopback buffers")

    def test_upgrade_waiting_behind_output_keeps_the_route_it_was_parsed_under(self):
        gw = Gateway(self, config=routes("echo"), workers=2)
        c = Conn(gw.addr, timeout=10, rcvbuf=4096, maxseg=536)
        self.addCleanup(c.close)
        answers = self.hold_output(gw, c)

        mark = gw.mark()
        c.send(upgrade_request("/r"))  # parsed now, under the first table: /r is echo
        # The gateway still reads: once it has read the upgrade, it has parsed it (in the same
        # callback), and the upgrade waits for the answers before it.
        self.read_by_gateway(gw, c.sock.getsockname()[1], time.monotonic() + 10)
        gw.write_config(routes("seed"))    # the same route, same index, another class
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_for_line(r"event=reloaded ", 10, mark)
        handed = [l for l in gw.lines[mark:] if "event=handoff " in l]
        self.assertEqual(handed, [], "the upgrade did not wait behind its earlier answers")

        for _ in range(answers):
            self.assertEqual(c.read_response().code, 426)
        self.assertEqual(c.read_response().code, 101)
        c.send(frame(OP_TEXT, b"which class"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, b"which class"),
                         f"the upgrade went to another class than its route's: {f.payload!r}")
        line = gw.wait_for_line(r"event=handoff ", 5, mark)
        self.assertIn(" obj=echo/r ", line.string)
        c.send(frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual(c.read_frame().opcode, OP_CLOSE)

    def echo_round_trip(self, gw, target, text):
        c = gw.ws_open(target)
        c.send(frame(OP_TEXT, text))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, text))
        c.close()

    @unittest.skipUnless(SLOW_SO, "DURO_SLOW_SO is not set")
    def test_a_slow_class_check_does_not_stop_the_gateway(self):
        base = "[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n"
        gate = os.path.join(self.enterContext(tempfile.TemporaryDirectory()), "gate")
        open(gate, "w").close()
        gw = Gateway(self, config=base, workers=1,
                     env=dict(os.environ, DURO_SLOW_LOAD_GATE=gate))
        # Runs before the gateway's own cleanup: a failing test does not leave the check waiting.
        self.addCleanup(lambda: os.path.exists(gate) and os.remove(gate))
        gw.write_config(f"[class slow]\npath = {SLOW_SO}\n"
                        "[route slow]\nmatch = exact /slow\nclass = slow\nobject = s\n" + base)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_for_line(r"slow_load event=check_waiting ", 10, mark)

        # The check is loading the class, and stays there until the gate goes: meanwhile the
        # gateway answers its admin listener and hands off upgrades, each well within a second.
        for i in range(5):
            t0 = time.monotonic()
            c = Conn(gw.admin, timeout=2)
            c.send(http_request("GET", "/healthz"))
            self.assertEqual(c.read_response().code, 200)
            c.close()
            self.echo_round_trip(gw, "/echo", b"during the check %d" % i)
            self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual([l for l in gw.lines[mark:] if "event=reloaded" in l], [],
                         "the reload finished before its class check did")

        os.remove(gate)
        gw.wait_for_line(r"event=reloaded ", 10, mark)
        self.echo_round_trip(gw, "/slow", b"the new class")


if __name__ == "__main__":
    unittest.main()

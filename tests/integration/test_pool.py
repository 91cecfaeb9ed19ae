"""tests/integration/test_pool.py: the worker pool under supervision, shutdown, and --check
(docs/design.md sections 3 and 6).

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_pool.py -v
"""

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import (OP_CLOSE, OP_TEXT, Gateway, assert_no_date_server, close_payload, frame,
                     pid_alive, ws_request)

RECOVERY_TIMEOUT_S = 10.0


def reply(message, n):
    return f"[Durable Object] message: {message}, connections: {n}".encode()


def run_gateway(*args):
    return subprocess.run([harness.GATEWAY, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=10)


class PoolTest(unittest.TestCase):

    def owner_of_seed(self, gw):
        """(slot, pid) of the worker that holds seed/foo: the one logging its ws_closed line.
        Falls back to slot 0 if the line does not name it."""
        mark = gw.mark()
        c = gw.ws_open()
        c.send(frame(OP_TEXT, "who"))
        self.assertEqual(c.read_frame().payload, reply("who", 1))
        c.send(frame(OP_CLOSE, close_payload(1000)))
        self.assertEqual(c.read_frame().opcode, OP_CLOSE)
        c.close()   # the worker logs ws_closed once TCP is closed too
        pid = None
        try:
            m = gw.wait_for_line(r"proc=worker pid=(\d+) .*event=ws_closed\b.*\bobj=seed/foo\b",
                                 timeout=3.0, start=mark)
            pid = int(m.group(1))
        except AssertionError:
            pass
        for slot, pids in gw.workers.items():
            if pid is not None and pids[-1] == pid:
                return slot, pid
        return 0, gw.workers[0][-1]

    def serve_after_outage(self, gw):
        """Upgrades /websocket until a 101, each try on a new connection. Every other answer
        must be exactly a 503 with Retry-After: 1. Returns how many 503s were seen."""
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        seen_503 = 0
        while True:
            c = gw.connect()
            c.send(ws_request())
            r = c.read_response()
            if r.code == 101:
                c.send(frame(OP_TEXT, "back"))
                self.assertEqual(c.read_frame().payload, reply("back", 1))
                c.send(frame(OP_CLOSE, close_payload(1000)))
                self.assertEqual(c.read_frame().opcode, OP_CLOSE)
                c.close()
                return seen_503
            self.assertEqual(r.status_line, b"HTTP/1.1 503 Service Unavailable", r)
            self.assertEqual(r.header("Retry-After"), ["1"], r)
            assert_no_date_server(r)
            c.close()
            seen_503 += 1
            if time.monotonic() > deadline:
                self.fail(f"still 503 after {RECOVERY_TIMEOUT_S}s; log:\n{gw.tail()}")
            time.sleep(0.05)   # retry interval, not synchronisation

    def test_killed_worker_is_restarted_and_serves_again(self):
        gw = Gateway(self, workers=2)
        self.assertEqual(sorted(gw.workers), [0, 1], gw.tail())
        slot, pid = self.owner_of_seed(gw)
        other = gw.workers[1 - slot][-1]
        mark = gw.mark()
        os.kill(pid, signal.SIGKILL)
        gw.wait_for_line(rf"event=worker_exited worker={slot} worker_pid={pid}\b.*\bsignal=9\b",
                         start=mark)
        seen_503 = self.serve_after_outage(gw)
        m = gw.wait_for_line(rf"event=worker_spawned worker={slot} worker_pid=(\d+)\b", start=mark)
        new_pid = int(m.group(1))
        self.assertNotEqual(new_pid, pid)
        self.assertTrue(pid_alive(new_pid))
        self.assertFalse(pid_alive(pid), "the killed worker was not reaped")
        self.assertTrue(pid_alive(other), "the other worker died too")
        self.assertEqual(gw.workers[1 - slot], [other], "the other worker was respawned")
        if os.environ.get("DURO_IT_LOG"):
            print(f"\n503 answers during the outage: {seen_503}")

        self.assertEqual(gw.terminate(), 0)
        for p in gw.worker_pids():
            self.assertFalse(pid_alive(p), f"worker {p} alive after the gateway exited")

    def test_sigterm_exits_0_and_stops_workers(self):
        gw = Gateway(self, workers=2)
        pids = gw.worker_pids()
        self.assertEqual(len(pids), 2)
        self.assertTrue(all(pid_alive(p) for p in pids))
        self.assertEqual(gw.terminate(), 0, gw.tail())
        for p in pids:
            self.assertFalse(pid_alive(p), f"worker {p} alive after the gateway exited")

    def test_sigterm_closes_websockets_with_1001(self):
        gw = Gateway(self, workers=2)
        c = gw.ws_open()
        c.send(frame(OP_TEXT, "hi"))
        self.assertEqual(c.read_frame().payload, reply("hi", 1))
        gw.proc.send_signal(signal.SIGTERM)
        f = c.read_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1001), f)
        c.send(frame(OP_CLOSE, close_payload(1001)))
        c.read_eof()
        c.close()
        self.assertEqual(gw.terminate(send=False), 0, gw.tail())
        for p in gw.worker_pids():
            self.assertFalse(pid_alive(p), f"worker {p} alive after the gateway exited")


class CheckTest(unittest.TestCase):

    def write(self, text):
        tmp = tempfile.TemporaryDirectory(prefix="duro-it-")
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "duro.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_check_good_config(self):
        path = self.write("[server]\nworkers = 2\n\n[route echo]\nmatch = exact /echo\n"
                          "class = echo\nobject = echo\n")
        p = run_gateway("-c", path, "--check")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, b"config ok"), p.stderr)
        p = run_gateway("--check")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, b"config ok"), p.stderr)

    def test_check_bad_config_names_file_line_and_key(self):
        path = self.write("[server]\nworkers = 2\nno_such_key = 5\nlog_level = info\n")
        p = run_gateway("-c", path, "--check")
        self.assertEqual(p.returncode, 2, p)
        err = p.stderr.decode()
        self.assertIn(path, err)
        self.assertRegex(err, rf"{re.escape(path)}:3\b|\bline 3\b")
        self.assertIn("no_such_key", err)
        self.assertNotIn(b"config ok", p.stdout)

    def test_bad_flag_and_version(self):
        p = run_gateway("--no-such-flag")
        self.assertEqual(p.returncode, 2, p)
        self.assertTrue(p.stderr.strip(), "no usage on stderr")
        p = run_gateway("--version")
        self.assertEqual((p.returncode, p.stdout.strip()), (0, b"duro-gateway 0.1.0"), p)


if __name__ == "__main__":
    unittest.main()

"""tests/integration/test_logs.py: every log line of a real gateway + worker run parses, in both
[server] log_format values, with ts= (or without, when log_timestamps = false) and no key twice;
and --check refuses what start-up refuses (issue 17: `listen = localhost:8787`).

The gateway is started here rather than with harness.Gateway, whose readiness wait reads the
text format: this test reads the JSON one too."""

import asyncio
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import websockets

from harness import GATEWAY, HOST, WORKER, Gateway, pid_alive, with_storage, _is_worker

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TEXT_PAIR_RE = re.compile(r'([A-Za-z0-9_.]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?: |$)')
OWNED = ["ts", "level", "proc", "pid", "mod"]


def parse_text(line):
    """A text line as an ordered list of (key, value); fails on anything that is not pairs."""
    pairs, pos = [], 0
    while pos < len(line):
        m = TEXT_PAIR_RE.match(line, pos)
        if not m:
            raise AssertionError(f"not key=value at column {pos}: {line!r}")
        v = m.group(2)
        if v.startswith('"'):
            v = json.loads(v)  # the text format escapes as JSON strings do
        pairs.append((m.group(1), v))
        pos = m.end()
    return pairs


def parse_json(line):
    pairs = json.loads(line, object_pairs_hook=lambda kv: kv)
    if not isinstance(pairs, list):
        raise AssertionError(f"not an object: {line!r}")
    return [(k, str(v)) for k, v in pairs]


class Run:
    """One gateway with one worker, its stderr lines read by a thread."""

    def __init__(self, test, config):
        tmp = tempfile.TemporaryDirectory(prefix="duro-logs-")
        test.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "duro.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(with_storage(config, os.path.join(tmp.name, "storage")))
        self.lines = queue.Queue()
        self.all = []
        self.worker_pids = set()
        self.proc = subprocess.Popen(
            [GATEWAY, "-c", path, "--listen", f"{HOST}:0", "--admin", "off", "--workers", "1",
             "--worker-bin", WORKER], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        test.addCleanup(self.kill)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.lines.put(raw.decode("utf-8").rstrip("\n"))
        self.lines.put(None)

    def next_line(self, deadline):
        line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
        if line is not None:
            self.all.append(line)
        return line

    def wait_for(self, parse, pred):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.next_line(deadline)
            if line is None:
                break
            d = dict(parse(line))
            if d.get("event") == "worker_spawned":
                self.worker_pids.add(int(d["worker_pid"]))
            if pred(d):
                return d
        raise AssertionError("expected line never came; lines:\n" + "\n".join(self.all))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and self.next_line(deadline) is not None:
            pass
        return self.all

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
        for pid in self.worker_pids:
            if pid_alive(pid) and _is_worker(pid):
                os.kill(pid, signal.SIGKILL)
        self.proc.stderr.close()


async def one_session(port):
    async with websockets.connect(f"ws://{HOST}:{port}/echo", compression=None,
                                  open_timeout=5, close_timeout=2, ping_interval=None) as ws:
        await ws.send('quote " newline \n tab \t')
        await asyncio.wait_for(ws.recv(), 5)


ECHO_ROUTE = "[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n"


class LogFormatTest(unittest.TestCase):

    def run_and_parse(self, fmt, timestamps):
        parse = parse_json if fmt == "json" else parse_text
        run = Run(self, f"[server]\nlog_format = {fmt}\nlog_timestamps = "
                        f"{'true' if timestamps else 'false'}\n" + ECHO_ROUTE)
        ready = run.wait_for(parse, lambda d: d.get("event") == "listening")
        run.wait_for(parse, lambda d: d.get("event") == "configured")
        port = int(ready["listen"].rpartition(":")[2])
        asyncio.run(asyncio.wait_for(one_session(port), 15))
        closed = run.wait_for(parse, lambda d: d.get("mod") == "access" and
                              d.get("event") == "ws_closed")
        opened = next(dict(parse(l)) for l in run.all
                      if dict(parse(l)).get("event") == "ws_open")
        # an access line for the 101 and one for the close, each with the client's address,
        # the class and the object; the close with duration, messages and bytes
        self.assertEqual(opened["status"], "101")
        self.assertEqual((opened["class"], opened["obj"], opened["target"]),
                         ("echo", "echo/e", "/echo"))
        self.assertEqual(closed["client"], opened["client"])
        self.assertRegex(opened["client"], r"^127\.0\.0\.1:\d+$")
        self.assertEqual((closed["class"], closed["obj"]), ("echo", "echo/e"))
        self.assertEqual((closed["msgs_in"], closed["msgs_out"]), ("1", "1"))
        self.assertEqual(closed["bytes_in"], str(len('quote " newline \n tab \t')))
        self.assertIn("duration_ms", closed)
        lines = run.stop()
        self.assertEqual(run.proc.returncode, 0)
        procs = set()
        for line in lines:
            pairs = parse(line)
            keys = [k for k, _ in pairs]
            self.assertEqual(len(keys), len(set(keys)), f"a key twice: {line!r}")
            owned = OWNED if timestamps else OWNED[1:]
            self.assertEqual(keys[:len(owned)], owned, line)
            if timestamps:
                self.assertRegex(pairs[0][1], TS_RE)
            else:
                self.assertNotIn("ts", keys)
            procs.add(dict(pairs)["proc"])
        self.assertEqual(procs, {"gateway", "worker"})
        return lines

    def test_text(self):
        self.run_and_parse("text", True)

    def test_json(self):
        lines = self.run_and_parse("json", True)
        self.assertTrue(all(l.startswith("{") for l in lines))

    def test_text_without_timestamps(self):
        self.run_and_parse("text", False)

    def test_json_without_timestamps(self):
        self.run_and_parse("json", False)


class CheckMatchesStartUpTest(unittest.TestCase):
    """--check and start-up read the config the same way: a name where duro binds is refused
    by both, naming the key's line, instead of `config ok` and then EINVAL."""

    def gateway(self, config, *args):
        tmp = self.enterContext(tempfile.TemporaryDirectory())
        path = os.path.join(tmp, "duro.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(config)
        return subprocess.run([GATEWAY, "-c", path, "--worker-bin", WORKER, "--workers", "1",
                               *args], capture_output=True, timeout=20, text=True)

    def test_listen_name_refused_by_both(self):
        for key, value in (("listen", "localhost:8787"), ("admin", "localhost:9787")):
            config = f"[server]\n; a comment\n{key} = {value}\n"
            check = self.gateway(config, "--check")
            start = self.gateway(config)
            for p in (check, start):
                self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertNotIn("config ok", p.stdout)
                self.assertRegex(p.stderr, rf"duro\.ini:3: \[server\] {key}: 'localhost:\d+' "
                                           r"is not IP:PORT.*names are not resolved")

    def test_listen_flag_name_refused(self):
        p = self.gateway("", "--listen", "localhost:0", "--check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("names are not resolved", p.stderr)

    def test_numeric_listen_passes_both(self):
        config = f"[server]\nlisten = {HOST}:0\nadmin = off\n"
        check = self.gateway(config, "--check")
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("config ok", check.stdout)

    def test_class_without_path(self):
        p = self.gateway("[class k]\nsymbol = s\n" + ECHO_ROUTE, "--check")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("duro.ini:1: [class k] has no 'path' key", p.stderr)


class DroppedClientTest(unittest.TestCase):
    """The close line of a connection the client reset names the client: the kernel forgets a
    reset socket's peer, so the worker keeps what it asked at the open line (session_client)."""

    def reset_and_read_lines(self, listen):
        args = ("--listen", listen) if listen else ()
        gw = Gateway(self, config=ECHO_ROUTE, args=args)
        mark = gw.mark()
        c = gw.ws_open("/echo")
        local = c.sock.getsockname()
        opened = gw.wait_for_line(r"event=ws_open .*client=(\S+)", 10, mark)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # an RST, not a FIN
        closed = gw.wait_for_line(r"event=ws_closed .*client=(\S+) .*code_recv=1006", 10, mark)
        return local, opened.group(1), closed.group(1)

    def test_ipv4_reset_keeps_the_client(self):
        local, opened, closed = self.reset_and_read_lines(None)
        self.assertEqual(opened, f"{local[0]}:{local[1]}")
        self.assertEqual(closed, opened)

    def test_ipv6_reset_keeps_the_client(self):
        if not socket.has_ipv6:
            self.skipTest("this machine has no IPv6")
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError as e:
            self.skipTest(f"::1 cannot be bound here: {e}")
        local, opened, closed = self.reset_and_read_lines("[::1]:0")
        self.assertEqual(opened, f"[{local[0]}]:{local[1]}")
        self.assertEqual(closed, opened)


if __name__ == "__main__":
    unittest.main()

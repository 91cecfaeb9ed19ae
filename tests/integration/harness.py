"""tests/integration/harness.py: start the real duro binaries and talk to them on loopback.

Stdlib only, plus Debian's python3-websockets 10.4 in the test files (run with python3).

- `Gateway(test, config=..., workers=N)` starts `duro-gateway --listen 127.0.0.1:0` (path from
  $DURO_GATEWAY, worker from $DURO_WORKER passed as --worker-bin), reads its stderr in a thread,
  waits for the readiness line (` listen=HOST:PORT`) and for the workers' `worker_spawned` lines,
  and registers a cleanup that stops it (SIGTERM, then SIGKILL) and kills any worker it saw.
- `Conn`: a raw TCP client with a read buffer: exact HTTP responses (by Content-Length) and
  WebSocket frames, for the bytes a good client never sends.
- `frame()`: a WebSocket frame encoder (any opcode, FIN, RSV, mask or none).

Every wait is bounded, and waits are on events signalled by the reader thread, never sleeps.
Set DURO_IT_LOG=1 to print each gateway's log (gateway and workers) when its test ends.
"""

import asyncio
import base64
import hashlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAY = os.environ.get("DURO_GATEWAY", os.path.join(REPO, "build", "gateway", "duro-gateway"))
WORKER = os.environ.get("DURO_WORKER", os.path.join(REPO, "build", "worker", "duro-worker"))

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0   # readiness line and worker spawns
STOP_TIMEOUT_S = 5.0     # SIGTERM to exit, then SIGKILL
WAIT_TIMEOUT_S = 5.0     # default for wait_for_line
IO_TIMEOUT_S = 5.0       # any single socket read
EXIT_GRACE_S = 0.5       # after the gateway exited, how long lines may still arrive

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="        # RFC 6455 section 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   # RFC 6455 section 1.3, computed

SEED_CLOSE_REASON = b"Durable Object is closing WebSocket"

SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"SUMMARY: (Address|Undefined|Leak)Sanitizer")
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

SPAWNED_RE = re.compile(r"event=worker_spawned\b(?=.*\sworker=(\d+)\b)(?=.*\sworker_pid=(\d+)\b)")


def _check_binaries():
    for what, path in (("DURO_GATEWAY", GATEWAY), ("DURO_WORKER", WORKER)):
        if not os.access(path, os.X_OK):
            raise AssertionError(f"{what}: {path} is not an executable file; build first")


def pid_alive(pid):
    """True when `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat[stat.rfind(b")") + 2:][:1]
    return state not in (b"Z", b"X")


def _is_worker(pid):
    """True when `pid` still runs the worker binary (guards against a recycled pid)."""
    try:
        if os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(WORKER):
            return True
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(WORKER).encode() in f.read()
    except OSError:
        return False


class Gateway:
    """One duro-gateway process for one test. Always stopped by the test's cleanups."""

    def __init__(self, test, config=None, workers=1, wait_workers=True, args=(), worker_bin=None):
        _check_binaries()
        self.test = test
        self.lines = []             # stderr lines (str), gateway and workers interleaved
        self.stdout_lines = []
        self.workers = {}           # slot -> list of pids, in spawn order
        self._cond = threading.Condition()
        self._eof = False
        self._exit_seen_at = None
        self.returncode = None

        tmp = tempfile.TemporaryDirectory(prefix="duro-it-")
        test.addCleanup(tmp.cleanup)
        self.tmpdir = tmp.name
        argv = [GATEWAY, "--listen", f"{HOST}:0", "--admin", f"{HOST}:0",
                "--workers", str(workers), "--worker-bin", worker_bin or WORKER]
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(self.tmpdir, "duro.ini")
            with open(self.config_path, "w", encoding="utf-8") as f:
                f.write(config)
            argv += ["-c", self.config_path]
        argv += list(args)

        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        test.addCleanup(self.stop)
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.lines, True),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines, False),
                             daemon=True),
        ]
        for t in self._threads:
            t.start()

        m = self.wait_for_line(r" listen=(\S+)", START_TIMEOUT_S)
        host, _, port = m.group(1).rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.addr = (self.host, self.port)
        a = re.search(r" admin=(\S+)", m.string)
        self.admin = None
        if a and a.group(1) != "off":
            ahost, _, aport = a.group(1).rpartition(":")
            self.admin = (ahost.strip("[]"), int(aport))
        if wait_workers:
            self.wait_for_lines(r"event=worker_spawned\b", workers, START_TIMEOUT_S)

    # ---- logs ----

    def _read(self, pipe, sink, parse):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                sink.append(line)
                if parse:
                    m = SPAWNED_RE.search(line)
                    if m:
                        self.workers.setdefault(int(m.group(1)), []).append(int(m.group(2)))
                self._cond.notify_all()
        with self._cond:
            if parse:
                self._eof = True
            self._cond.notify_all()

    def mark(self):
        """Index of the next log line: pass it as `start` to wait for lines logged from now on."""
        with self._cond:
            return len(self.lines)

    def tail(self, n=40):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def wait_for_lines(self, pattern, count, timeout=WAIT_TIMEOUT_S, start=0):
        """Waits until `count` lines from index `start` on match `pattern` (re.search).
        Returns their re.Match objects. Fails the test on timeout or when the gateway exited."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in (rx.search(l) for l in self.lines[start:]) if m]
                if len(found) >= count:
                    return found[:count]
                now = time.monotonic()
                if self._eof or now >= deadline or self._exited_long_ago(now):
                    why = "stderr closed" if self._eof else (
                        "gateway exited" if self._exited_long_ago(now) else "timeout")
                    raise AssertionError(
                        f"{why} after {timeout - max(0.0, deadline - now):.1f}s waiting for "
                        f"{count} line(s) matching {pattern!r} (found {len(found)}); "
                        f"gateway rc={self.proc.poll()}; log tail:\n{self.tail()}")
                self._cond.wait(min(deadline - now, 0.1))

    def wait_for_line(self, pattern, timeout=WAIT_TIMEOUT_S, start=0):
        """Waits for the first line from index `start` matching `pattern`; returns its re.Match."""
        return self.wait_for_lines(pattern, 1, timeout, start)[0]

    def _exited_long_ago(self, now):
        if self.proc.poll() is None:
            return False
        if self._exit_seen_at is None:
            self._exit_seen_at = now
        return now - self._exit_seen_at > EXIT_GRACE_S

    def worker_pids(self):
        with self._cond:
            return [p for pids in self.workers.values() for p in pids]

    # ---- process control ----

    def terminate(self, timeout=STOP_TIMEOUT_S * 2, send=True):
        """SIGTERM (unless `send` is false: already sent), then waits up to `timeout` for the
        exit. Returns the exit status (negative: killed by that signal). Fails the test if it
        does not exit in time."""
        if send and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"gateway did not exit within {timeout}s of SIGTERM; "
                                 f"log tail:\n{self.tail()}") from None
        return self.returncode

    def stop(self):
        """Cleanup: stops the gateway and every worker it reported. Safe to call twice."""
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.returncode = self.proc.returncode
        for pid in self.worker_pids():
            if pid_alive(pid) and _is_worker(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for t in self._threads:
            t.join(2.0)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None and not any(t.is_alive() for t in self._threads):
                pipe.close()
        if os.environ.get("DURO_IT_LOG"):
            sys.stderr.write(f"\n---- {self.test.id()} gateway log ----\n{self.tail(10000)}\n")
        # Under the sanitizer build any report fails the test that produced it.
        reports = [l for l in self.lines if SANITIZER_RE.search(l)]
        if reports:
            raise AssertionError("sanitizer report in the gateway's or a worker's output:\n" +
                                 "\n".join(reports[:20]))

    # ---- clients ----

    def connect(self, timeout=IO_TIMEOUT_S):
        """A raw TCP connection to the gateway, closed by the test's cleanups."""
        c = Conn(self.addr, timeout)
        self.test.addCleanup(c.close)
        return c

    def url(self, target="/", scheme="http"):
        return f"{scheme}://{self.host}:{self.port}{target}"

    def ws_url(self, target="/websocket"):
        return self.url(target, "ws")

    def ws_open(self, target="/websocket", key=SAMPLE_KEY, early=b""):
        """Raw WebSocket: handshake (plus `early` bytes in the same write), asserts the 101.
        Returns the Conn, positioned after the 101 head."""
        c = self.connect()
        c.send(ws_request(target, key=key) + early)
        r = c.read_response()
        if r.code != 101:
            raise AssertionError(f"upgrade to {target} answered {r.raw!r}")
        return c


# ---- HTTP ----

def http_request(method="GET", target="/", version="HTTP/1.1", headers=(("Host", HOST),),
                 body=b""):
    """Bytes of one request. `headers` is a sequence of (name, value); no header is added."""
    out = f"{method} {target} {version}\r\n".encode("latin-1")
    for k, v in headers:
        out += f"{k}: {v}\r\n".encode("latin-1")
    return out + b"\r\n" + body


def ws_request(target="/websocket", key=SAMPLE_KEY, method="GET", version="HTTP/1.1",
               omit=(), replace=None, extra=()):
    """Bytes of a WebSocket upgrade request. `omit` drops headers by name, `replace` maps a
    name to a new value, `extra` appends (name, value) pairs."""
    replace = replace or {}
    base = [("Host", HOST), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    headers = [(k, replace.get(k, v)) for k, v in base if k not in omit] + list(extra)
    return http_request(method, target, version, headers)


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class Response:
    """One HTTP response as received: `raw` is head plus body, byte for byte."""

    def __init__(self, head, body):
        self.head = head
        self.body = body
        self.raw = head + body
        lines = head[:-4].split(b"\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(b" ", 2)
        self.version = parts[0]
        self.code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        self.reason = parts[2] if len(parts) > 2 else b""
        self.headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise AssertionError(f"malformed header line {line!r} in {head!r}")
            self.headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))

    def header(self, name):
        """All values of header `name` (case-insensitive), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header_names(self):
        return [k for k, _ in self.headers]

    def __repr__(self):
        return f"Response({self.raw!r})"


# ---- WebSocket frames ----

def mask_bytes(payload, key):
    if not payload:
        return b""
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None):
    """One WebSocket frame. `rsv` is the 3 RSV bits (4 = RSV1). `mask=False` sends the payload
    unmasked (a protocol error from a client). `length` overrides the encoded payload length."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    return b"" if code is None else struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.masked, self.payload = masked, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 80 else self.payload[:80] + b"..."
        return (f"Frame(fin={self.fin}, rsv={self.rsv}, opcode={self.opcode}, "
                f"masked={self.masked}, len={len(self.payload)}, payload={p!r})")


# ---- raw connection ----

class Conn:
    """A TCP client with a read buffer, so pipelined responses and frames after a 101 are kept."""

    def __init__(self, addr, timeout=IO_TIMEOUT_S):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def _fill(self, what):
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise AssertionError(f"timeout ({self.timeout}s) waiting for {what}; "
                                 f"buffered: {bytes(self.buf[:200])!r}") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            raise EOFError(f"connection closed while waiting for {what}; "
                           f"buffered: {bytes(self.buf[:200])!r}")
        self.buf += chunk

    def recv_exact(self, n, what="data"):
        while len(self.buf) < n:
            self._fill(what)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, delim, limit=1 << 20, what="data"):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                return self.recv_exact(i + len(delim))
            if len(self.buf) > limit:
                raise AssertionError(f"no {delim!r} within {limit} bytes: "
                                     f"{bytes(self.buf[:200])!r}")
            self._fill(what)

    def read_response(self, head_request=False):
        """Reads one response: the head, then exactly Content-Length bytes of body (none for
        HEAD, 1xx, 204 and 304)."""
        head = self.read_until(b"\r\n\r\n", what="an HTTP response head")
        r = Response(head, b"")
        cl = r.header("Content-Length")
        if head_request or r.code < 200 or r.code in (204, 304) or not cl:
            return r
        if len(cl) != 1 or not cl[0].isdigit():
            raise AssertionError(f"bad Content-Length in {head!r}")
        return Response(head, self.recv_exact(int(cl[0]), "a response body"))

    def read_frame(self):
        h = self.recv_exact(2, "a WebSocket frame")
        fin, rsv, opcode = bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0xF
        masked, n = bool(h[1] & 0x80), h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.recv_exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.recv_exact(8))[0]
        key = self.recv_exact(4) if masked else None
        payload = self.recv_exact(n, "a frame payload")
        if masked:
            payload = mask_bytes(payload, key)
        return Frame(fin, rsv, opcode, masked, payload)

    def read_eof(self, timeout=IO_TIMEOUT_S):
        """Asserts the peer closes the connection within `timeout` without sending anything
        more (a reset counts as closed). Returns the seconds waited."""
        if self.buf:
            raise AssertionError(f"expected close, but got {bytes(self.buf[:200])!r}")
        t0 = time.monotonic()
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"connection still open after {timeout}s") from None
        except ConnectionResetError:
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise AssertionError(f"expected close, but got {data[:200]!r}")
        return time.monotonic() - t0


# ---- asyncio ----

def run_async(coro, timeout=15.0):
    """Runs `coro` in a fresh event loop, cancelled after `timeout` seconds (a failure)."""
    async def bounded():
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"async test body exceeded {timeout}s") from None
    return asyncio.run(bounded())


# ---- curl ----

def curl(*args, timeout=10.0):
    """Runs curl (no config file, no proxy, 5 s cap) and returns its stdout bytes."""
    argv = ["curl", "-q", "--noproxy", "*", "--max-time", "5", *args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"{argv} exited {p.returncode}: {p.stderr!r}; stdout {p.stdout!r}")
    return p.stdout


# ---- common assertions ----

def assert_no_date_server(resp):
    for name in ("Date", "Server"):
        if resp.header(name):
            raise AssertionError(f"response has a {name} header: {resp.raw!r}")


def assert_error_response(resp, code, words=()):
    """An error answer of the gateway: HTTP/1.1 `code`, `Connection: close`, a text/plain UTF-8
    body whose length matches Content-Length and that contains one of `words`
    (case-insensitive), no Date or Server header."""
    where = f"in {resp.raw!r}"
    if resp.version != b"HTTP/1.1" or resp.code != code or not resp.reason:
        raise AssertionError(f"expected status line 'HTTP/1.1 {code} <reason>' {where}")
    if [v.lower() for v in resp.header("Connection")] != ["close"]:
        raise AssertionError(f"expected exactly one 'Connection: close' {where}")
    if resp.header("Content-Type") != ["text/plain;charset=UTF-8"]:
        raise AssertionError(f"expected 'Content-Type: text/plain;charset=UTF-8' {where}")
    if resp.header("Content-Length") != [str(len(resp.body))] or not resp.body:
        raise AssertionError(f"expected a non-empty body of Content-Length bytes {where}")
    if words and not any(w.lower() in resp.body.lower() for w in words):
        raise AssertionError(f"body does not name the problem (one of {words!r}) {where}")
    assert_no_date_server(resp)

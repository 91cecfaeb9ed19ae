"""tests/conformance/wsraw.py: the raw-socket toolkit shared by the conformance and abuse suites.

Stdlib only (run with python3). Three parts:

- `Duro`: starts the real duro-gateway (path from $DURO_GATEWAY, worker from $DURO_WORKER) on
  127.0.0.1:0 with a config text, reads the ` listen=HOST:PORT` readiness line and the workers'
  `worker_spawned` lines from stderr (in a thread), and stops exactly the processes it started, by
  PID: SIGTERM to the gateway, SIGKILL after a bound, then SIGKILL to each worker PID it saw that
  still runs the worker binary. It also collects sanitizer reports (ASan, UBSan, LSan) from
  stderr, and reads /proc/PID/fd and /proc/PID/status for the abuse suite.
- `WS`: one raw TCP connection with a read buffer: HTTP responses, WebSocket frames, and
  expectations (`expect_message`, `expect_pong`, `expect_close`, `expect_eof`) that raise
  `Fail` with the bytes seen. Every read is bounded by a timeout.
- `frame()`: any frame a client may or may not send (any opcode, FIN, RSV bits, masked or not,
  any declared length).
"""

import base64
import hashlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

HOST = "127.0.0.1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAY = os.environ.get("DURO_GATEWAY", os.path.join(REPO, "build", "gateway", "duro-gateway"))
WORKER = os.environ.get("DURO_WORKER", os.path.join(REPO, "build", "worker", "duro-worker"))

START_TIMEOUT_S = 15.0   # readiness line and worker spawns (slower under sanitizers)
STOP_TIMEOUT_S = 5.0     # SIGTERM to exit, then SIGKILL
IO_TIMEOUT_S = 5.0       # default bound of any single wait for bytes

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="        # RFC 6455 section 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   # RFC 6455 section 1.3

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

ECHO_CONFIG = """\
[server]
; the admin listener's default port would collide between test gateways
admin = off

[route echo]
match = exact /echo
class = echo
object = echo

[route seed]
match = suffix /websocket
class = seed
object = foo
"""

SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"SUMMARY: (Address|Undefined|Leak)Sanitizer|WARNING: AddressSanitizer")
SPAWNED_RE = re.compile(r"event=worker_spawned\b.*\bworker_pid=(\d+)")


class Fail(AssertionError):
    """A case's expectation was not met."""


# ---- processes ----

def _runs_binary(pid, path):
    """True when `pid` is alive, not a zombie, and runs `path` (guards against recycled pids)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        if stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X"):
            return False
        if os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(path):
            return True
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return os.path.basename(path).encode() in f.read()
    except OSError:
        return False


def _sanitized(path):
    """True when `path` is built with AddressSanitizer (its runtime symbols are in the file)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def proc_fds(pid):
    """Number of open descriptors of `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_rss_kib(pid):
    """VmRSS of `pid` in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Fail(f"no VmRSS in /proc/{pid}/status")


class Duro:
    """One gateway (and its workers) on 127.0.0.1:0. Use as a context manager, or call stop()."""

    def __init__(self, config=ECHO_CONFIG, workers=2, extra_args=()):
        for what, path in (("DURO_GATEWAY", GATEWAY), ("DURO_WORKER", WORKER)):
            if not os.access(path, os.X_OK):
                raise SystemExit(f"{what}: {path} is not an executable; build duro first")
        self.sanitized = _sanitized(GATEWAY)
        self.lines = []
        self.sanitizer_lines = []
        self.worker_pids = []
        self._cond = threading.Condition()
        self._eof = False
        self._tmp = tempfile.TemporaryDirectory(prefix="duro-conf-")
        cfg = os.path.join(self._tmp.name, "duro.ini")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(config)
        argv = [GATEWAY, "--listen", f"{HOST}:0", "--workers", str(workers),
                "--worker-bin", WORKER, "-c", cfg, *extra_args]
        env = dict(os.environ)
        # Sanitizer reports must reach stderr, and a leak report must not change the exit code
        # the suite relies on less than on the report itself.
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True, env=env)
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            m = self.wait_line(r" listen=(\S+)", START_TIMEOUT_S)
            host, _, port = m.group(1).rpartition(":")
            self.addr = (host.strip("[]"), int(port))
            self.wait_lines(r"event=worker_spawned\b", workers, START_TIMEOUT_S)
            self.wait_lines(r"mod=intake event=configured\b", workers, START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                m = SPAWNED_RE.search(line)
                if m:
                    self.worker_pids.append(int(m.group(1)))
                if SANITIZER_RE.search(line):
                    self.sanitizer_lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_lines(self, pattern, count, timeout, start=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in (rx.search(l) for l in self.lines[start:]) if m]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    tail = "\n".join(self.lines[-30:])
                    raise Fail(f"waiting for {count} line(s) matching {pattern!r}: found "
                               f"{len(found)}; gateway rc={self.proc.poll()}; log tail:\n{tail}")
                self._cond.wait(min(left, 0.1))

    def wait_line(self, pattern, timeout, start=0):
        return self.wait_lines(pattern, 1, timeout, start)[0]

    def mark(self):
        with self._cond:
            return len(self.lines)

    def live_workers(self):
        """PIDs of the workers seen in the log that still run (the newest per slot at the end)."""
        return [p for p in self.worker_pids if _runs_binary(p, WORKER)]

    def tail(self, n=30):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def stop(self):
        """Stops the gateway and every worker it reported, by PID. Safe to call twice."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        # Workers exit with the gateway (SIGTERM on parent death); give them a bounded moment,
        # then kill any that did not, by the PIDs the gateway logged.
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and self.live_workers():
            time.sleep(0.05)
        for pid in self.live_workers():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reader.join(5.0)
        if not self._reader.is_alive() and self.proc.stderr is not None:
            self.proc.stderr.close()
        self._tmp.cleanup()

    # ---- clients ----

    def connect(self, timeout=IO_TIMEOUT_S):
        return WS(self.addr, timeout)

    def open(self, target="/echo", timeout=IO_TIMEOUT_S, early=b""):
        """A WebSocket upgraded with the RFC's sample key; asserts the 101."""
        ws = WS(self.addr, timeout)
        try:
            ws.send(upgrade_request(target) + early)
            r = ws.read_response()
            if r.code != 101:
                raise Fail(f"upgrade to {target} answered {r.raw!r}")
        except BaseException:
            ws.close()
            raise
        return ws


# ---- HTTP ----

def http_request(method="GET", target="/", version="HTTP/1.1", headers=(("Host", HOST),),
                 body=b""):
    out = f"{method} {target} {version}\r\n".encode("latin-1")
    for k, v in headers:
        out += f"{k}: {v}\r\n".encode("latin-1")
    return out + b"\r\n" + body


def upgrade_request(target="/echo", key=SAMPLE_KEY, method="GET", version="HTTP/1.1",
                    omit=(), replace=None, extra=()):
    """An upgrade request. `omit` drops headers by name, `replace` maps name -> value, `extra`
    appends (name, value) pairs."""
    replace = replace or {}
    base = [("Host", HOST), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    headers = [(k, replace.get(k, v)) for k, v in base if k not in omit] + list(extra)
    return http_request(method, target, version, headers)


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class Response:
    def __init__(self, head, body):
        self.head, self.body, self.raw = head, body, head + body
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        self.version = parts[0]
        self.code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        self.headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise Fail(f"malformed header line {line!r} in {head!r}")
            self.headers.append((name.decode("latin-1"), value.strip().decode("latin-1")))

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


# ---- frames ----

def mask_bytes(payload, key):
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None,
          len_bytes=None):
    """One frame. `rsv`: the 3 RSV bits (4 = RSV1). `length` overrides the declared payload
    length; `len_bytes` (0, 2 or 8) forces the length encoding (non-minimal on purpose)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if len_bytes is None:
        len_bytes = 0 if n < 126 else 2 if n < 65536 else 8
    if len_bytes == 0:
        head = bytes([b0, mbit | n])
    elif len_bytes == 2:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return b"" if code is None else struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def __repr__(self):
        p = self.payload if len(self.payload) <= 60 else self.payload[:60] + b"..."
        return (f"Frame(fin={int(self.fin)} rsv={self.rsv} op={self.opcode} "
                f"masked={int(self.masked)} len={len(self.payload)} {p!r})")


def _short(b):
    return repr(b if len(b) <= 80 else b[:80] + b"...")


# ---- one connection ----

class WS:
    """A raw client connection. Reads keep a buffer so frames after a 101 are not lost."""

    def __init__(self, addr, timeout=IO_TIMEOUT_S):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending --

    def send(self, data, tolerate_reset=False):
        """Sends all of `data`. With `tolerate_reset`, a peer that already closed is not an
        error (the case goes on to read what the peer said before closing)."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            if not tolerate_reset:
                raise Fail("connection reset by the server while sending") from None

    def send_chunked(self, data, chunk=1, pause=0.0005, tolerate_reset=True):
        """Sends `data` in pieces of `chunk` bytes, each its own segment (TCP_NODELAY and a pause
        between writes so that the server reads them apart)."""
        for i in range(0, len(data), chunk):
            try:
                self.sock.sendall(data[i:i + chunk])
            except (BrokenPipeError, ConnectionResetError):
                if tolerate_reset:
                    return
                raise Fail("connection reset by the server while sending") from None
            if pause:
                time.sleep(pause)

    def send_frame(self, *args, **kw):
        tolerate = kw.pop("tolerate_reset", False)
        self.send(frame(*args, **kw), tolerate_reset=tolerate)

    def send_close(self, code=None, reason=b"", tolerate_reset=True):
        self.send(frame(OP_CLOSE, close_payload(code, reason)), tolerate_reset=tolerate_reset)

    # -- receiving --

    def _fill(self, what, timeout=None):
        t = self.timeout if timeout is None else timeout
        self.sock.settimeout(t)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Fail(f"timeout ({t:g}s) waiting for {what}; buffered {_short(bytes(self.buf))}") \
                from None
        except ConnectionResetError:
            chunk = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            raise Fail(f"connection closed while waiting for {what}; "
                       f"buffered {_short(bytes(self.buf))}")
        self.buf += chunk

    def recv_exact(self, n, what="data", timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self.buf) < n:
            self._fill(what, max(0.01, deadline - time.monotonic()))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, timeout=None):
        """One HTTP response: the head, then Content-Length bytes of body."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise Fail(f"no end of response head in {_short(bytes(self.buf))}")
            self._fill("an HTTP response", max(0.01, deadline - time.monotonic()))
        i = self.buf.find(b"\r\n\r\n") + 4
        head = bytes(self.buf[:i])
        del self.buf[:i]
        r = Response(head, b"")
        cl = r.header("Content-Length")
        if r.code < 200 or not cl:
            return r
        if len(cl) != 1 or not cl[0].isdigit():
            raise Fail(f"bad Content-Length in {head!r}")
        return Response(head, self.recv_exact(int(cl[0]), "a response body",
                                              max(0.01, deadline - time.monotonic())))

    def read_frame(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)

        def left():
            return max(0.01, deadline - time.monotonic())
        h = self.recv_exact(2, "a WebSocket frame", left())
        fin, rsv, opcode = bool(h[0] & 0x80), (h[0] >> 4) & 7, h[0] & 0xF
        masked, n = bool(h[1] & 0x80), h[1] & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.recv_exact(2, "a frame length", left()))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.recv_exact(8, "a frame length", left()))[0]
        key = self.recv_exact(4, "a mask key", left()) if masked else None
        payload = self.recv_exact(n, "a frame payload", left())
        if masked:
            payload = mask_bytes(payload, key)
        return Frame(fin, rsv, opcode, masked, payload)

    def read_server_frame(self, timeout=None):
        """A frame that must obey the server's rules: unmasked, RSV 0, known opcode, control
        frames whole and at most 125 bytes."""
        f = self.read_frame(timeout)
        if f.masked or f.rsv or f.opcode not in (0, 1, 2, 8, 9, 10):
            raise Fail(f"server sent an invalid frame {f!r}")
        if f.opcode >= 8 and (not f.fin or len(f.payload) > 125):
            raise Fail(f"server sent an invalid control frame {f!r}")
        return f

    # -- expectations --

    def expect_message(self, opcode, payload, timeout=None):
        """The next data message (fragments joined) is `opcode` with `payload`. Any control
        frame before it fails the case."""
        if isinstance(payload, str):
            payload = payload.encode()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        f = self.read_server_frame(max(0.01, deadline - time.monotonic()))
        if f.opcode != opcode:
            raise Fail(f"expected a message of opcode {opcode} ({len(payload)} bytes), got {f!r}")
        parts = [f.payload]
        while not f.fin:
            f = self.read_server_frame(max(0.01, deadline - time.monotonic()))
            if f.opcode != OP_CONT:
                raise Fail(f"expected a continuation frame, got {f!r}")
            parts.append(f.payload)
        got = b"".join(parts)
        if got != payload:
            raise Fail(f"echo mismatch: sent {len(payload)} bytes {_short(payload)}, "
                       f"got {len(got)} bytes {_short(got)}")

    def expect_pong(self, payload, timeout=None):
        f = self.read_server_frame(timeout)
        if f.opcode != OP_PONG or f.payload != payload:
            raise Fail(f"expected a pong with {_short(payload)}, got {f!r}")

    def expect_close(self, codes, timeout=None, eof_timeout=3.0, answer=True):
        """The next frame is a close whose code is in `codes` (None: no code, empty payload);
        its reason is valid UTF-8. Then (after answering with a close, unless `answer` is
        false) the server closes TCP within `eof_timeout`. Returns the frame."""
        if isinstance(codes, int) or codes is None:
            codes = (codes,)
        f = self.read_server_frame(timeout)
        if f.opcode != OP_CLOSE:
            raise Fail(f"expected a close frame with code {_codes(codes)}, got {f!r}")
        if len(f.payload) == 1:
            raise Fail(f"server sent a close frame with a 1-byte payload {f!r}")
        if f.close_code not in codes:
            raise Fail(f"expected close code {_codes(codes)}, got {f.close_code} ({f!r})")
        try:
            f.payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise Fail(f"server's close reason is not UTF-8: {f!r}") from None
        if answer:
            self.send(frame(OP_CLOSE, f.payload[:2]), tolerate_reset=True)
        self.expect_eof(eof_timeout)
        return f

    def expect_eof(self, timeout=3.0):
        """The server closes TCP within `timeout` without sending anything more."""
        if self.buf:
            raise Fail(f"expected the connection to close, got more bytes {_short(bytes(self.buf))}")
        if self.eof:
            return
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Fail(f"server did not close TCP within {timeout:g}s") from None
        except ConnectionResetError:
            data = b""
        finally:
            self.sock.settimeout(self.timeout)
        if data:
            raise Fail(f"expected the connection to close, got more bytes {_short(data)}")
        self.eof = True

    def expect_nothing(self, seconds):
        """No byte arrives within `seconds` (and the connection stays open)."""
        r, _, _ = select.select([self.sock], [], [], seconds)
        if r:
            data = self.sock.recv(65536)
            raise Fail(f"expected silence, got {_short(data) if data else 'EOF'}")

    def finish(self, timeout=None):
        """Closes cleanly: close 1000, expects close 1000 back and the server's FIN."""
        self.send_close(1000, tolerate_reset=False)
        self.expect_close(1000, timeout=timeout, answer=False)


def _codes(codes):
    return "/".join("none" if c is None else str(c) for c in codes)

"""tests/lib/duro_test.py: the one toolkit of duro's Python suites (integration, conformance,
abuse, clients). Stdlib only; the integration and client tests add Debian's python3-websockets.

Processes (every wait bounded, on events the stderr reader thread signals, never sleeps):
- `Gateway(test, config=..., workers=N)`: for unittest suites. Starts `duro-gateway --listen
  127.0.0.1:0 --admin 127.0.0.1:0` (path from $DURO_GATEWAY, worker from $DURO_WORKER passed as
  --worker-bin), waits for the readiness line (` listen=HOST:PORT`) and the workers'
  `worker_spawned` lines, and registers a cleanup that stops it (SIGTERM, then SIGKILL), kills
  any worker it saw by PID, then checks that every PID it started is gone, that the test process
  holds no descriptor it did not hold before (/proc/self/fd) and that no sanitizer reported.
- `Duro(config=ECHO_CONFIG, workers=2)`: the same process for the case-table suites
  (conformance, abuse, clients), as a context manager; `stop()` does the same checks.
- `LeakCheck`: the descriptor and PID check on its own (`fd_snapshot()`, `assert_no_fd_leak()`,
  `assert_pids_gone()`), for a test that starts processes by itself.
- `pid_alive`, `runs_binary`, `proc_fds`, `proc_rss_kib`: /proc readings; `tcp_queues`: the
  send and receive queues of any loopback TCP socket (sock_diag).

Wire:
- `admin_page()`: one page of the admin listener's GET /objects (its JSON and Link header);
  `admin_objects()` walks every page from the start and returns the objects and the pages.
- `http_request()`, `ws_request()` / `upgrade_request()`, `ws_accept()`, `Response`.
- `frame()`: any WebSocket frame (any opcode, FIN, RSV, mask or none, declared length and its
  encoding), `close_payload()`, `Frame`.
- `Conn` (raw TCP with a read buffer: exact responses, frames, EOF) and `WS` (the same plus
  expectations: `expect_message`, `expect_pong`, `expect_close`, `expect_eof`, raising `Fail`).
- `Pmd`: the client side of permessage-deflate (RFC 7692) with zlib, from the server's
  Sec-WebSocket-Extensions answer: keeps or resets its compressor and inflater as negotiated;
  `WS.send_pmd()` / `WS.read_pmd()` send and read whole (optionally compressed) messages.
- Configs: `ECHO_CONFIG` (echo on /echo, seed on */websocket, admin off).
- Case-table runners (conformance, abuse): `runner_args`, `select_cases`, `print_result`,
  `report`: one command line and one output format.

Set DURO_IT_LOG=1 to print each Gateway's log when its test ends.
Set DURO_SEED_CLASS_SCRIPT (DURO_CHAT_CLASS_SCRIPT, DURO_COUNTER_CLASS_SCRIPT)=FILE.lua to replace
the built-in seed (chat, counter) class by that Lua script.
"""
import asyncio
import base64
import hashlib
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATEWAY = os.environ.get("DURO_GATEWAY", os.path.join(REPO, "build", "gateway", "duro-gateway"))
WORKER = os.environ.get("DURO_WORKER", os.path.join(REPO, "build", "worker", "duro-worker"))

HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0   # readiness line and worker spawns (slower under sanitizers)
STOP_TIMEOUT_S = 5.0     # SIGTERM to exit, then SIGKILL
WAIT_TIMEOUT_S = 5.0     # default for wait_for_line
IO_TIMEOUT_S = 5.0       # any single socket read
EXIT_GRACE_S = 0.5       # after the gateway exited, how long lines may still arrive

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="        # RFC 6455 section 1.3
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="   # RFC 6455 section 1.3, computed

SEED_CLOSE_REASON = b"Durable Object is closing WebSocket"

SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"SUMMARY: (Address|Undefined|Leak)Sanitizer|WARNING: AddressSanitizer")
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

SPAWNED_RE = re.compile(r"event=worker_spawned\b(?=.*\sworker=(\d+)\b)(?=.*\sworker_pid=(\d+)\b)")


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


class Fail(AssertionError):
    """A case's expectation was not met."""


# ---- processes ----

def runs_binary(pid, path):
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


def tcp_queues(local, remote):
    """(send queue, receive queue) in bytes of the TCP socket `local` -> `remote` ((host, port)
    pairs, IPv4) of any process: an exact lookup through NETLINK_SOCK_DIAG, not a walk over
    /proc/net/tcp (tens of thousands of TIME_WAIT lines on a busy test machine). The send queue
    counts bytes written and not yet acknowledged; the receive queue, bytes not yet read."""
    def sockid(a):
        return socket.inet_aton(a[0]) + bytes(12)
    sid = (struct.pack("!HH", local[1], remote[1]) + sockid(local) + sockid(remote) +
           struct.pack("=III", 0, 0xFFFFFFFF, 0xFFFFFFFF))          # any interface, no cookie
    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sid
    sock_diag_by_family, nlm_f_request, nlmsg_error = 20, 1, 2
    msg = struct.pack("=IHHII", 16 + len(req), sock_diag_by_family, nlm_f_request, 1, 0) + req
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4) as nl:  # NETLINK_SOCK_DIAG
        nl.settimeout(IO_TIMEOUT_S)
        nl.send(msg)
        data = nl.recv(65536)
    if struct.unpack_from("=H", data, 4)[0] == nlmsg_error:
        errno = -struct.unpack_from("=i", data, 16)[0]
        raise Fail(f"no TCP socket {local} -> {remote}: errno {errno}")
    # struct inet_diag_msg: family, state, timer, retrans, sockid (48), expires, rqueue, wqueue
    rqueue, wqueue = struct.unpack_from("=II", data, 16 + 4 + 48 + 4)
    return wqueue, rqueue


# ---- leak checks ----

def fd_snapshot():
    """The descriptors the test process holds now: {fd: target}."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass    # the descriptor listdir itself used, closed since
    return out


def assert_no_fd_leak(before, what="the test"):
    """Fails when the test process holds a descriptor now that it did not hold in `before`
    (a socket, pipe or file that `what` left open)."""
    now = fd_snapshot()
    leaked = {fd: t for fd, t in now.items() if before.get(fd) != t}
    if leaked:
        raise AssertionError(f"{what} leaked descriptors in the test process: {leaked}")


def assert_pids_gone(pids, binary=None, timeout=STOP_TIMEOUT_S):
    """Waits (bounded) until none of `pids` is alive (when `binary` is given: still runs it, a
    recycled PID does not count); fails naming the ones left."""
    alive = lambda p: runs_binary(p, binary) if binary else pid_alive(p)
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if alive(p)]
    if left:
        raise AssertionError(f"processes still running after stop: {left}")


# The descriptor check runs when the last live Gateway or Duro stops: a test (or a conformance
# worker thread) may hold several at once, and each one's pipes are legitimately open until then.
_live_lock = threading.Lock()
_live = []
_baseline = {}


def _register_live(obj):
    global _baseline
    with _live_lock:
        if not _live:
            _baseline = fd_snapshot()
        _live.append(obj)


def _unregister_live(obj, what):
    with _live_lock:
        if obj not in _live:
            return
        _live.remove(obj)
        if not _live:
            assert_no_fd_leak(_baseline, what)


class LeakCheck:
    """`with LeakCheck("name", pids_fn):` snapshots the descriptors on entry; on exit checks that
    the PIDs `pids_fn()` returns are gone and that no descriptor leaked."""

    def __init__(self, what="the test", pids_fn=lambda: ()):
        self.what, self.pids_fn = what, pids_fn
        self.before = fd_snapshot()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.check()

    def check(self):
        assert_pids_gone(list(self.pids_fn()))
        assert_no_fd_leak(self.before, self.what)

def with_storage(config, dir):
    """`config` with a [storage] section naming `dir` (created) unless it has its own."""
    if re.search(r"^\s*\[storage\]", config, re.M):
        return config
    os.makedirs(dir, exist_ok=True)
    return f"[storage]\ndir = {dir}\n\n" + config


class Gateway:
    """One duro-gateway process for one test. Always stopped by the test's cleanups."""

    def __init__(self, test, config=None, workers=1, wait_workers=True, args=(), worker_bin=None,
                 nofile=None, gateway_bin=None, config_path=None, env=None, workers_flag=True):
        _check_binaries()
        self.test = test
        self.lines = []             # stderr lines (str), gateway and workers interleaved
        self.stdout_lines = []
        self.workers = {}           # slot -> list of pids, in spawn order
        self._cond = threading.Condition()
        self._eof = False
        self._exit_seen_at = None
        self.returncode = None

        _register_live(self)
        tmp = tempfile.TemporaryDirectory(prefix="duro-it-")
        test.addCleanup(tmp.cleanup)
        self.tmpdir = tmp.name
        # workers_flag=False: the pool size comes from the config's [server] workers (`workers`
        # must say the same), so that a SIGHUP may change it.
        argv = [gateway_bin or GATEWAY, "--listen", f"{HOST}:0", "--admin", f"{HOST}:0",
                "--worker-bin", worker_bin or WORKER]
        if workers_flag:
            argv += ["--workers", str(workers)]
        self.config_path = None
        if config is None and config_path is None:
            # The embedded config is config/duro.ini: the same text, with this gateway's own
            # storage dir (own_storage) in place of the machine's.
            with open(os.path.join(REPO, "config", "duro.ini"), encoding="utf-8") as f:
                config = f.read()
            storage = os.path.join(self.tmpdir, "storage")
            os.makedirs(storage, exist_ok=True)
            config, n = re.subn(r"(?m)^dir = /var/lib/duro$", f"dir = {storage}", config)
            if n != 1:
                raise AssertionError("config/duro.ini: no 'dir = /var/lib/duro' line to replace")
        for script_var, cls in (("DURO_SEED_CLASS_SCRIPT", "seed"),
                                ("DURO_CHAT_CLASS_SCRIPT", "chat"),
                                ("DURO_COUNTER_CLASS_SCRIPT", "counter")):
            script = os.environ.get(script_var)
            if script:
                # The tests of a built-in class run unchanged against a Lua script replacing it.
                config = f"[class {cls}]\nscript = {script}\n\n" + (config or "")
        if config is not None:
            self.config_path = os.path.join(self.tmpdir, "duro.ini")
            with open(self.config_path, "w", encoding="utf-8") as f:
                f.write(self.own_storage(config))
            argv += ["-c", self.config_path]
        elif config_path is not None:  # an existing file (an installed config)
            self.config_path = config_path
            argv += ["-c", self.config_path]
        argv += list(args)

        limit = None
        if nofile is not None:  # RLIMIT_NOFILE (soft and hard) for the gateway and its workers
            import resource
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True,
                                     preexec_fn=limit, env=env)
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

    def own_storage(self, config):
        """`config` with this gateway's own [storage] dir unless it names one: every worker opens
        the alarms index of its storage dir as it starts, and gateways of tests running at the
        same time must not share the machine's default one (a worker stopped by one test while
        it held the index's lock held up the start of another's)."""
        return with_storage(config, os.path.join(self.tmpdir, "storage"))

    def write_config(self, config):
        """Replaces the config file (for a SIGHUP), with own_storage() applied."""
        tmp = self.config_path + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.own_storage(config))
        os.replace(tmp, self.config_path)

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
        assert_pids_gone([self.proc.pid])
        assert_pids_gone(self.worker_pids(), WORKER)
        # Every process that wrote to the pipes is gone now, so their ends are there to read:
        # the readers finish (bounded), then the pipes are closed. Joining them first, with a
        # short bound, left the pipes open whenever a reader was still busy under load, and the
        # descriptor check then reported them as leaked.
        for t in self._threads:
            t.join(STOP_TIMEOUT_S)
        if any(t.is_alive() for t in self._threads):
            raise AssertionError("the gateway's output did not end though it and its workers "
                                 f"exited: another process holds it; log tail:\n{self.tail()}")
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        _unregister_live(self, self.test.id())
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
        _register_live(self)
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
                    self.worker_pids.append(int(m.group(2)))
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
        return [p for p in self.worker_pids if runs_binary(p, WORKER)]

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
        assert_pids_gone([self.proc.pid])
        assert_pids_gone(self.worker_pids, WORKER)
        _unregister_live(self, "a Duro's user")

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

def wait_until(pred, timeout, what, pace=0.02):
    """Polls `pred` (an external condition: process state, kernel queues) until it is true;
    AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(pace)  # polling pace, not synchronisation
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def probe_echo_config(probe_so, **sections):
    """A config with the probe class at /probe/{name} and echo at /echo; each keyword becomes a
    section of that name holding its text (server="admin = off\n", websocket=...)."""
    text = "".join(f"[{name}]\n{body}\n" for name, body in sections.items())
    return text + f"""[class probe]
path = {probe_so}
symbol = probe_class

[route probe]
match = path /probe/{{name}}
class = probe
object = {{name}}

[route echo]
match = exact /echo
class = echo
object = echo
"""


def never_reading(gw, target):
    """A raw upgraded socket (Conn) with a 4 KiB receive buffer, which the test does not read."""
    c = gw.connect()
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.send(ws_request(target))
    r = c.read_response()
    if r.code != 101:
        raise AssertionError(f"upgrade answered {r.raw!r}")
    return c


def admin_page(admin, limit=None, cursor=None, timeout=30):
    """(status, headers, JSON document or body text) of one GET /objects page; `admin` is
    Gateway.admin (host, port)."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request
    q = {}
    if limit is not None:
        q["limit"] = str(limit)
    if cursor is not None:
        q["cursor"] = cursor
    url = f"http://{admin[0]}:{admin[1]}/objects" + ("?" + urllib.parse.urlencode(q) if q else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def admin_objects(admin, limit=None, timeout=30, max_pages=100000):
    """Every object of GET /objects, following `next` from the start: (objects, pages), each
    page the document as answered. Fails on a status other than 200."""
    objs, pages, cursor = [], [], None
    while len(pages) < max_pages:
        status, _, doc = admin_page(admin, limit, cursor, timeout)
        if status != 200:
            raise Fail(f"GET /objects answered {status}: {doc}")
        pages.append(doc)
        objs += doc["objects"]
        cursor = doc["next"]
        if cursor is None:
            return objs, pages
    raise Fail(f"GET /objects: more than {max_pages} pages")


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


def upgrade_request(target="/echo", key=SAMPLE_KEY, method="GET", version="HTTP/1.1",
                    omit=(), replace=None, extra=()):
    """`ws_request` with the conformance suite's default route (/echo)."""
    return ws_request(target, key, method, version, omit, replace, extra)


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


# ---- permessage-deflate, the client side ----

PMD_TAIL = b"\x00\x00\xff\xff"   # RFC 7692 7.2.1: removed after compressing, added before inflating


def parse_extension(value):
    """One Sec-WebSocket-Extensions answer: (name, {param: value or True}). Quoted values are
    unquoted; a duplicate parameter raises Fail (a server must not send one)."""
    parts = [p.strip() for p in value.split(";")]
    params = {}
    for p in parts[1:]:
        k, sep, v = p.partition("=")
        k = k.strip().lower()
        if k in params:
            raise Fail(f"duplicate parameter {k!r} in the answer {value!r}")
        params[k] = v.strip().strip('"') if sep else True
    return parts[0].lower(), params


class Pmd:
    """The client's half of one negotiated permessage-deflate (RFC 7692 7.1): built from the
    server's answer. The client keeps its compressor across messages unless the answer says
    client_no_context_takeover, and compresses with at most client_max_window_bits; it inflates
    the server's messages with a persistent inflater unless the answer says
    server_no_context_takeover (then each message must inflate on its own: a server that kept
    its context would make a fresh inflater fail), with a window of server_max_window_bits."""

    def __init__(self, answer, level=6):
        name, params = parse_extension(answer)
        if name != "permessage-deflate":
            raise Fail(f"expected a permessage-deflate answer, got {answer!r}")
        self.params = params
        self.server_no_takeover = params.get("server_no_context_takeover") is True
        self.client_no_takeover = params.get("client_no_context_takeover") is True
        self.server_bits = int(params.get("server_max_window_bits", 15))
        cb = params.get("client_max_window_bits", 15)
        if cb is True:
            raise Fail(f"client_max_window_bits without a value in an answer {answer!r}")
        # zlib cannot compress raw deflate with a 256-byte window; 8 is only ever answered to an
        # offer that said 8, which the tests do not make for data.
        self.client_bits = max(9, int(cb))
        self.level = level
        self._c = None
        self._d = None

    def compress(self, data):
        if self._c is None or self.client_no_takeover:
            self._c = zlib.compressobj(self.level, zlib.DEFLATED, -self.client_bits)
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(PMD_TAIL)
        return out[:-4]

    def inflate(self, payload):
        if self._d is None or self.server_no_takeover:
            self._d = zlib.decompressobj(-self.server_bits)
        try:
            out = self._d.decompress(payload + PMD_TAIL)
        except zlib.error as e:
            raise Fail(f"the server's compressed message does not inflate "
                       f"({'a fresh' if self.server_no_takeover else 'the persistent'} "
                       f"{self.server_bits}-bit inflater): {e}") from None
        if self._d.unconsumed_tail:
            raise Fail("inflater left input unconsumed")
        return out


# ---- raw connection ----

class Conn:
    """A TCP client with a read buffer, so pipelined responses and frames after a 101 are kept."""

    def __init__(self, addr, timeout=IO_TIMEOUT_S, rcvbuf=None, maxseg=None):
        """`rcvbuf` (SO_RCVBUF) and `maxseg` (TCP_MAXSEG, the MSS announced to the server, which
        sizes the server's send buffer) are set before connecting: a small window and a small
        server send buffer make a client that does not read hold the server's output soon."""
        if rcvbuf is None and maxseg is None:
            self.sock = socket.create_connection(addr, timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if maxseg is not None:
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
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

    def send_pmd(self, pmd, opcode, data, compress=True, fragments=1):
        """One message, compressed with `pmd` (RSV1 on its first frame) unless `compress` is
        false, split into `fragments` frames. Returns the compressed payload's length."""
        payload = pmd.compress(data) if compress else data
        n = max(1, len(payload) // max(1, fragments) + 1)
        pieces = [payload[i:i + n] for i in range(0, len(payload), n)] or [b""]
        out = []
        for i, p in enumerate(pieces):
            out.append(frame(opcode if i == 0 else OP_CONT, p, fin=i == len(pieces) - 1,
                             rsv=4 if compress and i == 0 else 0))
        self.send(b"".join(out))
        return len(payload)

    def read_pmd(self, pmd, timeout=None):
        """The next data message, inflated when its first frame has RSV1: returns (opcode,
        compressed, payload, wire_len), wire_len being the payload bytes on the wire. Fails on
        a control frame, a masked frame, RSV2/RSV3, or RSV1 on a continuation frame."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        f = self.read_frame(max(0.01, deadline - time.monotonic()))
        if f.masked or f.rsv & 3 or f.opcode not in (OP_TEXT, OP_BINARY):
            raise Fail(f"expected a data message, got {f!r}")
        opcode, compressed = f.opcode, bool(f.rsv & 4)
        parts = [f.payload]
        while not f.fin:
            f = self.read_frame(max(0.01, deadline - time.monotonic()))
            if f.masked or f.rsv or f.opcode != OP_CONT:
                raise Fail(f"expected a plain continuation frame, got {f!r}")
            parts.append(f.payload)
        raw = b"".join(parts)
        return opcode, compressed, pmd.inflate(raw) if compressed else raw, len(raw)

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


def run_async(coro, timeout=15.0):
    """Runs `coro` in a fresh event loop, cancelled after `timeout` seconds (a failure)."""
    async def bounded():
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"async test body exceeded {timeout}s") from None
    return asyncio.run(bounded())


# ---- case-table runners (conformance, abuse) ----
#
# One style for the suites that are tables of named cases run against long-lived gateways:
# the same options (-k REGEX, --list, -v), one `PASS label` / `FAIL label` line per case with
# the reason indented below, suite-level failures (a worker that died, sanitizer reports) as
# `FAIL suite: ...`, then `SUITE: N cases in Ts` and `N passed, N failed`; exit status 1 on any
# failure or when nothing ran.

def runner_args(doc, jobs=None):
    """Parses the runner's command line. `jobs`, when given, adds -j N with that default."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("-k", "--filter", help="run only cases whose label matches this regex")
    ap.add_argument("--list", action="store_true", help="list the selected cases and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print timings and the log")
    if jobs is not None:
        ap.add_argument("-j", "--jobs", type=int, default=jobs, help="cases run at once")
    return ap.parse_args()


def select_cases(cases, pattern, labels):
    """The cases whose labels (labels(case) -> strings) match `pattern` (all without one)."""
    if not pattern:
        return list(cases)
    rx = re.compile(pattern)
    return [c for c in cases if any(rx.search(l) for l in labels(c))]


def print_result(label, err, seconds=None, verbose=False):
    """One case's line: PASS, or FAIL and the reason."""
    took = f" ({seconds:.2f}s)" if verbose and seconds is not None else ""
    if err is None:
        print(f"PASS {label}{took}", flush=True)
    else:
        print(f"FAIL {label}{took}\n     {err}", flush=True)


def report(suite, results, suite_failures, elapsed, budget_s):
    """Prints the suite-level failures ((title, lines) pairs) and the summary of `results`
    ((label, err or None) pairs, already printed by print_result). Returns the exit status."""
    for title, lines in suite_failures:
        print(f"FAIL suite: {title}")
        for l in lines[:50]:
            print("     " + l)
    failed = sum(1 for r in results if r[1] is not None)
    over = f" (over the {budget_s:g}s budget)" if elapsed > budget_s else ""
    print(f"{suite}: {len(results)} cases in {elapsed:.1f}s{over}")
    print(f"{len(results) - failed} passed, {failed + len(suite_failures)} failed")
    return 1 if failed or suite_failures or not results else 0


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

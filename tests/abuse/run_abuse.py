#!/usr/bin/env python3
"""tests/abuse/run_abuse.py: bad input and resource abuse against the real duro binaries.

Each test attacks a gateway (2 workers, echo route at /echo, [websocket] outbound_max_bytes =
65536) on 127.0.0.1:0, then checks that

- the gateway and both workers still run, with the same PIDs (nothing crashed or restarted);
- a normal client is still served (upgrade, echo, clean close), and a seed client is told
  `connections: 1` (no socket of the attack is still counted by its object);
- the gateway's and each worker's open descriptors (/proc/PID/fd) come back to the baseline
  taken before the test, within FD_TOLERANCE, waiting at most SETTLE_S for closes to finish;
- their VmRSS (/proc/PID/status) comes back to within RSS_TOLERANCE_KIB (16 MiB) of that
  baseline: allocators keep some freed memory, the tolerance is for that, not for growth per
  connection (measured: the gateway's 2 MiB goes to 5 MiB right after 500 slow clients and back
  to 2 MiB; the workers do not move). Under AddressSanitizer freed memory waits in ASan's
  quarantine, so the RSS tolerance is RSS_TOLERANCE_ASAN_KIB there and LeakSanitizer's report
  at exit is what catches leaks;
- and after the last test, descriptors and VmRSS are still within the same tolerances of the
  gateway's first baseline (a slow leak under the tolerance of each test adds up here).

Every loop is bounded in count and time, every socket targets 127.0.0.1, and only the processes
this script started are stopped, by PID. Prints PASS/FAIL per test and `N passed, N failed` last;
exits 1 on any failure or sanitizer report.

Usage: DURO_GATEWAY=... DURO_WORKER=... python3 run_abuse.py [-k REGEX] [--list] [-v]
"""

import os
import random
import re
import select
import socket
import struct
import sys
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

from duro_test import (OP_BINARY, OP_CLOSE, OP_TEXT, Duro, Fail, frame,  # noqa: E402
                   http_request, print_result, proc_fds, proc_rss_kib, report, runner_args,
                   select_cases, upgrade_request)

OUTBOUND_MAX = 65536
ABUSE_CONFIG = f"""\
[server]
admin = off

[websocket]
outbound_max_bytes = {OUTBOUND_MAX}

[route echo]
match = exact /echo
class = echo
object = echo

[route seed]
match = suffix /websocket
class = seed
object = foo
"""
SHORT_TIMEOUT_CONFIG = ABUSE_CONFIG.replace("[websocket]", "[http]\nhead_timeout_ms = 1000\n"
                                            "keepalive_timeout_ms = 1000\n\n[websocket]")

FD_TOLERANCE = 2                 # descriptors above the baseline still accepted after settling
RSS_TOLERANCE_KIB = 16 * 1024    # VmRSS above the baseline still accepted (allocator slack)
# Under AddressSanitizer freed memory sits in ASan's quarantine (up to 256 MiB) before it is
# reused, so RSS says little there; LeakSanitizer checks leaks at exit instead. Descriptors are
# checked the same in both builds.
RSS_TOLERANCE_ASAN_KIB = 160 * 1024
SETTLE_S = 6.0                   # close timeout (2 s) + linger (2 s) + margin
SERVE_DEADLINE_S = 1.0           # a normal client is served within this while under attack
SLOW_CLIENTS = 500
RAPID_CYCLES = 1000
SUITE_BUDGET_S = 180.0

TESTS = []


def test(name):
    def deco(fn):
        TESTS.append((name, fn))
        return fn
    return deco


# ---- helpers ----

def snapshot(d):
    pids = {"gateway": d.pid}
    for i, p in enumerate(d.live_workers()):
        pids[f"worker{i}"] = p
    return {name: (pid, proc_fds(pid), proc_rss_kib(pid)) for name, pid in pids.items()}


def fmt(snap):
    return ", ".join(f"{k}(pid {v[0]}): {v[1]} fds, {v[2] // 1024} MiB" for k, v in snap.items())


def serve_normal(d, deadline=SERVE_DEADLINE_S, msg=b"still served"):
    """Upgrade, echo and close with a normal client; returns the seconds it took, fails if more
    than `deadline`."""
    t0 = time.monotonic()
    with d.open("/echo", timeout=max(deadline, 0.5) + 2) as ws:
        ws.send(frame(OP_TEXT, msg))
        ws.expect_message(OP_TEXT, msg)
        ws.finish()
    dt = time.monotonic() - t0
    if dt > deadline:
        raise Fail(f"normal client took {dt:.2f}s (limit {deadline:g}s)")
    return dt


def seed_count_is_one(d):
    """The seed object counts its open sockets: with every attacker gone, a new client must be
    the only one (a leaked or miscounted socket shows here)."""
    with d.open("/websocket", timeout=5.0) as ws:
        ws.send(frame(OP_TEXT, b"count"))
        f = ws.read_server_frame()
        want = b"[Durable Object] message: count, connections: 1"
        if f.opcode != OP_TEXT or f.payload != want:
            raise Fail(f"seed count after the attack: expected {want!r}, got {f!r}")
        ws.finish()


def rss_tolerance(d):
    return RSS_TOLERANCE_ASAN_KIB if d.sanitized else RSS_TOLERANCE_KIB


def check_recovered(d, before, verbose):
    """Waits (bounded) for descriptors and memory to come back to `before`."""
    rss_tol = rss_tolerance(d)
    deadline = time.monotonic() + SETTLE_S
    while True:
        now = snapshot(d)
        if set(now) != set(before) or any(now[k][0] != before[k][0] for k in before):
            raise Fail(f"process set changed (a crash or restart): before {fmt(before)}; "
                       f"now {fmt(now)}")
        bad = [k for k in before
               if now[k][1] > before[k][1] + FD_TOLERANCE
               or now[k][2] > before[k][2] + rss_tol]
        if not bad:
            if verbose:
                print(f"     resources: before {fmt(before)}\n                now    {fmt(now)}")
            return now
        if time.monotonic() > deadline:
            raise Fail(f"resources did not come back within {SETTLE_S:g}s "
                       f"(tolerance +{FD_TOLERANCE} fds, +{rss_tol // 1024} MiB): "
                       f"before {fmt(before)}; now {fmt(now)}")
        time.sleep(0.1)


def raw_connect(d, timeout=5.0):
    s = socket.create_connection(d.addr, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def reset_close(s):
    """Closes with a RST instead of a FIN (SO_LINGER 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def readable(socks, timeout):
    """The sockets of `socks` that are readable (or closed) within `timeout` seconds; poll(2),
    not select(2), so descriptors above 1023 work."""
    p = select.poll()
    by_fd = {}
    for s in socks:
        p.register(s.fileno(), select.POLLIN)
        by_fd[s.fileno()] = s
    return [by_fd[fd] for fd, _ in p.poll(max(0, int(timeout * 1000)))]


def read_until_closed(s, limit_s, cap=1 << 20):
    """Reads until EOF/reset or `limit_s`; returns (bytes, closed)."""
    data = bytearray()
    deadline = time.monotonic() + limit_s
    while len(data) < cap:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), False
        if not readable([s], left):
            continue
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return bytes(data), True
        except socket.timeout:
            continue
        if not chunk:
            return bytes(data), True
        data += chunk
    return bytes(data), False


def status_of(data):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    return int(m.group(1)) if m else None


def upgraded(d, timeout=5.0):
    """A raw socket past a 101 on /echo."""
    s = raw_connect(d, timeout)
    s.sendall(upgrade_request("/echo"))
    buf = b""
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise Fail("no 101 in time")
        chunk = s.recv(4096)
        if not chunk:
            raise Fail(f"closed before the 101: {buf!r}")
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 101 "):
        raise Fail(f"upgrade refused: {buf!r}")
    return s, buf[buf.index(b"\r\n\r\n") + 4:]


# ---- tests ----

@test("slow clients: 500 heads sent one byte per second, a normal client served within 1 s")
def t_slow_clients(d, verbose):
    head = upgrade_request("/echo")
    socks = []
    try:
        for _ in range(SLOW_CLIENTS):
            socks.append(raw_connect(d))
        t0 = time.monotonic()
        worst = 0.0
        served = 0
        sent_bytes = 0
        # Four rounds of one byte per client per second, a normal client in each second: the
        # slow heads stay incomplete (well under the 10 s head timeout) the whole time.
        for second in range(4):
            for s in socks:
                s.send(head[sent_bytes:sent_bytes + 1])
            sent_bytes += 1
            worst = max(worst, serve_normal(d))
            served += 1
            left = t0 + second + 1 - time.monotonic()
            if left > 0:
                time.sleep(left)
        # None of them may have been answered yet: their heads are incomplete.
        r = readable(socks, 0)
        if r:
            data = r[0].recv(200)
            raise Fail(f"a slow client with an incomplete head got {data!r}")
        if verbose:
            print(f"     {SLOW_CLIENTS} slow clients held for 4 s; worst normal client "
                  f"{worst * 1000:.0f} ms over {served} tries")
    finally:
        for s in socks:
            s.close()


@test("slow clients: a head still incomplete at the head timeout gets 408 and is closed")
def t_head_timeout(d, verbose):
    # Uses the short-timeout gateway (head_timeout_ms = 1000), so it is quick.
    s = raw_connect(d)
    try:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
        data, closed = read_until_closed(s, 4.0)
        if status_of(data) != 408 or not closed:
            raise Fail(f"expected 408 and close after the head timeout, got {data!r} "
                       f"closed={closed}")
    finally:
        s.close()
    s = raw_connect(d)
    try:
        data, closed = read_until_closed(s, 4.0)
        if data or not closed:
            raise Fail(f"a silent connection: expected a close without response, got {data!r} "
                       f"closed={closed}")
    finally:
        s.close()


@test("oversized heads and targets: 414 / 431 and close, 50 times each")
def t_oversized(d, verbose):
    cases = [
        ("target of 9 KiB", upgrade_request("/echo?" + "t" * 9 * 1024), 414),
        ("target of 100 KiB streamed", b"GET /" + b"t" * 100 * 1024, 414),
        ("head of 17 KiB", upgrade_request(extra=[("X-Pad", "p" * 17 * 1024)]), 431),
        ("head of 1 MiB streamed, never ending", b"GET /echo HTTP/1.1\r\nHost: x\r\n" +
         b"X-Pad: " + b"p" * (1 << 20), 431),
        ("101 header fields", upgrade_request(extra=[(f"X-{i}", "v") for i in range(101)]), 431),
        ("10,000 header fields", http_request("GET", "/echo", headers=[("Host", "x")] +
                                              [(f"X-{i}", "v") for i in range(10000)]), 431),
        ("header name of 20 KiB", b"GET /echo HTTP/1.1\r\nHost: x\r\n" + b"N" * 20480 +
         b": v\r\n\r\n", 431),
    ]
    for label, req, want in cases:
        for i in range(50 if len(req) < 200 * 1024 else 10):
            s = raw_connect(d)
            try:
                try:
                    s.sendall(req)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the server answered and closed before taking it all: read below
                data, closed = read_until_closed(s, 5.0)
                if status_of(data) != want or not closed:
                    raise Fail(f"{label}: expected {want} and close, got {data[:200]!r} "
                               f"closed={closed}")
            finally:
                s.close()


@test("garbage bytes: 300 connections of random bytes to the gateway, answered 400/501 or closed")
def t_garbage_gateway(d, verbose):
    rnd = random.Random(4)
    statuses = {}
    for i in range(300):
        n = rnd.choice([1, 7, 64, 500, 4096, 20000])
        junk = bytes(rnd.getrandbits(8) for _ in range(n))
        if i % 3 == 0:
            junk += b"\r\n\r\n"
        s = raw_connect(d)
        try:
            try:
                s.sendall(junk)
                if i % 2 == 0:
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, closed = read_until_closed(s, 12.0)
            st = status_of(data)
            statuses[st] = statuses.get(st, 0) + 1
            if data and st not in (400, 408, 414, 431, 501):
                raise Fail(f"garbage {junk[:40]!r}... ({n} bytes) answered {data[:200]!r}")
            if not closed:
                raise Fail(f"garbage {junk[:40]!r}... ({n} bytes): connection left open")
        finally:
            s.close()
    if verbose:
        print(f"     answers: {statuses}")


@test("garbage frames: 300 upgraded connections fed random bytes, each closed by the server")
def t_garbage_worker(d, verbose):
    rnd = random.Random(5)
    codes = {}
    for i in range(300):
        s, early = upgraded(d)
        try:
            n = rnd.choice([1, 2, 5, 14, 200, 3000, 70000])
            junk = bytes(rnd.getrandbits(8) for _ in range(n))
            try:
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass
            data, closed = read_until_closed(s, 5.0)
            if not closed:
                raise Fail(f"random frame bytes {junk[:40]!r}... ({n} bytes): not closed in 5 s")
            data = early + data
            # Whatever the server sent must be well-formed server frames.
            pos = 0
            last = None
            while pos + 2 <= len(data):
                b0, b1 = data[pos], data[pos + 1]
                if b1 & 0x80 or b0 & 0x70:
                    raise Fail(f"server sent a masked or RSV frame after garbage: {data[:60]!r}")
                ln, hl = b1 & 0x7F, 2
                if ln == 126:
                    ln, hl = struct.unpack("!H", data[pos + 2:pos + 4])[0], 4
                elif ln == 127:
                    ln, hl = struct.unpack("!Q", data[pos + 2:pos + 10])[0], 10
                last = (b0 & 0xF, data[pos + hl:pos + hl + ln])
                pos += hl + ln
            if last is not None and last[0] == OP_CLOSE and len(last[1]) >= 2:
                code = struct.unpack("!H", last[1][:2])[0]
                codes[code] = codes.get(code, 0) + 1
        finally:
            s.close()
    bad = {c for c in codes if c not in (1000, 1002, 1007, 1009)}
    if bad:
        raise Fail(f"unexpected close codes after garbage: {codes}")
    if verbose:
        print(f"     close codes seen: {codes}")


@test("a frame declaring 2^63-1 bytes: close 1009, 100 times")
def t_huge_declared(d, verbose):
    for i in range(100):
        s, early = upgraded(d)
        try:
            hdr = bytes([0x82, 0xFF]) + struct.pack("!Q", (1 << 63) - 1) + b"\0\0\0\0"
            s.sendall(hdr + b"x")      # one payload byte: see conformance 9.6 for header-only
            data, closed = read_until_closed(s, 5.0, cap=64)
            data = early + data
            if data[:4] != b"\x88\x02\x03\xf1":
                raise Fail(f"expected close 1009, got {data[:40]!r} closed={closed}")
        finally:
            s.close()


@test("truncated frames: 400 connections cut mid-header or mid-payload (FIN or RST)")
def t_truncated(d, verbose):
    full = frame(OP_BINARY, b"p" * 1000, key=b"\1\2\3\4")
    cuts = [1, 2, 3, 5, 9, 13, 14, 200, len(full) - 1]
    for i in range(400):
        s, _ = upgraded(d)
        cut = cuts[i % len(cuts)]
        try:
            s.sendall(full[:cut])
        except (BrokenPipeError, ConnectionResetError):
            pass
        if i % 2:
            reset_close(s)
        else:
            s.shutdown(socket.SHUT_WR)
            data, closed = read_until_closed(s, 5.0)
            s.close()
            if not closed:
                raise Fail(f"truncated frame ({cut} bytes) then FIN: server did not close")


@test("1,000 rapid connect/disconnect cycles (gateway, mid-head, after 101; FIN and RST)")
def t_rapid(d, verbose):
    head = upgrade_request("/echo")
    for i in range(RAPID_CYCLES):
        kind = i % 5
        s = raw_connect(d)
        if kind == 0:
            s.close()
        elif kind == 1:
            reset_close(s)
        elif kind == 2:
            s.sendall(head[:len(head) // 2])
            reset_close(s)
        elif kind == 3:
            s.sendall(head)             # upgrade, then gone before reading the 101
            s.close()
        else:
            s.sendall(head + frame(OP_TEXT, b"bye"))
            reset_close(s)
    serve_normal(d)


@test("2,000 concurrent WebSockets (echo and seed) opened, used, then dropped")
def t_many(d, verbose):
    socks = []
    try:
        for i in range(2000):
            s = raw_connect(d, timeout=10.0)
            s.sendall(upgrade_request("/echo" if i % 2 else "/x/websocket") +
                      frame(OP_TEXT, b"hi"))
            socks.append(s)
        for s in socks:
            data, _ = read_until_closed(s, 0.5, cap=1)   # the 101 (at least its first byte)
            if not data.startswith(b"H"):
                raise Fail(f"no 101 for one of 2,000 connections: {data!r}")
        with d.open("/websocket") as ws:
            ws.send(frame(OP_TEXT, b"n"))
            f = ws.read_server_frame()
            if not f.payload.endswith(b"connections: 1001"):
                raise Fail(f"seed count with 1,000 seed sockets open plus this one: {f!r}")
            ws.finish()
    finally:
        for i, s in enumerate(socks):
            if i % 2:
                reset_close(s)
            else:
                s.close()


@test("half-open sockets: 200 clients shut their write side (mid-head, idle, mid-message)")
def t_half_open(d, verbose):
    for i in range(200):
        kind = i % 4
        if kind == 0:
            s = raw_connect(d)
            s.sendall(b"GET /echo HTTP/1.1\r\nHost:")
        elif kind == 1:
            s = raw_connect(d)
        elif kind == 2:
            s, _ = upgraded(d)
        else:
            s, _ = upgraded(d)
            s.sendall(frame(OP_TEXT, b"part", fin=False))
        s.shutdown(socket.SHUT_WR)
        data, closed = read_until_closed(s, 5.0)
        s.close()
        if not closed:
            raise Fail(f"half-open client (kind {kind}) not closed by the server within 5 s")
        if kind in (0, 1) and data:
            raise Fail(f"half-open client (kind {kind}) got {data[:100]!r}")


@test("silent clients: 100 connect and send nothing, dropped at the head timeout")
def t_silent(d, verbose):
    # Short-timeout gateway: head_timeout_ms = 1000.
    socks = [raw_connect(d) for _ in range(100)]
    try:
        deadline = time.monotonic() + 5.0
        open_socks = set(socks)
        while open_socks and time.monotonic() < deadline:
            for s in readable(list(open_socks), 0.2):
                try:
                    data = s.recv(100)
                except ConnectionResetError:
                    data = b""
                if data:
                    raise Fail(f"a silent client got {data!r}")
                open_socks.discard(s)
        if open_socks:
            raise Fail(f"{len(open_socks)} silent clients still open 5 s later "
                       "(head timeout 1 s)")
    finally:
        for s in socks:
            s.close()


@test("a client that never reads: the outbound bound (64 KiB) holds, close 1008, bounded RSS")
def t_never_reads(d, verbose):
    workers = d.live_workers()
    rss0 = {p: proc_rss_kib(p) for p in workers}
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # before connect: small window
    s.settimeout(5.0)
    s.connect(d.addr)
    mark = d.mark()
    try:
        s.sendall(upgrade_request("/echo"))
        msg = frame(OP_BINARY, b"\xab" * 65536, key=b"\0\0\0\0")
        sent = 0
        peak = dict(rss0)
        t0 = time.monotonic()
        s.setblocking(False)
        out = memoryview(msg)
        slow_rx = re.compile(r"event=slow_consumer\b")

        def sample():
            for p in workers:
                peak[p] = max(peak[p], proc_rss_kib(p))

        def flagged():
            with d._cond:
                return any(slow_rx.search(l) for l in d.lines[mark:])
        # Phase 1: echo requests, never reading the echoes, until the worker reports the slow
        # consumer (bounded: 10 s, 64 MiB).
        while not flagged():
            if time.monotonic() - t0 > 10.0 or sent > (64 << 20):
                raise Fail(f"no slow_consumer close after {sent >> 20} MiB and "
                           f"{time.monotonic() - t0:.1f}s (outbound bound {OUTBOUND_MAX} bytes)")
            _, w, _ = select.select([], [s], [], 0.2)
            sample()
            if not w:
                continue
            try:
                n = s.send(out)
            except (BrokenPipeError, ConnectionResetError):
                break
            except BlockingIOError:
                continue
            sent += n
            out = out[n:] if n < len(out) else memoryview(msg)
        # Phase 2: the close frame cannot reach a client that does not read: the worker must
        # drop the connection at its close timeout (2 s). A write then draws a reset.
        t1 = time.monotonic()
        closed_by_server = False
        while time.monotonic() - t1 < 5.0:
            sample()
            try:
                s.send(b"\0")
            except (BrokenPipeError, ConnectionResetError):
                closed_by_server = True
                break
            except BlockingIOError:
                pass
            time.sleep(0.1)
        if not closed_by_server:
            raise Fail("the worker flagged the slow consumer but still held its connection 5 s "
                       "later")
        d.wait_line(r"event=slow_consumer\b", 5.0, start=mark)
        growth = {p: peak[p] - rss0[p] for p in workers}
        if max(growth.values()) > rss_tolerance(d):
            raise Fail(f"worker RSS grew by {max(growth.values()) // 1024} MiB while a client "
                       f"did not read (bound {OUTBOUND_MAX} bytes)")
        if verbose:
            print(f"     sent {sent >> 10} KiB before the server closed after "
                  f"{time.monotonic() - t0:.1f}s; worker RSS growth KiB {growth}")
    finally:
        s.close()


@test("pipelining client that never reads: the gateway drops it (timeouts 1 s), fds released")
def t_pipeline_never_reads(d, verbose):
    # Short-timeout gateway. The client stays connected and silent-but-open during the check:
    # the gateway alone must give the connection up.
    gw_fds0 = proc_fds(d.pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5.0)
    s.connect(d.addr)
    try:
        s.setblocking(False)
        req = http_request("GET", "/not-routed") * 64
        sent = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.0 and sent < (16 << 20):
            _, w, _ = select.select([], [s], [], 0.1)
            if not w:
                continue
            try:
                sent += s.send(req)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        deadline = time.monotonic() + 8.0
        while proc_fds(d.pid) > gw_fds0 and time.monotonic() < deadline:
            time.sleep(0.1)
        if proc_fds(d.pid) > gw_fds0:
            raise Fail(f"the gateway still holds a pipelining client that never reads, "
                       f"{time.monotonic() - t0:.1f}s after it connected ({sent >> 10} KiB "
                       f"sent; head and keep-alive timeouts 1 s)")
    finally:
        s.close()


# ---- runner ----

def run_test(d, name, fn, verbose):
    before = snapshot(d)
    fn(d, verbose)
    serve_normal(d, deadline=2.0)
    seed_count_is_one(d)
    check_recovered(d, before, verbose)


def main():
    args = runner_args(__doc__)
    tests = select_cases(TESTS, args.filter, lambda t: (t[0],))
    short = {t_head_timeout, t_silent, t_pipeline_never_reads}
    groups = [(ABUSE_CONFIG, [t for t in tests if t[1] not in short]),
              (SHORT_TIMEOUT_CONFIG, [t for t in tests if t[1] in short])]
    if args.list:
        for config, group in groups:
            for name, _ in group:
                print(f"{name}{'  [short timeouts]' if config is SHORT_TIMEOUT_CONFIG else ''}")
        print(f"{len(tests)} cases")
        return 0

    t_start = time.monotonic()
    results = []
    sanitizer = []
    for config, group in groups:
        if not group:
            continue
        with Duro(config, workers=2) as d:
            if d.sanitized and config is ABUSE_CONFIG:
                print(f"note: sanitizer build: VmRSS tolerance {RSS_TOLERANCE_ASAN_KIB >> 10} MiB "
                      f"(ASan quarantine), descriptors +{FD_TOLERANCE}", flush=True)
            # Warm up: one of each kind of connection, so that the baseline includes what the
            # first connections allocate once (buffers, libuv's internals).
            for _ in range(3):
                serve_normal(d, deadline=5.0)
            first = snapshot(d)
            for name, fn in group:
                t0 = time.monotonic()
                try:
                    run_test(d, name, fn, args.verbose)
                    err = None
                except Fail as e:
                    err = str(e)
                except Exception as e:
                    err = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=4)}"
                results.append((name, err))
                print_result(name, err, time.monotonic() - t0, verbose=True)
                if err is not None and args.verbose:
                    print(d.tail(20))
            # All the attacks together: the end must still be near the start (catches a slow
            # leak that stays under the tolerance in every single test).
            name = f"resources after all {len(group)} tests of this gateway vs its start"
            try:
                check_recovered(d, first, args.verbose)
                err = None
            except Fail as e:
                err = str(e)
            results.append((name, err))
            print_result(name, err)
        sanitizer += d.sanitizer_lines
    suite_failures = [("sanitizer reports in the servers' stderr:", sanitizer)] if sanitizer else []
    return report("abuse", results, suite_failures, time.monotonic() - t_start, SUITE_BUDGET_S)

if __name__ == "__main__":
    sys.exit(main())

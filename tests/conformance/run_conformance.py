#!/usr/bin/env python3
"""tests/conformance/run_conformance.py: duro's own RFC 6455 conformance suite.

Organised like the Autobahn test suite's sections: 1 framing, 2 ping/pong, 3 reserved bits,
4 opcodes, 5 fragmentation, 6 UTF-8 handling, 7 close handling, 9 limits, 12 and 13
permessage-deflate (payloads of many sizes; each negotiated parameter set, against a default
`deflate = stateless` gateway and a second one with `deflate = takeover`), and H for the
gateway's handshake. One named case per rule, each with the echo or close code RFC 6455 and docs/design.md
(sections 2, 3 and 6) require, driven over raw sockets against the `echo` class routed at /echo.

Usage: DURO_GATEWAY=... DURO_WORKER=... python3 run_conformance.py [-k REGEX] [-j N]
       [--list] [-v]
Prints `PASS`/`FAIL` per case and `N passed, N failed` last; exits 1 on any failure, on a worker
that died during the run, or on any sanitizer report in the servers' stderr.

Expectations that are not the same for every RFC-conforming server are marked `lenient` in the
case name and accept each conforming answer (for example a non-minimal length encoding: echo, or
close 1002).
"""

import concurrent.futures
import os
import random
import re
import socket
import sys
import time
import traceback
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

from duro_test import (ECHO_CONFIG, OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG,  # noqa: E402
                   OP_TEXT, SAMPLE_ACCEPT, SAMPLE_KEY, Duro, Fail, Pmd, close_payload, frame,
                   http_request, print_result, report, runner_args, select_cases,
                   upgrade_request, ws_accept)

MIB = 1 << 20
MESSAGE_MAX = 32 * MIB            # docs/design.md section 10 default
CLOSE_TIMEOUT_S = 2.0             # [websocket] close_timeout_ms default
ZERO_KEY = b"\0\0\0\0"            # a valid mask that leaves the payload as is: cheap big frames
SUITE_BUDGET_S = 60.0

CASES = []      # (id, name, fn, heavy, server): server "default" or "takeover" (SERVERS)

# The gateways a run starts: every case runs against the default configuration (deflate =
# stateless) unless it names the second one, started only when a selected case needs it.
TAKEOVER_CONFIG = ECHO_CONFIG + "\n[websocket]\ndeflate = takeover\n"
SERVERS = {"default": ECHO_CONFIG, "takeover": TAKEOVER_CONFIG}


def case(cid, name, heavy=False, server="default"):
    def deco(fn):
        CASES.append((cid, name, fn, heavy, server))
        return fn
    return deco


def add(cid, name, fn, heavy=False, server="default"):
    CASES.append((cid, name, fn, heavy, server))


def text_of(n):
    """`n` bytes of ASCII text."""
    pat = b"duro-conformance-"
    return (pat * (n // len(pat) + 1))[:n]


def binary_of(n):
    return bytes(range(256)) * (n // 256) + bytes(range(n % 256))


# ---- the generic case: send bytes, expect a sequence ----

def scenario(sends, expects, mode="whole", target="/echo", finish=True):
    """Opens /echo, sends `sends` (a list of byte strings: whole, one write per item, or one
    byte per segment), then checks `expects` in order:
      ("msg", opcode, payload)  a data message (fragments joined)
      ("pong", payload)         a pong
      ("close", codes)          a close frame with one of `codes`, then TCP closed
      ("either", [alt, ...])    lenient: each alt is a list of expectations; the first frame
                                seen selects the alternative
    Ends with a clean close handshake unless a close was expected."""
    def run(d):
        with d.open(target) as ws:
            data = b"".join(sends)
            if mode == "whole":
                ws.send(data, tolerate_reset=True)
            elif mode == "frames":
                for s in sends:
                    ws.send(s, tolerate_reset=True)
                    time.sleep(0.001)
            elif mode == "bytes":
                ws.send_chunked(data, 1)
            else:
                raise ValueError(mode)
            closed = check(ws, expects)
            if finish and not closed:
                ws.finish()
    return run


def check(ws, expects):
    closed = False
    for e in expects:
        kind = e[0]
        if kind == "msg":
            ws.expect_message(e[1], e[2])
        elif kind == "pong":
            ws.expect_pong(e[1])
        elif kind == "close":
            ws.expect_close(e[1])
            closed = True
        elif kind == "either":
            closed = either(ws, e[1]) or closed
        else:
            raise ValueError(kind)
    return closed


def either(ws, alternatives):
    f = ws.read_server_frame()
    ws.buf[:0] = raw_frame_bytes(f)   # put it back for the chosen alternative
    for alt in alternatives:
        first = alt[0]
        if (first[0] == "msg" and f.opcode == first[1]) or \
           (first[0] == "close" and f.opcode == OP_CLOSE) or \
           (first[0] == "pong" and f.opcode == OP_PONG):
            return check(ws, alt)
    raise Fail(f"got {f!r}, which none of the accepted answers starts with")


def raw_frame_bytes(f):
    return frame(f.opcode, f.payload, fin=f.fin, rsv=f.rsv, mask=False)


def T(payload, fin=True, rsv=0, **kw):
    return frame(OP_TEXT, payload, fin=fin, rsv=rsv, **kw)


def B(payload, fin=True, rsv=0, **kw):
    return frame(OP_BINARY, payload, fin=fin, rsv=rsv, **kw)


def C(payload, fin=True, rsv=0, **kw):
    return frame(OP_CONT, payload, fin=fin, rsv=rsv, **kw)


def PING(payload=b"", **kw):
    return frame(OP_PING, payload, **kw)


def PONG(payload=b"", **kw):
    return frame(OP_PONG, payload, **kw)


def CLOSE(code=None, reason=b"", **kw):
    return frame(OP_CLOSE, close_payload(code, reason), **kw)


def msg(op, payload):
    return ("msg", op, payload.encode() if isinstance(payload, str) else payload)


def close(*codes):
    return ("close", codes)


# ================================================================================================
# Section 1: framing
# ================================================================================================

_SIZES = [0, 1, 125, 126, 127, 128, 65535, 65536, 65537]
for _i, _n in enumerate(_SIZES, 1):
    add(f"1.1.{_i}", f"text message of {_n} bytes is echoed",
        scenario([T(text_of(_n))], [msg(OP_TEXT, text_of(_n))]))
    add(f"1.2.{_i}", f"binary message of {_n} bytes is echoed",
        scenario([B(binary_of(_n))], [msg(OP_BINARY, binary_of(_n))]))
add("1.1.10", "text message of 65536 bytes sent in 997-byte segments is echoed",
    lambda d: _chunked_echo(d, OP_TEXT, text_of(65536), 997))
add("1.2.10", "binary message of 65536 bytes sent in 997-byte segments is echoed",
    lambda d: _chunked_echo(d, OP_BINARY, binary_of(65536), 997))
add("1.1.11", "text message frame sent one byte per segment is echoed",
    scenario([T("Hello, duro!")], [msg(OP_TEXT, "Hello, duro!")], mode="bytes"))
add("1.1.12", "several messages in one segment are echoed in order",
    scenario([T("a"), B(b"\x00b"), T("c" * 200), B(b"")],
             [msg(OP_TEXT, "a"), msg(OP_BINARY, b"\x00b"), msg(OP_TEXT, "c" * 200),
              msg(OP_BINARY, b"")]))


def _chunked_echo(d, op, payload, chunk):
    with d.open() as ws:
        ws.send_chunked(frame(op, payload), chunk, pause=0)
        ws.expect_message(op, payload)
        ws.finish()


add("1.3.1", "all-zero mask key is a valid mask",
    scenario([T("zero mask", key=ZERO_KEY)], [msg(OP_TEXT, "zero mask")]))
add("1.3.2", "a different mask key on every frame",
    scenario([T("k1", key=b"\x01\x02\x03\x04"), T("k2", key=b"\xff\xfe\xfd\xfc")],
             [msg(OP_TEXT, "k1"), msg(OP_TEXT, "k2")]))
add("1.3.3", "unmasked text frame: close 1002",
    scenario([T("unmasked", mask=False)], [close(1002)]))
add("1.3.4", "unmasked binary frame: close 1002",
    scenario([B(b"unmasked", mask=False)], [close(1002)]))
add("1.3.5", "unmasked ping: close 1002", scenario([PING(b"x", mask=False)], [close(1002)]))
add("1.3.6", "unmasked close frame: close 1002",
    scenario([CLOSE(1000, mask=False)], [close(1002)]))
add("1.3.7", "unmasked frame after a valid message: echo, then close 1002",
    scenario([T("ok"), T("unmasked", mask=False)], [msg(OP_TEXT, "ok"), close(1002)]))
add("1.3.8", "unmasked empty text frame: close 1002",
    scenario([T("", mask=False)], [close(1002)]))
add("1.3.9", "unmasked continuation inside a fragmented message: close 1002",
    scenario([T("a", fin=False), C("b", mask=False)], [close(1002)]))
add("1.4.1", "lenient: 5-byte payload with a 16-bit length (non-minimal): echo or close 1002",
    scenario([T("short", len_bytes=2)],
             [("either", [[msg(OP_TEXT, "short")], [close(1002)]])]))
add("1.4.2", "lenient: 200-byte payload with a 64-bit length (non-minimal): echo or close 1002",
    scenario([T(text_of(200), len_bytes=8)],
             [("either", [[msg(OP_TEXT, text_of(200))], [close(1002)]])]))
add("1.4.3", "64-bit length with the most significant bit set: close 1002 (or 1009)",
    lambda d: _declared_only(d, OP_BINARY, (1 << 64) - 1, (1002, 1009)))
add("1.4.4", "frame header split across segments (2+8+4 bytes) is parsed",
    lambda d: _split_header(d))


def _declared_only(d, op, length, codes, body=b"", fin=True):
    """Sends only a frame header declaring `length` (plus `body`), then expects `codes` without
    sending the rest: a server must judge the header, not wait for a payload it will refuse."""
    with d.open() as ws:
        ws.send(frame(op, body, fin=fin, length=length, key=ZERO_KEY))
        ws.expect_close(codes, timeout=3.0)


def _split_header(d):
    payload = binary_of(70000)
    data = frame(OP_BINARY, payload)
    with d.open() as ws:
        ws.send(data[:2])
        time.sleep(0.01)
        ws.send(data[2:10])
        time.sleep(0.01)
        ws.send(data[10:14])
        time.sleep(0.01)
        ws.send(data[14:])
        ws.expect_message(OP_BINARY, payload)
        ws.finish()


# ================================================================================================
# Section 2: ping/pong
# ================================================================================================

add("2.1", "ping without payload: pong without payload", scenario([PING()], [("pong", b"")]))
add("2.2", "ping with a text payload: pong with the same payload",
    scenario([PING(b"Hello, duro")], [("pong", b"Hello, duro")]))
add("2.3", "ping with a binary payload: pong with the same payload",
    scenario([PING(b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")], [("pong", b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")]))
add("2.4", "ping with a 125-byte payload: pong", scenario([PING(b"\xfe" * 125)],
                                                          [("pong", b"\xfe" * 125)]))
add("2.5", "ping with a 126-byte payload: close 1002", scenario([PING(b"\xfe" * 126)], [close(1002)]))
add("2.6", "ping with a 125-byte payload sent one byte per segment: pong",
    scenario([PING(b"\xfe" * 125)], [("pong", b"\xfe" * 125)], mode="bytes"))
add("2.7", "unsolicited empty pong: ignored", scenario([PONG(), T("after")], [msg(OP_TEXT, "after")]))
add("2.8", "unsolicited pong with payload: ignored",
    scenario([PONG(b"unsolicited"), T("after")], [msg(OP_TEXT, "after")]))
add("2.9", "unsolicited pong, then ping: pong for the ping only",
    scenario([PONG(b"unsolicited"), PING(b"solicited")], [("pong", b"solicited")]))
add("2.10", "10 pings in one segment: 10 pongs in order",
    scenario([PING(str(i).encode()) for i in range(10)],
             [("pong", str(i).encode()) for i in range(10)]))
add("2.11", "10 pings, one write each: 10 pongs in order",
    scenario([PING(str(i).encode()) for i in range(10)],
             [("pong", str(i).encode()) for i in range(10)], mode="frames"))
add("2.12", "pong with a 126-byte payload: close 1002", scenario([PONG(b"x" * 126)], [close(1002)]))
add("2.13", "ping with a 126-byte payload via a 16-bit length: close 1002",
    scenario([PING(b"y" * 126, len_bytes=2)], [close(1002)]))
add("2.14", "pong with a 125-byte payload: ignored",
    scenario([PONG(b"z" * 125), T("after")], [msg(OP_TEXT, "after")]))
add("2.15", "ping between two messages: echo, pong, echo in order",
    scenario([T("one"), PING(b"p"), T("two")],
             [msg(OP_TEXT, "one"), ("pong", b"p"), msg(OP_TEXT, "two")]))
add("2.16", "ping declaring a 64-bit length: close 1002",
    lambda d: _declared_only(d, OP_PING, 1 << 20, (1002,)))


# ================================================================================================
# Section 3: reserved bits (no extension is ever negotiated)
# ================================================================================================

_RSV_TARGETS = [
    ("text", lambda rsv: [T("rsv", rsv=rsv)]),
    ("binary", lambda rsv: [B(b"rsv", rsv=rsv)]),
    ("ping", lambda rsv: [PING(b"rsv", rsv=rsv)]),
    ("pong", lambda rsv: [PONG(b"rsv", rsv=rsv)]),
    ("close", lambda rsv: [CLOSE(1000, rsv=rsv)]),
    ("continuation", lambda rsv: [T("a", fin=False), C("b", rsv=rsv)]),
]
_n = 0
for _rsv in range(1, 8):
    for _what, _mk in _RSV_TARGETS:
        _n += 1
        add(f"3.1.{_n}", f"RSV={_rsv} on a {_what} frame: close 1002",
            scenario(_mk(_rsv), [close(1002)]))
add("3.2.1", "RSV=2 after a valid message: echo, then close 1002",
    scenario([T("valid"), T("rsv", rsv=2)], [msg(OP_TEXT, "valid"), close(1002)]))
add("3.2.2", "RSV=3 on a frame sent one byte per segment after a valid message: echo, close 1002",
    scenario([T("valid"), T("rsv", rsv=3)], [msg(OP_TEXT, "valid"), close(1002)], mode="bytes"))
add("3.2.3", "RSV=4 (permessage-deflate's bit, not negotiated) on an empty text frame: close 1002",
    scenario([T("", rsv=4)], [close(1002)]))
add("3.2.4", "RSV=1 on a frame that follows a ping: pong, then close 1002",
    scenario([PING(b"p"), B(b"x", rsv=1)], [("pong", b"p"), close(1002)]))


# ================================================================================================
# Section 4: opcodes
# ================================================================================================

_n = 0
for _op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
    kind = "non-control" if _op < 8 else "control"
    _n += 1
    add(f"4.1.{_n}", f"reserved {kind} opcode {_op}, no payload: close 1002",
        scenario([frame(_op)], [close(1002)]))
    _n += 1
    add(f"4.1.{_n}", f"reserved {kind} opcode {_op} with payload after a valid message: "
        "echo, then close 1002",
        scenario([T("valid"), frame(_op, b"reserved")], [msg(OP_TEXT, "valid"), close(1002)]))
    _n += 1
    add(f"4.1.{_n}", f"reserved {kind} opcode {_op} with payload, a ping after it: "
        "close 1002 and no pong",
        scenario([frame(_op, b"reserved"), PING(b"p")], [close(1002)]))
add("4.2.1", "reserved opcode inside a fragmented message: close 1002",
    scenario([T("a", fin=False), frame(3, b"x"), C("b")], [close(1002)]))
add("4.2.2", "reserved opcode 3 with FIN=0: close 1002",
    scenario([frame(3, b"x", fin=False)], [close(1002)]))


# ================================================================================================
# Section 5: fragmentation
# ================================================================================================

add("5.1", "ping with FIN=0 (fragmented control frame): close 1002",
    scenario([frame(OP_PING, b"frag", fin=False), C(b"ment")], [close(1002)]))
add("5.2", "pong with FIN=0: close 1002",
    scenario([frame(OP_PONG, b"frag", fin=False), C(b"ment")], [close(1002)]))
add("5.3", "close with FIN=0: close 1002",
    scenario([frame(OP_CLOSE, close_payload(1000), fin=False)], [close(1002)]))
add("5.4", "text in two fragments: echoed whole",
    scenario([T("frag", fin=False), C("ment")], [msg(OP_TEXT, "fragment")]))
add("5.5", "text in two fragments, one byte per segment: echoed whole",
    scenario([T("frag", fin=False), C("ment")], [msg(OP_TEXT, "fragment")], mode="bytes"))
add("5.6", "text in two fragments with a ping between: pong, then the message",
    scenario([T("frag", fin=False), PING(b"p"), C("ment")],
             [("pong", b"p"), msg(OP_TEXT, "fragment")]))
add("5.7", "text fragments with a ping between, one write per frame: pong, then the message",
    scenario([T("frag", fin=False), PING(b"p"), C("ment")],
             [("pong", b"p"), msg(OP_TEXT, "fragment")], mode="frames"))
add("5.8", "text fragments with a ping between, one byte per segment",
    scenario([T("frag", fin=False), PING(b"p"), C("ment")],
             [("pong", b"p"), msg(OP_TEXT, "fragment")], mode="bytes"))
add("5.9", "continuation with FIN=1 and no message in progress: close 1002",
    scenario([C("orphan")], [close(1002)]))
add("5.10", "continuation with FIN=1 and no message, one byte per segment: close 1002",
    scenario([C("orphan")], [close(1002)], mode="bytes"))
add("5.11", "continuation with FIN=0 and no message in progress: close 1002",
    scenario([C("orphan", fin=False), C("end")], [close(1002)]))
add("5.12", "continuation after a complete message: echo, then close 1002",
    scenario([T("whole"), C("orphan")], [msg(OP_TEXT, "whole"), close(1002)]))
add("5.13", "continuation FIN=0 as first frame, then text fragments: close 1002",
    scenario([C("a", fin=False), T("b", fin=False), C("c")], [close(1002)]))
add("5.14", "new text message while a text message is in progress: close 1002",
    scenario([T("first", fin=False), T("second")], [close(1002)]))
add("5.15", "new binary message while a text message is in progress: close 1002",
    scenario([T("first", fin=False), B(b"second")], [close(1002)]))
add("5.16", "new text FIN=0 while a binary message is in progress: close 1002",
    scenario([B(b"first", fin=False), T("second", fin=False)], [close(1002)]))
add("5.17", "two fragmented messages, then an orphan continuation: echo, echo, close 1002",
    scenario([T("a", fin=False), C("b"), B(b"c", fin=False), C(b"d"), C("e")],
             [msg(OP_TEXT, "ab"), msg(OP_BINARY, b"cd"), close(1002)]))
add("5.18", "binary in three fragments: echoed whole",
    scenario([B(b"\x00\x01", fin=False), C(b"\x02", fin=False), C(b"\x03\x04")],
             [msg(OP_BINARY, b"\x00\x01\x02\x03\x04")]))
add("5.19", "empty fragments around a payload: echoed whole",
    scenario([T("", fin=False), C("", fin=False), C("mid", fin=False), C("", fin=False), C("")],
             [msg(OP_TEXT, "mid")]))
add("5.20", "all fragments empty: empty message echoed",
    scenario([B(b"", fin=False), C(b"", fin=False), C(b"")], [msg(OP_BINARY, b"")]))
add("5.21", "1000 one-byte fragments: echoed whole",
    scenario([T("x", fin=False)] + [C("y", fin=False) for _ in range(998)] + [C("z")],
             [msg(OP_TEXT, "x" + "y" * 998 + "z")]))
add("5.22", "fragments with pings between every pair, one write per frame",
    scenario(sum(([C(str(i), fin=False) if i else T("0", fin=False), PING(str(i).encode())]
                  for i in range(5)), []) + [C("end")],
             [("pong", str(i).encode()) for i in range(5)] + [msg(OP_TEXT, "01234end")],
             mode="frames"))
add("5.23", "close in the middle of a fragmented message: close reply 1000",
    scenario([T("unfinished", fin=False), CLOSE(1000)], [close(1000)]))
add("5.24", "unsolicited pong between fragments: ignored",
    scenario([T("a", fin=False), PONG(b"u"), C("b")], [msg(OP_TEXT, "ab")]))
add("5.25", "64 KiB message in 64 fragments of 1 KiB: echoed whole",
    scenario([B(binary_of(1024), fin=False)] + [C(binary_of(1024), fin=False) for _ in range(62)]
             + [C(binary_of(1024))], [msg(OP_BINARY, binary_of(1024) * 64)]))
add("5.26", "a fragment whose frame spans many segments, then the final fragment",
    scenario([T(text_of(3000), fin=False), C(text_of(10))],
             [msg(OP_TEXT, text_of(3000) + text_of(10))], mode="bytes"))




@case("5.27", "fragments 150 ms apart, a ping between them: pong, then the whole message")
def _(d):
    with d.open() as ws:
        ws.send(T("slow ", fin=False))
        time.sleep(0.15)
        ws.send(PING(b"mid"))
        ws.expect_pong(b"mid")
        time.sleep(0.15)
        ws.send(C("fragments"))
        ws.expect_message(OP_TEXT, "slow fragments")
        ws.finish()


@case("5.28", "a frame paused 150 ms inside its header, then 150 ms inside its payload: echo")
def _(d):
    payload = binary_of(300)
    data = B(payload)
    with d.open() as ws:
        ws.send(data[:3])
        time.sleep(0.15)
        ws.send(data[3:100])
        time.sleep(0.15)
        ws.send(data[100:])
        ws.expect_message(OP_BINARY, payload)
        ws.finish()


@case("5.29", "idle 300 ms between messages, then fragments and a close in one write")
def _(d):
    with d.open() as ws:
        ws.send(T("one"))
        ws.expect_message(OP_TEXT, "one")
        time.sleep(0.3)
        ws.send(T("tw", fin=False) + C("o") + CLOSE(1000))
        ws.expect_message(OP_TEXT, "two")
        ws.expect_close(1000)


# ================================================================================================
# Section 6: UTF-8 handling
# ================================================================================================

def _cp(c):
    return chr(c).encode("utf-8", "surrogatepass")


_UTF8 = [
    # (label, bytes); validity is decided by Python's strict decoder (RFC 3629).
    ("empty", b""),
    ("ASCII", b"Hello, duro!"),
    ("Greek kosme", "κόσμε".encode()),
    ("mixed scripts", "Hello-µ@ßöäüàá-UTF-8!! 日本語 🎉".encode()),
    ("U+0000 (1 byte)", _cp(0)),
    ("U+007F last 1-byte", _cp(0x7F)),
    ("U+0080 first 2-byte", _cp(0x80)),
    ("U+07FF last 2-byte", _cp(0x7FF)),
    ("U+0800 first 3-byte", _cp(0x800)),
    ("U+FFFF last 3-byte", _cp(0xFFFF)),
    ("U+10000 first 4-byte", _cp(0x10000)),
    ("U+10FFFF last code point", _cp(0x10FFFF)),
    ("U+D7FF before surrogates", _cp(0xD7FF)),
    ("U+E000 after surrogates", _cp(0xE000)),
    ("U+FFFD replacement char", _cp(0xFFFD)),
    ("U+FFFE noncharacter", _cp(0xFFFE)),
    ("U+FDD0 noncharacter", _cp(0xFDD0)),
    ("U+FDEF noncharacter", _cp(0xFDEF)),
    ("U+1FFFE noncharacter", _cp(0x1FFFE)),
    ("U+10FFFE noncharacter", _cp(0x10FFFE)),
    ("U+110000 (above Unicode)", b"\xf4\x90\x80\x80"),
    ("F7 BF BF BF (U+1FFFFF)", b"\xf7\xbf\xbf\xbf"),
    ("5-byte sequence F8 88 80 80 80", b"\xf8\x88\x80\x80\x80"),
    ("5-byte sequence FB BF BF BF BF", b"\xfb\xbf\xbf\xbf\xbf"),
    ("6-byte sequence FC 84 80 80 80 80", b"\xfc\x84\x80\x80\x80\x80"),
    ("6-byte sequence FD BF BF BF BF BF", b"\xfd\xbf\xbf\xbf\xbf\xbf"),
    ("lone continuation 80", b"\x80"),
    ("lone continuation BF", b"\xbf"),
    ("two continuations 80 BF", b"\x80\xbf"),
    ("three continuations 80 BF 80", b"\x80\xbf\x80"),
    ("all 64 continuation bytes", bytes(range(0x80, 0xC0))),
    ("kosme then a lone continuation", "κόσμε".encode() + b"\x80"),
    ("2-byte starts C0..DF each followed by a space", b"".join(bytes([b, 0x20])
                                                               for b in range(0xC0, 0xE0))),
    ("3-byte starts E0..EF each followed by a space", b"".join(bytes([b, 0x20])
                                                               for b in range(0xE0, 0xF0))),
    ("4-byte starts F0..F7 each followed by a space", b"".join(bytes([b, 0x20])
                                                               for b in range(0xF0, 0xF8))),
    ("5-byte starts F8..FB each followed by a space", b"".join(bytes([b, 0x20])
                                                               for b in range(0xF8, 0xFC))),
    ("6-byte starts FC..FD each followed by a space", b"\xfc \xfd "),
    ("C2 then space (2-byte start, no continuation)", b"\xc2 "),
    ("E2 82 then space", b"\xe2\x82 "),
    ("2-byte sequence missing its last byte (C2)", b"\xc2"),
    ("3-byte sequence missing its last byte (E2 82)", b"\xe2\x82"),
    ("4-byte sequence missing its last byte (F0 9F 8E)", b"\xf0\x9f\x8e"),
    ("DF alone at the end", b"\xdf"),
    ("EF BF at the end", b"\xef\xbf"),
    ("F4 8F BF at the end", b"\xf4\x8f\xbf"),
    ("concatenated incomplete sequences", b"\xc2\xe2\x82\xf0\x9f\x8e\xdf\xef\xbf\xf4\x8f\xbf"),
    ("impossible byte FE", b"\xfe"),
    ("impossible byte FF", b"\xff"),
    ("impossible bytes FE FE FF FF", b"\xfe\xfe\xff\xff"),
    ("overlong '/' C0 AF", b"\xc0\xaf"),
    ("overlong '/' E0 80 AF", b"\xe0\x80\xaf"),
    ("overlong '/' F0 80 80 AF", b"\xf0\x80\x80\xaf"),
    ("overlong '/' F8 80 80 80 AF", b"\xf8\x80\x80\x80\xaf"),
    ("overlong '/' FC 80 80 80 80 AF", b"\xfc\x80\x80\x80\x80\xaf"),
    ("maximum overlong C1 BF", b"\xc1\xbf"),
    ("maximum overlong E0 9F BF", b"\xe0\x9f\xbf"),
    ("maximum overlong F0 8F BF BF", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL C0 80", b"\xc0\x80"),
    ("overlong NUL E0 80 80", b"\xe0\x80\x80"),
    ("overlong NUL F0 80 80 80", b"\xf0\x80\x80\x80"),
    ("surrogate U+D800", b"\xed\xa0\x80"),
    ("surrogate U+DB7F", b"\xed\xad\xbf"),
    ("surrogate U+DB80", b"\xed\xae\x80"),
    ("surrogate U+DBFF", b"\xed\xaf\xbf"),
    ("surrogate U+DC00", b"\xed\xb0\x80"),
    ("surrogate U+DF80", b"\xed\xbe\x80"),
    ("surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("surrogate pair U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("surrogate pair U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("F5 (never valid)", b"\xf5\x80\x80\x80"),
    ("valid text, then an invalid byte at the end", b"hello world\xff"),
    ("invalid byte in the middle of valid text", b"hello\xffworld"),
    ("E0 A0 80 (U+0800, edge of the E0 rule)", b"\xe0\xa0\x80"),
    ("ED 9F BF (U+D7FF, edge of the ED rule)", b"\xed\x9f\xbf"),
    ("F0 90 80 80 (U+10000, edge of the F0 rule)", b"\xf0\x90\x80\x80"),
    ("F4 8F BF BF (U+10FFFF, edge of the F4 rule)", b"\xf4\x8f\xbf\xbf"),
]


def _valid(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _utf8_expect(payload):
    return [msg(OP_TEXT, payload)] if _valid(payload) else [close(1007)]


for _i, (_label, _seq) in enumerate(_UTF8, 1):
    _verdict = "echo" if _valid(_seq) else "close 1007"
    add(f"6.1.{_i}", f"{_label}, one frame: {_verdict}",
        scenario([T(_seq)], _utf8_expect(_seq)))
    if len(_seq) > 1:
        _frags = [T(_seq[:1], fin=False)] + [C(_seq[j:j + 1], fin=False)
                                               for j in range(1, len(_seq) - 1)] + [C(_seq[-1:])]
        add(f"6.2.{_i}", f"{_label}, one fragment per byte: {_verdict}",
            scenario(_frags, _utf8_expect(_seq)))
        add(f"6.3.{_i}", f"{_label}, one frame sent one byte per segment: {_verdict}",
            scenario([T(_seq)], _utf8_expect(_seq), mode="bytes"))

_KOSME = "κόσμε".encode()
for _j in range(1, len(_KOSME)):
    add(f"6.4.{_j}", f"valid text split into two fragments at byte {_j}: echo",
        scenario([T(_KOSME[:_j], fin=False), C(_KOSME[_j:])], [msg(OP_TEXT, _KOSME)]))
_EMOJI = "🎉".encode()
for _j in range(1, 4):
    add(f"6.5.{_j}", f"4-byte character split across fragments at byte {_j}: echo",
        scenario([T(b"a" + _EMOJI[:_j], fin=False), C(_EMOJI[_j:] + b"b")],
                 [msg(OP_TEXT, b"a" + _EMOJI + b"b")]))
add("6.5.4", "4-byte character split over three fragments with a ping between: pong, echo",
    scenario([T(_EMOJI[:1], fin=False), PING(b"p"), C(_EMOJI[1:3], fin=False), C(_EMOJI[3:])],
             [("pong", b"p"), msg(OP_TEXT, _EMOJI)]))
add("6.5.5", "fragmented message ending inside a character: close 1007",
    scenario([T("abc", fin=False), C(_EMOJI[:2])], [close(1007)]))
add("6.5.6", "valid first fragment, invalid second, valid third: close 1007",
    scenario([T(_KOSME, fin=False), C(b"\xed\xa0\x80", fin=False), C(_KOSME)], [close(1007)]))
add("6.5.7", "binary message with invalid UTF-8 is not validated: echo",
    scenario([B(b"\xff\xfe\xc0\xaf\xed\xa0\x80")], [msg(OP_BINARY, b"\xff\xfe\xc0\xaf\xed\xa0\x80")]))
add("6.5.8", "ping payload with invalid UTF-8 is not validated: pong",
    scenario([PING(b"\xff\xfe")], [("pong", b"\xff\xfe")]))


# -- fail fast: the connection fails at the first invalid byte, before the message ends --

def _fail_fast_frame(d, declared, prefix, segments=1):
    """Declares a text frame of `declared` bytes, sends only `prefix` of it (in `segments`
    writes), and expects close 1007 within 2 s without sending the rest."""
    with d.open() as ws:
        key = os.urandom(4)
        head = frame(OP_TEXT, b"", key=key, length=declared)
        masked = frame(OP_TEXT, prefix, key=key)[-len(prefix):] if prefix else b""
        ws.send(head)
        step = max(1, len(masked) // segments)
        for i in range(0, len(masked), step):
            ws.send(masked[i:i + step], tolerate_reset=True)
            if segments > 1:
                time.sleep(0.01)
        t0 = time.monotonic()
        ws.expect_close(1007, timeout=2.0)
        return time.monotonic() - t0


add("6.6.1", "fail fast: invalid byte early in a declared 64 KiB text frame, rest never sent: "
    "close 1007", lambda d: _fail_fast_frame(d, 65536, b"a" * 500 + b"\xff"))
add("6.6.2", "fail fast: invalid byte in a declared 16 MiB text frame: close 1007",
    lambda d: _fail_fast_frame(d, 16 * MIB, "κόσμε".encode() * 100 + b"\xc0\xaf"))
add("6.6.3", "fail fast: the invalid sequence split across two segments (F4 | 90): close 1007",
    lambda d: _fail_fast_frame(d, 65536, b"abc\xf4\x90", segments=2))
add("6.6.4", "fail fast: surrogate in the first bytes of a declared 1 MiB frame: close 1007",
    lambda d: _fail_fast_frame(d, MIB, b"\xed\xa0\x80"))


@case("6.6.5", "fail fast: invalid second fragment of an unfinished message: close 1007")
def _(d):
    with d.open() as ws:
        ws.send(T(_KOSME, fin=False) + C(b"\xf4\x90\x80\x80", fin=False))
        ws.expect_close(1007, timeout=2.0)


@case("6.6.6", "fail fast: invalid byte after 1 MiB of valid text in a declared 2 MiB frame")
def _(d):
    _fail_fast_frame(d, 2 * MIB, text_of(MIB) + b"\x80", segments=4)


@case("6.6.7", "no false positive: a frame paused inside a character is not failed, then echoed")
def _(d):
    payload = b"x" * 50 + "€".encode() + b"y" * 47
    with d.open() as ws:
        key = os.urandom(4)
        data = frame(OP_TEXT, payload, key=key)
        cut = len(data) - len(payload) + 52           # header, 50 bytes, then E2 82
        ws.send(data[:cut])
        ws.expect_nothing(0.3)
        ws.send(data[cut:])
        ws.expect_message(OP_TEXT, payload)
        ws.finish()


@case("6.6.8", "no false positive: a fragment ending inside a character waits for the next one")
def _(d):
    with d.open() as ws:
        ws.send(T(b"abc\xe2\x82", fin=False))
        ws.expect_nothing(0.3)
        ws.send(C(b"\xacdef"))
        ws.expect_message(OP_TEXT, "abc€def")
        ws.finish()


# ================================================================================================
# Section 7: close handling
# ================================================================================================

add("7.1.1", "message, then close 1000: echo, close 1000, TCP closed",
    scenario([T("Hello"), CLOSE(1000)], [msg(OP_TEXT, "Hello"), close(1000)], finish=False))
add("7.1.2", "two close frames: one close reply, then TCP closed",
    scenario([CLOSE(1000), CLOSE(1000)], [close(1000)], finish=False))
add("7.1.3", "ping after close: no pong, TCP closed",
    scenario([CLOSE(1000), PING(b"late")], [close(1000)], finish=False))
add("7.1.4", "text after close: not echoed, TCP closed",
    scenario([CLOSE(1000), T("late")], [close(1000)], finish=False))
add("7.1.5", "close in the middle of a fragmented message: close 1000, no echo",
    scenario([T("frag", fin=False), CLOSE(1000), C("ment")], [close(1000)], finish=False))
add("7.1.6", "256 KiB message, close and ping in one write: echo, close 1000, no pong",
    scenario([B(binary_of(256 * 1024)), CLOSE(1000), PING(b"late")],
             [msg(OP_BINARY, binary_of(256 * 1024)), close(1000)], finish=False))
add("7.1.7", "close sent one byte per segment: close 1000",
    scenario([CLOSE(1000, b"bye")], [close(1000)], mode="bytes", finish=False))
add("7.3.1", "close without payload: close reply (no code or 1000), TCP closed",
    scenario([CLOSE()], [close(None, 1000)], finish=False))
add("7.3.2", "close with a 1-byte payload: close 1002",
    scenario([frame(OP_CLOSE, b"\x03")], [close(1002)], finish=False))
add("7.3.3", "close 1000 without reason: close 1000",
    scenario([CLOSE(1000)], [close(1000)], finish=False))
add("7.3.4", "close 1000 with a reason: close 1000",
    scenario([CLOSE(1000, b"Hello World!")], [close(1000)], finish=False))
add("7.3.5", "close 1000 with a 123-byte reason (125-byte payload): close 1000",
    scenario([CLOSE(1000, b"*" * 123)], [close(1000)], finish=False))
add("7.3.6", "close 1000 with a 124-byte reason (126-byte payload): close 1002",
    scenario([CLOSE(1000, b"*" * 124)], [close(1002)], finish=False))
add("7.3.7", "close with a multi-byte UTF-8 reason: close with the same code",
    scenario([CLOSE(1001, "Tschüß ☃ 🎉".encode())], [close(1001)], finish=False))
add("7.5.1", "close reason with invalid UTF-8: close 1007",
    scenario([CLOSE(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")],
             [close(1007)], finish=False))
add("7.5.2", "close reason ending inside a character: close 1007",
    scenario([CLOSE(1000, b"abc\xe2\x82")], [close(1007)], finish=False))
add("7.5.3", "close reason with an overlong encoding: close 1007",
    scenario([CLOSE(1000, b"\xc0\xaf")], [close(1007)], finish=False))


def _code_valid(c):
    # docs/design.md section 9, RFC 6455 7.4: invalid are 0-999, 1004-1006, 1015, 1016-2999, >= 5000.
    return (1000 <= c <= 1003) or (1007 <= c <= 1014) or (3000 <= c <= 4999)


_CODES = [0, 1, 500, 999, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010,
          1011, 1012, 1013, 1014, 1015, 1016, 1100, 1999, 2000, 2500, 2999, 3000, 3001, 3500,
          3999, 4000, 4001, 4500, 4999, 5000, 5001, 6000, 9999, 10000, 32768, 65534, 65535]
for _i, _c in enumerate(_CODES, 1):
    if _code_valid(_c):
        add(f"7.7.{_i}", f"close code {_c} (valid): close {_c} echoed",
            scenario([CLOSE(_c)], [close(_c)], finish=False))
        add(f"7.8.{_i}", f"close code {_c} with a reason: close {_c} echoed",
            scenario([CLOSE(_c, b"reason")], [close(_c)], finish=False))
    else:
        add(f"7.9.{_i}", f"close code {_c} (invalid): close 1002",
            scenario([CLOSE(_c)], [close(1002)], finish=False))


def _closed_by_server_within(ws, limit):
    """After the server's FIN, the client keeps its side open; the server must release the
    socket by `limit` seconds (its close timeout). Detected by writing: once the server's
    socket is gone, a write draws a reset. Returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            ws.sock.send(b"\x00")
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
        time.sleep(0.05)
    raise Fail(f"server still holds the connection {limit:g}s after its close frame "
               "(half-open socket)")


@case("7.10.1", "protocol error, client never answers nor closes: server FIN at once, "
      "socket released within the close timeout")
def _(d):
    with d.open() as ws:
        ws.send(frame(OP_TEXT, b"x", mask=False))
        ws.expect_close(1002, answer=False, eof_timeout=2.0)
        _closed_by_server_within(ws, CLOSE_TIMEOUT_S + 2.0)


@case("7.10.2", "client close, then the client keeps TCP open: server FIN, socket released "
      "within the close timeout")
def _(d):
    with d.open() as ws:
        ws.send(CLOSE(1000))
        ws.expect_close(1000, answer=False, eof_timeout=2.0)
        _closed_by_server_within(ws, CLOSE_TIMEOUT_S + 2.0)


@case("7.10.3", "client close then FIN: server closes TCP at once")
def _(d):
    with d.open() as ws:
        ws.send(CLOSE(1000))
        ws.sock.shutdown(socket.SHUT_WR)
        f = ws.read_server_frame()
        if f.opcode != OP_CLOSE or f.close_code != 1000:
            raise Fail(f"expected close 1000, got {f!r}")
        ws.expect_eof(1.0)


@case("7.10.4", "TCP FIN without a close frame: server closes, and serves the next client")
def _(d):
    with d.open() as ws:
        ws.send(T("bye"))
        ws.expect_message(OP_TEXT, "bye")
        ws.sock.shutdown(socket.SHUT_WR)
        ws.expect_eof(2.0)
    with d.open() as ws:
        ws.send(T("next"))
        ws.expect_message(OP_TEXT, "next")
        ws.finish()


# ================================================================================================
# Section 9: limits (docs/design.md section 10: message size 32 MiB, beyond it close 1009)
# ================================================================================================

def _big_echo(d, op, payload, frag=None):
    """Sends one message (in fragments of `frag` bytes when given) and reads the echo. The
    payload is masked with the zero key: valid, and cheap to build."""
    with d.open(timeout=30.0) as ws:
        if frag is None:
            ws.send(frame(op, payload, key=ZERO_KEY))
        else:
            view = memoryview(payload)
            n = len(payload)
            for i in range(0, n, frag):
                first, last = i == 0, i + frag >= n
                ws.send(frame(op if first else OP_CONT, bytes(view[i:i + frag]), fin=last,
                              key=ZERO_KEY))
        ws.expect_message(op, payload, timeout=30.0)
        ws.finish()


_BIG = [("64 KiB", 64 * 1024), ("256 KiB", 256 * 1024), ("1 MiB", MIB), ("4 MiB", 4 * MIB),
        ("16 MiB", 16 * MIB), ("32 MiB (the limit)", MESSAGE_MAX)]
for _i, (_label, _n) in enumerate(_BIG, 1):
    add(f"9.1.{_i}", f"text message of {_label}: echo",
        (lambda n: lambda d: _big_echo(d, OP_TEXT, text_of(n)))(_n), heavy=_n >= 4 * MIB)
    add(f"9.2.{_i}", f"binary message of {_label}: echo",
        (lambda n: lambda d: _big_echo(d, OP_BINARY, binary_of(n)))(_n), heavy=_n >= 4 * MIB)
add("9.3.1", "text message of 32 MiB in 1 MiB fragments: echo",
    lambda d: _big_echo(d, OP_TEXT, text_of(MESSAGE_MAX), MIB), heavy=True)
add("9.3.2", "binary message of 32 MiB in 64 KiB fragments: echo",
    lambda d: _big_echo(d, OP_BINARY, binary_of(MESSAGE_MAX), 65536), heavy=True)
add("9.3.3", "binary message of 4 MiB in 4 KiB fragments: echo",
    lambda d: _big_echo(d, OP_BINARY, binary_of(4 * MIB), 4096), heavy=True)
_DECLARED = [
    ("text frame declaring 32 MiB + 1", OP_TEXT, MESSAGE_MAX + 1, True),
    ("binary frame declaring 32 MiB + 1", OP_BINARY, MESSAGE_MAX + 1, True),
    ("frame declaring 2^63-1 bytes", OP_BINARY, (1 << 63) - 1, True),
    ("first fragment declaring 2^62 bytes", OP_TEXT, 1 << 62, False),
]
for _i, (_label, _op, _len, _fin) in enumerate(_DECLARED, 1):
    add(f"9.4.{_i}", f"{_label}, header and 1 payload byte sent: close 1009",
        (lambda op, n, fin: lambda d: _declared_only(d, op, n, (1009,), b"a", fin))(_op, _len, _fin))
    add(f"9.6.{_i}", f"{_label}, header only: close 1009 without waiting for payload",
        (lambda op, n, fin: lambda d: _declared_only(d, op, n, (1009,), b"", fin))(_op, _len, _fin))


@case("9.4.5", "binary message of 32 MiB + 1, whole payload sent: close 1009", heavy=True)
def _(d):
    with d.open(timeout=30.0) as ws:
        ws.send(frame(OP_BINARY, binary_of(MESSAGE_MAX + 1), key=ZERO_KEY), tolerate_reset=True)
        ws.expect_close(1009, timeout=30.0)


@case("9.4.6", "fragmented message reaching 32 MiB + 1 (32 x 1 MiB, then 1 byte): close 1009",
      heavy=True)
def _(d):
    with d.open(timeout=30.0) as ws:
        chunk = binary_of(MIB)
        ws.send(B(chunk, fin=False, key=ZERO_KEY), tolerate_reset=True)
        for _ in range(31):
            ws.send(C(chunk, fin=False, key=ZERO_KEY), tolerate_reset=True)
        ws.send(C(b"!", key=ZERO_KEY), tolerate_reset=True)
        ws.expect_close(1009, timeout=30.0)


@case("9.4.7", "continuation declaring more than the rest of the limit: close 1009")
def _(d):
    with d.open() as ws:
        ws.send(B(b"0123456789", fin=False))
        ws.send(frame(OP_CONT, b"a", length=MESSAGE_MAX - 9, key=ZERO_KEY))
        ws.expect_close(1009, timeout=3.0)


@case("9.5.1", "1000 small messages in one write: 1000 echoes in order")
def _(d):
    with d.open() as ws:
        ws.send(b"".join(T(f"m{i}") for i in range(1000)))
        for i in range(1000):
            ws.expect_message(OP_TEXT, f"m{i}")
        ws.finish()


@case("9.5.2", "1000 pings in one write: 1000 pongs in order")
def _(d):
    with d.open() as ws:
        ws.send(b"".join(PING(str(i).encode()) for i in range(1000)))
        for i in range(1000):
            ws.expect_pong(str(i).encode())
        ws.finish()


# ================================================================================================
# Section H: the handshake (gateway: docs/design.md section 8; worker: the 101)
# ================================================================================================

def _resp(d, request, timeout=None):
    ws = d.connect()
    try:
        ws.send(request)
        return ws, ws.read_response(timeout)
    except BaseException:
        ws.close()
        raise


def _no_date_server(r):
    for h in ("Date", "Server"):
        if r.header(h):
            raise Fail(f"response has a {h} header: {r.raw!r}")


def _expect_101(r, key=SAMPLE_KEY):
    if r.version != b"HTTP/1.1" or r.code != 101:
        raise Fail(f"expected 101, got {r.raw!r}")
    want = {"connection": "Upgrade", "upgrade": "websocket",
            "sec-websocket-accept": ws_accept(key)}
    for name, value in want.items():
        if r.header(name) != [value]:
            raise Fail(f"expected exactly one '{name}: {value}' in {r.raw!r}")
    for name in ("Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"):
        if r.header(name):
            raise Fail(f"unexpected {name} (nothing was negotiated) in {r.raw!r}")
    _no_date_server(r)


def _expect_error(ws, r, code, words=(), version_header=False):
    if r.version != b"HTTP/1.1" or r.code != code:
        raise Fail(f"expected HTTP/1.1 {code}, got {r.raw!r}")
    if [v.lower() for v in r.header("Connection")] != ["close"]:
        raise Fail(f"expected 'Connection: close' in {r.raw!r}")
    if r.header("Content-Length") != [str(len(r.body))] or not r.body:
        raise Fail(f"expected a text body of Content-Length bytes in {r.raw!r}")
    if words and not any(w.lower().encode() in r.body.lower() for w in words):
        raise Fail(f"body does not name the problem ({'/'.join(words)}) in {r.raw!r}")
    if version_header and r.header("Sec-WebSocket-Version") != ["13"]:
        raise Fail(f"expected 'Sec-WebSocket-Version: 13' in {r.raw!r}")
    _no_date_server(r)
    ws.expect_eof(3.0)


def handshake_ok(request, key=SAMPLE_KEY, then_echo=True):
    def run(d):
        ws, r = _resp(d, request)
        with ws:
            _expect_101(r, key)
            if then_echo:
                ws.send(T("after handshake"))
                ws.expect_message(OP_TEXT, "after handshake")
                ws.finish()
    return run


def handshake_err(request, code, words=(), version_header=False):
    def run(d):
        ws, r = _resp(d, request)
        with ws:
            _expect_error(ws, r, code, words, version_header)
    return run


add("H.1", "valid upgrade: 101 with the RFC's accept value, no Date/Server, nothing negotiated",
    handshake_ok(upgrade_request()))


@case("H.2", "RFC 6455 sample key gives s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
def _(d):
    ws, r = _resp(d, upgrade_request(key=SAMPLE_KEY))
    with ws:
        if r.header("Sec-WebSocket-Accept") != [SAMPLE_ACCEPT]:
            raise Fail(f"wrong accept in {r.raw!r}")
        ws.finish()


_KEYS_BAD = [
    ("empty", ""),
    ("too short", "abc"),
    ("22 chars, padding missing", "dGhlIHNhbXBsZSBub25jZQ"),
    ("23 chars", "dGhlIHNhbXBsZSBub25jZQ="),
    ("25 chars", "dGhlIHNhbXBsZSBub25jZQ==="),
    ("not base64", "!!!!!!!!!!!!!!!!!!!!!!=="),
    ("15 bytes of base64", "AAAAAAAAAAAAAAAAAAAA"),
    ("17 bytes of base64", "AAAAAAAAAAAAAAAAAAAAAAA="),
    ("32 bytes of base64", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ("space inside", "dGhlIHNhbXBs ZSBub25jZQ=="),
]
add("H.3", "missing Sec-WebSocket-Key: 400, Connection: close",
    handshake_err(upgrade_request(omit=("Sec-WebSocket-Key",)), 400, ("key",)))
add("H.4", "duplicate Sec-WebSocket-Key: 400",
    handshake_err(upgrade_request(extra=(("Sec-WebSocket-Key", "AQIDBAUGBwgJCgsMDQ4PEA=="),)),
                  400, ("key",)))
for _i, (_label, _key) in enumerate(_KEYS_BAD, 1):
    add(f"H.5.{_i}", f"invalid Sec-WebSocket-Key ({_label}): 400",
        handshake_err(upgrade_request(key=_key), 400, ("key",)))
add("H.6.1", "Sec-WebSocket-Version: 8: 426 with Sec-WebSocket-Version: 13",
    handshake_err(upgrade_request(replace={"Sec-WebSocket-Version": "8"}), 426, ("version",),
                  version_header=True))
add("H.6.2", "Sec-WebSocket-Version missing: 426 with Sec-WebSocket-Version: 13",
    handshake_err(upgrade_request(omit=("Sec-WebSocket-Version",)), 426, ("version",),
                  version_header=True))
add("H.6.3", "Sec-WebSocket-Version: 14: 426 with Sec-WebSocket-Version: 13",
    handshake_err(upgrade_request(replace={"Sec-WebSocket-Version": "14"}), 426, ("version",),
                  version_header=True))
add("H.6.4", "Sec-WebSocket-Version: 13, 8 (list): 426 with Sec-WebSocket-Version: 13",
    handshake_err(upgrade_request(replace={"Sec-WebSocket-Version": "13, 8"}), 426, ("version",),
                  version_header=True))
add("H.6.5", "Sec-WebSocket-Version: 013: 426",
    handshake_err(upgrade_request(replace={"Sec-WebSocket-Version": "013"}), 426, ("version",),
                  version_header=True))
add("H.6.6", "Sec-WebSocket-Version: 13 with surrounding spaces: 101",
    handshake_ok(upgrade_request(replace={"Sec-WebSocket-Version": "  13  "})))
add("H.7.1", "HTTP/1.0 upgrade: 400 (RFC 6455 requires HTTP/1.1)",
    handshake_err(upgrade_request(version="HTTP/1.0"), 400, ("HTTP/1.1",)))
add("H.7.2", "POST upgrade: 400", handshake_err(upgrade_request(method="POST"), 400, ("GET",)))
add("H.7.3", "PUT upgrade: 400", handshake_err(upgrade_request(method="PUT"), 400, ("GET",)))
add("H.7.4", "HEAD upgrade: 400 head without body, Connection: close",
    lambda d: _head_400(d))
add("H.7.5", "DELETE upgrade: 400", handshake_err(upgrade_request(method="DELETE"), 400, ("GET",)))
add("H.7.6", "unknown method: 501", handshake_err(upgrade_request(method="FROB"), 501))


@case("H.7.7", "unknown method whose token arrives in its own segment: still 501")
def _(d):
    ws = d.connect()
    with ws:
        ws.send(b"FROB")
        time.sleep(0.05)
        ws.send(b" /echo HTTP/1.1\r\nHost: x\r\n\r\n", tolerate_reset=True)
        r = ws.read_response()
        if r.code != 501:
            raise Fail(f"expected 501 as when the request arrives whole, got {r.raw!r}")


STATELESS_ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def _deflated(data, wbits=15):
    """RFC 7692 7.2.1: raw deflate, flushed, without the 00 00 ff ff tail."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def _inflated(payload):
    return zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")


def _deflate_open(d, offer="permessage-deflate"):
    ws, r = _resp(d, upgrade_request(extra=(("Sec-WebSocket-Extensions", offer),)))
    if r.code != 101 or r.header("Sec-WebSocket-Extensions") != [STATELESS_ANSWER]:
        ws.close()
        raise Fail(f"expected 101 with 'Sec-WebSocket-Extensions: {STATELESS_ANSWER}', "
                   f"got {r.raw!r}")
    return ws


@case("H.8.1", "permessage-deflate offered: 101 with the stateless answer, compressed echo")
def _(d):
    with _deflate_open(d, "permessage-deflate; client_max_window_bits") as ws:
        text = "compress me, " * 40
        ws.send(T(_deflated(text.encode()), rsv=4))
        f = ws.read_frame()
        if f.opcode != OP_TEXT or f.rsv != 4 or not f.fin or f.masked:
            raise Fail(f"expected one compressed text frame (RSV1), got {f!r}")
        if _inflated(f.payload) != text.encode():
            raise Fail("the echo does not inflate to the message sent")
        ws.send(T(b"short"))  # uncompressed messages stay allowed, and short replies plain
        ws.expect_message(OP_TEXT, "short")
        ws.finish()


add("H.8.2", "x-webkit-deflate-frame offered: 101 without Sec-WebSocket-Extensions",
    handshake_ok(upgrade_request(extra=(("Sec-WebSocket-Extensions",
                                         "x-webkit-deflate-frame"),))))
add("H.8.3", "permessage-deflate with an unknown parameter: declined, 101 without the header",
    handshake_ok(upgrade_request(extra=(("Sec-WebSocket-Extensions",
                                         "permessage-deflate; foo=1"),))))


@case("H.8.4", "no extension negotiated, then an RSV1 frame: close 1002")
def _(d):
    ws, r = _resp(d, upgrade_request())
    with ws:
        _expect_101(r)
        ws.send(T("compressed?", rsv=4))
        ws.expect_close(1002)


@case("H.8.5", "permessage-deflate: RSV1 on a ping: close 1002")
def _(d):
    with _deflate_open(d) as ws:
        ws.send(frame(OP_PING, b"x", rsv=4))
        ws.expect_close(1002)


@case("H.8.6", "permessage-deflate: RSV1 on a continuation frame: close 1002")
def _(d):
    with _deflate_open(d) as ws:
        z = _deflated(b"two frames of one message")
        ws.send(T(z[:5], fin=False, rsv=4) + C(z[5:], rsv=4))
        ws.expect_close(1002)


@case("H.8.7", "permessage-deflate: a compressed message in three fragments is echoed")
def _(d):
    with _deflate_open(d) as ws:
        data = bytes(range(256)) * 40
        z = _deflated(data)
        n = len(z) // 3
        ws.send(B(z[:n], fin=False, rsv=4) + C(z[n:2 * n], fin=False) + C(z[2 * n:]))
        f = ws.read_frame()
        if f.opcode != OP_BINARY or _inflated(f.payload if f.rsv else b"") != data:
            raise Fail(f"expected the binary message back, compressed, got {f!r}")
        ws.finish()


@case("H.8.8", "permessage-deflate: a corrupt deflate stream: close 1002")
def _(d):
    with _deflate_open(d) as ws:
        ws.send(T(b"\xff\xff\xff\xff\x00\x12", rsv=4))
        ws.expect_close(1002)


@case("H.8.9", "permessage-deflate: invalid UTF-8 once inflated: close 1007")
def _(d):
    with _deflate_open(d) as ws:
        ws.send(T(_deflated(b"caf\xc3\x28 is not UTF-8"), rsv=4))
        ws.expect_close(1007)


@case("H.8.10", "permessage-deflate: a message that inflates past the limit: close 1009")
def _(d):
    with _deflate_open(d) as ws:
        ws.send(B(_deflated(b"\0" * (33 << 20)), rsv=4))  # 32 MiB + 1 MiB of zeros, ~33 KiB
        ws.expect_close(1009, timeout=20)


# ================================================================================================
# 12, 13: permessage-deflate (Autobahn's sections: 12 payloads of many sizes with the default
# offer, 13 each parameter set). Every case runs against both server modes: the default gateway
# (deflate = stateless) and the second one (deflate = takeover, deflate_window_bits 10). The
# client side (duro_test.Pmd) follows the answer: its compressor keeps its context unless the
# answer says client_no_context_takeover, and it inflates with a persistent inflater unless the
# answer says server_no_context_takeover (a fresh inflater per message then, which fails if the
# server kept its window). Replies of at least deflate_min_bytes (64) must come compressed,
# shorter ones plain.
# ================================================================================================

PMD_SIZES = (16, 64, 256, 1024, 4096, 16384, 65536, 131072)
PMD_REPEAT = 3                    # messages per size (Autobahn sends many; 3 keeps it quick)
PMD_MIN_BYTES = 64                # [websocket] deflate_min_bytes default
PMD_TAKEOVER_BITS = 10            # [websocket] deflate_window_bits default
PMD_S = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def _pmd_payload(kind, n, i):
    """Message `i` of `n` bytes of one kind; distinct per i so that a wrong window shows."""
    if kind == "text":
        pat = ('{"seq":%d,"user":"d\u00fcro","msg":"hello, world","tags":["a","b"]},' % i)
        return _utf8_cut((pat * (n // len(pat) + 1)).encode(), n)
    if kind == "random":
        return random.Random(n * 31 + i).randbytes(n)
    return bytes((j * 7 + i) & 0xff for j in range(256)) * (n // 256) + bytes(n % 256)


def _utf8_cut(b, n):
    """The first `n` bytes of UTF-8 `b`, a sequence split at the end replaced by spaces."""
    out = b[:n]
    for cut in range(4):
        head = out[:n - cut]
        try:
            head.decode("utf-8")
            return head + b" " * cut
        except UnicodeDecodeError:
            continue
    raise AssertionError("not UTF-8")


def _pmd_open(d, offer, want):
    ws, r = _resp(d, upgrade_request(extra=(("Sec-WebSocket-Extensions", offer),)))
    got = r.header("Sec-WebSocket-Extensions")
    if r.code != 101 or got != [want]:
        ws.close()
        raise Fail(f"offer {offer!r}: expected 101 with 'Sec-WebSocket-Extensions: {want}', "
                   f"got {r.raw!r}")
    return ws, Pmd(want)


def _pmd_exchange(d, offer, want, kinds, sizes):
    """Opens with `offer` (answer `want`), then per size sends PMD_REPEAT compressed messages of
    each kind and checks each echo; the largest sizes go in three fragments."""
    ws, pmd = _pmd_open(d, offer, want)
    if "client_max_window_bits=8" in want:
        # zlib cannot compress with a 256-byte window; a fresh 512-byte compressor per message
        # of at most 256 bytes never refers further back, which is what 8 bits allow.
        pmd.client_no_takeover = True
        sizes = [n for n in sizes if n <= 256]
    with ws:
        for n in sizes:
            for kind in kinds:
                opcode = OP_BINARY if kind != "text" else OP_TEXT
                for i in range(PMD_REPEAT):
                    data = _pmd_payload(kind, n, i)
                    ws.send_pmd(pmd, opcode, data, fragments=3 if n >= 65536 else 1)
                    op, z, got, _ = ws.read_pmd(pmd, timeout=10)
                    if op != opcode or got != data:
                        raise Fail(f"{kind} {n} B #{i}: echo mismatch (opcode {op}, "
                                   f"{len(got)} bytes)")
                    if z != (n >= PMD_MIN_BYTES):
                        raise Fail(f"{kind} {n} B #{i}: reply {'compressed' if z else 'plain'}, "
                                   f"expected {'compressed' if n >= PMD_MIN_BYTES else 'plain'}")
        # An uncompressed message in between leaves both contexts as they were.
        ws.send_pmd(pmd, OP_TEXT, b"plain in between", compress=False)
        if ws.read_pmd(pmd)[2] != b"plain in between":
            raise Fail("a plain message was not echoed")
        data = _pmd_payload("text", min(1024, max(sizes)), 99)
        ws.send_pmd(pmd, OP_TEXT, data)
        if ws.read_pmd(pmd)[2] != data:
            raise Fail("the compressed message after a plain one was not echoed")
        ws.finish()


def _answers(offer_stateless, offer_takeover):
    return {"default": offer_stateless, "takeover": offer_takeover}


_T10 = f"server_max_window_bits={PMD_TAKEOVER_BITS}"

for server in ("default", "takeover"):
    tag = "" if server == "default" else " [takeover]"
    base = "12" if server == "default" else "12t"
    want = PMD_S if server == "default" else f"permessage-deflate; {_T10}"
    for k, (kind, what) in enumerate((("text", "JSON-like UTF-8 text"),
                                      ("compressible", "compressible binary"),
                                      ("random", "random (incompressible) binary")), 1):
        for j, n in enumerate(PMD_SIZES, 1):
            add(f"{base}.{k}.{j}", f"permessage-deflate, default offer: {PMD_REPEAT} x {n} B "
                f"{what}{tag}",
                lambda d, kind=kind, n=n, want=want:
                _pmd_exchange(d, "permessage-deflate", want, (kind,), (n,)),
                server=server)

# Section 13: (offer, answer in stateless mode, answer in takeover mode)
PMD_PARAMS = [
    ("permessage-deflate", PMD_S, f"permessage-deflate; {_T10}"),
    ("permessage-deflate; client_no_context_takeover", PMD_S,
     f"permessage-deflate; client_no_context_takeover; {_T10}"),
    ("permessage-deflate; server_no_context_takeover", PMD_S,
     f"permessage-deflate; server_no_context_takeover; {_T10}"),
    ("permessage-deflate; client_max_window_bits", PMD_S,
     f"permessage-deflate; {_T10}; client_max_window_bits={PMD_TAKEOVER_BITS}"),
]
for b in range(9, 16):
    PMD_PARAMS.append((f"permessage-deflate; server_max_window_bits={b}",
                       f"{PMD_S}; server_max_window_bits={b}",
                       f"permessage-deflate; server_max_window_bits={min(b, PMD_TAKEOVER_BITS)}"))
for b in range(8, 16):
    PMD_PARAMS.append((f"permessage-deflate; client_max_window_bits={b}", PMD_S,
                       f"permessage-deflate; {_T10}; "
                       f"client_max_window_bits={min(b, PMD_TAKEOVER_BITS)}"))
PMD_PARAMS += [
    ("permessage-deflate; client_no_context_takeover; server_no_context_takeover",
     PMD_S, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
     + _T10),
    ("permessage-deflate; server_max_window_bits=9; client_no_context_takeover",
     f"{PMD_S}; server_max_window_bits=9",
     "permessage-deflate; client_no_context_takeover; server_max_window_bits=9"),
    ("permessage-deflate; server_no_context_takeover; server_max_window_bits=15; "
     "client_max_window_bits=9",
     f"{PMD_S}; server_max_window_bits=15",
     f"permessage-deflate; server_no_context_takeover; {_T10}; client_max_window_bits=9"),
    ('permessage-deflate; server_max_window_bits="12"; client_max_window_bits="11"',
     f"{PMD_S}; server_max_window_bits=12",
     f"permessage-deflate; {_T10}; client_max_window_bits={PMD_TAKEOVER_BITS}"),
    # several offers: the first acceptable one wins (an unknown parameter, a window of 8 that
    # zlib cannot make, a duplicate: each declined, the next tried)
    ("permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=11",
     f"{PMD_S}; server_max_window_bits=11", f"permessage-deflate; {_T10}"),
    ("permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits",
     PMD_S, f"permessage-deflate; {_T10}; client_max_window_bits={PMD_TAKEOVER_BITS}"),
    ("x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover; "
     "client_no_context_takeover, permessage-deflate; server_no_context_takeover",
     PMD_S, f"permessage-deflate; server_no_context_takeover; {_T10}"),
]

for server in ("default", "takeover"):
    tag = "" if server == "default" else " [takeover]"
    base = "13" if server == "default" else "13t"
    for k, (offer, ws_answer, wt_answer) in enumerate(PMD_PARAMS, 1):
        want = ws_answer if server == "default" else wt_answer
        for j, (kinds, what) in enumerate(((("text",), "text"),
                                           (("compressible", "random"), "binary")), 1):
            add(f"{base}.{k}.{j}", f"offer '{offer}': {what} of 16 B .. 128 KiB{tag}",
                lambda d, offer=offer, want=want, kinds=kinds:
                _pmd_exchange(d, offer, want, kinds, PMD_SIZES),
                server=server)


add("H.9", "subprotocol offered to a class that picks none: 101 without Sec-WebSocket-Protocol",
    handshake_ok(upgrade_request(extra=(("Sec-WebSocket-Protocol", "chat, superchat"),))))
add("H.10.1", "Upgrade header missing: the seed's 426",
    lambda d: _seed_426(d, upgrade_request(omit=("Upgrade",))))
add("H.10.2", "seed route, Upgrade: WebSocket (upgrade_check = seed: exact match): the seed's 426",
    lambda d: _seed_426(d, upgrade_request("/websocket", replace={"Upgrade": "WebSocket"})))
add("H.10.3", "seed route, two Upgrade headers: the seed's 426",
    lambda d: _seed_426(d, upgrade_request("/websocket", extra=(("Upgrade", "websocket"),))))
add("H.10.5", "echo route, Upgrade: WebSocket (RFC 6455 4.2.1: case-insensitive token): 101",
    handshake_ok(upgrade_request(replace={"Upgrade": "WebSocket"})))
add("H.10.6", "echo route, Upgrade: foo, websocket (a list): 101",
    handshake_ok(upgrade_request(replace={"Upgrade": "foo, websocket"})))
add("H.10.7", "echo route, Upgrade: websocket, foo (a list): 101",
    handshake_ok(upgrade_request(replace={"Upgrade": "websocket, foo"})))
add("H.10.8", "seed route, Upgrade: foo, websocket: the seed's 426",
    lambda d: _seed_426(d, upgrade_request("/websocket", replace={"Upgrade": "foo, websocket"})))
add("H.10.4", "Upgrade: websocket with surrounding spaces: 101",
    handshake_ok(upgrade_request(replace={"Upgrade": "  websocket "})))
add("H.11.1", "no Connection header (not required): 101",
    handshake_ok(upgrade_request(omit=("Connection",))))
add("H.11.2", "Connection: keep-alive, Upgrade: 101",
    handshake_ok(upgrade_request(replace={"Connection": "keep-alive, Upgrade"})))
add("H.12", "missing Host on HTTP/1.1: 400",
    handshake_err(upgrade_request(omit=("Host",)), 400, ("Bad Request",)))
add("H.12.2", "two Host headers: 400",
    handshake_err(upgrade_request(extra=(("Host", "other"),)), 400, ("Bad Request",)))
add("H.13", "lowercase header names: 101",
    handshake_ok(b"GET /echo HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
                 b"sec-websocket-key: " + SAMPLE_KEY.encode() + b"\r\n"
                 b"sec-websocket-version: 13\r\n\r\n"))
add("H.14", "key with surrounding whitespace: 101, accept computed on the trimmed key",
    handshake_ok(upgrade_request(key="  " + SAMPLE_KEY + "  ")))
add("H.15", "upgrade with a body (Content-Length: 5): 400",
    handshake_err(upgrade_request(extra=(("Content-Length", "5"),)) + b"hello", 400))
add("H.16", "upgrade with Transfer-Encoding: chunked: 400",
    handshake_err(upgrade_request(extra=(("Transfer-Encoding", "chunked"),)) + b"0\r\n\r\n", 400))


@case("H.17", "frames in the same segment as the upgrade: 101, then their echoes")
def _(d):
    ws, r = _resp(d, upgrade_request() + T("early") + B(b"\x01\x02") + PING(b"e"))
    with ws:
        _expect_101(r)
        ws.expect_message(OP_TEXT, "early")
        ws.expect_message(OP_BINARY, b"\x01\x02")
        ws.expect_pong(b"e")
        ws.finish()


@case("H.17.2", "a 100 KiB frame in the same write as the upgrade (more than the gateway reads "
      "ahead): 101, then its echo")
def _(d):
    payload = binary_of(100 * 1024)
    ws, r = _resp(d, upgrade_request() + B(payload))
    with ws:
        _expect_101(r)
        ws.expect_message(OP_BINARY, payload)
        ws.finish()


@case("H.17.3", "2,000 small frames in the same write as the upgrade: 101, then 2,000 echoes")
def _(d):
    ws, r = _resp(d, upgrade_request() + b"".join(T(f"e{i}") for i in range(2000)))
    with ws:
        _expect_101(r)
        for i in range(2000):
            ws.expect_message(OP_TEXT, f"e{i}")
        ws.finish()


@case("H.18", "keep-alive: a 400 for an unrouted target, then an upgrade on the same connection")
def _(d):
    ws = d.connect()
    with ws:
        ws.send(http_request("GET", "/nothing-here"))
        r = ws.read_response()
        if r.code != 400 or r.header("Connection"):
            raise Fail(f"expected the seed's keep-alive 400, got {r.raw!r}")
        ws.send(upgrade_request())
        _expect_101(ws.read_response())
        ws.send(T("same connection"))
        ws.expect_message(OP_TEXT, "same connection")
        ws.finish()


@case("H.19", "pipelined: seed 400 and an upgrade in one segment: 400, then 101 and echo")
def _(d):
    ws = d.connect()
    with ws:
        ws.send(http_request("GET", "/nothing-here") + upgrade_request() + T("piped"))
        r = ws.read_response()
        if r.code != 400:
            raise Fail(f"expected 400 first, got {r.raw!r}")
        _expect_101(ws.read_response())
        ws.expect_message(OP_TEXT, "piped")
        ws.finish()


add("H.16.2", "upgrade with Transfer-Encoding: gzip (not chunked; RFC 7230 3.3.3): 400",
    handshake_err(upgrade_request(extra=(("Transfer-Encoding", "gzip"),)), 400))
add("H.16.3", "upgrade with both Transfer-Encoding: chunked and Content-Length: 400",
    handshake_err(upgrade_request(extra=(("Transfer-Encoding", "chunked"),
                                         ("Content-Length", "3"))) + b"0\r\n\r\n", 400))
add("H.20", "request-target over 8 KiB: 414",
    handshake_err(upgrade_request(target="/echo?" + "a" * 9000), 414))
add("H.21", "head over 16 KiB: 431",
    handshake_err(upgrade_request(extra=[("X-Pad", "p" * 17000)]), 431))
add("H.22", "more than 100 header fields: 431",
    handshake_err(upgrade_request(extra=[(f"X-H{i}", "v") for i in range(101)]), 431))
add("H.23", "header line without a colon: 400",
    handshake_err(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade websocket\r\n\r\n", 400))
add("H.24", "request line with a bare LF: 400 (no llhttp leniency)",
    handshake_err(b"GET /echo HTTP/1.1\nHost: x\n\n", 400))
add("H.25", "HTTP/2.0 request line: 400 or 505",
    lambda d: _status_in(d, upgrade_request(version="HTTP/2.0"), (400, 505)))
add("H.26", "upgrade to the seed route also works: 101 and the seed's reply",
    lambda d: _seed_reply(d))
add("H.27", "target with a query string on the exact /echo route: not routed, seed 400",
    lambda d: _status_in(d, upgrade_request(target="/echo?x=1"), (400,), keep_alive=True))


def _head_400(d):
    ws = d.connect()
    with ws:
        ws.send(upgrade_request(method="HEAD"))
        while b"\r\n\r\n" not in ws.buf:
            ws._fill("a response head")
        i = ws.buf.find(b"\r\n\r\n") + 4
        head = bytes(ws.buf[:i])
        del ws.buf[:i]
        if not head.startswith(b"HTTP/1.1 400 ") or b"\r\nConnection: close\r\n" not in head:
            raise Fail(f"expected a 400 head with Connection: close, got {head!r}")
        ws.expect_eof(3.0)


def _seed_426(d, request):
    ws, r = _resp(d, request)
    with ws:
        want = (b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
                b"Content-Type: text/plain;charset=UTF-8\r\n\r\n"
                b"Durable Object expected Upgrade: websocket")
        if r.raw != want:
            raise Fail(f"expected the seed's 426 {want!r}, got {r.raw!r}")


def _status_in(d, request, codes, keep_alive=False):
    ws, r = _resp(d, request)
    with ws:
        if r.code not in codes:
            raise Fail(f"expected status {codes}, got {r.raw!r}")
        if not keep_alive:
            ws.expect_eof(3.0)


def _seed_reply(d):
    with d.open("/websocket") as ws:
        ws.send(T("hi"))
        f = ws.read_server_frame()
        if f.opcode != OP_TEXT or not f.payload.startswith(b"[Durable Object] message: hi, "
                                                           b"connections: "):
            raise Fail(f"unexpected seed reply {f!r}")
        ws.send(CLOSE(4000))
        fc = ws.read_server_frame()
        if fc.opcode != OP_CLOSE or fc.close_code != 4000 or \
                fc.payload[2:] != b"Durable Object is closing WebSocket":
            raise Fail(f"unexpected seed close {fc!r}")
        ws.expect_eof(3.0)


# ================================================================================================
# runner
# ================================================================================================

def run_one(d, cid, name, fn):
    t0 = time.monotonic()
    try:
        fn(d)
        return cid, name, None, time.monotonic() - t0
    except Fail as e:
        return cid, name, str(e), time.monotonic() - t0
    except Exception as e:  # a bug in the case itself, or an unexpected socket error
        return cid, name, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}", \
            time.monotonic() - t0


def main():
    args = runner_args(__doc__, jobs=12)
    ids = [c[0] for c in CASES]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise SystemExit(f"duplicate case ids: {sorted(dup)}")
    cases = select_cases(CASES, args.filter, lambda c: (c[0], c[1]))
    if args.list:
        for cid, name, _, heavy, _server in cases:
            print(f"{cid:10} {name}{'  [heavy]' if heavy else ''}")
        print(f"{len(cases)} cases")
        return 0

    t_start = time.monotonic()
    results = []
    crashed, respawned, log_lines, sanitizer = [], 0, [], []
    needed = [k for k in SERVERS if any(c[4] == k for c in cases)]
    duros = {}
    try:
        for k in needed:
            duros[k] = Duro(SERVERS[k], workers=2)
        spawned_at_start = {k: len(d.worker_pids) for k, d in duros.items()}
        light = [c for c in cases if not c[3]]
        heavy = [c for c in cases if c[3]]
        # Light cases run many at once; the big-message ones run two at a time so that the
        # suite's memory (client and server copies of 32 MiB messages) stays bounded.
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as light_pool, \
                concurrent.futures.ThreadPoolExecutor(2) as heavy_pool:
            futs = [heavy_pool.submit(run_one, duros[c[4]], c[0], c[1], c[2]) for c in heavy]
            futs += [light_pool.submit(run_one, duros[c[4]], c[0], c[1], c[2]) for c in light]
            order = {c[0]: i for i, c in enumerate(cases)}
            for fut in concurrent.futures.as_completed(futs):
                results.append(fut.result())
        results.sort(key=lambda r: order[r[0]])
        # The workers must have survived everything: a restart means one crashed.
        time.sleep(0.2)
        for k, d in duros.items():
            crashed += [l for l in d.lines if "event=worker_exited" in l]
            respawned += len(d.worker_pids) - spawned_at_start[k]
            log_lines += list(d.lines)
    finally:
        for d in duros.values():
            d.stop()
            sanitizer += list(d.sanitizer_lines)

    for cid, name, err, dt in results:
        print_result(f"{cid} {name}", err, dt, args.verbose)
    suite_failures = []
    if crashed or respawned:
        suite_failures.append((f"a worker exited during the run ({respawned} respawned):",
                               crashed))
    if sanitizer:
        suite_failures.append(("sanitizer reports in the servers' stderr:", sanitizer))
    if args.verbose:
        print("---- server log (last 50 lines) ----")
        print("\n".join(log_lines[-50:]))
    return report("conformance", [(f"{r[0]} {r[1]}", r[2]) for r in results], suite_failures,
                  time.monotonic() - t_start, SUITE_BUDGET_S)


if __name__ == "__main__":
    sys.exit(main())

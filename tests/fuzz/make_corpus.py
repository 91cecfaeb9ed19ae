#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py: writes the seed corpora in tests/fuzz/corpus/<target>/.

Seeds are small valid (and a few nearly valid) inputs in each target's input format, so that
the fuzzer starts from the interesting parts of the grammar. Run it again after a format change;
file names are stable, so the seeds' history stays readable.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def upgrade(target=b"/echo", extra=b"", method=b"GET", version=b"HTTP/1.1"):
    return (method + b" " + target + b" " + version + b"\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + KEY +
            b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n")


def mask(payload, key=b"\x01\x02\x03\x04"):
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frame(op, payload=b"", fin=True, rsv=0, masked=True, length=None):
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mb = 0x80 if masked else 0
    if n < 126:
        h = bytes([b0, mb | n])
    elif n < 65536:
        h = bytes([b0, mb | 126]) + struct.pack("!H", n)
    else:
        h = bytes([b0, mb | 127]) + struct.pack("!Q", n)
    if not masked:
        return h + payload
    return h + b"\x01\x02\x03\x04" + mask(payload)


# ---- http_route: byte 0 = read size selector, then the byte stream ----

http = {
    "upgrade_echo": upgrade(),
    "upgrade_seed": upgrade(b"/a/b/websocket?x=1"),
    "upgrade_rooms": upgrade(b"/rooms/r%20one/ws"),
    "upgrade_rooms_bad": upgrade(b"/rooms/%00/ws"),
    "upgrade_early": upgrade() + frame(1, b"hello"),
    "seed_400": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "seed_426": b"GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n",
    "head": b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n",
    "pipelined": b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + upgrade(),
    "post_body": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n"
                 b"Host: x\r\n\r\n",
    "chunked": b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
               b"0\r\n\r\n",
    "http10": b"GET /websocket HTTP/1.0\r\n\r\n",
    "close": b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "no_host": b"GET /echo HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
    "version8": upgrade().replace(b"Version: 13", b"Version: 8"),
    "dup_key": upgrade(extra=b"Sec-WebSocket-Key: " + KEY + b"\r\n"),
    "fragment": upgrade(b"/echo#frag"),
    "unknown_method": b"FROB /echo HTTP/1.1\r\nHost: x\r\n\r\n",
    "long_target": b"GET /" + b"a" * 600 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "many_headers": b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(30)) +
                    b"\r\n",
}
for i, (name, data) in enumerate(sorted(http.items())):
    write("http_route", name, bytes([i % 33]) + data)

# ---- handshake: byte 0 = method/version, then (name selector, length, value) triples ----

N_UPGRADE, N_CONNECTION, N_KEY, N_VERSION, N_HOST, N_PROTOCOL, N_EXT, N_CLEN, N_TE = range(9)


def hs(method_byte, headers):
    out = bytes([method_byte])
    for kind, spelling, value in headers:
        out += bytes([kind | (spelling << 4), len(value)]) + value
    return out


valid = [(N_HOST, 0, b"x"), (N_UPGRADE, 0, b"websocket"), (N_CONNECTION, 0, b"Upgrade"),
         (N_KEY, 0, KEY), (N_VERSION, 0, b"13")]
write("handshake", "valid", hs(0, valid))
write("handshake", "valid_lower", hs(0, [(k, 1, v) for k, _, v in valid]))
write("handshake", "post", hs(1, valid))
write("handshake", "http10", hs(0x10, valid))
write("handshake", "version8", hs(0, valid[:4] + [(N_VERSION, 0, b"8")]))
write("handshake", "two_versions", hs(0, valid + [(N_VERSION, 0, b"13")]))
write("handshake", "no_key", hs(0, valid[:3] + valid[4:]))
write("handshake", "bad_key", hs(0, valid[:3] + [(N_KEY, 0, b"AAAAAAAAAAAAAAAAAAAAAB==")] +
                             valid[4:]))
write("handshake", "key_spaces", hs(0, valid[:3] + [(N_KEY, 0, b"  " + KEY + b" \t")] +
                               valid[4:]))
write("handshake", "body", hs(0, valid + [(N_CLEN, 0, b"3")]))
write("handshake", "chunked", hs(0, valid + [(N_TE, 0, b"chunked")]))
write("handshake", "ext", hs(0, valid + [(N_EXT, 0, b"permessage-deflate"),
                                          (N_PROTOCOL, 0, b"chat")]))

# ---- msg: encoded hand-off and config messages ----


def span16(b):
    return struct.pack("!H", len(b)) + b


def span32(b):
    return struct.pack("!I", len(b)) + b


def message(mtype, body):
    return b"DURO" + struct.pack("!HHI", 1, mtype, len(body)) + body


def handoff(cls=b"echo", name=b"echo", early=b"", target=b"/echo"):
    body = (struct.pack("!Q", 7) + span16(cls) + span16(name) + span16(KEY) + span16(b"chat") +
            span16(b"permessage-deflate") + span16(target)
            + span32(early))
    return message(2, body)


def config(text=b"[route a]\nmatch = exact /a\nclass = echo\nobject = a\n"):
    return message(1, struct.pack("!II", 0, 2) + span16(b"/etc/duro.ini") + span32(text))


write("msg", "handoff", handoff())
write("msg", "handoff_early", handoff(early=frame(1, b"hi")))
write("msg", "config", config())
write("msg", "config_then_handoff", config() + handoff(b"seed", b"foo"))
write("msg", "query", message(3, struct.pack("!QI", 1, 1)))
# QUERY_OBJECTS: seq, what, limit, cursor (bucket, bits, has_after, 64 hex digits)
write("msg", "query_objects", message(3, struct.pack("!QIIQBB", 2, 2, 256, 5, 3, 1) + b"a" * 64))
write("msg", "stats", message(4, struct.pack("!QI", 1, 2) + struct.pack("!QQ", 5, 6)))
# seq, count, more, next cursor (without a last id), the JSON
write("msg", "objects", message(5, struct.pack("!QIBQBB", 1, 1, 1, 6, 3, 0) + span32(b'{"a":1}')))
write("msg", "truncated", handoff()[:-3])

# ---- conf: INI texts ----

with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "config", "duro.ini"), "rb") as f:
    write("conf", "default", f.read())
write("conf", "routes", b"[route echo]\nmatch = exact /echo\nclass = echo\nobject = echo\n"
                        b"[route rooms]\nmatch = path /rooms/{name}/ws\nclass = chat\n"
                        b"object = {name}\n[route seed]\nmatch = suffix /websocket\n"
                        b"class = seed\nobject = foo\n")
write("conf", "limits", b"[http]\nhead_max_bytes = 1024\nheaders_max_count = 1\n"
                        b"target_max_bytes = 256\nhead_timeout_ms = 10\n[websocket]\n"
                        b"message_max_bytes = 1\nclose_timeout_ms = 86400000\n"
                        b"outbound_max_bytes = 65536\n[server]\nlisten = [::1]:0\nworkers = 64\n"
                        b"log_level = debug\n")
write("conf", "bad_value", b"[http]\nhead_max_bytes = 99999999999999999999\n")
write("conf", "bad_route", b"[route x]\nmatch = path /no-placeholder\nclass = seed\n"
                           b"object = {name}\n")
write("conf", "class_section", b"[class mine]\npath = /nonexistent.so\nsymbol = duro_class\n"
                               b"[route m]\nmatch = prefix /m/\nclass = mine\nobject = m\n")

# ---- session: byte 0 class, byte 1 early length, byte 2 write size; then client bytes ----

def sess(cls, early, step, stream):
    return bytes([cls, early, step]) + stream


write("session", "echo_text", sess(0, 0, 63, frame(1, b"hello") + frame(8, b"\x03\xe8")))
write("session", "echo_early", sess(0, 12, 3, frame(2, b"\x00\x01\x02") + frame(9, b"p") +
                                    frame(8, b"\x03\xe8bye")))
write("session", "seed_text", sess(1, 0, 63, frame(1, b"hi") + frame(2, b"\xff") +
                                   frame(8, b"\x0f\xa0")))
write("session", "chat", sess(2, 0, 7, frame(1, b"room") + frame(8)))
write("session", "fragments", sess(0, 0, 1, frame(1, b"frag", fin=False) + frame(9, b"x") +
                                   frame(0, b"ment") + frame(8, b"\x03\xe8")))
write("session", "utf8_bad", sess(0, 0, 63, frame(1, b"\xce\xba\xed\xa0\x80")))
write("session", "unmasked", sess(0, 0, 63, frame(1, b"x", masked=False)))
write("session", "rsv", sess(0, 0, 63, frame(1, b"x", rsv=4)))
write("session", "too_big", sess(0, 0, 63, frame(2, b"a" * 1100)))
write("session", "huge_declared", sess(0, 0, 63, frame(2, b"a", length=(1 << 63) - 1)))
write("session", "close_bad_code", sess(0, 0, 63, frame(8, b"\x03\xed")))
write("session", "ping_flood", sess(0, 0, 64, frame(9, b"p" * 125) * 20))

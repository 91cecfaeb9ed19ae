"""tests/integration/test_requests.py: plain HTTP requests into objects (on_request), the chat
room over HTTP, admin close, and the request a class sees (headers, PROXY protocol, origins).

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... DURO_PRESENCE_SO=... \
     /usr/bin/python3 tests/integration/test_requests.py -v
"""

import asyncio
import json
import os
import re
import signal
import struct
import unittest
import urllib.error
import urllib.request

import websockets

from harness import (HOST, OP_CLOSE, OP_TEXT, Gateway, curl, frame, http_request, run_async,
                     ws_request)

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
PRESENCE_SO = os.environ.get("DURO_PRESENCE_SO", "")

R426 = (b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\n\r\n"
        b"Durable Object expected Upgrade: websocket")
R400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n"


def config(extra_server="", object_timeout_ms=400, hibernate_ms=10000, origins=""):
    return f"""
[server]
heartbeat_timeout_ms = 1000
{extra_server}
[http]
body_max_bytes = 1024
object_timeout_ms = {object_timeout_ms}
[objects]
hibernate_after_ms = {hibernate_ms}

[class probe]
path = {PROBE_SO}
symbol = probe_class

[class presence]
path = {PRESENCE_SO}

[route probe]
match = path /probe/{{name}}
class = probe
object = {{name}}

[route guarded]
match = path /guarded/{{name}}
class = probe
object = {{name}}
origins = {origins or "https://good.example, https://also.example"}

[route rooms]
match = path /rooms/{{name}}/websocket
class = chat
object = {{name}}

[route presence]
match = path /presence/{{name}}
class = presence
object = {{name}}

[route seed]
match = suffix /websocket
class = seed
object = foo
"""


def connect(url, **kw):
    return websockets.connect(url, compression=None, open_timeout=5, close_timeout=2,
                              ping_interval=None, max_size=None, **kw)


def admin_post(gw, path, body=None):
    url = f"http://{gw.admin[0]}:{gw.admin[1]}{path}"
    req = urllib.request.Request(url, data=body if body is not None else b"", method="POST")
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def admin_get(gw, path):
    url = f"http://{gw.admin[0]}:{gw.admin[1]}{path}"
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def get(target, headers=(), body=b"", method="GET"):
    hs = [("Host", HOST)] + list(headers)
    if body or method == "POST":
        hs.append(("Content-Length", str(len(body))))
    return http_request(method, target, headers=hs, body=body)


@unittest.skipUnless(PROBE_SO and PRESENCE_SO, "DURO_PROBE_SO / DURO_PRESENCE_SO not set "
                     "(run through meson test, which builds the test classes)")
class RequestsTest(unittest.TestCase):

    def gateway(self, workers=1, **kw):
        return Gateway(self, config=config(**kw), workers=workers)

    # ---- chat over HTTP ----

    def test_curl_post_reaches_every_socket_of_the_room_and_no_other(self):
        gw = self.gateway(workers=2)

        async def run():
            a = [await connect(gw.ws_url("/rooms/a/websocket")).__aenter__() for _ in range(3)]
            b = [await connect(gw.ws_url("/rooms/b/websocket")).__aenter__() for _ in range(2)]
            out = await asyncio.to_thread(curl, "-s", "-X", "POST", "--data", "hi",
                                          gw.url("/rooms/a/websocket"))
            self.assertEqual(json.loads(out), {"delivered": 3})
            for ws in a:
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "hi")
            got = await asyncio.to_thread(curl, "-s", gw.url("/rooms/a/websocket"))
            self.assertEqual(json.loads(got), {"open": 3})
            got = await asyncio.to_thread(curl, "-s", gw.url("/rooms/b/websocket"))
            self.assertEqual(json.loads(got), {"open": 2})
            # room b saw nothing of "hi": the first thing it receives is its own POST
            out = await asyncio.to_thread(curl, "-s", "-X", "POST", "--data", "for b",
                                          gw.url("/rooms/b/websocket"))
            self.assertEqual(json.loads(out), {"delivered": 2})
            for ws in b:
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "for b")
            for ws in a + b:
                await ws.close()
        run_async(run())

    def test_chat_refuses_bad_utf8_and_other_methods_and_keeps_the_connection(self):
        gw = self.gateway()
        c = gw.connect()
        c.send(get("/rooms/r/websocket", body=b"\xff\xfe", method="POST"))
        r = c.read_response()
        self.assertEqual(r.code, 400, r.raw)
        self.assertIn(b"UTF-8", r.body)
        c.send(get("/rooms/r/websocket", method="PUT", body=b"x"))
        r = c.read_response()
        self.assertEqual(r.code, 405, r.raw)
        self.assertEqual(r.header("Allow"), ["GET, HEAD, POST"])
        c.send(get("/rooms/r/websocket"))
        r = c.read_response()
        self.assertEqual((r.code, json.loads(r.body)), (200, {"open": 0}))
        self.assertEqual(r.header("Content-Type"), ["application/json"])

    # ---- limits and failures ----

    def test_413_by_content_length_and_by_chunks(self):
        gw = self.gateway()
        c = gw.connect()
        c.send(get("/probe/x", body=b"a" * 1025, method="POST"))
        r = c.read_response()
        self.assertEqual(r.code, 413, r.raw)
        self.assertEqual(r.header("Connection"), ["close"])
        c.read_eof()
        c = gw.connect()
        chunk = b"400\r\n" + b"a" * 0x400 + b"\r\n"
        c.send(http_request("POST", "/probe/x", headers=[("Host", HOST),
                                                         ("Transfer-Encoding", "chunked")],
                            body=chunk + chunk + b"0\r\n\r\n"))
        r = c.read_response()
        self.assertEqual(r.code, 413, r.raw)
        c.read_eof()

    def test_chunked_body_within_the_limit_is_forwarded_de_chunked(self):
        gw = self.gateway()
        c = gw.connect()
        c.send(http_request("POST", "/probe/x", headers=[("Host", HOST),
                                                         ("Transfer-Encoding", "chunked")],
                            body=b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"))
        r = c.read_response()
        self.assertEqual((r.code, r.body), (200, b"POST /probe/x abcdefg"))
        self.assertEqual(r.header("X-Probe-Client")[0].rpartition(":")[0], "127.0.0.1")
        # HEAD: the object's headers and length, no body; Connection: close is honoured
        c.send(get("/probe/x", method="HEAD", headers=[("Connection", "close")]))
        r = c.read_response(head_request=True)
        self.assertEqual(r.code, 200, r.raw)
        self.assertEqual(r.header("Content-Length"), [str(len(b"HEAD /probe/x "))])
        self.assertEqual(r.header("Connection"), ["close"])
        c.read_eof()

    def test_expect_100_continue_is_answered_before_the_body(self):
        gw = self.gateway()
        c = gw.connect()
        c.send(http_request("POST", "/probe/e", headers=[("Host", HOST), ("Content-Length", "4"),
                                                         ("Expect", "100-continue")]))
        self.assertEqual(c.read_until(b"\r\n\r\n"), b"HTTP/1.1 100 Continue\r\n\r\n")
        c.send(b"body")
        r = c.read_response()
        self.assertEqual((r.code, r.body), (200, b"POST /probe/e body"))
        # over the limit: 413 at once, no 100
        c.send(http_request("POST", "/probe/e", headers=[("Host", HOST),
                                                         ("Content-Length", "5000"),
                                                         ("Expect", "100-continue")]))
        self.assertEqual(c.read_response().code, 413)

    def test_504_when_the_object_never_answers_and_the_connection_stays_usable(self):
        gw = self.gateway()
        c = gw.connect()
        c.send(get("/probe/slow?never"))
        r = c.read_response()
        self.assertEqual(r.code, 504, r.raw)
        self.assertEqual(r.header("Connection"), [])
        c.send(get("/probe/slow"))
        r = c.read_response()
        self.assertEqual((r.code, r.body), (200, b"GET /probe/slow "))
        self.assertIsNotNone(gw.wait_for_line(r"event=response_expired"))

    def test_503_with_retry_after_when_the_worker_goes_down(self):
        gw = self.gateway(object_timeout_ms=20000)  # the heartbeat's verdict comes first
        pid = gw.worker_pids()[0]
        c = gw.connect()
        c.send(get("/probe/w"))
        self.assertEqual(c.read_response().code, 200)
        mark = gw.mark()
        os.kill(pid, signal.SIGSTOP)  # hung: the heartbeat kills it after 1 s
        self.addCleanup(lambda: os.kill(pid, signal.SIGKILL) if os.path.exists(
            f"/proc/{pid}") else None)
        c.send(get("/probe/w?never"))
        r = c.read_response()
        self.assertEqual(r.code, 503, r.raw)
        self.assertEqual(r.header("Retry-After"), ["1"])
        # the connection is still usable; once the worker is back, the object answers again
        gw.wait_for_line(r"event=worker_spawned\b", start=mark)
        gw.wait_for_line(r"event=configured\b", start=mark)
        c.send(get("/probe/w"))
        r = c.read_response()
        self.assertEqual(r.code, 200, r.raw)

    def test_503_keep_alive_while_no_worker_runs(self):
        rooms = ("[route rooms]\nmatch = path /rooms/{name}/websocket\nclass = chat\n"
                 "object = {name}\n")
        gw = Gateway(self, config=rooms, workers=1, wait_workers=False, worker_bin="/bin/false")
        c = gw.connect()
        for _ in range(2):  # the connection stays usable
            c.send(get("/rooms/down/websocket", body=b"x", method="POST"))
            r = c.read_response()
            self.assertEqual(r.code, 503, r.raw)
            self.assertEqual(r.header("Retry-After"), ["1"])
            self.assertEqual(r.header("Connection"), [])
        c.send(get("/nowhere"))
        self.assertEqual(c.read_response().raw, R400)

    # ---- ordering, waking, deferred answers ----

    def test_pipelined_requests_into_objects_keep_their_order(self):
        gw = self.gateway(workers=2)
        c = gw.connect()
        c.send(get("/probe/p1", body=b"one", method="POST") + get("/nowhere") +
               get("/probe/p2?later") + get("/probe/p2", body=b"two", method="POST") +
               get("/websocket") + get("/rooms/z/websocket"))
        r = c.read_response()
        self.assertEqual((r.code, r.body), (200, b"POST /probe/p1 one"))
        self.assertEqual(c.read_response().raw, R400)
        # p2?later waits for the object: nothing after it may overtake it
        self.assertEqual(c.buf, b"")

        async def answer():
            async with connect(gw.ws_url("/probe/p2")) as ws:
                await ws.send("answer")
                return await asyncio.wait_for(ws.recv(), 5)
        self.assertEqual(run_async(answer()), "answer:0")
        r = c.read_response()
        self.assertEqual((r.code, r.body), (202, b"later"))
        r = c.read_response()
        self.assertEqual((r.code, r.body), (200, b"POST /probe/p2 two"))
        self.assertEqual(c.read_response().raw, R426)
        r = c.read_response()
        self.assertEqual((r.code, json.loads(r.body)), (200, {"open": 0}))

    def test_a_post_wakes_a_hibernated_object(self):
        gw = self.gateway(hibernate_ms=300)

        async def run():
            async with connect(gw.ws_url("/probe/h")) as ws:
                await ws.send("gen")
                gen = int((await asyncio.wait_for(ws.recv(), 5)).split(":")[1])
                await asyncio.to_thread(gw.wait_for_line, r"event=hibernate obj=probe/h ")
                mark = gw.mark()
                out = await asyncio.to_thread(curl, "-si", "-X", "POST", "--data", "wake",
                                              gw.url("/probe/h"))
                self.assertIn(b"POST /probe/h wake", out)
                self.assertIn(f"X-Probe-Gen: {gen + 1}\r\n".encode(), out)
                await asyncio.to_thread(gw.wait_for_line, r"event=wake obj=probe/h ", 5, mark)
        run_async(run())

    def test_a_room_hibernated_is_woken_by_a_post(self):
        gw = self.gateway(hibernate_ms=300)

        async def run():
            async with connect(gw.ws_url("/rooms/sleepy/websocket")) as ws:
                await asyncio.to_thread(gw.wait_for_line, r"event=hibernate obj=chat/sleepy ")
                mark = gw.mark()
                out = await asyncio.to_thread(curl, "-s", "-X", "POST", "--data", "hello",
                                              gw.url("/rooms/sleepy/websocket"))
                self.assertEqual(json.loads(out), {"delivered": 1})
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "hello")
                await asyncio.to_thread(gw.wait_for_line, r"event=wake obj=chat/sleepy ", 5,
                                        mark)
        run_async(run())

    def test_426_unchanged_for_the_seed_and_for_a_class_without_on_request(self):
        gw = self.gateway()
        for target in ("/websocket", "/presence/p"):
            with self.subTest(target=target):
                self.assertEqual(curl("-si", "--http1.1", gw.url(target)), R426)
                c = gw.connect()
                c.send(get(target) + get(target, method="HEAD") + get(target))
                self.assertEqual(c.read_response().raw, R426)
                self.assertEqual(c.read_response(head_request=True).raw, R426[:-42])
                self.assertEqual(c.read_response().raw, R426)
                c.send(get(target, headers=[("Connection", "close")]))
                r = c.read_response()
                self.assertEqual(r.raw, R426.replace(b"\r\n\r\n",
                                                     b"\r\nConnection: close\r\n\r\n"))
                c.read_eof()

    # ---- admin ----

    def test_admin_close_by_tag_closes_exactly_those_sockets(self):
        gw = self.gateway()

        async def run():
            red = [await connect(gw.ws_url("/probe/k?tags=red")).__aenter__() for _ in range(2)]
            blue = [await connect(gw.ws_url("/probe/k?tags=blue")).__aenter__() for _ in range(2)]
            other = await connect(gw.ws_url("/probe/k2?tags=red")).__aenter__()
            status, body = await asyncio.to_thread(
                admin_post, gw, "/objects/probe/k/close?tag=red&code=4000", b"reason=go+away")
            self.assertEqual((status, json.loads(body)), (200, {"closed": 2}))
            for ws in red:
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), 5)
                self.assertEqual((cm.exception.rcvd.code, cm.exception.rcvd.reason),
                                 (4000, "go away"))
            for ws in blue + [other]:
                await ws.send("count:")
                self.assertRegex(await asyncio.wait_for(ws.recv(), 5), r"^count:")
            status, body = await asyncio.to_thread(admin_post, gw, "/objects/probe/k/close")
            self.assertEqual((status, json.loads(body)), (200, {"closed": 2}))
            metrics = await asyncio.to_thread(admin_get, gw, "/metrics")
            self.assertRegex(metrics, r"(?m)^duro_admin_closed_sockets_total 4$")
            await other.close()
        run_async(run())
        self.assertEqual(admin_post(gw, "/objects/probe/k/close?code=1005")[0], 400)
        self.assertEqual(admin_post(gw, "/objects/probe/close")[0], 400)
        self.assertEqual(admin_post(gw, "/objects/probe/none/close"), (200, '{"closed":0}\n'))

    # ---- the request a class sees ----

    def test_on_connect_sees_the_cookie_and_the_proxy_protocol_address(self):
        gw = self.gateway(extra_server="proxy_protocol = true")
        v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 8787\r\n"
        addr = bytes([198, 51, 100, 9, 127, 0, 0, 1]) + struct.pack("!HH", 40000, 8787)
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addr)) +
              addr)
        for header, client in ((v1, "203.0.113.7:5555"), (v2, "198.51.100.9:40000")):
            with self.subTest(client=client):
                c = gw.connect()
                c.send(header + ws_request("/probe/c?info=1", extra=[("Cookie", "sid=42")]))
                r = c.read_response()
                self.assertEqual(r.code, 101, r.raw)
                c.send(frame(OP_TEXT, b"attachment"))
                f = c.read_frame()
                self.assertEqual(f.payload.decode(), f"cookie=sid=42;client={client}")
                c.send(frame(OP_CLOSE, struct.pack("!H", 1000)))
                self.assertEqual(c.read_frame().opcode, OP_CLOSE)
                # on_request sees it too, and the access log names it
                c = gw.connect()
                c.send(header + get("/probe/c"))
                r = c.read_response()
                self.assertEqual(r.header("X-Probe-Client"), [client])
                gw.wait_for_line(r"mod=access .*peer=" + re.escape(client) +
                                 r" status=200 method=GET target=\"/probe/c\"")
        c = gw.connect()
        c.send(get("/probe/c"))  # no PROXY header: closed
        c.read_eof()

    def test_origin_outside_the_allow_list_gets_403_before_any_hand_off(self):
        gw = self.gateway()
        mark = gw.mark()
        c = gw.connect()
        c.send(ws_request("/guarded/g", extra=[("Origin", "https://evil.example")]))
        r = c.read_response()
        self.assertEqual(r.code, 403, r.raw)
        c.read_eof()
        c = gw.connect()
        c.send(get("/guarded/g", headers=[("Origin", "https://evil.example")]))
        self.assertEqual(c.read_response().code, 403)
        self.assertFalse(any("event=construct obj=probe/g" in line for line in gw.lines[mark:]))
        for origin in ("https://good.example", "https://also.example"):
            c = gw.connect()
            c.send(ws_request("/guarded/g", extra=[("Origin", origin)]))
            self.assertEqual(c.read_response().code, 101)


if __name__ == "__main__":
    unittest.main()

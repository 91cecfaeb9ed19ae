"""tests/integration/test_objects.py: named objects, hibernation, the class API (docs/design.md 4).

Drives the test class tests/classes/probe.c (a shared object, loaded like any external class)
and the example class examples/presence over real WebSockets.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... DURO_PRESENCE_SO=... \
     python3 tests/integration/test_objects.py -v
"""

import asyncio
import collections
import os
import re
import subprocess
import unittest

import websockets

from harness import (GATEWAY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, WORKER, Gateway,
                     close_payload, frame, run_async, ws_request)

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
PRESENCE_SO = os.environ.get("DURO_PRESENCE_SO", "")
HIBERNATE_MS = 600


def config(hibernate_ms=HIBERNATE_MS, extra=""):
    return f"""
[objects]
hibernate_after_ms = {hibernate_ms}
{extra}
[class probe]
path = {PROBE_SO}
symbol = probe_class

[class presence]
path = {PRESENCE_SO}

[route probe]
match = path /probe/{{name}}
class = probe
object = {{name}}

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


async def ask(ws, text):
    await ws.send(text)
    return await asyncio.wait_for(ws.recv(), 5)


def constructs_by_worker(gw, start=0):
    """{object name: worker slot} from the workers' construct lines."""
    out = {}
    for line in gw.lines[start:]:
        m = re.search(r"event=construct obj=probe/(\S+) .*worker=(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@unittest.skipUnless(PROBE_SO and PRESENCE_SO, "DURO_PROBE_SO / DURO_PRESENCE_SO not set "
                     "(run through meson test, which builds the test classes)")
class ObjectsTest(unittest.TestCase):

    def gateway(self, workers=1, **kw):
        return Gateway(self, config=config(**kw), workers=workers)

    # ---- routing and placement ----

    def test_1000_names_spread_evenly_over_2_workers(self):
        gw = self.gateway(workers=2, hibernate_ms=60000)
        names = [f"room-{i}" for i in range(1000)]
        for name in names:
            c = gw.ws_open(f"/probe/{name}")
            c.close()
        gw.wait_for_lines(r"event=construct obj=probe/", 1000)
        placed = constructs_by_worker(gw)
        self.assertEqual(set(placed), set(names))
        per_worker = collections.Counter(placed.values())
        for slot in (0, 1):
            self.assertGreaterEqual(per_worker[slot], 450, per_worker)
            self.assertLessEqual(per_worker[slot], 550, per_worker)

    def test_same_name_same_worker_across_reconnects_and_gateway_restarts(self):
        names = [f"n{i}" for i in range(40)]
        placements = []
        for _ in range(2):  # two gateways, one after the other, same config
            gw = self.gateway(workers=2, hibernate_ms=100)
            first = {}
            for name in names:
                gw.ws_open(f"/probe/{name}").close()
            gw.wait_for_lines(r"event=construct obj=probe/", len(names))
            first = constructs_by_worker(gw)
            # reconnect after each object was forgotten: constructed again, same worker
            gw.wait_for_lines(r"event=destroy obj=probe/", len(names))
            mark = gw.mark()
            for name in names:
                gw.ws_open(f"/probe/{name}").close()
            gw.wait_for_lines(r"event=construct obj=probe/", len(names), start=mark)
            self.assertEqual(constructs_by_worker(gw, mark), first)
            placements.append(first)
            gw.stop()
        self.assertEqual(placements[0], placements[1])
        self.assertEqual(set(placements[0].values()), {0, 1})

    def test_path_route_decodes_the_name_and_refuses_bad_names(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/probe/a%20b%2Ec")) as ws:
                self.assertEqual(await ask(ws, "name"), "a b.c")
                self.assertRegex(await ask(ws, "id"), r"^[0-9a-f]{64}$")
        run_async(run())
        for target in ("/probe/", "/probe/%zz", "/probe/%00x", "/probe/" + "x" * 257,
                       "/probe/a%2Fb", "/probe/..%2F..%2Fx", "/probe/%2E%2E", "/probe/."):
            with self.subTest(target=target[:20]):
                c = gw.connect()
                c.send(ws_request(target))
                r = c.read_response()
                self.assertEqual(r.code, 400, r.raw)
        c = gw.ws_open("/probe/" + "x" * 256)
        c.close()

    # ---- hibernation ----

    def test_object_hibernates_and_wakes_with_sockets_open(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/probe/h")) as a, connect(gw.ws_url("/probe/h")) as b:
                self.assertEqual(await ask(a, "gen"), "gen:1")
                self.assertEqual(await ask(a, "attach:kept"), "ok")
                mark = gw.mark()
                await asyncio.to_thread(gw.wait_for_line, r"event=hibernate obj=probe/h\b",
                                        5, mark)
                # same sockets, woken by the next message: the constructor ran again
                self.assertEqual(await ask(b, "gen"), "gen:2")
                await asyncio.to_thread(gw.wait_for_line, r"event=wake obj=probe/h\b", 5, mark)
                self.assertEqual(await ask(a, "attachment"), "kept")
                self.assertEqual(await ask(a, "count:"), "count:2")
        run_async(run())

    def test_seed_count_unchanged_across_hibernation(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url()) as a, connect(gw.ws_url()) as b:
                await a.send("one")
                self.assertTrue((await a.recv()).endswith("connections: 2"))
                mark = gw.mark()
                await asyncio.to_thread(gw.wait_for_line, r"event=hibernate obj=seed/foo\b",
                                        5, mark)
                await b.send("two")
                self.assertEqual(await b.recv(),
                                 "[Durable Object] message: two, connections: 2")
        run_async(run())

    def test_ping_and_auto_response_do_not_wake(self):
        gw = self.gateway()
        c = gw.ws_open("/probe/quiet")
        c.send(frame(OP_TEXT, b"auto:ping=pong"))
        self.assertEqual(c.read_frame().payload, b"ok")
        mark = gw.mark()
        gw.wait_for_line(r"event=hibernate obj=probe/quiet\b", 5, mark)
        after = gw.mark()
        c.send(frame(OP_PING, b"are you there"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_PONG, b"are you there"))
        c.send(frame(OP_TEXT, b"ping"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, b"pong"))
        self.assertFalse([l for l in gw.lines[after:] if "event=wake" in l], gw.lines[after:])
        # a real message wakes it, and the socket's auto-response time was recorded
        c.send(frame(OP_TEXT, b"autotime"))
        f = c.read_frame()
        self.assertRegex(f.payload.decode(), r"^autotime:[1-9]\d{12}$")
        gw.wait_for_line(r"event=wake obj=probe/quiet\b", 5, after)

    def test_empty_object_is_destroyed_after_its_idle_time(self):
        gw = self.gateway(hibernate_ms=200)
        mark = gw.mark()
        gw.ws_open("/probe/gone").close()
        gw.wait_for_line(r"event=destroy obj=probe/gone\b", 5, mark)

    # ---- tags, attachments, broadcast, subprotocol, refusal ----

    def test_tags_filter_and_broadcast(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/probe/t?tags=a")) as a, \
                    connect(gw.ws_url("/probe/t?tags=a,b,a")) as ab, \
                    connect(gw.ws_url("/probe/t?tags=b")) as b:
                self.assertEqual(await ask(ab, "tags"), "a,b")  # duplicate dropped
                self.assertEqual(await ask(a, "count:a"), "count:2")
                self.assertEqual(await ask(a, "count:b"), "count:2")
                self.assertEqual(await ask(a, "count:zzz"), "count:0")
                self.assertEqual(await ask(a, "count:"), "count:3")
                await a.send("bcast:b:hello b")
                self.assertEqual(await asyncio.wait_for(a.recv(), 5), "sent:2")
                self.assertEqual(await asyncio.wait_for(ab.recv(), 5), "hello b")
                self.assertEqual(await asyncio.wait_for(b.recv(), 5), "hello b")
                await b.close()
                self.assertEqual(await ask(a, "count:b"), "count:1")
        run_async(run())

    def test_socket_in_on_connect_is_not_open_yet(self):
        """Issue 10 defect 5: inside on_connect the socket is in none of the three views."""
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/probe/pk?tags=p&peek=p")) as a:
                self.assertEqual(await ask(a, "attachment"), "peek:0:0:0")
                async with connect(gw.ws_url("/probe/pk?tags=p&peek=p")) as b:
                    self.assertEqual(await ask(b, "attachment"), "peek:1:1:1")
                    self.assertEqual(await ask(b, "count:p"), "count:2")
        run_async(run())

    def test_tag_limits_refused_cleanly(self):
        gw = self.gateway()
        eleven = ",".join(f"t{i}" for i in range(11))
        for target in (f"/probe/l?tags={eleven}", "/probe/l?tags=" + "x" * 257):
            with self.subTest(target=target[:30]):
                c = gw.connect()
                c.send(ws_request(target))
                self.assertEqual(c.read_response().code, 400)
        ten = ",".join(f"t{i}" for i in range(10))
        c = gw.ws_open(f"/probe/l?tags={ten},{'y' * 256}".replace(f",{'y' * 256}", ""))
        c.send(frame(OP_TEXT, b"tags"))
        self.assertEqual(c.read_frame().payload.decode(), ten)

    def test_tags_added_and_removed_after_accept(self):
        gw = self.gateway(hibernate_ms=200)

        async def run():
            async with connect(gw.ws_url("/probe/mt?tags=a")) as a, \
                    connect(gw.ws_url("/probe/mt")) as b:
                self.assertEqual(await ask(b, "count:x"), "count:0")
                self.assertEqual(await ask(b, "tag+:x"), "ok")
                self.assertEqual(await ask(a, "tag+:x"), "ok")
                self.assertEqual(await ask(a, "tag+:x"), "ok")  # duplicate dropped
                self.assertEqual(await ask(a, "count:x"), "count:2")
                self.assertEqual(await ask(a, "tags"), "a,x")
                self.assertEqual(await ask(a, "tag-:a"), "ok")
                self.assertEqual(await ask(a, "tags"), "x")
                self.assertEqual(await ask(a, "count:a"), "count:0")
                self.assertEqual(await ask(a, "tag-:a"), "error:-6")  # DURO_ENOTFOUND
                self.assertEqual(await ask(b, "tag-:x"), "ok")
                self.assertEqual(await ask(b, "count:x"), "count:1")
                await b.send("bcast:x:to x")  # only a carries x now
                self.assertEqual(await asyncio.wait_for(b.recv(), 5), "sent:1")
                self.assertEqual(await asyncio.wait_for(a.recv(), 5), "to x")
                for i in range(9):
                    self.assertEqual(await ask(b, f"tag+:t{i}"), "ok")
                self.assertEqual(await ask(b, "tag+:t9"), "ok")
                self.assertEqual(await ask(b, "tag+:t10"), "error:-3")  # DURO_ELIMIT: 10 max
                self.assertEqual(await ask(b, "tag+:"), "error:-3")
                # tags changed after accept survive hibernation
                mark = gw.mark()
                gw.wait_for_line(r"event=hibernate obj=probe/mt\b", 5, mark)
                self.assertEqual(await ask(a, "tags"), "x")
                self.assertEqual(await ask(a, "count:t9"), "count:1")
        run_async(run())

    def test_auto_response_rules_text_and_binary_without_waking(self):
        gw = self.gateway(hibernate_ms=200)

        async def run():
            async with connect(gw.ws_url("/probe/ar")) as ws:
                self.assertEqual(await ask(ws, "autot:ping=pong"), "ok")
                self.assertEqual(await ask(ws, "autot:status=fine"), "ok")
                self.assertEqual(await ask(ws, "autob:\x01=\x02"), "ok")
                for i in range(13):
                    self.assertEqual(await ask(ws, f"autot:r{i}=a{i}"), "ok")
                self.assertEqual(await ask(ws, "autot:r99=x"), "error:-3")  # 16 rules max
                self.assertEqual(await ask(ws, "autot:ping=PONG"), "ok")  # replaces, no 17th
                self.assertEqual(await ask(ws, "autorm:r12"), "ok")
                self.assertEqual(await ask(ws, "autorm:r12"), "error:-6")
                mark = gw.mark()
                gw.wait_for_line(r"event=hibernate obj=probe/ar\b", 5, mark)
                after = gw.mark()
                self.assertEqual(await ask(ws, "ping"), "PONG")
                self.assertEqual(await ask(ws, "status"), "fine")
                self.assertEqual(await ask(ws, "r0"), "a0")
                await ws.send(b"\x01")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), b"\x02")
                self.assertFalse([l for l in gw.lines[after:] if "event=wake" in l],
                                 gw.lines[after:])
                # a binary message equal to a text rule's request is not answered by the rule:
                # it wakes the object and reaches on_message
                await ws.send(b"ping")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "binary")
                self.assertTrue(int((await ask(ws, "autotime")).split(":")[1]) > 0)
                gw.wait_for_line(r"event=wake obj=probe/ar\b", 5, after)
        run_async(run())

    def test_attachment_limit(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/probe/att")) as ws:
                self.assertEqual(await ask(ws, "attachsize:16384"), "ok")
                self.assertEqual(await ask(ws, "attachsize:16385"), "error")
                self.assertEqual(await ask(ws, "attach:small"), "ok")
                self.assertEqual(await ask(ws, "attachment"), "small")
                self.assertEqual(await ask(ws, "auto:" + "q" * 2049 + "=r"), "error")
        run_async(run())

    def test_socket_limit_per_object_gets_503(self):
        gw = self.gateway(extra="sockets_max_count = 3")
        open_ = [gw.ws_open("/probe/full") for _ in range(3)]
        c = gw.connect()
        c.send(ws_request("/probe/full"))
        r = c.read_response()
        self.assertEqual(r.code, 503, r.raw)
        self.assertEqual(r.header("Retry-After"), ["1"])
        gw.ws_open("/probe/other").close()  # other objects are unaffected
        self.assertEqual(len(open_), 3)

    def test_subprotocol_choice_and_refusal(self):
        gw = self.gateway()
        c = gw.connect()
        c.send(ws_request("/probe/p?proto=1", extra=(("Sec-WebSocket-Protocol", "chat.v2, x"),)))
        r = c.read_response()
        self.assertEqual(r.code, 101, r.raw)
        self.assertEqual(r.header("Sec-WebSocket-Protocol"), ["chat.v2"])
        c = gw.connect()
        c.send(ws_request("/probe/p", extra=(("Sec-WebSocket-Protocol", "chat.v2"),)))
        r = c.read_response()
        self.assertEqual(r.code, 101)
        self.assertEqual(r.header("Sec-WebSocket-Protocol"), [])
        c = gw.connect()
        c.send(ws_request("/probe/p?refuse=403"))
        r = c.read_response()
        self.assertEqual(r.code, 403, r.raw)
        self.assertEqual(r.header("Connection"), ["close"])

    def test_on_close_sees_the_clients_code_when_duro_closed_first(self):
        gw = self.gateway()
        keep = gw.ws_open("/probe/cl")
        c = gw.ws_open("/probe/cl")
        c.send(frame(OP_TEXT, b"close:4005"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 4005))
        c.send(frame(OP_CLOSE, close_payload(4005, b"ok")))  # the client completes it
        c.read_eof()
        keep.send(frame(OP_TEXT, b"lastclose"))
        self.assertEqual(keep.read_frame().payload, b"lastclose:4005:1")

    # ---- built-in chat and the external example ----

    def test_chat_room_broadcasts_to_everyone(self):
        gw = self.gateway()

        async def run():
            url = gw.ws_url("/rooms/lobby/websocket")
            async with connect(url) as a, connect(url) as b, connect(url) as c:
                await b.send("hi all")
                for ws in (a, b, c):
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "hi all")
                async with connect(gw.ws_url("/rooms/other/websocket")) as d:
                    await d.send("elsewhere")
                    self.assertEqual(await asyncio.wait_for(d.recv(), 5), "elsewhere")
                await a.send(b"\x01\x02")
                self.assertEqual(await asyncio.wait_for(c.recv(), 5), b"\x01\x02")
        run_async(run())

    def test_external_presence_class(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/presence/r?user=ann")) as ann:
                async with connect(gw.ws_url("/presence/r?user=bob")) as bob:
                    self.assertEqual(await asyncio.wait_for(ann.recv(), 5), "join bob (2 online)")
                    who = await ask(bob, "who")
                    self.assertEqual(sorted(who.split()[1:]), ["ann", "bob"])
                    await bob.send("hello")
                    self.assertEqual(await asyncio.wait_for(ann.recv(), 5), "bob: hello")
                    self.assertEqual(await asyncio.wait_for(bob.recv(), 5), "bob: hello")
                self.assertEqual(await asyncio.wait_for(ann.recv(), 5), "leave bob (1 online)")
        run_async(run())


    def test_presence_relays_long_messages_whole(self):
        gw = self.gateway()
        text = "".join(chr(ord("a") + i % 26) for i in range(1100))

        async def run():
            async with connect(gw.ws_url("/presence/long?user=alice")) as alice:
                await alice.send(text)
                self.assertEqual(await asyncio.wait_for(alice.recv(), 5), "alice: " + text)
        run_async(run())

    def test_presence_decodes_percent_encoded_names(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/presence/enc?user=ann")) as ann:
                async with connect(gw.ws_url("/presence/enc?user=J%C3%BCrgen+M%26M&x=1")) as j:
                    self.assertEqual(await asyncio.wait_for(ann.recv(), 5),
                                     "join J\u00fcrgen M&M (2 online)")
                    await j.send("hi")
                    self.assertEqual(await asyncio.wait_for(j.recv(), 5), "J\u00fcrgen M&M: hi")
            for bad in ("%ff", "%4", "a%0Ab", "x" * 65, ""):
                with self.assertRaises(websockets.exceptions.InvalidStatusCode, msg=bad) as cm:
                    async with connect(gw.ws_url("/presence/enc?user=" + bad)):
                        pass
                self.assertEqual(cm.exception.status_code, 400, bad)
        run_async(run())


class ClassLoadErrorsTest(unittest.TestCase):

    def check(self, section):
        tmp = self.enterContext(__import__("tempfile").TemporaryDirectory())
        path = os.path.join(tmp, "bad.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(section + "\n[route x]\nmatch = exact /x\nclass = x\nobject = x\n")
        p = subprocess.run([GATEWAY, "-c", path, "--worker-bin", WORKER, "--listen",
                            "127.0.0.1:0"], capture_output=True, timeout=20, text=True)
        return p

    def test_missing_file_fails_start_up(self):
        p = self.check("[class x]\npath = /nonexistent/dir/x.so")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("[class x] cannot load '/nonexistent/dir/x.so'", p.stderr)
        self.assertNotIn("listen=", p.stderr)

    @unittest.skipUnless(PROBE_SO, "DURO_PROBE_SO not set")
    def test_missing_symbol_fails_start_up(self):
        p = self.check(f"[class x]\npath = {PROBE_SO}\nsymbol = no_such_symbol")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("has no symbol 'no_such_symbol'", p.stderr)

    @unittest.skipUnless(PROBE_SO, "DURO_PROBE_SO not set")
    def test_api_version_mismatch_fails_start_up(self):
        p = self.check(f"[class x]\npath = {PROBE_SO}\nsymbol = probe_class_v0")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("class API version 0; this duro loads versions 1 to 2", p.stderr)

    @unittest.skipUnless(PROBE_SO, "DURO_PROBE_SO not set")
    def test_version_2_without_size_fails_start_up(self):
        p = self.check(f"[class x]\npath = {PROBE_SO}\nsymbol = probe_class_v2_nosize")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("declares version 2 but struct_size 0", p.stderr)


if __name__ == "__main__":
    unittest.main()

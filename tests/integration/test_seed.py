"""tests/integration/test_seed.py: the seed class on the wire (DESIGN.md section 2).

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_seed.py -v
"""

import asyncio
import socket
import time
import unittest

import websockets

from harness import (OP_BINARY, OP_CLOSE, OP_TEXT, SAMPLE_ACCEPT, SAMPLE_KEY, SEED_CLOSE_REASON,
                     Gateway, assert_no_date_server, close_payload, frame, run_async, ws_accept,
                     ws_request)

# Header order as in DESIGN.md section 2 (Connection, Upgrade, Sec-WebSocket-Accept).
R101_SAMPLE = (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Accept: " + SAMPLE_ACCEPT.encode() + b"\r\n\r\n")
COUNT_DROP_TIMEOUT_S = 5.0


def reply(message, n):
    return f"[Durable Object] message: {message}, connections: {n}"


def connect(url):
    return websockets.connect(url, compression=None, open_timeout=5, close_timeout=2,
                              ping_interval=None, max_size=None)


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


class SeedTest(unittest.TestCase):

    def test_101_byte_for_byte(self):
        gw = Gateway(self)
        self.assertEqual(ws_accept(SAMPLE_KEY), SAMPLE_ACCEPT)
        c = gw.connect()
        c.send(ws_request(key=SAMPLE_KEY))
        r = c.read_response()
        self.assertEqual(r.raw, R101_SAMPLE)
        assert_no_date_server(r)

    def test_101_accept_for_other_key(self):
        gw = Gateway(self)
        key = "AQIDBAUGBwgJCgsMDQ4PEA=="
        c = gw.connect()
        c.send(ws_request(key=key, omit=("Connection",)))   # Connection: Upgrade not required
        r = c.read_response()
        self.assertEqual(r.code, 101, r)
        self.assertEqual(r.header("Sec-WebSocket-Accept"), [ws_accept(key)])
        self.assertEqual(r.header("Sec-WebSocket-Extensions"), [])
        self.assertEqual(r.header("Sec-WebSocket-Protocol"), [])

    def test_text_reply(self):
        gw = Gateway(self)

        async def body():
            async with connect(gw.ws_url()) as ws:
                await ws.send("hello")
                self.assertEqual(await ws.recv(), reply("hello", 1))
                await ws.send("héllo ☃, connections: 9")
                self.assertEqual(await ws.recv(), reply("héllo ☃, connections: 9", 1))
                await ws.send("")
                self.assertEqual(await ws.recv(), reply("", 1))
        run_async(body())

    def test_binary_reply(self):
        gw = Gateway(self)

        async def body():
            async with connect(gw.ws_url()) as ws:
                await ws.send(b"\x00\xffhello")
                got = await ws.recv()
                self.assertIsInstance(got, str, "the reply to binary is a text message")
                self.assertEqual(got, reply("[object ArrayBuffer]", 1))
        run_async(body())

    def check_count(self, n):
        gw = Gateway(self, workers=2)

        async def body():
            clients = [await connect(gw.ws_url()) for _ in range(n)]
            try:
                for i, ws in enumerate(clients):
                    await ws.send(f"m{i}")
                for i, ws in enumerate(clients):
                    self.assertEqual(await ws.recv(), reply(f"m{i}", n))
            finally:
                await close_all(clients)
        run_async(body())

    def test_count_1(self):
        self.check_count(1)

    def test_count_2(self):
        self.check_count(2)

    def test_count_5(self):
        self.check_count(5)

    def test_count_drops_after_clean_close(self):
        gw = Gateway(self)

        async def body():
            a = await connect(gw.ws_url())
            b = await connect(gw.ws_url())
            try:
                await b.send("x")
                self.assertEqual(await b.recv(), reply("x", 2))
                await a.close()
                self.assertEqual(a.close_code, 1000)
                await b.send("y")
                self.assertEqual(await b.recv(), reply("y", 1))
            finally:
                await close_all([a, b])
        run_async(body())

    async def poll_until_count(self, ws, want):
        """Sends messages until a reply says `want` connections; fails after the timeout."""
        deadline = time.monotonic() + COUNT_DROP_TIMEOUT_S
        seen = []
        i = 0
        while time.monotonic() < deadline:
            await ws.send(f"poll{i}")
            got = await ws.recv()
            seen.append(got)
            if got == reply(f"poll{i}", want):
                return
            self.assertTrue(got.startswith(f"[Durable Object] message: poll{i}, connections: "),
                            got)
            i += 1
            await asyncio.sleep(0.02)   # poll interval, not synchronisation
        self.fail(f"count never reached {want} in {COUNT_DROP_TIMEOUT_S}s; last replies "
                  f"{seen[-3:]}")

    def test_count_drops_after_tcp_drop(self):
        gw = Gateway(self)

        async def body():
            a = await connect(gw.ws_url())
            b = await connect(gw.ws_url())
            try:
                await b.send("x")
                self.assertEqual(await b.recv(), reply("x", 2))
                a.transport.abort()   # RST, no close frame
                await self.poll_until_count(b, 1)
            finally:
                await close_all([a, b])
        run_async(body())

    def test_count_drops_after_write_shutdown(self):
        gw = Gateway(self)
        a = gw.ws_open()

        async def body():
            async with connect(gw.ws_url()) as b:
                await b.send("x")
                self.assertEqual(await b.recv(), reply("x", 2))
                a.sock.shutdown(socket.SHUT_WR)
                await self.poll_until_count(b, 1)
        run_async(body())

    def test_foo_websocket_and_websocket_share_the_object(self):
        gw = Gateway(self, workers=2)

        async def body():
            a = await connect(gw.ws_url("/websocket"))
            b = await connect(gw.ws_url("/foo/websocket"))
            try:
                await a.send("a")
                self.assertEqual(await a.recv(), reply("a", 2))
                await b.send("b")
                self.assertEqual(await b.recv(), reply("b", 2))
            finally:
                await close_all([a, b])
        run_async(body())

    def test_close_code_is_echoed(self):
        gw = Gateway(self)

        async def body():
            ws = await connect(gw.ws_url())
            await ws.send("hi")
            self.assertEqual(await ws.recv(), reply("hi", 1))
            await ws.close(4001, "bye")
            self.assertEqual(ws.close_code, 4001)
            self.assertEqual(ws.close_reason, SEED_CLOSE_REASON.decode())
        run_async(body())
        gw.wait_for_line(r"mod=access .*event=ws_closed\b.*\bobj=seed/foo\b.*"
                         r"\bcode_sent=4001 code_recv=4001\b")

    def test_close_code_echo_raw_and_tcp_closed(self):
        gw = Gateway(self)
        for code in (1000, 1001, 3000, 4999):
            with self.subTest(code=code):
                c = gw.ws_open()
                c.send(frame(OP_CLOSE, close_payload(code, b"bye")))
                f = c.read_frame()
                self.assertEqual((f.opcode, f.fin, f.masked), (OP_CLOSE, True, False), f)
                self.assertEqual(f.close_code, code, f)
                self.assertEqual(f.close_reason, SEED_CLOSE_REASON, f)
                c.read_eof()

    def test_empty_close_gets_1000(self):
        gw = Gateway(self)
        c = gw.ws_open()
        c.send(frame(OP_CLOSE, b""))
        f = c.read_frame()
        self.assertEqual(f.opcode, OP_CLOSE, f)
        self.assertEqual(f.close_code, 1000, f)
        self.assertEqual(f.close_reason, SEED_CLOSE_REASON, f)
        c.read_eof()

    def test_frames_in_the_upgrade_write_are_answered(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(ws_request() + frame(OP_TEXT, "early") + frame(OP_BINARY, b"\x01\x02")
               + frame(OP_TEXT, "late"))
        self.assertEqual(c.read_response().raw, R101_SAMPLE)
        for text in ("early", "[object ArrayBuffer]", "late"):
            f = c.read_frame()
            self.assertEqual((f.opcode, f.fin), (OP_TEXT, True), f)
            self.assertEqual(f.payload.decode(), reply(text, 1))

    def test_count_is_shared_across_raw_and_library_clients(self):
        gw = Gateway(self)
        raw = gw.ws_open("/x/websocket")

        async def body():
            async with connect(gw.ws_url()) as ws:
                await ws.send("lib")
                self.assertEqual(await ws.recv(), reply("lib", 2))
        run_async(body())
        raw.send(frame(OP_TEXT, "raw"))
        f = raw.read_frame()
        self.assertEqual(f.payload.decode(), reply("raw", 1))


if __name__ == "__main__":
    unittest.main()

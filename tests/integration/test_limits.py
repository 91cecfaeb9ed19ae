"""tests/integration/test_limits.py: the echo class, message limits and RFC 6455 protocol errors
(docs/design.md sections 9 and 10).

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_limits.py -v
"""

import os
import unittest

import websockets

from harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Gateway,
                     close_payload, frame, run_async)

CONFIG = """\
[route echo]
match = exact /echo
class = echo
object = echo

[route seed]
match = suffix /websocket
class = seed
object = foo
"""

MAX_MESSAGE = 32 * 1024 * 1024
ZERO_KEY = b"\x00\x00\x00\x00"   # a valid mask that leaves the payload as is: cheap big frames


def connect(url):
    return websockets.connect(url, compression=None, open_timeout=5, close_timeout=2,
                              ping_interval=None, max_size=None, max_queue=None,
                              write_limit=1 << 26)


class EchoTest(unittest.TestCase):

    def test_echo_text_and_binary(self):
        gw = Gateway(self, config=CONFIG)

        async def body():
            async with connect(gw.ws_url("/echo")) as ws:
                for msg in ("hello", "", "héllo ☃ 𝄞", "x" * 70000):
                    await ws.send(msg)
                    got = await ws.recv()
                    self.assertIsInstance(got, str)
                    self.assertEqual(got, msg)
                for msg in (b"\x00\x01\xff", b"", bytes(range(256)) * 300):
                    await ws.send(msg)
                    got = await ws.recv()
                    self.assertIsInstance(got, bytes)
                    self.assertEqual(got, msg)
        run_async(body())

    def test_seed_route_still_answers_next_to_echo(self):
        gw = Gateway(self, config=CONFIG)

        async def body():
            async with connect(gw.ws_url("/websocket")) as ws:
                await ws.send("hello")
                self.assertEqual(await ws.recv(),
                                 "[Durable Object] message: hello, connections: 1")
        run_async(body())

    def test_message_of_exactly_32_mib_is_echoed(self):
        gw = Gateway(self, config=CONFIG)
        data = os.urandom(MAX_MESSAGE)

        async def body():
            async with connect(gw.ws_url("/echo")) as ws:
                await ws.send(data)
                try:
                    got = await ws.recv()
                except websockets.ConnectionClosed:
                    self.fail(f"closed instead of echoing: code={ws.close_code} "
                              f"reason={ws.close_reason!r}")
                self.assertEqual(len(got), MAX_MESSAGE)
                self.assertTrue(got == data, "32 MiB echo differs")
        run_async(body(), timeout=30)

    def test_message_over_32_mib_closes_1009(self):
        gw = Gateway(self, config=CONFIG)
        data = bytes(MAX_MESSAGE + 1)

        async def body():
            ws = await connect(gw.ws_url("/echo"))
            try:
                await ws.send(data)
            except websockets.ConnectionClosed:
                pass
            with self.assertRaises(websockets.ConnectionClosed):
                await ws.recv()
            await ws.wait_closed()
            self.assertEqual(ws.close_code, 1009, ws.close_reason)
        run_async(body(), timeout=30)

    def test_fragmented_message_over_32_mib_closes_1009(self):
        gw = Gateway(self, config=CONFIG)
        c = gw.ws_open("/echo")
        half = bytes(MAX_MESSAGE // 2)
        c.send(frame(OP_BINARY, half, fin=False, key=ZERO_KEY)
               + frame(OP_CONT, half, fin=False, key=ZERO_KEY)
               + frame(OP_CONT, b"x", fin=True, key=ZERO_KEY))
        expect_close(self, c, 1009)

    def test_ping_gets_pong_with_same_payload(self):
        gw = Gateway(self, config=CONFIG)
        c = gw.ws_open("/echo")
        for payload in (b"hello-ping", b"", os.urandom(125)):
            c.send(frame(OP_PING, payload))
            f = c.read_frame()
            self.assertEqual((f.opcode, f.fin, f.masked), (OP_PONG, True, False), f)
            self.assertEqual(f.payload, payload)

    def test_fragmented_text_with_ping_in_the_middle(self):
        gw = Gateway(self, config=CONFIG)
        c = gw.ws_open("/echo")
        c.send(frame(OP_TEXT, "Hel", fin=False) + frame(OP_CONT, "lo, ", fin=False)
               + frame(OP_PING, b"mid") + frame(OP_CONT, "world €", fin=True))
        frames = sorted((c.read_frame() for _ in range(2)), key=lambda f: f.opcode)
        self.assertEqual([(f.opcode, f.payload) for f in frames],
                         [(OP_TEXT, "Hello, world €".encode()), (OP_PONG, b"mid")])
        self.assertTrue(frames[0].fin)

    def test_utf8_sequence_split_across_fragments_is_valid(self):
        gw = Gateway(self, config=CONFIG)
        c = gw.ws_open("/echo")
        euro = "€".encode()
        c.send(frame(OP_TEXT, b"a" + euro[:2], fin=False) + frame(OP_CONT, euro[2:] + b"b"))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, b"a" + euro + b"b"))


def expect_close(test, c, code, answer=True):
    """Reads the server's close frame (the next frame), asserts its code, answers it (unless
    the client already sent a close), and asserts the server then closes TCP."""
    f = c.read_frame()
    test.assertEqual((f.opcode, f.masked), (OP_CLOSE, False), f)
    test.assertEqual(f.close_code, code, f)
    if answer:
        try:
            c.send(frame(OP_CLOSE, close_payload(code)))
        except (BrokenPipeError, ConnectionResetError):
            pass
    c.read_eof()


class ProtocolErrorTest(unittest.TestCase):

    def check(self, wire, code, target="/echo"):
        self.check_all([(wire, code)], target)

    def check_all(self, cases, target="/echo"):
        """Sends each (wire, code) case on its own connection, all at once (a server may wait
        its close timeout on each), then checks every close."""
        conns = [self.gw.ws_open(target) for _ in cases]
        for c, (wire, _) in zip(conns, cases):
            c.send(wire)
        for c, (wire, code) in zip(conns, cases):
            with self.subTest(wire=wire[:16]):
                expect_close(self, c, code, answer=(wire[0] & 0xF) != OP_CLOSE)

    def setUp(self):
        self.gw = Gateway(self, config=CONFIG)

    def test_invalid_utf8_text_closes_1007(self):
        self.check_all([(frame(OP_TEXT, b"ok\xff\xfe"), 1007),
                        (frame(OP_TEXT, b"\xed\xa0\x80"), 1007),     # a UTF-16 surrogate
                        (frame(OP_TEXT, b"\xc0\xaf"), 1007),         # overlong
                        (frame(OP_TEXT, b"\xc3"), 1007)])             # truncated at the end

    def test_invalid_utf8_on_the_seed_route_closes_1007(self):
        self.check(frame(OP_TEXT, b"\xff"), 1007, "/websocket")

    def test_invalid_utf8_split_across_fragments_closes_1007(self):
        euro = "€".encode()
        self.check_all([(frame(OP_TEXT, b"a" + euro[:2], fin=False) + frame(OP_CONT, b"(b"), 1007),
                        (frame(OP_TEXT, b"a" + euro[:2], fin=False) + frame(OP_CONT, b""), 1007)])

    # Unmasked frames (conformance 1.3.3), RSV bits (3.1), reserved opcodes (4.1), control
    # frames over 125 bytes (2.5) or fragmented (5.1), orphan continuations (5.9), a new message
    # inside a fragmented one (5.14), invalid close codes (7.9), a 1-byte close payload (7.3.2)
    # and a close reason that is not UTF-8 (7.5.1) are checked once, in the conformance suite.


if __name__ == "__main__":
    unittest.main()

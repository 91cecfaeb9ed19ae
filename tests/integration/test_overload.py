"""tests/integration/test_overload.py: one bad client costs only its own socket (issue 11):
a client that never reads is closed by [websocket] write_timeout_ms, a member that never reads
is dropped from a broadcast with a slow_consumer warning, and a flooder is closed by
[websocket] messages_per_second while the others keep working.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... /usr/bin/python3 tests/integration/test_overload.py -v
"""

import asyncio
import os
import unittest

import websockets

from harness import (OP_CLOSE, OP_TEXT, Gateway, frame, never_reading, probe_echo_config,
                     run_async, ws_request)

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
ZERO_KEY = b"\x00\x00\x00\x00"


def config(websocket=""):
    return probe_echo_config(PROBE_SO, websocket=websocket)


def connect(url):
    return websockets.connect(url, compression=None, open_timeout=5, close_timeout=2,
                              ping_interval=None, max_size=None)



class OverloadTest(unittest.TestCase):

    def test_never_reading_client_closed_by_write_timeout(self):
        gw = Gateway(self, config=config("write_timeout_ms = 300\nclose_timeout_ms = 300\n"))
        c = never_reading(gw, "/echo")
        mark = gw.mark()
        # 8 MiB of echoes: more than the socket buffers hold, less than outbound_max_bytes, so
        # only the write timeout can close it; then nothing new is queued for it.
        msg = frame(OP_TEXT, b"x" * (1 << 20), key=ZERO_KEY)
        c.sock.settimeout(10)
        for _ in range(8):
            c.send(msg)
        gw.wait_for_line(r"event=slow_consumer path=write_timeout", 10, mark)
        gw.wait_for_line(r"event=ws_error code=1008", 10, mark)
        # closed by the worker (the close timer: the close frame is stuck behind the output)
        gw.wait_for_line(r"event=ws_closed .*code_sent=1008", 10, mark)
        # the worker is fine
        async def after():
            async with connect(gw.ws_url("/echo")) as ws:
                await ws.send("still here")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "still here")
        run_async(after())

    def test_broadcast_drops_a_member_that_never_reads(self):
        gw = Gateway(self, config=config("outbound_max_bytes = 65536\nclose_timeout_ms = 300\n"))
        lazy = never_reading(gw, "/probe/room")
        mark = gw.mark()
        payload = "y" * 60000

        async def flood():
            async with connect(gw.ws_url("/probe/room")) as ws:
                closed = False
                for _ in range(400):
                    await ws.send("bcast::" + payload)
                    got = await asyncio.wait_for(ws.recv(), 5)
                    if got == payload:
                        got = await asyncio.wait_for(ws.recv(), 5)
                    self.assertTrue(got.startswith("sent:"), got[:40])
                    if got == "sent:1":
                        closed = True
                        break
                self.assertTrue(closed, "the member that never reads was never dropped")
                await ws.send("count:")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "count:1")
        run_async(flood(), timeout=60)
        gw.wait_for_line(r"event=slow_consumer path=broadcast", 10, mark)
        gw.wait_for_line(r"event=ws_closed .*code_sent=1008", 10, mark)
        lazy.close()

    def test_rate_limit_closes_the_flooder_only(self):
        gw = Gateway(self, config=config("messages_per_second = 20\n"))

        async def body():
            async with connect(gw.ws_url("/echo")) as calm:
                flooder = gw.connect()
                flooder.send(ws_request("/echo"))
                self.assertEqual(flooder.read_response().code, 101)
                flooder.send(b"".join(frame(OP_TEXT, b"%d" % i) for i in range(200)))
                echoed = 0
                while True:
                    f = await asyncio.to_thread(flooder.read_frame)
                    if f.opcode == OP_CLOSE:
                        break
                    echoed += 1
                self.assertEqual(f.close_code, 1008)
                self.assertEqual(f.close_reason, b"message rate limit")
                self.assertLessEqual(echoed, 40)  # the burst, plus what the rate refilled
                for i in range(5):
                    await calm.send(f"calm {i}")
                    self.assertEqual(await asyncio.wait_for(calm.recv(), 5), f"calm {i}")
        run_async(body(), timeout=30)
        gw.wait_for_line(r"event=rate_limited limit=20", 5)


if __name__ == "__main__":
    unittest.main()

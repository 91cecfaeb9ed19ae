#!/usr/bin/env python3
"""tests/clients/test_python_websockets.py: duro against Python's `websockets` client (Debian
python3-websockets 10.4), run with python3.

Usage: DURO_GATEWAY=... DURO_WORKER=... python3 test_python_websockets.py [-k REGEX] [--list] [-v]
Skips (exit 77, the reason printed) when the websockets module is missing.
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "lib"))

from duro_test import Duro, print_result, report, runner_args, select_cases  # noqa: E402

SKIP = 77
try:
    import websockets
except ImportError as e:
    print(f"SKIP python websockets: the module is not installed ({e}); "
          "apt-get install python3-websockets")
    sys.exit(SKIP)

SEED_REASON = "Durable Object is closing WebSocket"
TEST_TIMEOUT_S = 60.0
SUITE_BUDGET_S = 120.0


def connect(url, **kw):
    opts = dict(open_timeout=5, close_timeout=5, ping_interval=None, max_size=64 << 20)
    opts.update(kw)
    return websockets.connect(url, **opts)


async def echo(d):
    url = f"ws://{d.addr[0]}:{d.addr[1]}/echo"
    async with connect(url, compression=None) as ws:
        for msg in ("hello", "", "héllo ☃ 𝄞", "x" * 70000):
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(got, str) and got == msg, f"text echo of {len(msg)} chars: {got!r:.80}"
        for msg in (b"\x00\x01\xff", b"", bytes(range(256)) * 4096):
            await ws.send(msg)
            got = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(got, bytes) and got == msg, f"binary echo of {len(msg)} bytes"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        # Fragmented message from an async iterator: sent as continuation frames.
        await ws.send(iter(["frag", "ment", "ed"]))
        got = await asyncio.wait_for(ws.recv(), 5)
        assert got == "fragmented", f"fragmented echo: {got!r}"
    assert ws.close_code == 1000, f"close code {ws.close_code}"


async def seed(d):
    base = f"ws://{d.addr[0]}:{d.addr[1]}"
    async with connect(base + "/websocket", compression=None) as a:
        await a.send("hello")
        got = await asyncio.wait_for(a.recv(), 5)
        assert got == "[Durable Object] message: hello, connections: 1", got
        async with connect(base + "/x/websocket", compression=None) as b:
            await b.send(b"\x01\x02")
            got = await asyncio.wait_for(b.recv(), 5)
            assert got == "[Durable Object] message: [object ArrayBuffer], connections: 2", got
            await b.close(code=4000, reason="bye")
        assert b.close_code == 4000, f"seed close code {b.close_code}"
        assert b.close_reason == SEED_REASON, f"seed close reason {b.close_reason!r}"
        await a.send("again")
        got = await asyncio.wait_for(a.recv(), 5)
        assert got == "[Durable Object] message: again, connections: 1", got


async def deflate_negotiated(d):
    url = f"ws://{d.addr[0]}:{d.addr[1]}/echo"
    async with connect(url, compression="deflate") as ws:   # websockets' default offer
        ext = ws.response_headers.get_all("Sec-WebSocket-Extensions")
        assert ext == ["permessage-deflate; server_no_context_takeover; "
                       "client_no_context_takeover"], f"answer {ext}"
        assert len(ws.extensions) == 1, f"extensions negotiated: {ws.extensions}"
        for size in (1, 63, 64, 4096, 65536, 1 << 20):
            text = ("compress me " * (size // 12 + 1))[:size]
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert got == text, f"text echo of {size} B"
            data = bytes([size % 251]) * size
            await ws.send(data)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert got == data, f"binary echo of {size} B"
    # the seed's reply is the same bytes, compressed or not
    seed = f"ws://{d.addr[0]}:{d.addr[1]}/websocket"
    replies = []
    for compression in ("deflate", None):
        async with connect(seed, compression=compression) as ws:
            await ws.send("the same reply " * 20)
            replies.append(await asyncio.wait_for(ws.recv(), 5))
    assert replies[0] == replies[1], replies


async def too_big(d):
    url = f"ws://{d.addr[0]}:{d.addr[1]}/echo"
    async with connect(url, compression=None, write_limit=1 << 26) as ws:
        await ws.send(b"\x5a" * ((32 << 20) + 1))
        try:
            await asyncio.wait_for(ws.recv(), 30)
            raise AssertionError("a message over 32 MiB was echoed")
        except websockets.ConnectionClosed:
            pass
    assert ws.close_code == 1009, f"close code {ws.close_code} for a message over the limit"


CASES = [("echo", echo), ("seed", seed), ("deflate negotiated", deflate_negotiated),
         ("32 MiB + 1 gets 1009", too_big)]


def main():
    args = runner_args(__doc__)
    cases = select_cases(CASES, args.filter, lambda c: (c[0],))
    if args.list:
        for name, _ in cases:
            print(name)
        print(f"{len(cases)} cases")
        return 0
    t_start = time.monotonic()
    results = []
    with Duro() as d:
        for name, fn in cases:
            t0 = time.monotonic()
            try:
                asyncio.run(asyncio.wait_for(fn(d), TEST_TIMEOUT_S))
                err = None
            except Exception as e:  # any failure of the client or an assertion
                err = f"{type(e).__name__}: {e}"
            results.append((f"python websockets: {name}", err))
            print_result(results[-1][0], err, time.monotonic() - t0, args.verbose)
        sanitizer = list(d.sanitizer_lines)
        if any(r[1] for r in results):
            print(d.tail(20))
    suite_failures = [("sanitizer reports in the servers' stderr:", sanitizer)] if sanitizer else []
    return report("python websockets", results, suite_failures, time.monotonic() - t_start,
                  SUITE_BUDGET_S)

if __name__ == "__main__":
    sys.exit(main())

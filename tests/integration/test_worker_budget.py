"""tests/integration/test_worker_budget.py: a worker's memory is bounded by configuration (issue 11
items 2 and 4): [websocket] worker_buffer_max_bytes closes the largest backlog with 1008 and refuses a
large message with 1009; many members of a room that never read keep the worker's RSS under the
budget; the per-iteration read budget keeps a flooding socket from delaying another; a streaming
load plus a connection burst at the default heartbeat kills no worker.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... /usr/bin/python3 tests/integration/test_worker_budget.py -v
"""

import asyncio
import fcntl
import os
import re
import signal
import struct
import termios
import threading
import unittest
import urllib.request

import websockets

from harness import (OP_CLOSE, OP_TEXT, WORKER, Gateway, _sanitized, frame, never_reading,
                     probe_echo_config, run_async, wait_until)

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
ZERO_KEY = b"\x00\x00\x00\x00"
MIB = 1 << 20


def config(websocket="", server=""):
    return probe_echo_config(PROBE_SO, server=server, websocket=websocket)


def connect(url):
    return websockets.connect(url, compression=None, open_timeout=10, close_timeout=2,
                              ping_interval=None, max_size=None)



# AddressSanitizer keeps freed memory in quarantine (up to 256 MiB) and adds shadow memory:
# there RSS says nothing about the budget, and only the worker's own accounting is checked.
RSS_MEANINGFUL = not _sanitized(WORKER)


def assert_grown_under(test, pid, base_kib, bound):
    grown = (status_kib(pid, "VmHWM") - base_kib) * 1024
    if RSS_MEANINGFUL:
        test.assertLess(grown, bound, f"worker grew by {grown >> 20} MiB")


def status_kib(pid, key):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def metric(gw, name):
    url = f"http://{gw.admin[0]}:{gw.admin[1]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    if m is None:
        raise AssertionError(f"{name} not in /metrics")
    return float(m.group(1))


class BudgetTest(unittest.TestCase):

    def test_never_reading_room_stays_under_the_budget_and_the_largest_backlog_goes(self):
        budget = 8 * MIB
        # The per-socket bound and the write timeout are out of the way: only the worker's
        # budget can stop the backlogs.
        gw = Gateway(self, config=config(f"worker_buffer_max_bytes = {budget}\n"
                                         "outbound_max_bytes = 268435456\n"
                                         "write_timeout_ms = 600000\nclose_timeout_ms = 300\n"))
        [pid] = gw.worker_pids()
        base_kib = status_kib(pid, "VmRSS")
        mark = gw.mark()
        early = never_reading(gw, "/probe/room?tags=lazy")
        early_port = early.sock.getsockname()[1]
        size = 256 * 1024
        total = 48 * MIB  # far more than the budget: without it the worker would hold it all
        count = total // size

        async def body():
            async with connect(gw.ws_url("/probe/room")) as sender, \
                       connect(gw.ws_url("/probe/room?tags=reader")) as reader:
                late = []
                received = 0

                async def read_all():
                    nonlocal received
                    while received < count:
                        got = await asyncio.wait_for(reader.recv(), 30)
                        self.assertEqual(len(got), size)
                        received += 1

                reading = asyncio.create_task(read_all())
                for i in range(count):
                    if i == 8:
                        # Members that join later hold less than the early one.
                        late.extend(never_reading(gw, "/probe/room?tags=lazy") for _ in range(20))
                    body = chr(ord("a") + i % 26) * (size - 8) + "%08d" % i
                    await sender.send("bcast:" + ":" + body)
                    while True:  # its own copy, then the count
                        got = await asyncio.wait_for(sender.recv(), 30)
                        if got.startswith("sent:"):
                            break
                await asyncio.wait_for(reading, 60)
                self.assertEqual(received, count)  # the member that reads got everything
                await sender.send("count:")
                self.assertRegex(await asyncio.wait_for(sender.recv(), 5), r"^count:\d+$")
                return late
        late = run_async(body(), timeout=180)
        # The early member had the largest backlog: it went first, with 1008.
        first = gw.wait_for_line(r"event=buffer_budget_close backlog=\d+ ", 10, mark).string
        conn = re.search(r"conn=(\d+) obj=probe/room ", first).group(1)
        closed = gw.wait_for_line(r"event=ws_closed conn=%s obj=probe/room " % conn, 10, mark).string
        self.assertIn(f"client=127.0.0.1:{early_port} ", closed)
        self.assertIn("code_sent=1008", closed)
        self.assertGreaterEqual(metric(gw, "duro_buffer_budget_closes_total"), 1)
        # The worker never grew past the budget plus its fixed costs; it is the same worker.
        assert_grown_under(self, pid, base_kib, budget + 12 * MIB)
        self.assertEqual(gw.worker_pids(), [pid])
        self.assertLessEqual(metric(gw, "duro_worker_buffered_bytes"), budget)
        early.close()
        for c in late:
            c.close()

        async def after():
            async with connect(gw.ws_url("/echo")) as ws:
                await ws.send("still here")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "still here")
        run_async(after())

    def test_never_reading_echo_clients_are_closed_largest_backlog_first(self):
        budget = 16 * MIB
        gw = Gateway(self, config=config(f"worker_buffer_max_bytes = {budget}\n"
                                         "outbound_max_bytes = 268435456\n"
                                         "write_timeout_ms = 600000\nclose_timeout_ms = 300\n"))
        [pid] = gw.worker_pids()
        base_kib = status_kib(pid, "VmRSS")
        mark = gw.mark()
        msg = frame(OP_TEXT, b"e" * MIB, key=ZERO_KEY)
        # Each client's echoes are its own bytes: nothing is shared. The kernel holds about
        # 4 MiB of each socket's output (tcp_wmem); the rest waits in the worker. The big one
        # sends 8 MiB (its buffers, charged by capacity, stay within the budget); then the
        # others' echoes and messages need room: the big one's backlog goes first.
        big = never_reading(gw, "/echo")
        big_port = big.sock.getsockname()[1]
        for _ in range(8):
            big.send(msg)
        wait_until(lambda: metric(gw, "duro_messages_in_total") >= 8, 10,
                   "the worker to have echoed the big one's messages")
        small = []
        for _ in range(6):
            c = never_reading(gw, "/echo")
            for _ in range(6):
                c.send(msg)
            small.append(c)
        line = gw.wait_for_line(r"event=buffer_budget_close ", 20, mark).string
        conn = re.search(r"conn=(\d+) obj=echo/echo ", line).group(1)
        closed = gw.wait_for_line(r"event=ws_closed conn=%s obj=echo/echo " % conn, 10, mark).string
        self.assertIn(f"client=127.0.0.1:{big_port} ", closed)
        self.assertIn("code_sent=1008", closed)

        async def served():
            async with connect(gw.ws_url("/echo")) as ws:
                await ws.send("x" * 1000)
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "x" * 1000)
        run_async(served())
        assert_grown_under(self, pid, base_kib, budget + 12 * MIB)
        self.assertEqual(gw.worker_pids(), [pid])
        self.assertLessEqual(metric(gw, "duro_worker_buffered_bytes"), budget)
        big.close()
        for c in small:
            c.close()

    def test_message_that_would_pass_the_budget_is_refused_1009(self):
        gw = Gateway(self, config=config(f"worker_buffer_max_bytes = {2 * MIB}\n"))
        mark = gw.mark()
        c = gw.ws_open("/echo")
        c.send(frame(OP_TEXT, b"b" * (3 * MIB), key=ZERO_KEY))
        f = c.read_frame()
        self.assertEqual(f.opcode, OP_CLOSE)
        self.assertEqual(f.close_code, 1009)
        gw.wait_for_line(r"event=buffer_budget_refused worker_buffered=\d+ limit=2097152", 5, mark)
        self.assertEqual(metric(gw, "duro_buffer_budget_refused_total"), 1)

        async def fits():
            async with connect(gw.ws_url("/echo")) as ws:
                for n in (100, 60000, 512 * 1024):  # small, and large within the budget
                    await ws.send("s" * n)
                    self.assertEqual(len(await asyncio.wait_for(ws.recv(), 10)), n)
        run_async(fits())

    def test_a_flooding_socket_cannot_delay_another_by_more_than_its_read_share(self):
        # C reads, in the one order the worker handled them, the broadcasts of A (a flood of
        # 16 KiB messages) and of B (one marker). A first streams 32 MiB that the worker reads
        # at once, so that the kernel may grow A's receive window; then, with the worker idle
        # and stopped, A's flood fills that window and B's marker arrives behind it.
        # Once resumed, the worker reads at most 256 KiB (plus the read that crosses it) of A
        # before it turns to B; without the read budget libuv reads 32 x 64 KiB of A first.
        gw = Gateway(self, config=config(server="heartbeat_timeout_ms = 30000\n"))
        [pid] = gw.worker_pids()
        size = 16 * 1024
        warm = frame(OP_TEXT, b"bcast:z:" + b"w" * (size - 8), key=ZERO_KEY) * 2048
        flood = frame(OP_TEXT, b"bcast:c:" + b"a" * (size - 8), key=ZERO_KEY) * 1024

        def outq(sock):
            return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]

        async def body():
            async with connect(gw.ws_url("/probe/r?tags=c")) as c:
                a = gw.ws_open("/probe/r")
                b = gw.ws_open("/probe/r")
                a.sock.settimeout(60)
                a.sock.sendall(warm)  # tag z has no socket: nothing is sent but "sent:0"
                wait_until(lambda: metric(gw, "duro_messages_in_total") >= 2048, 30,
                           "the worker to handle A's warm-up")
                os.kill(pid, signal.SIGSTOP)
                sent = [0]

                def send_flood():  # sendall, counting what the kernel took
                    view = memoryview(flood)
                    while sent[0] < len(view):
                        sent[0] += a.sock.send(view[sent[0]:sent[0] + 65536])
                try:
                    sender = threading.Thread(target=send_flood, daemon=True)
                    sender.start()
                    # bytes A could not send: the worker's receive window for A is full
                    wait_until(lambda: outq(a.sock) >= 1 << 20, 10, "A's window to fill")
                    queued = sent[0] - outq(a.sock)  # in the stopped worker's receive queue
                    b.send(frame(OP_TEXT, b"bcast:c:MARK", key=ZERO_KEY))
                finally:
                    os.kill(pid, signal.SIGCONT)
                before = 0
                while True:
                    got = await asyncio.wait_for(c.recv(), 30)
                    if got == "MARK":
                        break
                    before += 1
                await asyncio.to_thread(sender.join, 60)
                return before, queued
        before, queued = run_async(body(), timeout=120)
        # A's share of one iteration (256 KiB), plus the read that crossed it; twice, should the
        # stop have caught the worker inside an iteration (its poll then predates B's marker).
        # Without the budget: 2 MiB per iteration, 128 messages.
        self.assertLessEqual(before, 2 * (256 * 1024 + 64 * 1024) // size + 1,
                             f"{before} of A's messages went before B's")
        # The budget shows when one iteration reads more of a socket than it lets through: in
        # the warm-up, when the kernel keeps refilling A's queue while the worker reads, or in
        # the flood when A's window grew past 256 KiB. The kernel decides both: on this kind of
        # machine the window often stays at 64 KiB, and on a loaded one the warm-up's reads come
        # up short. Without a pause and without the queue to cause one, this run cannot tell.
        pauses = metric(gw, "duro_read_budget_pauses_total")
        if pauses == 0 and queued < 384 * 1024:
            self.skipTest(f"no read budget pause, and A had {queued} bytes queued at the resume: "
                          "under the 384 KiB that the 256 KiB budget needs to be reached")
        self.assertGreater(pauses, 0, f"no read budget pause with {queued} bytes of A queued")

    def test_streaming_load_and_a_connect_burst_at_the_default_heartbeat(self):
        # The numbers: 20 clients echoing 1 MiB messages and 150 simultaneous connects,
        # two workers, every limit at its default.
        gw = Gateway(self, workers=2, config=config())
        pids = sorted(gw.worker_pids())
        mark = gw.mark()
        big = b"x" * MIB
        url = gw.ws_url("/echo")

        async def stream(rounds):
            async with connect(url) as ws:
                for _ in range(rounds):
                    await ws.send(big)
                    self.assertEqual(len(await asyncio.wait_for(ws.recv(), 30)), len(big))

        async def one(i):
            async with connect(gw.ws_url(f"/probe/burst{i}")) as ws:
                await ws.send("name")
                return await asyncio.wait_for(ws.recv(), 30)

        async def run():
            streams = [asyncio.create_task(stream(30)) for _ in range(20)]
            await asyncio.sleep(0)  # let the streams connect first; not synchronisation
            answers = await asyncio.gather(*(one(i) for i in range(150)))
            await asyncio.gather(*streams)
            return answers
        answers = run_async(run(), timeout=240)
        self.assertEqual(answers, [f"burst{i}" for i in range(150)])
        self.assertEqual(sorted(gw.worker_pids()), pids)
        self.assertFalse([l for l in gw.lines[mark:] if "event=worker_hung" in l])


if __name__ == "__main__":
    unittest.main()

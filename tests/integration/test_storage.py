"""tests/integration/test_storage.py: per-object storage, the output gate and alarms
(DESIGN.md section 8), through the built-in `counter` class and the probe class.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... /usr/bin/python3 \
     tests/integration/test_storage.py -v
"""

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import tempfile
import time
import unittest

import websockets

import harness
from harness import Gateway, run_async

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
RECOVERY_TIMEOUT_S = 10.0
CRASH_KILLS = 20
CRASH_CLIENTS = 10
CRASH_TOTAL_S = 120.0


def config(storage_dir, hibernate_ms=10000, probe=False, durability="full"):
    text = f"""
[objects]
hibernate_after_ms = {hibernate_ms}

[storage]
dir = {storage_dir}
durability = {durability}

[route counter]
match = path /counter/{{name}}/websocket
class = counter
object = {{name}}
"""
    if probe:
        text += f"""
[class probe]
path = {PROBE_SO}
symbol = probe_class

[route probe]
match = path /probe/{{name}}/websocket
class = probe
object = {{name}}
"""
    return text


async def ask(url, *messages, timeout=5.0):
    """Opens `url`, sends each message and returns the text replies."""
    async with websockets.connect(url, open_timeout=timeout, close_timeout=1) as ws:
        out = []
        for m in messages:
            await ws.send(m)
            out.append(await asyncio.wait_for(ws.recv(), timeout))
        return out


def ask_sync(url, *messages):
    return run_async(ask(url, *messages))


def storage_dir(test):
    d = tempfile.TemporaryDirectory(prefix="duro-storage-")
    test.addCleanup(d.cleanup)
    return d.name


def kill_worker(gw, slot=0):
    """SIGKILLs the worker of `slot` and waits until its successor is configured."""
    mark = gw.mark()
    old = gw.workers[slot][-1]
    os.kill(old, signal.SIGKILL)
    m = gw.wait_for_line(rf"event=worker_spawned worker={slot} worker_pid=(\d+)", RECOVERY_TIMEOUT_S,
                         start=mark)
    pid = int(m.group(1))
    gw.wait_for_line(rf"proc=worker pid={pid} .*event=configured\b", RECOVERY_TIMEOUT_S,
                     start=mark)
    return pid


class StorageTest(unittest.TestCase):

    def test_counter_protocol(self):
        gw = Gateway(self, config=config(storage_dir(self)))
        url = gw.ws_url("/counter/p/websocket")
        self.assertEqual(ask_sync(url, "get", "incr", "incr", "get", "fired"),
                         ["0", "1", "2", "2", "0"])

        async def unsupported():
            async with websockets.connect(url) as ws:
                await ws.send("nonsense")
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), 5)
                return cm.exception.rcvd

        rcvd = run_async(unsupported())
        self.assertEqual((rcvd.code, rcvd.reason), (1003, "unsupported command"))

    def test_storage_recovers_when_its_index_can_be_opened_again(self):
        # alarms.db unusable at start (a directory in its place): the worker logs it and its
        # storage calls fail with 1011; once the path is usable, a later call opens it again.
        d = storage_dir(self)
        os.mkdir(os.path.join(d, "alarms.db"))
        gw = Gateway(self, config=config(d), workers=1)
        gw.wait_for_line(r"event=index_open_failed", 5)
        url = gw.ws_url("/counter/r/websocket")

        async def refused():
            async with websockets.connect(url) as ws:
                await ws.send("incr")
                with self.assertRaises(websockets.ConnectionClosed) as cm:
                    await asyncio.wait_for(ws.recv(), 5)
                return cm.exception.rcvd.code

        self.assertEqual(run_async(refused()), 1011)
        os.rmdir(os.path.join(d, "alarms.db"))
        mark = gw.mark()

        deadline = time.monotonic() + 10
        while True:
            try:
                self.assertEqual(ask_sync(url, "incr", "get"), ["1", "1"])
                break
            except websockets.ConnectionClosed:  # within the retry interval: 1011 again
                self.assertLess(time.monotonic(), deadline, "storage never opened again")
                time.sleep(0.1)  # polling pace, not synchronisation
        gw.wait_for_line(r"event=storage_recovered worker=0", 5, mark)

    def test_survives_hibernation_worker_kill_and_gateway_restart(self):
        d = storage_dir(self)
        gw = Gateway(self, config=config(d, hibernate_ms=100))
        url = gw.ws_url("/counter/h/websocket")

        async def hibernate():
            async with websockets.connect(url) as ws:
                for want in ("1", "2", "3"):
                    await ws.send("incr")
                    self.assertEqual(await asyncio.wait_for(ws.recv(), 5), want)
                mark = gw.mark()
                await asyncio.get_running_loop().run_in_executor(
                    None, lambda: gw.wait_for_line(r"event=hibernate obj=counter/h\b",
                                                   start=mark))
                # Hibernated: the object's file is closed, no descriptor left.
                pid = gw.workers[0][-1]
                fds = [os.readlink(f"/proc/{pid}/fd/{f}") for f in os.listdir(f"/proc/{pid}/fd")]
                self.assertFalse([f for f in fds if f.endswith(".db") and "/counter/" in f], fds)
                await ws.send("get")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 5), "3")

        run_async(hibernate())
        kill_worker(gw)
        self.assertEqual(ask_sync(url, "get", "incr"), ["3", "4"])
        gw.stop()
        gw2 = Gateway(self, config=config(d))
        self.assertEqual(ask_sync(gw2.ws_url("/counter/h/websocket"), "get"), ["4"])

    def test_output_gate_under_worker_kills(self):
        """10 clients incr in a loop while the worker is SIGKILLed at random moments: after
        every restart, the stored value is at least every answered value and at most the
        number of incr sent. The supervisor's restart backoff doubles on quick deaths, so every
        fourth kill the gateway is restarted too (on the same storage)."""
        d = storage_dir(self)
        rnd = random.Random(12)
        state = {"gw": Gateway(self, config=config(d)), "sent": 0, "answered": 0, "stop": False}
        target = "/counter/crash/websocket"

        async def client():
            while not state["stop"]:
                try:
                    async with websockets.connect(state["gw"].ws_url(target), open_timeout=2,
                                                  close_timeout=0.5) as ws:
                        while not state["stop"]:
                            state["sent"] += 1
                            await ws.send("incr")
                            v = int(await asyncio.wait_for(ws.recv(), 5))
                            state["answered"] = max(state["answered"], v)
                except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                    await asyncio.sleep(0.02)

        async def check():
            deadline = time.monotonic() + RECOVERY_TIMEOUT_S
            while True:
                floor = state["answered"]
                try:
                    (got,) = await ask(state["gw"].ws_url(target), "get", timeout=2)
                    ceiling = state["sent"]
                    got = int(got)
                    self.assertGreaterEqual(got, floor, "an answered incr was lost")
                    self.assertLessEqual(got, ceiling, "more increments than were sent")
                    return got
                except (OSError, asyncio.TimeoutError, websockets.WebSocketException):
                    if time.monotonic() > deadline:
                        raise AssertionError("counter unreachable after a restart")
                    await asyncio.sleep(0.05)

        async def run():
            loop = asyncio.get_running_loop()
            tasks = [asyncio.create_task(client()) for _ in range(CRASH_CLIENTS)]
            start = time.monotonic()
            try:
                for k in range(CRASH_KILLS):
                    self.assertLess(time.monotonic() - start, CRASH_TOTAL_S)
                    await asyncio.sleep(rnd.uniform(0.05, 0.4))
                    gw = state["gw"]
                    if k % 4 == 3:
                        # Worker and gateway die together; the old one is reaped once the new
                        # one runs (on the same storage).
                        os.kill(gw.workers[0][-1], signal.SIGKILL)
                        os.kill(gw.proc.pid, signal.SIGKILL)
                        state["gw"] = await loop.run_in_executor(
                            None, lambda: Gateway(self, config=config(d)))
                        await loop.run_in_executor(None, gw.stop)
                    else:
                        await loop.run_in_executor(None, kill_worker, gw)
                    await check()
            finally:
                state["stop"] = True
                await asyncio.gather(*tasks, return_exceptions=True)
            return await check()

        final = run_async(run(), timeout=CRASH_TOTAL_S + 30)
        self.assertGreater(state["answered"], CRASH_KILLS, "the clients made little progress")
        self.assertGreaterEqual(final, state["answered"])

    def test_alarm_fires_after_worker_kill(self):
        gw = Gateway(self, config=config(storage_dir(self)))
        url = gw.ws_url("/counter/a/websocket")
        self.assertEqual(ask_sync(url, "alarm 1500"), ["ok"])
        mark = gw.mark()
        kill_worker(gw)
        gw.wait_for_line(r"event=fired obj=counter/a\b", timeout=10, start=mark)
        self.assertEqual(ask_sync(url, "fired"), ["1"])

    def test_alarm_broadcasts_to_open_sockets(self):
        gw = Gateway(self, config=config(storage_dir(self)))
        url = gw.ws_url("/counter/b/websocket")

        async def run():
            async with websockets.connect(url) as a, websockets.connect(url) as b:
                await a.send("alarm 50")
                self.assertEqual(await asyncio.wait_for(a.recv(), 5), "ok")
                self.assertEqual(await asyncio.wait_for(a.recv(), 5), "fired 1")
                self.assertEqual(await asyncio.wait_for(b.recv(), 5), "fired 1")

        run_async(run())

    def test_alarm_constructs_an_absent_object(self):
        gw = Gateway(self, config=config(storage_dir(self), hibernate_ms=100))
        url = gw.ws_url("/counter/lonely/websocket")
        self.assertEqual(ask_sync(url, "alarm 1000"), ["ok"])
        mark = gw.mark()
        gw.wait_for_line(r"event=destroy obj=counter/lonely\b", start=mark)
        gw.wait_for_line(r"event=construct obj=counter/lonely\b.*sockets=0", start=mark)
        start = max(i for i, l in enumerate(gw.lines) if "event=construct obj=counter/lonely" in l)
        gw.wait_for_line(r"event=fired obj=counter/lonely\b", start=start)
        gw.wait_for_line(r"event=destroy obj=counter/lonely\b", start=start)
        self.assertEqual(ask_sync(url, "fired"), ["1"])

    @unittest.skipUnless(PROBE_SO, "DURO_PROBE_SO not set")
    def test_alarm_retries_with_backoff(self):
        gw = Gateway(self, config=config(storage_dir(self), probe=True))
        url = gw.ws_url("/probe/r/websocket")
        self.assertEqual(ask_sync(url, "alarmfail:2:10"), ["ok"])
        gw.wait_for_line(r"event=fired obj=probe/r retry=0 rc=-1")
        # The first retry waits 2 s, the second 4 s: read the schedule, not the clock.
        (left,) = ask_sync(url, "alarmin")
        self.assertRegex(left, r"^alarmin:\d+$")
        self.assertGreater(int(left.split(":")[1]), 1000)
        gw.wait_for_line(r"event=fired obj=probe/r retry=1 rc=-1", timeout=10)
        (left,) = ask_sync(url, "alarmin")
        self.assertGreater(int(left.split(":")[1]), 3000)
        gw.wait_for_line(r"event=fired obj=probe/r retry=2 rc=0", timeout=10)
        self.assertEqual(ask_sync(url, "kv:alarm_ok", "alarmin"), ["kv:2", "alarmin:none"])

    @unittest.skipUnless(PROBE_SO, "DURO_PROBE_SO not set")
    def test_transaction_statements_refused(self):
        gw = Gateway(self, config=config(storage_dir(self), probe=True))
        url = gw.ws_url("/probe/sql/websocket")
        refused = "sql:-9"
        self.assertEqual(
            ask_sync(url, "sql:CREATE TABLE t(x)", "sql:INSERT INTO t VALUES (1)", "sql:BEGIN",
                     "sql:COMMIT", "sql:SAVEPOINT a", "sql:ATTACH 'x.db' AS x",
                     "sql:PRAGMA synchronous=OFF", "sql:VACUUM", "sql:DELETE FROM _duro_kv"),
            ["sql:0", "sql:1", refused, refused, refused, refused, refused, refused, refused])

    def test_unusable_storage_dir_fails_start_up(self):
        d = storage_dir(self)
        cases = [os.path.join(d, "missing")]
        blocker = os.path.join(d, "file")
        with open(blocker, "w", encoding="utf-8"):
            pass
        cases.append(blocker)
        if os.geteuid() != 0:
            ro = os.path.join(d, "ro")
            os.mkdir(ro, 0o555)
            cases.append(ro)
        for path in cases:
            with self.subTest(path=path):
                cfg = os.path.join(d, "bad.ini")
                with open(cfg, "w", encoding="utf-8") as f:
                    f.write(config(path))
                for extra in ([], ["--check"]):
                    r = subprocess.run([harness.GATEWAY, "-c", cfg, "--listen", "127.0.0.1:0",
                                        "--admin", "off", "--worker-bin", harness.WORKER, *extra],
                                       stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertIn(path.encode(), r.stderr)

    def test_metrics_count_commits(self):
        gw = Gateway(self, config=config(storage_dir(self)))
        ask_sync(gw.ws_url("/counter/m/websocket"), "incr", "incr", "alarm 10")
        gw.wait_for_line(r"event=fired obj=counter/m\b")
        deadline = time.monotonic() + 5
        while True:
            text = harness.curl("-s", f"http://{gw.admin[0]}:{gw.admin[1]}/metrics").decode()
            m = re.search(r"^duro_storage_commits_total (\d+)", text, re.M)
            f = re.search(r"^duro_alarms_fired_total (\d+)", text, re.M)
            if m and f and int(m.group(1)) >= 4 and int(f.group(1)) >= 1:
                break
            self.assertLess(time.monotonic(), deadline, text[-3000:])
            time.sleep(0.1)
        self.assertIn("duro_storage_commit_seconds_bucket", text)

    def test_objects_shows_storage_and_next_alarm(self):
        gw = Gateway(self, config=config(storage_dir(self)))
        url = gw.ws_url("/counter/o/websocket")

        async def run():
            async with websockets.connect(url) as ws:
                for m in ("incr", "alarm 600000"):
                    await ws.send(m)
                    await asyncio.wait_for(ws.recv(), 5)
                body = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: harness.curl("-s", f"http://{gw.admin[0]}:{gw.admin[1]}/objects"))
                return json.loads(body)

        doc = run_async(run())
        self.assertEqual((doc["partial"], doc["next"]), (False, None))
        objs = doc["objects"]
        (o,) = [o for o in objs if o["class"] == "counter" and o["name"] == "o"]
        self.assertGreater(o["storage_bytes"], 0)
        self.assertGreater(o["next_alarm_ms"], int(time.time() * 1000))


if __name__ == "__main__":
    unittest.main()

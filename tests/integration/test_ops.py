"""tests/integration/test_ops.py: running duro in production (docs/design.md sections 6 and 7):
the admin listener, signals (drain, reload), and supervision under faults.

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_ops.py -v
"""

import asyncio
import json
import os
import re
import shutil
import socket
import signal
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import websockets

from harness import (GATEWAY, WORKER, Gateway, admin_page, frame, pid_alive, run_async,
                     wait_until, ws_request)

SEED = "[Durable Object] message: {}, connections: {}"


def connect(url):
    return websockets.connect(url, compression=None, open_timeout=5, close_timeout=5,
                              ping_interval=None, max_size=None)


def admin_get(gw, path, timeout=5):
    """(status, body) of GET path on the admin listener."""
    url = f"http://{gw.admin[0]}:{gw.admin[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, name, labels=""):
    m = re.search(r"^" + re.escape(name + (("{" + labels + "}") if labels else "")) +
                  r" (\S+)$", text, re.M)
    if m is None:
        raise AssertionError(f"{name}{{{labels}}} not in /metrics")
    return float(m.group(1))


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class AdminTest(unittest.TestCase):

    def test_metrics_pass_promtool_and_move_with_traffic(self):
        gw = Gateway(self, workers=2)
        status, before = admin_get(gw, "/metrics")
        self.assertEqual(status, 200)

        async def traffic():
            async with connect(gw.ws_url()) as a, connect(gw.ws_url("/x/websocket")) as b:
                for i in range(3):
                    await a.send(f"m{i}")
                    await a.recv()
                await b.send(b"\x00")
                await b.recv()
                await a.close(4001)
        run_async(traffic())
        c = gw.connect()
        c.send(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.read_response().code, 400)
        # the closes are counted when the worker finishes them: poll the endpoint
        deadline = time.monotonic() + 5
        while True:
            status, after = admin_get(gw, "/metrics")
            if metric(after, "duro_websockets_open") == 0 or time.monotonic() > deadline:
                break
        self.assertEqual(status, 200)
        d = lambda n, l="": metric(after, n, l) - metric(before, n, l)
        self.assertEqual(d("duro_handoffs_total"), 2)
        self.assertEqual(d("duro_websockets_accepted_total"), 2)
        self.assertEqual(d("duro_messages_in_total"), 4)
        self.assertEqual(d("duro_messages_out_total"), 4)
        self.assertEqual(d("duro_http_responses_total", 'status="400"'), 1)
        self.assertEqual(d("duro_http_responses_total", 'status="101"'), 2)
        self.assertEqual(d("duro_handshake_seconds_count"), 2)
        self.assertGreaterEqual(d("duro_message_handling_seconds_count"), 2)
        self.assertEqual(d("duro_object_constructions_total"), 1)
        self.assertEqual(d("duro_websocket_closes_total", 'code="other"'), 1)  # 4001 echoed
        self.assertEqual(metric(after, "duro_workers_up"), 2)
        self.assertEqual(metric(after, "duro_objects", 'state="live"'), 1)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed (Debian package prometheus; "
                          "scripts/install-deps.sh installs it)")
        p = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_counters_stay_monotonic_across_a_worker_sigkill(self):
        gw = Gateway(self, workers=1)

        async def traffic(n):
            async with connect(gw.ws_url()) as a:
                for i in range(n):
                    await a.send(f"m{i}")
                    await a.recv()
        run_async(traffic(8))
        status, before = admin_get(gw, "/metrics")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(metric(before, "duro_messages_in_total"), 8)
        victim = gw.workers[0][-1]
        mark = gw.mark()
        os.kill(victim, signal.SIGKILL)
        gw.wait_for_line(r"event=worker_exited worker=0 ", 5, mark)
        gw.wait_for_line(r"event=worker_spawned worker=0 worker_pid=(?!%d\b)" % victim, 15, mark)
        wait_until(lambda: admin_get(gw, "/healthz")[0] == 200, 5, "/healthz 200")
        status, after = admin_get(gw, "/metrics")
        self.assertEqual(status, 200)
        run_async(traffic(3))
        status, later = admin_get(gw, "/metrics")
        self.assertEqual(status, 200)
        # duro's own counters; process_* describe one process each (a restarted worker is a new
        # process: its CPU starts again, and process_start_time_seconds says so, as the
        # Prometheus client libraries do), so they are not duro's to keep across restarts.
        counters = set(re.findall(r"^# TYPE (duro_\S+) (?:counter|histogram)$", before, re.M))
        self.assertIn("duro_messages_in_total", counters)
        self.assertIn("duro_worker_messages_in_total", counters)
        series = lambda text: {m.group(1): float(m.group(2)) for m in
                               re.finditer(r"^(\S+) (\S+)$", text, re.M)
                               if re.sub(r"(_bucket|_sum|_count)?(\{.*)?$", "", m.group(1))
                               in counters}
        b, a, l = series(before), series(after), series(later)
        for name, v in b.items():
            self.assertGreaterEqual(a[name], v, name)
            self.assertGreaterEqual(l[name], a[name], name)
        self.assertGreaterEqual(l["duro_messages_in_total"], b["duro_messages_in_total"] + 3)
        self.assertEqual(a["duro_worker_restarts_total"], b["duro_worker_restarts_total"] + 1)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed (Debian package prometheus; "
                          "scripts/install-deps.sh installs it)")
        for text in (before, after, later):
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_healthz_answers_with_1000_idle_admin_connections(self):
        gw = Gateway(self, workers=1)
        mark = gw.mark()
        idle = []
        try:
            for _ in range(1000):
                idle.append(socket.create_connection(gw.admin, timeout=5))
            for _ in range(3):
                status, body = admin_get(gw, "/healthz")
                self.assertEqual(status, 200, body)
            gw.wait_for_line(r"mod=admin .*event=cap_reached max=64 ", 5, mark)
        finally:
            for s in idle:
                s.close()

    def test_admin_head_timeout_is_the_configured_one(self):
        gw = Gateway(self, workers=1, config="[http]\nhead_timeout_ms = 200\n")
        s = socket.create_connection(gw.admin, timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"GET /hea")
        # closed after 200 ms, well within the 5 s socket timeout (the default would be 10 s)
        self.assertEqual(s.recv(100), b"")

    def test_worker_at_its_fd_limit_refuses_with_503_and_keeps_its_sockets(self):
        gw = Gateway(self, workers=1, nofile=256,
                     config="[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n")
        gw.wait_for_line(r"mod=main .*event=fd_limit soft=256 hard=256")
        pid = gw.workers[0][-1]
        # a /metrics answer carries the worker's fd headroom to the gateway
        status, text = admin_get(gw, "/metrics")
        self.assertEqual(status, 200)
        self.assertGreater(metric(text, "duro_worker_fd_headroom"), 64)
        held, refused = [], None
        try:
            for _ in range(300):
                c = gw.connect()
                c.send(ws_request("/echo"))
                r = c.read_response()
                if r.code == 503:
                    refused = r
                    c.close()
                    break
                self.assertEqual(r.code, 101, r.raw)
                held.append(c)
            self.assertIsNotNone(refused, "no 503 within 300 upgrades under ulimit -n 256")
            self.assertEqual(refused.header("Retry-After"), ["1"])
            self.assertGreater(len(held), 100)
            for c in (held[0], held[len(held) // 2], held[-1]):
                c.send(frame(0x1, b"still here"))
                f = c.read_frame()
                self.assertEqual((f.opcode, f.payload), (0x1, b"still here"))
            self.assertEqual(gw.worker_pids(), [pid])
            self.assertTrue(pid_alive(pid))
            status, text = admin_get(gw, "/metrics")
            self.assertGreaterEqual(metric(text, "duro_handoffs_refused_fd_total"), 1)
        finally:
            for c in held:
                c.close()

    def test_gateway_memory_returns_to_baseline_after_hand_offs_and_a_large_objects(self):
        with open(GATEWAY, "rb") as f:
            if b"__asan_init" in f.read():
                self.skipTest("ASan keeps freed memory in quarantine: RSS says nothing there")
        gw = Gateway(self, workers=1, config="[objects]\nhibernate_after_ms = 600000\n"
                     "[route rooms]\nmatch = path /rooms/{name}/websocket\nclass = chat\n"
                     "object = {name}\n")

        def rss_kib():
            with open(f"/proc/{gw.proc.pid}/status") as f:
                return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))
        self.assertEqual(admin_get(gw, "/objects")[0], 200)
        base = rss_kib()
        buffers = metric(admin_get(gw, "/metrics")[1], "duro_gateway_channel_buffer_bytes")
        names = [f"{i:05d}" + "n" * 200 for i in range(5000)]
        for n in names:
            c = gw.connect()
            c.send(ws_request(f"/rooms/{n}/websocket"))
            self.assertEqual(c.read_response().code, 101)
            c.close()
        # One page of 5000 (over 1 MB of JSON, in chunks of 256 from the worker).
        status, _, doc = admin_page(gw.admin, limit=5000)
        self.assertEqual(status, 200)
        self.assertEqual(len(doc["objects"]), 5000)
        self.assertIsNone(doc["next"])
        self.assertEqual(sorted(o["name"] for o in doc["objects"]), names)
        grown = rss_kib() - base
        self.assertLess(grown, 1024, f"gateway RSS grew {grown} KiB")
        # issue 10's defect 8: the channel's read buffer is back to its first size
        self.assertEqual(
            metric(admin_get(gw, "/metrics")[1], "duro_gateway_channel_buffer_bytes"), buffers)

    def test_objects_lists_every_object(self):
        gw = Gateway(self, workers=2)

        async def run():
            async with connect(gw.ws_url()) as a, connect(gw.ws_url()) as b:
                await a.send("x")
                await a.recv()
                status, body = await asyncio.to_thread(admin_get, gw, "/objects")
                self.assertEqual(status, 200)
                doc = json.loads(body)
                self.assertEqual((doc["partial"], doc["missing_workers"], doc["next"]),
                                 (False, [], None))
                objs = doc["objects"]
                self.assertEqual(len(objs), 1)
                o = objs[0]
                self.assertEqual((o["class"], o["name"], o["sockets"], o["state"]),
                                 ("seed", "foo", 2, "live"))
                self.assertRegex(o["id"], r"^[0-9a-f]{64}$")
                self.assertIn(o["worker"], (0, 1))
                self.assertGreaterEqual(o["last_event_ms_ago"], 0)
        run_async(run())
        status, body = admin_get(gw, "/nothing")
        self.assertEqual(status, 404)

    def test_healthz_503_while_a_worker_is_down_and_200_when_back(self):
        tmp = tempfile.mkdtemp(prefix="duro-ops-")
        self.addCleanup(shutil.rmtree, tmp, True)
        block = os.path.join(tmp, "block")
        wrapper = os.path.join(tmp, "worker.sh")
        with open(wrapper, "w") as f:  # a worker that fails to start while `block` exists
            f.write(f"#!/bin/sh\n[ -e {block} ] && exit 1\nexec {WORKER} \"$@\"\n")
        os.chmod(wrapper, stat.S_IRWXU)
        gw = Gateway(self, workers=2, worker_bin=wrapper)
        # worker_spawned only says the wrapper was started: until it has exec'd the worker, the
        # block file would stop worker 0 too (it then reads as down). The worker's own
        # `configured` line, by the same PID, says it is past the check.
        for slot in (0, 1):
            gw.wait_for_line(r"proc=worker pid=%d .*event=configured\b" % gw.workers[slot][-1],
                             15)
        self.assertEqual(admin_get(gw, "/healthz")[0], 200)
        victim = gw.workers[1][-1]
        open(block, "w").close()
        mark = gw.mark()
        os.kill(victim, signal.SIGKILL)
        gw.wait_for_line(r"event=worker_exited worker=1 ", 5, mark)
        status, body = admin_get(gw, "/healthz")
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["down"], [1])
        os.unlink(block)
        gw.wait_for_line(r"event=worker_spawned worker=1 worker_pid=(?!%d\b)" % victim, 15, mark)
        wait_until(lambda: admin_get(gw, "/healthz")[0] == 200, 5, "/healthz 200")


class SignalsTest(unittest.TestCase):

    def test_sigterm_drains_200_sockets_with_1001_and_exits_0(self):
        gw = Gateway(self, workers=2, config="[server]\ndrain_timeout_ms = 3000\n")
        codes = []

        async def run():
            clients = [await connect(gw.ws_url()) for _ in range(200)]
            await clients[0].send("hi")
            self.assertEqual(await clients[0].recv(), SEED.format("hi", 200))
            t0 = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            for ws in clients:
                await ws.wait_closed()
                codes.append(ws.close_code)
            return time.monotonic() - t0
        took = run_async(run(), timeout=30)
        self.assertEqual(codes, [1001] * 200)
        self.assertEqual(gw.terminate(timeout=10, send=False), 0)
        self.assertLess(took, 3.0 + 2.0)
        for pid in gw.worker_pids():
            self.assertFalse(pid_alive(pid), pid)

    def test_sighup_applies_a_changed_route_and_keeps_open_sockets(self):
        tmp = tempfile.mkdtemp(prefix="duro-ops-")
        self.addCleanup(shutil.rmtree, tmp, True)
        gw = Gateway(self, workers=2)
        path = os.path.join(tmp, "duro.ini")
        with open(path, "w") as f:
            f.write("[route seed]\nmatch = suffix /websocket\nclass = seed\nobject = foo\n")
        gw.stop()
        gw = Gateway(self, workers=2, args=("-c", path))

        async def run():
            async with connect(gw.ws_url()) as kept:
                await kept.send("before")
                self.assertEqual(await kept.recv(), SEED.format("before", 1))
                with open(path, "w") as f:
                    f.write("[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n"
                            "[route seed]\nmatch = suffix /websocket\nclass = seed\n"
                            "object = foo\n")
                mark = gw.mark()
                gw.proc.send_signal(signal.SIGHUP)
                await asyncio.to_thread(gw.wait_for_line, r"event=reloaded ", 5, mark)
                async with connect(gw.ws_url("/echo")) as e:
                    await e.send("mirror")
                    self.assertEqual(await e.recv(), "mirror")
                await kept.send("after")
                self.assertEqual(await kept.recv(), SEED.format("after", 1))
                # a broken file is refused and the running config kept
                with open(path, "w") as f:
                    f.write("[route x]\nbogus = 1\n")
                mark = gw.mark()
                gw.proc.send_signal(signal.SIGHUP)
                await asyncio.to_thread(gw.wait_for_line, r"event=reload_failed ", 5, mark)
                async with connect(gw.ws_url("/echo")) as e:
                    await e.send("still")
                    self.assertEqual(await e.recv(), "still")
        run_async(run())


    def test_reuseport_lets_a_new_gateway_take_over_the_port(self):
        import socket as so
        with so.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cfg = "[server]\nreuseport = true\n"
        old = Gateway(self, config=cfg, args=("--listen", f"127.0.0.1:{port}"))
        new = Gateway(self, config=cfg, args=("--listen", f"127.0.0.1:{port}"))
        self.assertEqual((old.port, new.port), (port, port))
        self.assertEqual(old.terminate(), 0)

        async def run():
            async with connect(f"ws://127.0.0.1:{port}/websocket") as ws:
                await ws.send("still here")
                self.assertEqual(await ws.recv(), SEED.format("still here", 1))
        run_async(run())
        # without reuseport (the default) the port is taken: the gateway says so and exits
        p = subprocess.run([GATEWAY, "--listen", f"127.0.0.1:{port}", "--admin", "off",
                            "--worker-bin", WORKER], capture_output=True, text=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("event=listen_failed", p.stderr)


    def test_reload_checks_the_new_configs_classes(self):
        base = "[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n"
        gw = Gateway(self, workers=1, config=base)
        gw.write_config("[class broken]\npath = /nonexistent/broken.so\n"
                        "[route b]\nmatch = exact /b\nclass = broken\nobject = b\n" + base)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_for_line(r"event=reload_failed .*class", 10, mark)
        self.assertFalse([l for l in gw.lines[mark:] if "event=reloaded" in l])
        c = gw.connect()
        c.send(ws_request("/b"))
        self.assertEqual(c.read_response().code, 400)  # /b is not routed: the old config runs
        gw.ws_open("/echo").close()
        # a good file applies, and --listen (given by the harness) is no reason for a warning
        gw.write_config("[server]\nlisten = 127.0.0.1:1\n" + base)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_for_line(r"event=reloaded ", 10, mark)
        self.assertFalse([l for l in gw.lines[mark:] if "reload_kept key=listen" in l])

    def test_reload_lowering_message_limit_mid_message_closes_1009(self):
        from harness import OP_BINARY, OP_CLOSE, frame
        tmp = tempfile.mkdtemp(prefix="duro-ops-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "duro.ini")
        route = "[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n"
        with open(path, "w") as f:
            f.write(route)
        gw = Gateway(self, args=("-c", path))
        c = gw.ws_open("/echo")
        whole = frame(OP_BINARY, b"x" * (8 << 20))
        header = len(frame(OP_BINARY, b"x" * (8 << 20))) - (8 << 20)
        c.send(whole[:header + (1536 << 10)])
        with open(path, "w") as f:
            f.write("[websocket]\nmessage_max_bytes = 1000000\n" + route)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGHUP)
        gw.wait_for_line(r"event=configured ", 5, mark)  # the worker has the new limit
        try:
            c.send(whole[header + (1536 << 10):header + (2560 << 10)])
        except OSError:
            pass  # the worker may already have closed: the close frame is still readable
        f = c.read_frame()
        self.assertEqual((f.opcode, f.close_code), (OP_CLOSE, 1009))
        self.assertFalse([l for l in gw.lines if "worker_exited" in l], gw.tail())

    def test_close_reply_stuck_behind_unread_output_is_timed_out(self):
        from harness import OP_CLOSE, OP_TEXT, close_payload, frame
        import socket as so
        gw = Gateway(self, config="[websocket]\nclose_timeout_ms = 500\n")
        s = so.socket()
        self.addCleanup(s.close)
        s.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 4096)
        s.connect(gw.addr)
        from harness import ws_request
        s.sendall(ws_request("/websocket"))
        mark = gw.mark()
        # 3,000 replies (about 3 MB) pile up in the server: under outbound_max_bytes, so it
        # keeps reading, and our blocking sends all complete; then the close frame
        s.settimeout(20)
        s.sendall(frame(OP_TEXT, b"m" * 1000) * 3000)
        s.sendall(frame(OP_CLOSE, close_payload(1000)))
        # never read: the server's replies and its close frame stay queued
        gw.wait_for_line(r"event=ws_closed .*code_recv=1000", 10, mark)


class SupervisionTest(unittest.TestCase):

    def test_sigkill_of_one_worker_under_load_spares_the_others(self):
        gw = Gateway(self, workers=2, config="""
[route probe]
match = path /room/{name}
class = echo
object = {name}
""")
        # find two rooms owned by different workers
        rooms = {}
        i = 0
        mark = gw.mark()
        while len(rooms) < 2 and i < 64:
            name = f"r{i}"
            gw.ws_open(f"/room/{name}").close()
            m = gw.wait_for_line(r"event=construct obj=echo/%s .*worker=(\d+)" % name, 5, mark)
            rooms.setdefault(int(m.group(1)), name)
            i += 1
        self.assertEqual(set(rooms), {0, 1})
        victim_slot = 0
        victim = gw.workers[victim_slot][-1]
        gw_fds = fd_count(gw.proc.pid)
        errors = []

        async def run():
            doomed = [await connect(gw.ws_url(f"/room/{rooms[0]}")) for _ in range(5)]
            spared = [await connect(gw.ws_url(f"/room/{rooms[1]}")) for _ in range(5)]
            stop = asyncio.Event()

            async def chatter(ws, k):
                n = 0
                while not stop.is_set():
                    msg = f"{k}-{n}"
                    try:
                        await ws.send(msg)
                        got = await asyncio.wait_for(ws.recv(), 5)
                    except Exception as e:  # noqa: BLE001 - any failure is the finding
                        errors.append(repr(e))
                        return
                    if got != msg:
                        errors.append(f"{msg!r} -> {got!r}")
                    n += 1

            tasks = [asyncio.create_task(chatter(ws, k)) for k, ws in enumerate(spared)]
            await asyncio.sleep(0.3)  # load runs for a while before the fault (not a sync)
            mark2 = gw.mark()
            t0 = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            for ws in doomed:
                await asyncio.wait_for(ws.wait_closed(), 5)
                self.assertEqual(ws.close_code, 1006)
            await asyncio.to_thread(gw.wait_for_line,
                                    r"event=worker_spawned worker=0 worker_pid=(?!%d\b)" % victim, 5,
                                    mark2)
            back = time.monotonic() - t0
            async with connect(gw.ws_url(f"/room/{rooms[0]}")) as again:
                await again.send("again")
                self.assertEqual(await again.recv(), "again")
            await asyncio.sleep(0.3)
            stop.set()
            await asyncio.gather(*tasks)
            for ws in spared:
                await ws.close()
            return back
        back = run_async(run(), timeout=30)
        self.assertEqual(errors, [])
        self.assertLess(back, 1.0)
        self.assertLessEqual(fd_count(gw.proc.pid), gw_fds)

    def test_streaming_load_and_a_connect_burst_kill_no_worker(self):
        gw = Gateway(self, workers=1, config="[server]\nheartbeat_timeout_ms = 1000\n"
                     "[route echo]\nmatch = exact /echo\nclass = echo\nobject = e\n")
        pid = gw.workers[0][-1]
        mark = gw.mark()
        big = b"x" * (4 << 20)
        url = gw.ws_url("/echo")

        async def stream(rounds):
            async with connect(url) as ws:
                for _ in range(rounds):
                    await ws.send(big)
                    self.assertEqual(len(await ws.recv()), len(big))

        async def one():
            async with connect(url) as ws:
                await ws.send("hi")
                return await ws.recv()

        async def run():
            streams = [asyncio.create_task(stream(15)) for _ in range(20)]
            await asyncio.sleep(0)  # let the streams connect first; not synchronisation
            answers = await asyncio.gather(*(one() for _ in range(150)))
            await asyncio.gather(*streams)
            return answers
        answers = run_async(run(), timeout=240)
        self.assertEqual(answers, ["hi"] * 150)
        self.assertEqual(gw.worker_pids(), [pid])
        self.assertFalse([l for l in gw.lines[mark:] if "event=worker_hung" in l])

    def test_sigstop_worker_is_restarted_after_heartbeat_timeout(self):
        gw = Gateway(self, workers=2, config="[server]\nheartbeat_timeout_ms = 1000\n")
        victim = gw.workers[1][-1]
        mark = gw.mark()
        os.kill(victim, signal.SIGSTOP)
        self.addCleanup(lambda: pid_alive(victim) and os.kill(victim, signal.SIGKILL))
        t0 = time.monotonic()
        gw.wait_for_line(r"event=worker_hung worker=1 worker_pid=%d\b" % victim, 5, mark)
        gw.wait_for_line(r"event=worker_spawned worker=1 ", 5, mark)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        wait_until(lambda: not pid_alive(victim), 5, "the stopped worker to be gone")

    def test_a_stopped_gateway_does_not_kill_its_healthy_workers_on_resume(self):
        # libuv runs timers before it polls: a gateway resumed after longer than the heartbeat
        # timeout finds every answer still unread and, without the stall rule, kills them all.
        gw = Gateway(self, workers=2, config="[server]\nheartbeat_timeout_ms = 1000\n")
        pids = gw.worker_pids()
        mark = gw.mark()
        os.kill(gw.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(2.5)  # the stop itself is what is tested: longer than the timeout
        finally:
            os.kill(gw.proc.pid, signal.SIGCONT)
        gw.wait_for_line(r"event=gateway_stalled late_ms=\d+", 5, mark)
        # Two more ticks judge the workers on answers read after the poll: none is hung.
        time.sleep(2.2)  # a bounded window for an absence; nothing to await
        self.assertFalse([l for l in gw.lines[mark:] if "event=worker_hung" in l])
        self.assertEqual(gw.worker_pids(), pids)
        self.assertEqual(admin_get(gw, "/healthz")[0], 200)

    def test_killing_the_gateway_leaves_no_worker(self):
        gw = Gateway(self, workers=2)
        pids = gw.worker_pids()
        self.assertEqual(len(pids), 2)
        gw.proc.kill()
        gw.proc.wait(5)
        wait_until(lambda: not any(pid_alive(p) for p in pids), 5, "workers to exit")


if __name__ == "__main__":
    unittest.main()

"""tests/integration/test_upgrade.py: upgrade in place with SIGUSR2 (docs/design.md, "Hand-over",
gateway/upgrade.c).

Each test runs copies of the binaries from a temporary bin/ directory, as an installation does,
and deploys by replacing those files (a rename, as a package manager does) with the "+next"
build of the same code, which reports version 0.1.0+next: the test can tell the old processes
from the new ones by --version and by the `version=` of their log lines.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_GATEWAY_NEXT=... DURO_WORKER_NEXT=...
     python3 tests/integration/test_upgrade.py -v
"""

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import OP_TEXT, Conn, Gateway, frame, pid_alive, run_async, ws_request

try:
    import websockets
except ImportError:  # the suite runs under a python3 that has it (tests/meson.build)
    websockets = None

GATEWAY_NEXT = os.environ.get("DURO_GATEWAY_NEXT",
                              os.path.join(harness.REPO, "build", "tests", "duro-gateway-next"))
WORKER_NEXT = os.environ.get("DURO_WORKER_NEXT",
                             os.path.join(harness.REPO, "build", "tests", "duro-worker-next"))

SWITCH_TIMEOUT_S = 30.0   # SIGUSR2 to the old gateway's exit, under sanitizers on a busy machine
CONNECT_DELAY_MAX_S = 1.0 # a connect + upgrade during the switch, at most

CONFIG = """\
[route echo]
match = exact /echo
class = echo
object = echo

[route rooms]
match = path /rooms/{name}/websocket
class = chat
object = {name}

[route seed]
match = suffix /websocket
class = seed
object = foo
"""


# The fleet of the full upgrade test. 2,000 sockets as the issue asks: every process stays far
# below the 20,000 descriptors it may open (the test process holds 2,000 plus the connect loop,
# each worker about 1,000, and during the switch a socket is in at most three processes at
# once). What the 2 shared cores bound is the message rate, not the sockets: so every socket
# sends, but each at most once every SEND_PERIOD_S, and in a chat room only ROOM_SENDERS
# sockets talk (a room message costs a frame per member, in the workers and in this process).
ECHO_SOCKETS = 1000
ROOMS, ROOM_SIZE, ROOM_SENDERS = 20, 30, 2
SEED_SOCKETS = 300
PRESENCE_ROOMS, PRESENCE_SIZE = 5, 20
SEND_PERIOD_S = 1.0
DEFLATE_ECHO = 100        # echo sockets that negotiate permessage-deflate
PROBES = 10               # probe sockets over 2 objects: tags, attachments, an auto-response
QUIET_TIMEOUT_S = 30.0    # after the last send, every answer must be in by then

FLEET_CONFIG = CONFIG + """
[class presence]
path = @PRESENCE@

[route presence]
match = path /presence/{name}
class = presence
object = {name}

[class probe]
path = @PROBE@
symbol = probe_class

[route probe]
match = path /probe/{name}
class = probe
object = {name}
"""


def version_of(path):
    out = subprocess.run([path, "--version"], capture_output=True, timeout=10, check=True)
    return out.stdout.decode().split()[1]


class UpgradingGateway(Gateway):
    """A Gateway whose process may hand over to a successor: the log goes on (the successor
    inherits stderr) while the successor lives, and stop() stops every successor too."""

    SUCCESSOR_RE = re.compile(r"event=upgrade phase=ready successor_pid=(\d+)")

    def successors(self):
        with self._cond:
            return [int(m.group(1)) for m in map(self.SUCCESSOR_RE.search, self.lines) if m]

    def _exited_long_ago(self, now):
        if any(pid_alive(p) for p in self.successors()):
            return False
        return super()._exited_long_ago(now)

    def stop(self):
        for pid in self.successors():
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
                deadline = time.monotonic() + harness.STOP_TIMEOUT_S * 2
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if pid_alive(pid):
                    os.kill(pid, signal.SIGKILL)
        super().stop()
        harness.assert_pids_gone(self.successors())


class Connector(threading.Thread):
    """Connects in a loop: TCP connect, WebSocket upgrade to /echo, 101 read, close. Records
    every failure (refused, reset, no 101) and the slowest attempt."""

    def __init__(self, addr):
        super().__init__(daemon=True)
        self.addr = addr
        self.halt = threading.Event()
        self.failures = []
        self.slowest = 0.0
        self.attempts = 0

    def run(self):
        while not self.halt.is_set():
            t0 = time.monotonic()
            c = None
            try:
                c = Conn(self.addr, timeout=CONNECT_DELAY_MAX_S * 3)
                c.send(ws_request("/echo"))
                r = c.read_response()
                if r.code != 101:
                    self.failures.append(f"answered {r.code}")
            except (OSError, AssertionError) as e:
                self.failures.append(repr(e))
            finally:
                if c is not None:
                    c.close()
            self.slowest = max(self.slowest, time.monotonic() - t0)
            self.attempts += 1

    def finish(self):
        self.halt.set()
        self.join(CONNECT_DELAY_MAX_S * 5)


class UpgradeTest(unittest.TestCase):

    def setUp(self):
        for path in (GATEWAY_NEXT, WORKER_NEXT):
            if not os.access(path, os.X_OK):
                self.fail(f"{path} is not built (tests/meson.build builds the +next binaries)")
        self.old_version = version_of(harness.GATEWAY)
        self.assertEqual(version_of(GATEWAY_NEXT), self.old_version + "+next")
        self.assertEqual(version_of(WORKER_NEXT), self.old_version + "+next")

    def start(self, config=CONFIG, workers=2, env=None, symlinks=False):
        """Copies today's binaries into bin/ of the gateway's temporary directory, starts them
        from there and returns the gateway."""
        import tempfile
        tmp = tempfile.TemporaryDirectory(prefix="duro-upgrade-")
        self.addCleanup(tmp.cleanup)
        self.bin = os.path.join(tmp.name, "bin")
        os.mkdir(self.bin)
        self.gw_path = os.path.join(self.bin, "duro-gateway")
        self.worker_path = os.path.join(self.bin, "duro-worker")
        if symlinks:  # bin/* -> releases/1/*, as deploys that switch a symlink lay it out
            rel = os.path.join(tmp.name, "releases", "1")
            os.makedirs(rel)
            for src, dst in ((harness.GATEWAY, self.gw_path), (harness.WORKER, self.worker_path)):
                shutil.copy2(src, os.path.join(rel, os.path.basename(dst)))
                os.symlink(os.path.join(rel, os.path.basename(dst)), dst)
        else:
            shutil.copy2(harness.GATEWAY, self.gw_path)
            shutil.copy2(harness.WORKER, self.worker_path)
        gw = UpgradingGateway(self, config=config, workers=workers, gateway_bin=self.gw_path,
                              worker_bin=self.worker_path, env=env)
        dump = os.environ.get("DURO_UPGRADE_LOG")   # FILE: the whole log, for a failure's story
        if dump:
            def write_log():
                with open(dump, "w", encoding="utf-8") as f:
                    f.write("\n".join(gw.lines) + "\n")
            self.addCleanup(write_log)
        return gw

    def install(self, gateway_src=None, worker_src=None, gateway_script=None,
                worker_script=None):
        """Replaces bin/'s files as a package manager does (write aside, rename over)."""
        for dst, src, script in ((self.gw_path, gateway_src, gateway_script),
                                 (self.worker_path, worker_src, worker_script)):
            if src is None and script is None:
                continue
            tmp = dst + ".new"
            if script is not None:
                with open(tmp, "w", encoding="ascii") as f:
                    f.write(script)
                os.chmod(tmp, 0o755)
            else:
                shutil.copy2(src, tmp)
            os.replace(tmp, dst)

    def admin_metric(self, gw, name):
        text = harness.curl("-s", f"http://{gw.admin[0]}:{gw.admin[1]}/metrics").decode()
        m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
        self.assertIsNotNone(m, f"{name} not in /metrics")
        return int(m.group(1))

    def assert_echoes(self, c, text):
        c.send(frame(OP_TEXT, text))
        f = c.read_frame()
        self.assertEqual((f.opcode, f.payload), (OP_TEXT, text.encode()))

    # ---- the switch: listeners, HTTP connections, versions, processes ----

    def test_switch_refuses_no_connection_and_ends_keep_alive_politely(self):
        gw = self.start()
        old_workers = set(gw.worker_pids())
        self.assertEqual(len(old_workers), 2)
        # Three connections the old gateway holds when the successor takes over: one that
        # has said nothing yet (its upgrade arrives after the switch), one idle between two
        # keep-alive requests, one with half a request head sent. Accepted in this order,
        # so the answer on the second proves the first was accepted by the old gateway.
        silent = gw.connect()
        idle = gw.connect()
        idle.send(harness.http_request("GET", "/nothing"))
        r = idle.read_response()
        self.assertEqual((r.code, r.header("Connection")), (400, []))
        half = gw.connect()
        half.send(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        self.install(GATEWAY_NEXT, WORKER_NEXT)
        loop = Connector(gw.addr)
        loop.start()
        self.addCleanup(loop.finish)
        deadline = time.monotonic() + 5.0
        while loop.attempts < 5 and time.monotonic() < deadline:
            time.sleep(0.01)    # polling the loop's own counter: it runs before the switch
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGUSR2)
        switch = gw.wait_for_line(r"event=upgrade phase=switch\b", SWITCH_TIMEOUT_S, mark)

        # The old gateway's connections: the idle one is closed, the half one's answer
        # says Connection: close, the silent one's upgrade goes over the link to the new
        # gateway's worker.
        idle.read_eof()
        half.send(b"\r\n")
        r = half.read_response()
        self.assertEqual((r.code, r.header("Connection")), (400, ["close"]))
        half.read_eof()
        silent.send(ws_request("/echo"))
        self.assertEqual(silent.read_response().code, 101)
        self.assert_echoes(silent, "relayed")

        gw.wait_for_line(r"event=upgrade phase=retired\b", SWITCH_TIMEOUT_S, mark)
        gw.wait_for_line(r"event=upgrade phase=done\b", SWITCH_TIMEOUT_S, mark)
        after = loop.attempts
        deadline = time.monotonic() + 5.0
        while loop.attempts < after + 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        loop.finish()
        self.assertEqual(loop.failures, [], "a connection failed during the switch")
        self.assertLess(loop.slowest, CONNECT_DELAY_MAX_S)
        self.assertGreater(loop.attempts, after)

        # The old gateway exited 0; the versions and every process changed.
        self.assertEqual(gw.proc.wait(SWITCH_TIMEOUT_S), 0)
        new = self.old_version + "+next"
        self.assertIn(f" version={self.old_version} new_version={new} "
                      f"new_worker_version={new} ", switch.string)
        successor = gw.successors()
        self.assertEqual(len(successor), 1)
        spawned = gw.wait_for_lines(rf"pid={successor[0]} .*event=worker_spawned\b.* "
                                    rf"worker_pid=(\d+)", 2, start=mark)
        new_workers = {int(m.group(1)) for m in spawned}
        self.assertEqual(len(new_workers), 2)
        self.assertFalse(new_workers & old_workers)
        for pid in new_workers:
            gw.wait_for_line(rf"proc=worker pid={pid} .*event=configured .*"
                             rf"version={re.escape(new)}$", start=mark)
        harness.assert_pids_gone(sorted(old_workers))
        # The new gateway serves, on the same port and the same admin listener.
        c = gw.connect()
        c.send(harness.http_request("GET", "/nothing"))
        self.assertEqual(c.read_response().code, 400)
        self.assertEqual(self.admin_metric(gw, "duro_upgrades_total"), 1)
        # The silent connection's upgrade, and any of the loop's the old gateway read last.
        self.assertGreaterEqual(self.admin_metric(gw, "duro_upgrade_relayed_total"), 1)
        self.assertEqual(self.admin_metric(gw, "duro_workers_up"), 2)

    # ---- the whole fleet across the switch ----

    def test_sockets_survive_the_upgrade_stateless_deflate(self):
        self.sockets_survive("stateless")

    def test_sockets_survive_the_upgrade_takeover_deflate(self):
        self.sockets_survive("takeover")

    def sockets_survive(self, deflate):
        """The fleet across SIGUSR2, with [websocket] deflate = `deflate`: the first
        DEFLATE_ECHO echo sockets, room 0 and hall 0 negotiate permessage-deflate (with
        takeover, their windows travel with them) and send messages long enough to be
        compressed; the others do not offer it."""
        if websockets is None:
            self.skipTest("python3 without the websockets module")
        presence = os.path.abspath(os.environ.get("DURO_PRESENCE_SO", ""))
        probe = os.path.abspath(os.environ.get("DURO_PROBE_SO", ""))
        if not os.path.exists(presence) or not os.path.exists(probe):
            self.skipTest("DURO_PRESENCE_SO or DURO_PROBE_SO is not built")
        gw = self.start(f"[websocket]\ndeflate = {deflate}\n\n" +
                        FLEET_CONFIG.replace("@PRESENCE@", presence).replace("@PROBE@", probe))
        old_workers = set(gw.worker_pids())
        self.install(GATEWAY_NEXT, WORKER_NEXT)
        loop = Connector(gw.addr)
        self.addCleanup(loop.finish)
        run_async(self.fleet(gw, loop), timeout=240.0)
        self.assertEqual(loop.failures, [], "a connection failed during the switch")
        self.assertLess(loop.slowest, CONNECT_DELAY_MAX_S)

        self.assertEqual(gw.proc.wait(SWITCH_TIMEOUT_S), 0)
        new = self.old_version + "+next"
        successor = gw.successors()
        self.assertEqual(len(successor), 1)
        spawned = gw.wait_for_lines(rf"pid={successor[0]} .*event=worker_spawned\b.* "
                                    rf"worker_pid=(\d+)", 2)
        new_workers = {int(m.group(1)) for m in spawned}
        self.assertFalse(new_workers & old_workers)
        for pid in new_workers:
            gw.wait_for_line(rf"proc=worker pid={pid} .*event=configured .*"
                             rf"version={re.escape(new)}$")
        harness.assert_pids_gone(sorted(old_workers))

    async def fleet(self, gw, loop):
        opts = dict(compression=None, open_timeout=20, close_timeout=5, ping_interval=None,
                    max_queue=None)
        sockets = []   # (kind, group, name, ws)

        async def open_one(kind, group, name, target):
            deflate = self.deflating(kind, group, name)
            ws = await websockets.connect(gw.ws_url(target),
                                          **dict(opts, compression="deflate" if deflate else None))
            ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
            self.assertEqual("permessage-deflate" in ext, deflate, f"{name}: {ext!r}")
            sockets.append((kind, group, name, ws))

        plan = [("echo", 0, f"e{i}", "/echo") for i in range(ECHO_SOCKETS)]
        plan += [("room", r, f"r{r}-{i}", f"/rooms/room{r}/websocket")
                 for r in range(ROOMS) for i in range(ROOM_SIZE)]
        plan += [("seed", 0, f"s{i}", "/websocket") for i in range(SEED_SOCKETS)]
        plan += [("presence", p, f"p{p}-{i}", f"/presence/hall{p}?user=p{p}-{i}")
                 for p in range(PRESENCE_ROOMS) for i in range(PRESENCE_SIZE)]
        for at in range(0, len(plan), 100):   # 100 handshakes at a time
            await asyncio.gather(*(open_one(*p) for p in plan[at:at + 100]))
        self.assertEqual(len(sockets), 2000)

        received = {name: [] for _, _, name, _ in sockets}
        closed = []

        async def read(name, ws):
            try:
                async for m in ws:
                    received[name].append(m)
            except websockets.ConnectionClosed as e:
                closed.append((name, e.code))
            else:
                closed.append((name, ws.close_code))

        readers = [asyncio.ensure_future(read(name, ws)) for _, _, name, ws in sockets]
        probes = await self.open_probes(gw, opts)
        # Presence: the names the object reads from its sockets' attachments, before.
        halls = {}
        for kind, group, name, ws in sockets:
            if kind == "presence" and group not in halls:
                halls[group] = ws
        who_before = await self.who(halls, received, sockets)
        self.assertEqual(sorted(len(v) for v in who_before.values()),
                         [PRESENCE_SIZE] * PRESENCE_ROOMS)

        talkers = [(kind, group, name, ws) for kind, group, name, ws in sockets
                   if kind != "room" or int(name.split("-")[1]) < ROOM_SENDERS]
        sent = {name: [] for _, _, name, _ in talkers}
        halt = asyncio.Event()

        async def talk(kind, group, name, ws):
            n = 0
            await asyncio.sleep(random.uniform(0, SEND_PERIOD_S))
            while not halt.is_set():
                n += 1
                text = f"{name}#{n}"
                if self.deflating(kind, group, name):
                    text += " " + "compressible " * 8   # past deflate_min_bytes
                try:
                    await ws.send(text)
                except websockets.ConnectionClosed:
                    return   # `read` records the close
                sent[name].append(text)
                await asyncio.sleep(SEND_PERIOD_S * random.uniform(0.5, 1.5))

        aloop = asyncio.get_running_loop()
        talking = [asyncio.ensure_future(talk(*t)) for t in talkers]
        loop.start()
        await asyncio.sleep(2 * SEND_PERIOD_S)   # traffic before the switch
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGUSR2)
        await aloop.run_in_executor(None, gw.wait_for_line, r"event=upgrade phase=done\b",
                                    SWITCH_TIMEOUT_S * 4, mark)
        await asyncio.sleep(2 * SEND_PERIOD_S)   # traffic after it
        halt.set()
        await asyncio.gather(*talking)
        loop.finish()

        # Every answer arrives, exactly once and in order, and nothing closed.
        expect = self.expected(sockets, talkers, sent)
        deadline = aloop.time() + QUIET_TIMEOUT_S
        while aloop.time() < deadline and not closed and any(
                self.answers(kind, received[name]) < sum(len(sent[t]) for t in heard)
                for kind, name, heard in expect):
            await asyncio.sleep(0.05)
        self.assertEqual(len(closed), 0, f"{len(closed)} sockets closed during the upgrade, "
                                         f"e.g. {closed[:5]}")
        wrong = []   # (socket, talker, what it heard, what was said)
        for kind, name, heard in expect:
            for t in heard:
                got, want = self.heard_from(kind, received[name], t), self.said(kind, sent[t])
                if got != want:
                    wrong.append((name, t, got, want))
            self.assertFalse([m for m in received[name] if m.startswith("leave ")],
                             f"{name} heard a presence socket leave")
        self.assertEqual(wrong[:3], [], f"{len(wrong)} (socket, talker) pairs lost, doubled or "
                                        f"reordered messages")
        await self.check_probes(probes)
        who_after = await self.who(halls, received, sockets)
        self.assertEqual(who_after, who_before, "presence attachments changed")
        self.assertEqual(len(who_after), PRESENCE_ROOMS)
        self.assertGreater(sum(len(s) for s in sent.values()), len(talkers) * 3)
        for _, _, _, ws in sockets:
            await ws.close()
        await asyncio.gather(*readers)

    async def open_probes(self, gw, opts):
        """Probe sockets with tags (from the query string and one added after accept), an
        attachment each, and an auto-response on their first object."""
        probes = []
        for i in range(PROBES):
            ws = await websockets.connect(gw.ws_url(f"/probe/o{i % 2}?tags=t{i},all"),
                                          **dict(opts, compression="deflate"))
            for cmd in (f"attach:{self.attachment(i)}", f"tag+:late{i}"):
                await ws.send(cmd)
                self.assertEqual(await ws.recv(), "ok")
            probes.append(ws)
        await probes[0].send("auto:ping=pong")
        self.assertEqual(await probes[0].recv(), "ok")
        return probes

    async def check_probes(self, probes):
        for i, ws in enumerate(probes):
            await ws.send("tags")
            self.assertEqual(sorted((await ws.recv()).split(",")), sorted([f"t{i}", "all",
                                                                            f"late{i}"]))
            await ws.send("attachment")
            self.assertEqual(await ws.recv(), self.attachment(i))
            await ws.send("count:all")
            self.assertEqual(await ws.recv(), f"count:{PROBES // 2}")
            if i % 2 == 0:
                await ws.send("ping")
                self.assertEqual(await ws.recv(), "pong")   # the object's auto-response
        for ws in probes:
            await ws.close()

    @staticmethod
    def attachment(i):
        return f"value-{i}-" + "attachment " * 12   # long enough to be sent compressed

    @staticmethod
    def deflating(kind, group, name):
        return ((kind == "echo" and int(name[1:]) < DEFLATE_ECHO) or
                (kind in ("room", "presence") and group == 0))

    @staticmethod
    def expected(sockets, talkers, sent):
        """(kind, socket, [talkers it hears]) for every socket: itself for echo and seed, the
        room's or hall's talkers (itself included) for chat and presence."""
        by_group = {}
        for kind, group, name, _ in talkers:
            by_group.setdefault((kind, group), []).append(name)
        return [(kind, name, [name] if kind in ("echo", "seed") else by_group[(kind, group)])
                for kind, group, name, _ in sockets]

    SEED_RE = re.compile(r"^\[Durable Object\] message: (.*), connections: \d+$")

    @classmethod
    def heard_from(cls, kind, messages, talker):
        """The messages of `talker` among those a socket received, as sent (in order)."""
        if kind == "seed":
            return [m.group(1) for m in map(cls.SEED_RE.match, messages) if m]
        if kind == "presence":
            return [m for m in messages if m.startswith(talker + ": ")]
        return [m for m in messages if m.startswith(talker + "#")]

    @staticmethod
    def said(kind, texts):
        return [f"{t.split('#')[0]}: {t}" for t in texts] if kind == "presence" else texts

    @staticmethod
    def answers(kind, messages):
        if kind == "presence":
            return sum(1 for m in messages if ": " in m and not m.startswith("online:"))
        return len(messages)

    async def who(self, halls, received, sockets):
        names = {}
        for group, ws in halls.items():
            before = len(received[self.name_of(sockets, ws)])
            await ws.send("who")
            name = self.name_of(sockets, ws)
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                lines = [m for m in received[name][before:] if m.startswith("online:")]
                if lines:
                    names[group] = sorted(lines[0].split()[1:])
                    break
                await asyncio.sleep(0.02)
        return names

    @staticmethod
    def name_of(sockets, ws):
        return next(n for _, _, n, w in sockets if w is ws)

    def test_a_deploy_that_moves_symlinks_is_followed(self):
        gw = self.start(workers=1, symlinks=True)
        rel = os.path.join(os.path.dirname(self.bin), "releases", "2")
        os.makedirs(rel)
        for src, dst in ((GATEWAY_NEXT, self.gw_path), (WORKER_NEXT, self.worker_path)):
            shutil.copy2(src, os.path.join(rel, os.path.basename(dst)))
            tmp = dst + ".new"
            os.symlink(os.path.join(rel, os.path.basename(dst)), tmp)
            os.replace(tmp, dst)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGUSR2)
        line = gw.wait_for_line(r"event=upgrade phase=switch\b", SWITCH_TIMEOUT_S, mark)
        self.assertIn(f" new_version={self.old_version}+next ", line.string)
        gw.wait_for_line(r"event=upgrade phase=done\b", SWITCH_TIMEOUT_S, mark)
        self.assertEqual(gw.proc.wait(SWITCH_TIMEOUT_S), 0)

    # ---- systemd ----

    @unittest.skipUnless(os.environ.get("DURO_HAVE_SYSTEMD") == "1", "built without libsystemd")
    def test_successor_tells_the_service_manager_its_pid(self):
        import tempfile
        tmp = tempfile.TemporaryDirectory(prefix="duro-notify-")
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(SWITCH_TIMEOUT_S)

        def next_state():
            return dict(l.split("=", 1) for l in sock.recv(4096).decode().splitlines())

        gw = self.start(workers=1, env=dict(os.environ, NOTIFY_SOCKET=path))
        self.assertEqual(next_state().get("READY"), "1")
        self.install(GATEWAY_NEXT, WORKER_NEXT)
        gw.proc.send_signal(signal.SIGUSR2)
        seen = []
        while not seen or "MAINPID" not in seen[-1]:
            seen.append(next_state())
        ready = gw.wait_for_line(UpgradingGateway.SUCCESSOR_RE.pattern, SWITCH_TIMEOUT_S)
        self.assertEqual(seen[-1]["MAINPID"], ready.group(1), seen)
        self.assertEqual(seen[-1]["READY"], "1")
        self.assertIn(str(gw.port), seen[-1]["STATUS"])
        self.assertEqual(gw.proc.wait(SWITCH_TIMEOUT_S), 0)

    # ---- a broken new binary is not switched to ----

    def test_broken_binary_leaves_the_old_one_serving(self):
        gw = self.start()
        workers = sorted(gw.worker_pids())
        held = gw.ws_open("/echo")
        self.assert_echoes(held, "before")
        new_gateway_dies = ("#!/bin/sh\n"
                            "case \"$*\" in\n"
                            "  *--version*) echo 'duro-gateway 9.9.9'; exit 0;;\n"
                            "  *--check*) echo 'config ok'; exit 0;;\n"
                            "esac\n"
                            "echo 'duro-gateway: this build is broken' >&2; exit 3\n")
        cases = [
            # (what is installed, what the old gateway logs)
            (dict(gateway_script="#!/bin/sh\nexit 1\n"), r"duro-gateway does not run"),
            (dict(gateway_src=GATEWAY_NEXT, worker_script="#!/bin/sh\nexit 1\n"),
             r"duro-worker does not run"),
            (dict(gateway_script="#!/bin/sh\necho garbage\n"), r"duro-gateway does not run"),
            (dict(gateway_script=new_gateway_dies, worker_src=WORKER_NEXT),
             r"exited before it was ready \(status 3"),
        ]
        for n, (installed, why) in enumerate(cases, 1):
            with self.subTest(why=why):
                self.install(**installed)
                mark = gw.mark()
                gw.proc.send_signal(signal.SIGUSR2)
                line = gw.wait_for_line(r"event=upgrade_failed\b", SWITCH_TIMEOUT_S, mark)
                self.assertRegex(line.string, why)
                self.assertIn('action="kept serving"', line.string)
                self.assertIsNone(gw.proc.poll())
                self.assert_echoes(held, f"still {n}")
                fresh = gw.ws_open("/echo")
                self.assert_echoes(fresh, "fresh")
                fresh.close()
                self.assertEqual(sorted(gw.worker_pids()), workers)
                self.assertEqual(self.admin_metric(gw, "duro_upgrade_failures_total"), n)

        # A new gateway that starts but never reports ready is killed after the ready timeout
        # (DURO_UPGRADE_READY_TIMEOUT_MS, 15 s).
        hangs = new_gateway_dies.replace("echo 'duro-gateway: this build is broken' >&2; exit 3",
                                         "exec sleep 600")
        self.install(gateway_script=hangs, worker_src=WORKER_NEXT)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGUSR2)
        line = gw.wait_for_line(r"event=upgrade_failed\b", 30, mark)
        self.assertIn("did not report ready in time", line.string)
        m = re.search(r"successor_pid=(\d+)", line.string)
        harness.assert_pids_gone([int(m.group(1))])
        self.assert_echoes(held, "after the hang")

        # A config the new binary refuses (--check) is not switched to either.
        with open(gw.config_path, "a", encoding="utf-8") as f:
            f.write("\n[server]\nworkers = many\n")
        self.install(GATEWAY_NEXT, WORKER_NEXT)
        mark = gw.mark()
        gw.proc.send_signal(signal.SIGUSR2)
        line = gw.wait_for_line(r"event=upgrade_failed\b", SWITCH_TIMEOUT_S, mark)
        self.assertIn("--check failed", line.string)
        self.assert_echoes(held, "after all")
        self.assertEqual(sorted(gw.worker_pids()), workers)


if __name__ == "__main__":
    unittest.main()

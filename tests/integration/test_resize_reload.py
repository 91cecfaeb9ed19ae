"""tests/integration/test_resize_reload.py: live sockets handed between workers (docs/design.md,
"Hand-over"): a resize 2 -> 3 -> 2 on SIGHUP, and a [class] reload that replaces every worker.

A third-party client (python websockets, permessage-deflate offered as it does by default)
holds sockets in many chat rooms and sends numbered messages all along; probe sockets carry
tags, an attachment and an auto-response. Checked: no socket closes, every client receives
every message of its room exactly once and in order (deflated ones inflate, in both deflate
modes), only the objects whose rendezvous slot changed moved (the /objects worker column
against the gateway's own hash, computed here with libxxhash), tags, attachments and
auto-responses intact, nothing closed with 1012.

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... DURO_PROBE_V2_SO=... \
     python3 tests/integration/test_resize_reload.py
"""

import asyncio
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import tempfile
import unittest
import urllib.parse
import urllib.request

import websockets

from harness import OP_CLOSE, OP_TEXT, Gateway, frame, pid_alive, run_async

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")
PROBE_V2_SO = os.environ.get("DURO_PROBE_V2_SO", "")  # the same class built with version 2
ROOMS = 16
PER_ROOM = 2
PROBES = 12
PAD = "x" * 120  # past deflate_min_bytes: the chat messages travel compressed
STEP_MSGS = 15   # messages every client sends between two checkpoints

# ---- the gateway's rendezvous hash (common/hash.c), from the same C library ----

_xxh = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
_xxh.XXH3_64bits_withSeed.restype = ctypes.c_uint64
_xxh.XXH3_64bits_withSeed.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
HASH_SEED = 0x6475726F2D763100


def _h(data, seed):
    return _xxh.XXH3_64bits_withSeed(data, len(data), seed)


def owner(cls, name, nslots):
    key = _h(name.encode(), _h(cls.encode(), HASH_SEED))
    best, best_w = 0, -1
    for i in range(nslots):
        w = _h(key.to_bytes(8, "little") + i.to_bytes(4, "little"), HASH_SEED)
        if w > best_w:
            best, best_w = i, w
    return best


def config(workers, deflate="stateless", probe_path=PROBE_SO, timeout_ms=10000, storage=None):
    extra = ""
    if storage is not None:
        extra = f"""
[storage]
dir = {storage}

[route counter]
match = path /counter/{{name}}/websocket
class = counter
object = {{name}}
"""
    return extra + f"""
[server]
workers = {workers}
upgrade_timeout_ms = {timeout_ms}

[objects]
hibernate_after_ms = 60000

[websocket]
deflate = {deflate}

[class probe]
path = {probe_path}
symbol = probe_class

[route rooms]
match = path /rooms/{{name}}/websocket
class = chat
object = {{name}}

[route probe]
match = path /probe/{{name}}
class = probe
object = {{name}}
"""


def attachment(i):
    """Long enough to be sent compressed: in takeover mode with the socket's own window."""
    return f"value-{i}-" + "attachment " * 12


def admin_get(gw, path):
    with urllib.request.urlopen(f"http://{gw.admin[0]}:{gw.admin[1]}{path}", timeout=10) as r:
        return r.read().decode()


def list_objects(gw):
    """Every object from /objects, its pages followed; a partial page fails the test."""
    objs, cursor = [], None
    while True:
        q = "/objects?limit=10000" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        doc = json.loads(admin_get(gw, q))
        if doc["partial"]:
            raise AssertionError(f"partial listing: {doc['missing_workers']}")
        objs += doc["objects"]
        cursor = doc["next"]
        if cursor is None:
            return objs


def placement(gw):
    """{(class, name): worker} from /objects; fails on an object listed twice."""
    out = {}
    for o in list_objects(gw):
        k = (o["class"], o["name"])
        if k in out:
            raise AssertionError(f"{k} listed by two workers: {out[k]} and {o['worker']}")
        out[k] = o["worker"]
    return out


def metric(gw, name):
    m = re.search(rf"^{name} (\d+)$", admin_get(gw, "/metrics"), re.M)
    return int(m.group(1)) if m else 0


class Client:
    """One chat socket: sends CID:N:PAD; records what its room says."""

    def __init__(self, cid, room):
        self.cid, self.room = cid, room
        self.sent = 0
        self.got = []
        self.ws = None
        self.closed = None

    async def reader(self):
        try:
            async for m in self.ws:
                self.got.append(m)
        except websockets.ConnectionClosed as e:
            self.closed = e
        if self.closed is None and self.ws.close_code is not None:
            self.closed = self.ws.close_code


class HandoverTest(unittest.TestCase):
    def start(self, workers, deflate):
        self.cfg_deflate = deflate
        gw = Gateway(self, config=config(workers, deflate), workers=workers, workers_flag=False)
        return gw

    def write_config(self, gw, text):
        gw.write_config(text)

    async def open_all(self, gw):
        clients = []
        for r in range(ROOMS):
            for k in range(PER_ROOM):
                c = Client(f"c{r}-{k}", f"room{r}")
                c.ws = await websockets.connect(gw.ws_url(f"/rooms/{c.room}/websocket"),
                                                max_queue=None)
                clients.append(c)
        probes = []
        for i in range(PROBES):
            ws = await websockets.connect(gw.ws_url(f"/probe/p{i}?tags=t{i},all"))
            for cmd, want in ((f"attach:{attachment(i)}", "ok"), ("autot:ping=pong", "ok")):
                await ws.send(cmd)
                self.assertEqual(await ws.recv(), want)
            probes.append(ws)
        return clients, probes

    async def send_some(self, clients, n):
        """Every client sends `n` more numbered messages, interleaved, as fast as they go."""
        for _ in range(n):
            for c in clients:
                await c.ws.send(f"{c.cid}:{c.sent}:{PAD}")
                c.sent += 1
            await asyncio.sleep(0.002)

    async def check_probes(self, probes):
        for i, ws in enumerate(probes):
            await ws.send("tags")
            self.assertEqual(sorted((await ws.recv()).split(",")), sorted([f"t{i}", "all"]))
            await ws.send("attachment")
            self.assertEqual(await ws.recv(), attachment(i))  # deflated with its window
            await ws.send("ping")
            self.assertEqual(await ws.recv(), "pong")  # the object's auto-response moved too

    def check_rooms(self, clients):
        by_room = {}
        for c in clients:
            by_room.setdefault(c.room, []).append(c)
        for c in clients:
            self.assertIsNone(c.closed, f"{c.cid} was closed: {c.closed!r}")
            seen = {}
            for m in c.got:
                cid, n, pad = m.split(":")
                self.assertEqual(pad, PAD)
                seen.setdefault(cid, []).append(int(n))
            for peer in by_room[c.room]:
                self.assertEqual(seen.get(peer.cid), list(range(peer.sent)),
                                 f"{c.cid} got {peer.cid}'s messages out of order, twice or "
                                 f"not at all")

    async def wait_delivered(self, clients, timeout=20):
        want = {c.room: 0 for c in clients}
        for c in clients:
            want[c.room] += c.sent
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while any(len(c.got) < want[c.room] for c in clients) and loop.time() < end:
            if any(c.closed for c in clients):
                break
            await asyncio.sleep(0.02)

    def resize(self, deflate):
        gw = self.start(2, deflate)
        pids_before = set(gw.worker_pids())

        async def run():
            clients, probes = await self.open_all(gw)
            readers = [asyncio.ensure_future(c.reader()) for c in clients]
            await self.send_some(clients, STEP_MSGS)
            before = await asyncio.to_thread(placement, gw)
            for (cls, name), w in before.items():
                self.assertEqual(w, owner(cls, name, 2), (cls, name))

            # 2 -> 3: workers 0 and 1 each send away what slot 2 now owns, while traffic runs
            mark = gw.mark()
            self.write_config(gw, config(3, deflate))
            gw.proc.send_signal(signal.SIGHUP)
            sending = asyncio.ensure_future(self.send_some(clients, STEP_MSGS))
            await asyncio.to_thread(gw.wait_for_lines,
                                    r"event=handover action=worker_migrated worker=[01] ", 2,
                                    20, mark)
            await sending
            await self.send_some(clients, 3)
            await self.wait_delivered(clients)
            mid = await asyncio.to_thread(placement, gw)
            self.assertEqual(set(mid), set(before))
            moved = 0
            for (cls, name), w in mid.items():
                self.assertEqual(w, owner(cls, name, 3), (cls, name))
                self.assertIn(w, (before[(cls, name)], 2), "moved between old workers")
                moved += w != before[(cls, name)]
            self.assertGreater(moved, 0, "nothing landed on the new worker")
            await self.check_probes(probes)

            # 3 -> 2: worker 2 retires, its objects go back where they were
            mark = gw.mark()
            self.write_config(gw, config(2, deflate))
            gw.proc.send_signal(signal.SIGHUP)
            sending = asyncio.ensure_future(self.send_some(clients, STEP_MSGS))
            await asyncio.to_thread(gw.wait_for_line, r"event=worker_retired worker=2 ", 20,
                                    mark)
            await sending
            await self.send_some(clients, 3)
            await self.wait_delivered(clients)
            after = await asyncio.to_thread(placement, gw)
            self.assertEqual(after, before)
            await self.check_probes(probes)

            self.check_rooms(clients)
            handed = await asyncio.to_thread(metric, gw, "duro_handover_sockets_total")
            self.assertGreaterEqual(handed, 2 * moved)  # out and back
            self.assertEqual(await asyncio.to_thread(metric, gw, "duro_handover_closed_total"), 0)
            for c in clients:
                await c.ws.close()
            for ws in probes:
                await ws.close()
            await asyncio.gather(*readers)

        run_async(run(), timeout=120)
        # the workers that stayed are the same processes; nothing was closed by a worker
        self.assertTrue(pids_before <= set(gw.worker_pids()))
        closes = [l for l in gw.lines if "event=ws_closed" in l and "code_sent=1000" not in l
                  and "code_recv=1000" not in l]
        self.assertEqual(closes, [], "a socket closed during the hand-overs")

    def test_class_reload_replaces_every_worker_without_closing(self):
        tmp = tempfile.TemporaryDirectory(prefix="duro-reload-")
        self.addCleanup(tmp.cleanup)
        so = os.path.join(tmp.name, "probe.so")
        shutil.copy(PROBE_SO, so)
        gw = Gateway(self, config=config(2, "takeover", probe_path=so), workers=2,
                     workers_flag=False)
        old_pids = set(gw.worker_pids())
        self.assertEqual(len(old_pids), 2)

        async def versions(probes):
            out = set()
            for ws in probes:
                await ws.send("version")
                out.add(await ws.recv())
            return out

        async def run():
            clients, probes = await self.open_all(gw)
            readers = [asyncio.ensure_future(c.reader()) for c in clients]
            await self.send_some(clients, STEP_MSGS)
            self.assertEqual(await versions(probes), {"version:1"})
            before = await asyncio.to_thread(placement, gw)

            # The rebuilt class replaces the file as an install does (rename, never in place:
            # the running workers have the old one mapped).
            shutil.copy(PROBE_V2_SO, so + ".new")
            os.replace(so + ".new", so)
            mark = gw.mark()
            gw.proc.send_signal(signal.SIGHUP)
            sending = asyncio.ensure_future(self.send_some(clients, STEP_MSGS * 2))
            await asyncio.to_thread(gw.wait_for_line, r"event=handover action=replaced_all",
                                    30, mark)
            await sending
            await self.send_some(clients, 3)
            await self.wait_delivered(clients)
            self.check_rooms(clients)
            await self.check_probes(probes)
            self.assertEqual(await versions(probes), {"version:2"})
            self.assertEqual(await asyncio.to_thread(placement, gw), before)
            self.assertEqual(await asyncio.to_thread(metric, gw, "duro_handover_closed_total"), 0)
            for c in clients:
                await c.ws.close()
            for ws in probes:
                await ws.close()
            await asyncio.gather(*readers)

        run_async(run(), timeout=120)
        retired = {int(m.group(1)) for m in
                   (re.search(r"event=worker_retired worker=\d+ worker_pid=(\d+)", l)
                    for l in gw.lines) if m}
        self.assertEqual(retired, old_pids, "every old worker handed over and exited")
        self.assertFalse(any(pid_alive(p) for p in old_pids))
        self.assertEqual(len(set(gw.worker_pids()) - old_pids), 2)
        closes = [l for l in gw.lines if "event=ws_closed" in l and "code_recv=1000" not in l]
        self.assertEqual(closes, [], "a socket closed during the reload")

    def test_socket_without_a_clean_point_gets_1012_others_move(self):
        """A client that stops in the middle of a frame never reaches a clean point: after
        upgrade_timeout_ms it is closed with 1012 (counted, logged), and nothing else is."""
        moving = [f"r{i}" for i in range(200) if owner("chat", f"r{i}", 3) == 2][:2]
        staying = next(f"r{i}" for i in range(200) if owner("chat", f"r{i}", 3) != 2)
        gw = Gateway(self, config=config(2, timeout_ms=300), workers=2, workers_flag=False)
        stuck = gw.ws_open(f"/rooms/{moving[0]}/websocket")
        whole = frame(OP_TEXT, "half of me")
        stuck.send(whole[:9])  # header, key and 3 of 10 payload bytes

        async def run():
            mover = await websockets.connect(gw.ws_url(f"/rooms/{moving[1]}/websocket"))
            stayer = await websockets.connect(gw.ws_url(f"/rooms/{staying}/websocket"))
            mark = gw.mark()
            self.write_config(gw, config(3, timeout_ms=300))
            gw.proc.send_signal(signal.SIGHUP)
            f = await asyncio.to_thread(stuck.read_frame)
            self.assertEqual((f.opcode, f.close_code, f.close_reason),
                             (OP_CLOSE, 1012, b"service restart"))
            await asyncio.to_thread(gw.wait_for_line, f"obj=chat/{moving[0]} event=handover_timeout ",
                                    5, mark)
            await asyncio.to_thread(gw.wait_for_lines,
                                    r"event=handover action=worker_migrated .* closed=[01] ", 2,
                                    10, mark)
            for ws in (mover, stayer):
                await ws.send("still here")
                self.assertEqual(await ws.recv(), "still here")
            where = await asyncio.to_thread(placement, gw)
            self.assertEqual(where[("chat", moving[1])], 2)
            self.assertEqual(await asyncio.to_thread(metric, gw, "duro_handover_closed_total"), 1)
            await mover.close()
            await stayer.close()

        run_async(run(), timeout=60)

    def test_stored_objects_move_with_their_storage(self):
        """Counter objects (durable storage, the output gate) incremented without pause across
        a resize: each incr's answer is the next integer, the old worker holds no file of an
        object that left, and the new owner goes on from the durable value."""
        tmp = tempfile.TemporaryDirectory(prefix="duro-handover-storage-")
        self.addCleanup(tmp.cleanup)
        names = [f"k{i}" for i in range(12)]
        self.assertTrue(any(owner("counter", n, 3) == 2 for n in names))
        gw = Gateway(self, config=config(2, storage=tmp.name), workers=2, workers_flag=False)

        async def run():
            socks = {n: await websockets.connect(gw.ws_url(f"/counter/{n}/websocket"))
                     for n in names}
            counts = {n: 0 for n in names}

            async def incr(rounds):
                for _ in range(rounds):
                    for n, ws in socks.items():
                        await ws.send("incr")
                    for n, ws in socks.items():
                        counts[n] += 1
                        self.assertEqual(await ws.recv(), str(counts[n]), n)

            await incr(5)
            mark = gw.mark()
            self.write_config(gw, config(3, storage=tmp.name))
            gw.proc.send_signal(signal.SIGHUP)
            going = asyncio.ensure_future(incr(20))
            await asyncio.to_thread(gw.wait_for_lines, r"action=worker_migrated worker=[01] ",
                                    2, 20, mark)
            await going
            await incr(5)
            where = await asyncio.to_thread(placement, gw)
            ids = {o["name"]: o["id"] for o in await asyncio.to_thread(list_objects, gw)
                   if o["class"] == "counter"}
            moved = [n for n in names if owner("counter", n, 3) == 2]
            self.assertTrue(moved)
            for n in names:
                self.assertEqual(where[("counter", n)], owner("counter", n, 3), n)
            # the files (named by object id) are open where the objects are, and only there
            files = {}
            for slot in (0, 1, 2):
                pid = gw.workers[slot][-1]
                files[slot] = [os.readlink(f"/proc/{pid}/fd/{fd}")
                               for fd in os.listdir(f"/proc/{pid}/fd")]
            for n in moved:
                for slot in (0, 1):
                    self.assertFalse([f for f in files[slot] if ids[n] in f], (slot, n))
                self.assertTrue([f for f in files[2] if f.endswith(ids[n] + ".db")], n)
            for ws in socks.values():
                await ws.send("get")
            for n, ws in socks.items():
                self.assertEqual(await ws.recv(), str(counts[n]))
                await ws.close()

        run_async(run(), timeout=60)
        closes = [l for l in gw.lines if "event=ws_closed" in l and "code_recv=1000" not in l]
        self.assertEqual(closes, [])

    def test_resize_2_3_2_stateless_deflate(self):
        self.resize("stateless")

    def test_resize_2_3_2_takeover_deflate(self):
        self.resize("takeover")


if __name__ == "__main__":
    unittest.main()

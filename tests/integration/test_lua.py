"""tests/integration/test_lua.py: classes written in Lua (DESIGN.md section 9).

Run: DURO_GATEWAY=... DURO_WORKER=... /usr/bin/python3 tests/integration/test_lua.py -v
"""

import asyncio
import os
import signal
import subprocess
import tempfile
import time
import unittest

import websockets

from harness import GATEWAY, WORKER, Gateway, run_async

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FAULTY = os.path.join(HERE, "lua", "faulty.lua")
VIEW = os.path.join(HERE, "lua", "view.lua")
NESTED = os.path.join(HERE, "lua", "nested.lua")
CHAT = os.path.join(REPO, "examples", "lua", "chat.lua")
RECV_TIMEOUT_S = 5.0
WARM_MESSAGES = 500  # far past LuaJIT's hot counters: the callback is compiled

ROOM_V1 = """local t = {}
function t.construct(obj) duro.log("v1 construct " .. obj:name()) return { n = 0 } end
function t.destroy(obj, state) duro.log("v1 destroy " .. obj:name()) end
function t.on_message(obj, state, ws, data)
    state.n = state.n + 1
    obj:broadcast("v1 " .. data .. " " .. state.n)
end
return t
"""
ROOM_V2 = ROOM_V1.replace("v1", "v2")
ROOM_BROKEN = "local t = {}\nfunction t.on_message(obj, state, ws, data)\n    ws:send(data\nend\nreturn t\n"


def config(scripts, extra=""):
    text = ""
    for name, path in scripts.items():
        text += f"[class {name}]\nscript = {path}\n\n"
    text += ("[lua]\nevent_max_ms = 300\nmemory_max_bytes = 8388608\n\n"
             "[route faulty]\nmatch = path /f/{name}\nclass = faulty\nobject = {name}\n\n")
    if "room" in scripts:
        text += "[route room]\nmatch = path /room/{name}\nclass = room\nobject = {name}\n\n"
    if "chat" in scripts:
        text += "[route chat]\nmatch = path /chat/{name}\nclass = chat\nobject = {name}\n\n"
    return text + extra


def connect(url):
    return websockets.connect(url, compression=None, open_timeout=5, close_timeout=2,
                              ping_interval=None, max_size=None)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)


async def closed_with(ws):
    """Waits for the server's close and returns its code."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


class LuaTest(unittest.TestCase):

    def gateway(self, scripts=None, extra=""):
        scripts = scripts or {"faulty": FAULTY}
        return Gateway(self, config=config(scripts, extra))

    def test_chat_lua_room_broadcasts_to_everyone(self):
        gw = self.gateway({"faulty": FAULTY, "chat": CHAT})

        async def run():
            url = gw.ws_url("/chat/lobby")
            async with connect(url) as a, connect(url) as b, connect(url) as c:
                await b.send("hi all")
                for ws in (a, b, c):
                    self.assertEqual(await recv(ws), "hi all")
                async with connect(gw.ws_url("/chat/other")) as d:
                    await d.send("elsewhere")
                    self.assertEqual(await recv(d), "elsewhere")
                await a.send(b"\x01\x02")
                for ws in (a, b, c):
                    self.assertEqual(await recv(ws), b"\x01\x02")
        run_async(run())

    def test_failures_close_only_their_socket(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/f/calm")) as calm, \
                    connect(gw.ws_url("/f/victim")) as neighbour:
                await calm.send("hello")
                self.assertEqual(await recv(calm), "n=1")
                await neighbour.send("hello")
                self.assertEqual(await recv(neighbour), "n=1")
                for kind, why in (("error", "error"), ("loop", "timeout"), ("catch", "timeout"),
                                  ("hog", "memory")):
                    with self.subTest(kind=kind):
                        async with connect(gw.ws_url("/f/victim")) as bad:
                            await bad.send(kind)
                            self.assertEqual(await closed_with(bad), 1011)
                        # A memory error has no traceback: Lua does not run the message
                        # handler for it (it could not allocate one).
                        where = r"not enough memory" if why == "memory" else r"faulty\.lua:\d+"
                        gw.wait_for_line(rf"mod=lua event=lua_error class=faulty obj=faulty/victim "
                                         rf"callback=on_message why={why}\b.*{where}")
                        # Every other object carries on; the failed one was reset: the next
                        # event runs construct again (n starts over), and its other socket
                        # stays open.
                        await calm.send("again")
                        self.assertEqual((await recv(calm))[:2], "n=")
                        await neighbour.send("after")
                        self.assertEqual(await recv(neighbour), "n=1")
                        await neighbour.send(b"\x00")
                        self.assertEqual(await recv(neighbour), "n=2 binary")
        run_async(run())
        gw.wait_for_line(r"faulty.lua:\d+: boom on purpose \| stack traceback:")

    def test_runaway_loops_in_compiled_callbacks_are_stopped(self):
        """The JIT is on. A callback that has run often enough to be compiled, then loops for
        ever (an endless loop, a loop counting to 1e12, tail recursion), is stopped at
        event_max_ms (300 ms here) like an interpreted one: LuaJIT compiles the loop, duro drops
        that trace (compiled code never calls the hook) and the watchdog's hook stops the
        interpreted loop. Each kind on a fresh gateway, so that no earlier drop helps it."""
        for kind, link in (("loop", "loop"), ("sum", "loop"), ("tail", "tail-recursion")):
            with self.subTest(kind=kind):
                gw = self.gateway()

                async def run():
                    async with connect(gw.ws_url("/f/calm")) as calm, \
                            connect(gw.ws_url("/f/hot")) as ws:
                        for _ in range(WARM_MESSAGES):
                            await ws.send("warm")
                        for i in range(1, WARM_MESSAGES + 1):
                            self.assertEqual(await recv(ws), f"n={i}")
                        start = time.monotonic()
                        await ws.send(kind)
                        self.assertEqual(await closed_with(ws), 1011)
                        took = time.monotonic() - start
                        self.assertGreaterEqual(took, 0.25)
                        self.assertLess(took, 3.0)
                        await calm.send("still there")
                        self.assertEqual(await recv(calm), "n=1")
                run_async(run())
                gw.wait_for_line(r"mod=lua event=lua_error class=faulty obj=faulty/hot "
                                 r"callback=on_message why=timeout\b")
                gw.wait_for_line(rf"event=lua_trace_dropped link={link} where=\S*faulty\.lua:\d+")

    def test_error_in_a_nested_callback_is_reported_with_its_traceback(self):
        """A send that makes duro fail a slow consumer runs that socket's on_error inside the
        current callback; its error is logged with its own traceback, and the worker carries
        on."""
        gw = self.gateway({"faulty": FAULTY, "nested": NESTED},
                          extra="[route nested]\nmatch = path /n/{name}\nclass = nested\n"
                                "object = {name}\n\n[websocket]\noutbound_max_bytes = 65536\n")

        async def run():
            async with connect(gw.ws_url("/n/x")) as victim, connect(gw.ws_url("/n/x")) as ws:
                await victim.send("victim")
                self.assertEqual(await recv(victim), "kept")
                await ws.send("flood")
                self.assertEqual(await closed_with(victim), 1008)
            async with connect(gw.ws_url("/n/y")) as other:
                await other.send("hi")
                self.assertEqual(await recv(other), "echo hi")
        run_async(run())
        gw.wait_for_line(r"event=lua_error class=nested obj=nested/x callback=on_error why=error "
                         r".*nested\.lua:\d+: on_error raised on purpose, code 1008 "
                         r"\| stack traceback:")

    def test_stale_socket_handle_errors_instead_of_crashing(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/f/s")) as keep:
                await keep.send("keep")
                self.assertEqual(await recv(keep), "n=1")
            async with connect(gw.ws_url("/f/s")) as other:
                await other.send("stale")
                self.assertEqual(await closed_with(other), 1011)
            async with connect(gw.ws_url("/f/s")) as again:
                await again.send("x")
                self.assertEqual(await recv(again), "n=1")
        run_async(run())
        gw.wait_for_line(r"event=lua_error .*socket handle used after its socket closed")

    def test_storage_calls_answer_nil_and_the_error_name(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/f/st")) as ws:
                await ws.send("storage")
                reply = await recv(ws)
                self.assertTrue(reply.startswith("storage nil E"), reply)
        run_async(run())

    def test_hibernation_runs_destroy_and_construct(self):
        gw = self.gateway(extra="[objects]\nhibernate_after_ms = 100\n")

        async def run():
            async with connect(gw.ws_url("/f/h")) as ws:
                await ws.send("a")
                self.assertEqual(await recv(ws), "n=1")
                gw.wait_for_line(r'event=log msg="destroy h n=1"')
                await ws.send("b")
                self.assertEqual(await recv(ws), "n=1")
        run_async(run())
        gw.wait_for_lines(r'event=log msg="construct h"', 2)

    def test_message_views_read_like_strings_and_go_stale_after_their_event(self):
        gw = self.gateway({"faulty": FAULTY, "vt": VIEW},
                          "[route vt]\nmatch = path /vt/{name}\nclass = vt\nobject = {name}\n")

        async def run():
            async with connect(gw.ws_url("/vt/a")) as ws, connect(gw.ws_url("/vt/a")) as other:
                for sent, want in (("hello", "hello"), ("len", "len 3"), ("cat", "cat:cat"),
                                   ("many", "amanybmanycmanyd"), ("sub", "ub"),
                                   (b"\x00\xff", b"\x00\xff"), ("keep", "kept")):
                    await ws.send(sent)
                    self.assertEqual(await recv(ws), want, sent)
                await ws.send("bc")
                self.assertEqual(await recv(ws), "bc")
                self.assertEqual(await recv(other), "bc")
                # the kept view names a read buffer that holds other bytes by now
                await ws.send("stale")
                self.assertEqual(await closed_with(ws), 1011)
                await other.send("still")
                self.assertEqual(await recv(other), "still")
        run_async(run())
        gw.wait_for_line(r"event=lua_error .*message view used after its on_message returned")

    def test_now_ms_is_the_wall_clock_in_milliseconds(self):
        gw = self.gateway()

        async def run():
            async with connect(gw.ws_url("/f/t")) as ws:
                before = time.time() * 1000
                await ws.send("now")
                got = await recv(ws)
                after = time.time() * 1000
                return float(got.split()[1]), before, after
        now, before, after = run_async(run())
        # the clock alarms are set in (counter.lua's "alarm MS"), to the millisecond
        self.assertGreaterEqual(now, before - 5)
        self.assertLessEqual(now, after + 5)

    def test_relative_script_is_found_next_to_its_config(self):
        # as a relative [class] path is: a config and its scripts move together
        with tempfile.TemporaryDirectory(prefix="duro-lua-rel-") as tmp:
            with open(os.path.join(tmp, "room.lua"), "w", encoding="utf-8") as f:
                f.write(ROOM_V1)
            conf = os.path.join(tmp, "duro.ini")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(config({"faulty": FAULTY, "room": "room.lua"}))
            self.assertNotEqual(os.path.realpath(os.getcwd()), os.path.realpath(tmp))
            gw = Gateway(self, config_path=conf)

            async def run():
                async with connect(gw.ws_url("/room/r")) as ws:
                    await ws.send("x")
                    self.assertEqual(await recv(ws), "v1 x 1")
            run_async(run())

    def reload_gateway(self, tmp):
        path = os.path.join(tmp, "room.lua")
        with open(path, "w", encoding="utf-8") as f:
            f.write(ROOM_V1)
        return path, self.gateway({"faulty": FAULTY, "room": path})

    def test_reload_changes_the_reply_of_a_live_room_without_closing(self):
        with tempfile.TemporaryDirectory(prefix="duro-lua-") as tmp:
            path, gw = self.reload_gateway(tmp)

            async def run():
                url = gw.ws_url("/room/r")
                async with connect(url) as a, connect(url) as b:
                    await a.send("x")
                    self.assertEqual(await recv(a), "v1 x 1")
                    self.assertEqual(await recv(b), "v1 x 1")
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(ROOM_V2)
                    mark = gw.mark()
                    os.kill(gw.proc.pid, signal.SIGHUP)
                    gw.wait_for_line(r"event=script_reloaded class=room .*objects=1", start=mark)
                    gw.wait_for_line(r'event=log msg="v1 destroy r"', start=mark)
                    await b.send("y")
                    self.assertEqual(await recv(a), "v2 y 1")
                    self.assertEqual(await recv(b), "v2 y 1")
                    self.assertIsNone(a.close_code)
                    self.assertIsNone(b.close_code)
            run_async(run())
            self.assertFalse([l for l in gw.lines if "event=ws_closed" in l and "obj=room/" in l
                              and "code_sent=1011" in l])

    def test_broken_script_on_reload_is_refused_and_old_code_serves(self):
        with tempfile.TemporaryDirectory(prefix="duro-lua-") as tmp:
            path, gw = self.reload_gateway(tmp)

            async def run():
                async with connect(gw.ws_url("/room/r")) as a:
                    await a.send("x")
                    self.assertEqual(await recv(a), "v1 x 1")
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(ROOM_BROKEN)
                    mark = gw.mark()
                    os.kill(gw.proc.pid, signal.SIGHUP)
                    gw.wait_for_line(r"room\.lua:4: .*expected", start=mark)
                    gw.wait_for_line(r"event=reload_failed", start=mark)
                    await a.send("y")
                    self.assertEqual(await recv(a), "v1 y 2")
            run_async(run())

    def test_check_classes_reports_file_and_line(self):
        with tempfile.TemporaryDirectory(prefix="duro-lua-") as tmp:
            bad = os.path.join(tmp, "bad.lua")
            with open(bad, "w", encoding="utf-8") as f:
                f.write(ROOM_BROKEN)
            ini = os.path.join(tmp, "duro.ini")
            with open(ini, "w", encoding="utf-8") as f:
                f.write(config({"faulty": FAULTY, "room": bad}))
            r = subprocess.run([WORKER, "--check-classes", ini], capture_output=True, timeout=10,
                               check=False)
            self.assertEqual(r.returncode, 2, r)
            self.assertIn(f"{bad}:4:".encode(), r.stderr)
            r = subprocess.run([GATEWAY, "--check", "-c", ini, "--worker-bin", WORKER],
                               capture_output=True, timeout=10, check=False)
            self.assertNotEqual(r.returncode, 0, r)
            self.assertIn(f"{bad}:4:".encode(), r.stderr)
            with open(ini, "w", encoding="utf-8") as f:
                f.write(config({"faulty": FAULTY, "room": CHAT}))
            r = subprocess.run([WORKER, "--check-classes", ini], capture_output=True, timeout=10,
                               check=False)
            self.assertEqual(r.returncode, 0, r)


if __name__ == "__main__":
    unittest.main()

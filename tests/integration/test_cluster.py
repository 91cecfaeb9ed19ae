"""tests/integration/test_cluster.py: several duro nodes behind HAProxy (Debian's haproxy).

Three nodes (each a gateway with its worker) and one HAProxy with the configuration printed by
`duro-gateway --print-haproxy`, all on loopback, started and stopped here. Placement is read from
each node's /objects and checked against duro's own rendezvous hash (the ownership check).

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_cluster.py -v
"""

import asyncio
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import websockets

from harness import GATEWAY, WORKER, Conn, Gateway, admin_objects, run_async, ws_request

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
NODE_SEED = 1685418607  # DURO_NODE_HASH_SEED
NAMES = [f"n{i}" for i in range(1000)]
CONFIG = """
[objects]
hibernate_after_ms = 60000

[route rooms]
match = path /rooms/{name}/websocket
class = chat
object = {name}

[route seed]
match = suffix /websocket
class = seed
object = foo
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def xxh32(data, seed):
    lib = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
    lib.XXH32.restype = ctypes.c_uint32
    lib.XXH32.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint32]
    return lib.XXH32(data, len(data), seed)


def owner(key, nodes):
    """duro's rendezvous: the highest xxh32(KEY:NODE), the first listed winning ties."""
    best, best_w = None, -1
    for n in nodes:
        w = xxh32(f"{key}:{n}".encode(), NODE_SEED)
        if w > best_w:
            best, best_w = n, w
    return best


def objects(node):
    objs, pages = admin_objects(node.admin, timeout=10)
    assert not any(p["partial"] for p in pages), pages
    return objs


def open_names(node, cls="chat"):
    return {o["name"] for o in objects(node) if o["class"] == cls and o["open"] > 0}


def all_names(node, cls="chat"):
    return [o["name"] for o in objects(node) if o["class"] == cls]


class HAProxy:
    def __init__(self, test, cfg_text, tmp, port):
        self.path = os.path.join(tmp, "haproxy.cfg")
        with open(self.path, "w") as f:
            f.write(cfg_text)
        check = subprocess.run([HAPROXY, "-c", "-f", self.path], capture_output=True, text=True,
                               timeout=30)
        test.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.path], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.out = []
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        test.addCleanup(self.stop)
        # HAProxy says nothing when it is ready: its port accepting is the event
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("haproxy did not start: " + "".join(self.out))
                time.sleep(0.02)

    def _drain(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.out.append(line.decode("utf-8", "replace"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # The pipe is closed here, not left to the garbage collector: the drain thread holds
        # this object until it has read the end of the output, and if it ends after the last
        # Gateway's descriptor check, the open pipe counts as leaked. HAProxy has exited, so
        # the end of its output is there to read.
        self._drainer.join(5)
        if self._drainer.is_alive():
            raise AssertionError("haproxy exited but its output did not end within 5 s")
        self.proc.stdout.close()


def connect(url, ctx=None):
    return websockets.connect(url, compression=None, open_timeout=10, close_timeout=5,
                              ping_interval=None, max_size=None, ssl=ctx)


async def visit(url, n=1):
    """Connects `n` times (one after the other) and exchanges one message each time."""
    for _ in range(n):
        async with connect(url) as ws:
            await ws.send("hi")
            await asyncio.wait_for(ws.recv(), 10)


async def bounded_gather(coros, limit=50):
    sem = asyncio.Semaphore(limit)

    async def one(c):
        async with sem:
            return await c
    return await asyncio.gather(*(one(c) for c in coros))


@unittest.skipUnless(os.path.exists(HAPROXY), "haproxy not installed (Debian package haproxy; "
                     "scripts/install-deps.sh installs it)")
class ClusterTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="duro-cluster-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ports = {n: (free_port(), free_port()) for n in ("a", "b", "c")}
        self.balancer = free_port()
        self.node_flags = []
        for name, (port, admin) in self.ports.items():
            self.node_flags += ["--node", f"{name}=127.0.0.1:{port},127.0.0.1:{admin}"]
        self.config = os.path.join(self.tmp, "duro.ini")
        with open(self.config, "w") as f:
            f.write(CONFIG + f"\n[cluster]\nbalancer_listen = 127.0.0.1:{self.balancer}\n")

    def start_node(self, name):
        port, admin = self.ports[name]
        return Gateway(self, workers=1, args=["-c", self.config, "--listen",
                                              f"127.0.0.1:{port}", "--admin",
                                              f"127.0.0.1:{admin}", "--self", name]
                       + self.node_flags)

    def haproxy_config(self, extra=""):
        if extra:
            with open(self.config, "a") as f:
                f.write(extra)
        p = subprocess.run([GATEWAY, "-c", self.config, "--print-haproxy"] + self.node_flags,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("hash-type consistent", p.stdout)
        self.assertIn("balance hash var(txn.duro_key)", p.stdout)
        self.assertIn("timeout tunnel", p.stdout)
        self.assertIn("option httpchk GET /readyz", p.stdout)
        return p.stdout

    def url(self, target, scheme="ws"):
        return f"{scheme}://127.0.0.1:{self.balancer}{target}"

    def wait_placed(self, node, name, timeout=15):
        """Connects to `name` through HAProxy until `node` holds it open (health checks lag)."""
        deadline = time.monotonic() + timeout

        async def probe():
            try:
                async with connect(self.url(f"/rooms/{name}/websocket")) as ws:
                    await ws.send("probe")
                    await asyncio.wait_for(ws.recv(), 10)
                    return name in open_names(node)
            except websockets.exceptions.InvalidStatusCode as e:
                # 503 from HAProxy until its health check sees the node down
                self.assertEqual(e.status_code, 503)
                return False
        while time.monotonic() < deadline:
            if run_async(probe()):
                return
        raise AssertionError(f"{name} never reached its node")

    def test_names_stick_to_one_node_and_only_a_stopped_nodes_names_move(self):
        nodes = {n: self.start_node(n) for n in ("a", "b", "c")}
        HAProxy(self, self.haproxy_config(), self.tmp, self.balancer)
        order = ["a", "b", "c"]

        # 1. every name, connected three times, lives on exactly one node: its owner
        run_async(bounded_gather([visit(self.url(f"/rooms/{n}/websocket"), 3) for n in NAMES]),
                  timeout=240)
        placed = {}
        for name, node in nodes.items():
            listed = all_names(node)
            self.assertEqual(len(listed), len(set(listed)))
            for n in listed:
                self.assertNotIn(n, placed, f"{n} on {placed.get(n)} and {name}")
                placed[n] = name
        self.assertEqual(set(placed), set(NAMES))
        for n in NAMES:
            self.assertEqual(placed[n], owner(f"chat/{n}", order), n)
        for count in ("a", "b", "c"):
            share = sum(1 for v in placed.values() if v == count)
            self.assertGreater(share, 250, f"node {count} got {share} of 1000")
        for node in nodes.values():
            self.assertFalse([l for l in node.lines if "event=not_owner" in l])

        # the seed's one object has one owner, whatever the target
        run_async(bounded_gather([visit(self.url(t), 2)
                                  for t in ("/websocket", "/a/websocket", "/b/c/websocket")]))
        seed_owners = [name for name, node in nodes.items() if all_names(node, "seed")]
        self.assertEqual(seed_owners, [owner("seed/foo", order)])

        # 2. stop c: its names go to the others, no other name moves
        nodes["c"].terminate()
        on_c = [n for n in NAMES if placed[n] == "c"]
        self.wait_placed(nodes[owner(f"chat/{on_c[0]}", ["a", "b"])], on_c[0])

        async def hold_all(check):
            """Connects once to every name and runs `check` while all sockets are open (they
            belong to this event loop and close with it)."""
            socks = []

            async def one(n):
                socks.append(await connect(self.url(f"/rooms/{n}/websocket")))
            try:
                await bounded_gather([one(n) for n in NAMES])
                self.assertEqual(len(socks), len(NAMES))
                await asyncio.to_thread(check)
            finally:
                await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)

        def check_moved():
            now = {n: name for name in ("a", "b") for n in open_names(nodes[name])}
            self.assertEqual(set(now), set(NAMES))
            for n in NAMES:
                if placed[n] == "c":
                    self.assertEqual(now[n], owner(f"chat/{n}", ["a", "b"]), n)
                else:
                    self.assertEqual(now[n], placed[n], f"{n} moved from {placed[n]} to {now[n]}")
        run_async(hold_all(check_moved), timeout=240)

        # 3. c comes back: its names come back to it
        nodes["c"] = self.start_node("c")
        self.wait_placed(nodes["c"], on_c[0])

        def check_back():
            back = {n: name for name, node in nodes.items() for n in open_names(node)}
            self.assertEqual(back, placed)
        run_async(hold_all(check_back), timeout=240)

    def test_absolute_form_targets_are_routed_alike_by_haproxy_and_nodes(self):
        nodes = {n: self.start_node(n) for n in ("a", "b", "c")}
        order = ["a", "b", "c"]
        HAProxy(self, self.haproxy_config(), self.tmp, self.balancer)
        self.wait_placed(nodes[owner("chat/warm", order)], "warm")
        names = NAMES[:30]
        held = []
        try:
            for n in names:
                c = Conn(("127.0.0.1", self.balancer))
                held.append(c)
                c.send(ws_request(f"http://h.example/rooms/{n}/websocket",
                                  replace={"Host": "h.example"}))
                r = c.read_response()
                self.assertEqual(r.code, 101, r.raw)
            for n in names:
                self.assertIn(n, open_names(nodes[owner(f"chat/{n}", order)]), n)
            for node in nodes.values():
                self.assertEqual(all_names(node, "seed"), [])
                self.assertFalse([l for l in node.lines if "event=not_owner" in l])
        finally:
            for c in held:
                c.close()

    def test_print_haproxy_requires_admin_addresses(self):
        p = subprocess.run([GATEWAY, "-c", self.config, "--print-haproxy",
                            "--node", "a=127.0.0.1:1", "--node", "b=127.0.0.1:2,127.0.0.1:3"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("node 'a' has no admin address", p.stderr)
        out = self.haproxy_config()
        for name, (port, admin) in self.ports.items():
            self.assertIn(f"server {name} 127.0.0.1:{port} check port {admin}\n", out)

    def test_no_failover_route_answers_503_while_its_node_is_down(self):
        """failover = no (storage-backed objects): while the owner is down HAProxy answers 503
        instead of sending the object to another node; chat objects still move."""
        extra = (f"\n[storage]\ndir = {self.tmp}\n"
                 "\n[route counter]\nmatch = path /counter/{name}/websocket\nclass = counter\n"
                 "object = {name}\nfailover = no\n")
        with open(self.config) as f:
            text = f.read()
        with open(self.config, "w") as f:  # before [route rooms]: the counter route comes first
            f.write(text.replace("[route rooms]", extra.strip() + "\n\n[route rooms]", 1))
        nodes = {n: self.start_node(n) for n in ("a", "b", "c")}
        cfg = self.haproxy_config()
        self.assertIn("txn.duro_pinned", cfg)
        HAProxy(self, cfg, self.tmp, self.balancer)
        name = next(n for n in NAMES if owner(f"counter/{n}", ["a", "b", "c"]) == "c")

        async def incr():
            async with connect(self.url(f"/counter/{name}/websocket")) as ws:
                await ws.send("incr")
                return await asyncio.wait_for(ws.recv(), 10)
        self.assertEqual(run_async(incr()), "1")
        nodes["c"].terminate()

        # Once HAProxy sees c down (a chat name of c has moved), the counter still gets 503.
        chat = next(n for n in NAMES if owner(f"chat/{n}", ["a", "b", "c"]) == "c")
        self.wait_placed(nodes[owner(f"chat/{chat}", ["a", "b"])], chat)

        async def refused():
            with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
                async with connect(self.url(f"/counter/{name}/websocket")):
                    pass
            return cm.exception.status_code
        self.assertEqual(run_async(refused()), 503)
        for n in ("a", "b"):
            self.assertNotIn(name, all_names(nodes[n], "counter"))

    def test_ownership_check_warns_or_refuses(self):
        nodes = {n: self.start_node(n) for n in ("a", "b")}
        # a name node a does not own, asked of node a directly (a misconfigured balancer)
        foreign = next(n for n in NAMES if owner(f"chat/{n}", ["a", "b", "c"]) != "a")
        c = nodes["a"].ws_open(f"/rooms/{foreign}/websocket")
        c.close()
        nodes["a"].wait_for_line(r"event=not_owner action=served")
        with open(self.config, "a") as f:
            f.write("ownership = refuse\n")
        strict = self.start_node("c")
        foreign = next(n for n in NAMES if owner(f"chat/{n}", ["a", "b", "c"]) != "c")
        conn = strict.connect()
        from harness import ws_request
        conn.send(ws_request(f"/rooms/{foreign}/websocket"))
        r = conn.read_response()
        self.assertEqual(r.code, 503, r.raw)
        self.assertEqual(r.header("Retry-After"), ["1"])
        mine = next(n for n in NAMES if owner(f"chat/{n}", ["a", "b", "c"]) == "c")
        strict.ws_open(f"/rooms/{mine}/websocket").close()

    def test_proxy_protocol_v2_gives_the_nodes_the_client_address(self):
        with open(self.config, "a") as f:
            f.write("[server]\nproxy_protocol = true\n")
        nodes = {n: self.start_node(n) for n in ("a", "b", "c")}
        cfg = self.haproxy_config()
        self.assertEqual(cfg.count(" send-proxy-v2"), 3, cfg)
        HAProxy(self, cfg, self.tmp, self.balancer)
        self.wait_placed(nodes[owner("chat/n1", ["a", "b", "c"])], "n1")
        port = free_port()
        out = subprocess.run(["curl", "-q", "-s", "--noproxy", "*", "--max-time", "5",
                              "--local-port", str(port), "-X", "POST", "--data", "via haproxy",
                              self.url("/rooms/n1/websocket", "http")],
                             capture_output=True, timeout=10)
        self.assertEqual(out.stdout, b'{"delivered":0}', out)
        node = nodes[owner("chat/n1", ["a", "b", "c"])]
        node.wait_for_line(r"mod=access .*peer=127\.0\.0\.1:%d status=200" % port)

    def test_tls_termination_at_haproxy(self):
        if shutil.which("openssl") is None:
            self.skipTest("openssl not installed")
        cert = os.path.join(self.tmp, "cert.pem")
        key = os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True,
                       timeout=60)
        pem = os.path.join(self.tmp, "haproxy.pem")
        with open(pem, "w") as out, open(cert) as c, open(key) as k:
            out.write(c.read() + k.read())
        for n in ("a", "b", "c"):
            self.start_node(n)
        HAProxy(self, self.haproxy_config(f"tls_cert = {pem}\n"), self.tmp, self.balancer)
        ctx = ssl.create_default_context(cafile=cert)

        async def run():
            async with connect(self.url("/websocket", "wss"), ctx) as ws:
                await ws.send("secure")
                self.assertEqual(await ws.recv(),
                                 "[Durable Object] message: secure, connections: 1")
        run_async(run())


if __name__ == "__main__":
    unittest.main()

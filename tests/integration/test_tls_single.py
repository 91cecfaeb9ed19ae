"""tests/integration/test_tls_single.py: the single-node TLS recipe, config/haproxy-tls-single.cfg,
as shipped except for its addresses (replaced by this test's ports and a self-signed
certificate): Debian's HAProxy terminates TLS and a wss:// client talks to the seed.

Run: DURO_GATEWAY=... DURO_WORKER=... /usr/bin/python3 tests/integration/test_tls_single.py -v
"""

import asyncio
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

import websockets

from harness import REPO, Gateway, run_async
from test_cluster import HAPROXY, HAProxy, free_port

RECIPE = os.path.join(REPO, "config", "haproxy-tls-single.cfg")


@unittest.skipUnless(os.path.exists(HAPROXY), "haproxy not installed")
@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class SingleNodeTlsTest(unittest.TestCase):

    def test_wss_through_haproxy_to_one_node(self):
        tmp = self.enterContext(tempfile.TemporaryDirectory(prefix="duro-tls-"))
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True,
                       timeout=60)
        pem = os.path.join(tmp, "duro.pem")
        with open(pem, "w") as out, open(cert) as c, open(key) as k:
            out.write(c.read() + k.read())

        gw = Gateway(self, workers=1)
        tls_port = free_port()
        with open(RECIPE, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("option httpchk GET /readyz", text)
        for old, new in ((" :443 ", f" 127.0.0.1:{tls_port} "), ("/etc/haproxy/duro.pem", pem),
                         ("127.0.0.1:8787", f"127.0.0.1:{gw.port}"),
                         ("port 9787", f"port {gw.admin[1]}"),
                         ("log /dev/log local0", "log stderr local0")):
            self.assertIn(old, text)
            text = text.replace(old, new)
        HAProxy(self, text, tmp, tls_port)

        ctx = ssl.create_default_context(cafile=cert)

        async def run():
            url = f"wss://127.0.0.1:{tls_port}/websocket"
            async with websockets.connect(url, ssl=ctx, compression=None, open_timeout=10,
                                          close_timeout=5, ping_interval=None) as ws:
                await ws.send("over tls")
                self.assertEqual(await asyncio.wait_for(ws.recv(), 10),
                                 "[Durable Object] message: over tls, connections: 1")
            with self.assertRaises(Exception):  # plain ws:// on the TLS port is refused
                async with websockets.connect(f"ws://127.0.0.1:{tls_port}/websocket",
                                              open_timeout=5, close_timeout=2):
                    pass
        run_async(run(), timeout=60)


if __name__ == "__main__":
    unittest.main()

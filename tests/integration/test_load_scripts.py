"""tests/integration/test_load_scripts.py: the websocat load scripts of tests/load: they refuse
bad usage (a remote URL, 0 clients), accept ws://[::1], report a missing websocat as SKIPPED
with meson's skip code 77 (never a silent pass), and, when websocat is installed, pass against
a gateway of their own.

Run: DURO_GATEWAY=... DURO_WORKER=... /usr/bin/python3 tests/integration/test_load_scripts.py -v
"""

import os
import shutil
import subprocess
import unittest

from harness import REPO, Gateway

LOAD = os.path.join(REPO, "tests", "load")
SCRIPT_TIMEOUT_S = 120


def run(script, *args, websocat=None):
    env = dict(os.environ, TIMEOUT="30")
    if websocat is not None:
        env["WEBSOCAT"] = websocat
    return subprocess.run(["sh", os.path.join(LOAD, script), *args], capture_output=True,
                          text=True, timeout=SCRIPT_TIMEOUT_S, env=env)


class UsageTest(unittest.TestCase):

    def test_missing_websocat_is_skipped_not_passed(self):
        for script in ("smoke.sh", "parallel.sh", "soak.sh"):
            p = run(script, websocat="/nonexistent/websocat")
            self.assertEqual(p.returncode, 77, script + p.stdout + p.stderr)
            self.assertIn("SKIPPED (websocat not found", p.stdout)

    def test_zero_clients_refused(self):
        for script, args in (("parallel.sh", ("ws://127.0.0.1:1/websocket", "0")),
                             ("parallel.sh", ("ws://127.0.0.1:1/websocket", "3", "0")),
                             ("soak.sh", ("ws://127.0.0.1:1/websocket", "5", "0")),
                             ("soak.sh", ("ws://127.0.0.1:1/websocket", "0"))):
            p = run(script, *args, websocat="/nonexistent/websocat")
            self.assertEqual(p.returncode, 2, f"{script} {args}: {p.stdout}{p.stderr}")
            self.assertIn("at least 1", p.stderr)

    def test_ipv6_loopback_accepted_remote_refused(self):
        for url in ("ws://[::1]:8787/websocket", "ws://[::1]/websocket", "ws://[::1]"):
            p = run("smoke.sh", url, websocat="/nonexistent/websocat")
            self.assertEqual(p.returncode, 77, url + p.stderr)  # past the URL check
        for url in ("ws://10.0.0.1:8787/websocket", "ws://[::2]:8787/", "wss://127.0.0.1/"):
            p = run("smoke.sh", url, websocat="/nonexistent/websocat")
            self.assertEqual(p.returncode, 2, url)
            self.assertIn("only loopback", p.stderr)


WEBSOCAT = os.environ.get("WEBSOCAT") or shutil.which("websocat")


@unittest.skipUnless(WEBSOCAT, "websocat not installed (not packaged in Debian 12)")
class AgainstGatewayTest(unittest.TestCase):

    def test_smoke_and_parallel_pass(self):
        gw = Gateway(self, workers=2)
        url = gw.ws_url("/websocket")
        p = run("smoke.sh", url, websocat=WEBSOCAT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("smoke: ok", p.stdout)
        p = run("parallel.sh", url, "5", "20", websocat=WEBSOCAT)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("parallel: ok: 5 clients x 20 messages", p.stdout)


if __name__ == "__main__":
    unittest.main()

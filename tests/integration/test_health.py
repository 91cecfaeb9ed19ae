"""tests/integration/test_health.py: what a balancer and a service manager see: /readyz stays
200 while a share of the workers is down (one crash-looping worker does not take the node out)
and 503 past it, and the gateway's sd_notify states (READY=1, RELOADING=1 with MONOTONIC_USEC,
STOPPING=1) reach a NOTIFY_SOCKET the test listens on.

Run: DURO_GATEWAY=... DURO_WORKER=... /usr/bin/python3 tests/integration/test_health.py -v
"""

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from harness import GATEWAY, Gateway, pid_alive, run_async

HAVE_SYSTEMD = os.environ.get("DURO_HAVE_SYSTEMD", "1") == "1"
CRASH_LOOP_MAX_KILLS = 12          # enough for the backoff to pass LONG_BACKOFF_MS
LONG_BACKOFF_MS = 1600             # the slot stays down this long: room for two requests
NOTIFY_TIMEOUT_S = 10.0


def admin_get(gw, path, timeout=5):
    url = f"http://{gw.admin[0]}:{gw.admin[1]}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def crash_loop(test, gw, slot):
    """SIGKILLs worker `slot` each time it comes back, until the supervisor's backoff keeps it
    down for LONG_BACKOFF_MS. The caller's checks read "up" from the answers themselves, which
    says the slot was down when they were made."""
    for _ in range(CRASH_LOOP_MAX_KILLS):
        pid = gw.workers[slot][-1]
        mark = gw.mark()
        os.kill(pid, signal.SIGKILL)
        m = gw.wait_for_line(r"event=worker_exited worker=%d worker_pid=%d .*restart_in_ms=(\d+)"
                             % (slot, pid), 5, mark)
        if int(m.group(1)) >= LONG_BACKOFF_MS:
            return
        gw.wait_for_line(r"event=worker_spawned worker=%d " % slot, 15, mark)
    test.fail("the backoff never reached %d ms" % LONG_BACKOFF_MS)


class ReadyzTest(unittest.TestCase):

    def test_ready_with_one_of_two_workers_crash_looping(self):
        gw = Gateway(self, workers=2, config="[server]\nready_workers_down_max_percent = 50\n")
        status, body = admin_get(gw, "/readyz")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"], "ready")
        crash_loop(self, gw, 1)
        ready, rbody = admin_get(gw, "/readyz")
        health, hbody = admin_get(gw, "/healthz")
        self.assertEqual(health, 503, hbody)             # liveness reports the degraded pool
        self.assertEqual(json.loads(hbody)["down"], [1])
        self.assertEqual(ready, 200, rbody)              # but the node still serves
        self.assertEqual(json.loads(rbody), {"status": "ready", "workers": 2, "up": 1,
                                             "down_max_percent": 50})

    def test_not_ready_past_the_share(self):
        gw = Gateway(self, workers=2, config="[server]\nready_workers_down_max_percent = 0\n")
        self.assertEqual(admin_get(gw, "/readyz")[0], 200)
        crash_loop(self, gw, 0)
        ready, rbody = admin_get(gw, "/readyz")
        self.assertEqual(ready, 503, rbody)
        self.assertEqual(json.loads(rbody)["status"], "not_ready")
        self.assertEqual(json.loads(rbody)["up"], 1)

    def test_single_worker_down_is_not_ready(self):
        gw = Gateway(self, workers=1)  # the default share (50%) of one worker: none may be down
        crash_loop(self, gw, 0)
        ready, rbody = admin_get(gw, "/readyz")
        self.assertEqual(ready, 503, rbody)
        self.assertEqual(json.loads(rbody)["up"], 0)  # answered while the worker was down

    def test_bad_share_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".ini") as f:
            f.write("[server]\nready_workers_down_max_percent = 100\n")
            f.flush()
            p = subprocess.run([GATEWAY, "-c", f.name, "--check"], capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("ready_workers_down_max_percent", p.stderr)


def families(text):
    return sorted(set(re.findall(r"^# TYPE (\S+) ", text, re.M)))


class MetricsTest(unittest.TestCase):

    def scrape(self, gw):
        status, text = admin_get(gw, "/metrics")
        self.assertEqual(status, 200, text)
        promtool = shutil.which("promtool")
        if promtool is not None:
            p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return text

    def value(self, text, series):
        m = re.search(r"^" + re.escape(series) + r" (\S+)$", text, re.M)
        self.assertIsNotNone(m, f"{series} not in /metrics")
        return float(m.group(1))

    def test_per_worker_and_process_series(self):
        gw = Gateway(self, workers=2)
        text = self.scrape(gw)
        pids = {0: gw.workers[0][-1], 1: gw.workers[1][-1]}
        procs = {'proc="gateway"': gw.proc.pid}
        procs.update({f'proc="worker",worker="{k}"': pid for k, pid in pids.items()})
        for labels, pid in procs.items():
            with open(f"/proc/{pid}/stat") as f:
                start_ticks = int(f.read().rpartition(")")[2].split()[19])
            with open("/proc/stat") as f:
                btime = int(re.search(r"^btime (\d+)$", f.read(), re.M).group(1))
            start = btime + start_ticks / os.sysconf("SC_CLK_TCK")
            self.assertAlmostEqual(self.value(text, f"process_start_time_seconds{{{labels}}}"),
                                   start, delta=0.02)
            self.assertGreater(self.value(text, f"process_resident_memory_bytes{{{labels}}}"),
                               1 << 20)
            self.assertGreater(self.value(text, f"process_open_fds{{{labels}}}"), 2)
            self.assertGreaterEqual(self.value(text, f"process_cpu_seconds_total{{{labels}}}"), 0)
        for k in (0, 1):
            self.assertEqual(self.value(text, f'duro_worker_up{{worker="{k}"}}'), 1)

        async def one_socket():
            import websockets
            async with websockets.connect(gw.ws_url("/websocket"), compression=None) as ws:
                await ws.send("x")
                await asyncio.wait_for(ws.recv(), 5)
                return self.scrape(gw)
        text = run_async(one_socket())
        open_per_worker = [self.value(text, f'duro_worker_websockets_open{{worker="{k}"}}')
                           for k in (0, 1)]
        self.assertEqual(sorted(open_per_worker), [0, 1])
        self.assertEqual(sum(self.value(text, f'duro_worker_messages_in_total{{worker="{k}"}}')
                             for k in (0, 1)), 1)

        # A restarted worker: a new process, a later start time, while the other is unchanged.
        mark = gw.mark()
        os.kill(pids[1], signal.SIGKILL)
        gw.wait_for_line(r"event=worker_spawned worker=1 ", 10, mark)
        after = self.scrape(gw)
        w1 = 'proc="worker",worker="1"'
        w0 = 'proc="worker",worker="0"'
        self.assertGreaterEqual(self.value(after, f"process_start_time_seconds{{{w1}}}"),
                                self.value(text, f"process_start_time_seconds{{{w1}}}"))
        self.assertEqual(self.value(after, f"process_start_time_seconds{{{w0}}}"),
                         self.value(text, f"process_start_time_seconds{{{w0}}}"))

    def test_every_metric_is_documented(self):
        gw = Gateway(self, workers=1)
        text = self.scrape(gw)
        readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
        with open(readme, encoding="utf-8") as f:
            doc = f.read()
        missing = [name for name in families(text) if f"`{name}`" not in doc]
        self.assertEqual(missing, [], "metrics not documented in README.md")
        self.assertIn("process_open_fds", families(text))


@unittest.skipUnless(HAVE_SYSTEMD, "built without libsystemd")
class SdNotifyTest(unittest.TestCase):

    def test_ready_reloading_stopping(self):
        tmp = self.enterContext(tempfile.TemporaryDirectory(prefix="duro-notify-"))
        path = os.path.join(tmp, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(NOTIFY_TIMEOUT_S)
        states = []

        def wait_state(key):
            deadline = time.monotonic() + NOTIFY_TIMEOUT_S
            while time.monotonic() < deadline:
                fields = dict(l.split("=", 1) for l in sock.recv(4096).decode().splitlines())
                states.append(fields)
                if key in fields:
                    return fields
            self.fail(f"no {key} in {states}")

        gw = Gateway(self, workers=2, config="[server]\nlog_level = info\n",
                     env=dict(os.environ, NOTIFY_SOCKET=path))
        ready = wait_state("READY")
        self.assertEqual(ready["READY"], "1")
        self.assertIn(str(gw.port), ready["STATUS"])
        # both workers were spawned before READY=1
        self.assertEqual(len(gw.workers), 2)

        os.kill(gw.proc.pid, signal.SIGHUP)
        reloading = wait_state("RELOADING")
        self.assertEqual(reloading["RELOADING"], "1")
        usec = int(reloading["MONOTONIC_USEC"])
        self.assertLessEqual(usec, time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        self.assertEqual(wait_state("READY")["READY"], "1")

        pids = gw.worker_pids()
        os.kill(gw.proc.pid, signal.SIGTERM)
        self.assertEqual(wait_state("STOPPING")["STOPPING"], "1")
        self.assertEqual(gw.proc.wait(15), 0)
        deadline = time.monotonic() + 5
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)  # polling process state, not synchronisation
        self.assertFalse(any(pid_alive(p) for p in pids))


if __name__ == "__main__":
    unittest.main()

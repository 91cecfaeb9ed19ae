"""tests/integration/test_memory.py: the gateway gives back what one message needed (issue 10,
defect 8).

The gateway once encoded forwarded requests into one buffer sized for the largest message
(8 MiB): every page a large body touched stayed resident for the life of the process, and the
hand-offs of connections it no longer held kept the gateway's RSS up. Here the gateway's VmRSS
(/proc/PID/status) is read after a warm-up, then after large forwarded requests and 10,000
hand-offs, and must come back near where it was. A gateway-wide buffer that keeps one 4 MiB body
resident fails the bound. The worker's channel read buffer, which grew to take those bodies, must
have shrunk back as well (the worker's VmRSS, same bound).

Run: DURO_GATEWAY=... DURO_WORKER=... DURO_PROBE_SO=... \
     python3 tests/integration/test_memory.py -v
"""

import os
import socket
import unittest

from harness import (HOST, OP_TEXT, Gateway, _sanitized, frame, http_request, probe_echo_config,
                     proc_rss_kib, upgrade_request)

PROBE_SO = os.environ.get("DURO_PROBE_SO", "")

BODY_BYTES = 4 << 20           # [http] body_max_bytes's ceiling
HANDOFFS = 10000
BATCH = 100                     # connections open at once
BOUND_KIB = 2048                # growth above the warmed-up baseline still accepted

CONFIG = probe_echo_config(PROBE_SO, server="admin = off\n",
                           http=f"body_max_bytes = {BODY_BYTES}\n")


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError(f"EOF before the response head: {data!r}")
        data += chunk
    return data


def handoffs(gw, count, early):
    """`count` upgrades to the echo object, BATCH at a time, each with `early` bytes behind its
    head; each waits for its 101 and is closed."""
    done = 0
    while done < count:
        socks = []
        try:
            for _ in range(min(BATCH, count - done)):
                s = socket.create_connection(gw.addr, timeout=10)
                socks.append(s)
                s.sendall(upgrade_request("/echo") + early)
            for s in socks:
                head = read_head(s)
                if not head.startswith(b"HTTP/1.1 101 "):
                    raise AssertionError(head[:200])
        finally:
            for s in socks:
                s.close()
        done += len(socks)


def post(gw, body):
    with socket.create_connection(gw.addr, timeout=30) as s:
        s.sendall(http_request("POST", "/probe/big", headers=(
            ("Host", HOST), ("Content-Length", str(len(body))), ("Connection", "close")))
            + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


@unittest.skipUnless(PROBE_SO, "DURO_PROBE_SO is not set")
class GatewayMemoryTest(unittest.TestCase):
    def test_rss_returns_near_its_baseline_after_large_requests_and_10000_handoffs(self):
        if _sanitized(os.environ.get("DURO_GATEWAY", "")):
            self.skipTest("a sanitizer's allocator keeps freed memory in quarantine")
        # meson sets MALLOC_PERTURB_, which makes glibc fill every allocation: a buffer
        # allocated and never used would be resident from the start, and not measured here.
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_PERTURB_"}
        gw = Gateway(self, config=CONFIG, workers=1, env=env)
        pid = gw.proc.pid
        (worker,) = gw.worker_pids()
        early = frame(OP_TEXT, b"e" * 2000)
        # Warm up: the allocator's arenas, the worker's channel, a small forwarded request.
        handoffs(gw, 2 * BATCH, early)
        self.assertTrue(post(gw, b"s" * 1000).startswith(b"HTTP/1.1 200 "))
        base, wbase = proc_rss_kib(pid), proc_rss_kib(worker)

        for i in range(3):
            answer = post(gw, bytes([0x61 + i]) * BODY_BYTES)
            self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:200])
        handoffs(gw, HANDOFFS, early)
        after, wafter = proc_rss_kib(pid), proc_rss_kib(worker)
        print(f"VmRSS warmed up -> after: gateway {base} -> {after} KiB, "
              f"worker {wbase} -> {wafter} KiB")
        self.assertLess(after - base, BOUND_KIB,
                        f"gateway VmRSS {base} KiB -> {after} KiB after 3 bodies of "
                        f"{BODY_BYTES >> 20} MiB and {HANDOFFS} hand-offs")
        self.assertLess(wafter - wbase, BOUND_KIB,
                        f"worker VmRSS {wbase} KiB -> {wafter} KiB after 3 requests of "
                        f"{BODY_BYTES >> 20} MiB on its channel")


if __name__ == "__main__":
    unittest.main()

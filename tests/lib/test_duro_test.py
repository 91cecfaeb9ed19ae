"""tests/lib/test_duro_test.py: the toolkit's own checks catch what they claim to catch.

A gateway stopped while the test still holds a socket fails with "leaked descriptors"; a
stopped gateway's PIDs are gone; assert_pids_gone fails on a process that still runs.
"""
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from duro_test import (Fail, Gateway, Pmd, assert_no_fd_leak, assert_pids_gone,  # noqa: E402
                       fd_snapshot, parse_extension, pid_alive, ws_request)


class ToolkitTest(unittest.TestCase):
    def test_pmd_follows_the_answer(self):
        self.assertEqual(parse_extension('permessage-deflate; server_max_window_bits="10"'),
                         ("permessage-deflate", {"server_max_window_bits": "10"}))
        with self.assertRaises(Fail):
            parse_extension("permessage-deflate; client_no_context_takeover; "
                            "client_no_context_takeover")
        msg = b"the same message, again and again " * 4
        keep = Pmd("permessage-deflate")
        first, second = keep.compress(msg), keep.compress(msg)
        self.assertLess(len(second) * 3, len(first))      # the context was kept
        reset = Pmd("permessage-deflate; client_no_context_takeover")
        self.assertEqual(len(reset.compress(msg)), len(reset.compress(msg)))
        # a fresh inflater per message (server_no_context_takeover) cannot read a stream that
        # refers to the previous message: the check a server that kept its window fails
        fresh = Pmd("permessage-deflate; server_no_context_takeover")
        self.assertEqual(fresh.inflate(first), msg)
        with self.assertRaises(Fail):
            fresh.inflate(second)
        persistent = Pmd("permessage-deflate")
        self.assertEqual(persistent.inflate(first), msg)
        self.assertEqual(persistent.inflate(second), msg)

    def test_leaked_socket_fails_the_stop(self):
        g = Gateway(self)
        leak = socket.create_connection(g.addr, timeout=5)
        try:
            with self.assertRaisesRegex(AssertionError, "leaked descriptors"):
                g.stop()
        finally:
            leak.close()

    def test_closed_sockets_pass_and_pids_are_gone(self):
        g = Gateway(self, workers=2)
        c = g.connect()
        c.send(ws_request())
        self.assertEqual(c.read_response().code, 101)
        c.close()
        pids = [g.proc.pid] + g.worker_pids()
        self.assertEqual(len(pids), 3)
        g.stop()
        self.assertEqual([p for p in pids if pid_alive(p)], [])

    def test_fd_snapshot_sees_a_new_descriptor(self):
        before = fd_snapshot()
        r, w = os.pipe()
        try:
            with self.assertRaisesRegex(AssertionError, "leaked descriptors"):
                assert_no_fd_leak(before)
        finally:
            os.close(r)
            os.close(w)
        assert_no_fd_leak(before)

    def test_running_process_fails_pids_gone(self):
        p = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
        try:
            with self.assertRaisesRegex(AssertionError, "still running"):
                assert_pids_gone([p.pid], timeout=0.2)
        finally:
            p.kill()
            p.wait(5)
        assert_pids_gone([p.pid])


if __name__ == "__main__":
    unittest.main()

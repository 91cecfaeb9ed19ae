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

from duro_test import (Gateway, assert_no_fd_leak, assert_pids_gone, fd_snapshot,  # noqa: E402
                       pid_alive, ws_request)


class ToolkitTest(unittest.TestCase):
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

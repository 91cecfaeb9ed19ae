"""tests/integration/test_http.py: what the gateway answers itself (docs/design.md sections 8 and 10).

Run: DURO_GATEWAY=... DURO_WORKER=... python3 tests/integration/test_http.py -v
"""

import time
import unittest

import harness
from harness import Gateway, assert_error_response, assert_no_date_server, curl, http_request, \
    ws_request

R400 = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n"
R400_HEAD = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n"
R426 = (b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
        b"Content-Type: text/plain;charset=UTF-8\r\n\r\nDurable Object expected Upgrade: websocket")


def with_close(resp):
    """The keep-alive response `resp` as sent with `Connection: close` as the last header."""
    head, sep, body = resp.partition(b"\r\n\r\n")
    return head + b"\r\nConnection: close" + sep + body


def get(target, *extra, version="HTTP/1.1", method="GET"):
    return http_request(method, target, version, (("Host", harness.HOST),) + extra)


class NotRoutedTest(unittest.TestCase):
    """Targets that do not end with /websocket: 400, empty body, keep-alive."""

    def test_400_curl_byte_for_byte(self):
        gw = Gateway(self)
        for target in ("/", "/x?x=1", "/websocket?x=1", "/websocket/", "/websockets"):
            with self.subTest(target=target):
                self.assertEqual(curl("-si", "--http1.1", gw.url(target)), R400)
        self.assertEqual(curl("-si", "--http1.1", "-X", "POST", "--data", "", gw.url("/")), R400)
        self.assertEqual(curl("-sI", "--http1.1", gw.url("/")), R400_HEAD)
        self.assertEqual(curl("-sI", "--http1.1", gw.url("/x?x=1")), R400_HEAD)

    def test_400_raw_byte_for_byte_on_one_connection(self):
        gw = Gateway(self)
        c = gw.connect()
        for target in ("/", "/x?x=1", "/websocket?x=1", "/x#/websocket"):
            with self.subTest(target=target):
                c.send(get(target))
                self.assertEqual(c.read_response().raw, R400)
        c.send(get("/", ("Content-Length", "0"), method="POST"))
        self.assertEqual(c.read_response().raw, R400)
        c.send(get("/x?x=1", method="HEAD"))
        self.assertEqual(c.read_response(head_request=True).raw, R400_HEAD)
        c.send(get("/"))   # still the same connection: HEAD sent no stray body bytes
        self.assertEqual(c.read_response().raw, R400)

    def test_post_body_is_skipped_on_keep_alive(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(get("/", ("Content-Length", "5"), method="POST") + b"helloGET /y HTTP/1.1\r\n"
               b"Host: 127.0.0.1\r\n\r\n")
        self.assertEqual(c.read_response().raw, R400)
        self.assertEqual(c.read_response().raw, R400)

    def test_access_line_logged(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(get("/x?x=1"))
        self.assertEqual(c.read_response().raw, R400)
        gw.wait_for_line(r'mod=access .*\bstatus=400 method=GET target="/x\?x=1"')


class UpgradeRequiredTest(unittest.TestCase):
    """Targets ending with /websocket without `Upgrade: websocket`: 426, keep-alive."""

    def test_426_curl_byte_for_byte(self):
        gw = Gateway(self)
        for target in ("/websocket", "/foo/websocket"):
            with self.subTest(target=target):
                self.assertEqual(curl("-si", "--http1.1", gw.url(target)), R426)
                self.assertEqual(curl("-si", "--http1.1", "-H", "Upgrade: h2c", gw.url(target)),
                                 R426)

    def test_426_raw_byte_for_byte(self):
        gw = Gateway(self)
        cases = {
            "no upgrade /websocket": get("/websocket"),
            "no upgrade /foo/websocket": get("/foo/websocket"),
            "fragment is not routed on": get("/a/websocket#frag"),
            "upgrade h2c": get("/websocket", ("Upgrade", "h2c"), ("Connection", "Upgrade")),
            "upgrade is case-sensitive": ws_request(replace={"Upgrade": "WebSocket"}),
            "two upgrade headers": ws_request(extra=(("Upgrade", "websocket"),)),
            "upgrade list": ws_request(replace={"Upgrade": "websocket, h2c"}),
        }
        for name, req in cases.items():
            with self.subTest(case=name):
                c = gw.connect()
                c.send(req)
                self.assertEqual(c.read_response().raw, R426)
                c.send(get("/"))   # still keep-alive, and the parser is ready for more
                self.assertEqual(c.read_response().raw, R400,
                                 "the next request on the connection after this 426")

    def test_upgrade_value_is_trimmed(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(ws_request(replace={"Upgrade": "websocket \t"}))
        r = c.read_response()
        self.assertEqual(r.code, 101, r)


class ConnectionTest(unittest.TestCase):

    def test_keep_alive_answers_every_request(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(get("/"))
        self.assertEqual(c.read_response().raw, R400)
        c.send(get("/websocket"))
        self.assertEqual(c.read_response().raw, R426)
        c.send(get("/x"))
        self.assertEqual(c.read_response().raw, R400)

    def test_pipelining_answers_in_order(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(get("/a") + get("/b", method="HEAD") + get("/c/websocket"))
        self.assertEqual(c.read_response().raw, R400)
        self.assertEqual(c.read_response(head_request=True).raw, R400_HEAD)
        self.assertEqual(c.read_response().raw, R426)
        c.send(get("/d"))
        self.assertEqual(c.read_response().raw, R400)

    def test_connection_close_is_honoured(self):
        gw = Gateway(self)
        for target, expected in (("/", R400), ("/websocket", R426)):
            with self.subTest(target=target):
                c = gw.connect()
                c.send(get(target, ("Connection", "close")))
                self.assertEqual(c.read_response().raw, with_close(expected))
                c.read_eof()
        self.assertEqual(curl("-si", "--http1.1", "-H", "Connection: close", gw.url("/")),
                         with_close(R400))

    def test_pipelined_requests_after_close_are_not_answered(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(get("/", ("Connection", "close")) + get("/second"))
        self.assertEqual(c.read_response().raw, with_close(R400))
        c.read_eof()

    def test_http10_gets_connection_close(self):
        gw = Gateway(self)
        c = gw.connect()
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        self.assertEqual(c.read_response().raw, with_close(R400))
        c.read_eof()
        self.assertEqual(curl("-si", "--http1.0", gw.url("/x")), with_close(R400))


class BadRequestTest(unittest.TestCase):
    """Errors: the answer, `Connection: close`, then the gateway closes."""

    def expect_error(self, gw, req, code, words=()):
        c = gw.connect()
        c.send(req)
        r = c.read_response()
        assert_error_response(r, code, words)
        c.read_eof()
        return r

    def test_missing_host_on_http11(self):
        gw = Gateway(self)
        r = self.expect_error(gw, b"GET / HTTP/1.1\r\n\r\n", 400)
        self.assertEqual(r.body, b"Bad Request")
        r = self.expect_error(gw, ws_request(omit=("Host",)), 400)
        self.assertEqual(r.body, b"Bad Request")

    def test_websocket_version_missing_or_wrong(self):
        gw = Gateway(self)
        for name, req in (("missing", ws_request(omit=("Sec-WebSocket-Version",))),
                          ("12", ws_request(replace={"Sec-WebSocket-Version": "12"})),
                          ("8", ws_request(replace={"Sec-WebSocket-Version": "8"}))):
            with self.subTest(version=name):
                r = self.expect_error(gw, req, 426, (b"version",))
                self.assertEqual(r.reason, b"Upgrade Required")
                self.assertEqual(r.header("Sec-WebSocket-Version"), ["13"], r)

    def test_websocket_key_missing_or_invalid(self):
        gw = Gateway(self)
        for name, req in (("missing", ws_request(omit=("Sec-WebSocket-Key",))),
                          ("too short", ws_request(key="c2hvcnQ=")),
                          ("not base64", ws_request(key="!!!!!!!!!!!!!!!!!!!!!!==")),
                          ("20 bytes", ws_request(key="AAAAAAAAAAAAAAAAAAAAAAAAAAA="))):
            with self.subTest(key=name):
                self.expect_error(gw, req, 400, (b"key",))

    def test_upgrade_with_post(self):
        gw = Gateway(self)
        self.expect_error(gw, ws_request(method="POST", extra=(("Content-Length", "0"),)), 400,
                          (b"GET", b"method"))

    def test_upgrade_over_http10(self):
        gw = Gateway(self)
        self.expect_error(gw, ws_request(version="HTTP/1.0"), 400,
                          (b"1.1", b"HTTP/1", b"version"))

    def test_target_too_long(self):
        gw = Gateway(self)
        target = "/" + "a" * 8999
        self.assertEqual(len(target), 9000)
        self.expect_error(gw, get(target), 414)
        self.expect_error(gw, ws_request(target[:-10] + "/websocket"), 414)
        c = gw.connect()   # exactly at the limit: routed as usual
        c.send(get("/" + "a" * 8191))
        self.assertEqual(c.read_response().raw, R400)

    def test_head_too_large(self):
        gw = Gateway(self)
        big = get("/", ("X-Big", "a" * 17000))
        self.assertGreater(len(big), 16384)
        self.expect_error(gw, big, 431)
        c = gw.connect()   # under the limit: routed as usual
        ok = get("/", ("X-Big", "a" * 15000))
        self.assertLess(len(ok), 16384)
        c.send(ok)
        self.assertEqual(c.read_response().raw, R400)

    def test_too_many_headers(self):
        gw = Gateway(self)
        hundred = tuple((f"X-H{i}", "v") for i in range(99))   # plus Host: 100 headers
        self.expect_error(gw, get("/", *hundred, ("X-H99", "v")), 431)
        c = gw.connect()
        c.send(get("/", *hundred))
        self.assertEqual(c.read_response().raw, R400)

    def test_unknown_method(self):
        gw = Gateway(self)
        self.expect_error(gw, get("/", method="FOO"), 501)
        self.expect_error(gw, get("/websocket", method="FOO"), 501)

    def test_garbage(self):
        gw = Gateway(self)
        cases = {
            "tls client hello": bytes.fromhex("160301020001000100fc0303") + b"\x00" * 32
            + b"\r\n\r\n",
            "binary header line": b"GET / HTTP/1.1\r\nHost: x\r\n\x01\x02\x03\r\n\r\n",
            "space in header name": b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
            "space before colon": b"GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n",
            "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
            "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
            "two content-lengths": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                                   b"Content-Length: 2\r\n\r\n",
            "bad version": b"GET / HTTP/x.y\r\nHost: x\r\n\r\n",
            "nul in target": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
            "bad content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: z\r\n\r\n",
        }
        for name, req in cases.items():
            with self.subTest(case=name):
                self.expect_error(gw, req, 400)

    def test_no_date_or_server_header_anywhere(self):
        gw = Gateway(self)
        reqs = [get("/"), get("/websocket"), b"GET / HTTP/1.1\r\n\r\n", get("/", method="FOO"),
                ws_request(omit=("Sec-WebSocket-Version",)),
                ws_request(omit=("Sec-WebSocket-Key",)),
                get("/" + "a" * 9000), ws_request()]
        for req in reqs:
            with self.subTest(request=req[:40]):
                c = gw.connect()
                c.send(req)
                r = c.read_response()
                assert_no_date_server(r)
                self.assertNotIn(b"\r\ndate:", r.head.lower())
                self.assertNotIn(b"\r\nserver:", r.head.lower())


class HeadTimeoutTest(unittest.TestCase):
    CONFIG = "[http]\nhead_timeout_ms = 300\n"

    def test_partial_head_gets_408_then_close(self):
        gw = Gateway(self, config=self.CONFIG)
        c = gw.connect()
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        r = c.read_response()
        elapsed = time.monotonic() - t0
        assert_error_response(r, 408)
        self.assertGreater(elapsed, 0.25, "408 before head_timeout_ms")
        self.assertLess(elapsed, 3.0, "head_timeout_ms = 300 not applied")
        c.read_eof()

    def test_silent_connection_closed_without_bytes(self):
        gw = Gateway(self, config=self.CONFIG)
        c = gw.connect()
        t0 = time.monotonic()
        c.read_eof(timeout=3.0)
        self.assertGreater(time.monotonic() - t0, 0.25, "closed before head_timeout_ms")


class KeepAliveTimeoutTest(unittest.TestCase):
    """The connection's one timer is moved lazily (gateway/conn.c, arm): a later deadline is
    written down and the timer, still set for the earlier one, fires and waits again; an
    earlier deadline moves it at once."""
    CONFIG = "[http]\nhead_timeout_ms = 300\nkeepalive_timeout_ms = 1500\n"

    def test_idle_keepalive_outlives_the_head_timeout(self):
        gw = Gateway(self, config=self.CONFIG)
        c = gw.connect()
        c.send(get("/"))
        self.assertEqual(c.read_response().code, 400)
        # past the 300 ms the timer was set for while the head arrived, inside keep-alive
        time.sleep(0.7)
        c.send(get("/"))
        self.assertEqual(c.read_response().code, 400, "closed at the head timeout while idle")
        t0 = time.monotonic()
        c.read_eof(timeout=5.0)
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 1.2, "closed before keepalive_timeout_ms")
        self.assertLess(elapsed, 4.0, "keepalive_timeout_ms = 1500 not applied")

    def test_head_after_idle_gets_the_shorter_deadline(self):
        gw = Gateway(self, config=self.CONFIG)
        c = gw.connect()
        c.send(get("/"))
        self.assertEqual(c.read_response().code, 400)
        t0 = time.monotonic()
        c.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        r = c.read_response()
        elapsed = time.monotonic() - t0
        assert_error_response(r, 408)
        self.assertGreater(elapsed, 0.25, "408 before head_timeout_ms")
        self.assertLess(elapsed, 1.2, "the head waited for the keep-alive deadline")


ROUTES = """
[route echo]
match = exact /echo
class = echo
object = e

[route rooms]
match = path /rooms/{name}/websocket
class = chat
object = {name}

[route seed]
match = suffix /websocket
class = seed
object = foo
"""


class UpgradeCheckTest(unittest.TestCase):
    """[route] upgrade_check: seed routes keep the byte-exact check, others take RFC 6455 tokens."""

    def test_rfc_routes_take_mixed_case_and_lists_seed_keeps_426(self):
        gw = Gateway(self, config=ROUTES)
        for value in ("WebSocket", "foo, websocket", "websocket, foo", "WEBSOCKET"):
            with self.subTest(value=value):
                c = gw.connect()
                c.send(ws_request("/echo", replace={"Upgrade": value}))
                self.assertEqual(c.read_response().code, 101)
                c.close()
        for value in ("WebSocket", "foo, websocket"):
            with self.subTest(seed=value):
                c = gw.connect()
                c.send(ws_request("/websocket", replace={"Upgrade": value}))
                self.assertEqual(c.read_response().raw, R426)
                c.close()

    def test_explicit_setting_overrides_the_class_default(self):
        gw = Gateway(self, config=ROUTES.replace("object = e\n", "object = e\nupgrade_check = seed\n")
                     .replace("object = foo\n", "object = foo\nupgrade_check = rfc\n"))
        c = gw.connect()
        c.send(ws_request("/echo", replace={"Upgrade": "WebSocket"}))
        self.assertEqual(c.read_response().raw, R426)
        c = gw.connect()
        c.send(ws_request("/websocket", replace={"Upgrade": "WebSocket"}))
        self.assertEqual(c.read_response().code, 101)


class RequestShapeTest(unittest.TestCase):
    """Host validation, absolute-form targets, one-segment object names."""

    def test_invalid_host_is_400(self):
        gw = Gateway(self, config=ROUTES)
        for host in ("[::1", "a b\tc", "h:8x", "a@b"):
            with self.subTest(host=host):
                c = gw.connect()
                c.send(ws_request("/echo", replace={"Host": host}))
                assert_error_response(c.read_response(), 400, (b"Host",))
        c = gw.connect()
        c.send(ws_request("/echo", replace={"Host": "[::1]:8787"}))
        self.assertEqual(c.read_response().code, 101)

    def test_absolute_form_is_routed_by_its_path(self):
        gw = Gateway(self, config=ROUTES)
        c = gw.connect()
        c.send(ws_request("http://h/rooms/x/websocket", replace={"Upgrade": "WebSocket"}))
        self.assertEqual(c.read_response().code, 101)   # chat (rfc), not the seed's foo (426)
        c = gw.connect()
        c.send(ws_request("http://h/echo"))
        self.assertEqual(c.read_response().code, 101)

    def test_object_names_with_slash_or_dots_are_400(self):
        gw = Gateway(self, config=ROUTES)
        for name in ("a%2Fb", "..%2F..%2Fetc", "%2E%2E", "."):
            with self.subTest(name=name):
                c = gw.connect()
                c.send(ws_request(f"/rooms/{name}/websocket"))
                assert_error_response(c.read_response(), 400, (b"object name",))
        c = gw.connect()
        c.send(ws_request("/rooms/a%20b/websocket"))
        self.assertEqual(c.read_response().code, 101)


if __name__ == "__main__":
    unittest.main()

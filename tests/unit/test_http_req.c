/* tests/unit/test_http_req.c: gateway/http_req.h, the llhttp glue: requests fed whole and split
 * at every byte boundary, pipelining, every error status, and the handshake checks. */
#include "gateway/http_req.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define UPGRADE                                                                                 \
    "GET /chat/websocket?x=1 HTTP/1.1\r\nHost: example\r\nUpgrade:  websocket \r\n"            \
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                   \
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\n\r\n"

struct seen {
    int heads;
    char target[64];
    char upgrade[32];
    char key[32];
    int check;
};

static void copy_span(const struct http_req *r, struct http_span s, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)s.len, http_req_str(r, s));
}

static void on_head(struct http_req *r, void *arg)
{
    struct seen *v = arg;
    const char *why;
    v->heads++;
    copy_span(r, r->target, v->target, sizeof v->target);
    copy_span(r, r->hdr[HDR_UPGRADE], v->upgrade, sizeof v->upgrade);
    copy_span(r, r->hdr[HDR_WS_KEY], v->key, sizeof v->key);
    v->check = http_req_check_upgrade(r, &why);
}

static const struct http_limits limits = { 16384, 100, 8192 };

/* Feeds `req` as [0, cut) then [cut, len), like two reads into one buffer. */
static enum http_result feed_split(const char *req, size_t len, size_t cut, struct seen *v,
                                   struct http_req *r, size_t *consumed)
{
    static char buf[65536];
    memcpy(buf, req, len);
    memset(v, 0, sizeof *v);
    http_req_init(r, &limits, on_head, v, NULL);
    enum http_result res = HTTP_NEED_MORE;
    if (cut > 0) {
        res = http_req_feed(r, buf, 0, cut, consumed);
        if (res != HTTP_NEED_MORE) {
            return res;
        }
    }
    return http_req_feed(r, buf, cut, len, consumed);
}

static void upgrade_split_at_every_byte(void **state)
{
    (void)state;
    const size_t len = strlen(UPGRADE);
    for (size_t cut = 0; cut <= len; cut++) {
        struct seen v;
        struct http_req r;
        size_t consumed = 0;
        assert_int_equal(feed_split(UPGRADE, len, cut, &v, &r, &consumed), HTTP_DONE);
        assert_int_equal(consumed, len);
        assert_int_equal(v.heads, 1);
        assert_string_equal(v.target, "/chat/websocket?x=1");
        assert_string_equal(v.upgrade, "websocket"); /* trimmed */
        assert_string_equal(v.key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_int_equal(v.check, 0);
        assert_true(http_req_hdr_is(&r, HDR_UPGRADE, "websocket"));
        assert_true(http_req_keep_alive(&r));
    }
}

static void pipelined_requests_one_at_a_time(void **state)
{
    (void)state;
    static char buf[1024];
    const char *a = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *b = "HEAD /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    size_t la = strlen(a), lb = strlen(b);
    memcpy(buf, a, la);
    memcpy(buf + la, b, lb);
    struct seen v = { 0 };
    struct http_req r;
    size_t consumed;
    http_req_init(&r, &limits, on_head, &v, NULL);
    assert_int_equal(http_req_feed(&r, buf, 0, la + lb, &consumed), HTTP_DONE);
    assert_int_equal(consumed, la);
    assert_string_equal(v.target, "/a");
    /* the caller moves the rest to the front, as gateway/conn.c does */
    memmove(buf, buf + la, lb);
    http_req_next(&r);
    assert_int_equal(http_req_feed(&r, buf, 0, lb, &consumed), HTTP_DONE);
    assert_int_equal(consumed, lb);
    assert_string_equal(v.target, "/b");
    assert_int_equal(http_req_method(&r), HTTP_HEAD);
    assert_false(http_req_keep_alive(&r));
    assert_int_equal(v.heads, 2);
}

static enum http_result feed_all(const char *req, struct http_req *r, struct seen *v)
{
    static char buf[65536];
    size_t len = strlen(req), consumed;
    memcpy(buf, req, len);
    memset(v, 0, sizeof *v);
    http_req_init(r, &limits, on_head, v, NULL);
    return http_req_feed(r, buf, 0, len, &consumed);
}

static void errors_carry_their_status(void **state)
{
    (void)state;
    static char big[20000];
    struct seen v;
    struct http_req r;

    memset(big, 0, sizeof big);
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', 8200);
    strcat(big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(feed_all(big, &r, &v), HTTP_ERROR);
    assert_int_equal(r.status, 414);

    memset(big, 0, sizeof big);
    strcpy(big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++) {
        strcat(big, "X-A: b\r\n");
    }
    strcat(big, "\r\n");
    assert_int_equal(feed_all(big, &r, &v), HTTP_ERROR);
    assert_int_equal(r.status, 431);

    memset(big, 0, sizeof big);
    strcpy(big, "GET / HTTP/1.1\r\nX-Big: ");
    memset(big + strlen(big), 'v', 16500);
    strcat(big, "\r\n\r\n");
    assert_int_equal(feed_all(big, &r, &v), HTTP_ERROR);
    assert_int_equal(r.status, 431);

    assert_int_equal(feed_all("GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", &r, &v), HTTP_ERROR);
    assert_int_equal(r.status, 400);
    assert_int_equal(feed_all("FROB / HTTP/1.1\r\nHost: x\r\n\r\n", &r, &v), HTTP_ERROR);
    assert_int_equal(r.status, 501);
    assert_int_equal(feed_all("\x16\x03\x01\x02\x00\x01", &r, &v), HTTP_ERROR);
    assert_int_equal(r.status, 400);
    assert_int_equal(v.heads, 0);
}

static void unknown_method_split_after_the_method_is_501(void **state)
{
    (void)state;
    const char *req = "FROB / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t cut = 1; cut < strlen(req); cut++) {
        struct seen v;
        struct http_req r;
        size_t consumed;
        assert_int_equal(feed_split(req, strlen(req), cut, &v, &r, &consumed), HTTP_ERROR);
        assert_int_equal(r.status, 501);
    }
}

static void handshake_checks_in_order(void **state)
{
    (void)state;
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        { "POST /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400 },
        { "GET /w HTTP/1.0\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400 },
        { "GET /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          426 },
        { "GET /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 8\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 426 },
        { "GET /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n\r\n", 400 },
        { "GET /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: short\r\n\r\n", 400 },
        { "GET /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\nTransfer-Encoding: gzip\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 400 },
        { "GET /w HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct seen v;
        struct http_req r;
        (void)feed_all(cases[i].req, &r, &v);
        assert_int_equal(v.heads, 1);
        if (v.check != cases[i].status) {
            fail_msg("case %zu: got %d, want %d", i, v.check, cases[i].status);
        }
    }
}

static void upgrade_token_lists(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int seed, rfc;
    } cases[] = {
        { "websocket", 1, 1 },       { "WebSocket", 0, 1 },    { "foo, websocket", 0, 1 },
        { "websocket ,foo", 0, 1 },  { "foo,,WEBSOCKET", 0, 1 }, { "websockets", 0, 0 },
        { "foo", 0, 0 },             { "web socket", 0, 0 },   { "", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[256];
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: %s\r\n\r\n",
                 cases[i].value);
        struct http_req r;
        struct seen v;
        assert_int_equal(feed_all(req, &r, &v), HTTP_DONE);
        assert_int_equal(http_req_hdr_is(&r, HDR_UPGRADE, "websocket"), cases[i].seed);
        assert_int_equal(http_req_hdr_has_token(&r, HDR_UPGRADE, "websocket"), cases[i].rfc);
    }
}

static void host_values(void **state)
{
    (void)state;
    static const char *const good[] = { "h", "127.0.0.1:8787", "[::1]", "[::1]:80", "a-b.c_d~",
                                        "%41b", "", "h:", "[v1.x:y]" };
    static const char *const bad[] = { "[::1", "a b\tc", "a b", "h:8x", "[]", "h/x", "%4",
                                       "[::1]x", "a@b", "[::1]]" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(http_req_host_valid(good[i], strlen(good[i])));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(http_req_host_valid(bad[i], strlen(bad[i])));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(upgrade_split_at_every_byte),
        cmocka_unit_test(pipelined_requests_one_at_a_time),
        cmocka_unit_test(errors_carry_their_status),
        cmocka_unit_test(unknown_method_split_after_the_method_is_501),
        cmocka_unit_test(handshake_checks_in_order),
        cmocka_unit_test(upgrade_token_lists),
        cmocka_unit_test(host_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_respond.c: common/respond.h: the seed's answers byte for byte. */
#include "common/respond.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void seed_400(void **state)
{
    (void)state;
    char b[RESPOND_MAX_BYTES];
    size_t n = respond_seed_400(b, sizeof b, 0);
    const char *want = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                       "Content-Type: text/plain\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_seed_400(b, sizeof b, RESPOND_HEAD | RESPOND_CLOSE);
    want = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_seed_400(b, sizeof b, RESPOND_HEAD);
    want = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_seed_400(b, sizeof b, RESPOND_CLOSE);
    want = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n"
           "Connection: close\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    assert_int_equal(respond_seed_400(b, strlen(want), RESPOND_CLOSE), 0); /* no room */
}

static void seed_426(void **state)
{
    (void)state;
    char b[RESPOND_MAX_BYTES];
    size_t n = respond_seed_426(b, sizeof b, 0);
    const char *want = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
                       "Content-Type: text/plain;charset=UTF-8\r\n\r\n"
                       "Durable Object expected Upgrade: websocket";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_seed_426(b, sizeof b, RESPOND_HEAD); /* HEAD: the length, not the body */
    want = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
           "Content-Type: text/plain;charset=UTF-8\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_seed_426(b, sizeof b, RESPOND_CLOSE);
    want = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
           "Content-Type: text/plain;charset=UTF-8\r\nConnection: close\r\n\r\n"
           "Durable Object expected Upgrade: websocket";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_seed_426(b, sizeof b, RESPOND_HEAD | RESPOND_CLOSE);
    want = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"
           "Content-Type: text/plain;charset=UTF-8\r\nConnection: close\r\n\r\n";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
}

static void errors_name_the_problem(void **state)
{
    (void)state;
    char b[RESPOND_MAX_BYTES];
    size_t n = respond_error(b, sizeof b, 426, "unsupported Sec-WebSocket-Version",
                             RESPOND_CLOSE | RESPOND_WS_VERSION);
    const char *want = "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 33\r\n"
                       "Content-Type: text/plain;charset=UTF-8\r\nSec-WebSocket-Version: 13\r\n"
                       "Connection: close\r\n\r\nunsupported Sec-WebSocket-Version";
    assert_int_equal(n, strlen(want));
    assert_memory_equal(b, want, n);
    n = respond_error(b, sizeof b, 503, "x", RESPOND_RETRY_AFTER | RESPOND_CLOSE);
    assert_non_null(memmem(b, n, "\r\nRetry-After: 1\r\n", 18));
    assert_null(memmem(b, n, "Date:", 5));
    assert_null(memmem(b, n, "Server:", 7));
    assert_int_equal(respond_error(b, 16, 400, "too small", 0), 0);
}

static void reason_phrases(void **state)
{
    (void)state;
    assert_string_equal(respond_phrase(200), "OK");
    assert_string_equal(respond_phrase(403), "Forbidden");
    assert_string_equal(respond_phrase(404), "Not Found");
    assert_string_equal(respond_phrase(405), "Method Not Allowed");
    assert_string_equal(respond_phrase(500), "Internal Server Error");
    assert_string_equal(respond_phrase(503), "Service Unavailable");
    char b[RESPOND_MAX_BYTES];
    size_t n = respond_error(b, sizeof b, 500, "x", 0);
    assert_true(n > 0);
    assert_memory_equal(b, "HTTP/1.1 500 Internal Server Error\r\n", 36);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seed_400),
        cmocka_unit_test(seed_426),
        cmocka_unit_test(errors_name_the_problem),
        cmocka_unit_test(reason_phrases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

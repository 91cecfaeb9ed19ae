/* tests/unit/test_log.c: the log formatter, text and JSON: owned keys first, no key twice,
 * escaping of quotes, backslashes, newlines and control characters, cut long lines; log_kv's
 * pairs written as log_msg's text would be; whole lines from processes sharing one pipe. */
#include "common/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define TS "2026-12-01T22:55:01.123Z"

static char line[4096];

static const char *fmt_line(enum log_format f, const char *ts, const char *msg)
{
    size_t n = log_format_line(line, sizeof line, f, ts, LOG_INFO, "gateway", 42, "main", msg);
    assert_true(n > 0 && n < sizeof line);
    assert_int_equal(line[n - 1], '\n');
    line[n] = '\0';
    assert_null(strchr(line, '\n') != line + n - 1 ? line : NULL);
    return line;
}

static void text_has_owned_keys_first(void **state)
{
    (void)state;
    assert_string_equal(fmt_line(LOG_FORMAT_TEXT, TS, "event=x n=1"),
                        "ts=" TS " level=info proc=gateway pid=42 mod=main event=x n=1\n");
    assert_string_equal(fmt_line(LOG_FORMAT_TEXT, NULL, "event=x"),
                        "level=info proc=gateway pid=42 mod=main event=x\n");
}

static void json_has_the_same_keys(void **state)
{
    (void)state;
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, TS, "event=x n=12 s=-3 z=007 t=\"a b\""),
                        "{\"ts\":\"" TS "\",\"level\":\"info\",\"proc\":\"gateway\",\"pid\":42,"
                        "\"mod\":\"main\",\"event\":\"x\",\"n\":12,\"s\":-3,\"z\":\"007\","
                        "\"t\":\"a b\"}\n");
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, NULL, ""),
                        "{\"level\":\"info\",\"proc\":\"gateway\",\"pid\":42,\"mod\":\"main\"}\n");
}

static void no_key_twice(void **state)
{
    (void)state;
    assert_string_equal(fmt_line(LOG_FORMAT_TEXT, NULL, "pid=7 mod=x ts=now a=1 a=2 a=3"),
                        "level=info proc=gateway pid=42 mod=main pid_2=7 mod_2=x ts_2=now a=1 "
                        "a_2=2 a_3=3\n");
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, TS, "level=debug"),
                        "{\"ts\":\"" TS "\",\"level\":\"info\",\"proc\":\"gateway\",\"pid\":42,"
                        "\"mod\":\"main\",\"level_2\":\"debug\"}\n");
}

static void values_are_escaped(void **state)
{
    (void)state;
    /* a quoted value keeps its quotes in text; what is inside is escaped */
    assert_string_equal(fmt_line(LOG_FORMAT_TEXT, NULL, "err=\"say \"hi\"\" x=1"),
                        "level=info proc=gateway pid=42 mod=main err=\"say \\\"hi\\\"\" x=1\n");
    assert_string_equal(fmt_line(LOG_FORMAT_TEXT, NULL, "v=a\nb w=c\\d u=\x01"),
                        "level=info proc=gateway pid=42 mod=main v=\"a\\nb\" w=\"c\\\\d\" "
                        "u=\"\\u0001\"\n");
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, NULL, "v=a\nb\tc w=q\"q u=\x1f\x7f e="),
                        "{\"level\":\"info\",\"proc\":\"gateway\",\"pid\":42,\"mod\":\"main\","
                        "\"v\":\"a\\nb\\tc\",\"w\":\"q\\\"q\",\"u\":\"\\u001f\\u007f\","
                        "\"e\":\"\"}\n");
    /* query strings and UTF-8 pass as they are */
    assert_string_equal(fmt_line(LOG_FORMAT_TEXT, NULL, "target=/x?a=1 name=caf\xc3\xa9"),
                        "level=info proc=gateway pid=42 mod=main target=/x?a=1 "
                        "name=caf\xc3\xa9\n");
}

static void words_without_a_key_go_to_msg(void **state)
{
    (void)state;
    assert_string_equal(fmt_line(LOG_FORMAT_JSON, NULL, "hello world k=v"),
                        "{\"level\":\"info\",\"proc\":\"gateway\",\"pid\":42,\"mod\":\"main\","
                        "\"k\":\"v\",\"msg\":\"hello world\"}\n");
}

static void long_lines_are_cut_not_split(void **state)
{
    (void)state;
    static char big[8192];
    memset(big, 'x', sizeof big - 1);
    memcpy(big, "k=", 2);
    char out[256];
    for (int f = LOG_FORMAT_TEXT; f <= LOG_FORMAT_JSON; f++) {
        size_t n = log_format_line(out, sizeof out, (enum log_format)f, TS, LOG_WARN, "w", 1,
                                   "m", big);
        assert_true(n <= sizeof out);
        assert_int_equal(out[n - 1], '\n');
        assert_null(memchr(out, '\n', n - 1));
        if (f == LOG_FORMAT_JSON) {
            assert_int_equal(out[n - 2], '}');
            assert_null(memchr(out, 'x', n)); /* the cut pair is dropped whole */
        }
    }
}

static const char *kv_line(enum log_format f, const struct log_kv *kv, size_t n)
{
    size_t len = log_format_kv(line, sizeof line, f, TS, LOG_INFO, "gateway", 42, "access", kv, n);
    assert_true(len > 0 && len < sizeof line);
    assert_int_equal(line[len - 1], '\n');
    line[len] = '\0';
    return line;
}

static void kv_pairs_match_the_text_path(void **state)
{
    (void)state;
    static char want[4096];
    struct log_kv kv[] = {
        LOG_UINT("conn", 18446744073709551615ull),
        LOG_STR("peer", "127.0.0.1:5000"),
        LOG_INT("status", 400),
        LOG_INT("neg", -12),
        LOG_STR("method", "GET"),
        LOG_QSTRN("target", "/a b?x=1", 8),
        LOG_QSTR("reason", "worker unavailable, retry"),
        LOG_STR("empty", ""),
        LOG_STR("pid", "7"),
        LOG_INT("zero", 0),
    };
    const char *text = "conn=18446744073709551615 peer=127.0.0.1:5000 status=400 neg=-12 "
                       "method=GET target=\"/a b?x=1\" reason=\"worker unavailable, retry\" "
                       "empty= pid=7 zero=0";
    for (int f = LOG_FORMAT_TEXT; f <= LOG_FORMAT_JSON; f++) {
        size_t n = log_format_line(want, sizeof want, (enum log_format)f, TS, LOG_INFO, "gateway",
                                   42, "access", text);
        want[n] = '\0';
        assert_string_equal(kv_line((enum log_format)f, kv, sizeof kv / sizeof kv[0]), want);
    }
    assert_string_equal(kv_line(LOG_FORMAT_TEXT, kv, 3),
                        "ts=" TS " level=info proc=gateway pid=42 mod=access "
                        "conn=18446744073709551615 peer=127.0.0.1:5000 status=400\n");
}

static void kv_values_are_taken_whole(void **state)
{
    (void)state;
    /* a quote followed by a space ends a quoted value in log_msg's text; a pair's value is
     * escaped instead, so a request-target cannot forge a key */
    struct log_kv kv[] = { LOG_QSTR("target", "/x\" status=200 y=\"z"), LOG_STR("s", "a\nb") };
    assert_string_equal(kv_line(LOG_FORMAT_TEXT, kv, 2),
                        "ts=" TS " level=info proc=gateway pid=42 mod=access "
                        "target=\"/x\\\" status=200 y=\\\"z\" s=\"a\\nb\"\n");
    assert_string_equal(kv_line(LOG_FORMAT_JSON, kv, 2),
                        "{\"ts\":\"" TS "\",\"level\":\"info\",\"proc\":\"gateway\",\"pid\":42,"
                        "\"mod\":\"access\",\"target\":\"/x\\\" status=200 y=\\\"z\","
                        "\"s\":\"a\\nb\"}\n");
    static char big[4096];
    memset(big, 'x', sizeof big - 1);
    struct log_kv cut[] = { LOG_STR("a", "1"), LOG_STR("k", big) };
    char out[256];
    size_t n = log_format_kv(out, sizeof out, LOG_FORMAT_JSON, TS, LOG_INFO, "w", 1, "m", cut, 2);
    assert_true(n <= sizeof out);
    assert_int_equal(out[n - 2], '}');
    assert_int_equal(out[n - 1], '\n');
    assert_null(memchr(out, 'x', n));
}

/* The logger's own lines (level, proc and pid formatted once per level and format) are the pure
 * formatter's, byte for byte, whatever the level, the format and the timestamps. */
static void logger_lines_match_the_formatter(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    log_init("gateway", LOG_DEBUG);
    static char got[65536];
    static char want[4096];
    for (int f = LOG_FORMAT_TEXT; f <= LOG_FORMAT_JSON; f++) {
        for (int stamps = 0; stamps <= 1; stamps++) {
            log_configure(stamps, (enum log_format)f);
            for (int lvl = LOG_DEBUG; lvl <= LOG_ERROR; lvl++) {
                struct log_kv kv[] = { LOG_UINT("conn", 7), LOG_QSTR("target", "/x y") };
                log_kv((enum log_level)lvl, "access", kv, 2);
                log_msg((enum log_level)lvl, "main", "event=e n=%d", lvl);
                log_flush();
                ssize_t n = read(fds[0], got, sizeof got - 1);
                assert_true(n > 0);
                got[n] = '\0';
                char *second = strchr(got, '\n');
                assert_non_null(second);
                second++;
                /* the timestamp is the clock's: take it from the line itself */
                char ts[32] = "";
                const char *tskey = f == LOG_FORMAT_TEXT ? "ts=" : "\"ts\":\"";
                if (stamps) {
                    const char *at = strstr(got, tskey);
                    assert_non_null(at);
                    memcpy(ts, at + strlen(tskey), 24);
                    ts[24] = '\0';
                }
                size_t w = log_format_kv(want, sizeof want, (enum log_format)f,
                                         stamps ? ts : NULL, (enum log_level)lvl, "gateway",
                                         (int)getpid(), "access", kv, 2);
                assert_memory_equal(got, want, w);
                assert_int_equal((size_t)(second - got), w);
                if (stamps) {
                    const char *at = strstr(second, tskey);
                    assert_non_null(at);
                    memcpy(ts, at + strlen(tskey), 24);
                }
                char msg[32];
                snprintf(msg, sizeof msg, "event=e n=%d", lvl);
                w = log_format_line(want, sizeof want, (enum log_format)f, stamps ? ts : NULL,
                                    (enum log_level)lvl, "gateway", (int)getpid(), "main", msg);
                want[w] = '\0';
                assert_string_equal(second, want);
            }
        }
    }
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    close(fds[0]);
    close(fds[1]);
}

#define WRITERS_COUNT 3
#define LINES_PER_WRITER 3000

/* Three processes log into one pipe or one file (as the gateway and its workers share stderr)
 * through the batch; the reader sees only whole lines, each writer's in order, none lost. */
static void writers_share(int fds[2], int regular)
{
    pid_t kids[WRITERS_COUNT];
    for (int w = 0; w < WRITERS_COUNT; w++) {
        kids[w] = fork();
        assert_true(kids[w] >= 0);
        if (kids[w] == 0) {
            if (!regular) {
                close(fds[0]);
            }
            dup2(fds[1], STDERR_FILENO);
            close(fds[1]);
            log_init("writer", LOG_INFO);
            log_configure(0, LOG_FORMAT_TEXT);
            static char pad[300];
            memset(pad, 'a' + w, sizeof pad - 1);
            for (int i = 0; i < LINES_PER_WRITER; i++) {
                if (i % 2 == 0) {
                    struct log_kv kv[] = { LOG_INT("w", w), LOG_INT("i", i),
                                           LOG_STRN("pad", pad, (size_t)(i % 299)) };
                    log_kv(LOG_INFO, "t", kv, 3);
                } else {
                    log_info("t", "w=%d i=%d pad=%.*s", w, i, i % 299, pad);
                }
                if (i % 500 == 0) {
                    log_flush(); /* as the loop does before it waits */
                }
            }
            log_flush();
            _exit(0);
        }
    }
    static char all[WRITERS_COUNT * LINES_PER_WRITER * 420];
    size_t len = 0;
    ssize_t r;
    if (regular) {
        for (int w = 0; w < WRITERS_COUNT; w++) {
            int st = 0;
            assert_int_equal(waitpid(kids[w], &st, 0), kids[w]);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        assert_int_equal(lseek(fds[0], 0, SEEK_SET), 0);
    } else {
        close(fds[1]);
    }
    while ((r = read(fds[0], all + len, sizeof all - len)) > 0) {
        len += (size_t)r;
    }
    close(fds[0]);
    for (int w = 0; !regular && w < WRITERS_COUNT; w++) {
        int st = 0;
        assert_int_equal(waitpid(kids[w], &st, 0), kids[w]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    int next[WRITERS_COUNT] = { 0 };
    char *p = all;
    char *end = all + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        *nl = '\0';
        int w = -1;
        int i = -1;
        int off = 0;
        assert_int_equal(sscanf(p, "level=info proc=writer pid=%*d mod=t w=%d i=%d%n", &w, &i,
                                &off), 2);
        assert_true(w >= 0 && w < WRITERS_COUNT);
        assert_int_equal(i, next[w]);
        next[w]++;
        const char *pad = p + off;
        size_t want = (size_t)(i % 299);
        if (want == 0) {
            assert_string_equal(pad, " pad=\"\"");
        } else {
            assert_memory_equal(pad, " pad=", 5);
            assert_int_equal(strlen(pad + 5), want);
            for (size_t k = 0; k < want; k++) {
                assert_int_equal(pad[5 + k], 'a' + w);
            }
        }
        p = nl + 1;
    }
    for (int w = 0; w < WRITERS_COUNT; w++) {
        assert_int_equal(next[w], LINES_PER_WRITER);
    }
}

static void processes_never_interleave_inside_a_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    writers_share(fds, 0);
}

/* stderr a regular file (one open file, inherited, as `duro-gateway 2>log` gives): batches are
 * larger than PIPE_BUF, and still whole. */
static void processes_never_interleave_in_a_file(void **state)
{
    (void)state;
    char path[] = "/tmp/duro-test-log.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    int fds[2] = { fd, fd };
    writers_share(fds, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_has_owned_keys_first),
        cmocka_unit_test(json_has_the_same_keys),
        cmocka_unit_test(no_key_twice),
        cmocka_unit_test(values_are_escaped),
        cmocka_unit_test(words_without_a_key_go_to_msg),
        cmocka_unit_test(long_lines_are_cut_not_split),
        cmocka_unit_test(kv_pairs_match_the_text_path),
        cmocka_unit_test(kv_values_are_taken_whole),
        cmocka_unit_test(logger_lines_match_the_formatter),
        cmocka_unit_test(processes_never_interleave_inside_a_line),
        cmocka_unit_test(processes_never_interleave_in_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

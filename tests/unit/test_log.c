/* tests/unit/test_log.c: the log formatter, text and JSON: owned keys first, no key twice,
 * escaping of quotes, backslashes, newlines and control characters, cut long lines. */
#include "common/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_has_owned_keys_first),
        cmocka_unit_test(json_has_the_same_keys),
        cmocka_unit_test(no_key_twice),
        cmocka_unit_test(values_are_escaped),
        cmocka_unit_test(words_without_a_key_go_to_msg),
        cmocka_unit_test(long_lines_are_cut_not_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

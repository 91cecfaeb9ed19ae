/* tests/unit/test_buf.c: common/buf: all-zero is empty, bounded growth, consume, shrink. */
#include "common/buf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/duro_limits.h"

static void all_zero_is_empty_and_valid(void **state)
{
    (void)state;
    struct buf b = { 0 };
    assert_int_equal(buf_room(&b), 0);
    buf_consume(&b, 5);
    buf_reset(&b);
    buf_shrink(&b, 0);
    assert_null(b.p);
    assert_int_equal(buf_append(&b, "", 0, 10), 0);
    assert_null(b.p); /* nothing to hold: nothing allocated */
    buf_free(&b);
    buf_free(&b);
    assert_null(b.p);
}

static void init_allocates_the_capacity_asked(void **state)
{
    (void)state;
    struct buf b;
    assert_int_equal(buf_init(&b, 100), 0);
    assert_int_equal(b.cap, 100);
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_room(&b), 100);
    memcpy(b.p, "abc", 3);
    buf_commit(&b, 3);
    assert_int_equal(b.len, 3);
    buf_free(&b);
    assert_int_equal(buf_init(&b, 0), 0);
    assert_null(b.p);
}

static void growth_doubles_and_stops_at_max(void **state)
{
    (void)state;
    struct buf b = { 0 };
    assert_int_equal(buf_append(&b, "x", 1, 1 << 20), 0);
    assert_int_equal(b.cap, DURO_BUF_MIN_BYTES);
    assert_int_equal(buf_reserve(&b, DURO_BUF_MIN_BYTES, 1 << 20), 0);
    assert_int_equal(b.cap, 2 * DURO_BUF_MIN_BYTES);
    /* doubling would overshoot: capped at max */
    assert_int_equal(buf_reserve(&b, 3 * DURO_BUF_MIN_BYTES, 3 * DURO_BUF_MIN_BYTES + 1), 0);
    assert_int_equal(b.cap, 3 * DURO_BUF_MIN_BYTES + 1);
    /* beyond max: refused, unchanged */
    uint8_t *p = b.p;
    assert_int_equal(buf_reserve(&b, 3 * DURO_BUF_MIN_BYTES + 1, 3 * DURO_BUF_MIN_BYTES + 1),
                     -1);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.len, 1);
    assert_int_equal(buf_reserve(&b, SIZE_MAX, SIZE_MAX), -1); /* len + extra overflows */
    assert_int_equal(buf_append(&b, "yz", 2, 2), -1);
    assert_int_equal(b.len, 1);
    buf_free(&b);
    /* a max below the minimum first allocation */
    assert_int_equal(buf_append(&b, "abcd", 4, 10), 0);
    assert_int_equal(b.cap, 10);
    buf_free(&b);
}

static void content_survives_growth_and_consume(void **state)
{
    (void)state;
    struct buf b = { 0 };
    char chunk[100];
    for (int i = 0; i < 100; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        assert_int_equal(buf_append(&b, chunk, sizeof chunk, 1 << 20), 0);
    }
    assert_int_equal(b.len, 10000);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(b.p[i * 100], 'a' + i % 26);
    }
    buf_consume(&b, 150);
    assert_int_equal(b.len, 9850);
    assert_int_equal(b.p[0], 'b');
    assert_int_equal(b.p[50], 'c');
    buf_consume(&b, 1 << 20);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void shrink_keeps_what_is_held(void **state)
{
    (void)state;
    struct buf b = { 0 };
    assert_int_equal(buf_reserve(&b, 8192, 1 << 20), 0);
    assert_true(b.cap >= 8192);
    assert_int_equal(buf_append(&b, "hello", 5, 1 << 20), 0);
    buf_shrink(&b, 1024);
    assert_int_equal(b.cap, 1024);
    buf_shrink(&b, 0);
    assert_int_equal(b.cap, 5); /* never below len */
    assert_memory_equal(b.p, "hello", 5);
    buf_shrink(&b, 4096);       /* shrink never grows */
    assert_int_equal(b.cap, 5);
    buf_reset(&b);
    buf_shrink(&b, 0);          /* empty and nothing kept: all-zero */
    assert_null(b.p);
    assert_int_equal(b.cap, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_zero_is_empty_and_valid),
        cmocka_unit_test(init_allocates_the_capacity_asked),
        cmocka_unit_test(growth_doubles_and_stops_at_max),
        cmocka_unit_test(content_survives_growth_and_consume),
        cmocka_unit_test(shrink_keeps_what_is_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

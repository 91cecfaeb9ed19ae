/* tests/unit/test_budget.c: the worker's buffer budget as pure accounting (worker/budget.c):
 * charges moved per holder, the bound, and which messages it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/duro_limits.h"
#include "worker/budget.h"

static void charges_move_per_holder(void **state)
{
    (void)state;
    struct budget b = { .max_bytes = 1000 };
    size_t h1 = 0, h2 = 0;
    budget_set(&b, &h1, 300);
    budget_set(&b, &h2, 200);
    assert_int_equal(b.used_bytes, 500);
    assert_int_equal(h1, 300);
    budget_set(&b, &h1, 100); /* a holder that shrinks gives back only its own difference */
    assert_int_equal(b.used_bytes, 300);
    budget_set(&b, &h2, 0);
    budget_set(&b, &h1, 0);
    assert_int_equal(b.used_bytes, 0);
    assert_int_equal(b.peak_bytes, 500);
    budget_add(&b, 64); /* a shared frame: charged once for its life */
    budget_add(&b, 64);
    assert_int_equal(b.used_bytes, 128);
    budget_sub(&b, 64);
    budget_sub(&b, 64);
    assert_int_equal(b.used_bytes, 0);
}

static void fits_up_to_the_bound(void **state)
{
    (void)state;
    struct budget b = { .max_bytes = 1000 };
    assert_true(budget_fits(&b, 1000));
    assert_false(budget_fits(&b, 1001));
    size_t h = 0;
    budget_set(&b, &h, 1000);
    assert_true(budget_fits(&b, 0)); /* exactly full is within */
    assert_false(budget_fits(&b, 1));
    budget_set(&b, &h, 1001);
    assert_false(budget_fits(&b, 0)); /* past it: nothing fits, not even nothing */
    assert_false(budget_fits(&b, SIZE_MAX));
}

static void only_large_messages_are_refused(void **state)
{
    (void)state;
    struct budget b = { .max_bytes = 1u << 20 };
    size_t h = 0;
    /* with room: a large message is assembled */
    assert_false(budget_refuses_message(&b, 512u << 10, 512u << 10));
    assert_false(budget_refuses_message(&b, 1u << 20, 1u << 20));
    /* a large message the budget cannot hold, whole or by the frame that adds to it */
    assert_true(budget_refuses_message(&b, (1u << 20) + 1, (1u << 20) + 1));
    budget_set(&b, &h, 900u << 10);
    assert_true(budget_refuses_message(&b, 200u << 10, 200u << 10));
    assert_true(budget_refuses_message(&b, 2u << 20, 200u << 10)); /* a continuation */
    assert_false(budget_refuses_message(&b, 2u << 20, 100u << 10)); /* its growth still fits */
    /* full: a small message (one read's worth) always passes */
    budget_set(&b, &h, 4u << 20);
    assert_false(budget_refuses_message(&b, DURO_WS_LARGE_MESSAGE_BYTES,
                                        DURO_WS_LARGE_MESSAGE_BYTES));
    assert_true(budget_refuses_message(&b, DURO_WS_LARGE_MESSAGE_BYTES + 1, 1));
    assert_true(budget_refuses_message(&b, UINT64_MAX, UINT64_MAX));
}

static size_t freed_holder;
static size_t asked;

/* make_room as the worker does it: frees what it can (here: one holder's charge). */
static void free_one(struct budget *b, size_t need)
{
    asked = need;
    budget_set(b, &freed_holder, 0);
}

static void make_room_runs_before_a_refusal(void **state)
{
    (void)state;
    struct budget b = { .max_bytes = 1u << 20, .make_room = free_one };
    budget_set(&b, &freed_holder, 1u << 20);
    asked = 0;
    /* full, but the hook frees enough: the large message is taken */
    assert_false(budget_refuses_message(&b, 512u << 10, 512u << 10));
    assert_int_equal(asked, 512u << 10);
    assert_int_equal(b.used_bytes, 0);
    /* a small one never asks */
    budget_set(&b, &freed_holder, 1u << 20);
    asked = 0;
    assert_false(budget_refuses_message(&b, 100, 100));
    assert_int_equal(asked, 0);
    /* nothing the hook frees is enough: refused */
    size_t other = 0;
    budget_set(&b, &other, 900u << 10);
    assert_true(budget_refuses_message(&b, 512u << 10, 512u << 10));
    assert_int_equal(asked, 512u << 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(charges_move_per_holder),
        cmocka_unit_test(fits_up_to_the_bound),
        cmocka_unit_test(only_large_messages_are_refused),
        cmocka_unit_test(make_room_runs_before_a_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

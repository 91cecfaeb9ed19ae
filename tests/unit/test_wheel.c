/* tests/unit/test_wheel.c: the timing wheel (worker/wheel.c): a node is visited in the advance
 * that passes its tick and not before; an advance visits only the slots passed and the nodes in
 * them; nodes refiled or removed from a callback; long jumps and deadlines past a revolution;
 * tick wrap-around. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "worker/wheel.h"

#define NODES 64

/* A timed thing, as the session is: a node and its own deadline. */
struct item {
    struct wheel_node node;
    uint32_t due;
    unsigned fired;      /* visits with the deadline reached */
    unsigned visits;     /* all visits */
    int refile_after;    /* > 0: once fired, file again this many ticks later */
};

struct ctx {
    struct wheel *wh;
    struct item *items;
    uint32_t now;
    struct item *remove_other; /* a callback that takes another item out */
    struct item *order[NODES];
    unsigned norder;
};

static struct item *item_of(struct wheel_node *n)
{
    return (struct item *)(void *)((char *)n - offsetof(struct item, node));
}

/* What liveness does: not yet due, file again; due, act. */
static void visit(struct wheel_node *n, void *arg)
{
    struct ctx *c = arg;
    struct item *it = item_of(n);
    it->visits++;
    assert_false(wheel_linked(n));
    if ((int32_t)(it->due - c->now) > 0) {
        wheel_add(c->wh, n, it->due);
        return;
    }
    it->fired++;
    if (c->norder < NODES) {
        c->order[c->norder++] = it;
    }
    if (c->remove_other != NULL) {
        wheel_remove(c->wh, &c->remove_other->node);
        c->remove_other = NULL;
    }
    if (it->refile_after > 0) {
        it->due = c->now + (uint32_t)it->refile_after;
        it->refile_after = 0;
        wheel_add(c->wh, n, it->due);
    }
}

static size_t advance(struct ctx *c, uint32_t now)
{
    c->now = now;
    return wheel_advance(c->wh, now, visit, c);
}

static struct wheel wh;
static struct item items[NODES];

static void setup_ctx(struct ctx *c, uint32_t start)
{
    memset(items, 0, sizeof items);
    memset(c, 0, sizeof *c);
    wheel_init(&wh, start);
    c->wh = &wh;
    c->items = items;
    c->now = start;
}

static void file(struct ctx *c, unsigned i, uint32_t due)
{
    c->items[i].due = due;
    wheel_add(c->wh, &c->items[i].node, due);
}

static void fires_at_its_tick_not_before(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 100);
    file(&c, 0, 105);
    file(&c, 1, 103);
    assert_int_equal(wh.count, 2);
    for (uint32_t t = 101; t < 103; t++) {
        assert_int_equal(advance(&c, t), 0); /* empty slots: nothing visited */
    }
    assert_int_equal(advance(&c, 103), 1);
    assert_int_equal(items[1].fired, 1);
    assert_int_equal(items[0].fired, 0);
    assert_int_equal(advance(&c, 104), 0);
    assert_int_equal(advance(&c, 105), 1);
    assert_int_equal(items[0].fired, 1);
    assert_int_equal(wh.count, 0);
    assert_false(wheel_linked(&items[0].node));
}

static void advance_costs_the_nodes_due(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    /* Many nodes far away, a few due soon: an advance looks only at the few. */
    for (unsigned i = 0; i < NODES - 3; i++) {
        file(&c, i, 500);
    }
    for (unsigned i = NODES - 3; i < NODES; i++) {
        file(&c, i, 7);
    }
    assert_int_equal(advance(&c, 6), 0);
    assert_int_equal(advance(&c, 7), 3);
    assert_int_equal(advance(&c, 499), 0);
    assert_int_equal(advance(&c, 500), NODES - 3);
    for (unsigned i = 0; i < NODES; i++) {
        assert_int_equal(items[i].fired, 1);
        assert_int_equal(items[i].visits, 1);
    }
}

static void past_or_present_due_is_next_tick(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 50);
    file(&c, 0, 50);
    file(&c, 1, 10);
    assert_int_equal(advance(&c, 51), 2);
    assert_int_equal(items[0].fired + items[1].fired, 2);
}

static void deadline_beyond_a_revolution(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    uint32_t far = 3 * WHEEL_SLOTS + 5;
    file(&c, 0, far);
    unsigned visits_before_due = 0;
    for (uint32_t t = 1; t < far; t++) {
        advance(&c, t);
        assert_int_equal(items[0].fired, 0);
    }
    visits_before_due = items[0].visits;
    assert_int_equal(visits_before_due, 3); /* once per revolution, refiled each time */
    advance(&c, far);
    assert_int_equal(items[0].fired, 1);
}

static void long_jump_visits_each_slot_once(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    for (unsigned i = 0; i < NODES; i++) {
        file(&c, i, 1 + i * 37);
    }
    /* The loop stalled for many revolutions: one advance fires everything once. */
    assert_int_equal(advance(&c, 10 * WHEEL_SLOTS), NODES);
    for (unsigned i = 0; i < NODES; i++) {
        assert_int_equal(items[i].fired, 1);
        assert_int_equal(items[i].visits, 1);
    }
    assert_int_equal(wh.count, 0);
    assert_int_equal(wh.now, 10 * WHEEL_SLOTS);
}

static void refile_from_callback_waits_for_its_tick(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    file(&c, 0, 4);
    items[0].refile_after = WHEEL_SLOTS; /* lands in the very slot being visited */
    assert_int_equal(advance(&c, 4), 1);
    assert_int_equal(items[0].fired, 1);
    assert_true(wheel_linked(&items[0].node));
    assert_int_equal(wh.count, 1);
    assert_int_equal(advance(&c, 4 + WHEEL_SLOTS - 1), 0);
    assert_int_equal(advance(&c, 4 + WHEEL_SLOTS), 1);
    assert_int_equal(items[0].fired, 2);
}

static void remove_from_callback_and_outside(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    file(&c, 0, 9);
    file(&c, 1, 9);
    file(&c, 2, 9);
    file(&c, 3, 20);
    wheel_remove(&wh, &items[3].node);
    wheel_remove(&wh, &items[3].node); /* idempotent */
    assert_int_equal(wh.count, 3);
    /* The first node visited takes another one of its own batch out. */
    c.remove_other = &items[2];
    assert_int_equal(advance(&c, 9), 2);
    assert_int_equal(items[0].fired, 1);
    assert_int_equal(items[1].fired, 1);
    assert_int_equal(items[2].visits, 0);
    assert_int_equal(items[3].visits, 0);
    assert_int_equal(advance(&c, 30), 0);
    assert_int_equal(wh.count, 0);
}

static void same_slot_in_filing_order(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    for (unsigned i = 0; i < 5; i++) {
        file(&c, i, 3);
    }
    assert_int_equal(advance(&c, 3), 5);
    for (unsigned i = 0; i < 5; i++) {
        assert_ptr_equal(c.order[i], &items[i]);
    }
}

static void ticks_wrap_around(void **state)
{
    (void)state;
    struct ctx c;
    uint32_t start = UINT32_MAX - 3;
    setup_ctx(&c, start);
    file(&c, 0, start + 10); /* past 2^32 */
    for (uint32_t t = start + 1; t != start + 10; t++) {
        assert_int_equal(advance(&c, t), 0);
    }
    assert_int_equal(advance(&c, start + 10), 1);
    assert_int_equal(items[0].fired, 1);
}

static void restart_only_when_empty(void **state)
{
    (void)state;
    struct ctx c;
    setup_ctx(&c, 0);
    wheel_restart(&wh, 1000);
    assert_int_equal(wh.now, 1000);
    file(&c, 0, 1002);
    wheel_restart(&wh, 5000);
    assert_int_equal(wh.now, 1000); /* a filed node keeps the wheel's time */
    assert_int_equal(advance(&c, 1000), 0); /* not after the current tick: nothing */
    assert_int_equal(advance(&c, 1002), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fires_at_its_tick_not_before),
        cmocka_unit_test(advance_costs_the_nodes_due),
        cmocka_unit_test(past_or_present_due_is_next_tick),
        cmocka_unit_test(deadline_beyond_a_revolution),
        cmocka_unit_test(long_jump_visits_each_slot_once),
        cmocka_unit_test(refile_from_callback_waits_for_its_tick),
        cmocka_unit_test(remove_from_callback_and_outside),
        cmocka_unit_test(same_slot_in_filing_order),
        cmocka_unit_test(ticks_wrap_around),
        cmocka_unit_test(restart_only_when_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

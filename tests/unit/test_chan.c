/* tests/unit/test_chan.c: common/chan.h over a real socketpair and loop. */
#include "common/chan.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

struct seen {
    unsigned stats;
    unsigned handoffs;
    uint64_t dropped;
    int closed;
    int status;
};

static void on_msg(struct chan *ch, const struct msg *m, void *arg)
{
    struct seen *v = arg;
    if (m->type == MSG_STATS) {
        v->stats++;
        v->dropped = chan_handoffs_dropped(ch);
        chan_close(ch); /* the last message of the test */
    } else if (m->type == MSG_HANDOFF) {
        v->handoffs++;
    }
}

static void on_closed(struct chan *ch, int status, void *arg)
{
    struct seen *v = arg;
    (void)ch;
    v->closed = 1;
    v->status = status;
}

/* A worker at its fd limit receives the MSG_HANDOFF bytes but not the descriptor (the kernel
 * drops it, MSG_CTRUNC): that hand-off is dropped and counted, the channel goes on. */
static void handoff_without_fd_is_dropped_not_fatal(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct chan *ch = chan_new(&loop);
    assert_non_null(ch);
    assert_int_equal(chan_open_fd(ch, sv[0]), 0);
    struct seen v = { 0 };
    assert_int_equal(chan_start(ch, on_msg, on_closed, &v), 0);

    static uint8_t buf[65536];
    struct msg_handoff h = {
        .conn_id = 7,
        .cls = { "echo", 4 },
        .name = { "e", 1 },
        .key = { "dGhlIHNhbXBsZSBub25jZQ==", 24 },
        .protocols = { "", 0 },
        .extensions = { "", 0 },
        .target = { "/echo", 5 },
        .early = { "", 0 },
    };
    size_t n = msg_encode_handoff(buf, sizeof buf, &h);
    assert_true(n > 0);
    uint64_t words[1] = { 42 };
    size_t m = msg_encode_stats(buf + n, sizeof buf - n, 1, words, 1);
    assert_true(m > 0);
    assert_int_equal(write(sv[1], buf, n + m), (ssize_t)(n + m));

    for (int i = 0; i < 100 && v.stats == 0 && !v.closed; i++) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    assert_int_equal(v.handoffs, 0);
    assert_int_equal(v.stats, 1);
    assert_int_equal(v.dropped, 1);
    assert_false(v.closed);
    uv_run(&loop, UV_RUN_DEFAULT); /* the close started in on_msg completes */
    close(sv[1]);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handoff_without_fd_is_dropped_not_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_tx.c: the worker's output module (worker/tx.c): frames as they appear in the
 * output buffer, and the flush queue over a real socket and a real libuv loop: one write per
 * socket per loop iteration, the outbound bound, the double buffer behind a slow reader. Every
 * test ends with the loop closing cleanly (no handle or request left). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "common/conf.h"
#include "common/log.h"
#include "worker/session.h"
#include "worker/tx.h"
#include "worker/worker.h"

#define LOOP_TURNS_MAX 10000
#define BIG_BYTES (1u << 20)

static const char CONFIG[] = "[websocket]\noutbound_max_bytes = 65536\n";

struct fixture {
    uv_loop_t loop;
    struct worker w;
    struct session *s;
    int peer; /* the client's end of the socketpair, non-blocking */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256];
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->w.loop = &f->loop;
    assert_int_equal(conf_parse(&f->w.conf, CONFIG, "(test)", err, sizeof err), 0);
    assert_int_equal(session_worker_init(&f->w), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->peer = sv[1];
    assert_int_equal(fcntl(f->peer, F_SETFL, O_NONBLOCK), 0);
    f->s = session_new(&f->w, 1);
    assert_non_null(f->s);
    assert_int_equal(uv_tcp_open(&f->s->tcp, sv[0]), 0);
    f->s->state = SESSION_OPEN; /* as after the handshake; no object, no class */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    session_destroy(f->s);
    for (int i = 0; i < LOOP_TURNS_MAX && f->w.sessions_open > 0; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(f->w.sessions_open, 0);
    session_worker_close(&f->w);
    /* every charge to the buffer budget was given back: queues, shared frames, the pool */
    assert_int_equal(f->w.budget.used_bytes, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    close(f->peer);
    free(f);
    return 0;
}

/* Everything the peer can read now. */
static size_t peer_read(struct fixture *f, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(f->peer, buf + n, cap - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    return n;
}

static void frame_headers(void **state)
{
    struct fixture *f = *state;
    struct obuf out = { 0 };
    struct duro_iov hi = { "hi", 2 };
    assert_int_equal(tx_frame_into(&f->w, &out, WSLAY_TEXT_FRAME, &hi, 1), 0);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.p, "\x81\x02hi", 4);

    /* pieces are one frame; empty pieces are skipped */
    struct duro_iov parts[3] = { { "ab", 2 }, { "", 0 }, { "c", 1 } };
    out.len = 0;
    assert_int_equal(tx_frame_into(&f->w, &out, WSLAY_BINARY_FRAME, parts, 3), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.p, "\x82\x03" "abc", 5);

    /* a short message of parts is joined before framing, a longer one framed part by part:
     * the same bytes either way, at the join's bound (256) and past it */
    static uint8_t body[400];
    for (size_t i = 0; i < sizeof body; i++) {
        body[i] = (uint8_t)('a' + i % 26);
    }
    for (size_t total = 255; total <= 258; total++) {
        struct duro_iov split[4] = { { body, 100 }, { NULL, 0 }, { body + 100, total - 150 },
                                     { body + total - 50, 50 } };
        out.len = 0;
        assert_int_equal(tx_frame_into(&f->w, &out, WSLAY_TEXT_FRAME, split, 4), 0);
        assert_int_equal(out.len, 4 + total);
        uint8_t want[4] = { 0x81, 0x7e, (uint8_t)(total >> 8), (uint8_t)total };
        assert_memory_equal(out.p, want, 4);
        assert_memory_equal(out.p + 4, body, total);
    }

    out.len = 0;
    assert_int_equal(tx_frame_into(&f->w, &out, WSLAY_TEXT_FRAME, NULL, 0), 0);
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.p, "\x81\x00", 2);

    /* the 16-bit and 64-bit length forms, never masked */
    static uint8_t big[70000];
    struct duro_iov m = { big, 126 };
    out.len = 0;
    assert_int_equal(tx_frame_into(&f->w, &out, WSLAY_TEXT_FRAME, &m, 1), 0);
    assert_int_equal(out.len, 4 + 126);
    assert_memory_equal(out.p, "\x81\x7e\x00\x7e", 4);
    m.len = sizeof big;
    out.len = 0;
    assert_int_equal(tx_frame_into(&f->w, &out, WSLAY_BINARY_FRAME, &m, 1), 0);
    assert_int_equal(out.len, 10 + sizeof big);
    assert_memory_equal(out.p, "\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10);
    free(out.p);
}

static void one_write_per_iteration(void **state)
{
    struct fixture *f = *state;
    struct session *s = f->s;
    struct duro_iov a = { "a", 1 }, b = { "b", 1 };
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &a, 1, 0), 0);
    tx_flush_soon(s);
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &b, 1, 0), 0);
    tx_flush_soon(s);
    assert_int_equal(f->w.flush_n, 1); /* queued once */
    assert_int_equal(tx_buffered(s), 6);
    uint8_t buf[64];
    assert_int_equal(peer_read(f, buf, sizeof buf), 0); /* nothing before the loop runs */
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(f->w.flush_n, 0);
    assert_int_equal(peer_read(f, buf, sizeof buf), 6);
    assert_memory_equal(buf, "\x81\x01" "a\x81\x01" "b", 6);
    assert_int_equal(tx_buffered(s), 0);
    assert_null(s->act); /* drained and idle: the act went back to the pool */
    assert_int_equal(f->w.act_pool_count, 1);
}

static void current_session_is_not_queued(void **state)
{
    struct fixture *f = *state;
    struct session *s = f->s;
    struct duro_iov a = { "a", 1 };
    f->w.current = s; /* being read: its read's end writes */
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &a, 1, 0), 0);
    tx_flush_soon(s);
    assert_int_equal(f->w.flush_n, 0);
    f->w.current = NULL;
    tx_flush(s);
    uint8_t buf[8];
    assert_int_equal(peer_read(f, buf, sizeof buf), 3);
    /* a session that goes away leaves the queue */
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &a, 1, 0), 0);
    tx_flush_soon(s);
    assert_int_equal(f->w.flush_n, 1);
    tx_unqueue(s);
    assert_int_equal(f->w.flush_n, 0);
    assert_false(s->flush_queued);
}

static void outbound_bound(void **state)
{
    struct fixture *f = *state;
    struct session *s = f->s;
    static uint8_t chunk[40000];
    struct duro_iov c = { chunk, sizeof chunk };
    assert_int_equal(tx_frame(s, WSLAY_BINARY_FRAME, &c, 1, 0), 0);
    assert_int_equal(tx_frame(s, WSLAY_BINARY_FRAME, &c, 1, 0), 0); /* one may pass the bound */
    assert_true(tx_buffered(s) > f->w.conf.outbound_max_bytes);
    assert_int_equal(tx_frame(s, WSLAY_BINARY_FRAME, &c, 1, 0), -1); /* a backlog may not grow */
    assert_int_equal(tx_queue(s, chunk, 10, 0), -1);
    struct duro_iov close = { "\x03\xe8", 2 };
    assert_int_equal(tx_frame(s, WSLAY_CONNECTION_CLOSE, &close, 1, 1), 0); /* control: forced */
}

static void slow_reader_double_buffer(void **state)
{
    struct fixture *f = *state;
    struct session *s = f->s;
    int small = 4096;
    assert_int_equal(setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    uint8_t *big = malloc(BIG_BYTES);
    assert_non_null(big);
    for (size_t i = 0; i < BIG_BYTES; i++) {
        big[i] = (uint8_t)i;
    }
    f->w.conf.outbound_max_bytes = 4u * BIG_BYTES;
    struct duro_iov m = { big, BIG_BYTES };
    assert_int_equal(tx_frame(s, WSLAY_BINARY_FRAME, &m, 1, 0), 0);
    tx_flush(s);
    assert_true(s->writing); /* the socket took part; the rest is in flight from `wb` */
    assert_true(s->act->wb.own.len > 0);
    assert_int_equal(s->act->out.own.len, 0);
    struct duro_iov tail = { "end", 3 };
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &tail, 1, 0), 0); /* collects in `out` */
    assert_int_equal(s->act->out.own.len, 5);

    size_t want = 10 + BIG_BYTES + 5, got = 0;
    uint8_t *rx = malloc(want);
    assert_non_null(rx);
    for (int i = 0; i < LOOP_TURNS_MAX && got < want; i++) {
        got += peer_read(f, rx + got, want - got);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    got += peer_read(f, rx + got, want - got);
    assert_int_equal(got, want);
    assert_memory_equal(rx + 10, big, BIG_BYTES); /* in order, nothing lost or repeated */
    assert_memory_equal(rx + 10 + BIG_BYTES, "\x81\x03" "end", 5);
    assert_false(s->writing);
    free(rx);
    free(big);
}

/* A second session over its own socketpair, with a small receive buffer on the peer's side. */
static struct session *extra(struct fixture *f, uint64_t id, int *peer)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    int small = 4096;
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    struct session *s = session_new(&f->w, id);
    assert_non_null(s);
    assert_int_equal(uv_tcp_open(&s->tcp, sv[0]), 0);
    s->state = SESSION_OPEN;
    *peer = sv[1];
    return s;
}

static size_t read_fd(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    return n;
}

static size_t pool_charge(const struct worker *w)
{
    size_t n = 0;
    for (const struct session_act *a = w->act_pool; a != NULL; a = a->next) {
        n += a->charged;
    }
    return n;
}

/* A broadcast's frame is one copy referenced by both queues, in order between their own frames,
 * charged once; it is freed (and uncharged) with the last reference. */
static void shared_frame_is_one_copy(void **state)
{
    struct fixture *f = *state;
    struct session *s = f->s;
    int peer2;
    struct session *s2 = extra(f, 2, &peer2);
    static uint8_t payload[4000];
    memset(payload, 'z', sizeof payload);
    size_t before = f->w.budget.used_bytes;
    struct tx_shared *sh = tx_share(&f->w, WSLAY_BINARY_FRAME, payload, sizeof payload, NULL);
    assert_non_null(sh);
    assert_int_equal(sh->len, 4 + sizeof payload);
    assert_int_equal(f->w.budget.used_bytes, before + sizeof *sh + sh->len);
    struct duro_iov a = { "a", 1 }, b = { "b", 1 };
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &a, 1, 0), 0);
    assert_int_equal(tx_queue_shared(s, sh), 0);
    assert_int_equal(tx_frame(s, WSLAY_TEXT_FRAME, &b, 1, 0), 0);
    assert_int_equal(tx_queue_shared(s2, sh), 0);
    assert_int_equal(sh->refs, 3);
    assert_int_equal(tx_buffered(s), 3 + sh->len + 3);
    assert_int_equal(tx_buffered(s2), sh->len);
    /* the queues hold a reference each, not a copy: their own buffers stay small */
    assert_true(s->act->out.own.cap < sizeof payload);
    assert_true(s2->act->out.own.cap < sizeof payload);
    tx_unshare(&f->w, sh); /* the broadcast is done with it */
    tx_flush_soon(s);
    tx_flush_soon(s2);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uint8_t buf[8192];
    size_t n = peer_read(f, buf, sizeof buf);
    assert_int_equal(n, 3 + 4 + sizeof payload + 3);
    assert_memory_equal(buf, "\x81\x01" "a\x82\x7e\x0f\xa0", 7);
    assert_memory_equal(buf + 7, payload, sizeof payload);
    assert_memory_equal(buf + 7 + sizeof payload, "\x81\x01" "b", 3);
    for (int i = 0; i < LOOP_TURNS_MAX && s2->writing; i++) {
        n = read_fd(peer2, buf, sizeof buf);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_false(s2->writing);
    /* both drained: the frame is gone, what is left charged is the pool's small buffers */
    assert_null(s->act);
    assert_null(s2->act);
    assert_int_equal(f->w.budget.used_bytes, pool_charge(&f->w));
    session_destroy(s2);
    for (int i = 0; i < LOOP_TURNS_MAX && f->w.sessions_open > 1; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    close(peer2);
}

/* Past the budget, the socket with the largest backlog goes first, and only as many as needed. */
static void shed_takes_the_largest_backlog_first(void **state)
{
    struct fixture *f = *state;
    int pa, pb;
    struct session *big = extra(f, 2, &pa);
    struct session *mid = extra(f, 3, &pb);
    f->w.conf.outbound_max_bytes = 8u * BIG_BYTES;
    uint8_t *m = calloc(1, BIG_BYTES);
    assert_non_null(m);
    struct duro_iov one = { m, BIG_BYTES }, quarter = { m, BIG_BYTES / 4 };
    assert_int_equal(tx_frame(big, WSLAY_BINARY_FRAME, &one, 1, 0), 0);
    assert_int_equal(tx_frame(mid, WSLAY_BINARY_FRAME, &quarter, 1, 0), 0);
    tx_flush(big);
    tx_flush(mid);
    assert_true(big->writing); /* stuck behind the peers' small buffers */
    assert_true(mid->writing);
    size_t used = f->w.budget.used_bytes;
    assert_true(used >= BIG_BYTES + BIG_BYTES / 4);
    /* a budget that the middle one alone fits in */
    f->w.conf.worker_buffer_max_bytes = (uint32_t)(used - BIG_BYTES / 2);
    uint64_t closes = f->w.metrics.v[M_BUDGET_CLOSES];
    tx_shed(&f->w, 0, NULL);
    assert_int_equal(big->state, SESSION_DESTROYED);
    assert_int_equal(mid->state, SESSION_OPEN);
    assert_int_equal(f->w.metrics.v[M_BUDGET_CLOSES], closes + 1);
    assert_true(budget_fits(tx_budget(&f->w), 0));
    /* a large message that still would not fit: refused for the socket itself */
    assert_int_equal(tx_frame(mid, WSLAY_BINARY_FRAME, &one, 1, 0), -1);
    assert_int_equal(f->w.metrics.v[M_BUDGET_CLOSES], closes + 2);
    /* a small one passes, even past the budget (the end of the iteration sheds) */
    budget_add(&f->w.budget, 4u * BIG_BYTES);
    struct duro_iov tiny = { "t", 1 };
    assert_int_equal(tx_frame(f->s, WSLAY_TEXT_FRAME, &tiny, 1, 0), 0);
    budget_sub(&f->w.budget, 4u * BIG_BYTES);
    session_destroy(mid);
    for (int i = 0; i < LOOP_TURNS_MAX && f->w.sessions_open > 1; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    close(pa);
    close(pb);
    free(m);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(frame_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(one_write_per_iteration, setup, teardown),
        cmocka_unit_test_setup_teardown(current_session_is_not_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(outbound_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(slow_reader_double_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_frame_is_one_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(shed_takes_the_largest_backlog_first, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

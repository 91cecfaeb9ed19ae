/* tests/unit/test_liveness.c: pings (worker/liveness.c) over a real socketpair and a real libuv
 * loop with short intervals: a silent peer gets an empty ping, then, still silent, its session
 * is closed with on_close 1006 / not clean; a peer that answers each ping stays open; pings off
 * files nothing; many sockets pinged in one tick borrow one act between them. No step waits on
 * a clock: the loop runs (bounded) until the event under test happened. Every test ends with the
 * loop closing cleanly. */
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
#include "duro/class.h"
#include "worker/object.h"
#include "worker/session.h"
#include "worker/worker.h"

#define LOOP_TURNS_MAX 2000000
#define MANY 32

/* The timeout is long beside a loop turn, so that a pong written right after its ping is always
 * read before the timeout, even on a loaded machine. */
static const char PINGS_ON[] = "[websocket]\nping_interval_ms = 20\nping_timeout_ms = 300\n"
                               "[objects]\nhibernate_after_ms = 10\n";
static const char PINGS_OFF[] = "[websocket]\nping_interval_ms = 0\n"
                                "[objects]\nhibernate_after_ms = 10\n";

static struct {
    unsigned closes, messages;
    uint16_t code;
    int clean;
} seen;

static void on_close(struct duro_object *obj, void *state, struct duro_socket *ws,
                     uint16_t code, const char *reason, size_t len, int clean)
{
    (void)obj;
    (void)state;
    (void)ws;
    (void)reason;
    (void)len;
    seen.closes++;
    seen.code = code;
    seen.clean = clean;
}

static void on_message(struct duro_object *obj, void *state, struct duro_socket *ws, int binary,
                       const uint8_t *data, size_t len)
{
    (void)obj;
    (void)state;
    (void)ws;
    (void)binary;
    (void)data;
    (void)len;
    seen.messages++;
}

static const struct duro_class CLS = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "t",
    .on_close = on_close,
    .on_message = on_message,
};

struct fixture {
    uv_loop_t loop;
    struct worker w;
    struct session *s[MANY];
    int peer[MANY]; /* the clients' ends, non-blocking */
};

static struct fixture *setup_with(const char *config)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256];
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->w.loop = &f->loop;
    f->w.nslots = 1;
    assert_int_equal(conf_parse(&f->w.conf, config, "(test)", err, sizeof err), 0);
    f->w.reg = registry_new(&f->w);
    assert_non_null(f->w.reg);
    assert_int_equal(session_worker_init(&f->w), 0);
    memset(&seen, 0, sizeof seen);
    return f;
}

static int setup_on(void **state)
{
    *state = setup_with(PINGS_ON);
    return 0;
}

static int setup_off(void **state)
{
    *state = setup_with(PINGS_OFF);
    return 0;
}

static void run_until_closed(struct fixture *f)
{
    for (int i = 0; i < LOOP_TURNS_MAX && f->w.sessions_open > 0; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(f->w.sessions_open, 0);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (unsigned i = 0; i < MANY; i++) {
        if (f->s[i] != NULL) {
            session_destroy(f->s[i]);
        }
    }
    run_until_closed(f);
    for (unsigned i = 0; i < MANY; i++) {
        if (f->peer[i] > 0) {
            close(f->peer[i]);
        }
    }
    session_worker_close(&f->w);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the object's idle timer forgets it */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    registry_free(f->w.reg);
    free(f);
    return 0;
}

/* An accepted session on one end of a socketpair, as the handshake leaves it. */
static struct session *open_session(struct fixture *f, unsigned i)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    f->peer[i] = sv[1];
    struct session *s = session_new(&f->w, 100 + i);
    assert_non_null(s);
    assert_int_equal(uv_tcp_open(&s->tcp, sv[0]), 0);
    struct object *o = registry_get(f->w.reg, &CLS, "o", 1);
    assert_non_null(o);
    object_add_socket(o, s);
    assert_int_equal(session_read_start(s), 0);
    session_opened(s);
    f->s[i] = s;
    return s;
}

/* Reads `want` bytes from the peer, running the loop while they have not arrived (up to the loop
 * bound). The socket is read before each turn, never after it only: bytes written in an earlier
 * turn (the pings of one tick reach every peer at once) are taken at once. Turning the loop first
 * would wait for one more event, and once every session has timed out and closed, nothing is
 * left to come: UV_RUN_ONCE would block in epoll for ever. */
static size_t read_peer(struct fixture *f, unsigned i, uint8_t *buf, size_t want)
{
    size_t got = 0;
    for (int k = 0; k < LOOP_TURNS_MAX; k++) {
        ssize_t n = read(f->peer[i], buf + got, want - got);
        if (n > 0) {
            got += (size_t)n;
            if (got == want) {
                break;
            }
            continue;
        }
        if (n == 0 || errno != EAGAIN) {
            break; /* the session closed: what it wrote before was read above */
        }
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    return got;
}

/* What the peer's socket holds right now (without running the loop). */
static ssize_t peek_peer(struct fixture *f, unsigned i, uint8_t *buf, size_t cap)
{
    return read(f->peer[i], buf, cap);
}

static void pong(struct fixture *f, unsigned i)
{
    static const uint8_t masked_pong[] = { 0x8A, 0x80, 1, 2, 3, 4 };
    assert_int_equal(write(f->peer[i], masked_pong, sizeof masked_pong),
                     (ssize_t)sizeof masked_pong);
}

static void silent_peer_is_pinged_then_closed_abnormally(void **state)
{
    struct fixture *f = *state;
    (void)open_session(f, 0);
    uint8_t b[16];
    assert_int_equal(read_peer(f, 0, b, 2), 2);
    assert_int_equal(b[0], 0x89); /* FIN + ping */
    assert_int_equal(b[1], 0x00); /* unmasked, empty */
    assert_int_equal(f->w.metrics.v[M_PINGS_SENT], 1);
    assert_int_equal(seen.closes, 0);
    assert_null(f->s[0]->act); /* the ping left at once: its act went back to the pool */
    run_until_closed(f);
    f->s[0] = NULL;
    assert_int_equal(seen.closes, 1);
    assert_int_equal(seen.code, DURO_CLOSE_ABNORMAL);
    assert_int_equal(seen.clean, 0);
    assert_int_equal(seen.messages, 0);
    assert_int_equal(f->w.metrics.v[M_PING_TIMEOUTS], 1);
    assert_int_equal(f->w.metrics.v[M_WS_OPEN], 0);
    /* No close frame after the ping: the peer only sees the end of the stream. */
    assert_int_equal(peek_peer(f, 0, b, sizeof b), 0);
    assert_int_equal(f->w.liveness.wheel.count, 0);
}

static void answering_peer_stays_open(void **state)
{
    struct fixture *f = *state;
    (void)open_session(f, 0);
    uint8_t b[16];
    for (unsigned k = 0; k < 5; k++) {
        assert_int_equal(read_peer(f, 0, b, 2), 2);
        assert_int_equal(b[0], 0x89);
        assert_int_equal(seen.closes, 0);
        pong(f, 0);
    }
    assert_int_equal(f->w.metrics.v[M_PINGS_SENT], 5);
    assert_int_equal(f->w.metrics.v[M_PING_TIMEOUTS], 0);
    assert_int_equal(seen.messages, 0); /* pongs reach no class callback */
    assert_int_equal(f->w.metrics.v[M_WS_OPEN], 1);
}

static void many_silent_peers_share_one_act(void **state)
{
    struct fixture *f = *state;
    for (unsigned i = 0; i < MANY; i++) {
        (void)open_session(f, i);
    }
    assert_int_equal(f->w.liveness.wheel.count, MANY);
    uint8_t b[2];
    for (unsigned i = 0; i < MANY; i++) {
        assert_int_equal(read_peer(f, i, b, 2), 2);
        assert_int_equal(b[0], 0x89);
    }
    assert_true(f->w.act_pool_count <= 1); /* at most one act was ever needed */
    assert_int_equal(f->w.acts_in_use, 0);
    run_until_closed(f);
    memset(f->s, 0, sizeof f->s);
    assert_int_equal(seen.closes, MANY);
    assert_int_equal(f->w.metrics.v[M_PING_TIMEOUTS], MANY);
}

static void pings_off_files_nothing(void **state)
{
    struct fixture *f = *state;
    (void)open_session(f, 0);
    assert_int_equal(f->w.liveness.wheel.count, 0);
    assert_false(f->w.liveness.running);
    /* Run the loop through the object's hibernation: nothing is written to the peer. */
    for (int k = 0; k < LOOP_TURNS_MAX && registry_live(f->w.reg) > 0; k++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(registry_live(f->w.reg), 0);
    uint8_t b[2];
    assert_int_equal(peek_peer(f, 0, b, sizeof b), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(f->w.metrics.v[M_PINGS_SENT], 0);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(silent_peer_is_pinged_then_closed_abnormally, setup_on,
                                        teardown),
        cmocka_unit_test_setup_teardown(answering_peer_stays_open, setup_on, teardown),
        cmocka_unit_test_setup_teardown(many_silent_peers_share_one_act, setup_on, teardown),
        cmocka_unit_test_setup_teardown(pings_off_files_nothing, setup_off, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

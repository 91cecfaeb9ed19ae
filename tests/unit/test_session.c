/* tests/unit/test_session.c: the session core (worker/session.c) over a real socket and loop,
 * with a class whose on_close calls back into duro while every allocation fails (issue 10,
 * defect 2): the session must reach uv_close once and leave the open gauge at zero. The
 * allocator is wrapped at link time (-Wl,--wrap), so the worker's own calls fail as they would
 * under memory pressure. The test ends with the loop closing cleanly. */
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

#define LOOP_TURNS_MAX 100000

void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__real_malloc(size_t size);

static int fail_allocs;

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_allocs ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return fail_allocs ? NULL : __real_realloc(p, size);
}

void *__wrap_malloc(size_t size)
{
    return fail_allocs ? NULL : __real_malloc(size);
}

static const char CONFIG[] = "[objects]\nhibernate_after_ms = 10\n";

static struct {
    unsigned closes;
    int close_rc, send_rc;
} seen;

static void greedy_close(struct duro_object *obj, void *state, struct duro_socket *ws,
                         uint16_t code, const char *reason, size_t len, int clean)
{
    (void)obj;
    (void)state;
    (void)code;
    (void)reason;
    (void)len;
    (void)clean;
    seen.closes++;
    fail_allocs = 1;
    seen.send_rc = duro_send(ws, 0, "bye", 3);
    seen.close_rc = duro_close(ws, DURO_CLOSE_NORMAL, "late", 4);
    fail_allocs = 0;
}

static const struct duro_class GREEDY = {
    .api_version = DURO_CLASS_API_VERSION,
    .name = "greedy",
    .on_close = greedy_close,
    .struct_size = sizeof(struct duro_class),
};

struct fixture {
    uv_loop_t loop;
    struct worker w;
    int peer;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256];
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->w.loop = &f->loop;
    f->w.nslots = 1;
    assert_int_equal(conf_parse(&f->w.conf, CONFIG, "(test)", err, sizeof err), 0);
    f->w.reg = registry_new(&f->w);
    assert_non_null(f->w.reg);
    assert_int_equal(session_worker_init(&f->w), 0);
    memset(&seen, 0, sizeof seen);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    session_worker_close(&f->w);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the object's idle timer forgets it */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(registry_count(f->w.reg), 0);
    registry_free(f->w.reg);
    free(f);
    return 0;
}

/* An accepted session on one end of a socketpair, as the handshake leaves it. */
static struct session *open_session(struct fixture *f)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    f->peer = sv[1];
    struct session *s = session_new(&f->w, 7);
    assert_non_null(s);
    assert_int_equal(uv_tcp_open(&s->tcp, sv[0]), 0);
    struct object *o = registry_get(f->w.reg, &GREEDY, "o", 1);
    assert_non_null(o);
    object_add_socket(o, s);
    assert_int_equal(session_read_start(s), 0);
    session_opened(s);
    assert_int_equal(f->w.metrics.v[M_WS_OPEN], 1);
    return s;
}

static void run_until_closed(struct fixture *f)
{
    for (int i = 0; i < LOOP_TURNS_MAX && f->w.sessions_open > 0; i++) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(f->w.sessions_open, 0);
}

/* TCP dropped: destroy() runs on_close, which sends and closes while allocations fail. */
static void on_close_reenters_destroy(void **state)
{
    struct fixture *f = *state;
    (void)open_session(f);
    close(f->peer);
    run_until_closed(f);
    assert_int_equal(seen.closes, 1);
    assert_int_equal(seen.send_rc, DURO_ESTATE); /* the socket is already going */
    assert_int_equal(seen.close_rc, DURO_ESTATE);
    assert_int_equal(f->w.metrics.v[M_WS_OPEN], 0);
}

/* The client's close frame: on_close answers, and every allocation for the answer fails. */
static void on_close_after_close_frame(void **state)
{
    struct fixture *f = *state;
    (void)open_session(f);
    static const uint8_t close_1000[] = { 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8 };
    assert_int_equal(write(f->peer, close_1000, sizeof close_1000), (ssize_t)sizeof close_1000);
    run_until_closed(f);
    close(f->peer);
    assert_int_equal(seen.closes, 1);
    assert_int_not_equal(seen.send_rc, 0);
    assert_int_equal(f->w.metrics.v[M_WS_OPEN], 0);
}

int main(void)
{
    log_init("test", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(on_close_reenters_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(on_close_after_close_frame, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

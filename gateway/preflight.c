#include "gateway/preflight.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/duro_limits.h"
#include "common/log.h"

struct preflight {
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    preflight_done_fn *done;
    void *arg;
    uint32_t timeout_ms;
    int open_handles;
    int exited;
    int ok;
    size_t len;
    char buf[DURO_UPGRADE_VERSION_MAX_BYTES + 1];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct preflight *p = h->data;
    (void)suggested;
    *buf = uv_buf_init(p->buf + p->len, (unsigned)(sizeof p->buf - 1 - p->len));
}

/* The run is over once its three handles have closed: exit seen, stdout at its end. */
static void on_closed(uv_handle_t *h)
{
    struct preflight *p = h->data;
    if (--p->open_handles > 0) {
        return;
    }
    p->buf[p->len] = '\0';
    char *nl = strchr(p->buf, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
    p->done(p->arg, p->ok, p->buf);
    free(p);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct preflight *p = s->data;
    (void)buf;
    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_closed); /* EOF, or more than a line (ENOBUFS) */
        return;
    }
    p->len += (size_t)nread;
}

static void on_proc_exit(uv_process_t *proc, int64_t status, int signal)
{
    struct preflight *p = proc->data;
    p->ok = status == 0 && signal == 0;
    p->exited = 1;
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, on_closed);
    uv_close((uv_handle_t *)proc, on_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct preflight *p = t->data;
    log_error("upgrade", "event=check_timeout pid=%d after_ms=%u", p->proc.pid, p->timeout_ms);
    uv_process_kill(&p->proc, SIGKILL);
}

struct preflight *preflight_run(uv_loop_t *loop, char **args, uint32_t timeout_ms,
                                preflight_done_fn *done, void *arg)
{
    struct preflight *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->done = done;
    p->arg = arg;
    p->timeout_ms = timeout_ms;
    uv_pipe_init(loop, &p->out, 0);
    uv_timer_init(loop, &p->timer);
    p->out.data = p->timer.data = p->proc.data = p;
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out },
        { .flags = UV_INHERIT_FD, .data.fd = 2 },
    };
    uv_process_options_t opt = {
        .exit_cb = on_proc_exit,
        .file = args[0],
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    p->open_handles = 3;
    int rc = uv_spawn(loop, &p->proc, &opt);
    if (rc != 0) {
        log_error("upgrade", "event=check_spawn_failed path=%s err=%s", args[0],
                  uv_strerror(rc));
        p->exited = 1;
        uv_close((uv_handle_t *)&p->proc, on_closed); /* libuv wants it closed even so */
        uv_close((uv_handle_t *)&p->timer, on_closed);
        uv_close((uv_handle_t *)&p->out, on_closed); /* p->ok stays 0 */
        return p;
    }
    uv_timer_start(&p->timer, on_timeout, timeout_ms, 0);
    if (uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read) != 0) {
        uv_close((uv_handle_t *)&p->out, on_closed);
    }
    return p;
}

void preflight_kill(struct preflight *p)
{
    if (!p->exited) {
        uv_process_kill(&p->proc, SIGKILL);
    }
}

#include "common/chan.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"

/* The largest input buffer: one whole message of the largest size. */
#define CHAN_IN_MAX_BYTES ((size_t)DURO_MSG_HEADER_BYTES + DURO_MSG_BODY_MAX_BYTES)

struct chan {
    uv_pipe_t pipe;
    chan_msg_fn *on_msg;
    chan_closed_fn *on_closed;
    void *arg;
    struct buf in;       /* received bytes not yet decoded */
    int accepted;        /* the current MSG_HANDOFF's handle was taken */
    int closing;
    int stopped;         /* on_closed has run */
    uint64_t handoffs_dropped; /* MSG_HANDOFFs whose descriptor did not arrive */
};

struct send_req {
    uv_write_t req;
    struct chan *ch;
    chan_sent_fn *done;
    void *arg;
    size_t len;
    uint8_t bytes[];
};

struct chan *chan_new(uv_loop_t *loop)
{
    struct chan *ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        return NULL;
    }
    if (uv_pipe_init(loop, &ch->pipe, 1) != 0) {
        free(ch);
        return NULL;
    }
    ch->pipe.data = ch;
    return ch;
}

uv_pipe_t *chan_pipe(struct chan *ch)
{
    return &ch->pipe;
}

int chan_open_fd(struct chan *ch, int fd)
{
    return uv_pipe_open(&ch->pipe, fd);
}

uint64_t chan_handoffs_dropped(const struct chan *ch)
{
    return ch->handoffs_dropped;
}

size_t chan_buffer_bytes(const struct chan *ch)
{
    return ch->in.cap;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct chan *ch = h->data;
    (void)suggested;

    if (ch->in.cap == 0 && buf_init(&ch->in, DURO_CHAN_READ_INITIAL_BYTES) != 0) {
        *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS to on_read */
        return;
    }
    *buf = uv_buf_init((char *)ch->in.p + ch->in.len, (unsigned)buf_room(&ch->in));
}

static void stop(struct chan *ch, int status)
{
    if (ch->stopped) {
        return;
    }
    ch->stopped = 1;
    uv_read_stop((uv_stream_t *)&ch->pipe);
    ch->on_closed(ch, status, ch->arg);
}

static void free_handle(uv_handle_t *h)
{
    free(h); /* a close callback of the right type: calling free through a cast is UB */
}

/* A handle the current message did not claim: take it and close it, so no fd leaks. */
static void drop_pending(struct chan *ch)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL || uv_tcp_init(ch->pipe.loop, t) != 0) {
        free(t);
        return;
    }
    if (uv_accept((uv_stream_t *)&ch->pipe, (uv_stream_t *)t) != 0) {
        log_error("chan", "event=drop_pending_failed");
    }
    uv_close((uv_handle_t *)t, free_handle);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct chan *ch = s->data;
    (void)buf;

    if (nread < 0) {
        stop(ch, nread == UV_EOF ? 0 : (int)nread);
        return;
    }
    buf_commit(&ch->in, (size_t)nread);
    size_t off = 0;
    while (!ch->stopped && !ch->closing) {
        struct msg m;
        size_t used = 0;
        enum msg_result r = msg_decode(ch->in.p + off, ch->in.len - off, &m, &used);
        if (r == MSG_NEED_MORE) {
            break;
        }
        if (r == MSG_BAD) {
            log_error("chan", "event=bad_message bytes=%zu first=%02x", ch->in.len - off,
                      ch->in.len > off ? ch->in.p[off] : 0);
            stop(ch, UV_EPROTO);
            return;
        }
        if (msg_carries_fd(m.type) && uv_pipe_pending_count(&ch->pipe) == 0) {
            /* The descriptor did not arrive (the kernel drops it when this process is at its
             * fd limit): that one connection is lost, never the channel and every socket. */
            log_warn("chan", "event=handoff_without_fd type=%d conn=%llu action=dropped",
                     (int)m.type, (unsigned long long)(m.type == MSG_HANDOFF
                                                           ? m.u.handoff.conn_id
                                                           : m.u.emigrant.conn_id));
            ch->handoffs_dropped++;
            off += used;
            continue;
        }
        ch->accepted = 0;
        ch->on_msg(ch, &m, ch->arg);
        if (msg_carries_fd(m.type) && !ch->accepted && !ch->closing) {
            drop_pending(ch);
        }
        off += used;
    }
    if (ch->closing || ch->stopped) {
        return;
    }
    buf_consume(&ch->in, off);
    /* A large message (an /objects answer) is not worth keeping its buffer for. */
    if (ch->in.len < DURO_CHAN_READ_INITIAL_BYTES / 4) {
        buf_shrink(&ch->in, DURO_CHAN_READ_INITIAL_BYTES);
    }
    /* Make room for the whole of the next message, as announced by its header. */
    const uint8_t *in = ch->in.p;
    size_t want = ch->in.len + DURO_CHAN_READ_INITIAL_BYTES / 4;
    if (ch->in.len >= DURO_MSG_HEADER_BYTES) {
        uint32_t body = ((uint32_t)in[8] << 24) | ((uint32_t)in[9] << 16) |
                        ((uint32_t)in[10] << 8) | in[11];
        if (body <= DURO_MSG_BODY_MAX_BYTES && DURO_MSG_HEADER_BYTES + (size_t)body > want) {
            want = DURO_MSG_HEADER_BYTES + (size_t)body;
        }
    }
    if (want > CHAN_IN_MAX_BYTES) {
        want = CHAN_IN_MAX_BYTES;
    }
    if (want > ch->in.len && buf_reserve(&ch->in, want - ch->in.len, CHAN_IN_MAX_BYTES) != 0) {
        log_error("chan", "event=oom want=%zu", want);
        stop(ch, UV_ENOMEM);
    }
}

int chan_start(struct chan *ch, chan_msg_fn *on_msg, chan_closed_fn *on_closed, void *arg)
{
    ch->on_msg = on_msg;
    ch->on_closed = on_closed;
    ch->arg = arg;
    return uv_read_start((uv_stream_t *)&ch->pipe, on_alloc, on_read);
}

int chan_accept(struct chan *ch, uv_stream_t *client)
{
    if (uv_pipe_pending_count(&ch->pipe) == 0 || ch->accepted) {
        return UV_EINVAL;
    }
    int rc = uv_accept((uv_stream_t *)&ch->pipe, client);
    ch->accepted = rc == 0;
    return rc;
}

static void on_sent(uv_write_t *req, int status)
{
    struct send_req *sr = (struct send_req *)req;
    if (sr->done != NULL) {
        sr->done(status, sr->arg);
    }
    free(sr);
}

int chan_send(struct chan *ch, const uint8_t *bytes, size_t len, uv_stream_t *handle,
              chan_sent_fn *done, void *arg)
{
    if (ch->closing) {
        return UV_EPIPE;
    }
    struct send_req *sr = malloc(sizeof *sr + len);
    if (sr == NULL) {
        return UV_ENOMEM;
    }
    sr->ch = ch;
    sr->done = done;
    sr->arg = arg;
    sr->len = len;
    memcpy(sr->bytes, bytes, len);
    uv_buf_t b = uv_buf_init((char *)sr->bytes, (unsigned)len);
    int rc = uv_write2(&sr->req, (uv_stream_t *)&ch->pipe, &b, 1, handle, on_sent);
    if (rc != 0) {
        free(sr);
        return rc;
    }
    return 0;
}

static void on_pipe_closed(uv_handle_t *h)
{
    struct chan *ch = h->data;
    buf_free(&ch->in);
    free(ch);
}

void chan_close(struct chan *ch)
{
    if (ch->closing) {
        return;
    }
    ch->closing = 1;
    ch->stopped = 1;
    uv_close((uv_handle_t *)&ch->pipe, on_pipe_closed);
}

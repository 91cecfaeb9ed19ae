#include "worker/session.h"

#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/respond.h"
#include "common/wskey.h"
#include "worker/classes.h"
#include "worker/object.h"

#define CLOSE_NORMAL 1000u
#define CLOSE_GOING_AWAY 1001u
#define CLOSE_PROTOCOL_ERROR 1002u
#define CLOSE_NO_STATUS 1005u
#define CLOSE_ABNORMAL 1006u
#define CLOSE_INVALID_DATA 1007u
#define CLOSE_POLICY 1008u
#define CLOSE_TOO_BIG 1009u
#define WS_FRAME_HEADER_MAX_BYTES 14u
#define MSG_BUF_KEEP_BYTES 16384u /* a larger assembly buffer is freed after its message */

static void flush(struct session *s);
static void feed(struct session *s);

static struct duro_socket *as_socket(struct session *s)
{
    return (struct duro_socket *)s;
}

static struct duro_object *as_object(struct object *o)
{
    return (struct duro_object *)o;
}

static void uncount(struct session *s)
{
    if (s->counted) {
        s->counted = 0;
        s->obj->open_count--;
    }
}

/* ---- lifetime ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct session *s = h->data;
    if (--s->open_handles > 0) {
        return;
    }
    if (s->obj != NULL) {
        object_remove_socket(s->obj, s);
    }
    if (s->rx != NULL) {
        wslay_frame_context_free(s->rx);
    }
    free(s->msg.p);
    free(s->out.p);
    free(s->wb.p);
    s->w->sessions_open--;
    free(s);
}

static void notify_close(struct session *s, uint16_t code, const char *reason, size_t len,
                         int clean)
{
    if (s->notified || !s->accepted) {
        return;
    }
    s->notified = 1;
    struct object *o = s->obj;
    if (o->cls->on_close != NULL) {
        o->cls->on_close(as_object(o), o->state, as_socket(s), code, reason, len, clean);
    }
}

static void notify_error(struct session *s, int code)
{
    if (s->notified || !s->accepted) {
        return;
    }
    s->notified = 1;
    struct object *o = s->obj;
    if (o->cls->on_error != NULL) {
        o->cls->on_error(as_object(o), o->state, as_socket(s), code);
    }
}

static void destroy(struct session *s)
{
    if (s->closing) {
        return;
    }
    s->closing = 1;
    uncount(s);
    notify_close(s, CLOSE_ABNORMAL, "", 0, 0);
    if (s->accepted) {
        uint64_t now = uv_now(s->w->loop);
        log_info("access",
                 "event=ws_closed conn=%llu obj=%s/%s code_sent=%u code_recv=%u duration_ms=%llu "
                 "msgs_in=%llu msgs_out=%llu bytes_in=%llu bytes_out=%llu",
                 (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, s->code_sent,
                 s->code_recv ? s->code_recv : CLOSE_ABNORMAL,
                 (unsigned long long)(now - s->opened_ms), (unsigned long long)s->msgs_in,
                 (unsigned long long)s->msgs_out, (unsigned long long)s->bytes_in,
                 (unsigned long long)s->bytes_out);
    }
    uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}

static void on_timeout(uv_timer_t *t)
{
    struct session *s = t->data;
    log_debug("session", "conn=%llu event=close_timeout", (unsigned long long)s->conn_id);
    destroy(s);
}

/* ---- output ---- */

static size_t buffered(const struct session *s)
{
    return s->out.len + s->wb.len;
}

static int reserve(struct obuf *b, size_t extra, size_t limit)
{
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    if (need > limit) {
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    if (cap > limit) {
        cap = limit;
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* wslay's send callback for the worker's shared frame context: appends to the target session.
 * Room was reserved before framing started, so this cannot fail halfway through a frame. */
static ssize_t tx_send(const uint8_t *data, size_t len, int flags, void *user)
{
    struct worker *w = user;
    struct session *s = w->tx_target;
    (void)flags;
    memcpy(s->out.p + s->out.len, data, len);
    s->out.len += len;
    return (ssize_t)len;
}

static ssize_t tx_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    (void)buf;
    (void)len;
    (void)flags;
    (void)user;
    return -1; /* the shared context only sends */
}

static int tx_genmask(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    memset(buf, 0, len); /* servers never mask */
    return 0;
}

int session_tx_init(struct worker *w)
{
    static const struct wslay_frame_callbacks cb = { tx_send, tx_recv, tx_genmask };
    return wslay_frame_context_init(&w->tx, &cb, w);
}

/* Frames one message of `n` pieces into s->out. Returns 0, or -1 when the session's backlog
 * is already past the outbound bound (a slow consumer) or memory ran out. One message may take
 * the backlog past the bound: the bound is on what a client leaves unread, not on message size
 * (that is message_max_bytes). Control frames pass `force`. */
static int frame_out(struct session *s, uint8_t opcode, const struct duro_iov *iov, size_t n,
                     int force)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += iov[i].len;
    }
    if ((!force && buffered(s) > s->w->conf.outbound_max_bytes) ||
        reserve(&s->out, total + WS_FRAME_HEADER_MAX_BYTES, SIZE_MAX) != 0) {
        return -1;
    }
    struct worker *w = s->w;
    struct wslay_frame_iocb iocb = { .fin = 1, .opcode = opcode, .payload_length = total };
    w->tx_target = s;
    size_t sent_parts = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len == 0) {
            continue;
        }
        iocb.data = iov[i].base;
        iocb.data_length = iov[i].len;
        (void)wslay_frame_send(w->tx, &iocb); /* cannot fail: room was reserved */
        sent_parts++;
    }
    if (sent_parts == 0) {
        iocb.data = NULL;
        iocb.data_length = 0;
        (void)wslay_frame_send(w->tx, &iocb);
    }
    w->tx_target = NULL;
    s->bytes_out += total;
    return 0;
}

/* Writes now unless this session's own read is being handled: that read's end writes
 * everything it produced at once. */
static void flush_soon(struct session *s)
{
    if (s->w->current != s) {
        flush(s);
    }
}

static void start_finishing(struct session *s)
{
    s->finishing = 1;
    flush_soon(s);
}

/* Sends a close frame (once). Control frames may exceed the outbound bound by their own size. */
static void send_close(struct session *s, uint16_t code, const char *reason, size_t len)
{
    if (s->close_sent || s->closing) {
        return;
    }
    uint8_t payload[2];
    struct duro_iov iov[2] = { { payload, 0 }, { reason, 0 } };
    if (code != CLOSE_NO_STATUS && code != 0) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        iov[0].len = 2;
        iov[1].len = len > DURO_WS_CLOSE_REASON_MAX_BYTES ? DURO_WS_CLOSE_REASON_MAX_BYTES : len;
    }
    if (frame_out(s, WSLAY_CONNECTION_CLOSE, iov, 2, 1) != 0) {
        destroy(s); /* out of memory: give up on the connection */
        return;
    }
    s->close_sent = 1;
    s->code_sent = code;
    uncount(s);
    if (!s->close_received) {
        uv_timer_start(&s->timer, on_timeout, s->w->conf.close_timeout_ms, 0);
    }
}

/* Fails the connection (RFC 6455 7.1.7): close frame with `code`, no more frames parsed. */
static void fail(struct session *s, uint16_t code, const char *why)
{
    if (s->failed || s->closing) {
        return;
    }
    log_info("session", "conn=%llu obj=%s/%s event=ws_error code=%u reason=\"%s\"",
             (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, code, why);
    s->failed = 1;
    uncount(s);
    notify_error(s, code);
    send_close(s, code, "", 0);
    start_finishing(s);
}

static void after_flush(struct session *s);

static void on_write(uv_write_t *req, int status)
{
    struct session *s = req->data;
    s->writing = 0;
    s->wb.len = 0;
    if (s->closing) {
        return;
    }
    if (status < 0) {
        log_debug("session", "conn=%llu event=write_error err=%s", (unsigned long long)s->conn_id,
                  uv_err_name(status));
        uncount(s);
        destroy(s);
        return;
    }
    if (s->out.len > 0) {
        flush(s);
    } else {
        after_flush(s);
    }
}

static void flush(struct session *s)
{
    if (s->writing || s->closing) {
        return;
    }
    if (s->out.len == 0) {
        after_flush(s);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)s->out.p, (unsigned)s->out.len);
    int n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (n == (int)s->out.len) {
        s->out.len = 0;
        after_flush(s);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        uncount(s);
        destroy(s);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    /* The rest goes out from the second buffer while new frames collect in the first. */
    struct obuf t = s->wb;
    s->wb = s->out;
    s->out = t;
    s->out.len = 0;
    s->wreq.data = s;
    b = uv_buf_init((char *)s->wb.p + done, (unsigned)(s->wb.len - done));
    if (uv_write(&s->wreq, (uv_stream_t *)&s->tcp, &b, 1, on_write) != 0) {
        destroy(s);
        return;
    }
    s->writing = 1;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the timer started in after_flush bounds the wait for the peer's FIN */
}

static void after_flush(struct session *s)
{
    if (!s->finishing || s->shut || s->closing) {
        return;
    }
    /* Our close frame is written. Once the handshake is complete (or the connection failed),
     * the server closes TCP first (RFC 6455 7.1.1): send FIN, keep reading until the client's
     * FIN or the timer. Otherwise keep waiting for the client's close frame. */
    if (s->close_received || s->failed) {
        s->shut = 1;
        s->sreq.data = s;
        if (uv_shutdown(&s->sreq, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
            destroy(s);
            return;
        }
        uv_timer_start(&s->timer, on_timeout, s->w->conf.close_timeout_ms, 0);
    }
}

/* ---- the class API: sending ---- */

int duro_sendv(struct duro_socket *ws, int binary, const struct duro_iov *iov, size_t n)
{
    struct session *s = (struct session *)ws;
    if (s->close_sent || s->closing || s->failed) {
        return -1;
    }
    uint8_t opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
    if (frame_out(s, opcode, iov, n, 0) != 0) {
        log_warn("session", "conn=%llu obj=%s/%s event=slow_consumer buffered=%zu limit=%u",
                 (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, buffered(s),
                 s->w->conf.outbound_max_bytes);
        fail(s, CLOSE_POLICY, "outbound buffer over limit");
        return -1;
    }
    s->msgs_out++;
    flush_soon(s);
    return 0;
}

int duro_send(struct duro_socket *ws, int binary, const void *data, size_t len)
{
    struct duro_iov iov = { data, len };
    return duro_sendv(ws, binary, &iov, 1);
}

static int close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

int duro_close(struct duro_socket *ws, uint16_t code, const char *reason, size_t reason_len)
{
    struct session *s = (struct session *)ws;
    if (s->close_sent || s->closing || !close_code_valid(code) ||
        reason_len > DURO_WS_CLOSE_REASON_MAX_BYTES ||
        !utf8_valid((const uint8_t *)reason, reason_len)) {
        return -1;
    }
    send_close(s, code, reason, reason_len);
    start_finishing(s);
    return 0;
}

/* ---- input ---- */

static ssize_t rx_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    struct session *s = user;
    (void)flags;
    if (s->in_len == 0) {
        return -1; /* wslay: "no more for now" */
    }
    size_t n = s->in_len < len ? s->in_len : len;
    memcpy(buf, s->in, n);
    s->in += n;
    s->in_len -= n;
    return (ssize_t)n;
}

static ssize_t rx_send(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)data;
    (void)len;
    (void)flags;
    (void)user;
    return -1; /* receive contexts never send */
}

static void deliver(struct session *s, uint8_t opcode, const uint8_t *data, size_t len)
{
    struct object *o = s->obj;
    s->msgs_in++;
    s->bytes_in += len;
    if (s->close_sent) {
        return; /* closing: RFC 6455 lets us discard data frames */
    }
    if (o->cls->on_message != NULL) {
        o->cls->on_message(as_object(o), o->state, as_socket(s), opcode == WSLAY_BINARY_FRAME,
                           data, len);
    }
}

static void on_close_frame(struct session *s)
{
    uint16_t code = CLOSE_NO_STATUS;
    const char *reason = "";
    size_t rlen = 0;

    if (s->ctrl_len == 1) {
        fail(s, CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
        return;
    }
    if (s->ctrl_len >= 2) {
        code = (uint16_t)((s->ctrl[0] << 8) | s->ctrl[1]);
        if (!close_code_valid(code)) {
            fail(s, CLOSE_PROTOCOL_ERROR, "invalid close code");
            return;
        }
        reason = (const char *)s->ctrl + 2;
        rlen = s->ctrl_len - 2u;
        if (!utf8_valid((const uint8_t *)reason, rlen)) {
            fail(s, CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
            return;
        }
    }
    s->close_received = 1;
    s->code_recv = code;
    uncount(s);
    if (!s->close_sent) {
        notify_close(s, code, reason, rlen, 1);
        /* The class did not answer: echo the code (RFC 6455 5.5.1). */
        send_close(s, code, "", 0);
    }
    start_finishing(s);
}

static void on_control(struct session *s)
{
    if (s->frame_opcode == WSLAY_PING) {
        if (!s->close_sent) {
            struct duro_iov iov = { s->ctrl, s->ctrl_len };
            if (frame_out(s, WSLAY_PONG, &iov, 1, 0) != 0) {
                fail(s, CLOSE_POLICY, "outbound buffer over limit");
            }
        }
    } else if (s->frame_opcode == WSLAY_CONNECTION_CLOSE) {
        on_close_frame(s);
    }
    /* a pong needs nothing */
}

/* The first bytes (or the empty payload) of a new frame: check its header. Returns 0 or -1. */
static int frame_start(struct session *s, const struct wslay_frame_iocb *f)
{
    if (f->rsv != 0) {
        fail(s, CLOSE_PROTOCOL_ERROR, "reserved bits set without a negotiated extension");
        return -1;
    }
    if (!f->mask) {
        fail(s, CLOSE_PROTOCOL_ERROR, "unmasked client frame");
        return -1;
    }
    switch (f->opcode) {
    case WSLAY_CONTINUATION_FRAME:
        if (s->msg_opcode == 0) {
            fail(s, CLOSE_PROTOCOL_ERROR, "continuation frame without a message to continue");
            return -1;
        }
        break;
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (s->msg_opcode != 0) {
            fail(s, CLOSE_PROTOCOL_ERROR, "new message before the previous one finished");
            return -1;
        }
        s->msg.len = 0;
        memset(&s->utf8, 0, sizeof s->utf8);
        break;
    case WSLAY_CONNECTION_CLOSE:
    case WSLAY_PING:
    case WSLAY_PONG:
        s->ctrl_len = 0;
        break;
    default:
        fail(s, CLOSE_PROTOCOL_ERROR, "unknown opcode");
        return -1;
    }
    if (f->opcode < WSLAY_CONNECTION_CLOSE &&
        s->msg.len + f->payload_length > s->w->conf.message_max_bytes) {
        fail(s, CLOSE_TOO_BIG, "message too big");
        return -1;
    }
    s->in_frame = 1;
    s->frame_opcode = (uint8_t)f->opcode;
    s->frame_fin = (uint8_t)f->fin;
    s->frame_left = f->payload_length;
    if (f->opcode == WSLAY_TEXT_FRAME || f->opcode == WSLAY_BINARY_FRAME) {
        s->msg_opcode = (uint8_t)f->opcode;
    }
    return 0;
}

static void message_done(struct session *s)
{
    s->msg_opcode = 0;
    s->msg.len = 0;
    if (s->msg.cap > MSG_BUF_KEEP_BYTES) {
        free(s->msg.p);
        memset(&s->msg, 0, sizeof s->msg);
    }
}

/* One piece of a frame's payload (maybe all of it, maybe none). */
static void frame_data(struct session *s, const struct wslay_frame_iocb *f)
{
    const uint8_t *data = f->data;
    size_t len = f->data_length;
    s->frame_left -= len;
    int last = s->frame_left == 0;

    if (s->frame_opcode >= WSLAY_CONNECTION_CLOSE) {
        memcpy(s->ctrl + s->ctrl_len, data, len); /* wslay bounds control payloads to 125 */
        s->ctrl_len = (uint8_t)(s->ctrl_len + len);
        if (last) {
            s->in_frame = 0;
            on_control(s);
        }
        return;
    }
    if (s->msg_opcode == WSLAY_TEXT_FRAME && utf8_feed(&s->utf8, data, len) != 0) {
        fail(s, CLOSE_INVALID_DATA, "text message is not valid UTF-8");
        return;
    }
    if (last && s->frame_fin && s->msg.len == 0 && len == f->payload_length) {
        /* The common case: a whole unfragmented message in one piece, delivered in place. */
        s->in_frame = 0;
        if (s->msg_opcode == WSLAY_TEXT_FRAME && !utf8_complete(&s->utf8)) {
            fail(s, CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
            return;
        }
        uint8_t op = s->msg_opcode;
        message_done(s);
        deliver(s, op, data, len);
        return;
    }
    if (len > 0) {
        if (reserve(&s->msg, len, s->w->conf.message_max_bytes) != 0) {
            fail(s, CLOSE_TOO_BIG, "message too big");
            return;
        }
        memcpy(s->msg.p + s->msg.len, data, len);
        s->msg.len += len;
    }
    if (!last) {
        return;
    }
    s->in_frame = 0;
    if (!s->frame_fin) {
        return;
    }
    if (s->msg_opcode == WSLAY_TEXT_FRAME && !utf8_complete(&s->utf8)) {
        fail(s, CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
        return;
    }
    uint8_t op = s->msg_opcode;
    size_t mlen = s->msg.len;
    s->msg_opcode = 0;
    deliver(s, op, s->msg.p, mlen);
    if (!s->closing) {
        message_done(s);
    }
}

/* Runs wslay over the bytes lent by the current read until they are used up. */
static void feed(struct session *s)
{
    while (!s->failed && !s->close_received && !s->closing) {
        struct wslay_frame_iocb f;
        memset(&f, 0, sizeof f);
        ssize_t r = wslay_frame_recv(s->rx, &f);
        if (r == WSLAY_ERR_WANT_READ) {
            if (s->in_len == 0) {
                break;
            }
            continue;
        }
        if (r < 0) {
            fail(s, CLOSE_PROTOCOL_ERROR, "malformed frame header");
            break;
        }
        if (!s->in_frame && frame_start(s, &f) != 0) {
            break;
        }
        frame_data(s, &f);
    }
    s->in = NULL;
    s->in_len = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct session *s = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)s->w->read_buf, sizeof s->w->read_buf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct session *s = st->data;

    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("session", "conn=%llu event=read_error err=%s",
                      (unsigned long long)s->conn_id, uv_err_name((int)nread));
        }
        /* The client is gone or has shut its write side: it no longer counts, and without a
         * close handshake the close is abnormal. */
        uncount(s);
        destroy(s);
        return;
    }
    if (nread == 0) {
        return;
    }
    if (s->failed || s->close_received) {
        return; /* lingering: the bytes are discarded */
    }
    s->in = (const uint8_t *)buf->base;
    s->in_len = (size_t)nread;
    s->w->current = s;
    feed(s);
    s->w->current = NULL;
    flush(s);
}

/* ---- start ---- */

static void refuse(struct session *s, int status, const char *reason)
{
    char resp[RESPOND_MAX_BYTES];
    size_t n = respond_error(resp, sizeof resp, status, reason,
                             RESPOND_CLOSE | (status == 503 ? RESPOND_RETRY_AFTER : 0));
    log_info("access", "conn=%llu status=%d reason=\"%s\"", (unsigned long long)s->conn_id,
             status, reason);
    if (reserve(&s->out, n, n + 1) == 0) {
        memcpy(s->out.p, resp, n);
        s->out.len = n;
    }
    s->failed = 1;
    start_finishing(s);
}

static int accept_conn(struct session *s, struct chan *ch)
{
    struct worker *w = s->w;
    if (uv_tcp_init(w->loop, &s->tcp) != 0) {
        return -1;
    }
    s->tcp.data = s;
    s->open_handles = 1;
    if (uv_timer_init(w->loop, &s->timer) != 0) {
        uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
        return -1;
    }
    s->timer.data = s;
    s->open_handles = 2;
    w->sessions_open++;
    if (chan_accept(ch, (uv_stream_t *)&s->tcp) != 0) {
        destroy(s);
        return -1;
    }
    return 0;
}

static void close_one(struct session *s, void *arg)
{
    const char *reason = arg;
    if (!s->close_sent && !s->closing && s->accepted) {
        send_close(s, CLOSE_GOING_AWAY, reason, strlen(reason));
        start_finishing(s);
    }
}

void session_close_all(struct worker *w, const char *reason)
{
    registry_each_socket(w->reg, close_one, (void *)reason);
}

void session_start(struct worker *w, struct chan *ch, const struct msg_handoff *h)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL) {
        log_error("session", "conn=%llu event=oom", (unsigned long long)h->conn_id);
        return; /* chan closes the unclaimed descriptor */
    }
    s->w = w;
    s->conn_id = h->conn_id;
    if (accept_conn(s, ch) != 0) {
        log_error("session", "conn=%llu event=accept_failed", (unsigned long long)h->conn_id);
        return;
    }
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0) {
        s->reading = 1;
    }
    const struct duro_class *cls = classes_find(h->cls.ptr, h->cls.len);
    if (cls == NULL) {
        refuse(s, 500, "unknown object class");
        return;
    }
    static const struct wslay_frame_callbacks rx_cb = { rx_send, rx_recv, NULL };
    if (wslay_frame_context_init(&s->rx, &rx_cb, s) != 0) {
        refuse(s, 503, "worker out of memory");
        return;
    }
    struct object *o = registry_get(w->reg, cls, h->name.ptr, h->name.len);
    if (o == NULL) {
        refuse(s, 503, "worker out of memory");
        return;
    }
    if (o->nsockets >= DURO_OBJECT_SOCKETS_MAX_COUNT) {
        refuse(s, 503, "object has too many sockets");
        return;
    }
    object_add_socket(o, s);
    if (cls->on_connect != NULL) {
        char peer[80];
        snprintf(peer, sizeof peer, "%.*s", (int)h->peer.len, h->peer.ptr);
        struct duro_connect_info info = { h->target.ptr, h->target.len, h->protocols.ptr,
                                          h->protocols.len, peer };
        int st = cls->on_connect(as_object(o), o->state, as_socket(s), &info);
        if (st != 0) {
            uncount(s);
            refuse(s, st >= 400 && st <= 599 ? st : 403, "refused by the object");
            return;
        }
    }
    char accept_key[DURO_WS_ACCEPT_BYTES + 1];
    wskey_accept(h->key.ptr, h->key.len, accept_key);
    char resp[RESPOND_MAX_BYTES];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     accept_key);
    if (reserve(&s->out, (size_t)n, (size_t)n + 1) != 0) {
        uncount(s);
        destroy(s);
        return;
    }
    memcpy(s->out.p, resp, (size_t)n);
    s->out.len = (size_t)n;
    s->accepted = 1;
    s->opened_ms = uv_now(w->loop);
    log_debug("session", "conn=%llu obj=%s/%s event=open sockets=%u", (unsigned long long)s->conn_id,
              cls->name, o->name, o->nsockets);
    if (h->early.len > 0) {
        /* A client may send its first frames in the same segment as the upgrade. */
        s->in = (const uint8_t *)h->early.ptr;
        s->in_len = h->early.len;
        w->current = s;
        feed(s);
        w->current = NULL;
    }
    flush(s);
}

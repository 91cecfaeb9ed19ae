#include "worker/session.h"

#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/respond.h"
#include "common/wskey.h"
#include "worker/class_loader.h"
#include "worker/object.h"
#include "worker/ws_rx.h"

#define CLOSE_GOING_AWAY 1001u
#define CLOSE_NO_STATUS 1005u
#define CLOSE_ABNORMAL 1006u
#define CLOSE_POLICY 1008u
#define WS_FRAME_HEADER_MAX_BYTES 14u
#define OUT_BUF_KEEP_BYTES 65536u /* a larger output buffer is freed when the socket idles */

static void flush(struct session *s);

/* ---- the act pool ---- */

static void act_reset_buffers(struct session_act *a)
{
    a->msg.len = 0;
    a->out.len = 0;
    a->wb.len = 0;
    if (a->msg.cap > OUT_BUF_KEEP_BYTES) {
        free(a->msg.p);
        memset(&a->msg, 0, sizeof a->msg);
    }
    if (a->out.cap > OUT_BUF_KEEP_BYTES) {
        free(a->out.p);
        memset(&a->out, 0, sizeof a->out);
    }
    if (a->wb.cap > OUT_BUF_KEEP_BYTES) {
        free(a->wb.p);
        memset(&a->wb, 0, sizeof a->wb);
    }
}

static void act_free(struct session_act *a)
{
    if (a->rx != NULL) {
        wslay_frame_context_free(a->rx);
    }
    free(a->msg.p);
    free(a->out.p);
    free(a->wb.p);
    free(a);
}

struct session_act *session_act(struct session *s)
{
    if (s->act != NULL) {
        return s->act;
    }
    struct worker *w = s->w;
    struct session_act *a = w->act_pool;
    if (a != NULL) {
        w->act_pool = a->next;
        w->act_pool_count--;
    } else {
        a = calloc(1, sizeof *a);
        if (a == NULL || ws_rx_init(a) != 0) {
            free(a);
            return NULL;
        }
    }
    a->next = NULL;
    a->s = s;
    a->fed = a->framed = 0;
    a->in_frame = 0;
    a->msg_opcode = 0;
    s->act = a;
    w->acts_in_use++;
    return a;
}

static void timeout_disarm(struct session_act *a);

/* Gives the act back. `clean` says wslay's receive context is at a frame boundary with nothing
 * buffered, so the next socket can use it as is. */
static void act_release(struct session *s, int clean)
{
    struct session_act *a = s->act;
    struct worker *w = s->w;
    timeout_disarm(a);
    s->act = NULL;
    a->s = NULL;
    w->acts_in_use--;
    if (!clean) {
        wslay_frame_context_free(a->rx);
        a->rx = NULL;
        if (ws_rx_init(a) != 0) {
            act_free(a);
            return;
        }
    }
    if (w->act_pool_count >= DURO_ACT_POOL_MAX_COUNT) {
        act_free(a);
        return;
    }
    act_reset_buffers(a);
    a->next = w->act_pool;
    w->act_pool = a;
    w->act_pool_count++;
}

/* An idle socket keeps no act: nothing half-read, nothing to write, no close in progress. */
static void maybe_release(struct session *s)
{
    struct session_act *a = s->act;
    if (a != NULL && !s->writing && a->out.len == 0 && !s->finishing && !s->close_sent &&
        !s->closing && a->in_len == 0 && ws_rx_idle(a) && s->w->current != s) {
        act_release(s, 1);
    }
}

/* ---- close timeouts: one timer per worker, a FIFO list (every deadline is "now + the same
 * close_timeout_ms", so the list is in deadline order) ---- */

static void on_timeout_tick(uv_timer_t *t);

static void timeout_schedule(struct worker *w)
{
    if (w->to_head == NULL) {
        uv_timer_stop(&w->to_timer);
        return;
    }
    uint64_t now = uv_now(w->loop);
    uint64_t at = w->to_head->deadline_ms;
    uv_timer_start(&w->to_timer, on_timeout_tick, at > now ? at - now : 0, 0);
}

static void timeout_disarm(struct session_act *a)
{
    if (a->deadline_ms == 0) {
        return;
    }
    struct worker *w = a->s->w;
    if (a->to_prev != NULL) {
        a->to_prev->to_next = a->to_next;
    } else {
        w->to_head = a->to_next;
    }
    if (a->to_next != NULL) {
        a->to_next->to_prev = a->to_prev;
    } else {
        w->to_tail = a->to_prev;
    }
    a->to_prev = a->to_next = NULL;
    a->deadline_ms = 0;
}

static void timeout_arm(struct session *s)
{
    struct session_act *a = s->act;
    struct worker *w = s->w;
    timeout_disarm(a);
    a->deadline_ms = uv_now(w->loop) + w->conf.close_timeout_ms;
    a->to_prev = w->to_tail;
    a->to_next = NULL;
    if (w->to_tail != NULL) {
        w->to_tail->to_next = a;
    } else {
        w->to_head = a;
    }
    w->to_tail = a;
    if (w->to_head == a) {
        timeout_schedule(w);
    }
}

static void destroy(struct session *s);

static void on_timeout_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = uv_now(w->loop);
    while (w->to_head != NULL && w->to_head->deadline_ms <= now) {
        struct session *s = w->to_head->s;
        timeout_disarm(w->to_head);
        log_debug("session", "conn=%llu event=close_timeout", (unsigned long long)s->conn_id);
        destroy(s);
    }
    timeout_schedule(w);
}

/* ---- lifetime ---- */

void session_uncount(struct session *s)
{
    if (s->counted) {
        s->counted = 0;
        s->obj->open_count--;
    }
}

static void unqueue(struct session *s);
static void on_flush_check(uv_check_t *h);

static void on_closed(uv_handle_t *h)
{
    struct session *s = h->data;
    if (s->flush_queued) {
        unqueue(s);
    }
    if (s->act != NULL) {
        s->act->in_len = 0;
        act_release(s, ws_rx_idle(s->act));
    }
    if (s->obj != NULL) {
        object_remove_socket(s->obj, s);
    }
    free(s->attachment);
    free(s->protocol);
    s->w->sessions_open--;
    free(s);
}

void session_notify_close(struct session *s, uint16_t code, const char *reason, size_t len,
                          int clean)
{
    if (s->notified || !s->accepted) {
        return;
    }
    s->notified = 1;
    struct object *o = s->obj;
    if (o->cls->on_close != NULL) {
        object_wake(o);
        o->cls->on_close((struct duro_object *)o, o->state, (struct duro_socket *)s, code, reason,
                         len, clean);
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
        object_wake(o);
        o->cls->on_error((struct duro_object *)o, o->state, (struct duro_socket *)s, code);
    }
}

static void destroy(struct session *s)
{
    if (s->closing) {
        return;
    }
    session_uncount(s);
    session_notify_close(s, CLOSE_ABNORMAL, "", 0, 0);
    s->closing = 1;
    if (s->act != NULL) {
        timeout_disarm(s->act);
    }
    if (s->accepted) {
        s->w->metrics.v[M_WS_OPEN]--;
        metrics_ws_close(&s->w->metrics, s->code_sent ? s->code_sent : CLOSE_ABNORMAL);
        uint64_t now = uv_now(s->w->loop);
        log_info("access",
                 "event=ws_closed conn=%llu obj=%s/%s code_sent=%u code_recv=%u duration_ms=%llu "
                 "msgs_in=%u msgs_out=%u bytes_in=%llu bytes_out=%llu",
                 (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, s->code_sent,
                 s->code_recv ? s->code_recv : CLOSE_ABNORMAL,
                 (unsigned long long)(now - s->opened_ms), s->msgs_in, s->msgs_out,
                 (unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out);
    }
    uv_close((uv_handle_t *)&s->tcp, on_closed);
}

/* ---- output ---- */

size_t session_buffered(const struct session *s)
{
    return s->act != NULL ? s->act->out.len + s->act->wb.len : 0;
}

static int reserve(struct obuf *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        cap *= 2;
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
    struct obuf *out = w->tx_out;
    (void)flags;
    memcpy(out->p + out->len, data, len);
    out->len += len;
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

int session_worker_init(struct worker *w)
{
    static const struct wslay_frame_callbacks cb = { tx_send, tx_recv, tx_genmask };
    if (wslay_frame_context_init(&w->tx, &cb, w) != 0) {
        return -1;
    }
    if (uv_timer_init(w->loop, &w->to_timer) != 0 ||
        uv_check_init(w->loop, &w->flush_check) != 0) {
        return -1;
    }
    w->to_timer.data = w;
    w->flush_check.data = w;
    return uv_check_start(&w->flush_check, on_flush_check) == 0 ? 0 : -1;
}

static int room(struct session *s, size_t len, int force)
{
    if (!force && session_buffered(s) > s->w->conf.outbound_max_bytes) {
        return -1; /* one message may pass the bound; a backlog already past it may not grow */
    }
    struct session_act *a = session_act(s);
    return a != NULL && reserve(&a->out, len) == 0 ? 0 : -1;
}

int session_frame_into(struct worker *w, struct obuf *out, uint8_t opcode,
                       const struct duro_iov *iov, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += iov[i].len;
    }
    if (reserve(out, total + WS_FRAME_HEADER_MAX_BYTES) != 0) {
        return -1;
    }
    struct wslay_frame_iocb iocb = { .fin = 1, .opcode = opcode, .payload_length = total };
    w->tx_out = out;
    size_t parts = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len == 0) {
            continue;
        }
        iocb.data = iov[i].base;
        iocb.data_length = iov[i].len;
        (void)wslay_frame_send(w->tx, &iocb); /* cannot fail: room was reserved */
        parts++;
    }
    if (parts == 0) {
        iocb.data = NULL;
        iocb.data_length = 0;
        (void)wslay_frame_send(w->tx, &iocb);
    }
    w->tx_out = NULL;
    return 0;
}

int session_frame(struct session *s, uint8_t opcode, const struct duro_iov *iov, size_t n,
                  int force)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += iov[i].len;
    }
    if (room(s, total + WS_FRAME_HEADER_MAX_BYTES, force) != 0 ||
        session_frame_into(s->w, &s->act->out, opcode, iov, n) != 0) {
        return -1;
    }
    s->bytes_out += total;
    s->w->metrics.v[M_BYTES_OUT] += total;
    return 0;
}

int session_queue(struct session *s, const uint8_t *bytes, size_t len)
{
    if (room(s, len, 0) != 0) {
        return -1;
    }
    struct obuf *out = &s->act->out;
    memcpy(out->p + out->len, bytes, len);
    out->len += len;
    return 0;
}

static void after_flush(struct session *s);

static void on_write(uv_write_t *req, int status)
{
    struct session_act *a = req->data;
    struct session *s = a->s;
    s->writing = 0;
    a->wb.len = 0;
    if (s->closing) {
        return;
    }
    if (status < 0) {
        log_debug("session", "conn=%llu event=write_error err=%s", (unsigned long long)s->conn_id,
                  uv_err_name(status));
        destroy(s);
        return;
    }
    if (a->out.len > 0) {
        flush(s);
    } else {
        after_flush(s);
    }
}

static void flush(struct session *s)
{
    struct session_act *a = s->act;
    if (s->writing || s->closing || a == NULL) {
        return;
    }
    if (a->out.len == 0) {
        after_flush(s);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)a->out.p, (unsigned)a->out.len);
    int n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (n == (int)a->out.len) {
        a->out.len = 0;
        after_flush(s);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        destroy(s);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    /* The rest goes out from the second buffer while new frames collect in the first. */
    struct obuf t = a->wb;
    a->wb = a->out;
    a->out = t;
    a->out.len = 0;
    a->wreq.data = a;
    b = uv_buf_init((char *)a->wb.p + done, (unsigned)(a->wb.len - done));
    if (uv_write(&a->wreq, (uv_stream_t *)&s->tcp, &b, 1, on_write) != 0) {
        destroy(s);
        return;
    }
    s->writing = 1;
}

void session_flush_soon(struct session *s)
{
    struct worker *w = s->w;
    if (w->current == s || s->flush_queued || s->closing) {
        return;
    }
    if (w->flush_n == w->flush_cap) {
        size_t cap = w->flush_cap ? w->flush_cap * 2 : 64;
        struct session **q = realloc(w->flush_q, cap * sizeof *q);
        if (q == NULL) {
            flush(s); /* no room to defer: write now */
            return;
        }
        w->flush_q = q;
        w->flush_cap = cap;
    }
    w->flush_q[w->flush_n++] = s;
    s->flush_queued = 1;
}

static void on_flush_check(uv_check_t *h)
{
    struct worker *w = h->data;
    /* flush() may queue nothing new (the sessions are not current), but may destroy: closed
     * sessions are freed only in the close phase, after this. */
    for (size_t i = 0; i < w->flush_n; i++) {
        struct session *s = w->flush_q[i];
        s->flush_queued = 0;
        flush(s);
    }
    w->flush_n = 0;
}

static void unqueue(struct session *s)
{
    struct worker *w = s->w;
    for (size_t i = 0; i < w->flush_n; i++) {
        if (w->flush_q[i] == s) {
            w->flush_q[i] = w->flush_q[--w->flush_n];
            break;
        }
    }
    s->flush_queued = 0;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the close timer bounds the wait for the peer's FIN */
}

static void after_flush(struct session *s)
{
    if (s->peer_done && !s->closing) {
        destroy(s); /* the client shut its side and has everything we had for it */
        return;
    }
    if (!s->finishing || s->shut || s->closing) {
        maybe_release(s);
        return;
    }
    /* Our close frame is written. Once the handshake is complete, the server closes TCP first
     * (RFC 6455 7.1.1): the client sends nothing after its close frame, so nothing unread can
     * turn the close into a reset. After a protocol error the client may still be sending:
     * send FIN and read until its FIN or the close timer. Otherwise keep waiting for the
     * client's close frame. */
    if (s->close_received && !s->failed) {
        destroy(s);
        return;
    }
    if (s->failed) {
        struct session_act *a = s->act;
        s->shut = 1;
        a->sreq.data = a;
        if (uv_shutdown(&a->sreq, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
            destroy(s);
            return;
        }
        timeout_arm(s);
    }
}

void session_finish(struct session *s)
{
    if (session_act(s) == NULL) {
        destroy(s);
        return;
    }
    s->finishing = 1;
    session_flush_soon(s);
}

void session_send_close(struct session *s, uint16_t code, const char *reason, size_t len)
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
    if (session_frame(s, WSLAY_CONNECTION_CLOSE, iov, 2, 1) != 0) {
        destroy(s); /* out of memory: give up on the connection */
        return;
    }
    s->close_sent = 1;
    s->code_sent = code == 0 ? CLOSE_NO_STATUS : code;
    session_uncount(s);
    /* Bounded whoever closed first: a reply stuck behind output the client never reads must
     * not hold the connection. */
    timeout_arm(s);
}

void session_fail(struct session *s, uint16_t code, const char *why)
{
    if (s->failed || s->closing) {
        return;
    }
    log_info("session", "conn=%llu obj=%s/%s event=ws_error code=%u reason=\"%s\"",
             (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, code, why);
    s->failed = 1;
    session_uncount(s);
    notify_error(s, code);
    session_send_close(s, code, "", 0);
    session_finish(s);
}

int session_close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* ---- input ---- */

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
         * close handshake the close is abnormal. What is queued for it is still written (a
         * half-closed client may read on), bounded by the close timer. */
        session_uncount(s);
        if (nread == UV_EOF && !s->closing && session_buffered(s) > 0 && s->accepted) {
            session_notify_close(s, CLOSE_ABNORMAL, "", 0, 0);
            s->peer_done = 1;
            s->finishing = 1;
            uv_read_stop(st);
            timeout_arm(s);
            return;
        }
        destroy(s);
        return;
    }
    if (nread == 0 || s->failed || s->close_received || s->closing) {
        return; /* after a close or an error, bytes are discarded */
    }
    struct session_act *a = session_act(s);
    if (a == NULL) {
        log_error("session", "conn=%llu event=oom", (unsigned long long)s->conn_id);
        destroy(s);
        return;
    }
    uint64_t t0 = uv_hrtime();
    a->in = (const uint8_t *)buf->base;
    a->in_len = (size_t)nread;
    s->w->current = s;
    ws_rx_feed(s);
    s->w->current = NULL;
    flush(s);
    metrics_observe(&s->w->metrics, H_MESSAGE, uv_hrtime() - t0);
}

/* ---- start ---- */

static void refuse(struct session *s, int status, const char *reason)
{
    char resp[RESPOND_MAX_BYTES];
    size_t n = respond_error(resp, sizeof resp, status, reason,
                             RESPOND_CLOSE | (status == 503 ? RESPOND_RETRY_AFTER : 0));
    log_info("access", "conn=%llu status=%d reason=\"%s\"", (unsigned long long)s->conn_id,
             status, reason);
    metrics_http_status(&s->w->metrics, status);
    struct session_act *a = session_act(s);
    if (a == NULL || reserve(&a->out, n) != 0) {
        destroy(s);
        return;
    }
    memcpy(a->out.p, resp, n);
    a->out.len = n;
    s->failed = 1;
    session_finish(s);
}

static void close_one(struct session *s, void *arg)
{
    const char *reason = arg;
    if (!s->close_sent && !s->closing && s->accepted) {
        session_send_close(s, CLOSE_GOING_AWAY, reason, strlen(reason));
        session_finish(s);
    }
}

void session_close_all(struct worker *w, const char *reason)
{
    registry_each_socket(w->reg, close_one, (void *)reason);
}

static int write_101(struct session *s, const struct msg_handoff *h)
{
    char accept_key[DURO_WS_ACCEPT_BYTES + 1];
    wskey_accept(h->key.ptr, h->key.len, accept_key);
    char resp[RESPOND_MAX_BYTES + DURO_WS_PROTOCOL_MAX_BYTES];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept_key, s->protocol ? "Sec-WebSocket-Protocol: " : "",
                     s->protocol ? s->protocol : "", s->protocol ? "\r\n" : "");
    free(s->protocol);
    s->protocol = NULL;
    struct session_act *a = session_act(s);
    if (n < 0 || (size_t)n >= sizeof resp || a == NULL || reserve(&a->out, (size_t)n) != 0) {
        return -1;
    }
    memcpy(a->out.p + a->out.len, resp, (size_t)n);
    a->out.len += (size_t)n;
    return 0;
}

void session_start(struct worker *w, struct chan *ch, const struct msg_handoff *h)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL || uv_tcp_init(w->loop, &s->tcp) != 0) {
        log_error("session", "conn=%llu event=oom", (unsigned long long)h->conn_id);
        free(s);
        return; /* chan closes the unclaimed descriptor */
    }
    s->tcp.data = s;
    s->w = w;
    s->conn_id = h->conn_id;
    w->sessions_open++;
    if (chan_accept(ch, (uv_stream_t *)&s->tcp) != 0) {
        log_error("session", "conn=%llu event=accept_failed", (unsigned long long)h->conn_id);
        destroy(s);
        return;
    }
    if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) != 0) {
        destroy(s);
        return;
    }
    const struct duro_class *cls = classes_find(w, h->cls.ptr, h->cls.len);
    if (cls == NULL) {
        refuse(s, 500, "unknown object class");
        return;
    }
    struct object *o = registry_get(w->reg, cls, h->name.ptr, h->name.len);
    if (o == NULL) {
        refuse(s, 503, "worker out of memory");
        return;
    }
    if (o->nsockets >= w->conf.sockets_max_count) {
        refuse(s, 503, "object has too many sockets");
        return;
    }
    object_add_socket(o, s);
    if (cls->on_connect != NULL) {
        char peer[80];
        netaddr_peer(&s->tcp, peer, sizeof peer);
        struct duro_connect_info info = {
            .target = h->target.ptr,
            .target_len = h->target.len,
            .protocols = h->protocols.ptr,
            .protocols_len = h->protocols.len,
            .peer = peer,
            .client = peer,
        };
        object_wake(o);
        s->connecting = 1;
        w->offered = &h->protocols;
        int st = cls->on_connect((struct duro_object *)o, o->state, (struct duro_socket *)s,
                                 &info);
        w->offered = NULL;
        s->connecting = 0;
        if (st != 0) {
            session_uncount(s);
            refuse(s, st >= 400 && st <= 599 ? st : 403, "refused by the object");
            return;
        }
    }
    if (write_101(s, h) != 0) {
        destroy(s);
        return;
    }
    s->accepted = 1;
    s->opened_ms = uv_now(w->loop);
    w->metrics.v[M_WS_OPEN]++;
    w->metrics.v[M_WS_ACCEPTED]++;
    metrics_http_status(&w->metrics, 101);
    log_debug("session", "conn=%llu obj=%s/%s event=open sockets=%u",
              (unsigned long long)s->conn_id, cls->name, o->name, o->nsockets);
    if (h->early.len > 0) {
        /* A client may send its first frames in the same segment as the upgrade. */
        s->act->in = (const uint8_t *)h->early.ptr;
        s->act->in_len = h->early.len;
        w->current = s;
        ws_rx_feed(s);
        w->current = NULL;
    }
    flush(s);
}

#include "worker/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "worker/act.h"
#include "worker/liveness.h"
#include "worker/migrate.h"
#include "worker/object.h"
#include "worker/tx.h"

/* ---- lifetime ---- */

void session_uncount(struct session *s)
{
    if (s->counted) {
        s->counted = 0;
        s->obj->open_count--;
    }
}

int session_can_send(const struct session *s)
{
    return s->accepted && s->code_sent == 0 &&
           (s->state == SESSION_OPEN || s->state == SESSION_CLOSE_RECEIVED ||
            s->state == SESSION_PEER_DONE);
}

int session_closing(const struct session *s)
{
    return s->code_sent != 0 || s->state == SESSION_DESTROYED;
}

int session_close_code_valid(uint16_t code)
{
    return ws_close_code_valid(code);
}

struct session *session_new(struct worker *w, uint64_t conn_id)
{
    struct session *s = calloc(1, sizeof *s);
    if (s == NULL || uv_tcp_init(w->loop, &s->tcp) != 0) {
        free(s);
        return NULL;
    }
    s->tcp.data = s;
    s->w = w;
    s->conn_id = conn_id;
    s->state = SESSION_HANDSHAKE;
    w->sessions_open++;
    return s;
}

void session_opened(struct session *s)
{
    struct worker *w = s->w;
    s->state = SESSION_OPEN;
    s->accepted = 1;
    s->counted = 1;
    s->obj->open_count++;
    s->opened_ms = uv_now(w->loop);
    w->metrics.v[M_WS_OPEN]++;
    w->metrics.v[M_WS_ACCEPTED]++;
    liveness_add(s);
}

static void unpause(struct session *s);

static void on_closed(uv_handle_t *h)
{
    struct session *s = h->data;
    tx_unqueue(s);
    unpause(s);
    liveness_remove(s);
    if (s->act != NULL) {
        ws_rx_drop_input(&s->act->rx);
        act_release(s);
    }
    struct object *o = s->obj;
    if (o != NULL) {
        object_remove_socket(o, s);
        if (o->leaving) {
            migrate_object_check(o); /* it may have been the last socket it waited for */
        }
    }
    free(s->attachment);
    free(s->protocol);
    free(s->client);
    if (s->zc != NULL) {
        pmd_codec_free(s->zc);
        free(s->zc);
    }
    s->w->sessions_open--;
    free(s);
}

void session_client(struct session *s, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (s->client != NULL) {
        snprintf(out, cap, "%s", s->client);
        return;
    }
    if (s->peer_kind == PEER_V4) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(s->peer_port);
        a->sin_addr.s_addr = s->peer4;
        netaddr_format(&ss, out, cap);
        return;
    }
    if (s->peer_kind == PEER_GONE) {
        netaddr_format(&ss, out, cap); /* AF_UNSPEC: the unknown address */
        return;
    }
    int len = sizeof ss;
    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) != 0) {
        ss.ss_family = AF_UNSPEC;
    }
    netaddr_format(&ss, out, cap);
    /* An IPv4 peer fits in the session's spare bytes; any other is kept as its text, which
     * costs an allocation (none kept if it fails: the next line asks again). */
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        s->peer4 = a->sin_addr.s_addr;
        s->peer_port = ntohs(a->sin_port);
        s->peer_kind = PEER_V4;
    } else if (ss.ss_family == AF_UNSPEC) {
        s->peer_kind = PEER_GONE;
    } else if ((s->client = strdup(out)) != NULL) {
        s->peer_kind = PEER_TEXT;
    }
}

struct pmd_params session_pmd(const struct session *s)
{
    struct pmd_params p = { 0 };
    if (s->pmd_sbits != 0) {
        p.on = 1;
        p.server_no_takeover = (uint8_t)s->pmd_snt;
        p.client_no_takeover = (uint8_t)s->pmd_cnt;
        p.server_window_bits = s->pmd_sbits;
        p.client_window_bits = s->pmd_cbits;
    }
    return p;
}

void session_set_pmd(struct session *s, const struct pmd_params *p)
{
    s->pmd_sbits = p->on ? p->server_window_bits : 0;
    s->pmd_cbits = p->on ? p->client_window_bits : 0;
    s->pmd_snt = p->server_no_takeover;
    s->pmd_cnt = p->client_no_takeover;
}

struct pmd_codec *session_pmd_codec(struct session *s, int tx)
{
    if (tx ? s->pmd_snt : s->pmd_cnt) {
        return &s->w->pmd;
    }
    if (s->zc == NULL) {
        s->zc = calloc(1, sizeof *s->zc);
    }
    return s->zc;
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

void session_destroy(struct session *s)
{
    if (s->state == SESSION_DESTROYED) {
        return;
    }
    /* DESTROYED before on_close runs: whatever the class calls from there (duro_close,
     * duro_send, even when an allocation fails) finds the socket gone and cannot re-enter. */
    s->state = SESSION_DESTROYED;
    tx_account(s); /* its buffers are freed in this iteration's close phase */
    session_uncount(s);
    session_notify_close(s, DURO_CLOSE_ABNORMAL, "", 0, 0);
    if (s->act != NULL) {
        act_timeout_disarm(s->act);
    }
    if (s->accepted) {
        s->w->metrics.v[M_WS_OPEN]--;
        metrics_ws_close(&s->w->metrics, s->code_sent ? s->code_sent : DURO_CLOSE_ABNORMAL);
        if (log_enabled(LOG_INFO)) {
            char client[DURO_NETADDR_TEXT_MAX_BYTES];
            session_client(s, client, sizeof client);
            char label[DURO_OBJECT_LABEL_MAX_BYTES];
            struct log_kv kv[] = {
                LOG_STR("event", "ws_closed"),
                LOG_UINT("conn", s->conn_id),
                LOG_STRN("obj", label, object_label(s->obj, label)),
                LOG_STR("client", client),
                LOG_STR("class", s->obj->cls->name),
                LOG_UINT("code_sent", s->code_sent),
                LOG_UINT("code_recv", s->code_recv ? s->code_recv : DURO_CLOSE_ABNORMAL),
                LOG_UINT("duration_ms", uv_now(s->w->loop) - s->opened_ms),
                LOG_UINT("msgs_in", s->msgs_in),
                LOG_UINT("msgs_out", s->msgs_out),
                LOG_UINT("bytes_in", s->bytes_in),
                LOG_UINT("bytes_out", s->bytes_out),
            };
            log_kv(LOG_INFO, "access", kv, sizeof kv / sizeof kv[0]);
        }
    }
    uv_close((uv_handle_t *)&s->tcp, on_closed);
}

void session_free_detached(struct session *s)
{
    uv_close((uv_handle_t *)&s->tcp, on_closed);
}

/* ---- the close handshake ---- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the close timer bounds the wait for the peer's FIN */
}

void session_drained(struct session *s)
{
    switch (s->state) {
    case SESSION_HANDSHAKE:
    case SESSION_OPEN:
        act_maybe_release(s);
        if (s->migrating) {
            migrate_socket_check(s); /* its output is out: it may be at its clean point */
        }
        return;
    case SESSION_CLOSE_SENT:
        return; /* waiting for the client's close frame, bounded by the close timer */
    case SESSION_CLOSE_RECEIVED:
    case SESSION_PEER_DONE:
        /* The handshake is complete (our close frame is written), or the client shut its side
         * and has everything we had for it. The server closes TCP first (RFC 6455 7.1.1): the
         * client sends nothing after its close frame, so nothing unread turns this into a
         * reset. */
        session_destroy(s);
        return;
    case SESSION_FAILED:
    case SESSION_REFUSED:
        /* The client may still be sending: send FIN and read until its FIN or the timer. */
        if (!s->shut) {
            struct session_act *a = s->act;
            s->shut = 1;
            a->sreq.data = a;
            if (uv_shutdown(&a->sreq, (uv_stream_t *)&s->tcp, on_shutdown) != 0) {
                session_destroy(s);
                return;
            }
            act_timeout_arm(s);
        }
        return;
    case SESSION_DESTROYED:
        return;
    }
}

void session_finish(struct session *s)
{
    if (s->state == SESSION_DESTROYED) {
        return;
    }
    if (session_act(s) == NULL) {
        session_destroy(s);
        return;
    }
    tx_flush_soon(s);
}

void session_send_close(struct session *s, uint16_t code, const char *reason, size_t len)
{
    if (session_closing(s)) {
        return;
    }
    uint8_t payload[2];
    struct duro_iov iov[2] = { { payload, 0 }, { reason, 0 } };
    if (code != DURO_CLOSE_NO_STATUS && code != 0) {
        payload[0] = (uint8_t)(code >> 8);
        payload[1] = (uint8_t)code;
        iov[0].len = 2;
        iov[1].len = len > DURO_WS_CLOSE_REASON_MAX_BYTES ? DURO_WS_CLOSE_REASON_MAX_BYTES : len;
    }
    if (tx_frame(s, WSLAY_CONNECTION_CLOSE, iov, 2, 1) != 0) {
        session_destroy(s); /* out of memory: give up on the connection */
        return;
    }
    s->code_sent = code == 0 ? DURO_CLOSE_NO_STATUS : code;
    if (s->state == SESSION_OPEN) {
        s->state = SESSION_CLOSE_SENT;
    }
    session_uncount(s);
    /* Bounded whoever closed first: a reply stuck behind output the client never reads must
     * not hold the connection. */
    act_timeout_arm(s);
}

/* Fails the connection with `code`; the close frame carries `reason` (the seed's errors carry
 * none, so their bytes stay the same). */
static void fail_with(struct session *s, uint16_t code, const char *why, const char *reason)
{
    if (s->state == SESSION_FAILED || s->state == SESSION_REFUSED ||
        s->state == SESSION_DESTROYED) {
        return;
    }
    log_info("session", "conn=%llu obj=%s/%s event=ws_error code=%u reason=\"%s\"",
             (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, code, why);
    s->state = SESSION_FAILED;
    session_uncount(s);
    notify_error(s, code);
    session_send_close(s, code, reason, strlen(reason));
    session_finish(s);
}

void session_fail(struct session *s, uint16_t code, const char *why)
{
    fail_with(s, code, why, "");
}

void session_overloaded(struct session *s, const char *path)
{
    if (s->state == SESSION_FAILED || s->state == SESSION_DESTROYED) {
        return;
    }
    log_warn("session", "conn=%llu obj=%s/%s event=slow_consumer path=%s buffered=%zu limit=%u",
             (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name, path,
             tx_buffered(s), s->w->conf.outbound_max_bytes);
    session_fail(s, DURO_CLOSE_POLICY, strcmp(path, "write_timeout") == 0
                                           ? "output made no progress"
                                           : "outbound buffer over limit");
}

/* The [websocket] messages_per_second token bucket: full (one second's worth) at the first
 * message, refilled at the rate. Returns 0, or -1 when the socket is over its rate. */
static int rate_take(struct session *s)
{
    uint32_t rate = s->w->conf.messages_per_second;
    if (rate == 0) {
        return 0;
    }
    uint64_t now = uv_now(s->w->loop);
    if (!s->rate_started) {
        s->rate_started = 1;
        s->rate_tokens = rate;
    } else {
        s->rate_tokens += (double)(now - s->rate_ms) * rate / 1000.0;
        if (s->rate_tokens > rate) {
            s->rate_tokens = rate;
        }
    }
    s->rate_ms = now;
    if (s->rate_tokens < 1.0) {
        return -1;
    }
    s->rate_tokens -= 1.0;
    return 0;
}

static void close_one(struct session *s, void *arg)
{
    const char *reason = arg;
    if (!session_closing(s) && s->accepted) {
        session_send_close(s, DURO_CLOSE_GOING_AWAY, reason, strlen(reason));
        session_finish(s);
    }
}

void session_close_all(struct worker *w, const char *reason)
{
    registry_each_socket(w->reg, close_one, (void *)reason);
}

static void on_read_check(uv_check_t *h);

int session_worker_init(struct worker *w)
{
    if (uv_timer_init(w->loop, &w->to_timer) != 0 || uv_check_init(w->loop, &w->read_check) != 0) {
        return -1;
    }
    w->to_timer.data = w;
    w->read_check.data = w;
    if (uv_check_start(&w->read_check, on_read_check) != 0 || liveness_worker_init(w) != 0) {
        return -1;
    }
    return tx_worker_init(w);
}

void session_worker_close(struct worker *w)
{
    uv_close((uv_handle_t *)&w->to_timer, NULL);
    uv_close((uv_handle_t *)&w->read_check, NULL);
    free(w->paused);
    w->paused = NULL;
    w->npaused = w->paused_cap = 0;
    liveness_worker_close(w);
    while (w->act_pool != NULL) {
        struct session_act *a = w->act_pool;
        w->act_pool = a->next;
        act_free(w, a);
    }
    w->act_pool_count = 0;
    tx_worker_close(w);
}

/* ---- events from the decoder ---- */

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void on_message(struct session *s, int binary, const uint8_t *data, size_t len)
{
    struct object *o = s->obj;
    s->msgs_in++;
    s->bytes_in += len;
    s->w->metrics.v[M_MSGS_IN]++;
    s->w->metrics.v[M_BYTES_IN] += len;
    if (s->code_sent != 0) {
        return; /* closing: RFC 6455 lets us discard data frames */
    }
    const struct auto_rule *rule = o->nrules == 0 ? NULL
        : object_auto_response_find(o, binary ? DURO_BINARY : DURO_TEXT, data, len);
    if (rule != NULL) {
        /* Answered by duro: the object is not woken and on_message is not called. */
        struct duro_iov iov = { rule->resp, rule->resp_len };
        uint8_t op = rule->resp_kind == DURO_BINARY ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
        if (tx_frame(s, op, &iov, 1, 0) != 0) {
            session_overloaded(s, "auto_response");
            return;
        }
        s->msgs_out++;
        s->w->metrics.v[M_MSGS_OUT]++;
        s->last_auto_ms = wall_ms();
        return;
    }
    if (o->cls->on_message != NULL) {
        object_wake(o);
        o->cls->on_message((struct duro_object *)o, o->state, (struct duro_socket *)s, binary,
                           data, len);
    }
}

static void on_close_frame(struct session *s, const struct ws_rx_event *ev)
{
    s->state = SESSION_CLOSE_RECEIVED;
    s->code_recv = ev->code;
    session_uncount(s);
    /* Also when duro closed first. */
    session_notify_close(s, ev->code, (const char *)ev->data, ev->len, 1);
    if (s->state == SESSION_DESTROYED) {
        return;
    }
    /* The class did not answer: echo the code (RFC 6455 5.5.1). */
    session_send_close(s, ev->code, "", 0);
    session_finish(s);
}

/* True while frames from the client are still parsed. */
static int reading(const struct session *s)
{
    return s->state == SESSION_OPEN || s->state == SESSION_CLOSE_SENT;
}

/* Decodes what was lent to the act's decoder and acts on each event. */
static void drain_events(struct session *s)
{
    struct ws_rx_event ev;
    while (reading(s)) {
        struct ws_rx *rx = &s->act->rx;
        rx->message_max_bytes = s->w->conf.message_max_bytes;
        rx->budget = tx_budget(s->w);
        enum ws_rx_kind k = ws_rx_next(rx, &ev);
        if (k == WS_RX_NEED_MORE) {
            break;
        }
        if (k != WS_RX_ERROR && k != WS_RX_CLOSE && rate_take(s) != 0) {
            log_warn("session", "conn=%llu obj=%s/%s event=rate_limited limit=%u",
                     (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name,
                     s->w->conf.messages_per_second);
            fail_with(s, DURO_CLOSE_POLICY, "message rate limit", "message rate limit");
            break;
        }
        switch (k) {
        case WS_RX_NEED_MORE:
            break;
        case WS_RX_TEXT:
        case WS_RX_BINARY:
            s->w->metrics.v[M_DEFLATE_IN] += ev.compressed;
            on_message(s, ev.kind == WS_RX_BINARY, ev.data, ev.len);
            break;
        case WS_RX_PING:
            /* Answered here, without waking the object. */
            if (s->code_sent == 0) {
                struct duro_iov iov = { ev.data, ev.len };
                if (tx_frame(s, WSLAY_PONG, &iov, 1, 0) != 0) {
                    session_overloaded(s, "pong");
                }
            }
            break;
        case WS_RX_PONG:
            break;
        case WS_RX_CLOSE:
            on_close_frame(s, &ev);
            break;
        case WS_RX_ERROR:
            if (s->act->rx.budget_refused) {
                s->w->metrics.v[M_BUDGET_REFUSED]++;
                log_warn("session",
                         "conn=%llu obj=%s/%s event=buffer_budget_refused worker_buffered=%zu "
                         "limit=%zu",
                         (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name,
                         s->w->budget.used_bytes, s->w->budget.max_bytes);
            }
            session_fail(s, ev.code, ev.why);
            break;
        }
    }
    if (s->act != NULL) {
        ws_rx_drop_input(&s->act->rx);
        tx_account(s); /* the message being assembled may have grown */
    }
}

void session_feed(struct session *s, const uint8_t *p, size_t len)
{
    struct session_act *a = session_act(s);
    if (a == NULL) {
        log_error("session", "conn=%llu event=oom", (unsigned long long)s->conn_id);
        session_destroy(s);
        return;
    }
    if (s->pmd_sbits != 0) {
        a->rx.pmd = session_pmd(s);
        a->rx.codec = session_pmd_codec(s, 0);
        if (a->rx.codec == NULL) {
            session_fail(s, DURO_CLOSE_INTERNAL, "no memory for a compression context");
            return;
        }
    }
    ws_rx_input(&a->rx, p, len);
    s->w->current = s;
    drain_events(s);
    s->w->current = NULL;
    tx_flush(s);
    if (s->migrating) {
        migrate_socket_check(s);
    }
}

/* ---- input ---- */

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* This socket had its share of the iteration: the rest waits for the next one (libuv would read
 * it up to 32 times in a row). Without room in the list it simply reads on. */
static void pause_reads(struct session *s)
{
    struct worker *w = s->w;
    if (s->read_paused) {
        return;
    }
    if (w->npaused == w->paused_cap) {
        size_t cap = w->paused_cap ? w->paused_cap * 2 : 64;
        struct session **p = realloc(w->paused, cap * sizeof *p);
        if (p == NULL) {
            return;
        }
        w->paused = p;
        w->paused_cap = cap;
    }
    uv_read_stop((uv_stream_t *)&s->tcp);
    w->metrics.v[M_READ_PAUSES]++;
    w->paused[w->npaused++] = s;
    s->read_paused = 1;
}

static void unpause(struct session *s)
{
    struct worker *w = s->w;
    if (!s->read_paused) {
        return;
    }
    for (size_t i = 0; i < w->npaused; i++) {
        if (w->paused[i] == s) {
            w->paused[i] = w->paused[--w->npaused];
            break;
        }
    }
    s->read_paused = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Check phase: a new iteration begins for the read budget; paused sockets read again. */
static void on_read_check(uv_check_t *h)
{
    struct worker *w = h->data;
    w->iter++;
    for (size_t i = 0; i < w->npaused; i++) {
        struct session *s = w->paused[i];
        s->read_paused = 0;
        if (reading(s) && !s->held &&
            uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) != 0) {
            session_destroy(s);
        }
    }
    w->npaused = 0;
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
        if (s->state == SESSION_DESTROYED) {
            return;
        }
        /* The client is gone or has shut its write side: it no longer counts, and without a
         * close handshake the close is abnormal. What is queued for it is still written (a
         * half-closed client may read on), bounded by the close timer. */
        session_uncount(s);
        if (nread == UV_EOF && tx_buffered(s) > 0 && s->accepted) {
            session_notify_close(s, DURO_CLOSE_ABNORMAL, "", 0, 0);
            if (s->state == SESSION_DESTROYED) {
                return;
            }
            s->state = SESSION_PEER_DONE;
            uv_read_stop(st);
            act_timeout_arm(s);
            return;
        }
        session_destroy(s);
        return;
    }
    if (nread == 0 || !reading(s)) {
        return; /* after a close or an error, bytes are discarded */
    }
    liveness_touch(s);
    uint64_t t0 = uv_hrtime();
    session_feed(s, (const uint8_t *)buf->base, (size_t)nread);
    metrics_observe(&s->w->metrics, H_MESSAGE, uv_hrtime() - t0);
    struct worker *w = s->w;
    if (s->read_iter != w->iter) {
        s->read_iter = w->iter;
        s->read_iter_bytes = 0;
    }
    s->read_iter_bytes += (uint32_t)nread;
    if (s->read_iter_bytes >= DURO_WS_READ_ITER_MAX_BYTES && reading(s)) {
        pause_reads(s);
    }
}

int session_read_start(struct session *s)
{
    if (s->held) {
        return 0;
    }
    return uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) == 0 ? 0 : -1;
}

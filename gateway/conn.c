#include "gateway/conn.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "gateway/cluster.h"
#include "gateway/dispatch.h"
#include "gateway/forward.h"
#include "gateway/proxy.h"
#include "gateway/upgrade.h"

static void process(struct gw_conn *c);
static void read_proxy_header(struct gw_conn *c);
static void flush(struct gw_conn *c);
static void next_request(struct gw_conn *c, size_t consumed);
static void log_access(struct gw_conn *c, int status, const char *reason);

/* ---- lifetime ---- */

void conn_on_handle_closed(uv_handle_t *h)
{
    struct gw_conn *c = h->data;
    if (--c->open_handles == 0) {
        free(c);
    }
}

void conn_close(struct gw_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    struct gateway *gw = c->gw;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        gw->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    gw->open_conns--;
    forward_forget(c);
    free(c->body);
    c->body = NULL;
    free(c->big);
    c->big = NULL;
    uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_on_handle_closed);
    if (gw->retiring && gw->open_conns == 0) {
        upgrade_conns_closed(gw);
    }
}

void conn_close_all(struct gateway *gw)
{
    struct gw_conn *c = gw->conns;
    while (c != NULL) {
        struct gw_conn *next = c->next;
        if (!c->handing_off) {
            conn_close(c);
        }
        c = next;
    }
}

void conn_retire_all(struct gateway *gw)
{
    struct gw_conn *c = gw->conns;
    while (c != NULL) {
        struct gw_conn *next = c->next;
        /* Idle between two requests: nothing is owed, close. Any other connection finishes
         * what it does; its next answer says Connection: close (on_head). */
        if (!c->got_bytes && c->timer_mode == TIMER_IDLE && !c->writing && c->out_len == 0 &&
            !c->awaiting && !c->handing_off && !c->finishing && !c->upgrade_waits &&
            c->big == NULL) {
            conn_close(c);
        }
        c = next;
    }
}

/* ---- timers ---- */

static void append(struct gw_conn *c, size_t n);
static void arm(struct gw_conn *c, enum conn_timer mode);
static uint64_t timer_step(const struct gw_conn *c, uint64_t ms);

/* The forwarded request is over (answered, timed out or its worker gone): the connection takes
 * the next pipelined request once what it queued is written. */
static void request_done(struct gw_conn *c)
{
    c->awaiting = 0;
    if (c->resp_flags & RESPOND_CLOSE) {
        c->finishing = 1;
        arm(c, TIMER_LINGER); /* bounded even if the client never reads the answer */
    } else {
        arm(c, c->in_len > 0 ? TIMER_HEAD : TIMER_IDLE);
    }
}

/* Answers the waiting request with one of the gateway's own short responses (503, 504). */
static void request_fail(struct gw_conn *c, int status, const char *reason, int flags)
{
    log_access(c, status, reason);
    append(c, respond_error(c->out + c->out_len, sizeof c->out - c->out_len, status, reason,
                            flags | (c->resp_flags & (RESPOND_CLOSE | RESPOND_HEAD))));
    request_done(c);
    flush(c);
}

static void on_timer(uv_timer_t *t)
{
    struct gw_conn *c = t->data;
    uint64_t now = uv_now(t->loop);

    if (c->deadline_ms > now) { /* re-armed later than the timer was set for (arm) */
        uv_timer_start(&c->timer, on_timer, timer_step(c, c->deadline_ms - now), 0);
        return;
    }

    if (c->timer_mode == TIMER_OBJECT && c->awaiting) {
        forward_forget(c);
        c->gw->metrics.v[M_HTTP_OBJECT_TIMEOUTS]++;
        request_fail(c, 504, "the object did not answer in time", 0);
        return;
    }

    if (c->timer_mode == TIMER_HEAD && c->got_bytes && !c->finishing) {
        conn_fail(c, 408, "request head not received in time", RESPOND_CLOSE);
        return;
    }
    log_debug("conn", "conn=%llu event=timeout mode=%d", (unsigned long long)c->id,
              (int)c->timer_mode);
    conn_close(c);
}

/* How far the timer is set: never past the head timeout, the shortest wait that follows a
 * longer one (a keep-alive wait, then a request's head), so that arming the head's wait finds
 * the timer due before it and leaves it alone. An idle keep-alive connection wakes once per
 * head timeout to wait again. */
static uint64_t timer_step(const struct gw_conn *c, uint64_t ms)
{
    uint64_t cap = c->gw->conf.head_timeout_ms;
    return ms < cap ? ms : cap;
}

static void arm(struct gw_conn *c, enum conn_timer mode)
{
    uint64_t ms = mode == TIMER_HEAD || mode == TIMER_WRITE ? c->gw->conf.head_timeout_ms
                  : mode == TIMER_IDLE                      ? c->gw->conf.keepalive_timeout_ms
                  : mode == TIMER_OBJECT                    ? c->gw->conf.object_timeout_ms
                                                            : DURO_LINGER_MS;
    c->timer_mode = mode;
    c->deadline_ms = uv_now(c->gw->loop) + ms;
    /* Each request arms its connection's timer two or three times, and moving a libuv timer
     * is a removal from and an insertion into the loop's heap (4% of the gateway answering
     * 400s, issue 18). A deadline later than when the timer fires is only written down;
     * on_timer moves the timer then. */
    if (!uv_is_active((uv_handle_t *)&c->timer) || uv_timer_get_due_in(&c->timer) > ms) {
        uv_timer_start(&c->timer, on_timer, timer_step(c, ms), 0);
    }
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct gw_conn *c = h->data;
    (void)suggested;
    static char discard[DURO_LINGER_READ_BYTES]; /* lingering reads are thrown away */

    if (c->finishing) {
        *buf = uv_buf_init(discard, sizeof discard);
        return;
    }
    *buf = uv_buf_init(c->in + c->in_len, c->in_cap - c->in_len);
}

static void stop_reading(struct gw_conn *c)
{
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct gw_conn *c = s->data;
    (void)buf;

    if (nread < 0) {
        if (nread != UV_EOF) {
            log_debug("conn", "conn=%llu event=read_error err=%s", (unsigned long long)c->id,
                      uv_err_name((int)nread));
        }
        conn_close(c);
        return;
    }
    if (nread == 0 || c->finishing) {
        return;
    }
    if (!c->got_bytes) {
        c->got_bytes = 1;
        c->head_started_ns = uv_hrtime();
        if (c->timer_mode == TIMER_IDLE) {
            arm(c, TIMER_HEAD);
        }
    }
    c->in_len += (uint32_t)nread;
    process(c);
}

static void start_reading(struct gw_conn *c)
{
    if (!c->reading && !c->closing) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) {
            c->reading = 1;
        }
    }
}

/* ---- writing ---- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct gw_conn *c = req->data;
    (void)status;
    if (!c->closing) {
        /* Keep reading and discarding until the client closes or the linger timer fires:
         * closing with unread bytes would reset the connection and could destroy the
         * response before the client reads it. */
        arm(c, TIMER_LINGER);
        start_reading(c);
    }
}

static void on_big_write(uv_write_t *req, int status);

/* Writes the object's response held in `big`, after everything in `out`. */
static void write_big(struct gw_conn *c)
{
    uv_buf_t b = uv_buf_init(c->big, (unsigned)c->big_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->big_len) {
        free(c->big);
        c->big = NULL;
        c->big_len = 0;
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    b = uv_buf_init(c->big + done, (unsigned)(c->big_len - done));
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_big_write) != 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
    c->big_writing = 1;
}

static void finished_writing(struct gw_conn *c);

static void on_big_write(uv_write_t *req, int status)
{
    struct gw_conn *c = req->data;
    c->writing = 0;
    c->big_writing = 0;
    free(c->big);
    c->big = NULL;
    c->big_len = 0;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->out_len > 0) {
        flush(c);
        return;
    }
    finished_writing(c);
}

/* Hands the upgrade (whose head ends at `at`) to its worker, or answers why it cannot go. */
static void hand_off(struct gw_conn *c, uint32_t at)
{
    struct dispatch_error err;
    if (dispatch_handoff(c, c->in + at, c->in_len - at, &err) != 0) {
        conn_fail(c, err.status, err.reason, err.flags);
    }
}

static void finished_writing(struct gw_conn *c)
{
    if (c->big != NULL && !c->big_writing) {
        write_big(c);
        if (c->closing || c->writing) {
            return;
        }
    }
    if (c->upgrade_waits && c->out_len == 0) {
        /* Earlier pipelined answers are out: the upgrade can go to its worker now. */
        c->upgrade_waits = 0;
        uv_timer_stop(&c->timer);
        hand_off(c, c->upgrade_at);
        return;
    }
    if (c->finishing && c->out_len == 0) {
        stop_reading(c);
        c->sreq.data = c;
        if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
            conn_close(c);
        }
        return;
    }
    if (!c->reading && !c->finishing && !c->handing_off && !c->awaiting) {
        start_reading(c);
        process(c); /* bytes left behind when output was full */
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct gw_conn *c = req->data;

    c->writing = 0;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        conn_close(c);
        return;
    }
    memmove(c->out, c->out + c->out_inflight, c->out_len - c->out_inflight);
    c->out_len -= c->out_inflight;
    c->out_inflight = 0;
    if (c->out_len > 0) {
        flush(c);
        return;
    }
    finished_writing(c);
}

static void flush(struct gw_conn *c)
{
    if (c->writing || c->closing) {
        return;
    }
    if (c->out_len == 0) {
        if (c->big != NULL) {
            finished_writing(c);
        }
        return;
    }
    /* Everything answered while handling one read goes out in one write. */
    uv_buf_t b = uv_buf_init(c->out, c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out_len) {
        c->out_len = 0;
        finished_writing(c);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    if (n > 0) {
        memmove(c->out, c->out + n, c->out_len - (uint32_t)n);
        c->out_len -= (uint32_t)n;
    }
    c->out_inflight = c->out_len;
    c->wreq.data = c;
    b = uv_buf_init(c->out, c->out_len);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        conn_close(c);
        return;
    }
    c->writing = 1;
}

/* ---- answering ---- */

static const char *method_name(const struct gw_conn *c)
{
    /* llhttp knows the method once the target starts; before that (an unknown method) it
     * would name method 0. */
    return c->req.target.len > 0 ? llhttp_method_name((llhttp_method_t)http_req_method(&c->req))
                                 : "-";
}

/* One line and one count per response the gateway writes. The answer to a forwarded request
 * comes after its request was forgotten (pipelining goes on): its line uses the copy in `fwd`. */
static void log_access(struct gw_conn *c, int status, const char *reason)
{
    metrics_http_status(&c->gw->metrics, status);
    if (!log_enabled(LOG_INFO)) {
        return;
    }
    if (c->peer[0] == '\0') {
        /* Asked only when a line needs it: a hand-off does not (one syscall less each). */
        netaddr_peer(&c->tcp, c->peer, sizeof c->peer);
    }
    const char *method = c->awaiting ? c->fwd_method : method_name(c);
    const char *target = c->awaiting ? c->fwd_target
                         : c->req.target.len ? http_req_str(&c->req, c->req.target)
                                             : "";
    size_t tl = c->awaiting ? c->fwd_target_len : c->req.target.len;
    /* Pairs, not printf: this line is written for every request (issue 18). */
    struct log_kv kv[] = {
        LOG_UINT("conn", c->id),
        LOG_STR("peer", c->peer),
        LOG_INT("status", status),
        LOG_STR("method", method),
        LOG_QSTRN("target", target, tl < sizeof c->fwd_target ? tl : sizeof c->fwd_target),
        LOG_QSTR("reason", reason != NULL ? reason : ""),
    };
    log_kv(LOG_INFO, "access", kv, reason != NULL ? 6 : 5);
}

static void append(struct gw_conn *c, size_t n)
{
    c->out_len += (uint32_t)n;
}

void conn_fail(struct gw_conn *c, int status, const char *reason, int flags)
{
    c->handing_off = 0;
    if (c->closing || c->finishing) {
        return;
    }
    log_access(c, status, reason);
    stop_reading(c);
    c->finishing = 1;
    c->upgrade_waits = 0;
    /* Bounded even if the client never reads the answer: the write may never complete. */
    arm(c, TIMER_LINGER);
    if (sizeof c->out - c->out_len < RESPOND_MAX_BYTES) {
        c->out_len = c->out_inflight; /* no room: the error answer goes before unsent ones */
    }
    append(c, respond_error(c->out + c->out_len, sizeof c->out - c->out_len, status, reason,
                            flags | RESPOND_CLOSE));
    flush(c);
}

/* Runs inside the parser when a request head is complete: decides the answer while the header
 * spans are valid. Order follows the seed: host, route, Upgrade header, then the handshake. */
static void on_head(struct http_req *r, void *arg)
{
    struct gw_conn *c = arg;
    const struct conf *cf = &c->gw->conf;

    arm(c, TIMER_IDLE); /* the head is in: a slow body is an idle connection, not a slow head */
    c->resp_flags = http_req_method(r) == HTTP_HEAD ? RESPOND_HEAD : 0;
    if (!http_req_keep_alive(r) || c->gw->retiring) {
        c->resp_flags |= RESPOND_CLOSE; /* a retiring gateway ends keep-alive politely */
    }
    if (http_req_version_minor(r) >= 1 && r->hdr_count[HDR_HOST] != 1) {
        c->verdict = VERDICT_ERROR;
        c->status = 400;
        c->reason = "Bad Request";
        return;
    }
    if (r->hdr_count[HDR_HOST] == 1 &&
        !http_req_host_valid(http_req_str(r, r->hdr[HDR_HOST]), r->hdr[HDR_HOST].len)) {
        c->verdict = VERDICT_ERROR;
        c->status = 400;
        c->reason = "invalid Host header";
        return;
    }
    /* An absolute-form target (RFC 9112 3.2.2) is routed by its path, as the balancer does. */
    const char *target = http_req_str(r, r->target);
    size_t tlen = r->target.len;
    size_t skip = router_origin_offset(target, tlen);
    enum router_outcome ro = router_match(cf, target + skip, tlen - skip, &c->route);
    if (ro == ROUTER_NONE) {
        c->verdict = VERDICT_SEED_400;
        return;
    }
    /* Without an Origin header the client is not a browser, which the allow-list protects;
     * any other client could send whatever Origin it likes. */
    size_t olen = 0;
    const char *origin = http_req_field(r, "origin", &olen);
    if (origin != NULL && !router_origin_allowed(c->route.route, origin, olen)) {
        c->verdict = VERDICT_ERROR;
        c->status = 403;
        c->reason = "origin not allowed";
        return;
    }
    int upgrade_ok = c->route.route->upgrade_check == UPGRADE_CHECK_SEED
                         ? http_req_hdr_is(r, HDR_UPGRADE, "websocket")
                         : http_req_hdr_has_token(r, HDR_UPGRADE, "websocket");
    if (!upgrade_ok) {
        c->verdict = VERDICT_SEED_426;
        if (ro == ROUTER_MATCH && forward_class_may_answer(c->route.route->cls)) {
            forward_prepare(c);
            size_t el;
            const char *expect = http_req_field(r, "expect", &el);
            if (c->verdict == VERDICT_REQUEST && expect != NULL && el == 12 &&
                strncasecmp(expect, "100-continue", 12) == 0) {
                /* The client waits for this before sending the body (RFC 9110 10.1.1). */
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                memcpy(c->out + c->out_len, cont, sizeof cont - 1);
                append(c, sizeof cont - 1);
            }
        }
        return;
    }
    if (ro == ROUTER_BAD_NAME) {
        c->verdict = VERDICT_ERROR;
        c->status = 400;
        c->reason = "invalid object name in request-target";
        return;
    }
    const char *why = NULL;
    int st = http_req_check_upgrade(r, &why);
    if (st != 0) {
        c->verdict = VERDICT_ERROR;
        c->status = st;
        c->reason = why;
        if (st == 426) {
            c->resp_flags |= RESPOND_WS_VERSION;
        }
        return;
    }
    const struct conf_route *rt = c->route.route;
    if (cf->self[0] != '\0') {
        int owner = cluster_owner(cf, rt->cls, c->route.name, c->route.name_len);
        if (owner >= 0 && strcmp(cf->nodes[owner].name, cf->self) != 0) {
            /* The balancer sent us another node's object: a membership change in progress or
             * a balancer that does not hash like duro. */
            log_warn("cluster", "conn=%llu obj=%s/%s owner=%s self=%s event=not_owner action=%s",
                     (unsigned long long)c->id, rt->cls, c->route.name, cf->nodes[owner].name,
                     cf->self, cf->ownership == OWNERSHIP_REFUSE ? "refused" : "served");
            if (cf->ownership == OWNERSHIP_REFUSE) {
                c->verdict = VERDICT_ERROR;
                c->status = 503;
                c->reason = "this node does not own the object, retry";
                c->resp_flags |= RESPOND_RETRY_AFTER;
                return;
            }
        }
    }
    snprintf(c->cls, sizeof c->cls, "%s", rt->cls);
    c->route.route = NULL; /* the class and the name are the connection's own from here */
    uint64_t key = hash_object_key(c->cls, strlen(c->cls), c->route.name, c->route.name_len);
    c->worker = hash_pick_slot(key, c->gw->nworkers);
    c->verdict = VERDICT_UPGRADE;
}

/* Answers the request that just completed. Returns 1 to go on with the next pipelined one. */
static int answer(struct gw_conn *c, size_t consumed)
{
    char *dst = c->out + c->out_len;
    size_t cap = sizeof c->out - c->out_len;

    switch (c->verdict) {
    case VERDICT_REQUEST: {
        int rc = forward_request(c);
        free(c->body);
        c->body = NULL;
        c->body_len = c->body_cap = 0;
        if (rc < 0) {
            log_access(c, 503, "worker unavailable, retry");
            append(c, respond_error(dst, cap, 503, "worker unavailable, retry",
                                    c->resp_flags | RESPOND_RETRY_AFTER));
            break;
        }
        /* Later pipelined requests wait for this answer: responses stay in order. */
        c->fwd_method = method_name(c);
        c->fwd_target_len = c->req.target.len < sizeof c->fwd_target ? c->req.target.len
                                                                       : sizeof c->fwd_target;
        memcpy(c->fwd_target, http_req_str(&c->req, c->req.target), c->fwd_target_len);
        c->awaiting = 1;
        stop_reading(c);
        if (c->resp_flags & RESPOND_CLOSE) {
            c->in_len = 0; /* nothing after a "Connection: close" request is read */
        } else {
            next_request(c, consumed);
        }
        arm(c, TIMER_OBJECT);
        return 0;
    }
    case VERDICT_UPGRADE:
        stop_reading(c);
        uv_timer_stop(&c->timer);
        if (c->out_len > 0 || c->writing) {
            /* Answers to earlier pipelined requests go first, in order; a client that does not
             * read them loses the connection after head_timeout_ms. */
            c->upgrade_waits = 1;
            c->upgrade_at = (uint32_t)consumed;
            arm(c, TIMER_WRITE);
            return 0;
        }
        hand_off(c, (uint32_t)consumed);
        return 0;
    case VERDICT_SEED_400:
        log_access(c, 400, NULL);
        append(c, respond_seed_400(dst, cap, c->resp_flags));
        break;
    case VERDICT_SEED_426:
        log_access(c, 426, NULL);
        append(c, respond_seed_426(dst, cap, c->resp_flags));
        break;
    case VERDICT_ERROR:
    case VERDICT_NONE:
        log_access(c, c->status, c->reason);
        c->resp_flags |= RESPOND_CLOSE;
        append(c, respond_error(dst, cap, c->status ? c->status : 400,
                                c->reason ? c->reason : "Bad Request", c->resp_flags));
        break;
    }
    if (c->resp_flags & RESPOND_CLOSE) {
        c->finishing = 1;
        stop_reading(c);
        return 0;
    }
    next_request(c, consumed);
    arm(c, c->got_bytes ? TIMER_HEAD : TIMER_IDLE);
    return 1;
}

/* Keep-alive: forget this request, move the pipelined rest to the front. */
static void next_request(struct gw_conn *c, size_t consumed)
{
    memmove(c->in, c->in + consumed, c->in_len - consumed);
    c->in_len -= (uint32_t)consumed;
    c->parsed = 0;
    c->verdict = VERDICT_NONE;
    c->status = 0;
    c->reason = NULL;
    http_req_next(&c->req);
    c->got_bytes = c->in_len > 0;
}

void conn_response(struct gateway *gw, unsigned slot, const struct msg_response *r)
{
    struct gw_conn *c = forward_take(gw, r->req_id);
    if (c == NULL || c->closing) {
        return; /* answered 504 already, or the client left */
    }
    (void)slot;
    if (r->status == 0) {
        /* The class has no on_request: the route behaves as in class API version 1. */
        log_access(c, 426, NULL);
        append(c, respond_seed_426(c->out + c->out_len, sizeof c->out - c->out_len,
                                   c->resp_flags));
    } else {
        size_t len;
        char *b = forward_render(r, c->resp_flags, &len);
        if (b == NULL) {
            request_fail(c, 503, "gateway out of memory", RESPOND_RETRY_AFTER);
            return;
        }
        log_access(c, r->status, NULL);
        c->big = b;
        c->big_len = len;
    }
    request_done(c);
    flush(c);
}

void conn_worker_down(struct gateway *gw, unsigned slot)
{
    for (unsigned b = 0; b < DURO_HTTP_REQUESTS_MAP_BUCKETS; b++) {
        struct gw_conn *c = gw->requests[b];
        while (c != NULL) {
            struct gw_conn *next = c->req_next;
            if (c->worker == slot) {
                (void)forward_take(gw, c->req_id);
                request_fail(c, 503, "worker unavailable, retry", RESPOND_RETRY_AFTER);
            }
            c = next;
        }
    }
}

static void process(struct gw_conn *c)
{
    if (c->proxy_pending && !c->closing && !c->finishing && c->in_len > 0) {
        read_proxy_header(c);
    }
    while (!c->closing && !c->finishing && !c->handing_off && !c->awaiting && !c->proxy_pending &&
           c->parsed < c->in_len) {
        if (sizeof c->out - c->out_len < RESPOND_MAX_BYTES) {
            stop_reading(c); /* a client pipelining faster than it reads: wait for the write */
            break;
        }
        size_t consumed = 0;
        enum http_result r = http_req_feed(&c->req, c->in, c->parsed, c->in_len, &consumed);
        if (r == HTTP_NEED_MORE) {
            c->parsed = (uint32_t)consumed;
            if (c->req.head_done && c->verdict == VERDICT_ERROR && c->status == 413) {
                /* Do not read a body we refuse: answer now and close. */
                conn_fail(c, 413, c->reason, 0);
            } else if (c->req.head_done && c->verdict == VERDICT_REQUEST) {
                /* The body went to c->body; the head stays, its spans are forwarded. */
                c->in_len = c->parsed = c->req.head_end;
            } else if (c->req.head_done) {
                /* Body bytes of a request already decided: nothing needs them. */
                c->in_len = c->parsed = 0;
            } else if (c->in_len == c->in_cap) {
                conn_fail(c, 431, "request head too large", 0);
            }
            break;
        }
        if (r == HTTP_ERROR) {
            conn_fail(c, c->req.status, c->req.reason, 0);
            break;
        }
        if (!answer(c, consumed)) {
            break;
        }
    }
    if (!c->closing && !c->handing_off) {
        flush(c);
    }
}

/* [server] proxy_protocol: the connection starts with the proxy's header naming the client. */
static void read_proxy_header(struct gw_conn *c)
{
    size_t used = 0;
    char client[sizeof c->peer];
    enum proxy_result pr = proxy_parse(c->in, c->in_len, &used, client, sizeof client);
    if (pr == PROXY_NEED_MORE) {
        return;
    }
    if (pr == PROXY_BAD) {
        char peer[64];
        netaddr_peer(&c->tcp, peer, sizeof peer);
        log_warn("conn", "conn=%llu peer=%s event=bad_proxy_header", (unsigned long long)c->id,
                 peer);
        conn_close(c);
        return;
    }
    c->proxy_pending = 0;
    if (client[0] != '\0') {
        memcpy(c->peer, client, sizeof c->peer);
        c->proxied = 1;
    }
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= (uint32_t)used;
    c->got_bytes = c->in_len > 0;
}

/* ---- starting ---- */

/* A client sends its request right after connecting, so it is usually in the socket by the time
 * we accept: read it now. An upgrade is then handed off without the descriptor ever being
 * registered with epoll (two epoll_ctl calls and a loop iteration fewer per handshake); only a
 * request that is not all there yet waits for libuv's reads. */
static void read_at_once(struct gw_conn *c)
{
    uv_os_fd_t fd;
    ssize_t n = -1;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        do {
            n = read(fd, c->in, c->in_cap);
        } while (n == -1 && errno == EINTR);
    }
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        conn_close(c); /* gone already */
        return;
    }
    if (n > 0) {
        c->got_bytes = 1;
        c->head_started_ns = uv_hrtime();
        c->in_len = (uint32_t)n;
        process(c);
    }
    if (!c->closing && !c->finishing && !c->handing_off && !c->upgrade_waits && !c->writing &&
        !c->awaiting &&
        sizeof c->out - c->out_len >= RESPOND_MAX_BYTES) {
        start_reading(c);
    }
}

void conn_start(struct gw_conn *c)
{
    struct gateway *gw = c->gw;
    struct http_limits lim = { gw->conf.head_max_bytes, gw->conf.headers_max_count,
                               gw->conf.target_max_bytes };
    http_req_init(&c->req, &lim, on_head, c, c->fields);
    arm(c, TIMER_HEAD);
    read_at_once(c);
}

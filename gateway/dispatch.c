#include "gateway/dispatch.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/msg.h"
#include "gateway/conn.h"
#include "gateway/forward.h"
#include "gateway/supervisor.h"
#include "gateway/upgrade.h"

static struct msg_span span_of(const struct gw_conn *c, enum http_hdr h)
{
    struct msg_span s = { "", 0 };
    if (c->req.hdr_count[h] >= 1) {
        s.ptr = http_req_str(&c->req, c->req.hdr[h]);
        s.len = c->req.hdr[h].len;
    }
    return s;
}

/* Each connection's head buffer (head_max_bytes + early data) is freed once its hand-off is
 * done, but glibc keeps the freed pages of a burst resident (they lie between live chunks, or
 * under its trim threshold): 10,000 hand-offs left about 5 MB. Trimming once the burst is over
 * gives them back, so the gateway's RSS returns near its baseline. The trimming is this timer's
 * alone: free() no longer shrinks the heap whenever its top passes glibc's threshold, which
 * under a stream of handshakes was a brk(2) every two or three connections (about 10 % of the
 * gateway's time), each followed by page faults to grow it again. */
static void on_trim(uv_timer_t *t)
{
    struct gateway *gw = t->data;
    gw->trim_armed = 0;
    malloc_trim(0);
}

static void arm_trim(struct gateway *gw)
{
    if (gw->trim_armed || gw->stopping ||
        (gw->trim_inited && uv_is_closing((uv_handle_t *)&gw->trim_timer))) {
        return; /* at exit every handle is closed, this one too */
    }
    if (!gw->trim_inited) {
        if (uv_timer_init(gw->loop, &gw->trim_timer) != 0) {
            return;
        }
        gw->trim_timer.data = gw;
        uv_unref((uv_handle_t *)&gw->trim_timer); /* never keeps the loop (or a drain) alive */
        gw->trim_inited = 1;
        mallopt(M_TRIM_THRESHOLD, DURO_HANDOFF_TRIM_THRESHOLD_BYTES);
    }
    if (uv_timer_start(&gw->trim_timer, on_trim, DURO_HANDOFF_TRIM_DELAY_MS, 0) == 0) {
        gw->trim_armed = 1;
    }
}

static void on_handed_off(int status, void *arg)
{
    struct gw_conn *c = arg;

    if (status < 0) {
        log_warn("dispatch", "conn=%llu worker=%u event=handoff_failed err=%s",
                 (unsigned long long)c->id, c->worker, uv_err_name(status));
        c->gw->metrics.v[M_HANDOFF_FAILURES]++;
        conn_fail(c, 503, "worker unavailable, retry", RESPOND_RETRY_AFTER);
        return;
    }
    log_debug("dispatch", "conn=%llu worker=%u event=handed_off", (unsigned long long)c->id,
              c->worker);
    c->gw->metrics.v[M_HANDOFFS]++;
    if (c->gw->retiring) {
        upgrade_count_forwarded(c->gw);
    }
    metrics_observe(&c->gw->metrics, H_HANDSHAKE, uv_hrtime() - c->head_started_ns);
    c->handing_off = 0;
    arm_trim(c->gw);
    conn_close(c); /* the worker has its own copy of the descriptor now */
}

int dispatch_handoff(struct gw_conn *c, const char *early, size_t early_len,
                     struct dispatch_error *err)
{
    struct gateway *gw = c->gw;
    /* A retiring gateway's workers are leaving: the successor gets the hand-off over the
     * upgrade link and gives it to its own worker for the object. */
    struct chan *link = gw->retiring ? upgrade_link(gw) : NULL;
    struct chan *ch = link != NULL ? link : supervisor_chan(gw->sup, c->worker);
    const char *cls = c->cls; /* copied at on_head: the config may have been reloaded */

    if (ch == NULL || gw->stopping) {
        log_info("dispatch", "conn=%llu obj=%s/%s worker=%u event=worker_down",
                 (unsigned long long)c->id, cls, c->route.name, c->worker);
        c->gw->metrics.v[M_HANDOFF_FAILURES]++;
        *err = (struct dispatch_error){ 503, "worker unavailable, retry", RESPOND_RETRY_AFTER };
        return -1;
    }
    if (link == NULL && supervisor_admit(gw->sup, c->worker) != 0) {
        /* Its descriptor would not arrive, or would take the worker's last ones: refuse this
         * connection, before the hand-off, so the worker and its sockets are spared. */
        log_warn("dispatch", "conn=%llu obj=%s/%s worker=%u event=worker_fd_limit action=503",
                 (unsigned long long)c->id, cls, c->route.name, c->worker);
        c->gw->metrics.v[M_HANDOFF_FD_REFUSED]++;
        *err = (struct dispatch_error){ 503, "server at its connection limit, retry",
                                        RESPOND_RETRY_AFTER };
        return -1;
    }
    struct msg_handoff h = {
        .conn_id = c->id,
        .cls = { cls, strlen(cls) },
        .name = { c->route.name, c->route.name_len },
        .key = span_of(c, HDR_WS_KEY),
        .protocols = span_of(c, HDR_WS_PROTOCOL),
        .extensions = span_of(c, HDR_WS_EXTENSIONS),
        .target = { http_req_str(&c->req, c->req.target), c->req.target.len },
        .early = { early, early_len },
        .client = { c->proxied ? c->peer : "", c->proxied ? strlen(c->peer) : 0 },
        .headers = { gw->hdr_scratch, forward_headers(c, gw->hdr_scratch), NULL, 0 },
    };
    /* Sized to this message (at most about 70 KiB), freed once chan_send has its copy. */
    size_t cap = msg_handoff_size(&h);
    uint8_t *buf = cap > 0 ? malloc(cap) : NULL;
    size_t n = buf != NULL ? msg_encode_handoff(buf, cap, &h) : 0;
    if (n == 0) {
        free(buf);
        log_warn("dispatch", "conn=%llu event=handoff_too_large", (unsigned long long)c->id);
        *err = cap == 0 ? (struct dispatch_error){ 431, "request head too large", 0 }
                        : (struct dispatch_error){ 503, "out of memory, retry",
                                                   RESPOND_RETRY_AFTER };
        return -1;
    }
    int rc = chan_send(ch, buf, n, (uv_stream_t *)&c->tcp, on_handed_off, c);
    free(buf);
    if (rc < 0) {
        log_warn("dispatch", "conn=%llu worker=%u event=handoff_refused err=%s",
                 (unsigned long long)c->id, c->worker, uv_err_name(rc));
        c->gw->metrics.v[M_HANDOFF_FAILURES]++;
        *err = (struct dispatch_error){ 503, "worker unavailable, retry", RESPOND_RETRY_AFTER };
        return -1;
    }
    c->handing_off = 1;
    log_debug("dispatch", "conn=%llu event=handoff obj=%s/%s worker=%u",
             (unsigned long long)c->id, cls, c->route.name, c->worker);
    return 0;
}

/* ---- hand-over: sockets moving between workers ---- */

void dispatch_free_handle(uv_handle_t *h)
{
    free(h);
}

static void on_adopt_sent(int status, void *arg)
{
    uv_tcp_t *t = arg;
    if (status < 0) {
        log_error("dispatch", "event=handover_lost err=%s", uv_err_name(status));
    }
    uv_close((uv_handle_t *)t, dispatch_free_handle); /* the worker has its own copy */
}

/* No worker can take it: a server close frame 1012 (unmasked, RFC 6455 7.4.1), then TCP close.
 * The frame is tiny and the socket's output was flushed at its clean point: one try_write. */
static void close_1012(struct gateway *gw, uv_tcp_t *t, uint64_t conn_id, const char *why)
{
    static const char frame[] = { (char)0x88, 0x02, 0x03, (char)0xf4 };
    uv_buf_t b = uv_buf_init((char *)frame, sizeof frame);
    (void)uv_try_write((uv_stream_t *)t, &b, 1);
    gw->metrics.v[M_HANDOVER_CLOSED]++;
    log_warn("dispatch", "conn=%llu event=handover_closed code=1012 reason=\"%s\"",
             (unsigned long long)conn_id, why);
    uv_close((uv_handle_t *)t, dispatch_free_handle);
}

void gw_route_emigrant(struct gateway *gw, const struct msg_emigrant *e, uv_tcp_t *t)
{
    /* A retiring gateway's pool is leaving: the socket goes to the successor's. */
    if (gw->retiring && upgrade_forward_emigrant(gw, e, t) == 0) {
        return;
    }
    uint64_t key = hash_object_key(e->cls.ptr, e->cls.len, e->name.ptr, e->name.len);
    unsigned slot = hash_pick_slot(key, gw->nworkers);
    struct chan *ch = gw->stopping ? NULL : supervisor_chan(gw->sup, slot);
    if (ch == NULL) {
        close_1012(gw, t, e->conn_id, "no worker to adopt it");
        return;
    }
    size_t cap = msg_emigrant_size(e);
    uint8_t *buf = cap > 0 ? malloc(cap) : NULL;
    size_t n = buf != NULL ? msg_encode_emigrant(buf, cap, MSG_ADOPT, e) : 0;
    int rc = n > 0 ? chan_send(ch, buf, n, (uv_stream_t *)t, on_adopt_sent, t) : UV_ENOMEM;
    free(buf);
    if (rc < 0) {
        close_1012(gw, t, e->conn_id, "adopt not sent");
        return;
    }
    log_debug("dispatch", "conn=%llu obj=%.*s/%.*s event=handover action=route worker=%u",
              (unsigned long long)e->conn_id, (int)e->cls.len, e->cls.ptr, (int)e->name.len,
              e->name.ptr, slot);
}

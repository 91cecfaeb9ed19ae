#include "worker/tx.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log.h"
#include "worker/object.h"
#include "worker/session.h"
#include "worker/storage_api.h"

int tx_reserve(struct obuf *b, size_t extra)
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

/* wslay's send callback for the worker's shared frame context: appends to the target buffer.
 * Room was reserved before framing started, so this cannot fail halfway through a frame. */
static ssize_t frame_send(const uint8_t *data, size_t len, int flags, void *user)
{
    struct worker *w = user;
    struct obuf *out = w->tx_out;
    (void)flags;
    memcpy(out->p + out->len, data, len);
    out->len += len;
    return (ssize_t)len;
}

static ssize_t frame_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    (void)buf;
    (void)len;
    (void)flags;
    (void)user;
    return -1; /* the shared context only sends */
}

static int frame_genmask(uint8_t *buf, size_t len, void *user)
{
    (void)user;
    memset(buf, 0, len); /* servers never mask */
    return 0;
}

static void on_flush_check(uv_check_t *h);

/* ---- write timeouts: a list of the writes in flight, oldest first, looked at by one timer
 * per worker. libuv reports no partial progress, so progress is its write queue shrinking. ---- */

static uint64_t wt_period_ms(const struct worker *w)
{
    uint64_t p = w->conf.write_timeout_ms / 4u;
    return p < DURO_TIMEOUT_MS_MIN ? DURO_TIMEOUT_MS_MIN : p;
}

static void on_wt_tick(uv_timer_t *t);

static void wt_add(struct session_act *a)
{
    struct worker *w = a->s->w;
    a->wt_progress_ms = uv_now(w->loop);
    a->wt_queued = uv_stream_get_write_queue_size((uv_stream_t *)&a->s->tcp);
    a->wt_prev = w->wt_tail;
    a->wt_next = NULL;
    if (w->wt_tail != NULL) {
        w->wt_tail->wt_next = a;
    } else {
        w->wt_head = a;
        uv_timer_start(&w->wt_timer, on_wt_tick, wt_period_ms(w), 0);
    }
    w->wt_tail = a;
}

static void wt_remove(struct worker *w, struct session_act *a)
{
    if (a->wt_prev != NULL) {
        a->wt_prev->wt_next = a->wt_next;
    } else {
        w->wt_head = a->wt_next;
    }
    if (a->wt_next != NULL) {
        a->wt_next->wt_prev = a->wt_prev;
    } else {
        w->wt_tail = a->wt_prev;
    }
    a->wt_prev = a->wt_next = NULL;
    if (w->wt_head == NULL) {
        uv_timer_stop(&w->wt_timer);
    }
}

static void on_wt_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = uv_now(w->loop);
    /* session_overloaded() queues a close frame behind the stuck write (it never removes an
     * act from this list: only a write's completion does), and the close timer ends the rest. */
    for (struct session_act *a = w->wt_head, *next; a != NULL; a = next) {
        next = a->wt_next;
        struct session *s = a->s;
        size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp);
        if (q < a->wt_queued) {
            a->wt_queued = q;
            a->wt_progress_ms = now;
        } else if (now - a->wt_progress_ms >= w->conf.write_timeout_ms &&
                   s->state != SESSION_DESTROYED && s->code_sent == 0) {
            session_overloaded(s, "write_timeout");
        }
    }
    if (w->wt_head != NULL) {
        uv_timer_start(&w->wt_timer, on_wt_tick, wt_period_ms(w), 0);
    }
}

int tx_worker_init(struct worker *w)
{
    static const struct wslay_frame_callbacks cb = { frame_send, frame_recv, frame_genmask };
    if (wslay_frame_context_init(&w->tx, &cb, w) != 0) {
        return -1;
    }
    if (uv_check_init(w->loop, &w->flush_check) != 0 || uv_timer_init(w->loop, &w->wt_timer) != 0) {
        return -1;
    }
    w->wt_timer.data = w;
    w->flush_check.data = w;
    return uv_check_start(&w->flush_check, on_flush_check) == 0 ? 0 : -1;
}

void tx_worker_close(struct worker *w)
{
    pmd_codec_free(&w->pmd);
    uv_close((uv_handle_t *)&w->flush_check, NULL);
    uv_close((uv_handle_t *)&w->wt_timer, NULL);
    if (w->tx != NULL) {
        wslay_frame_context_free(w->tx);
        w->tx = NULL;
    }
    free(w->flush_q);
    w->flush_q = NULL;
    w->flush_n = w->flush_cap = 0;
}

static int frame_into(struct worker *w, struct obuf *out, uint8_t opcode, uint8_t rsv,
                      const struct duro_iov *iov, size_t n);

int tx_frame_into(struct worker *w, struct obuf *out, uint8_t opcode,
                  const struct duro_iov *iov, size_t n)
{
    return frame_into(w, out, opcode, 0, iov, n);
}

int tx_frame_deflated(struct worker *w, struct obuf *out, uint8_t opcode,
                      const struct pmd_params *p, struct pmd_codec *codec,
                      const struct duro_iov *iov, size_t n)
{
    const void *bases[TX_DEFLATE_PIECES_MAX];
    size_t lens[TX_DEFLATE_PIECES_MAX];
    if (n > TX_DEFLATE_PIECES_MAX) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        bases[i] = iov[i].base;
        lens[i] = iov[i].len;
    }
    struct pmd_level lv = {
        DURO_DEFLATE_LEVEL,
        codec == &w->pmd ? DURO_DEFLATE_MEM_LEVEL_SHARED : DURO_DEFLATE_MEM_LEVEL_TAKEOVER,
    };
    const uint8_t *z;
    size_t zlen;
    if (pmd_deflate(codec, p, &lv, bases, lens, n, p->server_no_takeover, &z, &zlen) != PMD_OK) {
        return -1;
    }
    w->metrics.v[M_DEFLATE_OUT]++;
    w->metrics.v[M_DEFLATE_BYTES_OUT] += zlen;
    struct duro_iov one = { z, zlen };
    return frame_into(w, out, opcode, WSLAY_RSV1_BIT, &one, 1);
}

static int frame_into(struct worker *w, struct obuf *out, uint8_t opcode, uint8_t rsv,
                      const struct duro_iov *iov, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += iov[i].len;
    }
    if (tx_reserve(out, total + TX_FRAME_HEADER_MAX_BYTES) != 0) {
        return -1;
    }
    struct wslay_frame_iocb iocb = { .fin = 1, .rsv = rsv, .opcode = opcode,
                                     .payload_length = total };
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

int tx_should_deflate(const struct session *s, uint8_t opcode, size_t len)
{
    return s->pmd_sbits != 0 && (opcode == WSLAY_TEXT_FRAME || opcode == WSLAY_BINARY_FRAME) &&
           len >= s->w->conf.deflate_min_bytes;
}

size_t tx_buffered(const struct session *s)
{
    return s->act != NULL ? s->act->out.len + s->act->wb.len : 0;
}

static int room(struct session *s, size_t len, int force)
{
    if (!force && tx_buffered(s) > s->w->conf.outbound_max_bytes) {
        return -1; /* one message may pass the bound; a backlog already past it may not grow */
    }
    struct session_act *a = session_act(s);
    return a != NULL && tx_reserve(&a->out, len) == 0 ? 0 : -1;
}

int tx_frame(struct session *s, uint8_t opcode, const struct duro_iov *iov, size_t n, int force)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += iov[i].len;
    }
    if (room(s, total + TX_FRAME_HEADER_MAX_BYTES, force) != 0) {
        return -1;
    }
    if (tx_should_deflate(s, opcode, total)) {
        struct pmd_params p = session_pmd(s);
        struct pmd_codec *c = session_pmd_codec(s, 1);
        if (c != NULL && tx_frame_deflated(s->w, &s->act->out, opcode, &p, c, iov, n) == 0) {
            s->bytes_out += total;
            s->w->metrics.v[M_BYTES_OUT] += total;
            return 0;
        }
        /* No memory to compress: an uncompressed message (RSV1 clear) is always allowed. */
    }
    if (tx_frame_into(s->w, &s->act->out, opcode, iov, n) != 0) {
        return -1;
    }
    s->bytes_out += total;
    s->w->metrics.v[M_BYTES_OUT] += total;
    return 0;
}

int tx_queue(struct session *s, const uint8_t *bytes, size_t len, int force)
{
    if (room(s, len, force) != 0) {
        return -1;
    }
    struct obuf *out = &s->act->out;
    memcpy(out->p + out->len, bytes, len);
    out->len += len;
    return 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct session_act *a = req->data;
    struct session *s = a->s;
    s->writing = 0;
    a->wb.len = 0;
    wt_remove(s->w, a);
    if (s->state == SESSION_DESTROYED) {
        return;
    }
    if (status < 0) {
        log_debug("session", "conn=%llu event=write_error err=%s", (unsigned long long)s->conn_id,
                  uv_err_name(status));
        session_destroy(s);
        return;
    }
    if (a->out.len > 0) {
        tx_flush(s);
    } else {
        session_drained(s);
    }
}

void tx_flush(struct session *s)
{
    struct session_act *a = s->act;
    if (s->writing || s->state == SESSION_DESTROYED || a == NULL) {
        return;
    }
    if (s->obj != NULL && storage_gated(s->obj)) {
        return; /* output gate: held until the object's commit is durable */
    }
    if (a->out.len == 0) {
        session_drained(s);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)a->out.p, (unsigned)a->out.len);
    int n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
    if (n == (int)a->out.len) {
        a->out.len = 0;
        session_drained(s);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        session_destroy(s);
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
        session_destroy(s);
        return;
    }
    s->writing = 1;
    wt_add(a);
}

void tx_flush_soon(struct session *s)
{
    struct worker *w = s->w;
    if (w->current == s || s->flush_queued || s->state == SESSION_DESTROYED) {
        return;
    }
    if (w->flush_n == w->flush_cap) {
        size_t cap = w->flush_cap ? w->flush_cap * 2 : 64;
        struct session **q = realloc(w->flush_q, cap * sizeof *q);
        if (q == NULL) {
            tx_flush(s); /* no room to defer: write now */
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
    /* tx_flush() may queue nothing new (the sessions are not current), but may destroy: closed
     * sessions are freed only in the close phase, after this. */
    for (size_t i = 0; i < w->flush_n; i++) {
        struct session *s = w->flush_q[i];
        s->flush_queued = 0;
        tx_flush(s);
    }
    w->flush_n = 0;
}

void tx_unqueue(struct session *s)
{
    struct worker *w = s->w;
    if (!s->flush_queued) {
        return;
    }
    for (size_t i = 0; i < w->flush_n; i++) {
        if (w->flush_q[i] == s) {
            w->flush_q[i] = w->flush_q[--w->flush_n];
            break;
        }
    }
    s->flush_queued = 0;
}

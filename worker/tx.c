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
#define TX_GATHER_MAX_BYTES 256u /* a message of parts up to this size is joined, then framed */

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

/* Compresses with `codec`; the result stays valid until the codec's next use. */
static int deflate_payload(struct worker *w, const struct pmd_params *p, struct pmd_codec *codec,
                           const struct duro_iov *iov, size_t n, struct duro_iov *z)
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
    const uint8_t *out;
    size_t len;
    if (pmd_deflate(codec, p, &lv, bases, lens, n, p->server_no_takeover, &out, &len) != PMD_OK) {
        return -1;
    }
    w->metrics.v[M_DEFLATE_OUT]++;
    w->metrics.v[M_DEFLATE_BYTES_OUT] += len;
    z->base = out;
    z->len = len;
    return 0;
}

int tx_frame_deflated(struct worker *w, struct obuf *out, uint8_t opcode,
                      const struct pmd_params *p, struct pmd_codec *codec,
                      const struct duro_iov *iov, size_t n)
{
    struct duro_iov one;
    if (deflate_payload(w, p, codec, iov, n, &one) != 0) {
        return -1;
    }
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
    if (n > 1 && total <= TX_GATHER_MAX_BYTES) {
        /* A short message of several parts (the seed's reply has four) is joined first: one
         * wslay_frame_send instead of one per part, each a pass through its state machine and
         * a callback (about 4% of the worker's CPU per message at echo p=16, issue 18). */
        uint8_t joined[TX_GATHER_MAX_BYTES];
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            if (iov[i].len > 0) {
                memcpy(joined + at, iov[i].base, iov[i].len);
                at += iov[i].len;
            }
        }
        iocb.data = joined;
        iocb.data_length = total;
        (void)wslay_frame_send(w->tx, &iocb); /* cannot fail: room was reserved */
        w->tx_out = NULL;
        return 0;
    }
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

/* ---- shared frames ---- */

static size_t shared_charge(const struct tx_shared *sh)
{
    return sizeof *sh + sh->len;
}

struct tx_shared *tx_share(struct worker *w, uint8_t opcode, const void *data, size_t len,
                           const struct pmd_params *p)
{
    struct duro_iov one = { data, len };
    uint8_t rsv = 0;
    if (p != NULL) {
        struct duro_iov in = one;
        if (deflate_payload(w, p, &w->pmd, &in, 1, &one) != 0) {
            return NULL;
        }
        rsv = WSLAY_RSV1_BIT;
    }
    size_t cap = one.len + TX_FRAME_HEADER_MAX_BYTES;
    struct tx_shared *sh = malloc(sizeof *sh + cap);
    if (sh == NULL) {
        return NULL;
    }
    struct obuf o = { sh->p, 0, cap };
    (void)frame_into(w, &o, opcode, rsv, &one, 1); /* cannot fail: it fits */
    sh->len = o.len;
    sh->refs = 1;
    budget_add(&w->budget, shared_charge(sh));
    return sh;
}

void tx_unshare(struct worker *w, struct tx_shared *sh)
{
    if (sh != NULL && --sh->refs == 0) {
        budget_sub(&w->budget, shared_charge(sh));
        free(sh);
    }
}

/* ---- queues ---- */

static size_t txq_len(const struct txq *q)
{
    return q->own.len + q->shared_bytes;
}

/* Empties the queue (its buffers stay allocated). */
static void txq_empty(struct worker *w, struct txq *q)
{
    for (uint32_t i = 0; i < q->nsegs; i++) {
        tx_unshare(w, q->segs[i].sh);
    }
    q->nsegs = 0;
    q->shared_bytes = 0;
    q->own.len = 0;
}

/* Empties the queue and frees its buffers too. */
static void txq_free(struct worker *w, struct txq *q)
{
    txq_empty(w, q);
    free(q->own.p);
    free(q->segs);
    memset(q, 0, sizeof *q);
}

/* The queue as buffers for one write, in order; `b` has room for 2 * nsegs + 1. */
static size_t txq_bufs(const struct txq *q, uv_buf_t *b)
{
    size_t n = 0;
    size_t at = 0;
    for (uint32_t i = 0; i < q->nsegs; i++) {
        const struct tx_seg *g = &q->segs[i];
        if (g->at > at) {
            b[n++] = uv_buf_init((char *)q->own.p + at, (unsigned)(g->at - at));
            at = g->at;
        }
        b[n++] = uv_buf_init((char *)g->sh->p, (unsigned)g->sh->len);
    }
    if (q->own.len > at) {
        b[n++] = uv_buf_init((char *)q->own.p + at, (unsigned)(q->own.len - at));
    }
    return n;
}

/* ---- the buffer budget ---- */

/* A large message arrives that does not fit: close the largest backlogs (not the sender's). */
static void make_room(struct budget *b, size_t need)
{
    struct worker *w = (struct worker *)(void *)((char *)b - offsetof(struct worker, budget));
    tx_shed(w, need, w->current);
}

struct budget *tx_budget(struct worker *w)
{
    w->budget.max_bytes = w->conf.worker_buffer_max_bytes; /* a reload may have changed it */
    w->budget.make_room = make_room;
    return &w->budget;
}

static size_t act_bytes(const struct session_act *a);

void tx_account(struct session *s)
{
    struct session_act *a = s->act;
    if (a == NULL) {
        return;
    }
    size_t now = 0;
    if (s->state != SESSION_DESTROYED) {
        /* A destroyed socket's buffers go in this iteration's close phase: no longer counted,
         * so that shedding moves on to the next socket. */
        now = act_bytes(a);
    }
    budget_set(&s->w->budget, &a->charged, now);
}

/* What an act holds that the budget counts: also in the pool, where it keeps small buffers. */
static size_t act_bytes(const struct session_act *a)
{
    return a->out.own.cap + a->wb.own.cap +
           (a->out.segs_cap + a->wb.segs_cap) * sizeof(struct tx_seg) + ws_rx_buffered(&a->rx);
}

void tx_act_clear(struct worker *w, struct session_act *a, size_t keep)
{
    txq_empty(w, &a->out);
    txq_empty(w, &a->wb);
    if (a->out.own.cap > keep || a->out.segs_cap * sizeof(struct tx_seg) > keep) {
        txq_free(w, &a->out);
    }
    if (a->wb.own.cap > keep || a->wb.segs_cap * sizeof(struct tx_seg) > keep) {
        txq_free(w, &a->wb);
    }
    budget_set(&w->budget, &a->charged, act_bytes(a));
}

/* The pool's acts give back their buffers: the cheapest memory to free. */
static void pool_trim(struct worker *w)
{
    for (struct session_act *a = w->act_pool; a != NULL; a = a->next) {
        txq_free(w, &a->out);
        txq_free(w, &a->wb);
        ws_rx_trim(&a->rx, 0);
        budget_set(&w->budget, &a->charged, act_bytes(a));
    }
}

void tx_act_free(struct worker *w, struct session_act *a)
{
    txq_free(w, &a->out);
    txq_free(w, &a->wb);
    budget_set(&w->budget, &a->charged, 0);
}

void tx_drop_pending(struct session *s)
{
    if (s->act != NULL) {
        txq_empty(s->w, &s->act->out);
        tx_account(s);
    }
}

size_t tx_buffered(const struct session *s)
{
    return s->act != NULL ? txq_len(&s->act->out) + txq_len(&s->act->wb) : 0;
}

static const char *obj_class(const struct session *s)
{
    return s->obj != NULL ? s->obj->cls->name : "-";
}

static const char *obj_name(const struct session *s)
{
    return s->obj != NULL ? s->obj->name : "-";
}

/* The socket with the largest backlog: every socket with output is either writing (the
 * write-timeout list) or waiting for the end of the iteration (the flush queue). */
static struct session *victim(struct worker *w)
{
    struct session *best = NULL;
    size_t most = 0;
    for (struct session_act *a = w->wt_head; a != NULL; a = a->wt_next) {
        size_t n = tx_buffered(a->s);
        if (a->s->state != SESSION_DESTROYED && n > most) {
            best = a->s;
            most = n;
        }
    }
    for (size_t i = 0; i < w->flush_n; i++) {
        struct session *s = w->flush_q[i];
        size_t n = tx_buffered(s);
        if (s->state != SESSION_DESTROYED && n > most) {
            best = s;
            most = n;
        }
    }
    return best;
}

static void shed_one(struct worker *w, struct session *v)
{
    int closing = session_closing(v) || v->state == SESSION_FAILED ||
                  v->state == SESSION_REFUSED;
    log_warn("session",
             "conn=%llu obj=%s/%s event=buffer_budget_close backlog=%zu worker_buffered=%zu "
             "limit=%zu closing=%d",
             (unsigned long long)v->conn_id, obj_class(v), obj_name(v), tx_buffered(v),
             w->budget.used_bytes, w->budget.max_bytes, closing);
    if (closing) {
        /* Shed before (or closing for another reason) and still holding the most: its
         * output is stuck in a write that only closing the descriptor ends. */
        session_destroy(v);
        return;
    }
    w->metrics.v[M_BUDGET_CLOSES]++;
    tx_drop_pending(v); /* what is not being written yet: never sent, freed now */
    if (v->accepted) {
        session_fail(v, DURO_CLOSE_POLICY, "worker buffer budget");
    } else {
        session_destroy(v);
    }
    tx_account(v);
}

void tx_shed(struct worker *w, size_t need, struct session *except)
{
    struct budget *b = tx_budget(w);
    if (w->shedding) {
        return; /* a class callback run by shedding sends: the outer loop goes on */
    }
    w->shedding = 1;
    if (!budget_fits(b, need)) {
        pool_trim(w);
    }
    while (!budget_fits(b, need)) {
        struct session *v = victim(w);
        if (v == NULL || v == except) {
            break; /* `except` holds the most: it is the one to refuse, not the others */
        }
        shed_one(w, v);
    }
    w->shedding = 0;
}

int tx_budget_admit(struct worker *w, size_t need, struct session *except)
{
    struct budget *b = tx_budget(w);
    if (budget_fits(b, need)) {
        return 0;
    }
    tx_shed(w, need, except);
    /* A small charge passes anyway (the end of the iteration sheds again): refusing it would
     * close sockets that keep up, for a message a read's worth long. */
    return budget_fits(b, need) || need <= DURO_WS_LARGE_MESSAGE_BYTES ? 0 : -1;
}

/* ---- queueing ---- */

static int room(struct session *s, size_t len, int force)
{
    struct worker *w = s->w;
    if (!force && tx_buffered(s) > w->conf.outbound_max_bytes) {
        return -1; /* one message may pass the bound; a backlog already past it may not grow */
    }
    struct session_act *a = session_act(s);
    if (a == NULL) {
        return -1;
    }
    size_t grow = 0; /* what tx_reserve() will add to the buffer's capacity */
    if (a->out.own.len + len > a->out.own.cap) {
        size_t cap = a->out.own.cap ? a->out.own.cap : 256;
        while (cap < a->out.own.len + len) {
            cap *= 2;
        }
        grow = cap - a->out.own.cap;
    }
    if (!force && grow > 0 && tx_budget_admit(w, grow, s) != 0) {
        log_warn("session",
                 "conn=%llu obj=%s/%s event=buffer_budget_close backlog=%zu bytes=%zu "
                 "worker_buffered=%zu limit=%zu closing=0",
                 (unsigned long long)s->conn_id, obj_class(s), obj_name(s), tx_buffered(s), len,
                 w->budget.used_bytes, w->budget.max_bytes);
        w->metrics.v[M_BUDGET_CLOSES]++;
        if (s->accepted) {
            session_fail(s, DURO_CLOSE_POLICY, "worker buffer budget"); /* callers see FAILED */
        }
        return -1;
    }
    return tx_reserve(&a->out.own, len) == 0 ? 0 : -1;
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
    int rc = -1;
    if (tx_should_deflate(s, opcode, total)) {
        struct pmd_params p = session_pmd(s);
        struct pmd_codec *c = session_pmd_codec(s, 1);
        if (c != NULL && tx_frame_deflated(s->w, &s->act->out.own, opcode, &p, c, iov, n) == 0) {
            rc = 0;
        }
        /* No memory to compress: an uncompressed message (RSV1 clear) is always allowed. */
    }
    if (rc != 0 && tx_frame_into(s->w, &s->act->out.own, opcode, iov, n) != 0) {
        tx_account(s);
        return -1;
    }
    tx_account(s);
    s->bytes_out += total;
    s->w->metrics.v[M_BYTES_OUT] += total;
    return 0;
}

int tx_queue(struct session *s, const uint8_t *bytes, size_t len, int force)
{
    if (room(s, len, force) != 0) {
        return -1;
    }
    struct obuf *out = &s->act->out.own;
    memcpy(out->p + out->len, bytes, len);
    out->len += len;
    tx_account(s);
    return 0;
}

int tx_queue_shared(struct session *s, struct tx_shared *sh)
{
    if (tx_buffered(s) > s->w->conf.outbound_max_bytes) {
        return -1;
    }
    struct session_act *a = session_act(s);
    if (a == NULL) {
        return -1;
    }
    struct txq *q = &a->out;
    if (q->nsegs == q->segs_cap) {
        uint32_t cap = q->segs_cap ? q->segs_cap * 2 : 8;
        struct tx_seg *g = realloc(q->segs, cap * sizeof *g);
        if (g == NULL) {
            return -1;
        }
        q->segs = g;
        q->segs_cap = cap;
    }
    q->segs[q->nsegs++] = (struct tx_seg){ q->own.len, sh };
    sh->refs++;
    q->shared_bytes += sh->len;
    tx_account(s);
    return 0;
}

static void on_write(uv_write_t *req, int status)
{
    struct session_act *a = req->data;
    struct session *s = a->s;
    s->writing = 0;
    txq_empty(s->w, &a->wb);
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
    if (a->out.own.len > 0 || a->out.nsegs > 0) {
        tx_flush(s);
    } else {
        session_drained(s);
    }
}

#define TX_BUFS_STACK_COUNT 16u

void tx_flush(struct session *s)
{
    struct session_act *a = s->act;
    if (s->writing || s->state == SESSION_DESTROYED || a == NULL) {
        return;
    }
    if (s->obj != NULL && storage_gated(s->obj)) {
        return; /* output gate: held until the object's commit is durable */
    }
    size_t total = txq_len(&a->out);
    if (total == 0) {
        session_drained(s);
        return;
    }
    uv_buf_t stack[TX_BUFS_STACK_COUNT];
    size_t cap = 2u * a->out.nsegs + 1u;
    uv_buf_t *bufs = cap <= TX_BUFS_STACK_COUNT ? stack : malloc(cap * sizeof *bufs);
    if (bufs == NULL) {
        session_destroy(s);
        return;
    }
    size_t nb = txq_bufs(&a->out, bufs);
    int n = uv_try_write((uv_stream_t *)&s->tcp, bufs, (unsigned)nb);
    if (n >= 0 && (size_t)n == total) {
        txq_empty(s->w, &a->out);
        if (bufs != stack) {
            free(bufs);
        }
        session_drained(s);
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        if (bufs != stack) {
            free(bufs);
        }
        session_destroy(s);
        return;
    }
    /* The rest goes out from the second queue while new frames collect in the first. */
    size_t done = n > 0 ? (size_t)n : 0;
    size_t first = 0;
    while (done >= bufs[first].len) {
        done -= bufs[first].len;
        first++;
    }
    bufs[first].base += done;
    bufs[first].len -= done;
    struct txq t = a->wb;
    a->wb = a->out;
    a->out = t;
    a->wreq.data = a;
    int rc = uv_write(&a->wreq, (uv_stream_t *)&s->tcp, bufs + first, (unsigned)(nb - first),
                      on_write);
    if (bufs != stack) {
        free(bufs); /* uv_write copied the array */
    }
    if (rc != 0) {
        session_destroy(s);
        return;
    }
    s->writing = 1;
    wt_add(a);
}

int tx_flush_defers(const struct session *s)
{
    const struct worker *w = s->w;
    return w->current == s || s->flush_queued || s->state == SESSION_DESTROYED ||
           w->flush_n < w->flush_cap;
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
    /* Past the budget (assembly and small frames are let through within an iteration): the
     * largest backlogs go first, and their close frames are flushed below. */
    if (!budget_fits(tx_budget(w), 0)) {
        tx_shed(w, 0, NULL);
    }
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

#include "gateway/objects_page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "gateway/supervisor.h"

enum page_state { PAGE_IDLE = 0, PAGE_WAITING, PAGE_IN_FLIGHT };

struct objects_page {
    struct objects_pages *pool;
    uv_timer_t deadline;
    objects_page_done_fn *done;
    void *arg;
    enum page_state state;
    struct objects_page *qnext;   /* the worker's queue, while PAGE_WAITING */
    uint32_t limit;
    uint32_t count;
    unsigned worker;              /* where the page stands: this worker, from `at` on */
    struct msg_objects_cursor at;
    unsigned nmissing;
    uint8_t missing[DURO_WORKERS_MAX_COUNT];
    char *json;                   /* entries so far, comma-separated */
    size_t len;
    size_t cap;
    int failed;                   /* ENOMEM: the page ends where it is */
};

/* One worker's side: its one chunk query in flight, and the pages waiting to ask it. */
struct worker_q {
    struct objects_pages *pool;
    unsigned slot;
    uv_timer_t timer;             /* the chunk's DURO_ADMIN_QUERY_TIMEOUT_MS */
    uint64_t seq;                 /* in flight (0: none) */
    struct objects_page *owner;   /* NULL once its page ended or gave up on it */
    int pid;                      /* the worker asked */
    int stale;                    /* the chunk timed out and is not answered yet */
    struct objects_page *head, *tail;
};

struct objects_pages {
    struct gateway *gw;
    uint64_t next_seq;
    unsigned npages;
    int open_timers;
    int freeing;
    struct worker_q q[DURO_WORKERS_MAX_COUNT];
};

static void step(struct objects_page *pg);

struct objects_pages *objects_pages_new(struct gateway *gw)
{
    struct objects_pages *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return NULL;
    }
    p->gw = gw;
    for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
        p->q[i].pool = p;
        p->q[i].slot = i;
        uv_timer_init(gw->loop, &p->q[i].timer);
        p->q[i].timer.data = &p->q[i];
        p->open_timers++;
    }
    return p;
}

static void on_pool_timer_closed(uv_handle_t *h)
{
    struct worker_q *wq = h->data;
    struct objects_pages *p = wq->pool;
    if (--p->open_timers == 0) {
        free(p);
    }
}

void objects_pages_free(struct objects_pages *p)
{
    if (p == NULL || p->freeing) {
        return;
    }
    p->freeing = 1;
    for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
        uv_close((uv_handle_t *)&p->q[i].timer, on_pool_timer_closed);
    }
}

/* ---- cursors: "W.BUCKET.BITS[.ID]", the worker in decimal, the bucket in hex ---- */

static int format_cursor(char *out, size_t cap, unsigned worker, const struct msg_objects_cursor *c)
{
    int n = snprintf(out, cap, "%u.%llx.%u%s%.*s", worker, (unsigned long long)c->bucket,
                     (unsigned)c->bits, c->has_after ? "." : "",
                     c->has_after ? DURO_OBJECT_ID_HEX_BYTES : 0, c->after);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* Reads up to `max` digits of `base` ending at '.' or the end. Returns the digits read or 0. */
static size_t number(const char *s, size_t n, unsigned base, size_t max, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;
    while (i < n && s[i] != '.') {
        char ch = s[i];
        unsigned d;
        if (ch >= '0' && ch <= '9') {
            d = (unsigned)(ch - '0');
        } else if (base == 16 && ch >= 'a' && ch <= 'f') {
            d = (unsigned)(ch - 'a' + 10);
        } else {
            return 0;
        }
        if (++i > max) {
            return 0;
        }
        v = v * base + d;
    }
    *out = v;
    return i;
}

static int parse_cursor(const char *s, size_t n, unsigned nworkers, unsigned *worker,
                        struct msg_objects_cursor *c)
{
    memset(c, 0, sizeof *c);
    *worker = 0;
    if (n == 0) {
        return 0;
    }
    uint64_t w, bucket, bits;
    size_t a = number(s, n, 10, 2, &w);
    if (a == 0 || a == n || s[a] != '.') {
        return -1;
    }
    size_t b = number(s + a + 1, n - a - 1, 16, 16, &bucket);
    size_t at = a + 1 + b;
    if (b == 0 || at == n || s[at] != '.') {
        return -1;
    }
    size_t k = number(s + at + 1, n - at - 1, 10, 2, &bits);
    at += 1 + k;
    if (k == 0 || w >= nworkers || bits > DURO_OBJECTS_CURSOR_BITS_MAX || bucket >> bits != 0) {
        return -1;
    }
    if (at < n) {
        if (s[at] != '.' || n - at - 1 != DURO_OBJECT_ID_HEX_BYTES) {
            return -1;
        }
        for (size_t i = at + 1; i < n; i++) {
            if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
                return -1;
            }
        }
        memcpy(c->after, s + at + 1, DURO_OBJECT_ID_HEX_BYTES);
        c->has_after = 1;
    }
    *worker = (unsigned)w;
    c->bucket = bucket;
    c->bits = (uint8_t)bits;
    return 0;
}

/* ---- pages ---- */

static void on_page_closed(uv_handle_t *h)
{
    struct objects_page *pg = h->data;
    free(pg->json);
    free(pg);
}

/* Takes the page off its worker's queue or in-flight chunk, and frees it. */
static void page_free(struct objects_page *pg)
{
    struct objects_pages *p = pg->pool;
    if (pg->state == PAGE_WAITING) {
        struct worker_q *wq = &p->q[pg->worker];
        struct objects_page **pp = &wq->head;
        while (*pp != pg) {
            pp = &(*pp)->qnext;
        }
        *pp = pg->qnext;
        if (wq->tail == pg) {
            wq->tail = NULL;
            for (struct objects_page *x = wq->head; x != NULL; x = x->qnext) {
                wq->tail = x;
            }
        }
    } else if (pg->state == PAGE_IN_FLIGHT) {
        p->q[pg->worker].owner = NULL; /* its answer will be dropped */
    }
    pg->state = PAGE_IDLE;
    p->npages--;
    uv_close((uv_handle_t *)&pg->deadline, on_page_closed);
}

static void finish(struct objects_page *pg)
{
    unsigned n = supervisor_size(pg->pool->gw->sup);
    char next[128] = "";
    int has_next = pg->worker < n && format_cursor(next, sizeof next, pg->worker, &pg->at) > 0;
    char head[512];
    size_t hl = (size_t)snprintf(head, sizeof head, "{\"partial\":%s,\"missing_workers\":[",
                                 pg->nmissing > 0 ? "true" : "false");
    size_t from = hl;
    for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT && hl < sizeof head - 16; i++) {
        if (pg->missing[i]) {
            hl += (size_t)snprintf(head + hl, sizeof head - hl, "%s%u", hl > from ? "," : "", i);
        }
    }
    if (pg->nmissing > 0) {
        log_warn("admin", "event=objects_partial missing_workers=%.*s listed=%u",
                 (int)(hl - from), head + from, pg->count);
    }
    hl += (size_t)snprintf(head + hl, sizeof head - hl, "],\"next\":%s%s%s,\"objects\":[",
                           has_next ? "\"" : "", has_next ? next : "null", has_next ? "\"" : "");
    size_t total = hl + pg->len + 3;
    char *body = malloc(total);
    if (body != NULL) {
        memcpy(body, head, hl);
        if (pg->len > 0) {
            memcpy(body + hl, pg->json, pg->len);
        }
        memcpy(body + hl + pg->len, "]}\n", 3);
    }
    /* Off the queues before the answer, which may close the connection. */
    objects_page_done_fn *done = pg->done;
    void *arg = pg->arg;
    page_free(pg);
    done(arg, body != NULL ? body : "", body != NULL ? total : 0, has_next ? next : NULL);
    free(body);
}

/* The page is done with its current worker: on to the next one, from its start. */
static void next_worker(struct objects_page *pg)
{
    pg->worker++;
    memset(&pg->at, 0, sizeof pg->at);
}

static void skip_worker(struct objects_page *pg, const char *why)
{
    if (!pg->missing[pg->worker]) {
        pg->missing[pg->worker] = 1;
        pg->nmissing++;
        log_info("admin", "event=objects_worker_missing worker=%u reason=%s", pg->worker, why);
    }
    next_worker(pg);
}

static int send_chunk(struct objects_page *pg, struct worker_q *wq, struct chan *ch, int pid)
{
    uint32_t want = pg->limit - pg->count;
    struct msg_query q = {
        .seq = ++pg->pool->next_seq,
        .what = QUERY_OBJECTS,
        .limit = want < DURO_OBJECTS_CHUNK_MAX_COUNT ? want : DURO_OBJECTS_CHUNK_MAX_COUNT,
        .from = pg->at,
    };
    uint8_t buf[DURO_MSG_HEADER_BYTES + 128];
    size_t n = msg_encode_objects_query(buf, sizeof buf, &q);
    if (n == 0 || chan_send(ch, buf, n, NULL, NULL, NULL) != 0) {
        return -1;
    }
    wq->seq = q.seq;
    wq->owner = pg;
    wq->pid = pid;
    pg->state = PAGE_IN_FLIGHT;
    log_debug("admin", "event=objects_chunk_sent worker=%u seq=%llu limit=%u", wq->slot,
              (unsigned long long)q.seq, q.limit);
    return 0;
}

static void on_chunk_timeout(uv_timer_t *t);

/* Goes on until the page must wait for a worker, or is done. */
static void step(struct objects_page *pg)
{
    struct gateway *gw = pg->pool->gw;
    unsigned n = supervisor_size(gw->sup);
    for (;;) {
        if (pg->worker >= n || pg->count >= pg->limit || pg->failed ||
            pg->len + DURO_OBJECTS_JSON_MAX_BYTES > DURO_ADMIN_OBJECTS_PAGE_MAX_BYTES) {
            finish(pg);
            return;
        }
        struct worker_q *wq = &pg->pool->q[pg->worker];
        int pid = supervisor_pid(gw->sup, pg->worker);
        struct chan *ch = supervisor_chan(gw->sup, pg->worker);
        if (wq->seq != 0 && wq->stale && wq->pid != pid) {
            wq->seq = 0; /* the silent worker was restarted: its chunk went with it */
            wq->stale = 0;
            uv_timer_stop(&wq->timer);
        }
        if (ch == NULL || pid == 0) {
            skip_worker(pg, "down");
            continue;
        }
        if (wq->stale) {
            skip_worker(pg, "not_answering");
            continue;
        }
        if (wq->seq != 0) {
            pg->state = PAGE_WAITING;
            pg->qnext = NULL;
            if (wq->tail != NULL) {
                wq->tail->qnext = pg;
            } else {
                wq->head = pg;
            }
            wq->tail = pg;
            log_debug("admin", "event=objects_page_waiting worker=%u", pg->worker);
            return;
        }
        if (send_chunk(pg, wq, ch, pid) != 0) {
            skip_worker(pg, "send_failed");
            continue;
        }
        uv_timer_start(&wq->timer, on_chunk_timeout, DURO_ADMIN_QUERY_TIMEOUT_MS, 0);
        return;
    }
}

/* The worker is free again: the first waiting page asks it. */
static void release(struct worker_q *wq)
{
    struct objects_page *pg = wq->head;
    if (pg == NULL) {
        return;
    }
    wq->head = pg->qnext;
    if (wq->head == NULL) {
        wq->tail = NULL;
    }
    pg->state = PAGE_IDLE;
    step(pg);
}

static void on_chunk_timeout(uv_timer_t *t)
{
    struct worker_q *wq = t->data;
    struct objects_page *pg = wq->owner;
    log_warn("admin", "event=objects_chunk_timeout worker=%u worker_pid=%d timeout_ms=%u",
             wq->slot, wq->pid, DURO_ADMIN_QUERY_TIMEOUT_MS);
    wq->stale = 1;
    wq->owner = NULL;
    /* Every page that needs this worker now skips it, until it answers or is restarted. */
    struct objects_page *waiting = wq->head;
    wq->head = wq->tail = NULL;
    if (pg != NULL) {
        pg->state = PAGE_IDLE;
        skip_worker(pg, "timeout");
        step(pg);
    }
    while (waiting != NULL) {
        struct objects_page *x = waiting;
        waiting = x->qnext;
        x->state = PAGE_IDLE;
        skip_worker(x, "timeout");
        step(x);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct objects_page *pg = t->data;
    /* A short page, not a partial one: its next cursor goes on where it stands. */
    log_info("admin", "event=objects_page_deadline worker=%u listed=%u", pg->worker, pg->count);
    finish(pg);
}

static void on_kick(uv_timer_t *t)
{
    struct objects_page *pg = t->data;
    uv_timer_start(&pg->deadline, on_deadline, DURO_ADMIN_OBJECTS_PAGE_TIMEOUT_MS, 0);
    step(pg);
}

static int append(struct objects_page *pg, const char *s, size_t n)
{
    size_t need = pg->len + 1 + n;
    if (need > pg->cap) {
        size_t cap = pg->cap ? pg->cap : 16384;
        while (cap < need) {
            cap *= 2;
        }
        char *p = realloc(pg->json, cap);
        if (p == NULL) {
            return -1;
        }
        pg->json = p;
        pg->cap = cap;
    }
    if (pg->len > 0) {
        pg->json[pg->len++] = ',';
    }
    memcpy(pg->json + pg->len, s, n);
    pg->len += n;
    return 0;
}

void objects_pages_answer(struct objects_pages *p, unsigned slot, const struct msg_objects *m)
{
    if (slot >= DURO_WORKERS_MAX_COUNT) {
        return;
    }
    struct worker_q *wq = &p->q[slot];
    if (wq->seq == 0 || m->seq != wq->seq) {
        return; /* a chunk of a worker restarted since, say */
    }
    uv_timer_stop(&wq->timer);
    if (wq->stale) {
        log_info("admin", "event=objects_worker_answering_again worker=%u", slot);
    }
    struct objects_page *pg = wq->owner;
    wq->seq = 0;
    wq->stale = 0;
    wq->owner = NULL;
    if (pg != NULL) {
        pg->state = PAGE_IDLE;
        if (m->json.len > 0 && append(pg, m->json.ptr, m->json.len) != 0) {
            log_error("admin", "event=oom what=objects_page bytes=%zu", pg->len + m->json.len);
            pg->failed = 1; /* ends here; its cursor still points at this chunk's start */
        } else {
            pg->count += m->count;
            if (m->more) {
                pg->at = m->next;
            } else {
                next_worker(pg);
            }
        }
    }
    release(wq); /* a waiting page first: the one just answered queues behind it */
    if (pg != NULL) {
        step(pg);
    }
}

struct objects_page *objects_page_start(struct objects_pages *p, uint32_t limit,
                                        const char *cursor, size_t cursor_len,
                                        objects_page_done_fn *done, void *arg, int *status)
{
    unsigned worker;
    struct msg_objects_cursor at;
    if (parse_cursor(cursor, cursor_len, supervisor_size(p->gw->sup), &worker, &at) != 0) {
        *status = 400;
        return NULL;
    }
    if (p->npages >= DURO_ADMIN_OBJECTS_PAGES_MAX_COUNT) {
        *status = 503;
        return NULL;
    }
    struct objects_page *pg = calloc(1, sizeof *pg);
    if (pg == NULL) {
        *status = 503;
        return NULL;
    }
    pg->pool = p;
    pg->done = done;
    pg->arg = arg;
    pg->limit = limit;
    pg->worker = worker;
    pg->at = at;
    uv_timer_init(p->gw->loop, &pg->deadline);
    pg->deadline.data = pg;
    p->npages++;
    uv_timer_start(&pg->deadline, on_kick, 0, 0); /* `done` never runs from here */
    return pg;
}

void objects_page_cancel(struct objects_page *pg)
{
    if (pg != NULL) {
        page_free(pg);
    }
}

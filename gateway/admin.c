#include "gateway/admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/netaddr.h"
#include "common/respond.h"
#include "gateway/http_req.h"
#include "gateway/objects_page.h"
#include "gateway/router.h"
#include "gateway/poolstats.h"
#include "gateway/supervisor.h"


struct admin_conn;

struct admin {
    struct gateway *gw;
    uv_tcp_t listener;
    uint64_t next_seq;
    struct admin_conn *conns;
    unsigned nconns;
    struct objects_pages *pages;
    uint64_t cap_evictions;    /* idle connections closed to make room, since the last log */
    uint64_t cap_logged_ms;
    char address[80];
};

enum query_kind { Q_NONE = 0, Q_METRICS, Q_OBJECTS, Q_CLOSE };

struct admin_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    struct admin *ad;
    struct admin_conn *prev, *next;
    int open_handles;
    int closing;
    struct http_req req;
    enum query_kind query;
    uint64_t seq;
    unsigned waiting;       /* workers yet to answer */
    uint8_t *answered;      /* per slot */
    struct poolstats_worker *per; /* per slot, for the per-worker and process_* series */
    struct objects_page *page; /* Q_OBJECTS: the page in progress */
    uint32_t limit;         /* Q_OBJECTS: the page's ?limit= */
    char *out;              /* the response, owned until written */
    uint32_t closed;        /* Q_CLOSE: sockets closed */
    uint32_t form_len;
    int form_too_big;
    char form[DURO_ADMIN_FORM_MAX_BYTES];
    uint32_t in_len;
    char in[DURO_ADMIN_HEAD_MAX_BYTES];
};

static void on_closed(uv_handle_t *h)
{
    struct admin_conn *c = h->data;
    if (--c->open_handles == 0) {
        free(c->answered);
        free(c->per);
        free(c->out);
        free(c);
    }
}

static void conn_close(struct admin_conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = 1;
    struct admin *ad = c->ad;
    objects_page_cancel(c->page);
    c->page = NULL;
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        ad->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    ad->nconns--;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
    uv_close((uv_handle_t *)&c->timer, on_closed);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

static void on_query_timeout(uv_timer_t *t);

/* `extra` is header lines ("Name: value\r\n" each), or "". */
static void respond_h(struct admin_conn *c, int status, const char *type, const char *extra,
                      const char *body, size_t len)
{
    const char *phrase = respond_phrase(status);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: %s\r\n%s"
                     "Connection: close\r\n\r\n",
                     status, phrase, len, type, extra);
    if (n < 0 || (size_t)n >= sizeof head) {
        conn_close(c);
        return;
    }
    free(c->out);
    c->out = malloc((size_t)n + len);
    if (c->out == NULL) {
        conn_close(c);
        return;
    }
    memcpy(c->out, head, (size_t)n);
    memcpy(c->out + n, body, len);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)((size_t)n + len));
    c->wreq.data = c;
    /* a client that does not read the answer is dropped after the same bound as a slow head */
    uv_timer_start(&c->timer, on_query_timeout, DURO_HEAD_TIMEOUT_MS_DEFAULT, 0);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        conn_close(c);
    }
}

static void respond(struct admin_conn *c, int status, const char *type, const char *body,
                    size_t len)
{
    respond_h(c, status, type, "", body, len);
}

static void respond_text(struct admin_conn *c, int status, const char *text)
{
    respond(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static void healthz(struct admin_conn *c)
{
    struct gateway *gw = c->ad->gw;
    unsigned n = supervisor_size(gw->sup);
    char body[1024];
    char down[700] = "";
    size_t dl = 0;
    unsigned up = 0;
    for (unsigned i = 0; i < n; i++) {
        if (supervisor_pid(gw->sup, i) != 0) {
            up++;
        } else if (dl + 16 < sizeof down) {
            dl += (size_t)snprintf(down + dl, sizeof down - dl, "%s%u", dl ? "," : "", i);
        }
    }
    int len = up == n ? snprintf(body, sizeof body,
                                 "{\"status\":\"ok\",\"workers\":%u,\"up\":%u}\n", n, up)
                      : snprintf(body, sizeof body,
                                 "{\"status\":\"degraded\",\"workers\":%u,\"up\":%u,"
                                 "\"down\":[%s]}\n",
                                 n, up, down);
    respond(c, up == n ? 200 : 503, "application/json", body, (size_t)len);
}

/* Readiness, for a balancer: the node serves while enough of its pool is up, so one
 * crash-looping worker does not take every other object out of service. */
static void readyz(struct admin_conn *c)
{
    struct gateway *gw = c->ad->gw;
    unsigned n = supervisor_size(gw->sup);
    unsigned up = 0;
    for (unsigned i = 0; i < n; i++) {
        up += supervisor_pid(gw->sup, i) != 0;
    }
    unsigned down = n - up;
    const char *status = "ready";
    if (gw->stopping) {
        status = "draining";
    } else if (up == 0 || (uint64_t)down * 100u >
                              (uint64_t)n * gw->conf.ready_workers_down_max_percent) {
        status = "not_ready";
    }
    char body[160];
    int len = snprintf(body, sizeof body,
                       "{\"status\":\"%s\",\"workers\":%u,\"up\":%u,\"down_max_percent\":%u}\n",
                       status, n, up, gw->conf.ready_workers_down_max_percent);
    respond(c, strcmp(status, "ready") == 0 ? 200 : 503, "application/json", body, (size_t)len);
}

/* The per-worker and process_* series, after the pool's sums. Returns their length or 0. */
static size_t pool_series(struct admin_conn *c, char *out, size_t cap)
{
    struct gateway *gw = c->ad->gw;
    unsigned n = supervisor_size(gw->sup);
    for (unsigned i = 0; i < n; i++) {
        c->per[i].pid = supervisor_pid(gw->sup, i);
    }
    return poolstats_render(getpid(), c->per, n, out, cap);
}

static void finish_query(struct admin_conn *c)
{
    struct gateway *gw = c->ad->gw;
    if (c->query == Q_METRICS) {
        struct metrics m = gw->metrics;
        supervisor_metrics(gw->sup, &m);
        unsigned up = 0;
        for (unsigned i = 0; i < supervisor_size(gw->sup); i++) {
            up += supervisor_pid(gw->sup, i) != 0;
        }
        m.v[M_WORKERS_UP] = up;
        m.v[M_CHAN_BUF_BYTES] = 0; /* the gateway's own, not summed from workers */
        for (unsigned i = 0; i < supervisor_size(gw->sup); i++) {
            struct chan *ch = supervisor_chan(gw->sup, i);
            m.v[M_CHAN_BUF_BYTES] += ch != NULL ? chan_buffer_bytes(ch) : 0;
        }
        m.v[M_CONN_OPEN] = gw->open_conns;
        char *text = malloc(DURO_METRICS_TEXT_MAX_BYTES);
        size_t n = text ? metrics_render(&m, text, DURO_METRICS_TEXT_MAX_BYTES) : 0;
        if (n > 0) {
            size_t more = pool_series(c, text + n, DURO_METRICS_TEXT_MAX_BYTES - n);
            n = more > 0 ? n + more : 0;
        }
        if (n == 0) {
            respond_text(c, 503, "metrics unavailable\n");
        } else {
            respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, n);
        }
        free(text);
    } else {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"closed\":%u}\n", c->closed);
        if (c->waiting > 0) {
            respond_text(c, 503, "the object's worker did not answer\n");
        } else {
            respond(c, 200, "application/json", body, (size_t)n);
        }
    }
    c->query = Q_NONE;
}

static void on_query_timeout(uv_timer_t *t)
{
    struct admin_conn *c = t->data;
    if (c->query != Q_NONE) {
        log_warn("admin", "event=query_timeout missing_workers=%u", c->waiting);
        finish_query(c); /* answer with what arrived */
    } else {
        conn_close(c);
    }
}

static void start_query(struct admin_conn *c, enum query_kind kind)
{
    struct gateway *gw = c->ad->gw;
    unsigned n = supervisor_size(gw->sup);
    c->query = kind;
    c->seq = ++c->ad->next_seq;
    c->waiting = 0;
    c->answered = calloc(DURO_WORKERS_MAX_COUNT, 1); /* a resize may come meanwhile */
    free(c->per);
    c->per = calloc(DURO_WORKERS_MAX_COUNT, sizeof *c->per);
    if (c->answered == NULL || c->per == NULL) {
        conn_close(c);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        if (supervisor_query(gw->sup, i, c->seq, QUERY_STATS) == 0) {
            c->waiting++;
        }
    }
    if (c->waiting == 0) {
        finish_query(c);
        return;
    }
    uv_timer_start(&c->timer, on_query_timeout, DURO_ADMIN_QUERY_TIMEOUT_MS, 0);
}

static void on_worker_answer(void *arg, unsigned slot, const struct msg *m)
{
    struct gateway *gw = arg;
    if (gw->admin == NULL) {
        return;
    }
    if (m->type == MSG_OBJECTS) {
        objects_pages_answer(gw->admin->pages, slot, &m->u.objects);
        return;
    }
    uint64_t seq = m->type == MSG_STATS ? m->u.stats.seq : m->u.closed.seq;
    for (struct admin_conn *c = gw->admin->conns; c != NULL; c = c->next) {
        if (c->query == Q_NONE || c->seq != seq || c->answered[slot]) {
            continue;
        }
        c->answered[slot] = 1;
        /* The totals come from the supervisor's per-worker metrics (kept across restarts);
         * the per-worker series use this answer. */
        if (m->type == MSG_STATS && m->u.stats.nwords == METRICS_WORDS) {
            supervisor_slot_metrics(c->ad->gw->sup, slot, &c->per[slot].m);
            c->per[slot].answered = 1;
        } else if (m->type == MSG_CLOSED) {
            c->closed += m->u.closed.count;
        }
        if (--c->waiting == 0) {
            finish_query(c);
        }
        return;
    }
}

/* Finds `key` in a form (a=1&b=2, as in a query string or an urlencoded body) and decodes its
 * value into `out` ('+' is a space). Returns the value's length, -1 when absent, -2 when
 * malformed or too long. */
static long form_get(const char *form, size_t len, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && form[end] != '&') {
            end++;
        }
        if (end - i > kl && memcmp(form + i, key, kl) == 0 && form[i + kl] == '=') {
            char raw[DURO_ADMIN_FORM_MAX_BYTES];
            size_t vl = end - i - kl - 1;
            if (vl >= sizeof raw) {
                return -2;
            }
            for (size_t k = 0; k < vl; k++) {
                char ch = form[i + kl + 1 + k];
                raw[k] = ch == '+' ? ' ' : ch;
            }
            long n = router_decode(raw, vl, out, cap);
            return n < 0 ? -2 : n;
        }
        i = end + 1;
    }
    return -1;
}

static long param(const struct admin_conn *c, const char *query, size_t qlen, const char *key,
                  char *out, size_t cap)
{
    long n = form_get(query, qlen, key, out, cap);
    return n == -1 ? form_get(c->form, c->form_len, key, out, cap) : n;
}

static int close_code_ok(long code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* POST /objects/CLASS/NAME/close [tag=T&code=C&reason=R]: closes the object's sockets (all,
 * or those with the tag) in its worker and answers {"closed":N}. */
static void admin_close(struct admin_conn *c, const char *path, size_t pl, const char *query,
                        size_t qlen)
{
    struct gateway *gw = c->ad->gw;
    const char *p = path + 9, *end = path + pl - 6; /* past "/objects/", before "/close" */
    const char *slash = memchr(p, '/', (size_t)(end - p));
    char cls[DURO_CLASS_NAME_MAX_BYTES + 1], name[DURO_OBJECT_NAME_MAX_BYTES + 1];
    char tag[DURO_TAG_MAX_BYTES + 1] = "", reason[DURO_WS_CLOSE_REASON_MAX_BYTES + 1] = "";
    char code_s[16];
    long cl = slash ? router_decode(p, (size_t)(slash - p), cls, sizeof cls) : -1;
    long nl = slash ? router_decode(slash + 1, (size_t)(end - slash - 1), name, sizeof name) : -1;
    if (cl <= 0 || nl <= 0 || memchr(name, '/', (size_t)nl) != NULL) {
        respond_text(c, 400, "expected /objects/CLASS/NAME/close\n");
        return;
    }
    long tl = param(c, query, qlen, "tag", tag, sizeof tag);
    long rl = param(c, query, qlen, "reason", reason, sizeof reason);
    long kl = param(c, query, qlen, "code", code_s, sizeof code_s);
    long code = 1000;
    if (kl > 0) {
        char *e;
        code = strtol(code_s, &e, 10);
        if (*e != '\0') {
            code = 0;
        }
    }
    if (tl == -2 || rl == -2 || kl == -2 || kl == 0 || tl == 0 || !close_code_ok(code)) {
        respond_text(c, 400, "bad parameter: tag (1..256 bytes), code (1000-1003, 1007-1014, "
                             "3000-4999) or reason (at most 123 bytes)\n");
        return;
    }
    unsigned slot = hash_pick_slot(hash_object_key(cls, (size_t)cl, name, (size_t)nl),
                                   gw->nworkers);
    struct chan *ch = supervisor_chan(gw->sup, slot);
    struct msg_close q = {
        .seq = ++c->ad->next_seq,
        .cls = { cls, (size_t)cl },
        .name = { name, (size_t)nl },
        .tag = { tag, tl > 0 ? (size_t)tl : 0 },
        .code = (uint16_t)code,
        .reason = { reason, rl > 0 ? (size_t)rl : 0 },
    };
    uint8_t buf[DURO_MSG_HEADER_BYTES + 64 + sizeof cls + sizeof name + sizeof tag +
                sizeof reason];
    size_t n = msg_encode_close(buf, sizeof buf, &q);
    c->query = Q_CLOSE;
    c->seq = q.seq;
    c->closed = 0;
    c->answered = calloc(DURO_WORKERS_MAX_COUNT, 1);
    if (c->answered == NULL || n == 0 || ch == NULL || chan_send(ch, buf, n, NULL, NULL, NULL) < 0) {
        c->query = Q_NONE;
        respond_text(c, 503, "the object's worker is unavailable, retry\n");
        return;
    }
    c->waiting = 1;
    log_info("admin", "obj=%s/%s tag=\"%s\" code=%ld event=close_requested worker=%u", cls, name,
             tag, code, slot);
    uv_timer_start(&c->timer, on_query_timeout, DURO_ADMIN_QUERY_TIMEOUT_MS, 0);
}

static void on_page_done(void *arg, const char *body, size_t len, const char *next)
{
    struct admin_conn *c = arg;
    c->page = NULL;
    c->query = Q_NONE;
    if (len == 0) {
        respond_h(c, 503, "text/plain; charset=utf-8", "Retry-After: 1\r\n",
                  "out of memory for the page, retry\n", 34);
        return;
    }
    char link[192] = "";
    if (next != NULL) {
        snprintf(link, sizeof link, "Link: </objects?limit=%u&cursor=%s>; rel=\"next\"\r\n",
                 c->limit, next);
    }
    respond_h(c, 200, "application/json", link, body, len);
}

/* GET /objects[?limit=N][&cursor=C]: one page (gateway/objects_page.h). */
static void objects_get(struct admin_conn *c, const char *query, size_t qlen)
{
    char v[24], cursor[128];
    uint32_t limit = DURO_ADMIN_OBJECTS_LIMIT_DEFAULT;
    long ll = form_get(query, qlen, "limit", v, sizeof v);
    if (ll != -1) {
        uint64_t x = 0;
        for (long i = 0; i < ll && x <= DURO_ADMIN_OBJECTS_LIMIT_MAX; i++) {
            x = v[i] >= '0' && v[i] <= '9' ? x * 10 + (uint64_t)(v[i] - '0') : UINT64_MAX;
        }
        if (ll <= 0 || x < 1 || x > DURO_ADMIN_OBJECTS_LIMIT_MAX) {
            char msg[96];
            int n = snprintf(msg, sizeof msg, "bad limit: expected 1..%u\n",
                             DURO_ADMIN_OBJECTS_LIMIT_MAX);
            respond(c, 400, "text/plain; charset=utf-8", msg, (size_t)n);
            return;
        }
        limit = (uint32_t)x;
    }
    long cl = form_get(query, qlen, "cursor", cursor, sizeof cursor);
    int status = 400;
    c->limit = limit;
    c->query = Q_OBJECTS;
    uv_timer_stop(&c->timer); /* the page has its own deadline */
    c->page = cl == -2 ? NULL
                       : objects_page_start(c->ad->pages, limit, cursor, cl > 0 ? (size_t)cl : 0,
                                            on_page_done, c, &status);
    if (c->page != NULL) {
        return;
    }
    c->query = Q_NONE;
    if (status == 400) {
        respond_text(c, 400, "bad cursor: pass the \"next\" of an earlier page\n");
    } else {
        log_warn("admin", "event=objects_refused reason=pages_in_progress max=%u",
                 DURO_ADMIN_OBJECTS_PAGES_MAX_COUNT);
        const char *t = "too many /objects pages in progress, retry\n";
        respond_h(c, 503, "text/plain; charset=utf-8", "Retry-After: 1\r\n", t, strlen(t));
    }
}

static void dispatch(struct admin_conn *c)
{
    struct http_req *r = &c->req;
    const char *t = http_req_str(r, r->target);
    size_t tl = r->target.len;
    const char *q = memchr(t, '?', tl);
    size_t pl = q ? (size_t)(q - t) : tl;
    int is_get = http_req_method(r) == HTTP_GET;

#define PATH_IS(p) (pl == sizeof(p) - 1 && memcmp(t, p, pl) == 0)
    if (pl > 15 && memcmp(t, "/objects/", 9) == 0 && memcmp(t + pl - 6, "/close", 6) == 0) {
        if (http_req_method(r) != HTTP_POST) {
            respond_text(c, 405, "only POST\n");
        } else if (c->form_too_big) {
            respond_text(c, 413, "form too large\n");
        } else {
            admin_close(c, t, pl, q ? q + 1 : "", q ? tl - pl - 1 : 0);
        }
        return;
    }
    if (!PATH_IS("/healthz") && !PATH_IS("/readyz") && !PATH_IS("/metrics") &&
        !PATH_IS("/objects")) {
        respond_text(c, 404, "not found: try /healthz, /readyz, /metrics or /objects\n");
    } else if (!is_get) {
        respond_text(c, 405, "only GET\n");
    } else if (PATH_IS("/healthz")) {
        healthz(c);
    } else if (PATH_IS("/readyz")) {
        readyz(c);
    } else if (PATH_IS("/metrics")) {
        start_query(c, Q_METRICS);
    } else {
        objects_get(c, q ? q + 1 : "", q ? tl - pl - 1 : 0);
    }
#undef PATH_IS
}

static int on_form(struct http_req *r, const char *at, size_t len, void *arg)
{
    struct admin_conn *c = arg;
    (void)r;
    if (len > sizeof c->form - c->form_len) {
        c->form_too_big = 1;
        return 0;
    }
    memcpy(c->form + c->form_len, at, len);
    c->form_len += (uint32_t)len;
    return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct admin_conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct admin_conn *c = s->data;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (c->in_len == 0 && nread > 0) {
        /* The idle bound is short; a started head gets the configured head timeout. */
        uv_timer_start(&c->timer, on_query_timeout, c->ad->gw->conf.head_timeout_ms, 0);
    }
    size_t from = c->in_len;
    c->in_len += (uint32_t)nread;
    size_t consumed;
    enum http_result r = http_req_feed(&c->req, c->in, from, c->in_len, &consumed);
    if (r == HTTP_NEED_MORE && c->in_len < sizeof c->in) {
        return;
    }
    uv_read_stop(s);
    if (r != HTTP_DONE) {
        respond_text(c, 400, "bad request\n");
        return;
    }
    dispatch(c);
}

/* A close callback that frees the heap handle itself (casting free to uv_close_cb would call it
 * through an incompatible function type). */
static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* At the cap, a new connection (a health check, say) must not wait behind idle ones: close the
 * oldest connection that has no request in progress. Returns 0 if every one is busy. */
static int make_room(struct admin *ad)
{
    struct admin_conn *victim = NULL;
    for (struct admin_conn *c = ad->conns; c != NULL; c = c->next) {
        if (c->query == Q_NONE && c->out == NULL) {
            victim = c; /* the list is newest first: the last idle one is the oldest */
        }
    }
    uint64_t now = uv_now(ad->gw->loop);
    if (victim != NULL) {
        ad->cap_evictions++;
    }
    if (ad->cap_logged_ms == 0 || now - ad->cap_logged_ms >= DURO_ADMIN_CAP_LOG_INTERVAL_MS) {
        log_warn("admin", "event=cap_reached max=%u idle_closed=%llu action=%s",
                 DURO_ADMIN_CONNS_MAX_COUNT, (unsigned long long)ad->cap_evictions,
                 victim != NULL ? "closed_oldest_idle" : "refused");
        ad->cap_logged_ms = now;
        ad->cap_evictions = 0;
    }
    if (victim == NULL) {
        return 0;
    }
    conn_close(victim);
    return 1;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct admin *ad = server->data;
    if (status < 0) {
        return;
    }
    struct admin_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        /* libuv stops watching a listener whose connection is not accepted: take it and
         * drop it with a handle of our own if even that can be had */
        uv_tcp_t *t = malloc(sizeof *t);
        if (t != NULL && uv_tcp_init(server->loop, t) == 0) {
            (void)uv_accept(server, (uv_stream_t *)t);
            uv_close((uv_handle_t *)t, free_handle);
        } else {
            free(t);
        }
        return;
    }
    c->ad = ad;
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = 1; /* not linked yet */
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        uv_close((uv_handle_t *)&c->timer, on_closed);
        return;
    }
    if (ad->nconns >= DURO_ADMIN_CONNS_MAX_COUNT && !make_room(ad)) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        uv_close((uv_handle_t *)&c->timer, on_closed);
        return;
    }
    c->next = ad->conns;
    if (ad->conns != NULL) {
        ad->conns->prev = c;
    }
    ad->conns = c;
    ad->nconns++;
    struct http_limits lim = { DURO_ADMIN_HEAD_MAX_BYTES, DURO_HTTP_HEADERS_MAX_COUNT_DEFAULT,
                               DURO_ADMIN_HEAD_MAX_BYTES };
    http_req_init(&c->req, &lim, NULL, c, NULL);
    c->req.on_body = on_form;
    uint64_t idle = ad->gw->conf.head_timeout_ms < DURO_ADMIN_IDLE_TIMEOUT_MS
                        ? ad->gw->conf.head_timeout_ms
                        : DURO_ADMIN_IDLE_TIMEOUT_MS;
    uv_timer_start(&c->timer, on_query_timeout, idle, 0);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Binds host:port, or opens the inherited listening socket `fd` (>= 0), and listens. */
static int start(struct gateway *gw, const char *host, uint16_t port, int fd)
{
    struct admin *ad = calloc(1, sizeof *ad);
    if (ad == NULL) {
        return UV_ENOMEM;
    }
    ad->gw = gw;
    struct sockaddr_storage ss;
    int rc = fd >= 0 ? 0 : netaddr_parse(host, port, &ss);
    if (rc == 0) {
        rc = uv_tcp_init(gw->loop, &ad->listener);
    }
    if (rc != 0) {
        log_error("admin", "event=bad_address host=%s err=%s", host, uv_err_name(rc));
        free(ad);
        return rc;
    }
    ad->listener.data = ad;
    if (fd >= 0) {
        rc = uv_tcp_open(&ad->listener, fd);
    } else {
        rc = uv_tcp_bind(&ad->listener, (struct sockaddr *)&ss, 0);
    }
    /* An inherited socket already listens: an upgrade's successor accepts on it once ready. */
    if (rc != 0 || (fd < 0 && (rc = uv_listen((uv_stream_t *)&ad->listener, 64,
                                              on_connection)) != 0)) {
        log_error("admin", "event=listen_failed host=%s port=%u fd=%d err=%s", host, port, fd,
                  uv_strerror(rc));
        uv_close((uv_handle_t *)&ad->listener, (uv_close_cb)NULL);
        return rc; /* ad is leaked on purpose: the gateway exits */
    }
    netaddr_local(&ad->listener, ad->address, sizeof ad->address);
    ad->pages = objects_pages_new(gw);
    if (ad->pages == NULL) {
        log_error("admin", "event=oom what=objects_pages");
        uv_close((uv_handle_t *)&ad->listener, (uv_close_cb)NULL);
        return UV_ENOMEM; /* ad is leaked on purpose: the gateway exits */
    }
    gw->admin = ad;
    return 0;
}

int admin_start(struct gateway *gw, const char *host, uint16_t port)
{
    return start(gw, host, port, -1);
}

int admin_start_fd(struct gateway *gw, int fd)
{
    return start(gw, "inherited", 0, fd);
}

int admin_accept_start(struct gateway *gw)
{
    if (gw->admin == NULL) {
        return 0;
    }
    return uv_listen((uv_stream_t *)&gw->admin->listener, 64, on_connection);
}

int admin_fd(const struct gateway *gw)
{
    uv_os_fd_t fd = -1;
    if (gw->admin == NULL || uv_fileno((const uv_handle_t *)&gw->admin->listener, &fd) != 0) {
        return -1;
    }
    return fd;
}

const char *admin_address(const struct gateway *gw)
{
    return gw->admin != NULL ? gw->admin->address : "off";
}

static void free_admin(uv_handle_t *h)
{
    struct admin *ad = h->data;
    objects_pages_free(ad->pages); /* every page went with its connection */
    free(ad);
}

void admin_attach(struct gateway *gw)
{
    if (gw->admin != NULL && gw->sup != NULL) {
        supervisor_on_answer(gw->sup, on_worker_answer, gw);
    }
}

void admin_stop(struct gateway *gw)
{
    struct admin *ad = gw->admin;
    if (ad == NULL) {
        return;
    }
    if (gw->sup != NULL) {
        supervisor_on_answer(gw->sup, NULL, NULL);
    }
    while (ad->conns != NULL) {
        conn_close(ad->conns);
    }
    gw->admin = NULL;
    uv_close((uv_handle_t *)&ad->listener, free_admin);
}

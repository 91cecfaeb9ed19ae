/* bench/modes.c: what each mode sends and checks, and the phases of a run:
 * connect (open every connection, bounded) -> ready (all threads up) -> run (warm-up, then the
 * measured window) -> drain (replies in flight) -> close (close handshakes, bounded) -> done.
 * connect mode skips the first two: its connections open and close all through the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bench/bench.h"
#include "bench/procrss.h"
#include "bench/wsdeflate.h"
#include "bench/wsframe.h"

#define NS_PER_MS 1000000ull
#define SEQ_BITS 40u
#define SEQ_MASK ((1ull << SEQ_BITS) - 1u)
#define SNIPPET_BYTES 60
#define CLOSE_GRACE_MS 500u
#define REPLY_SLACK_BYTES 65536u /* --expect none: replies may be anything up to size + this */

static uint64_t ns_of(double s)
{
    return (uint64_t)(s * 1e9);
}

static int in_window(const struct tctx *t, uint64_t now)
{
    return t->phase == PH_RUN && now >= t->t_measure && now < t->t_end;
}

/* ---- messages: a hex tag, then a slice of the shared printable pattern ---- */

static void put_tag(uint8_t dst[BENCH_TAG_BYTES], uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = BENCH_TAG_BYTES - 1; i >= 0; i--) {
        dst[i] = (uint8_t)hex[v & 15u];
        v >>= 4;
    }
}

static int get_tag(const uint8_t *p, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned i = 0; i < BENCH_TAG_BYTES; i++) {
        uint8_t ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9') {
            d = ch - '0';
        } else if (ch >= 'a' && ch <= 'f') {
            d = ch - 'a' + 10u;
        } else {
            return -1;
        }
        x = (x << 4) | d;
    }
    *v = x;
    return 0;
}

static size_t tag_len(const struct opts *o)
{
    return o->size >= BENCH_TAG_BYTES ? BENCH_TAG_BYTES : 0;
}

/* Appends message `tag` (slice `k` of the pattern) to `c` as one frame. */
static void put_message(struct conn *c, uint64_t tag, size_t k)
{
    const struct opts *o = c->t->o;
    if (o->text != NULL) {
        conn_put_frame(c, WSF_OP_TEXT, o->text, strlen(o->text), NULL, 0);
        return;
    }
    uint8_t tb[BENCH_TAG_BYTES];
    size_t tl = tag_len(o);
    if (tl > 0) {
        put_tag(tb, tag);
    }
    conn_put_message(c, o->binary ? WSF_OP_BINARY : WSF_OP_TEXT, tb, tl,
                   c->t->sh->pattern + k + tl, o->size - tl);
}

/* 0 when `p` (o->size bytes) is message `tag`, slice `k`. */
static int same_message(const struct tctx *t, const uint8_t *p, uint64_t tag, size_t k)
{
    size_t tl = tag_len(t->o);
    if (tl > 0) {
        uint8_t tb[BENCH_TAG_BYTES];
        put_tag(tb, tag);
        if (memcmp(p, tb, tl) != 0) {
            return -1;
        }
    }
    return memcmp(p + tl, t->sh->pattern + k + tl, t->o->size - tl) == 0 ? 0 : -1;
}

static uint64_t echo_tag(const struct conn *c, uint64_t seq)
{
    return ((uint64_t)c->id << SEQ_BITS) | (seq & SEQ_MASK);
}

static size_t echo_slice(const struct conn *c, uint64_t seq)
{
    return (size_t)((c->id * 7u + seq) % BENCH_PATTERN_SPREAD);
}

static void send_echo(struct conn *c, uint64_t now)
{
    uint64_t seq = c->sent++;
    c->ts[seq % c->t->o->inflight] = now;
    put_message(c, echo_tag(c, seq), echo_slice(c, seq));
}

static void snippet(char *dst, size_t cap, const uint8_t *p, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < SNIPPET_BYTES && o + 5 < cap; i++) {
        uint8_t ch = p[i];
        if (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\') {
            dst[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", ch);
        }
    }
    if (len > SNIPPET_BYTES && o + 4 < cap) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

/* The decimal count at the end of a seed reply: in [1, max], or exactly t->count_str. */
static int check_count(const struct tctx *t, const uint8_t *p, size_t len, int exact)
{
    if (exact) {
        return len == t->count_len && memcmp(p, t->count_str, len) == 0 ? 0 : -1;
    }
    if (len == 0 || len > 9 || p[0] == '0') {
        return -1;
    }
    unsigned long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        n = n * 10 + (p[i] - '0');
    }
    return n >= 1 && n <= t->o->conns ? 0 : -1;
}

/* Checks the reply to echo message `seq` of `c`. Returns 0 or -1 (failure counted). */
static int check_reply(struct conn *c, uint64_t seq, int binary, const uint8_t *p, size_t len,
                       int exact_count)
{
    struct tctx *t = c->t;
    const struct opts *o = t->o;
    int ok = 1;
    static const char prefix[] = BENCH_SEED_PREFIX;
    static const char middle[] = BENCH_SEED_MIDDLE;
    static const char bin[] = BENCH_SEED_BINARY;

    switch (o->expect) {
    case EXPECT_NONE:
        return 0;
    case EXPECT_ECHO:
        ok = binary == o->binary && len == o->size &&
             same_message(t, p, echo_tag(c, seq), echo_slice(c, seq)) == 0;
        break;
    case EXPECT_SEED: {
        size_t body = o->binary ? sizeof bin - 1 : o->size;
        size_t head = sizeof prefix - 1 + body + sizeof middle - 1;
        ok = !binary && len > head && memcmp(p, prefix, sizeof prefix - 1) == 0;
        const uint8_t *q = p + sizeof prefix - 1;
        if (ok) {
            ok = o->binary ? memcmp(q, bin, body) == 0
                           : same_message(t, q, echo_tag(c, seq), echo_slice(c, seq)) == 0;
        }
        ok = ok && memcmp(q + body, middle, sizeof middle - 1) == 0 &&
             check_count(t, p + head, len - head, exact_count) == 0;
        break;
    }
    }
    if (!ok) {
        char s[SNIPPET_BYTES * 4 + 8];
        snippet(s, sizeof s, p, len);
        bench_verify_fail(t, c, "reply to message %llu (%zu bytes%s): \"%s\"%s%s",
                          (unsigned long long)seq, len, binary ? ", binary" : "", s,
                          exact_count && o->expect == EXPECT_SEED ? " want connections: " : "",
                          exact_count && o->expect == EXPECT_SEED ? t->count_str : "");
        return -1;
    }
    return 0;
}

/* ---- http ---- */

static void send_request(struct conn *c, uint64_t now)
{
    uint64_t seq = c->sent++;
    c->ts[seq % c->t->o->inflight] = now;
    conn_put_raw(c, c->t->http_req, c->t->http_req_len);
}

void mode_on_response(struct conn *c, uint64_t now)
{
    struct tctx *t = c->t;
    const struct opts *o = t->o;
    llhttp_t *hp = &c->http;
    if (c->recvd >= c->sent) {
        bench_verify_fail(t, c, "response without a request");
        conn_kill(c);
        return;
    }
    uint64_t seq = c->recvd++;
    if (hp->http_major != 1 || hp->http_minor != 1 ||
        (o->status != 0 && hp->status_code != o->status)) {
        bench_verify_fail(t, c, "status line HTTP/%d.%d %d, want HTTP/1.1 %d", hp->http_major,
                          hp->http_minor, hp->status_code, o->status);
    }
    if (in_window(t, now)) {
        t->counted++;
        hist_record(&t->hist, now - c->ts[seq % o->inflight]);
    }
    if (!llhttp_should_keep_alive(hp)) {
        bench_error(t, c, "response %llu ends the connection (no keep-alive)",
                    (unsigned long long)seq);
        conn_kill(c);
        return;
    }
    if (t->phase == PH_RUN) {
        send_request(c, now);
    }
}

/* ---- broadcast: `inflight` messages out at once, each expected by every socket ---- */

static struct conn *next_sender(struct tctx *t)
{
    for (unsigned i = 0; i < t->nconns; i++) {
        struct conn *c = &t->conns[t->next_sender];
        t->next_sender = (t->next_sender + 1) % t->nconns;
        if (c->state == CS_OPEN) {
            return c;
        }
    }
    return NULL;
}

static void broadcast_one(struct tctx *t, uint64_t now)
{
    unsigned s = 0;
    while (s < t->o->inflight && t->slots[s].busy) {
        s++;
    }
    struct conn *c = next_sender(t);
    if (s == t->o->inflight || c == NULL) {
        return;
    }
    uint64_t id = t->next_bid++;
    struct bslot *b = &t->slots[s];
    b->id = id;
    b->ts = now;
    b->remaining = t->up;
    b->busy = 1;
    put_message(c, ((uint64_t)s << SEQ_BITS) | (id & SEQ_MASK), id % BENCH_PATTERN_SPREAD);
    conn_flush(c);
}

static void on_broadcast(struct conn *c, int binary, const uint8_t *p, size_t len, uint64_t now)
{
    struct tctx *t = c->t;
    const struct opts *o = t->o;
    uint64_t tag;
    if (binary != o->binary || len != o->size || get_tag(p, &tag) != 0) {
        char s[SNIPPET_BYTES * 4 + 8];
        snippet(s, sizeof s, p, len);
        bench_verify_fail(t, c, "not one of our broadcasts (%zu bytes): \"%s\"", len, s);
        return;
    }
    uint64_t slot = tag >> SEQ_BITS, id = tag & SEQ_MASK;
    struct bslot *b = slot < o->inflight ? &t->slots[slot] : NULL;
    if (b == NULL || !b->busy || (b->id & SEQ_MASK) != id || b->remaining == 0 ||
        same_message(t, p, tag, b->id % BENCH_PATTERN_SPREAD) != 0) {
        bench_verify_fail(t, c, "broadcast %llu: unknown, repeated or altered",
                          (unsigned long long)id);
        return;
    }
    c->recvd++;
    t->deliveries++;
    if (in_window(t, now)) {
        t->counted++;
        hist_record(&t->hist, now - b->ts);
    }
    if (--b->remaining == 0) {
        b->busy = 0;
        t->bcast_done++;
        if (t->phase == PH_RUN) {
            broadcast_one(t, now);
        }
    }
}

/* ---- events from conn.c ---- */

static void open_more(struct tctx *t);

void mode_on_open(struct conn *c, uint64_t now)
{
    struct tctx *t = c->t;
    if (t->phase == PH_CONNECT) {
        c->counted_open = 1;
        open_more(t);
        return;
    }
    if (t->o->mode == MODE_CONNECT) {
        if (in_window(t, now)) {
            t->counted++;
            hist_record(&t->hist, now - c->t_start);
        }
        send_echo(c, now);
    } else if (t->o->mode == MODE_HTTP && t->phase == PH_RUN) {
        for (unsigned k = 0; k < t->o->inflight; k++) {
            send_request(c, now); /* a connection reopened during the run */
        }
    }
}

void mode_on_message(struct conn *c, int binary, const uint8_t *p, size_t len, uint64_t now)
{
    struct tctx *t = c->t;
    const struct opts *o = t->o;
    if (o->mode == MODE_BROADCAST) {
        on_broadcast(c, binary, p, len, now);
        return;
    }
    if (o->mode == MODE_IDLE && o->expect == EXPECT_NONE) {
        t->deliveries++; /* pushed to the socket (a room's HTTP POST): counted, not checked */
        return;
    }
    if (o->mode == MODE_HTTP || c->recvd >= c->sent) {
        char s[SNIPPET_BYTES * 4 + 8];
        snippet(s, sizeof s, p, len);
        bench_verify_fail(t, c, "unexpected message: \"%s\"", s);
        return;
    }
    uint64_t seq = c->recvd++;
    switch (o->mode) {
    case MODE_ECHO:
        (void)check_reply(c, seq, binary, p, len, 1);
        if (in_window(t, now)) {
            t->counted++;
            hist_record(&t->hist, now - c->ts[seq % o->inflight]);
        }
        if (t->phase == PH_RUN) {
            send_echo(c, now);
        }
        break;
    case MODE_IDLE:
        (void)check_reply(c, seq, binary, p, len, 1);
        break;
    case MODE_CONNECT:
        (void)check_reply(c, seq, binary, p, len, 0);
        conn_close_ws(c);
        break;
    default:
        break;
    }
}

void mode_on_failed(struct conn *c)
{
    open_more(c->t);
}

void mode_on_closed(struct conn *c)
{
    struct tctx *t = c->t;
    if (t->phase == PH_RUN && (t->o->mode == MODE_CONNECT || t->o->mode == MODE_HTTP)) {
        (void)conn_start(c); /* keep the load up: a new connection in the same slot */
    }
}

/* ---- phases ---- */

static void open_more(struct tctx *t)
{
    if (t->opening || t->phase != PH_CONNECT) {
        return;
    }
    t->opening = 1;
    while (t->next_open < t->nconns && t->pending < t->o->burst) {
        (void)conn_start(&t->conns[t->next_open++]);
    }
    t->opening = 0;
    if (t->next_open == t->nconns && t->pending == 0) {
        t->phase = PH_READY;
        atomic_fetch_add(&t->sh->established, t->up);
        atomic_fetch_add(&t->sh->ready, 1);
    }
}

static void begin_close(struct tctx *t, uint64_t now);

static void start_run(struct tctx *t, uint64_t now)
{
    const struct opts *o = t->o;
    unsigned n = atomic_load(&t->sh->established);
    if (n == 0 && o->mode != MODE_CONNECT) {
        begin_close(t, now); /* nothing to measure: every connection failed */
        return;
    }
    t->count_len = (size_t)snprintf(t->count_str, sizeof t->count_str, "%u", n);
    t->phase = PH_RUN;
    t->t_run = now;
    t->t_measure = o->mode == MODE_IDLE ? now : now + ns_of(o->warmup_s);
    t->t_end = t->t_measure + ns_of(o->duration_s);
    switch (o->mode) {
    case MODE_ECHO:
    case MODE_HTTP:
        for (unsigned i = 0; i < t->nconns; i++) {
            struct conn *c = &t->conns[i];
            if (c->state != CS_OPEN) {
                continue;
            }
            for (unsigned k = 0; k < o->inflight; k++) {
                if (o->mode == MODE_ECHO) {
                    send_echo(c, now);
                } else {
                    send_request(c, now);
                }
            }
            conn_flush(c);
        }
        break;
    case MODE_BROADCAST:
        for (unsigned k = 0; k < o->inflight; k++) {
            broadcast_one(t, now);
        }
        break;
    case MODE_CONNECT:
        for (unsigned i = 0; i < t->nconns; i++) {
            (void)conn_start(&t->conns[i]);
        }
        break;
    case MODE_IDLE:
        if (!o->quiet) {
            fprintf(stderr, "duro-bench: idle: %u sockets established, holding for %.1f s\n", n,
                    o->duration_s);
        }
        break;
    }
}

static void begin_close(struct tctx *t, uint64_t now)
{
    t->phase = PH_CLOSE;
    t->t_deadline = now + (BENCH_CLOSE_WAIT_MS + CLOSE_GRACE_MS) * NS_PER_MS;
    for (unsigned i = 0; i < t->nconns; i++) {
        conn_close_ws(&t->conns[i]);
    }
}

static void end_run(struct tctx *t, uint64_t now)
{
    const struct opts *o = t->o;
    if (o->mode == MODE_CONNECT) {
        begin_close(t, now);
        return;
    }
    if (o->mode == MODE_IDLE) {
        if (t->index == 0) {
            if (o->pid > 0) {
                t->sh->rss_after = procrss_tree(o->pid, &t->sh->rss_procs);
            }
            atomic_store(&t->sh->hold_done, 1);
        } else if (!atomic_load(&t->sh->hold_done)) {
            return; /* thread 0 has not measured yet: hold on */
        }
        /* One round trip per socket proves every socket is still served, and the seed's
         * count proves the server still holds them all. */
        if (o->expect != EXPECT_NONE) {
            for (unsigned i = 0; i < t->nconns; i++) {
                struct conn *c = &t->conns[i];
                if (c->state == CS_OPEN) {
                    send_echo(c, now);
                    conn_flush(c);
                }
            }
        }
    }
    t->phase = PH_DRAIN;
    t->t_deadline = now + BENCH_DRAIN_MS * NS_PER_MS;
}

static int drained(struct tctx *t)
{
    if (t->o->mode == MODE_BROADCAST) {
        for (unsigned s = 0; s < t->o->inflight; s++) {
            if (t->slots[s].busy) {
                return 0;
            }
        }
        return 1;
    }
    for (unsigned i = 0; i < t->nconns; i++) {
        const struct conn *c = &t->conns[i];
        if (c->state == CS_OPEN && c->recvd != c->sent) {
            return 0;
        }
    }
    return 1;
}

static void after_drain(struct tctx *t)
{
    const struct opts *o = t->o;
    for (unsigned i = 0; i < t->nconns; i++) {
        const struct conn *c = &t->conns[i];
        if (c->state != CS_OPEN) {
            continue;
        }
        if (o->mode == MODE_BROADCAST && c->recvd != t->next_bid) {
            bench_verify_fail(t, c, "received %llu of %llu broadcasts",
                              (unsigned long long)c->recvd, (unsigned long long)t->next_bid);
        } else if (o->mode != MODE_BROADCAST && c->recvd != c->sent) {
            bench_error(t, c, "%llu replies missing after %u ms",
                        (unsigned long long)(c->sent - c->recvd), BENCH_DRAIN_MS);
        }
    }
}

static void check_deadlines(struct tctx *t, uint64_t now)
{
    for (unsigned i = 0; i < t->nconns; i++) {
        struct conn *c = &t->conns[i];
        if (c->deadline == 0 || now < c->deadline || c->state == CS_FREE ||
            c->state == CS_DEAD) {
            continue;
        }
        if (c->state == CS_CLOSING) {
            bench_error(t, c, "close handshake not finished by the server within %u ms",
                        BENCH_CLOSE_WAIT_MS);
        } else {
            bench_error(t, c, "no %s within %.1f s",
                        c->state == CS_CONNECTING ? "connection" : "upgrade response",
                        t->o->connect_timeout_s);
        }
        conn_kill(c);
    }
}

static void on_tick_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_tick(uv_timer_t *tm)
{
    struct tctx *t = tm->data;
    const struct opts *o = t->o;
    uint64_t now = uv_hrtime();
    if (t->phase != PH_RUN || o->mode == MODE_CONNECT) {
        check_deadlines(t, now);
    }
    switch (t->phase) {
    case PH_CONNECT:
        if (now >= t->t_deadline) {
            for (unsigned i = t->next_open; i < t->nconns; i++) {
                bench_error(t, &t->conns[i], "not started within %.1f s", o->connect_timeout_s);
            }
            t->next_open = t->nconns;
            for (unsigned i = 0; i < t->nconns; i++) {
                if (t->conns[i].state == CS_CONNECTING || t->conns[i].state == CS_HANDSHAKE) {
                    bench_error(t, &t->conns[i], "no upgrade within %.1f s", o->connect_timeout_s);
                    conn_kill(&t->conns[i]);
                }
            }
        }
        open_more(t);
        break;
    case PH_READY:
        if (atomic_load(&t->sh->ready) == o->threads) {
            start_run(t, now);
        }
        break;
    case PH_RUN:
        if (now >= t->t_end) {
            end_run(t, now);
        }
        break;
    case PH_DRAIN:
        if (drained(t) || now >= t->t_deadline) {
            after_drain(t);
            begin_close(t, now);
        }
        break;
    case PH_CLOSE:
        if (t->alive == 0 || now >= t->t_deadline) {
            for (unsigned i = 0; i < t->nconns; i++) {
                conn_kill(&t->conns[i]);
            }
            t->phase = PH_DONE;
            uv_timer_stop(&t->tick);
            uv_close((uv_handle_t *)&t->tick, on_tick_closed);
        }
        break;
    case PH_DONE:
        break;
    }
}

/* ---- threads ---- */

int mode_thread_init(struct tctx *t)
{
    const struct opts *o = t->o;
    if (uv_loop_init(&t->loop) != 0) {
        return -1;
    }
    uv_timer_init(&t->loop, &t->tick);
    t->tick.data = t;
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        seed = uv_hrtime();
    }
    t->rng = seed ^ ((uint64_t)(t->index + 1) * 0x9E3779B97F4A7C15ull);
    if (t->rng == 0) {
        t->rng = 1;
    }
    size_t reply = o->size;
    if (o->expect == EXPECT_SEED) {
        reply = sizeof BENCH_SEED_PREFIX + (o->binary ? sizeof BENCH_SEED_BINARY : o->size) +
                sizeof BENCH_SEED_MIDDLE + BENCH_COUNT_MAX_BYTES;
    } else if (o->expect == EXPECT_NONE) {
        reply = o->size + REPLY_SLACK_BYTES;
    }
    t->max_reply = reply > WSF_CONTROL_MAX_BYTES ? reply : WSF_CONTROL_MAX_BYTES;
    t->rbuf = malloc(BENCH_READ_BUF_BYTES);
    t->conns = calloc(t->nconns, sizeof *t->conns);
    uint64_t *ts = calloc((size_t)t->nconns * o->inflight, sizeof *ts);
    if (t->rbuf == NULL || t->conns == NULL || ts == NULL) {
        free(ts);
        return -1;
    }
    for (unsigned i = 0; i < t->nconns; i++) {
        t->conns[i].t = t;
        t->conns[i].ts = ts + (size_t)i * o->inflight;
    }
    if (o->mode == MODE_BROADCAST) {
        t->slots = calloc(o->inflight, sizeof *t->slots);
        if (t->slots == NULL) {
            return -1;
        }
    }
    if (o->mode == MODE_HTTP) {
        size_t cap = strlen(o->target) + strlen(o->host_header) + 96 + o->size;
        t->http_req = malloc(cap);
        if (t->http_req == NULL) {
            return -1;
        }
        if (o->post) {
            int n = snprintf(t->http_req, cap,
                             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %u\r\n\r\n",
                             o->target, o->host_header, o->size);
            memset(t->http_req + n, 'x', o->size);
            t->http_req_len = (size_t)n + o->size;
        } else {
            t->http_req_len = (size_t)snprintf(t->http_req, cap,
                                               "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                               o->target, o->host_header);
        }
    }
    return 0;
}

void *mode_thread_main(void *arg)
{
    struct tctx *t = arg;
    uint64_t now = uv_hrtime();
    uv_timer_start(&t->tick, on_tick, BENCH_TICK_MS, BENCH_TICK_MS);
    if (t->o->mode == MODE_CONNECT) {
        start_run(t, now);
    } else {
        t->phase = PH_CONNECT;
        t->t_deadline = now + ns_of(t->o->connect_timeout_s);
        open_more(t);
    }
    uv_run(&t->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&t->loop) != 0) {
        fprintf(stderr, "duro-bench: thread %u: loop not closed cleanly\n", t->index);
    }
    return NULL;
}

void mode_thread_free(struct tctx *t)
{
    if (t->conns != NULL) {
        free(t->conns[0].ts);
        for (unsigned i = 0; i < t->nconns; i++) {
            struct conn *c = &t->conns[i];
            free(c->carry);
            free(c->frag);
            free(c->out);
            free(c->wb);
        }
    }
    wsdeflate_thread_free(t);
    free(t->conns);
    free(t->rbuf);
    free(t->slots);
    free(t->http_req);
}

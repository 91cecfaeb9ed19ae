#include "common/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct def {
    const char *name;
    const char *type;
    const char *labels;
    const char *help;
};

#define METRICS_DEF(id, name, type, labels, help) { name, type, labels, help },
static const struct def defs[M_COUNT] = { METRICS_LIST(METRICS_DEF) };
#undef METRICS_DEF

#define METRICS_HDEF(id, name, help) { name, "histogram", "", help },
static const struct def hdefs[H_COUNT] = { METRICS_HISTS(METRICS_HDEF) };
#undef METRICS_HDEF

/* 50 us .. 5 s, about x2 to x2.5 apart: a handshake takes ~50 us, a busy read a few ms. */
static const uint64_t bounds_us[METRICS_BUCKETS] = { 50,    100,    250,    500,    1000,
                                                     2500,  5000,   10000,  25000,  50000,
                                                     100000, 250000, 1000000, 5000000 };

void metrics_observe(struct metrics *m, enum hist_id h, uint64_t ns)
{
    struct metrics_hist *x = &m->h[h];
    uint64_t us = ns / 1000u;
    size_t i = 0;
    while (i < METRICS_BUCKETS && us > bounds_us[i]) {
        i++;
    }
    x->buckets[i]++;
    x->count++;
    x->sum_ns += ns;
}

void metrics_http_status(struct metrics *m, int status)
{
    enum metric_id id;
    switch (status) {
    case 101: id = M_HTTP_101; break;
    case 400: id = M_HTTP_400; break;
    case 403: id = M_HTTP_403; break;
    case 408: id = M_HTTP_408; break;
    case 414: id = M_HTTP_414; break;
    case 426: id = M_HTTP_426; break;
    case 431: id = M_HTTP_431; break;
    case 501: id = M_HTTP_501; break;
    case 503: id = M_HTTP_503; break;
    default: id = M_HTTP_OTHER; break;
    }
    m->v[id]++;
}

void metrics_ws_close(struct metrics *m, unsigned code)
{
    enum metric_id id;
    switch (code) {
    case 1000: id = M_CLOSE_1000; break;
    case 1001: id = M_CLOSE_1001; break;
    case 1002: id = M_CLOSE_1002; break;
    case 1005: id = M_CLOSE_1005; break;
    case 1006: id = M_CLOSE_1006; break;
    case 1007: id = M_CLOSE_1007; break;
    case 1008: id = M_CLOSE_1008; break;
    case 1009: id = M_CLOSE_1009; break;
    default: id = M_CLOSE_OTHER; break;
    }
    m->v[id]++;
}

void metrics_add(struct metrics *dst, const struct metrics *src)
{
    for (size_t i = 0; i < M_COUNT; i++) {
        dst->v[i] += src->v[i];
    }
    for (size_t h = 0; h < H_COUNT; h++) {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
            dst->h[h].buckets[b] += src->h[h].buckets[b];
        }
        dst->h[h].count += src->h[h].count;
        dst->h[h].sum_ns += src->h[h].sum_ns;
    }
}

void metrics_add_counters(struct metrics *dst, const struct metrics *src)
{
#define METRICS_IS_COUNTER(id, name, type, labels, help) [id] = type[0] == 'c',
    static const unsigned char is_counter[M_COUNT] = { METRICS_LIST(METRICS_IS_COUNTER) };
#undef METRICS_IS_COUNTER
    for (size_t i = 0; i < M_COUNT; i++) {
        if (is_counter[i]) {
            dst->v[i] += src->v[i];
        }
    }
    for (size_t h = 0; h < H_COUNT; h++) {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
            dst->h[h].buckets[b] += src->h[h].buckets[b];
        }
        dst->h[h].count += src->h[h].count;
        dst->h[h].sum_ns += src->h[h].sum_ns;
    }
}

void metrics_to_words(const struct metrics *m, uint64_t *w)
{
    size_t k = 0;
    for (size_t i = 0; i < M_COUNT; i++) {
        w[k++] = m->v[i];
    }
    for (size_t h = 0; h < H_COUNT; h++) {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
            w[k++] = m->h[h].buckets[b];
        }
        w[k++] = m->h[h].count;
        w[k++] = m->h[h].sum_ns;
    }
}

void metrics_from_words(struct metrics *m, const uint64_t *w)
{
    size_t k = 0;
    for (size_t i = 0; i < M_COUNT; i++) {
        m->v[i] = w[k++];
    }
    for (size_t h = 0; h < H_COUNT; h++) {
        for (size_t b = 0; b <= METRICS_BUCKETS; b++) {
            m->h[h].buckets[b] = w[k++];
        }
        m->h[h].count = w[k++];
        m->h[h].sum_ns = w[k++];
    }
}

struct out {
    char *p;
    size_t len;
    size_t cap;
    int ok;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    if (!o->ok) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len) {
        o->ok = 0;
        return;
    }
    o->len += (size_t)n;
}

size_t metrics_render(const struct metrics *m, char *buf, size_t cap)
{
    struct out o = { buf, 0, cap, cap > 0 };
    for (size_t i = 0; i < M_COUNT; i++) {
        const struct def *d = &defs[i];
        if (i == 0 || strcmp(defs[i - 1].name, d->name) != 0) {
            put(&o, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, d->type);
        }
        if (d->labels[0] != '\0') {
            put(&o, "%s{%s} %llu\n", d->name, d->labels, (unsigned long long)m->v[i]);
        } else {
            put(&o, "%s %llu\n", d->name, (unsigned long long)m->v[i]);
        }
    }
    for (size_t h = 0; h < H_COUNT; h++) {
        const struct def *d = &hdefs[h];
        const struct metrics_hist *x = &m->h[h];
        put(&o, "# HELP %s %s\n# TYPE %s histogram\n", d->name, d->help, d->name);
        uint64_t cum = 0;
        for (size_t b = 0; b < METRICS_BUCKETS; b++) {
            cum += x->buckets[b];
            put(&o, "%s_bucket{le=\"%g\"} %llu\n", d->name, (double)bounds_us[b] / 1e6,
                (unsigned long long)cum);
        }
        cum += x->buckets[METRICS_BUCKETS];
        put(&o, "%s_bucket{le=\"+Inf\"} %llu\n", d->name, (unsigned long long)cum);
        put(&o, "%s_sum %.9f\n%s_count %llu\n", d->name, (double)x->sum_ns / 1e9, d->name,
            (unsigned long long)x->count);
    }
    return o.ok ? o.len : 0;
}

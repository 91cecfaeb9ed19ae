#include "bench/hist.h"

#include <math.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < 2u * HIST_SUB_COUNT) {
        return (unsigned)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;
    if (shift > HIST_MAX_SHIFT) {
        return HIST_BUCKETS - 1u;
    }
    return (shift + 1u) * HIST_SUB_COUNT + (unsigned)(v >> shift) - HIST_SUB_COUNT;
}

/* The middle of bucket `i`: its lowest value plus half its width. */
static uint64_t value_of(unsigned i)
{
    if (i < 2u * HIST_SUB_COUNT) {
        return i;
    }
    unsigned shift = i / HIST_SUB_COUNT - 1u;
    uint64_t sub = (uint64_t)(i % HIST_SUB_COUNT) + HIST_SUB_COUNT;
    return (sub << shift) + ((1ull << shift) >> 1);
}

void hist_record(struct hist *h, uint64_t v)
{
    h->b[bucket_of(v)]++;
    h->count++;
    if (v > h->max) {
        h->max = v;
    }
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        dst->b[i] += src->b[i];
    }
    dst->count += src->count;
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = value_of(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

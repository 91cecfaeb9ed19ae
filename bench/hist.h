/* bench/hist.h: a fixed-size latency histogram (log-linear buckets, no allocation per sample).
 *
 * Values are nanoseconds. Below 2 * HIST_SUB_COUNT every value has its own bucket; above, each
 * power of two is split into HIST_SUB_COUNT buckets, so a reported percentile is within
 * 1 / HIST_SUB_COUNT (0.8 %) of the true value. Values past the last bucket are clamped into it;
 * the exact maximum is kept separately. */
#ifndef DURO_BENCH_HIST_H
#define DURO_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7u
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_MAX_SHIFT 36u /* the last group starts at 2^43 ns, about 2.4 hours */
#define HIST_BUCKETS ((HIST_MAX_SHIFT + 2u) * HIST_SUB_COUNT)

struct hist {
    uint64_t count;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

/* Adds one sample of `v` nanoseconds. */
void hist_record(struct hist *h, uint64_t v);

/* Adds every sample of `src` to `dst`. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value (ns) at quantile `q` in [0, 1]: the middle of the bucket holding the sample of rank
 * ceil(q * count), never above the maximum. Returns 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif

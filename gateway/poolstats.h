/* gateway/poolstats.h: the /metrics series that are per process rather than summed over the
 * pool: duro_worker_*{worker="K"} from each worker's last stats answer, and the process_*
 * metrics (CPU, RSS, open fds, start time) of the gateway and of each worker, read from
 * /proc by the gateway. Appended to the summed exposition of common/metrics. */
#ifndef DURO_GATEWAY_POOLSTATS_H
#define DURO_GATEWAY_POOLSTATS_H

#include <stddef.h>
#include <sys/types.h>

#include "common/metrics.h"

/* One worker slot as the admin query saw it. */
struct poolstats_worker {
    pid_t pid;                 /* 0 while the slot is down */
    int answered;              /* 1 when `m` holds its answer to this scrape */
    struct metrics m;
};

/* Writes the per-worker and process_* families for the gateway (pid `gateway`) and `n` worker
 * slots to `out`. Returns the length written, or 0 if `cap` is too small. A process that
 * vanished between the scrape and the read simply has no process_* series. */
size_t poolstats_render(pid_t gateway, const struct poolstats_worker *w, unsigned n, char *out,
                        size_t cap);

#endif

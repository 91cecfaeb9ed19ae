/* bench/procrss.h: resident memory of a process and all its descendants, from /proc. */
#ifndef DURO_BENCH_PROCRSS_H
#define DURO_BENCH_PROCRSS_H

#include <stdint.h>
#include <sys/types.h>

/* Sums VmRSS of `pid` and every process below it. Returns bytes, or -1 when `pid` is gone.
 * `nprocs`, when not NULL, receives the number of processes counted. */
int64_t procrss_tree(pid_t pid, unsigned *nprocs);

#endif

/* common/fdlimit.h: the process's descriptor limit (RLIMIT_NOFILE) and how much of it is used.
 *
 * Both processes raise their soft limit to the hard one at start-up, so a server started from a
 * shell with `ulimit -n 1024` still gets what the administrator allowed (as nginx's
 * worker_rlimit_nofile and HAProxy do). */
#ifndef DURO_FDLIMIT_H
#define DURO_FDLIMIT_H

#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit in force afterwards
 * (UINT64_MAX for "unlimited"), and the hard one in `*hard`; the caller logs them once its log
 * format is configured. */
uint64_t fdlimit_raise(uint64_t *hard);

/* The number of descriptors open in this process (entries of /proc/self/fd), or 0 if that
 * cannot be read. */
unsigned fdlimit_open_count(void);

#endif

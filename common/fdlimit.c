#include "common/fdlimit.h"

#include <dirent.h>
#include <stddef.h>
#include <sys/resource.h>

uint64_t fdlimit_raise(uint64_t *hard)
{
    struct rlimit rl;
    *hard = UINT64_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return UINT64_MAX;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { rl.rlim_max, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            rl.rlim_cur = rl.rlim_max;
        }
    }
    *hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

unsigned fdlimit_open_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return 0;
    }
    unsigned n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

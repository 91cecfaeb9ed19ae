#include "common/fdlimit.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "common/log.h"

uint64_t fdlimit_raise(const char *mod)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn(mod, "event=fd_limit_unknown err=%s", strerror(errno));
        return UINT64_MAX;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = { rl.rlim_max, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            rl.rlim_cur = rl.rlim_max;
        } else {
            log_warn(mod, "event=fd_limit_raise_failed err=%s", strerror(errno));
        }
    }
    uint64_t soft = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    uint64_t hard = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;
    log_info(mod, "event=fd_limit soft=%llu hard=%llu", (unsigned long long)soft,
             (unsigned long long)hard);
    return soft;
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

#include "bench/procrss.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROCRSS_MAX_PROCS 65536u
#define PROCRSS_LINE_BYTES 512u
#define KIB 1024

struct pp {
    pid_t pid;
    pid_t ppid;
};

static int64_t rss_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[PROCRSS_LINE_BYTES];
    int64_t kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtoll(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib < 0 ? -1 : kib * KIB;
}

/* The parent of `pid` from /proc/PID/stat, whose second field (comm) may hold spaces and
 * parentheses: the fields after it start past the last ')'. */
static pid_t ppid_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    char line[PROCRSS_LINE_BYTES];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    char *rp = strrchr(line, ')');
    if (rp == NULL) {
        return -1;
    }
    char state;
    int ppid;
    if (sscanf(rp + 1, " %c %d", &state, &ppid) != 2) {
        return -1;
    }
    return (pid_t)ppid;
}

int64_t procrss_tree(pid_t root, unsigned *nprocs)
{
    int64_t total = rss_of(root);
    if (total < 0) {
        return -1;
    }
    struct pp *all = malloc(PROCRSS_MAX_PROCS * sizeof *all);
    pid_t *tree = malloc(PROCRSS_MAX_PROCS * sizeof *tree);
    if (all == NULL || tree == NULL) {
        free(all);
        free(tree);
        return -1;
    }
    size_t nall = 0;
    DIR *d = opendir("/proc");
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL && nall < PROCRSS_MAX_PROCS) {
            if (!isdigit((unsigned char)e->d_name[0])) {
                continue;
            }
            pid_t p = (pid_t)atoi(e->d_name);
            pid_t pp = ppid_of(p);
            if (pp > 0) {
                all[nall].pid = p;
                all[nall].ppid = pp;
                nall++;
            }
        }
        closedir(d);
    }
    /* Breadth first from the root: a process is in the tree when its parent is. */
    size_t ntree = 0;
    tree[ntree++] = root;
    for (size_t head = 0; head < ntree; head++) {
        for (size_t i = 0; i < nall && ntree < PROCRSS_MAX_PROCS; i++) {
            if (all[i].ppid == tree[head]) {
                tree[ntree++] = all[i].pid;
                int64_t r = rss_of(all[i].pid);
                if (r > 0) {
                    total += r;
                }
            }
        }
    }
    if (nprocs != NULL) {
        *nprocs = (unsigned)ntree;
    }
    free(all);
    free(tree);
    return total;
}

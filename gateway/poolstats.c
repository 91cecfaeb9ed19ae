/* gateway/poolstats.c: per-worker and process_* series for /metrics.
 *
 * /proc reads are in-memory (procfs), bounded by the pool size and done once per scrape: they
 * do not wait on a disk. */
#include "gateway/poolstats.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/duro_limits.h"

struct proc_sample {
    int ok;
    double cpu_seconds;
    double start_time_seconds;
    uint64_t rss_bytes;
    uint64_t open_fds;
};

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

/* Seconds since the epoch at which the system booted (/proc/stat btime), or 0. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    char line[256];
    double bt = 0;
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long v;
        if (sscanf(line, "btime %llu", &v) == 1) {
            bt = (double)v;
            break;
        }
    }
    fclose(f);
    return bt;
}

static uint64_t count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    uint64_t n = 0;
    if (d == NULL) {
        return 0;
    }
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* Reads /proc/PID/stat: utime, stime (fields 14, 15), starttime (22) and rss (24). */
static struct proc_sample sample(pid_t pid, double btime)
{
    struct proc_sample s = { 0 };
    char path[64];
    char buf[DURO_PROC_STAT_MAX_BYTES];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return s;
    }
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* comm (field 2) may hold spaces and parentheses: fields resume after the last ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime, start;
    long long rss;
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                      "%*d %*d %llu %*u %lld", &utime, &stime, &start, &rss) != 4) {
        return s;
    }
    long tick = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (tick <= 0 || page <= 0) {
        return s;
    }
    s.ok = 1;
    s.cpu_seconds = (double)(utime + stime) / (double)tick;
    s.start_time_seconds = btime + (double)start / (double)tick;
    s.rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
    s.open_fds = count_fds(pid);
    return s;
}

enum pfield { P_CPU, P_RSS, P_FDS, P_START, P_COUNT };

static const struct {
    const char *name, *type, *help;
} pdefs[P_COUNT] = {
    { "process_cpu_seconds_total", "counter", "User and system CPU time, in seconds" },
    { "process_resident_memory_bytes", "gauge", "Resident memory, in bytes" },
    { "process_open_fds", "gauge", "Open file descriptors" },
    { "process_start_time_seconds", "gauge", "Start time since the epoch, in seconds" },
};

static void put_process(struct out *o, enum pfield f, const struct proc_sample *s,
                        const char *labels)
{
    if (!s->ok) {
        return;
    }
    switch (f) {
    case P_CPU: put(o, "%s{%s} %.2f\n", pdefs[f].name, labels, s->cpu_seconds); break;
    case P_RSS:
        put(o, "%s{%s} %llu\n", pdefs[f].name, labels, (unsigned long long)s->rss_bytes);
        break;
    case P_FDS:
        put(o, "%s{%s} %llu\n", pdefs[f].name, labels, (unsigned long long)s->open_fds);
        break;
    default: put(o, "%s{%s} %.2f\n", pdefs[f].name, labels, s->start_time_seconds); break;
    }
}

/* The per-worker families: what tells one worker from another (which one is down, which one
 * holds the sockets). The counters count for the worker process's life. */
static const struct {
    const char *name, *type, *help, *extra;
    enum metric_id id;
} wdefs[] = {
    { "duro_worker_websockets_open", "gauge", "WebSocket connections open, per worker", "",
      M_WS_OPEN },
    { "duro_worker_objects", "gauge", "Objects, per worker and state", ",state=\"live\"",
      M_OBJ_LIVE },
    { NULL, NULL, NULL, ",state=\"hibernated\"", M_OBJ_HIBERNATED },
    { "duro_worker_messages_in_total", "counter",
      "WebSocket messages received by the worker slot (its restarts keep counting)", "",
      M_MSGS_IN },
    { "duro_worker_messages_out_total", "counter",
      "WebSocket messages sent by the worker slot (its restarts keep counting)", "", M_MSGS_OUT },
};

size_t poolstats_render(pid_t gateway, const struct poolstats_worker *w, unsigned n, char *out,
                        size_t cap)
{
    struct out o = { out, 0, cap, cap > 0 };
    double btime = boot_time();
    struct proc_sample gs = sample(gateway, btime);
    struct proc_sample ws[DURO_WORKERS_MAX_COUNT];
    if (n > DURO_WORKERS_MAX_COUNT) {
        n = DURO_WORKERS_MAX_COUNT;
    }
    for (unsigned i = 0; i < n; i++) {
        ws[i] = w[i].pid != 0 ? sample(w[i].pid, btime) : (struct proc_sample){ 0 };
    }

    put(&o, "# HELP duro_worker_up 1 while the worker process runs, per worker\n"
            "# TYPE duro_worker_up gauge\n");
    for (unsigned i = 0; i < n; i++) {
        put(&o, "duro_worker_up{worker=\"%u\"} %d\n", i, w[i].pid != 0);
    }
    for (size_t d = 0; d < sizeof wdefs / sizeof wdefs[0]; d++) {
        if (wdefs[d].name != NULL) {
            put(&o, "# HELP %s %s\n# TYPE %s %s\n", wdefs[d].name, wdefs[d].help, wdefs[d].name,
                wdefs[d].type);
        }
        const char *name = wdefs[d].name != NULL ? wdefs[d].name : wdefs[d - 1].name;
        for (unsigned i = 0; i < n; i++) {
            if (w[i].answered) {
                put(&o, "%s{worker=\"%u\"%s} %llu\n", name, i, wdefs[d].extra,
                    (unsigned long long)w[i].m.v[wdefs[d].id]);
            }
        }
    }
    for (int f = 0; f < P_COUNT; f++) {
        put(&o, "# HELP %s %s (the gateway, and each worker)\n# TYPE %s %s\n", pdefs[f].name,
            pdefs[f].help, pdefs[f].name, pdefs[f].type);
        put_process(&o, (enum pfield)f, &gs, "proc=\"gateway\"");
        for (unsigned i = 0; i < n; i++) {
            char labels[48];
            snprintf(labels, sizeof labels, "proc=\"worker\",worker=\"%u\"", i);
            put_process(&o, (enum pfield)f, &ws[i], labels);
        }
    }
    return o.ok ? o.len : 0;
}

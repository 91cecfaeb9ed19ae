/* worker/main.c: duro-worker: started by duro-gateway with its channel on fd 3. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/fdlimit.h"
#include "common/log.h"
#include "common/version.h"
#include "worker/class_loader.h"
#include "worker/intake.h"
#include "worker/request.h"
#include "worker/object.h"
#include "worker/session.h"
#include "worker/storage_api.h"
#include "worker/worker.h"

#define EXIT_USAGE 2

static void on_drain_check(uv_timer_t *t)
{
    struct worker *w = t->data;
    if (w->sessions_open == 0) {
        log_info("main", "event=stopped");
        exit(0);
    }
}

static void on_deadline(uv_timer_t *t)
{
    struct worker *w = t->data;
    log_warn("main", "event=stopped_with_open_sockets sockets=%llu",
             (unsigned long long)w->sessions_open);
    exit(0);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct worker *w = sig->data;
    if (w->stopping) {
        return;
    }
    w->stopping = 1;
    log_info("main", "event=stopping signal=%d sockets=%llu", signum,
             (unsigned long long)w->sessions_open);
    session_close_all(w, "server shutting down");
    static uv_timer_t poll, deadline;
    uv_timer_init(w->loop, &poll);
    uv_timer_init(w->loop, &deadline);
    poll.data = deadline.data = w;
    uv_timer_start(&poll, on_drain_check, 0, 20);
    uv_timer_start(&deadline, on_deadline, w->conf.drain_timeout_ms, 0);
}

/* `duro-worker --check-classes FILE`: loads the classes of a config as a worker would, so the
 * gateway can refuse to start with the loader's own words. */
static int check_classes(const char *path)
{
    static struct worker w;
    char err[512];
    char *text = conf_read_file(path, err, sizeof err);
    if (text == NULL || conf_parse(&w.conf, text, path, err, sizeof err) != 0 ||
        classes_load(&w, &w.conf, err, sizeof err) != 0) {
        dprintf(STDERR_FILENO, "%s\n", err);
        free(text);
        return EXIT_USAGE;
    }
    free(text);
    return 0;
}

static void on_prepare(uv_prepare_t *h)
{
    (void)h;
    log_flush(); /* the loop is about to wait: write the lines of this iteration */
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--check-classes") == 0) {
        return check_classes(argv[2]);
    }
    if (argc > 1) {
        if (strcmp(argv[1], "--version") == 0) {
            printf("duro-worker %s\n", DURO_VERSION_FULL);
            return 0;
        }
        /* dprintf, not stdio's stderr: referring to the stderr object would export it from the
         * executable (a copy relocation) beside the duro_* API. */
        dprintf(STDERR_FILENO,
                "usage: duro-worker (started by duro-gateway, channel on fd %d)\n"
                "       duro-worker --check-classes CONFIG\n",
                DURO_WORKER_CHANNEL_FD);
        return strcmp(argv[1], "--help") == 0 ? 0 : EXIT_USAGE;
    }
    log_init("worker", LOG_INFO);
    /* No orphans: if the gateway dies, so do we (the channel's EOF covers the rest). */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1) {
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* SIGUSR2 is the gateway's (upgrade in place): `systemctl kill -s USR2` without
     * --kill-whom=main reaches every process of the unit, and must not stop a worker. */
    signal(SIGUSR2, SIG_IGN);

    /* Commits of different objects run side by side on libuv's pool, each waiting on its
     * fsync: more threads than libuv's 4 let more objects' commits share the disk's flushes. */
    setenv("UV_THREADPOOL_SIZE", DURO_STORAGE_COMMIT_THREADS, 0);
    static struct worker w; /* holds the shared read buffer: keep it off the stack */
    w.loop = uv_default_loop();
    w.version = DURO_VERSION_FULL;
    w.reg = registry_new(&w);
    char err[256];
    if (w.reg == NULL || session_worker_init(&w) != 0 || request_worker_init(&w) != 0 ||
        storage_worker_init(&w, err, sizeof err) != 0) {
        log_error("main", "event=oom");
        return 1;
    }
    w.fd_soft = fdlimit_raise(&w.fd_hard);
    int rc = intake_start(&w);
    if (rc != 0) {
        log_error("main", "event=no_channel fd=%d err=%s hint=\"duro-worker is started by "
                          "duro-gateway\"",
                  DURO_WORKER_CHANNEL_FD, uv_strerror(rc));
        return EXIT_USAGE;
    }
    uv_signal_t sigterm, sigint;
    uv_signal_init(w.loop, &sigterm);
    uv_signal_init(w.loop, &sigint);
    sigterm.data = sigint.data = &w;
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_prepare_t log_prepare;
    uv_prepare_init(w.loop, &log_prepare);
    uv_prepare_start(&log_prepare, on_prepare);
    uv_unref((uv_handle_t *)&log_prepare);
    w.fd_base = fdlimit_open_count();
    uv_run(w.loop, UV_RUN_DEFAULT);
    return 0;
}

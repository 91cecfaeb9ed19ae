/* gateway/main.c: duro-gateway: flags, config, signals, and the event loop. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/fdlimit.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/netaddr.h"
#include "common/version.h"
#include "gateway/admin.h"
#include "gateway/cluster.h"
#include "gateway/conn.h"
#include "gateway/listener.h"
#include "gateway/gateway.h"
#include "gateway/notify.h"
#include "gateway/supervisor.h"
#include "gateway/upgrade.h"

#define EXIT_USAGE 2

extern char **environ;
#define STOP_GRACE_MS 2000u /* on top of the drain timeout, before workers are killed */

static const char usage[] =
    "usage: duro-gateway [options]\n"
    "  -c, --config FILE      read the config from FILE (default: the embedded config/duro.ini)\n"
    "  -l, --listen HOST:PORT accept connections here (overrides [server] listen; port 0 = any)\n"
    "  -w, --workers N        worker processes (overrides [server] workers; 0 = one per CPU)\n"
    "  -a, --admin HOST:PORT  admin listener (overrides [server] admin; 'off' disables)\n"
    "      --worker-bin PATH  the duro-worker executable (default: next to duro-gateway)\n"
    "      --check            validate the config, print 'config ok' and exit\n"
    "      --node NAME=HOST:PORT[,ADMINHOST:PORT]\n"
    "                         a node of the cluster (repeat; replaces the config's [node] list)\n"
    "      --self NAME        this node's name in the cluster (overrides [cluster] self)\n"
    "      --print-haproxy    print the HAProxy configuration for the nodes and exit\n"
    "  -h, --help             show this help\n"
    "  -V, --version          print the version\n";

static int check_classes_spawn(const struct gateway *gw, const struct conf *c,
                               const char *config_path);

/* A SIGHUP reload whose [class]es are being loaded by a throw-away duro-worker. */
struct reload {
    uv_process_t proc;
    struct gateway *gw;
    char *text;
    int ok;
    struct conf next;
};

/* [storage] dir must be a folder where the workers can create files: checked by creating one
 * (as root, permission bits alone would not say). Only the default folder is created. Returns 0,
 * or -1 after printing a line naming the path. */
static int storage_dir_check(const char *dir)
{
    if (strcmp(dir, DURO_STORAGE_DIR_DEFAULT) == 0) {
        (void)mkdir(dir, 0750);
    }
    struct stat stbuf;
    const char *why = NULL;
    if (stat(dir, &stbuf) != 0) {
        why = strerror(errno);
    } else if (!S_ISDIR(stbuf.st_mode)) {
        why = "not a directory";
    } else {
        char probe[DURO_STORAGE_DIR_MAX_BYTES + 32];
        snprintf(probe, sizeof probe, "%s/.duro-probe-XXXXXX", dir);
        int fd = mkstemp(probe);
        if (fd < 0) {
            why = strerror(errno);
        } else {
            close(fd);
            unlink(probe);
        }
    }
    if (why != NULL) {
        fprintf(stderr, "duro-gateway: [storage] dir %s is not usable: %s\n", dir, why);
        return -1;
    }
    return 0;
}

/* The file of a [class] as it is on disk now; all-zero when it cannot be read. */
static void class_stamp(const char *path, uint64_t out[4])
{
    struct stat st;
    memset(out, 0, 4 * sizeof out[0]);
    if (stat(path, &st) == 0) {
        out[0] = (uint64_t)st.st_dev;
        out[1] = (uint64_t)st.st_ino;
        out[2] = (uint64_t)st.st_size;
        out[3] = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    }
}

/* Adds c's classes to those seen since start. A worker loads a class once and keeps its code,
 * so new code (the file replaced, or another path) needs new workers: `*changed` is set, and
 * the caller replaces them. At most DURO_CLASSES_MAX_COUNT class names over the process's
 * life. Returns 0, or -1 (logged) to refuse. */
static int remember_classes(struct gateway *gw, const struct conf *c, int *changed)
{
    struct conf_class seen[DURO_CLASSES_MAX_COUNT];
    uint64_t stamps[DURO_CLASSES_MAX_COUNT][4];
    unsigned n = gw->nclasses_seen;
    memcpy(seen, gw->classes_seen, sizeof seen);
    memcpy(stamps, gw->class_stamps, sizeof stamps);
    for (unsigned i = 0; i < c->nclasses; i++) {
        unsigned j = 0;
        while (j < n && strcmp(seen[j].name, c->classes[i].name) != 0) {
            j++;
        }
        uint64_t now[4];
        class_stamp(c->classes[i].path, now);
        if (j < n) {
            if (strcmp(seen[j].path, c->classes[i].path) != 0 ||
                memcmp(stamps[j], now, sizeof now) != 0) {
                log_info("main", "event=class_changed class=%s path=%s action=replace_workers",
                         c->classes[i].name, c->classes[i].path);
                seen[j] = c->classes[i];
                memcpy(stamps[j], now, sizeof now);
                *changed = 1;
            }
            continue;
        }
        if (n == DURO_CLASSES_MAX_COUNT) {
            log_error("main", "event=reload_failed err=\"more than %u classes since start\" "
                              "action=\"kept the running config; restart to load more\"",
                      DURO_CLASSES_MAX_COUNT);
            return -1;
        }
        memcpy(stamps[n], now, sizeof now);
        seen[n++] = c->classes[i];
    }
    memcpy(gw->classes_seen, seen, sizeof seen);
    memcpy(gw->class_stamps, stamps, sizeof stamps);
    gw->nclasses_seen = n;
    return 0;
}

/* [server] workers as a pool size: 0 is one per CPU. */
static unsigned pool_size(unsigned workers)
{
    if (workers != 0) {
        return workers;
    }
    unsigned cpus = uv_available_parallelism();
    return cpus < 1 ? 1 : cpus > DURO_WORKERS_MAX_COUNT ? DURO_WORKERS_MAX_COUNT : cpus;
}

static void on_stopped(struct gateway *gw)
{
    log_info("main", "event=stopped");
    uv_stop(gw->loop);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct gateway *gw = sig->data;
    if (gw->stopping) {
        return;
    }
    gw->stopping = 1;
    if (gw->reload != NULL) {
        uv_process_kill(&gw->reload->proc, SIGKILL);
    }
    notify_stopping();
    log_info("main", "event=stopping signal=%d open_conns=%llu", signum,
             (unsigned long long)gw->open_conns);
    if (upgrade_stop(gw)) {
        return; /* retiring: the successor serves, our workers stop now */
    }
    listener_accept_stop(gw);
    admin_stop(gw);
    conn_close_all(gw);
    /* Workers send 1001 to every socket and exit once all have closed, within the drain
     * timeout; the grace covers their exit. */
    supervisor_stop(gw->sup, (uint64_t)gw->conf.drain_timeout_ms + STOP_GRACE_MS, on_stopped);
}

static void reload(struct gateway *gw);

/* A reload is over (applied or refused): tell the service manager we are ready again. */
static void reload_done(struct gateway *gw)
{
    char bound[80];
    netaddr_local(&gw->listener, bound, sizeof bound);
    notify_ready(bound);
}

/* Applies a parsed and checked config. Routes, limits and timeouts apply to new connections,
 * and workers get the new text; open sockets stay. What cannot change live is logged and kept. */
static void apply(struct gateway *gw, struct conf *next, char *text)
{
    int classes_changed = 0;
    if (remember_classes(gw, next, &classes_changed) != 0) {
        free(text);
        return;
    }
    /* Kept for the next start: the listening sockets. A flag given on the
     * command line wins over the file, so a difference there is not news. */
    if (!gw->listen_from_flag && (strcmp(next->listen_host, gw->conf.listen_host) != 0 ||
                                  next->listen_port != gw->conf.listen_port)) {
        log_warn("main", "event=reload_kept key=listen reason=\"needs a restart\"");
    }
    if (!gw->admin_from_flag && (strcmp(next->admin_host, gw->conf.admin_host) != 0 ||
                                 next->admin_port != gw->conf.admin_port)) {
        log_warn("main", "event=reload_kept key=admin reason=\"needs a restart\"");
    }
    /* The pool size changes live: only the objects whose rendezvous slot changes move. */
    unsigned resize_to = 0;
    if (!gw->workers_from_flag && next->workers != gw->conf_workers_configured) {
        resize_to = pool_size(next->workers);
        gw->conf_workers_configured = next->workers;
    } else {
        next->workers = gw->conf.workers;
    }
    memcpy(next->listen_host, gw->conf.listen_host, sizeof next->listen_host);
    next->listen_port = gw->conf.listen_port;
    memcpy(next->admin_host, gw->conf.admin_host, sizeof next->admin_host);
    next->admin_port = gw->conf.admin_port;
    gw->conf = *next;
    conf_apply_log(&gw->conf);
    if (gw->conf_text != conf_default_text) {
        free(gw->conf_text);
    }
    gw->conf_text = text;
    supervisor_reconfigure(gw->sup);
    if (resize_to != 0 && resize_to != gw->nworkers && supervisor_resize(gw->sup, resize_to) != 0) {
        log_error("main", "event=resize_failed workers=%u", resize_to);
    }
    if (classes_changed) {
        supervisor_replace_all(gw->sup);
    }
    log_info("main", "event=reloaded config=%s routes=%u workers=%u", gw->config_path,
             gw->conf.nroutes, gw->nworkers);
}

static void on_check_closed(uv_handle_t *h)
{
    struct reload *r = h->data;
    struct gateway *gw = r->gw;
    gw->reload = NULL;
    if (r->ok && !gw->stopping) {
        apply(gw, &r->next, r->text);
    } else {
        free(r->text);
    }
    free(r);
    if (gw->reload_again && !gw->stopping) {
        gw->reload_again = 0;
        reload(gw); /* a SIGHUP came during the check: the file may have changed again */
        return;
    }
    if (!gw->stopping) {
        reload_done(gw);
    }
}

static void on_check_exit(uv_process_t *p, int64_t status, int signal)
{
    struct reload *r = p->data;
    r->ok = status == 0 && signal == 0;
    if (!r->ok) {
        log_error("main", "event=reload_failed err=\"a [class] cannot be loaded\" status=%lld "
                          "signal=%d action=\"kept the running config\"",
                  (long long)status, signal);
    }
    uv_close((uv_handle_t *)p, on_check_closed);
}

/* SIGHUP: re-read the config file, check the NEW config's classes in a child process without
 * blocking the loop, and apply it when the child exits 0. */
static void reload(struct gateway *gw)
{
    if (gw->reload != NULL) {
        gw->reload_again = 1;
        log_info("main", "event=reload_queued reason=\"a class check is running\"");
        return;
    }
    char err[512];
    char *text = conf_read_file(gw->config_path, err, sizeof err);
    struct reload *r = text != NULL ? calloc(1, sizeof *r) : NULL;
    if (text != NULL && r == NULL) {
        snprintf(err, sizeof err, "out of memory");
    }
    if (r == NULL || conf_parse(&r->next, text, gw->config_path, err, sizeof err) != 0) {
        log_error("main", "event=reload_failed err=\"%s\" action=\"kept the running config\"",
                  err);
        free(text);
        free(r);
        reload_done(gw);
        return;
    }
    if (r->next.nclasses == 0) {
        apply(gw, &r->next, text);
        free(r);
        reload_done(gw);
        return;
    }
    r->gw = gw;
    r->text = text;
    r->proc.data = r;
    char *args[] = { gw->worker_path, "--check-classes", (char *)gw->config_path, NULL };
    uv_stdio_container_t stdio[3] = {
        { .flags = UV_IGNORE },
        { .flags = UV_INHERIT_FD, .data.fd = 2 }, /* the loader's messages go to our log */
        { .flags = UV_INHERIT_FD, .data.fd = 2 },
    };
    uv_process_options_t opt = {
        .exit_cb = on_check_exit,
        .file = gw->worker_path,
        .args = args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(gw->loop, &r->proc, &opt);
    if (rc != 0) {
        log_error("main", "event=reload_failed err=\"cannot run %s: %s\" "
                          "action=\"kept the running config\"",
                  gw->worker_path, uv_strerror(rc));
        uv_close((uv_handle_t *)&r->proc, on_check_closed); /* r->ok is 0 */
    }
    gw->reload = r;
}

static void on_reload(uv_signal_t *sig, int signum)
{
    struct gateway *gw = sig->data;
    (void)signum;
    if (gw->stopping || gw->retiring) {
        return; /* a retiring gateway's successor has the config */
    }
    /* Every outcome, refused or applied, ends the reload: the service manager hears READY=1
     * (reload_done) once the check and the apply are over. */
    notify_reloading();
    if (gw->config_path == NULL) {
        log_info("main", "event=reload_skipped reason=\"no config file (embedded config)\"");
        reload_done(gw);
        return;
    }
    reload(gw);
}

/* SIGUSR2: upgrade in place to the binaries on disk (gateway/upgrade.c). */
static void on_upgrade(uv_signal_t *sig, int signum)
{
    (void)signum;
    upgrade_begin(sig->data);
}

/* Finds duro-worker: --worker-bin, $DURO_WORKER, next to us, or in the build tree's worker/. */
static int find_worker(struct gateway *gw, const char *flag)
{
    const char *env = getenv("DURO_WORKER");
    if (flag != NULL || (env != NULL && env[0] != '\0')) {
        snprintf(gw->worker_path, sizeof gw->worker_path, "%s", flag ? flag : env);
        return access(gw->worker_path, X_OK);
    }
    char exe[2048];
    size_t len = sizeof exe;
    if (uv_exepath(exe, &len) != 0) {
        return -1;
    }
    char *slash = strrchr(exe, '/');
    if (slash == NULL) {
        return -1;
    }
    *slash = '\0';
    snprintf(gw->worker_path, sizeof gw->worker_path, "%s/duro-worker", exe);
    if (access(gw->worker_path, X_OK) == 0) {
        return 0;
    }
    snprintf(gw->worker_path, sizeof gw->worker_path, "%s/../worker/duro-worker", exe);
    return access(gw->worker_path, X_OK);
}

/* Loads the config's [class] shared objects in a throw-away duro-worker, so that a missing file,
 * symbol or API version stops the gateway at start-up with the loader's own message. */
static int check_classes_spawn(const struct gateway *gw, const struct conf *c,
                               const char *config_path)
{
    if (c->nclasses == 0) {
        return 0;
    }
    char *const args[] = { (char *)gw->worker_path, "--check-classes", (char *)config_path,
                           NULL };
    pid_t pid;
    int rc = posix_spawn(&pid, gw->worker_path, NULL, NULL, args, environ);
    if (rc != 0) {
        fprintf(stderr, "duro-gateway: cannot run %s: %s\n", gw->worker_path, strerror(rc));
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "duro-gateway: config: %s: a [class] cannot be loaded (see above)\n",
                config_path);
        return -1;
    }
    return 0;
}

static void on_prepare(uv_prepare_t *h)
{
    (void)h;
    log_flush(); /* the loop is about to wait: write the lines of this iteration */
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, NULL);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' }, { "listen", required_argument, NULL, 'l' },
        { "workers", required_argument, NULL, 'w' }, { "worker-bin", required_argument, NULL, 'B' },
        { "check", no_argument, NULL, 'C' },         { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },       { "admin", required_argument, NULL, 'a' },
        { "node", required_argument, NULL, 'N' },    { "self", required_argument, NULL, 'S' },
        { "print-haproxy", no_argument, NULL, 'H' }, { NULL, 0, NULL, 0 },
    };
    const char *config_path = NULL, *listen = NULL, *workers = NULL, *worker_bin = NULL;
    const char *admin = NULL, *self = NULL;
    const char *nodes[DURO_NODES_MAX_COUNT];
    unsigned nnodes = 0;
    int print_haproxy = 0;
    int check = 0;
    int o;
    (void)upgrade_save_args(argc, argv); /* before getopt permutes argv; refused later if -1 */

#ifdef M_MMAP_THRESHOLD
    /* Large buffers (request bodies, /objects answers) are transient: see duro_limits.h. */
    (void)mallopt(M_MMAP_THRESHOLD, DURO_GW_MALLOC_MMAP_THRESHOLD_BYTES);
    (void)mallopt(M_TRIM_THRESHOLD, DURO_GW_MALLOC_TRIM_THRESHOLD_BYTES);
#endif

    while ((o = getopt_long(argc, argv, "c:l:w:a:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'a': admin = optarg; break;
        case 'S': self = optarg; break;
        case 'H': print_haproxy = 1; break;
        case 'N':
            if (nnodes == DURO_NODES_MAX_COUNT) {
                fprintf(stderr, "duro-gateway: more than %u --node flags\n", DURO_NODES_MAX_COUNT);
                return EXIT_USAGE;
            }
            nodes[nnodes++] = optarg;
            break;
        case 'c': config_path = optarg; break;
        case 'l': listen = optarg; break;
        case 'w': workers = optarg; break;
        case 'B': worker_bin = optarg; break;
        case 'C': check = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("duro-gateway %s\n", DURO_VERSION_FULL); return 0;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "duro-gateway: unexpected argument '%s'\n%s", argv[optind], usage);
        return EXIT_USAGE;
    }

    static struct gateway gw; /* large (the route table): keep it off the stack */
    char err[512];
    static char *config_abs; /* reachable until exit, like gw */
    if (config_path != NULL) {
        /* Absolute, so that relative [class] paths resolve against the file's directory in
         * workers and after a reload, whatever the working directory. */
        config_abs = realpath(config_path, NULL);
        if (config_abs != NULL) {
            config_path = config_abs;
        }
        gw.conf_text = conf_read_file(config_path, err, sizeof err);
        if (gw.conf_text == NULL) {
            fprintf(stderr, "duro-gateway: config: %s\n", err);
            return EXIT_USAGE;
        }
        gw.conf_origin = config_path;
    } else {
        gw.conf_text = (char *)conf_default_text;
        gw.conf_origin = CONF_ORIGIN_EMBEDDED;
    }
    if (conf_parse(&gw.conf, gw.conf_text, gw.conf_origin, err, sizeof err) != 0) {
        fprintf(stderr, "duro-gateway: config: %s\n", err);
        return EXIT_USAGE;
    }
    if (listen != NULL && conf_parse_bind(listen, gw.conf.listen_host,
                                              sizeof gw.conf.listen_host,
                                              &gw.conf.listen_port) != 0) {
        fprintf(stderr,
                "duro-gateway: --listen: '%s' is not IP:PORT (numeric; names are not resolved)\n",
                listen);
        return EXIT_USAGE;
    }
    if (admin != NULL) {
        if (strcmp(admin, "off") == 0) {
            gw.conf.admin_host[0] = '\0';
        } else if (conf_parse_bind(admin, gw.conf.admin_host, sizeof gw.conf.admin_host,
                                       &gw.conf.admin_port) != 0) {
            fprintf(stderr, "duro-gateway: --admin: '%s' is not HOST:PORT or off\n", admin);
            return EXIT_USAGE;
        }
    }
    if (nnodes > 0) {
        gw.conf.nnodes = 0; /* the command line's list replaces the config's */
        for (unsigned i = 0; i < nnodes; i++) {
            if (conf_add_node(&gw.conf, nodes[i], err, sizeof err) != 0) {
                fprintf(stderr, "duro-gateway: %s\n", err);
                return EXIT_USAGE;
            }
        }
    }
    if (self != NULL) {
        snprintf(gw.conf.self, sizeof gw.conf.self, "%s", self);
    }
    if (gw.conf.self[0] != '\0' && cluster_self(&gw.conf) < 0) {
        fprintf(stderr, "duro-gateway: self '%s' is not one of the %u nodes\n", gw.conf.self,
                gw.conf.nnodes);
        return EXIT_USAGE;
    }
    if (print_haproxy) {
        if (cluster_print_haproxy(&gw.conf, stdout, err, sizeof err) != 0) {
            fprintf(stderr, "duro-gateway: --print-haproxy: %s\n", err);
            return EXIT_USAGE;
        }
        return 0;
    }
    gw.conf_workers_configured = gw.conf.workers;
    gw.listen_from_flag = listen != NULL;
    gw.admin_from_flag = admin != NULL;
    gw.workers_from_flag = workers != NULL;
    int unused;
    (void)remember_classes(&gw, &gw.conf, &unused); /* <= DURO_CLASSES_MAX_COUNT by the parser */
    if (workers != NULL) {
        char *end;
        long n = strtol(workers, &end, 10);
        if (workers[0] == '\0' || *end != '\0' || n < 0 || n > DURO_WORKERS_MAX_COUNT) {
            fprintf(stderr, "duro-gateway: --workers: '%s' is not a number from 0 to %u\n",
                    workers, DURO_WORKERS_MAX_COUNT);
            return EXIT_USAGE;
        }
        gw.conf.workers = (unsigned)n;
    }
    log_init("gateway", (enum log_level)gw.conf.log_level);
    conf_apply_log(&gw.conf);
    if (find_worker(&gw, worker_bin) != 0) {
        log_error("main", "event=no_worker_binary path=%s hint=\"use --worker-bin PATH\"",
                  gw.worker_path);
        return EXIT_USAGE;
    }
    if (check_classes_spawn(&gw, &gw.conf, config_path) != 0) {
        return EXIT_USAGE;
    }
    if (storage_dir_check(gw.conf.storage_dir) != 0) {
        return EXIT_USAGE;
    }
    if (check) {
        printf("config ok\n");
        return 0;
    }
    struct upgrade_fds fds;
    int inherited = upgrade_inherited(&fds);
    if (inherited < 0) {
        return EXIT_USAGE;
    }
    gw.version = DURO_VERSION_FULL;
    gw.nworkers = pool_size(gw.conf.workers);
    gw.hdr_scratch = calloc(DURO_HTTP_HEADERS_MAX_COUNT_MAX, sizeof gw.hdr_scratch[0]);
    if (gw.hdr_scratch == NULL) {
        return 1;
    }
    /* A client that disconnects mid-write must not kill the gateway. */
    signal(SIGPIPE, SIG_IGN);
    uint64_t fd_hard;
    uint64_t fd_soft = fdlimit_raise(&fd_hard);
    log_info("main", "event=fd_limit soft=%llu hard=%llu", (unsigned long long)fd_soft,
             (unsigned long long)fd_hard);

    gw.loop = uv_default_loop();
    gw.config_path = config_path;
    uv_signal_t sigterm, sigint, sighup, sigusr2;
    uv_signal_init(gw.loop, &sigterm);
    uv_signal_init(gw.loop, &sigint);
    uv_signal_init(gw.loop, &sighup);
    uv_signal_init(gw.loop, &sigusr2);
    sigterm.data = sigint.data = sighup.data = sigusr2.data = &gw;
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sighup, on_reload, SIGHUP);
    uv_signal_start(&sigusr2, on_upgrade, SIGUSR2);
    uv_prepare_t log_prepare;
    uv_prepare_init(gw.loop, &log_prepare);
    uv_prepare_start(&log_prepare, on_prepare);
    uv_unref((uv_handle_t *)&log_prepare);

    /* An upgrade's successor takes the predecessor's sockets (the same kernel queues) and
     * accepts only once its workers answer (upgrade.c); otherwise bind and accept now. */
    if (inherited ? listener_listen_fd(&gw, fds.listen) != 0
                  : listener_listen(&gw, gw.conf.listen_host, gw.conf.listen_port) != 0) {
        return 1;
    }
    if (inherited && fds.admin >= 0 ? admin_start_fd(&gw, fds.admin) != 0
        : gw.conf.admin_host[0] != '\0' &&
              admin_start(&gw, gw.conf.admin_host, gw.conf.admin_port) != 0) {
        return 1;
    }
    gw.sup = supervisor_start(&gw);
    if (gw.sup == NULL) {
        return 1;
    }
    admin_attach(&gw);
    if (upgrade_init(&gw, inherited ? &fds : NULL) != 0) {
        return 1;
    }
    if (!inherited) {
        char bound[80];
        netaddr_local(&gw.listener, bound, sizeof bound);
        log_always("main", "event=listening listen=%s admin=%s workers=%u config=%s version=%s",
                   bound, admin_address(&gw), gw.nworkers, gw.conf_origin, DURO_VERSION_FULL);
        notify_ready(bound); /* the listeners are bound and every worker is spawned */
    }

    uv_run(gw.loop, UV_RUN_DEFAULT);
    uv_walk(gw.loop, close_walk, NULL);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    if (gw.reload != NULL) { /* a class check was still running at exit: its handle is closed */
        free(gw.reload->text);
        free(gw.reload);
    }
    int rc = uv_loop_close(gw.loop);
    if (rc != 0) {
        log_warn("main", "event=loop_not_closed err=%s", uv_err_name(rc));
    }
    free(gw.hdr_scratch);
    if (gw.conf_text != conf_default_text) {
        free(gw.conf_text);
    }
    return 0;
}

#include "gateway/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/chan.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/netaddr.h"
#include "gateway/admin.h"
#include "gateway/conn.h"
#include "gateway/dispatch.h"
#include "gateway/listener.h"
#include "gateway/notify.h"
#include "gateway/preflight.h"
#include "gateway/supervisor.h"

extern char **environ;

#define ARGS_MAX_COUNT 256 /* duro-gateway's flags: each at most once, --node up to 64 times */

enum state {
    UP_IDLE = 0,
    UP_CHECKING,  /* a pre-flight run of the new binary */
    UP_STARTING,  /* the successor runs, not ready yet */
    UP_RETIRING,  /* the successor serves; our workers and connections leave */
    UP_FINISHED,  /* UPGRADE_DONE sent: exiting */
    UP_INHERITED, /* a successor, its predecessor still retiring (the link is open) */
};

struct upgrade {
    struct gateway *gw;
    enum state state;
    struct preflight *check; /* the pre-flight run under way */
    char gw_version[DURO_UPGRADE_VERSION_MAX_BYTES + 1];
    char worker_version[DURO_UPGRADE_VERSION_MAX_BYTES + 1];
    uv_process_t proc;   /* the successor, seen from its predecessor */
    int proc_open;       /* spawned (or failed to), not closed yet */
    int successor_pid;
    uv_timer_t timer;    /* the ready timeout, then the connections' drain */
    struct chan *link;
    uint64_t begun_ms;
    uint64_t forwarded;  /* hand-offs and sockets sent over the link */
    int workers_gone;
    int done_seen;       /* successor: the predecessor said UPGRADE_DONE */
};

static struct {
    char exe[4096];
    int argc;
    char *argv[ARGS_MAX_COUNT + 2];
} saved;

static struct upgrade the_upgrade; /* one per process, reachable until exit */

/* ---- start-up ---- */

int upgrade_save_args(int argc, char **argv)
{
    saved.exe[0] = '\0';
    if (argc > ARGS_MAX_COUNT) {
        return -1;
    }
    /* The path we were started by, not the file it resolves to: a deploy that moves a symlink
     * (bin/duro-gateway -> releases/N/duro-gateway) must start the new target. */
    if (argv[0] != NULL && strchr(argv[0], '/') != NULL) {
        char cwd[2048];
        if (argv[0][0] == '/') {
            snprintf(saved.exe, sizeof saved.exe, "%s", argv[0]);
        } else if (getcwd(cwd, sizeof cwd) != NULL) {
            snprintf(saved.exe, sizeof saved.exe, "%s/%s", cwd, argv[0]);
        }
    }
    size_t len = sizeof saved.exe;
    if (saved.exe[0] == '\0' && uv_exepath(saved.exe, &len) != 0) { /* found on $PATH */
        saved.exe[0] = '\0';
        return -1;
    }
    saved.argc = argc;
    for (int i = 0; i < argc; i++) {
        saved.argv[i] = argv[i];
    }
    saved.argv[argc] = NULL;
    return 0;
}

static int parse_fd(const char *s, const char *name, int *out)
{
    size_t n = strlen(name);
    if (strncmp(s, name, n) != 0 || s[n] != '=') {
        return 0;
    }
    char *end;
    long v = strtol(s + n + 1, &end, 10);
    if (end == s + n + 1 || (*end != ',' && *end != '\0') || v < 3 || v > 1023) {
        return -1;
    }
    *out = (int)v;
    return 1;
}

int upgrade_inherited(struct upgrade_fds *fds)
{
    fds->listen = fds->admin = fds->link = -1;
    const char *env = getenv(DURO_UPGRADE_FDS_ENV);
    if (env == NULL) {
        return 0;
    }
    char copy[128];
    snprintf(copy, sizeof copy, "%s", env);
    unsetenv(DURO_UPGRADE_FDS_ENV); /* our workers and our own successor start clean */
    for (const char *p = copy; *p != '\0';) {
        int r = parse_fd(p, "listen", &fds->listen);
        if (r == 0) {
            r = parse_fd(p, "admin", &fds->admin);
        }
        if (r == 0) {
            r = parse_fd(p, "link", &fds->link);
        }
        if (r != 1) {
            fprintf(stderr, "duro-gateway: %s='%s' is not listen=N[,admin=N],link=N\n",
                    DURO_UPGRADE_FDS_ENV, copy);
            return -1;
        }
        const char *comma = strchr(p, ',');
        p = comma != NULL ? comma + 1 : p + strlen(p);
    }
    if (fds->listen < 0 || fds->link < 0) {
        fprintf(stderr, "duro-gateway: %s='%s' names no listen or no link descriptor\n",
                DURO_UPGRADE_FDS_ENV, copy);
        return -1;
    }
    /* Ours alone: the workers we spawn must not hold the listener (it would outlive us) or
     * the link (its end must reach the predecessor when we close it). */
    int all[3] = { fds->listen, fds->admin, fds->link };
    for (int i = 0; i < 3; i++) {
        if (all[i] >= 0 && fcntl(all[i], F_SETFD, FD_CLOEXEC) != 0) {
            fprintf(stderr, "duro-gateway: %s: descriptor %d: %s\n", DURO_UPGRADE_FDS_ENV,
                    all[i], strerror(errno));
            return -1;
        }
    }
    return 1;
}

/* ---- the link ---- */

static int send_upgrade(struct upgrade *u, uint32_t what, chan_sent_fn *done)
{
    uint8_t buf[DURO_MSG_HEADER_BYTES + 32 + DURO_UPGRADE_VERSION_MAX_BYTES];
    struct msg_upgrade m = {
        .what = what,
        .pid = (uint32_t)getpid(),
        .count = u->forwarded,
        .version = { u->gw->version, strlen(u->gw->version) },
    };
    size_t n = msg_encode_upgrade(buf, sizeof buf, &m);
    if (n == 0 || u->link == NULL) {
        return UV_EINVAL;
    }
    return chan_send(u->link, buf, n, NULL, done, u);
}

static void on_relayed_closed(uv_handle_t *h)
{
    free(h);
}

static void on_relayed(int status, void *arg)
{
    uv_tcp_t *t = arg;
    if (status < 0) {
        log_warn("upgrade", "event=relay_failed err=%s", uv_err_name(status));
    }
    uv_close((uv_handle_t *)t, on_relayed_closed); /* the worker holds its own copy */
}

/* Successor: an upgrade the predecessor read goes to our worker for its object, as if our own
 * listener had accepted it. */
static void relay_handoff(struct upgrade *u, const struct msg_handoff *h)
{
    struct gateway *gw = u->gw;
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL || uv_tcp_init(gw->loop, t) != 0) {
        free(t);
        log_error("upgrade", "event=relay_failed conn=%llu err=oom",
                  (unsigned long long)h->conn_id);
        return; /* the chan closes the descriptor nobody took */
    }
    int arc = chan_accept(u->link, (uv_stream_t *)t);
    if (arc != 0) {
        log_error("upgrade", "event=relay_failed conn=%llu err=%s", (unsigned long long)h->conn_id,
                  uv_err_name(arc));
        uv_close((uv_handle_t *)t, on_relayed_closed);
        return;
    }
    uint64_t key = hash_object_key(h->cls.ptr, h->cls.len, h->name.ptr, h->name.len);
    unsigned slot = hash_pick_slot(key, gw->nworkers);
    struct chan *ch = gw->sup != NULL ? supervisor_chan(gw->sup, slot) : NULL;
    size_t cap = msg_handoff_size(h);
    uint8_t *buf = cap > 0 && ch != NULL ? malloc(cap) : NULL;
    size_t n = buf != NULL ? msg_encode_handoff(buf, cap, h) : 0;
    int rc = n > 0 ? chan_send(ch, buf, n, (uv_stream_t *)t, on_relayed, t) : UV_EAGAIN;
    free(buf);
    if (rc != 0) {
        log_warn("upgrade", "event=relay_failed conn=%llu worker=%u err=%s",
                 (unsigned long long)h->conn_id, slot, uv_err_name(rc));
        gw->metrics.v[M_HANDOFF_FAILURES]++;
        uv_close((uv_handle_t *)t, on_relayed_closed);
        return;
    }
    gw->metrics.v[M_HANDOFFS]++;
    gw->metrics.v[M_UPGRADE_RELAYED]++;
}

/* Successor: a socket the predecessor's worker handed over goes to ours, as any emigrant. */
static void relay_emigrant(struct upgrade *u, const struct msg_emigrant *e)
{
    struct gateway *gw = u->gw;
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL || uv_tcp_init(gw->loop, t) != 0) {
        free(t);
        log_error("upgrade", "event=relay_failed conn=%llu err=oom",
                  (unsigned long long)e->conn_id);
        return; /* the chan closes the descriptor nobody took */
    }
    int rc = chan_accept(u->link, (uv_stream_t *)t);
    if (rc != 0) {
        log_error("upgrade", "event=relay_failed conn=%llu err=%s", (unsigned long long)e->conn_id,
                  uv_err_name(rc));
        uv_close((uv_handle_t *)t, on_relayed_closed);
        return;
    }
    gw->metrics.v[M_UPGRADE_RELAYED]++;
    gw_route_emigrant(gw, e, t);
}

static void on_forwarded(int status, void *arg)
{
    uv_tcp_t *t = arg;
    if (status < 0) {
        log_warn("upgrade", "event=forward_failed err=%s", uv_err_name(status));
    }
    uv_close((uv_handle_t *)t, on_relayed_closed); /* the successor holds its own copy */
}

int upgrade_forward_emigrant(struct gateway *gw, const struct msg_emigrant *e, uv_tcp_t *t)
{
    struct chan *link = upgrade_link(gw);
    if (link == NULL) {
        return -1;
    }
    size_t cap = msg_emigrant_size(e);
    uint8_t *buf = cap > 0 ? malloc(cap) : NULL;
    size_t n = buf != NULL ? msg_encode_emigrant(buf, cap, MSG_EMIGRATE, e) : 0;
    int rc = n > 0 ? chan_send(link, buf, n, (uv_stream_t *)t, on_forwarded, t) : UV_ENOMEM;
    free(buf);
    if (rc != 0) {
        log_warn("upgrade", "event=forward_failed conn=%llu err=%s", (unsigned long long)e->conn_id,
                 uv_err_name(rc));
        return -1;
    }
    gw->upgrade->forwarded++;
    return 0;
}

static void fail(struct upgrade *u, const char *why);
static void retire(struct upgrade *u, const struct msg_upgrade *ready);
static void on_ready_timeout(uv_timer_t *t);
static void end(struct upgrade *u);

static void on_link_msg(struct chan *ch, const struct msg *m, void *arg)
{
    struct upgrade *u = arg;
    (void)ch;
    if (u->state == UP_INHERITED && m->type == MSG_HANDOFF) {
        relay_handoff(u, &m->u.handoff);
        return;
    }
    if (u->state == UP_INHERITED && m->type == MSG_EMIGRATE) {
        relay_emigrant(u, &m->u.emigrant);
        return;
    }
    if (u->state == UP_INHERITED && m->type == MSG_UPGRADE && m->u.upgrade.what == UPGRADE_DONE) {
        u->done_seen = 1;
        u->gw->metrics.v[M_UPGRADES]++;
        log_always("upgrade", "event=upgrade phase=done predecessor_pid=%u handed_over=%llu "
                              "version=%s",
                   m->u.upgrade.pid, (unsigned long long)m->u.upgrade.count, u->gw->version);
        chan_close(u->link); /* tells the predecessor it may exit (on_done_sent) */
        u->link = NULL;
        u->state = UP_IDLE;  /* a new SIGUSR2 may start the next upgrade */
        return;
    }
    if (u->state == UP_STARTING && m->type == MSG_UPGRADE && m->u.upgrade.what == UPGRADE_READY) {
        retire(u, &m->u.upgrade);
        return;
    }
    log_warn("upgrade", "event=unexpected_link_message type=%d state=%d", (int)m->type,
             (int)u->state);
}

static void on_link_closed(struct chan *ch, int status, void *arg)
{
    struct upgrade *u = arg;
    chan_close(ch);
    u->link = NULL;
    if (u->state == UP_STARTING) {
        /* It is exiting, most likely: its status says more than the link's end. If it does not
         * exit, the timer fails the upgrade and kills it. */
        uv_timer_start(&u->timer, on_ready_timeout, DURO_UPGRADE_STOP_GRACE_MS, 0);
    } else if (u->state == UP_FINISHED) {
        end(u); /* the successor read UPGRADE_DONE */
    } else if (u->state == UP_RETIRING) {
        log_error("upgrade", "event=upgrade_link_lost err=%s successor_pid=%d "
                             "action=\"hand-offs are answered by our own workers\"",
                  status != 0 ? uv_err_name(status) : "eof", u->successor_pid);
    } else if (u->state == UP_INHERITED) {
        if (!u->done_seen) {
            log_warn("upgrade", "event=predecessor_gone err=%s reason=\"no UPGRADE_DONE: it "
                                "died, or was stopped, before its workers had left\"",
                     status != 0 ? uv_err_name(status) : "eof");
        }
        u->state = UP_IDLE; /* a new SIGUSR2 may start the next upgrade */
    }
}

/* ---- successor ---- */

static void on_pool_ready(struct gateway *gw)
{
    struct upgrade *u = gw->upgrade;
    int rc = listener_accept_start(gw);
    if (rc == 0) {
        rc = admin_accept_start(gw);
    }
    if (rc != 0) {
        /* No READY: the predecessor times out, kills us and keeps serving. */
        log_error("upgrade", "event=listen_failed err=%s", uv_strerror(rc));
        return;
    }
    char bound[80];
    netaddr_local(&gw->listener, bound, sizeof bound);
    rc = send_upgrade(u, UPGRADE_READY, NULL);
    if (rc != 0) {
        log_error("upgrade", "event=ready_send_failed err=%s", uv_err_name(rc));
    }
    notify_mainpid((int)getpid(), bound);
    log_always("main", "event=listening listen=%s admin=%s workers=%u config=%s version=%s "
                       "upgraded=1",
               bound, admin_address(gw), gw->nworkers, gw->conf_origin, gw->version);
    log_always("upgrade", "event=upgrade phase=ready successor_pid=%d version=%s",
               (int)getpid(), gw->version);
}

int upgrade_init(struct gateway *gw, const struct upgrade_fds *fds)
{
    struct upgrade *u = &the_upgrade;
    u->gw = gw;
    gw->upgrade = u;
    uv_timer_init(gw->loop, &u->timer);
    u->timer.data = u;
    uv_unref((uv_handle_t *)&u->timer);
    if (fds == NULL) {
        return 0;
    }
    u->link = chan_new(gw->loop);
    if (u->link == NULL || chan_open_fd(u->link, fds->link) != 0 ||
        chan_start(u->link, on_link_msg, on_link_closed, u) != 0) {
        log_error("upgrade", "event=link_failed fd=%d", fds->link);
        return -1;
    }
    u->state = UP_INHERITED;
    supervisor_on_ready(gw->sup, on_pool_ready);
    return 0;
}

/* ---- predecessor ---- */

static void fail(struct upgrade *u, const char *why)
{
    struct gateway *gw = u->gw;
    gw->metrics.v[M_UPGRADE_FAILURES]++;
    uv_timer_stop(&u->timer);
    if (u->proc_open && !uv_is_closing((uv_handle_t *)&u->proc)) {
        uv_process_kill(&u->proc, SIGKILL); /* its workers follow it (PR_SET_PDEATHSIG) */
    }
    if (u->link != NULL) {
        chan_close(u->link);
        u->link = NULL;
    }
    u->state = UP_IDLE;
    log_error("upgrade", "event=upgrade_failed err=\"%s\" version=%s new_version=%s "
                         "successor_pid=%d action=\"kept serving\"",
              why, gw->version, u->gw_version[0] != '\0' ? u->gw_version : "-", u->successor_pid);
    char bound[80];
    netaddr_local(&gw->listener, bound, sizeof bound);
    notify_ready(bound);
}

static void on_successor_closed(uv_handle_t *h)
{
    struct upgrade *u = h->data;
    u->proc_open = 0;
}

static void on_successor_exit(uv_process_t *p, int64_t status, int signal)
{
    struct upgrade *u = p->data;
    uv_close((uv_handle_t *)p, on_successor_closed);
    if (u->state == UP_STARTING) {
        char why[96];
        snprintf(why, sizeof why, "the new gateway exited before it was ready (status %lld, "
                                  "signal %d)",
                 (long long)status, signal);
        fail(u, why);
    } else if (u->state == UP_RETIRING) {
        log_error("upgrade", "event=successor_exited successor_pid=%d status=%lld signal=%d",
                  u->successor_pid, (long long)status, signal);
    }
}

static void on_ready_timeout(uv_timer_t *t)
{
    struct upgrade *u = t->data;
    if (u->state == UP_STARTING) {
        fail(u, u->link == NULL ? "the new gateway closed the upgrade link before it was ready"
                                : "the new gateway did not report ready in time");
    }
}

static void start_successor(struct upgrade *u)
{
    struct gateway *gw = u->gw;
    int lfd = -1, afd = -1;
    if (uv_fileno((uv_handle_t *)&gw->listener, &lfd) != 0) {
        fail(u, "no listening socket to pass on");
        return;
    }
    if (gw->admin != NULL) {
        afd = admin_fd(gw);
    }
    u->link = chan_new(gw->loop);
    size_t nenv = 0;
    while (environ[nenv] != NULL) {
        nenv++;
    }
    char **env = calloc(nenv + 2, sizeof *env);
    if (u->link == NULL || env == NULL) {
        free(env);
        fail(u, "out of memory");
        return;
    }
    static char fds_var[96];
    char admin_part[24] = "";
    if (afd >= 0) {
        snprintf(admin_part, sizeof admin_part, ",admin=%d", DURO_UPGRADE_ADMIN_FD);
    }
    snprintf(fds_var, sizeof fds_var, "%s=listen=%d%s,link=%d", DURO_UPGRADE_FDS_ENV,
             DURO_UPGRADE_LISTEN_FD, admin_part, DURO_UPGRADE_LINK_FD);
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        if (strncmp(environ[i], DURO_UPGRADE_FDS_ENV "=", sizeof DURO_UPGRADE_FDS_ENV) != 0) {
            env[k++] = environ[i];
        }
    }
    env[k++] = fds_var;
    env[k] = NULL;
    uv_stdio_container_t stdio[DURO_UPGRADE_LINK_FD + 1] = {
        { .flags = UV_IGNORE },
        { .flags = UV_INHERIT_FD, .data.fd = 1 },
        { .flags = UV_INHERIT_FD, .data.fd = 2 },
        { .flags = UV_INHERIT_FD, .data.fd = lfd },
        { .flags = afd >= 0 ? UV_INHERIT_FD : UV_IGNORE, .data.fd = afd },
        { .flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE,
          .data.stream = (uv_stream_t *)chan_pipe(u->link) },
    };
    uv_process_options_t opt = {
        .exit_cb = on_successor_exit,
        .file = saved.exe,
        .args = saved.argv,
        .env = env,
        .stdio_count = DURO_UPGRADE_LINK_FD + 1,
        .stdio = stdio,
    };
    u->proc.data = u;
    u->state = UP_STARTING;
    int rc = uv_spawn(gw->loop, &u->proc, &opt);
    free(env);
    u->proc_open = 1;
    if (rc != 0) {
        uv_close((uv_handle_t *)&u->proc, on_successor_closed);
        char why[96];
        snprintf(why, sizeof why, "cannot start the new gateway: %s", uv_strerror(rc));
        fail(u, why);
        return;
    }
    u->successor_pid = u->proc.pid;
    if (chan_start(u->link, on_link_msg, on_link_closed, u) != 0) {
        fail(u, "cannot read the upgrade link");
        return;
    }
    uv_timer_start(&u->timer, on_ready_timeout, DURO_UPGRADE_READY_TIMEOUT_MS, 0);
    log_info("upgrade", "event=upgrade phase=started successor_pid=%d", u->successor_pid);
}

static void start_check(struct upgrade *u, char **args, preflight_done_fn *done)
{
    u->check = preflight_run(u->gw->loop, args, DURO_UPGRADE_CHECK_TIMEOUT_MS, done, u);
    if (u->check == NULL) {
        fail(u, "out of memory");
    }
}

static void on_checked(void *arg, int ok, const char *out)
{
    struct upgrade *u = arg;
    u->check = NULL;
    (void)out;
    if (!ok) {
        fail(u, "the new gateway refuses the config (--check failed; see above)");
        return;
    }
    start_successor(u);
}

static void on_worker_version(void *arg, int ok, const char *out)
{
    struct upgrade *u = arg;
    u->check = NULL;
    if (!ok || strncmp(out, "duro-worker ", 12) != 0 || strchr(out + 12, ' ') != NULL ||
        out[12] == '\0') {
        fail(u, "the new duro-worker does not run (--version failed)");
        return;
    }
    snprintf(u->worker_version, sizeof u->worker_version, "%s", out + 12);
    static char *args[ARGS_MAX_COUNT + 3];
    int n = 0;
    for (int i = 0; i < saved.argc; i++) {
        args[n++] = saved.argv[i];
    }
    args[0] = saved.exe;
    args[n++] = "--check";
    args[n] = NULL;
    start_check(u, args, on_checked);
}

static void on_gw_version(void *arg, int ok, const char *out)
{
    struct upgrade *u = arg;
    u->check = NULL;
    if (!ok || strncmp(out, "duro-gateway ", 13) != 0 || strchr(out + 13, ' ') != NULL ||
        out[13] == '\0') {
        fail(u, "the new duro-gateway does not run (--version failed)");
        return;
    }
    snprintf(u->gw_version, sizeof u->gw_version, "%s", out + 13);
    static char *args[3];
    args[0] = u->gw->worker_path;
    args[1] = "--version";
    start_check(u, args, on_worker_version);
}

void upgrade_begin(struct gateway *gw)
{
    struct upgrade *u = gw->upgrade;
    if (gw->stopping || u == NULL || u->state != UP_IDLE || u->proc_open) {
        log_warn("upgrade", "event=upgrade_refused reason=\"%s\"",
                 gw->stopping ? "stopping" : "an upgrade is in progress");
        return;
    }
    if (saved.exe[0] == '\0') {
        fail(u, "cannot start a successor: the executable's path is unknown or the arguments "
                "are too many");
        return;
    }
    u->state = UP_CHECKING;
    u->begun_ms = uv_now(gw->loop);
    u->gw_version[0] = u->worker_version[0] = '\0';
    u->successor_pid = 0;
    u->forwarded = 0;
    notify_status("upgrading: checking the new binaries");
    log_always("upgrade", "event=upgrade phase=begin version=%s exe=%s worker=%s",
               gw->version, saved.exe, gw->worker_path);
    static char *args[3];
    args[0] = saved.exe;
    args[1] = "--version";
    start_check(u, args, on_gw_version);
}

static void end(struct upgrade *u)
{
    struct gateway *gw = u->gw;
    log_always("upgrade", "event=upgrade phase=retired version=%s new_version=%s "
                          "successor_pid=%d handed_over=%llu elapsed_ms=%llu",
               gw->version, u->gw_version, u->successor_pid, (unsigned long long)u->forwarded,
               (unsigned long long)(uv_now(gw->loop) - u->begun_ms));
    if (u->link != NULL) {
        chan_close(u->link);
        u->link = NULL;
    }
    gw->stopping = 1;
    uv_stop(gw->loop);
}

static void on_ack_timeout(uv_timer_t *t)
{
    struct upgrade *u = t->data;
    log_warn("upgrade", "event=done_not_acknowledged successor_pid=%d", u->successor_pid);
    end(u);
}

/* The successor closes the link once it has read UPGRADE_DONE, so everything sent before it
 * (sockets with their descriptors) has been read: only then may we close our end and exit. */
static void on_done_sent(int status, void *arg)
{
    struct upgrade *u = arg;
    if (status != 0 || u->link == NULL) {
        log_error("upgrade", "event=done_send_failed err=%s", uv_err_name(status));
        end(u);
        return;
    }
    uv_timer_start(&u->timer, on_ack_timeout, DURO_UPGRADE_ACK_TIMEOUT_MS, 0);
}

static void maybe_finish(struct upgrade *u)
{
    if (u->state != UP_RETIRING || !u->workers_gone || u->gw->open_conns > 0) {
        return;
    }
    u->state = UP_FINISHED;
    uv_timer_stop(&u->timer);
    if (send_upgrade(u, UPGRADE_DONE, on_done_sent) != 0) {
        end(u);
    }
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct upgrade *u = t->data;
    log_warn("upgrade", "event=retire_timeout open_conns=%llu action=closed",
             (unsigned long long)u->gw->open_conns);
    conn_close_all(u->gw); /* the last close calls upgrade_conns_closed */
    maybe_finish(u);
}

static void on_workers_retired(struct gateway *gw)
{
    struct upgrade *u = gw->upgrade;
    gw->sup = NULL; /* freed by the supervisor */
    u->workers_gone = 1;
    log_info("upgrade", "event=workers_retired open_conns=%llu",
             (unsigned long long)gw->open_conns);
    if (gw->open_conns > 0) {
        uv_timer_start(&u->timer, on_drain_timeout, gw->conf.drain_timeout_ms, 0);
    }
    maybe_finish(u);
}

void upgrade_conns_closed(struct gateway *gw)
{
    if (gw->upgrade != NULL) {
        maybe_finish(gw->upgrade);
    }
}

static void retire(struct upgrade *u, const struct msg_upgrade *ready)
{
    struct gateway *gw = u->gw;
    uv_timer_stop(&u->timer);
    u->state = UP_RETIRING;
    gw->retiring = 1;
    log_always("upgrade", "event=upgrade phase=switch version=%s new_version=%.*s "
                          "new_worker_version=%s successor_pid=%u open_conns=%llu",
               gw->version, (int)ready->version.len, ready->version.ptr, u->worker_version,
               ready->pid, (unsigned long long)gw->open_conns);
    listener_accept_stop(gw);
    admin_stop(gw);
    conn_retire_all(gw);
    /* One worker after the other hands its sockets over (gw_route_emigrant sends them over
     * the link); one stuck past upgrade_timeout_ms and the drain is killed (the heartbeat). */
    supervisor_retire(gw->sup, on_workers_retired);
}

int upgrade_stop(struct gateway *gw)
{
    struct upgrade *u = gw->upgrade;
    if (u == NULL) {
        return 0;
    }
    if (u->state == UP_RETIRING) {
        log_info("upgrade", "event=stop_while_retiring action=\"workers stopped now\"");
        conn_close_all(gw);
        if (gw->sup != NULL) {
            supervisor_stop(gw->sup, (uint64_t)gw->conf.drain_timeout_ms +
                                         DURO_UPGRADE_STOP_GRACE_MS,
                            on_workers_retired);
        } else {
            maybe_finish(u);
        }
        return 1;
    }
    if (u->state == UP_FINISHED && gw->retiring) {
        end(u); /* UPGRADE_DONE is out; the successor's acknowledgement is not needed */
        return 1;
    }
    if (u->state == UP_CHECKING && u->check != NULL) {
        preflight_kill(u->check);
    }
    if (u->state == UP_STARTING) {
        fail(u, "stopped (SIGTERM) during the upgrade");
    }
    if (u->link != NULL) {
        chan_close(u->link);
        u->link = NULL;
    }
    u->state = UP_FINISHED; /* a stopping gateway starts no upgrade */
    return 0;
}

struct chan *upgrade_link(struct gateway *gw)
{
    return gw->upgrade != NULL && gw->upgrade->state == UP_RETIRING ? gw->upgrade->link : NULL;
}

void upgrade_count_forwarded(struct gateway *gw)
{
    if (gw->upgrade != NULL) {
        gw->upgrade->forwarded++;
    }
}

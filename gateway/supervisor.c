#include "gateway/supervisor.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/msg.h"
#include "gateway/conn.h"
#include "gateway/dispatch.h"

/* One worker process. `index` is its slot in the pool (its rendezvous slot); a slot's worker
 * may be replaced while the old one hands its sockets over (it is then `retiring`, in the
 * supervisor's list of retirees, and exits once they have all left). */
struct slot {
    struct supervisor *sup;
    struct slot *next_retiree;
    unsigned index;
    int retiring;     /* told MIGRATE_ALL: not restarted, not routed to */
    uint64_t migrate_ms; /* when it was told */
    uv_process_t proc;
    uv_timer_t restart;
    struct chan *ch;
    int pid;
    int running;      /* proc handle is live (spawned, exit not yet seen) */
    int killed_hung;  /* SIGKILL sent for a missed heartbeat */
    int answered;     /* a MSG_STATS came from this worker since its spawn */
    uint32_t backoff_ms;
    uint64_t started_ms;
    uint64_t last_answer_ms; /* loop time of the worker's last message */
    struct metrics last;     /* the worker's metrics as of its last MSG_STATS */
    int64_t fd_headroom;     /* descriptors it can still open: reported, minus hand-offs since */
};

struct supervisor {
    struct gateway *gw;
    unsigned n;             /* pool size: slots 0..n-1 route */
    struct slot *retirees;  /* workers handing over before they exit */
    int rolling;            /* a class reload: the next slot to replace, or -1 */
    uint64_t next_seq;      /* MSG_MIGRATE numbers */
    int stopping;
    unsigned open_handles;  /* the restart timers, the stop timer and the heartbeat timer */
    uv_timer_t stop_timer;
    uv_timer_t heartbeat;
    uint64_t last_tick_ms; /* when on_heartbeat last ran (or the timer started) */
    supervisor_stopped_fn *done;
    supervisor_answer_fn *answer; /* the admin listener's, when it runs */
    void *answer_arg;
    struct metrics retired; /* counters of workers that exited, as last reported */
    struct metrics slot_retired[DURO_WORKERS_MAX_COUNT]; /* the same, per slot */
    struct slot *slots[DURO_WORKERS_MAX_COUNT];          /* slot i's current worker, or NULL */
    supervisor_stopped_fn *ready; /* once every slot's worker answered (supervisor_on_ready) */
    int upgrading;          /* supervisor_retire: the workers leave one after the other */
    unsigned upgrade_next;  /* the next slot to retire */
};

static void spawn(struct slot *sl);
static int send_query(struct slot *sl, uint64_t seq, uint32_t what);
static void retire_next_slot(struct supervisor *s);

static void maybe_finish(struct supervisor *s);
static void retiree_done(struct slot *sl);

static void on_stop_timer_closed(uv_handle_t *h)
{
    struct supervisor *s = h->data;
    s->open_handles--;
    maybe_finish(s);
}

static void on_restart_closed(uv_handle_t *h)
{
    struct slot *sl = h->data;
    struct supervisor *s = sl->sup;
    s->open_handles--;
    if (sl->retiring) {
        free(sl); /* a retiree is gone for good; the pool's slots are freed with the pool */
    }
    maybe_finish(s);
}

static struct slot *slot_new(struct supervisor *s, unsigned index)
{
    struct slot *sl = calloc(1, sizeof *sl);
    if (sl == NULL) {
        return NULL;
    }
    sl->sup = s;
    sl->index = index;
    sl->fd_headroom = -1;
    uv_timer_init(s->gw->loop, &sl->restart);
    sl->restart.data = sl;
    s->open_handles++;
    return sl;
}

static void maybe_finish(struct supervisor *s)
{
    if (!s->stopping) {
        return;
    }
    for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
        if (s->slots[i] != NULL && s->slots[i]->running) {
            return;
        }
    }
    if (s->retirees != NULL) {
        return;
    }
    if (!uv_is_closing((uv_handle_t *)&s->stop_timer)) {
        for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
            if (s->slots[i] != NULL) {
                uv_close((uv_handle_t *)&s->slots[i]->restart, on_restart_closed);
            }
        }
        uv_close((uv_handle_t *)&s->stop_timer, on_stop_timer_closed);
        uv_close((uv_handle_t *)&s->heartbeat, on_stop_timer_closed);
        return;
    }
    if (s->open_handles == 0) {
        struct gateway *gw = s->gw;
        supervisor_stopped_fn *done = s->done;
        for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
            free(s->slots[i]);
        }
        free(s);
        done(gw);
    }
}

/* A socket a worker handed over: the gateway takes the descriptor and routes it. */
static void take_emigrant(struct slot *sl, struct chan *ch, const struct msg_emigrant *e)
{
    struct gateway *gw = sl->sup->gw;
    uv_tcp_t *t = malloc(sizeof *t);
    if (t == NULL || uv_tcp_init(gw->loop, t) != 0) {
        free(t);
        log_error("supervisor", "worker=%u event=oom what=emigrant", sl->index);
        return; /* the chan closes the unclaimed descriptor */
    }
    if (chan_accept(ch, (uv_stream_t *)t) != 0) {
        log_error("supervisor", "worker=%u conn=%llu event=emigrant_accept_failed", sl->index,
                  (unsigned long long)e->conn_id);
        uv_close((uv_handle_t *)t, dispatch_free_handle);
        return;
    }
    gw_route_emigrant(gw, e, t);
}

static void on_migrated(struct slot *sl, const struct msg_migrated *m)
{
    struct gateway *gw = sl->sup->gw;
    gw->metrics.v[M_HANDOVER_SWITCHES]++;
    log_info("supervisor", "event=handover action=worker_migrated worker=%u worker_pid=%d "
             "mode=%s moved=%u closed=%u remaining=%u switch_ms=%llu", sl->index, sl->pid,
             sl->retiring ? "all" : "resize", m->moved, m->closed, m->remaining,
             (unsigned long long)(m->elapsed_us / 1000u));
    if (sl->retiring && sl->ch != NULL) {
        /* Every MSG_EMIGRATE came before this one: closing the channel is the retiree's signal
         * to exit (it waits for it, so nothing it sent is lost with its end of the pipe). */
        chan_close(sl->ch);
        sl->ch = NULL;
    }
}

/* Every slot's worker has answered once: the pool serves (an upgrade's successor waits for
 * this before it accepts). Runs the callback once. */
static void check_ready(struct supervisor *s)
{
    if (s->ready == NULL || s->stopping) {
        return;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (s->slots[i] == NULL || !s->slots[i]->answered) {
            return;
        }
    }
    supervisor_stopped_fn *ready = s->ready;
    s->ready = NULL;
    ready(s->gw);
}

static void on_chan_msg(struct chan *ch, const struct msg *m, void *arg)
{
    struct slot *sl = arg;
    if (m->type == MSG_RESPONSE) {
        conn_response(sl->sup->gw, sl->index, &m->u.response);
        return;
    }
    if (m->type == MSG_EMIGRATE) {
        sl->last_answer_ms = uv_now(sl->sup->gw->loop);
        take_emigrant(sl, ch, &m->u.emigrant);
        return;
    }
    if (m->type == MSG_MIGRATED) {
        sl->last_answer_ms = uv_now(sl->sup->gw->loop);
        on_migrated(sl, &m->u.migrated);
        return;
    }
    if (m->type != MSG_STATS && m->type != MSG_OBJECTS && m->type != MSG_CLOSED) {
        log_error("supervisor", "worker=%u worker_pid=%d event=unexpected_message type=%d",
                  sl->index, sl->pid, (int)m->type);
        uv_process_kill(&sl->proc, SIGKILL);
        return;
    }
    sl->last_answer_ms = uv_now(sl->sup->gw->loop);
    if (m->type == MSG_STATS && m->u.stats.nwords == METRICS_WORDS) {
        uint64_t words[METRICS_WORDS];
        for (uint32_t i = 0; i < METRICS_WORDS; i++) {
            words[i] = msg_stats_word(&m->u.stats, i);
        }
        metrics_from_words(&sl->last, words);
        uint64_t room = sl->last.v[M_FD_HEADROOM];
        sl->fd_headroom = room > INT64_MAX ? INT64_MAX : (int64_t)room;
        if (!sl->answered && !sl->retiring) {
            sl->answered = 1;
            check_ready(sl->sup);
        }
    }
    uint64_t seq = m->type == MSG_STATS     ? m->u.stats.seq
                   : m->type == MSG_OBJECTS ? m->u.objects.seq
                                            : m->u.closed.seq;
    if (seq != 0 && !sl->retiring) { /* 0 is the heartbeat */
        if (sl->sup->answer != NULL) {
            sl->sup->answer(sl->sup->answer_arg, sl->index, m);
        }
    }
}

static void on_chan_closed(struct chan *ch, int status, void *arg)
{
    struct slot *sl = arg;
    (void)ch;
    if (status != 0) {
        log_error("supervisor", "worker=%u worker_pid=%d event=channel_error err=%s", sl->index,
                  sl->pid, uv_err_name(status));
    }
    /* The process is gone or broken: make sure it is gone; on_worker_exit restarts it. */
    if (sl->running && !uv_is_closing((uv_handle_t *)&sl->proc)) {
        uv_process_kill(&sl->proc, SIGKILL);
    }
    if (sl->ch != NULL) {
        chan_close(sl->ch);
        sl->ch = NULL;
    }
    if (!sl->retiring) {
        conn_worker_down(sl->sup->gw, sl->index); /* its requests will not be answered */
    } else if (!sl->running) {
        retiree_done(sl);
    }
}

static void on_restart_timer(uv_timer_t *t)
{
    struct slot *sl = t->data;
    if (!sl->sup->stopping && !sl->retiring) {
        spawn(sl);
    }
}

static void schedule_restart(struct slot *sl)
{
    uint64_t now = uv_now(sl->sup->gw->loop);
    if (now - sl->started_ms >= DURO_RESTART_STABLE_MS || sl->backoff_ms == 0) {
        sl->backoff_ms = DURO_RESTART_BACKOFF_MIN_MS;
    } else {
        sl->backoff_ms = sl->backoff_ms * 2 > DURO_RESTART_BACKOFF_MAX_MS
                             ? DURO_RESTART_BACKOFF_MAX_MS
                             : sl->backoff_ms * 2;
    }
    uv_timer_start(&sl->restart, on_restart_timer, sl->backoff_ms, 0);
}

static void roll_next(struct supervisor *s);

/* A retiree is gone for good once its process has been reaped and its channel read to the
 * end (its last MSG_EMIGRATEs may still be in the pipe when the exit is seen). */
static void retiree_done(struct slot *sl)
{
    struct supervisor *s = sl->sup;
    if (sl->running || sl->ch != NULL) {
        return;
    }
    struct slot **pp = &s->retirees;
    while (*pp != NULL && *pp != sl) {
        pp = &(*pp)->next_retiree;
    }
    if (*pp != sl) {
        return; /* already done */
    }
    *pp = sl->next_retiree;
    unsigned index = sl->index;
    uv_close((uv_handle_t *)&sl->restart, on_restart_closed); /* frees it */
    if (s->rolling >= 0 && (unsigned)s->rolling == index && !s->stopping) {
        s->rolling++;
        roll_next(s);
    }
    if (s->upgrading) {
        retire_next_slot(s);
    }
}

static void on_proc_closed(uv_handle_t *h)
{
    struct slot *sl = h->data;
    sl->running = 0;
    struct supervisor *s = sl->sup;
    if (sl->retiring) {
        retiree_done(sl);
        return;
    }
    if (s->stopping) {
        maybe_finish(s);
    }
}

static void on_worker_exit(uv_process_t *p, int64_t status, int signal)
{
    struct slot *sl = p->data;
    struct supervisor *s = sl->sup;

    if (sl->ch != NULL && !sl->retiring) {
        chan_close(sl->ch); /* a retiree's is read to its end first: on_chan_closed */
        sl->ch = NULL;
    }
    /* Its counters as last seen stay in the pool's totals: Prometheus counters never go back. */
    metrics_add_counters(&s->retired, &sl->last);
    metrics_add_counters(&s->slot_retired[sl->index], &sl->last);
    memset(&sl->last, 0, sizeof sl->last);
    sl->fd_headroom = -1;
    if (sl->retiring) {
        log_info("supervisor", "event=worker_retired worker=%u worker_pid=%d status=%lld "
                 "signal=%d handover_ms=%llu", sl->index, sl->pid, (long long)status, signal,
                 (unsigned long long)(uv_now(s->gw->loop) - sl->migrate_ms));
    } else if (s->stopping) {
        log_info("supervisor", "event=worker_stopped worker=%u worker_pid=%d status=%lld signal=%d",
                 sl->index, sl->pid, (long long)status, signal);
    } else {
        uint64_t now = uv_now(s->gw->loop);
        s->gw->metrics.v[M_WORKER_RESTARTS]++;
        schedule_restart(sl);
        log_warn("supervisor",
                 "event=worker_exited worker=%u worker_pid=%d status=%lld signal=%d uptime_ms=%llu "
                 "restart_in_ms=%u",
                 sl->index, sl->pid, (long long)status, signal,
                 (unsigned long long)(now - sl->started_ms), sl->backoff_ms);
    }
    uv_close((uv_handle_t *)p, on_proc_closed);
}

static void spawn(struct slot *sl)
{
    struct gateway *gw = sl->sup->gw;
    struct chan *ch = chan_new(gw->loop);
    if (ch == NULL) {
        schedule_restart(sl);
        return;
    }
    char *args[] = { gw->worker_path, NULL };
    uv_stdio_container_t stdio[DURO_WORKER_CHANNEL_FD + 1];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    stdio[DURO_WORKER_CHANNEL_FD].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
    stdio[DURO_WORKER_CHANNEL_FD].data.stream = (uv_stream_t *)chan_pipe(ch);
    uv_process_options_t opt = {
        .exit_cb = on_worker_exit,
        .file = gw->worker_path,
        .args = args,
        .stdio_count = DURO_WORKER_CHANNEL_FD + 1,
        .stdio = stdio,
    };
    sl->proc.data = sl;
    sl->started_ms = uv_now(gw->loop);
    int rc = uv_spawn(gw->loop, &sl->proc, &opt);
    if (rc != 0) {
        log_error("supervisor", "worker=%u event=spawn_failed path=%s err=%s", sl->index,
                  gw->worker_path, uv_strerror(rc));
        /* libuv still requires the process handle to be closed after a failed spawn. */
        sl->running = 1;
        uv_close((uv_handle_t *)&sl->proc, on_proc_closed);
        chan_close(ch);
        if (!sl->sup->stopping) {
            schedule_restart(sl);
        }
        return;
    }
    sl->running = 1;
    sl->killed_hung = 0;
    sl->answered = 0;
    sl->pid = sl->proc.pid;
    sl->last_answer_ms = uv_now(gw->loop);
    struct msg_config mc = {
        .slot = sl->index,
        .nslots = sl->sup->n,
        .path = { gw->conf_origin, strlen(gw->conf_origin) },
        .text = { gw->conf_text, strlen(gw->conf_text) },
    };
    size_t need = msg_config_size(&mc);
    uint8_t *buf = need ? malloc(need) : NULL;
    size_t n = buf ? msg_encode_config(buf, need, &mc) : 0;
    if (n == 0 || chan_start(ch, on_chan_msg, on_chan_closed, sl) != 0 ||
        chan_send(ch, buf, n, NULL, NULL, NULL) != 0) {
        log_error("supervisor", "worker=%u worker_pid=%d event=config_send_failed", sl->index,
                  sl->pid);
        free(buf);
        chan_close(ch);
        uv_process_kill(&sl->proc, SIGKILL);
        return;
    }
    free(buf);
    sl->ch = ch;
    /* Answered once the worker has read its config: how readiness is known (check_ready). */
    (void)send_query(sl, 0, QUERY_STATS);
    log_info("supervisor", "event=worker_spawned worker=%u worker_pid=%d", sl->index, sl->pid);
}

static int send_query(struct slot *sl, uint64_t seq, uint32_t what)
{
    uint8_t buf[DURO_MSG_HEADER_BYTES + 16];
    size_t n = msg_encode_query(buf, sizeof buf, seq, what);
    return sl->ch == NULL ? UV_EAGAIN : chan_send(sl->ch, buf, n, NULL, NULL, NULL);
}

static void heartbeat_one(struct supervisor *s, struct slot *sl, uint64_t now, int judge)
{
    if (sl == NULL || sl->ch == NULL || !sl->running || sl->killed_hung) {
        return;
    }
    if (judge && now - sl->last_answer_ms > s->gw->conf.heartbeat_timeout_ms) {
        log_warn("supervisor", "event=worker_hung worker=%u worker_pid=%d silent_ms=%llu",
                 sl->index, sl->pid, (unsigned long long)(now - sl->last_answer_ms));
        sl->killed_hung = 1;
        uv_process_kill(&sl->proc, SIGKILL);
        return;
    }
    /* A retiree closes what it could not hand over within the timeout, then waits at most
     * for those close handshakes: past that it is stuck. */
    uint64_t limit = (uint64_t)s->gw->conf.upgrade_timeout_ms + s->gw->conf.drain_timeout_ms +
                     s->gw->conf.heartbeat_timeout_ms;
    if (judge && sl->retiring && now - sl->migrate_ms > limit) {
        log_warn("supervisor", "event=worker_kill worker=%u worker_pid=%d reason=handover_stuck "
                 "after_ms=%llu", sl->index, sl->pid, (unsigned long long)(now - sl->migrate_ms));
        sl->killed_hung = 1;
        uv_process_kill(&sl->proc, SIGKILL);
        return;
    }
    (void)send_query(sl, 0, QUERY_STATS);
}

/* Every worker answers a heartbeat with its metrics. One that has not answered anything for
 * heartbeat_timeout_ms is hung (stopped, or stuck in a class): it is killed, and on_worker_exit
 * restarts it like any dead worker.
 * A tick that comes late by more than an interval means the gateway itself did not run (stopped,
 * starved of CPU): libuv runs timers before it polls, so the workers' answers may be waiting
 * unread in their channels. Such a tick passes no verdict; the next one, after a poll, does. */
static void on_heartbeat(uv_timer_t *t)
{
    struct supervisor *s = t->data;
    uint64_t now = uv_now(s->gw->loop);
    int judge = now - s->last_tick_ms <= 2 * DURO_HEARTBEAT_INTERVAL_MS;
    if (!judge) {
        log_info("supervisor", "event=gateway_stalled late_ms=%llu",
                 (unsigned long long)(now - s->last_tick_ms - DURO_HEARTBEAT_INTERVAL_MS));
    }
    s->last_tick_ms = now;
    for (unsigned i = 0; i < s->n; i++) {
        heartbeat_one(s, s->slots[i], now, judge);
    }
    for (struct slot *sl = s->retirees; sl != NULL; sl = sl->next_retiree) {
        heartbeat_one(s, sl, now, judge);
    }
}

int supervisor_query(struct supervisor *s, unsigned slot, uint64_t seq, uint32_t what)
{
    return slot < s->n && s->slots[slot] != NULL ? send_query(s->slots[slot], seq, what)
                                                 : UV_EINVAL;
}

int supervisor_admit(struct supervisor *s, unsigned slot)
{
    struct slot *sl = s->slots[slot];
    if (sl == NULL) {
        return UV_EAGAIN; /* retired by an upgrade */
    }
    if (sl->fd_headroom < 0) {
        return 0; /* not reported yet */
    }
    if (sl->fd_headroom <= DURO_FD_RESERVE_COUNT) {
        return UV_EMFILE;
    }
    sl->fd_headroom--;
    return 0;
}

void supervisor_metrics(const struct supervisor *s, struct metrics *out)
{
    metrics_add(out, &s->retired);
    for (unsigned i = 0; i < s->n; i++) {
        if (s->slots[i] != NULL) {
            metrics_add(out, &s->slots[i]->last);
        }
    }
    for (const struct slot *sl = s->retirees; sl != NULL; sl = sl->next_retiree) {
        metrics_add(out, &sl->last);
    }
}

void supervisor_slot_metrics(const struct supervisor *s, unsigned slot, struct metrics *out)
{
    memset(out, 0, sizeof *out);
    if (slot < s->n && s->slots[slot] != NULL) {
        *out = s->slots[slot]->last;
        metrics_add_counters(out, &s->slot_retired[slot]);
        for (const struct slot *sl = s->retirees; sl != NULL; sl = sl->next_retiree) {
            if (sl->index == slot) {
                metrics_add_counters(out, &sl->last);
            }
        }
    }
}

void supervisor_on_answer(struct supervisor *s, supervisor_answer_fn *fn, void *arg)
{
    s->answer = fn;
    s->answer_arg = arg;
}

unsigned supervisor_size(const struct supervisor *s)
{
    return s->n;
}

int supervisor_pid(const struct supervisor *s, unsigned slot)
{
    return slot < s->n && s->slots[slot] != NULL && s->slots[slot]->ch != NULL
               ? s->slots[slot]->pid
               : 0;
}

static void send_config(struct slot *sl)
{
    struct gateway *gw = sl->sup->gw;
    struct msg_config mc = {
        .slot = sl->index,
        .nslots = sl->sup->n,
        .path = { gw->conf_origin, strlen(gw->conf_origin) },
        .text = { gw->conf_text, strlen(gw->conf_text) },
    };
    size_t need = msg_config_size(&mc);
    uint8_t *buf = need ? malloc(need) : NULL;
    size_t n = buf ? msg_encode_config(buf, need, &mc) : 0;
    if (n == 0 || chan_send(sl->ch, buf, n, NULL, NULL, NULL) != 0) {
        log_error("supervisor", "worker=%u event=reconfigure_failed", sl->index);
    }
    free(buf);
}

void supervisor_reconfigure(struct supervisor *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (s->slots[i] != NULL && s->slots[i]->ch != NULL) {
            send_config(s->slots[i]); /* one that is down gets the new text when spawned */
        }
    }
}

/* ---- hand-over: resize and replacement (docs/design.md, "Hand-over") ---- */

static void send_migrate(struct slot *sl, uint32_t mode)
{
    struct supervisor *s = sl->sup;
    struct msg_migrate m = {
        .seq = ++s->next_seq,
        .mode = mode,
        .slot = mode == MIGRATE_ALL ? 0 : sl->index,
        .nslots = s->n,
        .timeout_ms = s->gw->conf.upgrade_timeout_ms,
    };
    uint8_t buf[DURO_MSG_HEADER_BYTES + 32];
    size_t n = msg_encode_migrate(buf, sizeof buf, &m);
    if (sl->ch == NULL || n == 0 || chan_send(sl->ch, buf, n, NULL, NULL, NULL) != 0) {
        log_error("supervisor", "worker=%u worker_pid=%d event=migrate_send_failed", sl->index,
                  sl->pid);
        if (mode == MIGRATE_ALL && sl->running) {
            uv_process_kill(&sl->proc, SIGTERM); /* it cannot hand over: it drains (1001) */
        }
    }
}

/* `sl` leaves the pool: it hands every socket over and exits. */
static void retire(struct slot *sl)
{
    struct supervisor *s = sl->sup;
    sl->retiring = 1;
    sl->migrate_ms = uv_now(s->gw->loop);
    uv_timer_stop(&sl->restart);
    sl->next_retiree = s->retirees;
    s->retirees = sl;
    if (!sl->running) {
        uv_close((uv_handle_t *)&sl->restart, on_restart_closed); /* was down: nothing to move */
        s->retirees = sl->next_retiree;
        return;
    }
    log_info("supervisor", "event=handover action=retire worker=%u worker_pid=%d", sl->index,
             sl->pid);
    send_migrate(sl, MIGRATE_ALL);
}

/* A new worker for `index`; the old one hands its sockets over to it through the gateway. */
static int replace(struct supervisor *s, unsigned index)
{
    struct slot *old = s->slots[index];
    struct slot *sl = slot_new(s, index);
    if (sl == NULL) {
        return -1;
    }
    s->slots[index] = sl;
    spawn(sl);
    if (old != NULL) {
        retire(old);
    }
    return 0;
}

static void roll_next(struct supervisor *s)
{
    while (s->rolling >= 0 && (unsigned)s->rolling < s->n) {
        unsigned i = (unsigned)s->rolling;
        if (s->slots[i]->running && replace(s, i) == 0 && s->retirees != NULL &&
            s->retirees->index == i) {
            return; /* the next one when this retiree has exited */
        }
        s->rolling++; /* down (it loads the new code when it restarts) or not replaceable */
    }
    if (s->rolling >= 0) {
        log_info("supervisor", "event=handover action=replaced_all workers=%u", s->n);
    }
    s->rolling = -1;
}

void supervisor_replace_all(struct supervisor *s)
{
    if (s->stopping) {
        return;
    }
    if (s->rolling >= 0) {
        log_info("supervisor", "event=handover action=replace_restart from_worker=%d",
                 s->rolling);
    }
    log_info("supervisor", "event=handover action=replace_all workers=%u", s->n);
    s->rolling = 0;
    if (s->retirees == NULL || s->retirees->index != 0) {
        roll_next(s);
    }
}

int supervisor_resize(struct supervisor *s, unsigned n)
{
    if (n < 1 || n > DURO_WORKERS_MAX_COUNT || s->stopping) {
        return -1;
    }
    unsigned old = s->n;
    for (unsigned i = old; i < n; i++) {
        if (s->slots[i] == NULL && (s->slots[i] = slot_new(s, i)) == NULL) {
            return -1;
        }
    }
    log_info("supervisor", "event=handover action=resize workers_from=%u workers_to=%u", old, n);
    s->n = n;
    s->gw->nworkers = n; /* new connections route over the new pool from now on */
    if (s->rolling >= 0 && (unsigned)s->rolling >= n) {
        s->rolling = -1;
    }
    for (unsigned i = old; i < n; i++) {
        spawn(s->slots[i]);
    }
    for (unsigned i = n; i < old; i++) {
        struct slot *sl = s->slots[i];
        s->slots[i] = NULL;
        retire(sl);
    }
    /* The workers that stay: their new slot count (alarms follow ownership), then every
     * object whose owner changed leaves. */
    for (unsigned i = 0; i < n && i < old; i++) {
        struct slot *sl = s->slots[i];
        if (sl->ch != NULL) {
            send_config(sl);
            if (n > old) {
                send_migrate(sl, MIGRATE_RESIZE);
            }
        }
    }
    return 0;
}

struct supervisor *supervisor_start(struct gateway *gw)
{
    struct supervisor *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->gw = gw;
    s->n = gw->nworkers;
    s->rolling = -1;
    uv_timer_init(gw->loop, &s->stop_timer);
    s->stop_timer.data = s;
    uv_timer_init(gw->loop, &s->heartbeat);
    s->heartbeat.data = s;
    s->open_handles = 2;
    s->last_tick_ms = uv_now(gw->loop);
    uv_timer_start(&s->heartbeat, on_heartbeat, DURO_HEARTBEAT_INTERVAL_MS,
                   DURO_HEARTBEAT_INTERVAL_MS);
    for (unsigned i = 0; i < s->n; i++) {
        s->slots[i] = slot_new(s, i);
        if (s->slots[i] == NULL) {
            return NULL;
        }
    }
    for (unsigned i = 0; i < s->n; i++) {
        spawn(s->slots[i]);
    }
    return s;
}

struct chan *supervisor_chan(struct supervisor *s, unsigned slot)
{
    return s != NULL && slot < s->n && s->slots[slot] != NULL ? s->slots[slot]->ch : NULL;
}

static void stop_timeout_one(struct slot *sl)
{
    if (sl != NULL && sl->running && !uv_is_closing((uv_handle_t *)&sl->proc)) {
        log_warn("supervisor", "event=worker_kill worker=%u worker_pid=%d reason=stop_timeout",
                 sl->index, sl->pid);
        uv_process_kill(&sl->proc, SIGKILL);
    }
}

static void on_stop_timeout(uv_timer_t *t)
{
    struct supervisor *s = t->data;
    for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
        stop_timeout_one(s->slots[i]);
    }
    for (struct slot *sl = s->retirees; sl != NULL; sl = sl->next_retiree) {
        stop_timeout_one(sl);
    }
}

void supervisor_stop(struct supervisor *s, uint64_t grace_ms, supervisor_stopped_fn *done)
{
    s->upgrading = 0; /* a stop during an upgrade's retirement stops the workers left now */
    s->stopping = 1;
    s->done = done;
    uv_timer_stop(&s->heartbeat);
    for (unsigned i = 0; i < DURO_WORKERS_MAX_COUNT; i++) {
        struct slot *sl = s->slots[i];
        if (sl == NULL) {
            continue;
        }
        uv_timer_stop(&sl->restart);
        if (sl->running && !uv_is_closing((uv_handle_t *)&sl->proc)) {
            uv_process_kill(&sl->proc, SIGTERM);
        }
    }
    for (struct slot *sl = s->retirees; sl != NULL; sl = sl->next_retiree) {
        if (sl->running && !uv_is_closing((uv_handle_t *)&sl->proc)) {
            uv_process_kill(&sl->proc, SIGTERM);
        }
    }
    uv_timer_start(&s->stop_timer, on_stop_timeout, grace_ms, 0);
    maybe_finish(s);
}

void supervisor_on_ready(struct supervisor *s, supervisor_stopped_fn *fn)
{
    s->ready = fn;
    check_ready(s);
}

/* Upgrade: the next running worker leaves the pool (MIGRATE_ALL, its sockets go where
 * gw_route_emigrant sends them), once the previous one has exited (on_proc_closed). */
static void retire_next_slot(struct supervisor *s)
{
    if (s->retirees != NULL) {
        return; /* the current one is still leaving */
    }
    while (s->upgrade_next < s->n) {
        struct slot *sl = s->slots[s->upgrade_next++];
        if (sl != NULL && sl->running && !uv_is_closing((uv_handle_t *)&sl->proc)) {
            s->slots[sl->index] = NULL; /* not routed to any more */
            retire(sl);
            if (s->retirees == sl) {
                return;
            }
        }
    }
    s->upgrading = 0;
}

void supervisor_retire(struct supervisor *s, supervisor_stopped_fn *done)
{
    s->stopping = 1; /* no restart, no new worker; maybe_finish once all have exited */
    s->upgrading = 1;
    s->upgrade_next = 0;
    s->rolling = -1;
    s->done = done;
    s->ready = NULL;
    for (unsigned i = 0; i < s->n; i++) {
        if (s->slots[i] != NULL) {
            uv_timer_stop(&s->slots[i]->restart); /* a slot down now stays down */
        }
    }
    retire_next_slot(s);
    maybe_finish(s);
}

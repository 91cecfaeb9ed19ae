#include "worker/intake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "worker/alarm.h"
#include "worker/class_loader.h"
#include "worker/handshake.h"
#include "worker/migrate.h"
#include "worker/report.h"
#include "worker/request.h"
#include "worker/session.h"

static void on_msg(struct chan *ch, const struct msg *m, void *arg)
{
    struct worker *w = arg;

    if (m->type == MSG_CONFIG) {
        const struct msg_config *c = &m->u.config;
        char origin[256];
        snprintf(origin, sizeof origin, "%.*s", (int)c->path.len, c->path.ptr);
        /* The text is a span in the channel's buffer: parse a NUL-terminated copy. */
        char *text = malloc(c->text.len + 1);
        char err[512];
        if (text == NULL) {
            log_error("intake", "event=oom");
            exit(1);
        }
        memcpy(text, c->text.ptr, c->text.len);
        text[c->text.len] = '\0';
        int rc = conf_parse(&w->conf, text, origin, err, sizeof err);
        free(text);
        if (rc != 0) {
            log_error("intake", "event=bad_config err=\"%s\"", err);
            exit(2);
        }
        if (classes_load(w, &w->conf, err, sizeof err) != 0) {
            log_error("intake", "event=class_load_failed err=\"%s\"", err);
            if (!w->configured) {
                exit(2); /* at start: the supervisor logs it and retries */
            }
            /* a reload: the classes loaded so far stay; sockets are not dropped */
        }
        conf_apply_log(&w->conf);
        int pool_changed = !w->configured || w->slot != c->slot || w->nslots != c->nslots;
        w->slot = c->slot;
        w->nslots = c->nslots;
        if (!w->configured) {
            log_info("main", "event=fd_limit soft=%llu hard=%llu",
                     (unsigned long long)w->fd_soft, (unsigned long long)w->fd_hard);
        }
        if (pool_changed) {
            /* Alarms follow ownership: this worker takes those of the objects it now owns. */
            w->storage_ok = alarm_load(w) == 0;
        }
        w->configured = 1;
        log_info("intake", "event=configured worker=%u workers=%u config=%s version=%s", w->slot,
                 w->nslots, origin, w->version != NULL ? w->version : "-");
        return;
    }
    if (!w->configured) {
        log_error("intake", "event=message_before_config type=%d", (int)m->type);
        exit(1);
    }
    if (m->type == MSG_QUERY) {
        report_answer(w, &m->u.query);
        return;
    }
    if (m->type == MSG_REQUEST) {
        request_handle(w, &m->u.request);
        return;
    }
    if (m->type == MSG_CLOSE) {
        request_admin_close(w, &m->u.close);
        return;
    }
    if (m->type == MSG_MIGRATE) {
        migrate_start(w, &m->u.migrate);
        return;
    }
    if (m->type == MSG_ADOPT) {
        migrate_adopt(w, ch, &m->u.emigrant);
        return;
    }
    if (m->type != MSG_HANDOFF) {
        log_error("intake", "event=unexpected_message type=%d", (int)m->type);
        exit(1);
    }
    handshake_start(w, ch, &m->u.handoff);
}

static void on_closed(struct chan *ch, int status, void *arg)
{
    struct worker *w = arg;
    (void)ch;
    if (status == 0) {
        log_info("intake", "event=gateway_gone");
    } else {
        log_error("intake", "event=channel_failed err=%s", uv_err_name(status));
    }
    /* Without a gateway there are no new sockets and nobody to restart us: exit now. */
    exit(status == 0 && w->stopping ? 0 : 1);
}

/* The worker's own heartbeat: an unsolicited stats answer (seq 0) every interval. Under heavy
 * load the gateway's heartbeat queries wait in the channel behind hand-offs, but this timer
 * fires whenever the loop turns, so a slow worker still shows it is alive; only a stuck one
 * (a class that never returns, SIGSTOP) goes silent. */
static void on_heartbeat(uv_timer_t *t)
{
    struct worker *w = t->data;
    if (w->configured) {
        struct msg_query q = { .seq = 0, .what = QUERY_STATS };
        report_answer(w, &q);
    }
}

int intake_start(struct worker *w)
{
    uv_timer_init(w->loop, &w->heartbeat);
    w->heartbeat.data = w;
    uv_timer_start(&w->heartbeat, on_heartbeat, DURO_HEARTBEAT_INTERVAL_MS / 2,
                   DURO_HEARTBEAT_INTERVAL_MS / 2);
    uv_unref((uv_handle_t *)&w->heartbeat); /* never what keeps the loop running */
    w->ch = chan_new(w->loop);
    if (w->ch == NULL) {
        return UV_ENOMEM;
    }
    int rc = chan_open_fd(w->ch, DURO_WORKER_CHANNEL_FD);
    if (rc != 0) {
        return rc;
    }
    return chan_start(w->ch, on_msg, on_closed, w);
}

#include "worker/liveness.h"

#include <stddef.h>

#include "common/log.h"
#include "worker/object.h"
#include "worker/session.h"
#include "worker/tx.h"
#include "worker/worker.h"

static struct session *session_of(struct wheel_node *n)
{
    return (struct session *)(void *)((char *)n - offsetof(struct session, lnode));
}

static uint32_t choose_tick_ms(const struct conf *c)
{
    uint32_t shorter = c->ping_interval_ms < c->ping_timeout_ms ? c->ping_interval_ms
                                                                : c->ping_timeout_ms;
    uint32_t tick = shorter / DURO_PING_TICK_DIVISOR;
    if (tick < DURO_PING_TICK_MS_MIN) {
        tick = DURO_PING_TICK_MS_MIN;
    }
    if (tick > DURO_PING_TICK_MS_MAX) {
        tick = DURO_PING_TICK_MS_MAX;
    }
    return tick;
}

uint32_t liveness_tick(const struct worker *w, uint64_t now_ms)
{
    return (uint32_t)(now_ms / w->liveness.tick_ms);
}

/* Ticks to wait for `ms`: rounded up, plus one because a stamp is a tick's start, so that a
 * deadline is never met early. */
static uint32_t ticks_for(const struct liveness *lv, uint32_t ms)
{
    return (ms + lv->tick_ms - 1) / lv->tick_ms + 1;
}

static void ping(struct session *s, uint32_t now)
{
    struct worker *w = s->w;
    struct liveness *lv = &w->liveness;
    struct duro_iov none = { NULL, 0 };
    if (tx_frame(s, WSLAY_PING, &none, 1, 1) != 0) {
        log_error("session", "conn=%llu event=oom what=ping", (unsigned long long)s->conn_id);
        session_destroy(s);
        return;
    }
    w->metrics.v[M_PINGS_SENT]++;
    log_debug("session", "conn=%llu obj=%s/%s event=ping", (unsigned long long)s->conn_id,
              s->obj->cls->name, s->obj->name);
    s->rx_tick = now;
    s->ping_out = 1;
    wheel_add(&lv->wheel, &s->lnode, now + ticks_for(lv, w->conf.ping_timeout_ms));
    /* Written now, not at the end of the iteration: the act goes back to the pool before the
     * next session of this tick takes one, so pinging every socket at once costs one act. */
    tx_flush(s);
}

static void visit(struct wheel_node *n, void *arg)
{
    struct worker *w = arg;
    struct liveness *lv = &w->liveness;
    struct session *s = session_of(n);
    if (s->state != SESSION_OPEN || w->conf.ping_interval_ms == 0) {
        return; /* closing (the close timer bounds it) or pings turned off: left out */
    }
    uint32_t now = lv->wheel.now;
    uint32_t wait = s->ping_out ? w->conf.ping_timeout_ms : w->conf.ping_interval_ms;
    uint32_t due = s->rx_tick + ticks_for(lv, wait);
    if ((int32_t)(due - now) > 0) {
        wheel_add(&lv->wheel, n, due); /* heard from since it was filed */
        return;
    }
    if (!s->ping_out) {
        ping(s, now);
        return;
    }
    w->metrics.v[M_PING_TIMEOUTS]++;
    log_info("session", "conn=%llu obj=%s/%s event=ping_timeout timeout_ms=%u",
             (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name,
             (unsigned)w->conf.ping_timeout_ms);
    session_destroy(s); /* on_close 1006, was_clean 0; the peer is gone, so no close frame */
}

static void on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct liveness *lv = &w->liveness;
    (void)wheel_advance(&lv->wheel, liveness_tick(w, uv_now(w->loop)), visit, w);
    if (lv->wheel.count == 0) {
        uv_timer_stop(&lv->timer);
        lv->running = 0;
    }
}

int liveness_worker_init(struct worker *w)
{
    struct liveness *lv = &w->liveness;
    wheel_init(&lv->wheel, 0);
    lv->running = 0;
    lv->tick_ms = DURO_PING_TICK_MS_MAX;
    int rc = uv_timer_init(w->loop, &lv->timer);
    if (rc != 0) {
        return rc;
    }
    lv->timer.data = w;
    return 0;
}

void liveness_worker_close(struct worker *w)
{
    uv_close((uv_handle_t *)&w->liveness.timer, NULL);
}

void liveness_add(struct session *s)
{
    struct worker *w = s->w;
    struct liveness *lv = &w->liveness;
    if (w->conf.ping_interval_ms == 0 || wheel_linked(&s->lnode)) {
        return;
    }
    if (!lv->running) {
        /* The tick is fixed while sockets are filed; a reloaded config's tick applies once the
         * wheel has emptied. */
        lv->tick_ms = choose_tick_ms(&w->conf);
        wheel_restart(&lv->wheel, liveness_tick(w, uv_now(w->loop)));
        if (uv_timer_start(&lv->timer, on_tick, lv->tick_ms, lv->tick_ms) != 0) {
            log_error("session", "event=ping_timer_failed");
            return;
        }
        lv->running = 1;
    }
    uint32_t now = liveness_tick(w, uv_now(w->loop));
    s->rx_tick = now;
    s->ping_out = 0;
    wheel_add(&lv->wheel, &s->lnode, now + ticks_for(lv, w->conf.ping_interval_ms));
}

void liveness_touch(struct session *s)
{
    struct worker *w = s->w;
    if (w->liveness.running) {
        s->rx_tick = liveness_tick(w, uv_now(w->loop));
        s->ping_out = 0;
    }
}

void liveness_remove(struct session *s)
{
    wheel_remove(&s->w->liveness.wheel, &s->lnode);
}

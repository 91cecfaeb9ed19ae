/* worker/act.c: a session's active state (struct session_act, worker/session.h): the
 * worker's pool of them, and the close timeouts, which only an active session has. */
#include "worker/act.h"

#include <stdlib.h>

#include "common/log.h"
#include "worker/tx.h"

#define OUT_BUF_KEEP_BYTES 65536u /* a larger output buffer is freed when the socket idles */

/* ---- the act pool ---- */

void act_free(struct worker *w, struct session_act *a)
{
    ws_rx_free(&a->rx);
    tx_act_free(w, a);
    free(a);
}

struct session_act *session_act(struct session *s)
{
    if (s->act != NULL) {
        return s->act;
    }
    struct worker *w = s->w;
    struct session_act *a = w->act_pool;
    if (a != NULL) {
        w->act_pool = a->next;
        w->act_pool_count--;
    } else {
        a = calloc(1, sizeof *a);
        if (a == NULL || ws_rx_init(&a->rx, w->conf.message_max_bytes) != 0) {
            free(a);
            return NULL;
        }
    }
    a->next = NULL;
    a->s = s;
    s->act = a;
    w->acts_in_use++;
    return a;
}

void act_release(struct session *s)
{
    struct session_act *a = s->act;
    struct worker *w = s->w;
    act_timeout_disarm(a);
    s->act = NULL;
    a->s = NULL;
    w->acts_in_use--;
    if (s->zc != NULL) {
        /* Takeover: the idle socket keeps its windows (zlib streams), not the scratch buffers
         * of the messages it compressed or inflated (about 8 KiB: BENCHMARKS.md). */
        pmd_codec_trim(s->zc);
    }
    if (ws_rx_reset(&a->rx) != 0) {
        act_free(w, a);
        return;
    }
    if (w->act_pool_count >= DURO_ACT_POOL_MAX_COUNT) {
        act_free(w, a);
        return;
    }
    ws_rx_trim(&a->rx, OUT_BUF_KEEP_BYTES);
    tx_act_clear(w, a, OUT_BUF_KEEP_BYTES);
    a->next = w->act_pool;
    w->act_pool = a;
    w->act_pool_count++;
}

void act_maybe_release(struct session *s)
{
    struct session_act *a = s->act;
    if (a != NULL && s->state == SESSION_OPEN && !s->writing && tx_buffered(s) == 0 &&
        ws_rx_idle(&a->rx) && s->w->current != s) {
        act_release(s);
    }
}

/* ---- close timeouts: one timer per worker, a FIFO list (every deadline is "now + the same
 * close_timeout_ms", so the list is in deadline order) ---- */

static void on_timeout_tick(uv_timer_t *t);

static void timeout_schedule(struct worker *w)
{
    if (w->to_head == NULL) {
        uv_timer_stop(&w->to_timer);
        return;
    }
    uint64_t now = uv_now(w->loop);
    uint64_t at = w->to_head->deadline_ms;
    uv_timer_start(&w->to_timer, on_timeout_tick, at > now ? at - now : 0, 0);
}

void act_timeout_disarm(struct session_act *a)
{
    if (a->deadline_ms == 0) {
        return;
    }
    struct worker *w = a->s->w;
    if (a->to_prev != NULL) {
        a->to_prev->to_next = a->to_next;
    } else {
        w->to_head = a->to_next;
    }
    if (a->to_next != NULL) {
        a->to_next->to_prev = a->to_prev;
    } else {
        w->to_tail = a->to_prev;
    }
    a->to_prev = a->to_next = NULL;
    a->deadline_ms = 0;
}

void act_timeout_arm(struct session *s)
{
    struct session_act *a = s->act;
    struct worker *w = s->w;
    act_timeout_disarm(a);
    a->deadline_ms = uv_now(w->loop) + w->conf.close_timeout_ms;
    a->to_prev = w->to_tail;
    a->to_next = NULL;
    if (w->to_tail != NULL) {
        w->to_tail->to_next = a;
    } else {
        w->to_head = a;
    }
    w->to_tail = a;
    if (w->to_head == a) {
        timeout_schedule(w);
    }
}

static void on_timeout_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    uint64_t now = uv_now(w->loop);
    while (w->to_head != NULL && w->to_head->deadline_ms <= now) {
        struct session *s = w->to_head->s;
        act_timeout_disarm(w->to_head);
        log_debug("session", "conn=%llu event=close_timeout", (unsigned long long)s->conn_id);
        session_destroy(s);
    }
    timeout_schedule(w);
}

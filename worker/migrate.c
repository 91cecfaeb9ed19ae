#include "worker/migrate.h"

#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/hash.h"
#include "common/log.h"
#include "worker/class_loader.h"
#include "worker/handover.h"
#include "worker/object.h"
#include "worker/report.h"
#include "worker/session.h"
#include "worker/storage_api.h"
#include "worker/tx.h"

#define MIGRATE_POLL_MS 10u /* after MIGRATE_ALL: how often "no session left?" is asked */

/* The one MSG_MIGRATE in progress (w->mig points here while it runs). */
struct migration {
    struct worker *w;
    uint64_t seq;
    uint32_t mode, slot, nslots;
    uint64_t t0_ns;
    uint32_t moved;    /* MSG_EMIGRATE sent */
    uint32_t closed;   /* closed with 1012 */
    uint32_t objects;  /* leaving objects whose sockets have not all left */
    uint32_t sending;  /* MSG_EMIGRATE whose descriptor is not sent yet */
    int timers_ready;
    uv_timer_t deadline;
    uv_timer_t poll;
};

static struct migration the_mig;
static uint8_t state_buf[DURO_HANDOVER_STATE_MAX_BYTES];
static uint8_t def_win[HANDOVER_WINDOW_MAX_BYTES], inf_win[HANDOVER_WINDOW_MAX_BYTES];

static int leaves(const struct migration *m, const struct object *o)
{
    return m->mode == MIGRATE_ALL || hash_pick_slot(o->key, m->nslots) != m->slot;
}

static uint64_t elapsed_us(const struct migration *m)
{
    return (uv_hrtime() - m->t0_ns) / 1000u;
}

/* ---- the end ---- */

static void finish_check(struct worker *w)
{
    struct migration *m = w->mig;
    if (m == NULL || m->objects > 0 || m->sending > 0 ||
        (m->mode == MIGRATE_ALL && w->sessions_open > 0)) {
        return;
    }
    uv_timer_stop(&m->deadline);
    uv_timer_stop(&m->poll);
    w->mig = NULL;
    uint64_t us = elapsed_us(m);
    metrics_observe(&w->metrics, H_HANDOVER, us * 1000u);
    log_info("handover", "event=handover action=migrated seq=%llu mode=%s moved=%u closed=%u "
             "remaining=%llu elapsed_ms=%llu", (unsigned long long)m->seq,
             m->mode == MIGRATE_ALL ? "all" : "resize", m->moved, m->closed,
             (unsigned long long)w->sessions_open, (unsigned long long)(us / 1000u));
    /* The counters as they are now, before the gateway reads them for the last time. */
    struct msg_query q = { .seq = 0, .what = QUERY_STATS };
    report_answer(w, &q);
    struct msg_migrated done = { .seq = m->seq, .moved = m->moved, .closed = m->closed,
                                 .remaining = (uint32_t)w->sessions_open, .elapsed_us = us };
    uint8_t buf[DURO_MSG_HEADER_BYTES + 32];
    size_t n = msg_encode_migrated(buf, sizeof buf, &done);
    if (m->mode == MIGRATE_ALL) {
        /* The gateway closes the channel once it has read this, and so every MSG_EMIGRATE
         * before it: the channel's end (intake.c) is our exit, with status 0. Exiting here
         * instead could lose what the gateway had not read yet. */
        w->stopping = 1;
    }
    if (chan_send(w->ch, buf, n, NULL, NULL, NULL) != 0) {
        log_error("handover", "event=migrated_send_failed");
        if (m->mode == MIGRATE_ALL) {
            log_flush();
            exit(1);
        }
    }
}

static void on_poll(uv_timer_t *t)
{
    finish_check(((struct migration *)t->data)->w);
}

/* ---- leaving ---- */

static void close_1012(struct migration *m, struct session *s)
{
    static const char reason[] = "service restart";
    s->migrating = 0;
    int was_held = s->held;
    s->held = 0;
    m->closed++;
    m->w->metrics.v[M_HANDOVER_CLOSED]++;
    /* The client's answer to our close is read (a socket still reading reads on). */
    if (was_held && session_read_start(s) != 0) {
        session_destroy(s);
        return;
    }
    session_send_close(s, DURO_CLOSE_RESTART, reason, sizeof reason - 1);
    session_finish(s);
}

/* The session's connection is being handed to another worker: it leaves its object and the
 * gauge now, without on_close or a close frame, and does nothing more (DESTROYED: no read,
 * timer or wheel touches it). It is clean, so no close timer is armed and nothing is queued;
 * its handle stays open until the descriptor is sent (session_free_detached). */
static void detach(struct session *s)
{
    s->state = SESSION_DESTROYED;
    session_uncount(s);
    tx_unqueue(s);
    liveness_remove(s);
    uv_read_stop((uv_stream_t *)&s->tcp);
    if (s->accepted) {
        s->w->metrics.v[M_WS_OPEN]--;
    }
    object_remove_socket(s->obj, s);
}

static void on_emigrant_sent(int status, void *arg)
{
    struct session *s = arg;
    struct worker *w = s->w;
    if (status != 0) {
        log_error("handover", "conn=%llu event=handover_lost err=%s",
                  (unsigned long long)s->conn_id, uv_err_name(status));
    }
    session_free_detached(s); /* our copy of the descriptor; the gateway has its own */
    if (w->mig != NULL) {
        w->mig->sending--;
        finish_check(w);
    }
}

/* The state of `s` (and, when `rules` is set, its object's auto-responses) into state_buf. */
static size_t encode_state(struct session *s, int rules, uint16_t group_left)
{
    struct worker *w = s->w;
    struct object *o = s->obj;
    uint64_t now = uv_now(w->loop);
    struct handover_state st = {
        .flags = (uint16_t)((s->ping_out ? HANDOVER_PING_OUT : 0) |
                            (s->rate_started ? HANDOVER_RATE_STARTED : 0)),
        .group_left = group_left,
        .age_ms = now - s->opened_ms,
        .last_auto_ms = s->last_auto_ms,
        .bytes_in = s->bytes_in,
        .bytes_out = s->bytes_out,
        .msgs_in = s->msgs_in,
        .msgs_out = s->msgs_out,
        .rate_milli = s->rate_tokens > 0 ? (uint32_t)(s->rate_tokens * 1000.0) : 0,
        .client = { s->client ? s->client : "", s->client ? strlen(s->client) : 0 },
        .attachment = { (const char *)s->attachment, s->attachment_len },
        .pmd_on = s->pmd_sbits != 0,
        .pmd_snt = (uint8_t)s->pmd_snt,
        .pmd_cnt = (uint8_t)s->pmd_cnt,
        .pmd_sbits = s->pmd_sbits,
        .pmd_cbits = s->pmd_cbits,
        .ntags = s->ntags,
    };
    if (w->conf.ping_interval_ms != 0) {
        uint32_t ticks = liveness_tick(w, now) - s->rx_tick;
        st.silent_ms = ticks * w->liveness.tick_ms;
    }
    if (s->zc != NULL) {
        if (!s->pmd_snt) {
            st.def_window = (struct msg_span){ (const char *)def_win,
                                               pmd_codec_window(s->zc, 1, def_win) };
        }
        if (!s->pmd_cnt) {
            st.inf_window = (struct msg_span){ (const char *)inf_win,
                                               pmd_codec_window(s->zc, 0, inf_win) };
        }
    }
    for (uint8_t i = 0; i < s->ntags; i++) {
        st.tags[i] = (struct msg_span){ s->tags[i].entry->tag, s->tags[i].entry->len };
    }
    if (rules) {
        st.nrules = o->nrules;
        for (uint8_t i = 0; i < o->nrules; i++) {
            const struct auto_rule *r = &o->rules[i];
            st.rules[i] = (struct handover_rule){ r->req_kind, r->resp_kind,
                                                  { (const char *)r->req, r->req_len },
                                                  { (const char *)r->resp, r->resp_len } };
        }
    }
    return handover_encode(state_buf, sizeof state_buf, &st);
}

static void emigrate(struct migration *m, struct session *s, int rules, uint16_t group_left)
{
    struct worker *w = m->w;
    struct object *o = s->obj;
    size_t slen = encode_state(s, rules, group_left);
    struct msg_emigrant e = {
        .seq = m->seq,
        .conn_id = s->conn_id,
        .cls = { o->cls->name, strlen(o->cls->name) },
        .name = { o->name, o->name_len },
        .state = { (const char *)state_buf, slen },
    };
    size_t cap = slen > 0 ? msg_emigrant_size(&e) : 0;
    uint8_t *buf = cap > 0 ? malloc(cap) : NULL;
    size_t n = buf != NULL ? msg_encode_emigrant(buf, cap, MSG_EMIGRATE, &e) : 0;
    int rc = n > 0 ? chan_send(w->ch, buf, n, (uv_stream_t *)&s->tcp, on_emigrant_sent, s) : -1;
    free(buf);
    if (rc != 0) {
        log_error("handover", "conn=%llu obj=%s/%s event=handover_failed state_bytes=%zu "
                  "action=close_1012", (unsigned long long)s->conn_id, o->cls->name, o->name,
                  slen);
        close_1012(m, s);
        return;
    }
    log_debug("handover", "conn=%llu obj=%s/%s event=handover action=emigrate state_bytes=%zu",
              (unsigned long long)s->conn_id, o->cls->name, o->name, slen);
    detach(s);
    m->sending++;
    m->moved++;
    w->metrics.v[M_HANDOVER_SOCKETS]++;
}

/* True once `s` is at its clean point: no message half-received (else it reads on until
 * the message is whole), reads stopped, nothing left to write. */
static int socket_clean(struct session *s)
{
    struct session_act *a = s->act;
    if (a != NULL && !ws_rx_idle(&a->rx)) {
        return 0;
    }
    if (!s->held) {
        s->held = 1;
        uv_read_stop((uv_stream_t *)&s->tcp);
    }
    return !s->writing && !s->flush_queued && tx_buffered(s) == 0;
}

/* Every socket of `o` is clean: destroy it as hibernation does, send the sockets away, and
 * forget it here. */
static void depart(struct migration *m, struct object *o)
{
    object_reset(o); /* the class's destroy, the storage file closed */
    o->leaving = 0;
    m->objects--;
    unsigned n = 0;
    for (struct session *s = o->sockets; s != NULL; s = s->onext) {
        n += s->state == SESSION_OPEN && s->migrating;
    }
    int first = 1;
    struct session *s = o->sockets;
    while (s != NULL) {
        struct session *next = s->onext;
        if (s->state == SESSION_OPEN && s->migrating) {
            n--;
            emigrate(m, s, first, n > UINT16_MAX ? UINT16_MAX : (uint16_t)n);
            first = 0;
        }
        s = next;
    }
    if (o->nsockets == 0) {
        (void)object_forget_now(o);
    }
}

void migrate_object_check(struct object *o)
{
    struct worker *w = object_worker(o);
    struct migration *m = w->mig;
    if (m == NULL || !o->leaving) {
        return;
    }
    int ready = 1;
    for (struct session *s = o->sockets; s != NULL; s = s->onext) {
        if (s->state == SESSION_OPEN && s->migrating && !socket_clean(s)) {
            ready = 0;
        }
    }
    if (!ready || storage_gated(o) || o->dirty_listed) {
        return;
    }
    depart(m, o);
    finish_check(w);
}

void migrate_socket_check(struct session *s)
{
    if (s->state == SESSION_OPEN && s->obj != NULL && s->obj->leaving) {
        migrate_object_check(s->obj);
    }
}

static void mark(struct migration *m, struct object *o)
{
    if (o->leaving) {
        return;
    }
    o->leaving = 1;
    m->objects++;
    for (struct session *s = o->sockets; s != NULL; s = s->onext) {
        if (s->state == SESSION_OPEN) {
            s->migrating = 1;
        }
    }
    migrate_object_check(o);
}

void migrate_joined(struct session *s)
{
    struct migration *m = s->w->mig;
    struct object *o = s->obj;
    if (m == NULL || o == NULL || s->state != SESSION_OPEN) {
        return;
    }
    if (o->leaving) {
        s->migrating = 1;
        migrate_object_check(o);
    } else if (leaves(m, o)) {
        mark(m, o);
    }
}

struct objects_vec {
    struct object **v;
    size_t n, cap;
};

static void collect(struct object *o, void *arg)
{
    struct objects_vec *ov = arg;
    if (ov->n == ov->cap) {
        size_t cap = ov->cap ? ov->cap * 2 : 64;
        struct object **p = realloc(ov->v, cap * sizeof *p);
        if (p == NULL) {
            return; /* that object stays: the timeout closes nothing of it either */
        }
        ov->v = p;
        ov->cap = cap;
    }
    ov->v[ov->n++] = o;
}

/* The timeout: whatever has not left is closed with 1012, and the migration ends once those
 * closes are done. */
static void on_deadline(uv_timer_t *t)
{
    struct migration *m = t->data;
    struct worker *w = m->w;
    struct objects_vec ov = { 0 };
    registry_each_object(w->reg, collect, &ov);
    for (size_t i = 0; i < ov.n; i++) {
        struct object *o = ov.v[i];
        if (!o->leaving) {
            continue;
        }
        o->leaving = 0;
        m->objects--;
        struct session *s = o->sockets;
        while (s != NULL) {
            struct session *next = s->onext;
            if (s->state == SESSION_OPEN && s->migrating) {
                close_1012(m, s);
            }
            s = next;
        }
        log_warn("handover", "obj=%s/%s event=handover_timeout sockets=%u gated=%d",
                 o->cls->name, o->name, o->nsockets, storage_gated(o));
    }
    free(ov.v);
    if (m->mode == MIGRATE_ALL) {
        uv_timer_start(&m->poll, on_poll, MIGRATE_POLL_MS, MIGRATE_POLL_MS);
    }
    finish_check(w);
}

void migrate_start(struct worker *w, const struct msg_migrate *msg)
{
    struct migration *m = &the_mig;
    if (!m->timers_ready) {
        uv_timer_init(w->loop, &m->deadline);
        uv_timer_init(w->loop, &m->poll);
        m->deadline.data = m->poll.data = m;
        m->timers_ready = 1;
    }
    if (w->mig == NULL) {
        m->w = w;
        m->t0_ns = uv_hrtime();
        m->moved = m->closed = m->objects = m->sending = 0;
        w->mig = m;
    } else if (m->mode == MIGRATE_ALL) {
        return; /* already leaving altogether */
    }
    m->seq = msg->seq;
    m->mode = msg->mode;
    m->slot = msg->slot;
    m->nslots = msg->nslots;
    log_info("handover", "event=handover action=migrate seq=%llu mode=%s slot=%u workers=%u "
             "sockets=%llu timeout_ms=%u", (unsigned long long)m->seq,
             m->mode == MIGRATE_ALL ? "all" : "resize", m->slot, m->nslots,
             (unsigned long long)w->sessions_open, msg->timeout_ms);
    uv_timer_start(&m->deadline, on_deadline, msg->timeout_ms ? msg->timeout_ms : 1, 0);
    if (m->mode == MIGRATE_ALL) {
        uv_timer_start(&m->poll, on_poll, MIGRATE_POLL_MS, MIGRATE_POLL_MS);
    }
    struct objects_vec ov = { 0 };
    registry_each_object(w->reg, collect, &ov);
    for (size_t i = 0; i < ov.n && w->mig != NULL; i++) {
        if (leaves(m, ov.v[i])) {
            mark(m, ov.v[i]);
        }
    }
    free(ov.v);
    finish_check(w);
}

/* ---- arriving ---- */

static int restore(struct session *s, const struct handover_state *st)
{
    struct object *o = s->obj;
    if (st->attachment.len > 0) {
        s->attachment = malloc(st->attachment.len);
        if (s->attachment == NULL) {
            return -1;
        }
        memcpy(s->attachment, st->attachment.ptr, st->attachment.len);
        s->attachment_len = (uint32_t)st->attachment.len;
    }
    if (st->client.len > 0 && (s->client = strndup(st->client.ptr, st->client.len)) == NULL) {
        return -1;
    }
    for (uint8_t i = 0; i < st->ntags; i++) {
        if (object_tag_socket(o, s, st->tags[i].ptr, st->tags[i].len) != 0) {
            return -1;
        }
    }
    for (uint8_t i = 0; i < st->nrules; i++) {
        const struct handover_rule *r = &st->rules[i];
        if (object_auto_response_add(o, r->req_kind, r->req.ptr, r->req.len, r->resp_kind,
                                     r->resp.ptr, r->resp.len) != 0) {
            return -1;
        }
    }
    struct pmd_params p = { st->pmd_on, st->pmd_snt, st->pmd_cnt, st->pmd_sbits,
                            st->pmd_cbits };
    session_set_pmd(s, &p);
    if (st->def_window.len > 0 || st->inf_window.len > 0) {
        struct pmd_level lv = { DURO_DEFLATE_LEVEL, DURO_DEFLATE_MEM_LEVEL_TAKEOVER };
        s->zc = calloc(1, sizeof *s->zc);
        if (s->zc == NULL ||
            pmd_codec_restore(s->zc, &p, &lv, (const uint8_t *)st->def_window.ptr,
                              st->def_window.len, (const uint8_t *)st->inf_window.ptr,
                              st->inf_window.len) != 0) {
            return -1;
        }
    }
    s->last_auto_ms = st->last_auto_ms;
    s->bytes_in = st->bytes_in;
    s->bytes_out = st->bytes_out;
    s->msgs_in = st->msgs_in;
    s->msgs_out = st->msgs_out;
    if (st->flags & HANDOVER_RATE_STARTED) {
        s->rate_started = 1;
        s->rate_tokens = st->rate_milli / 1000.0;
        s->rate_ms = uv_now(s->w->loop);
    }
    return 0;
}

/* Early bytes of a grouped socket, kept until its group is released (in the attachment's
 * place would be wrong: kept beside it, in the session's `protocol` string slot, unused after
 * a handshake). */
static int keep_early(struct session *s, const struct handover_state *st)
{
    if (st->early.len == 0) {
        return 0;
    }
    s->protocol = malloc(st->early.len + sizeof(uint32_t));
    if (s->protocol == NULL) {
        return -1;
    }
    uint32_t n = (uint32_t)st->early.len;
    memcpy(s->protocol, &n, sizeof n);
    memcpy(s->protocol + sizeof n, st->early.ptr, n);
    return 0;
}

/* Starts an adopted socket: reads, its early bytes, and the migration it may join. */
static void start(struct session *s, const uint8_t *early, size_t len)
{
    if (session_read_start(s) != 0) {
        session_destroy(s);
        return;
    }
    if (len > 0) {
        session_feed(s, early, len);
    }
    migrate_joined(s);
}

/* The group of `o` is complete (or waited too long): its held sockets start. */
static void release_group(struct object *o)
{
    struct session *s = o->sockets;
    while (s != NULL) {
        struct session *next = s->onext;
        if (s->grouped && s->state == SESSION_OPEN) {
            s->grouped = 0;
            s->held = 0;
            char *kept = s->protocol;
            s->protocol = NULL;
            uint32_t n = 0;
            if (kept != NULL) {
                memcpy(&n, kept, sizeof n);
            }
            start(s, kept != NULL ? (const uint8_t *)kept + sizeof n : NULL, n);
            free(kept);
        }
        s = next;
    }
}

static void release_one(struct object *o, void *arg)
{
    (void)arg;
    release_group(o);
}

/* A group whose last socket never comes (lost on the way) does not wait forever. */
static uv_timer_t group_timer;
static int group_timer_ready;

static void on_group_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    registry_each_object(w->reg, release_one, NULL);
}

static void arm_group_timer(struct worker *w)
{
    if (!group_timer_ready) {
        uv_timer_init(w->loop, &group_timer);
        uv_unref((uv_handle_t *)&group_timer);
        group_timer.data = w;
        group_timer_ready = 1;
    }
    uv_timer_start(&group_timer, on_group_timer, w->conf.upgrade_timeout_ms, 0);
}

/* A socket that cannot be adopted is closed with 1012: its client reconnects. */
static void refuse(struct session *s)
{
    static const uint8_t close_1012[] = { 0x88, 0x02, 0x03, 0xf4 };
    s->w->metrics.v[M_HANDOVER_CLOSED]++;
    s->state = SESSION_REFUSED;
    if (tx_queue(s, close_1012, sizeof close_1012, 1) != 0) {
        session_destroy(s);
        return;
    }
    session_finish(s);
}

void migrate_adopt(struct worker *w, struct chan *ch, const struct msg_emigrant *e)
{
    struct session *s = session_new(w, e->conn_id);
    if (s == NULL) {
        log_error("handover", "conn=%llu event=oom", (unsigned long long)e->conn_id);
        return; /* chan closes the unclaimed descriptor */
    }
    if (chan_accept(ch, (uv_stream_t *)&s->tcp) != 0) {
        log_error("handover", "conn=%llu event=accept_failed", (unsigned long long)e->conn_id);
        session_destroy(s);
        return;
    }
    struct handover_state st;
    if (handover_decode((const uint8_t *)e->state.ptr, e->state.len, &st) != 0) {
        log_error("handover", "conn=%llu event=adopt_failed reason=\"unknown state format\" "
                  "action=close_1012", (unsigned long long)e->conn_id);
        refuse(s);
        return;
    }
    const struct duro_class *cls = classes_find(w, e->cls.ptr, e->cls.len);
    struct object *o = cls != NULL ? registry_get_asleep(w->reg, cls, e->name.ptr, e->name.len)
                                   : NULL;
    if (o == NULL) {
        log_error("handover", "conn=%llu event=adopt_failed reason=\"%s\" action=close_1012",
                  (unsigned long long)e->conn_id, cls == NULL ? "unknown class" : "no memory");
        refuse(s);
        return;
    }
    object_add_socket(o, s);
    if (restore(s, &st) != 0) {
        log_error("handover", "conn=%llu obj=%s/%s event=adopt_failed reason=\"no memory\" "
                  "action=close_1012", (unsigned long long)e->conn_id, cls->name, o->name);
        refuse(s);
        return;
    }
    session_opened(s);
    w->metrics.v[M_WS_ACCEPTED]--; /* accepted once, by the worker it came from */
    uint64_t now = uv_now(w->loop);
    s->opened_ms = st.age_ms < now ? now - st.age_ms : 0;
    if (st.flags & HANDOVER_PING_OUT) {
        s->ping_out = 1; /* the pong it owes still counts; the timeout restarts here */
    }
    w->metrics.v[M_HANDOVER_ADOPTED]++;
    log_debug("handover", "conn=%llu obj=%s/%s event=handover action=adopt sockets=%u",
              (unsigned long long)s->conn_id, cls->name, o->name, o->nsockets);
    if (st.group_left > 0) {
        /* More of its object's sockets are on their way: nobody of the group reads (no event,
         * no broadcast) until the last has arrived. The early bytes wait too. */
        s->grouped = 1;
        s->held = 1;
        if (keep_early(s, &st) != 0) {
            refuse(s);
        }
        arm_group_timer(w);
        return;
    }
    release_group(o);
    start(s, (const uint8_t *)st.early.ptr, st.early.len);
}

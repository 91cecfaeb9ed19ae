#include "worker/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "worker/alarm.h"
#include "worker/object.h"
#include "worker/storage.h"

struct json {
    char *p;
    size_t len;
    size_t cap;
    int full; /* DURO_OBJECTS_JSON_MAX_BYTES reached: later objects are left out */
    struct worker *w;
    uint64_t now;
};

static void put(struct json *j, const char *s, size_t n)
{
    if (j->full) {
        return;
    }
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap * 2 : DURO_REPORT_JSON_INITIAL_BYTES;
        while (cap < j->len + n) {
            cap *= 2;
        }
        char *p = cap <= DURO_OBJECTS_JSON_MAX_BYTES ? realloc(j->p, cap) : NULL;
        if (p == NULL) {
            j->full = 1;
            return;
        }
        j->p = p;
        j->cap = cap;
    }
    memcpy(j->p + j->len, s, n);
    j->len += n;
}

/* A JSON string: object names may hold any byte but NUL (they are percent-decoded). */
static void put_string(struct json *j, const char *s, size_t n)
{
    put(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(j, esc, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            /* non-ASCII bytes as \u00XX: names need not be UTF-8 */
            int k = snprintf(esc, sizeof esc, "\\u%04x", c);
            put(j, esc, (size_t)k);
        } else {
            put(j, (const char *)&c, 1);
        }
    }
    put(j, "\"", 1);
}

static void one_object(struct object *o, void *arg)
{
    struct json *j = arg;
    char buf[384];
    size_t start = j->len;
    if (j->len > 0) {
        put(j, ",", 1);
    }
    put(j, "{\"class\":", 9);
    put_string(j, o->cls->name, strlen(o->cls->name));
    put(j, ",\"name\":", 8);
    put_string(j, o->name, o->name_len);
    int n = snprintf(buf, sizeof buf,
                     ",\"id\":\"%s\",\"worker\":%u,\"sockets\":%u,\"open\":%u,\"state\":\"%s\","
                     "\"last_event_ms_ago\":%llu,\"storage_bytes\":%llu,"
                     "\"next_alarm_ms\":%lld}",
                     o->id, j->w->slot, o->nsockets, o->open_count,
                     o->live ? "live" : "hibernated",
                     (unsigned long long)(j->now - o->last_event_ms),
                     (unsigned long long)store_file_bytes(j->w->conf.storage_dir, o->cls->name,
                                                          o->id),
                     (long long)alarm_next(j->w, o->cls, o->name, o->name_len));
    put(j, buf, (size_t)n);
    if (j->full) {
        j->len = start; /* never a half object */
    }
}

static void send_bytes(struct worker *w, uint8_t *bytes, size_t n)
{
    if (n == 0 || chan_send(w->ch, bytes, n, NULL, NULL, NULL) != 0) {
        log_error("report", "event=answer_failed bytes=%zu", n);
    }
}

void report_answer(struct worker *w, const struct msg_query *q)
{
    if (q->what == QUERY_STATS) {
        struct metrics m = w->metrics;
        m.v[M_OBJ_LIVE] = registry_live(w->reg);
        m.v[M_OBJ_HIBERNATED] = registry_count(w->reg) - registry_live(w->reg);
        const struct object_stats *os = registry_stats(w->reg);
        m.v[M_OBJ_CONSTRUCTS] = os->constructs;
        m.v[M_OBJ_WAKES] = os->wakes;
        m.v[M_OBJ_HIBERNATIONS] = os->hibernations;
        m.v[M_OBJ_DESTROYS] = os->destroys;
        m.v[M_HANDOFF_DROPPED] = chan_handoffs_dropped(w->ch);
        uint64_t used = w->fd_base + w->sessions_open;
        m.v[M_FD_HEADROOM] = w->fd_soft > used ? w->fd_soft - used : 0;
        uint64_t words[METRICS_WORDS];
        metrics_to_words(&m, words);
        uint8_t buf[DURO_MSG_HEADER_BYTES + 12 + sizeof words];
        send_bytes(w, buf, msg_encode_stats(buf, sizeof buf, q->seq, words, METRICS_WORDS));
        return;
    }
    struct json j = { .w = w, .now = uv_now(w->loop) };
    registry_each_object(w->reg, one_object, &j);
    if (j.full) {
        log_warn("report", "event=objects_truncated limit=%u", DURO_OBJECTS_JSON_MAX_BYTES);
    }
    size_t cap = DURO_MSG_HEADER_BYTES + 12 + j.len;
    uint8_t *buf = malloc(cap);
    if (buf != NULL) {
        send_bytes(w, buf, msg_encode_objects(buf, cap, q->seq, j.p ? j.p : "", j.len));
    }
    free(buf);
    free(j.p);
}

#include "worker/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "worker/alarm.h"
#include "worker/object.h"
#include "worker/storage.h"

/* One chunk of the worker's objects as JSON: at most DURO_OBJECTS_JSON_MAX_BYTES, and never a
 * half object. */
struct json {
    char *p;
    size_t len;
    size_t cap;
    int full; /* the entry being written did not fit */
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
        if (cap > DURO_OBJECTS_JSON_MAX_BYTES && j->len + n <= DURO_OBJECTS_JSON_MAX_BYTES) {
            cap = DURO_OBJECTS_JSON_MAX_BYTES;
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

/* Appends `o`. Returns 0 when it does not fit (the chunk is full), leaving the JSON as it was. */
static int one_object(struct json *j, const struct object *o)
{
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
        j->full = 0;
        return 0;
    }
    return 1;
}

/* ---- the listing, one chunk per query ----
 *
 * The registry is a hash table that only grows, by doubling. Its buckets are visited in
 * reverse-binary order (Redis's SCAN): a table that doubled between two chunks splits each
 * bucket into buckets that come next to each other in that order, so a cursor stays valid and
 * every object present from the first chunk to the last is listed, once. Inside a unit (a
 * bucket, or the buckets a split one became), objects go in id order, so that a chunk may end
 * mid-unit: the cursor then holds the last id listed. */

static uint64_t reverse_bits(uint64_t v)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (v & 1u);
        v >>= 1;
    }
    return r;
}

/* The bucket after `v` in a table of mask+1 buckets, or 0 after the last. */
static uint64_t next_bucket(uint64_t v, uint64_t mask)
{
    v |= ~mask;
    v = reverse_bits(v);
    v++;
    return reverse_bits(v);
}

static int by_id(const void *a, const void *b)
{
    const struct object *x = *(const struct object *const *)a;
    const struct object *y = *(const struct object *const *)b;
    return memcmp(x->id, y->id, DURO_OBJECT_ID_HEX_BYTES);
}

struct unit {
    struct object **list;
    size_t n;
    size_t cap;
};

/* The objects of the unit at `c` in a table of 2^bits buckets, after c->after when it has one,
 * in id order. Adds the buckets looked at to *scanned. Returns 0 or -1 (ENOMEM). */
static int gather(struct registry *reg, const struct msg_objects_cursor *c, unsigned bits,
                  size_t *scanned, struct unit *u)
{
    size_t span = (size_t)1 << (bits - c->bits); /* buckets the unit's one became */
    u->n = 0;
    for (size_t k = 0; k < span; k++) {
        struct object *o = registry_bucket(reg, (size_t)c->bucket | (k << c->bits));
        for (; o != NULL; o = o->hnext) {
            if (c->has_after && memcmp(o->id, c->after, DURO_OBJECT_ID_HEX_BYTES) <= 0) {
                continue;
            }
            if (u->n == u->cap) {
                size_t cap = u->cap ? u->cap * 2 : 16;
                struct object **p = realloc(u->list, cap * sizeof *p);
                if (p == NULL) {
                    return -1;
                }
                u->list = p;
                u->cap = cap;
            }
            u->list[u->n++] = o;
        }
    }
    *scanned += span;
    if (u->n > 1) {
        qsort(u->list, u->n, sizeof *u->list, by_id);
    }
    return 0;
}

/* Lists up to q->limit objects from q->from on into `j`; `out` gets the count and the cursor. */
static void list_chunk(struct worker *w, const struct msg_query *q, struct json *j,
                       struct msg_objects *out)
{
    size_t nb = registry_buckets(w->reg);
    unsigned bits = 0;
    while (((size_t)1 << bits) < nb) {
        bits++;
    }
    uint64_t mask = (uint64_t)nb - 1;
    struct msg_objects_cursor c = q->from;
    if (!c.has_after || c.bits > bits) {
        /* Without a last id, the unit's buckets are visited one by one, as any. A table
         * smaller than the cursor's is another process's (the worker restarted). */
        c.bucket &= mask;
        c.bits = (uint8_t)bits;
    }
    struct unit u = { 0 };
    size_t scanned = 0;
    out->count = 0;
    out->more = 1;
    for (;;) {
        if (gather(w->reg, &c, bits, &scanned, &u) != 0) {
            log_warn("report", "event=objects_chunk_oom listed=%u", out->count);
            break;
        }
        size_t i = 0;
        while (i < u.n && out->count < q->limit && one_object(j, u.list[i])) {
            memcpy(c.after, u.list[i]->id, DURO_OBJECT_ID_HEX_BYTES);
            c.has_after = 1;
            out->count++;
            i++;
        }
        if (i < u.n) {
            break; /* mid-unit: go on after c.after */
        }
        c.bucket = next_bucket(c.bucket, ((uint64_t)1 << c.bits) - 1);
        c.bits = (uint8_t)bits;
        c.has_after = 0;
        if (c.bucket == 0) {
            out->more = 0;
            break;
        }
        /* A full chunk still looks for a next object, so that the last chunk says it is. */
        if (scanned >= DURO_OBJECTS_CHUNK_SCAN_MAX_COUNT) {
            break;
        }
    }
    free(u.list);
    out->next = c;
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
        m.v[M_BUFFERED] = w->budget.used_bytes;
        uint64_t words[METRICS_WORDS];
        metrics_to_words(&m, words);
        uint8_t buf[DURO_MSG_HEADER_BYTES + 12 + sizeof words];
        send_bytes(w, buf, msg_encode_stats(buf, sizeof buf, q->seq, words, METRICS_WORDS));
        return;
    }
    struct json j = { .w = w, .now = uv_now(w->loop) };
    struct msg_objects o = { .seq = q->seq };
    list_chunk(w, q, &j, &o);
    o.json = (struct msg_span){ j.p ? j.p : "", j.len };
    size_t cap = DURO_MSG_HEADER_BYTES + 128 + j.len;
    uint8_t *buf = malloc(cap);
    if (buf != NULL) {
        send_bytes(w, buf, msg_encode_objects(buf, cap, &o));
    } else {
        log_error("report", "event=answer_failed bytes=%zu", cap);
    }
    free(buf);
    free(j.p);
}

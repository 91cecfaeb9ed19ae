#include "worker/object.h"
#include "worker/request.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "worker/session.h"
#include "worker/storage_api.h"
#include "worker/worker.h"

#define REGISTRY_INITIAL_BUCKETS 64u
#define TAGS_INITIAL_SLOTS 16u

struct registry {
    struct worker *w;
    struct object **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t live;
    struct object_stats stats;
};

struct registry *registry_new(struct worker *w)
{
    struct registry *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        return NULL;
    }
    reg->buckets = calloc(REGISTRY_INITIAL_BUCKETS, sizeof *reg->buckets);
    if (reg->buckets == NULL) {
        free(reg);
        return NULL;
    }
    reg->nbuckets = REGISTRY_INITIAL_BUCKETS;
    reg->w = w;
    return reg;
}

void registry_free(struct registry *reg)
{
    if (reg != NULL) {
        free(reg->buckets);
        free(reg);
    }
}

size_t registry_count(const struct registry *reg)
{
    return reg->count;
}

size_t registry_live(const struct registry *reg)
{
    return reg->live;
}

const struct object_stats *registry_stats(const struct registry *reg)
{
    return &reg->stats;
}

static void grow(struct registry *reg)
{
    size_t n = reg->nbuckets * 2;
    struct object **b = calloc(n, sizeof *b);
    if (b == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < reg->nbuckets; i++) {
        struct object *o = reg->buckets[i];
        while (o != NULL) {
            struct object *next = o->hnext;
            o->hnext = b[o->key & (n - 1)];
            b[o->key & (n - 1)] = o;
            o = next;
        }
    }
    free(reg->buckets);
    reg->buckets = b;
    reg->nbuckets = n;
}

/* ---- lifecycle ---- */

static void on_idle_timer(uv_timer_t *t);

static void arm(struct object *o, uint64_t ms)
{
    uv_timer_start(&o->idle_timer, on_idle_timer, ms, 0);
}

static void construct(struct object *o, const char *event)
{
    struct registry *reg = o->reg;
    o->state = o->cls->construct != NULL ? o->cls->construct((struct duro_object *)o) : NULL;
    o->live = 1;
    reg->live++;
    log_info("object", "event=%s obj=%s/%s id=%s worker=%u sockets=%u", event, o->cls->name,
             o->name, o->id, reg->w->slot, o->nsockets);
}

static void run_destroy(struct object *o)
{
    if (o->live) {
        if (o->cls->destroy != NULL) {
            o->cls->destroy((struct duro_object *)o, o->state);
        }
        o->state = NULL;
        o->live = 0;
        o->reg->live--;
    }
}

static void free_object(uv_handle_t *h)
{
    struct object *o = h->data;
    free(o->tags);
    object_auto_response_clear(o);
    free(o->rules);
    free(o);
}

struct worker *object_worker(const struct object *o)
{
    return o->reg->w;
}

void object_reset(struct object *o)
{
    run_destroy(o);
    storage_object_close(o);
}

static void forget(struct object *o)
{
    struct registry *reg = o->reg;
    request_object_gone(o);
    run_destroy(o);
    storage_object_close(o);
    struct object **pp = &reg->buckets[o->key & (reg->nbuckets - 1)];
    while (*pp != o) {
        pp = &(*pp)->hnext;
    }
    *pp = o->hnext;
    reg->count--;
    reg->stats.destroys++;
    log_info("object", "event=destroy obj=%s/%s", o->cls->name, o->name);
    uv_close((uv_handle_t *)&o->idle_timer, free_object);
}

static void on_idle_timer(uv_timer_t *t)
{
    struct object *o = t->data;
    uint64_t after = o->reg->w->conf.hibernate_after_ms;
    uint64_t idle = uv_now(t->loop) - o->last_event_ms;

    if (idle < after) {
        arm(o, after - idle); /* events since arming moved the deadline */
        return;
    }
    if (storage_gated(o) || o->dirty_listed) {
        arm(o, DURO_ALARM_GATED_RECHECK_MS); /* its commit holds the file and the struct */
        return;
    }
    if (o->nsockets == 0) {
        forget(o);
        return;
    }
    if (o->live) {
        run_destroy(o);
        storage_object_close(o); /* a hibernated object holds no descriptor */
        o->reg->stats.hibernations++;
        log_info("object", "event=hibernate obj=%s/%s sockets=%u idle_ms=%llu", o->cls->name,
                 o->name, o->nsockets, (unsigned long long)idle);
    }
    /* Hibernated with sockets: nothing to time until the next event wakes it. */
}

size_t object_label(const struct object *o, char *out)
{
    size_t cl = strnlen(o->cls->name, DURO_CLASS_NAME_MAX_BYTES);
    size_t nl = o->name_len < DURO_OBJECT_NAME_MAX_BYTES ? o->name_len : DURO_OBJECT_NAME_MAX_BYTES;
    memcpy(out, o->cls->name, cl);
    out[cl] = '/';
    memcpy(out + cl + 1, o->name, nl);
    return cl + 1 + nl;
}

void object_wake(struct object *o)
{
    o->last_event_ms = uv_now(o->reg->w->loop);
    if (!o->live) {
        o->reg->stats.wakes++;
        construct(o, "wake");
        arm(o, o->reg->w->conf.hibernate_after_ms);
    }
}

/* Finds (cls, name), or creates it: constructed at once (`asleep` 0), or hibernated, to be
 * constructed by its next event (an adopted socket's object, docs/design.md "Hand-over"). */
static struct object *get(struct registry *reg, const struct duro_class *cls, const char *name,
                          size_t name_len, int asleep)
{
    size_t cls_len = strlen(cls->name);
    uint64_t key = hash_object_key(cls->name, cls_len, name, name_len);
    for (struct object *o = reg->buckets[key & (reg->nbuckets - 1)]; o != NULL; o = o->hnext) {
        if (o->key == key && o->cls == cls && o->name_len == name_len &&
            memcmp(o->name, name, name_len) == 0) {
            return o;
        }
    }
    struct object *o = calloc(1, sizeof *o + name_len + 1);
    if (o == NULL) {
        return NULL;
    }
    if (uv_timer_init(reg->w->loop, &o->idle_timer) != 0) {
        free(o);
        return NULL;
    }
    o->idle_timer.data = o;
    o->reg = reg;
    o->cls = cls;
    o->key = key;
    o->name_len = name_len;
    memcpy(o->name, name, name_len);
    hash_object_id(cls->name, cls_len, name, name_len, o->id);
    if (reg->count + 1 > reg->nbuckets) {
        grow(reg);
    }
    size_t b = key & (reg->nbuckets - 1);
    o->hnext = reg->buckets[b];
    reg->buckets[b] = o;
    reg->count++;
    o->last_event_ms = uv_now(reg->w->loop);
    if (!asleep) {
        reg->stats.constructs++;
        construct(o, "construct");
        arm(o, reg->w->conf.hibernate_after_ms);
    }
    return o;
}

struct object *registry_get(struct registry *reg, const struct duro_class *cls, const char *name,
                            size_t name_len)
{
    return get(reg, cls, name, name_len, 0);
}

struct object *registry_get_asleep(struct registry *reg, const struct duro_class *cls,
                                   const char *name, size_t name_len)
{
    return get(reg, cls, name, name_len, 1);
}

int object_forget_now(struct object *o)
{
    if (o->nsockets != 0 || storage_gated(o) || o->dirty_listed) {
        return -1;
    }
    forget(o);
    return 0;
}

void registry_each_object(struct registry *reg, void (*fn)(struct object *o, void *arg),
                          void *arg)
{
    for (size_t i = 0; i < reg->nbuckets; i++) {
        for (struct object *o = reg->buckets[i]; o != NULL; o = o->hnext) {
            fn(o, arg);
        }
    }
}

size_t registry_buckets(const struct registry *reg)
{
    return reg->nbuckets;
}

struct object *registry_bucket(const struct registry *reg, size_t i)
{
    return reg->buckets[i];
}

void registry_each_socket(struct registry *reg, void (*fn)(struct session *s, void *arg),
                          void *arg)
{
    for (size_t i = 0; i < reg->nbuckets; i++) {
        for (struct object *o = reg->buckets[i]; o != NULL; o = o->hnext) {
            struct session *s = o->sockets;
            while (s != NULL) {
                struct session *next = s->onext;
                fn(s, arg);
                s = next;
            }
        }
    }
}

/* ---- sockets ---- */

void object_add_socket(struct object *o, struct session *s)
{
    s->obj = o;
    s->oprev = NULL;
    s->onext = o->sockets;
    if (o->sockets != NULL) {
        o->sockets->oprev = s;
    }
    o->sockets = s;
    o->nsockets++;
}

/* ---- tags: an open-addressing table of entries, each with its list of members ---- */

static uint32_t tag_slot(const struct object *o, const char *tag, size_t len, int *found)
{
    uint32_t mask = o->tags_cap - 1;
    uint32_t i = (uint32_t)hash_object_key("tag", 3, tag, len) & mask;
    for (;;) {
        struct tag_entry *e = o->tags[i];
        if (e == NULL) {
            *found = 0;
            return i;
        }
        if (e->len == len && memcmp(e->tag, tag, len) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int tags_reserve(struct object *o)
{
    if (o->tags != NULL && (o->tags_used + 1) * 2 <= o->tags_cap) {
        return 0;
    }
    uint32_t cap = o->tags_cap ? o->tags_cap * 2 : TAGS_INITIAL_SLOTS;
    struct tag_entry **old = o->tags;
    uint32_t old_cap = o->tags_cap;
    o->tags = calloc(cap, sizeof *o->tags);
    if (o->tags == NULL) {
        o->tags = old;
        return -1;
    }
    o->tags_cap = cap;
    for (uint32_t i = 0; i < old_cap; i++) {
        if (old[i] != NULL) {
            int found;
            o->tags[tag_slot(o, old[i]->tag, old[i]->len, &found)] = old[i];
        }
    }
    free(old);
    return 0;
}

int object_tag_socket(struct object *o, struct session *s, const char *tag, size_t len)
{
    if (len == 0 || len > DURO_TAG_MAX_BYTES) {
        return DURO_ELIMIT;
    }
    for (uint8_t i = 0; i < s->ntags; i++) {
        struct tag_entry *e = s->tags[i].entry;
        if (e->len == len && memcmp(e->tag, tag, len) == 0) {
            return 0; /* duplicates are dropped */
        }
    }
    if (s->ntags >= DURO_TAGS_MAX_COUNT) {
        return DURO_ELIMIT;
    }
    if (s->tags == NULL) {
        s->tags = calloc(DURO_TAGS_MAX_COUNT, sizeof *s->tags);
        if (s->tags == NULL) {
            return DURO_ENOMEM;
        }
    }
    if (tags_reserve(o) != 0) {
        return DURO_ENOMEM;
    }
    int found;
    uint32_t slot = tag_slot(o, tag, len, &found);
    struct tag_entry *e = o->tags[slot];
    if (!found) {
        e = calloc(1, sizeof *e + len + 1);
        if (e == NULL) {
            return DURO_ENOMEM;
        }
        e->len = (uint16_t)len;
        memcpy(e->tag, tag, len);
        o->tags[slot] = e;
        o->tags_used++;
    }
    struct tag_member *m = &s->tags[s->ntags++];
    m->s = s;
    m->entry = e;
    m->prev = NULL;
    m->next = e->members;
    if (e->members != NULL) {
        e->members->prev = m;
    }
    e->members = m;
    e->count++;
    return 0;
}

/* Removes entry `e` from the table, re-placing the entries after it (linear probing). */
static void tag_entry_remove(struct object *o, struct tag_entry *e)
{
    int found;
    uint32_t mask = o->tags_cap - 1;
    uint32_t i = tag_slot(o, e->tag, e->len, &found);
    o->tags[i] = NULL;
    o->tags_used--;
    free(e);
    for (uint32_t j = (i + 1) & mask; o->tags[j] != NULL; j = (j + 1) & mask) {
        struct tag_entry *moved = o->tags[j];
        o->tags[j] = NULL;
        o->tags[tag_slot(o, moved->tag, moved->len, &found)] = moved;
    }
}

/* Unlinks member `m` from its entry's list, dropping the entry when it was the last. */
static void member_unlink(struct object *o, struct tag_member *m)
{
    struct tag_entry *e = m->entry;
    if (m->prev != NULL) {
        m->prev->next = m->next;
    } else {
        e->members = m->next;
    }
    if (m->next != NULL) {
        m->next->prev = m->prev;
    }
    if (--e->count == 0) {
        tag_entry_remove(o, e);
    }
}

static void untag(struct object *o, struct session *s)
{
    for (uint8_t i = 0; i < s->ntags; i++) {
        member_unlink(o, &s->tags[i]);
    }
    free(s->tags);
    s->tags = NULL;
    s->ntags = 0;
}

int object_untag_socket(struct object *o, struct session *s, const char *tag, size_t len)
{
    for (uint8_t i = 0; i < s->ntags; i++) {
        struct tag_member *m = &s->tags[i];
        if (m->entry->len != len || memcmp(m->entry->tag, tag, len) != 0) {
            continue;
        }
        member_unlink(o, m);
        /* Keep the socket's members dense: the last one moves into the hole, and its
         * neighbours in its entry's list are pointed at its new place. */
        struct tag_member *last = &s->tags[--s->ntags];
        if (last != m) {
            *m = *last;
            if (m->prev != NULL) {
                m->prev->next = m;
            } else {
                m->entry->members = m;
            }
            if (m->next != NULL) {
                m->next->prev = m;
            }
        }
        return 0;
    }
    return DURO_ENOTFOUND;
}

size_t object_sockets_with_tag(const struct object *o, const char *tag, size_t len,
                               struct duro_socket **out, size_t cap)
{
    if (o->tags == NULL) {
        return 0;
    }
    int found;
    uint32_t slot = tag_slot(o, tag, len, &found);
    if (!found) {
        return 0;
    }
    size_t n = 0;
    for (struct tag_member *m = o->tags[slot]->members; m != NULL; m = m->next) {
        if (m->s->counted) {
            if (n < cap) {
                out[n] = (struct duro_socket *)m->s;
            }
            n++;
        }
    }
    return n;
}

void object_remove_socket(struct object *o, struct session *s)
{
    if (s->counted) {
        s->counted = 0;
        o->open_count--;
    }
    untag(o, s);
    if (s->oprev != NULL) {
        s->oprev->onext = s->onext;
    } else {
        o->sockets = s->onext;
    }
    if (s->onext != NULL) {
        s->onext->oprev = s->oprev;
    }
    s->obj = NULL;
    if (--o->nsockets == 0 && !uv_is_active((uv_handle_t *)&o->idle_timer)) {
        /* Empty and hibernated: forget it after its idle time like a live one. */
        o->last_event_ms = uv_now(o->reg->w->loop);
        arm(o, o->reg->w->conf.hibernate_after_ms);
    }
}

const struct auto_rule *object_auto_response_find(const struct object *o, int kind,
                                                  const uint8_t *data, size_t len)
{
    for (uint8_t i = 0; i < o->nrules; i++) {
        const struct auto_rule *r = &o->rules[i];
        if (r->req_kind == kind && r->req_len == len && memcmp(r->req, data, len) == 0) {
            return r;
        }
    }
    return NULL;
}

static int rule_index(const struct object *o, int kind, const void *req, size_t len)
{
    for (uint8_t i = 0; i < o->nrules; i++) {
        const struct auto_rule *r = &o->rules[i];
        if (r->req_kind == kind && r->req_len == len && memcmp(r->req, req, len) == 0) {
            return i;
        }
    }
    return -1;
}

int object_auto_response_add(struct object *o, int req_kind, const void *req, size_t req_len,
                             int resp_kind, const void *resp, size_t resp_len)
{
    int at = rule_index(o, req_kind, req, req_len);
    if (at < 0 && o->nrules >= DURO_AUTO_RULES_MAX_COUNT) {
        return DURO_ELIMIT;
    }
    if (o->rules == NULL) {
        o->rules = calloc(DURO_AUTO_RULES_MAX_COUNT, sizeof *o->rules);
        if (o->rules == NULL) {
            return DURO_ENOMEM;
        }
    }
    uint8_t *bytes = malloc(req_len + resp_len + 1);
    if (bytes == NULL) {
        return DURO_ENOMEM;
    }
    memcpy(bytes, req, req_len);
    memcpy(bytes + req_len, resp, resp_len);
    struct auto_rule *r = &o->rules[at < 0 ? o->nrules++ : at];
    free(r->req);
    r->req_kind = (uint8_t)req_kind;
    r->resp_kind = (uint8_t)resp_kind;
    r->req = bytes;
    r->resp = bytes + req_len;
    r->req_len = (uint16_t)req_len;
    r->resp_len = (uint16_t)resp_len;
    return 0;
}

int object_auto_response_remove(struct object *o, int req_kind, const void *req, size_t req_len)
{
    int at = rule_index(o, req_kind, req, req_len);
    if (at < 0) {
        return DURO_ENOTFOUND;
    }
    free(o->rules[at].req);
    o->rules[at] = o->rules[--o->nrules];
    memset(&o->rules[o->nrules], 0, sizeof o->rules[0]);
    return 0;
}

void object_auto_response_clear(struct object *o)
{
    for (uint8_t i = 0; i < o->nrules; i++) {
        free(o->rules[i].req);
        memset(&o->rules[i], 0, sizeof o->rules[i]);
    }
    o->nrules = 0;
}

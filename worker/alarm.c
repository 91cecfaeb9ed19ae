/* worker/alarm.c: the worker's alarm table and timer. */
#include "worker/alarm.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/hash.h"
#include "common/log.h"
#include "worker/class_loader.h"
#include "worker/object.h"
#include "worker/storage.h"
#include "worker/storage_api.h"

/* A linear table: alarms of one worker are few compared with its objects, and each fire or
 * schedule costs one pass. */
struct alarm_entry {
    const struct duro_class *cls;
    int64_t at;
    size_t name_len;
    char name[];
};

struct alarms {
    struct alarm_entry **v;
    size_t n, cap;
    uv_timer_t timer;
};

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void on_timer(uv_timer_t *t);

static void rearm(struct worker *w)
{
    struct alarms *a = w->alarms;
    int64_t first = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (first == 0 || a->v[i]->at < first) {
            first = a->v[i]->at;
        }
    }
    if (first == 0) {
        uv_timer_stop(&a->timer);
        return;
    }
    int64_t wait = first - now_ms();
    uv_timer_start(&a->timer, on_timer, wait > 0 ? (uint64_t)wait : 0, 0);
}

static struct alarm_entry **find(struct alarms *a, const struct duro_class *cls, const char *name,
                                 size_t len)
{
    for (size_t i = 0; i < a->n; i++) {
        struct alarm_entry *e = a->v[i];
        if (e->cls == cls && e->name_len == len && memcmp(e->name, name, len) == 0) {
            return &a->v[i];
        }
    }
    return NULL;
}

static void put(struct worker *w, const struct duro_class *cls, const char *name, size_t len,
                int64_t at)
{
    struct alarms *a = w->alarms;
    struct alarm_entry **slot = find(a, cls, name, len);
    if (slot != NULL) {
        (*slot)->at = at;
        return;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        struct alarm_entry **v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            log_error("alarm", "event=oom obj=%s/%.*s", cls->name, (int)len, name);
            return; /* still in the index: the next start finds it */
        }
        a->v = v;
        a->cap = cap;
    }
    struct alarm_entry *e = malloc(sizeof *e + len + 1);
    if (e == NULL) {
        log_error("alarm", "event=oom obj=%s/%.*s", cls->name, (int)len, name);
        return;
    }
    e->cls = cls;
    e->at = at;
    e->name_len = len;
    memcpy(e->name, name, len);
    e->name[len] = '\0';
    a->v[a->n++] = e;
}

static void drop(struct alarms *a, size_t i)
{
    free(a->v[i]);
    a->v[i] = a->v[--a->n];
}

void alarm_schedule(struct worker *w, const struct duro_class *cls, const char *name,
                    size_t name_len, int64_t epoch_ms)
{
    if (w->alarms == NULL) {
        return;
    }
    put(w, cls, name, name_len, epoch_ms);
    rearm(w);
}

int64_t alarm_next(struct worker *w, const struct duro_class *cls, const char *name,
                   size_t name_len)
{
    struct alarm_entry **e = w->alarms != NULL ? find(w->alarms, cls, name, name_len) : NULL;
    return e != NULL ? (*e)->at : 0;
}

/* Runs the alarm of `o` if its file still has one due. Returns the time to look again (the
 * file's alarm, later than now), or 0 when the entry is done. */
static int64_t fire(struct worker *w, struct object *o, int64_t now)
{
    object_wake(o);
    if (storage_object_open(o) != 0) {
        return now + DURO_ALARM_RETRY_FIRST_MS;
    }
    uint32_t retry = 0;
    int64_t at = store_alarm_get(o->store, &retry);
    if (at == 0) {
        return 0;
    }
    if (at > now) {
        return at;
    }
    /* Clearing it belongs to the event's transaction: if the worker dies before the commit,
     * the alarm fires again (at least once). */
    if (store_alarm_set(o->store, 0, 0) != 0) {
        return now + DURO_ALARM_RETRY_FIRST_MS;
    }
    o->alarm_ms = 0;
    o->alarm_changed = 1;
    w->metrics.v[M_ALARMS_FIRED]++;
    int rc = o->cls->on_alarm != NULL ? o->cls->on_alarm((struct duro_object *)o, o->state, retry)
                                      : 0;
    log_info("alarm", "event=fired obj=%s/%s retry=%u rc=%d", o->cls->name, o->name, retry, rc);
    if (rc != 0 && o->store != NULL && store_alarm_get(o->store, NULL) == 0) {
        if (retry < DURO_ALARM_RETRY_MAX_COUNT) {
            int64_t next = now + ((int64_t)DURO_ALARM_RETRY_FIRST_MS << retry);
            if (store_alarm_set(o->store, next, retry + 1) == 0) {
                o->alarm_ms = next;
                w->metrics.v[M_ALARMS_RETRIED]++;
            }
        } else {
            log_warn("alarm", "event=gave_up obj=%s/%s retries=%u", o->cls->name, o->name,
                     retry);
        }
    }
    storage_mark_dirty(o);
    /* The commit of this event schedules what the file now says (commit_done). */
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct alarms *a = w->alarms;
    int64_t now = now_ms();
    size_t i = 0;
    while (i < a->n) {
        struct alarm_entry *e = a->v[i];
        if (e->at > now) {
            i++;
            continue;
        }
        struct object *o = registry_get(w->reg, e->cls, e->name, e->name_len);
        if (o == NULL) {
            e->at = now + DURO_ALARM_RETRY_FIRST_MS;
            i++;
            continue;
        }
        if (storage_gated(o)) {
            e->at = now + DURO_ALARM_GATED_RECHECK_MS; /* input gate: after its commit */
            i++;
            continue;
        }
        int64_t again = fire(w, o, now);
        /* `a->v` may have changed: look the entry up again. */
        struct alarm_entry **slot = find(a, o->cls, o->name, o->name_len);
        if (slot != NULL) {
            if (again == 0) {
                drop(a, (size_t)(slot - a->v));
            } else {
                (*slot)->at = again;
            }
        }
        i = 0; /* the table may have been reordered by drop */
        now = now_ms();
    }
    rearm(w);
}

static void load_one(void *arg, const char *cls_name, const char *name, size_t name_len,
                     int64_t at)
{
    struct worker *w = arg;
    const struct duro_class *cls = classes_find(w, cls_name, strlen(cls_name));
    if (cls == NULL) {
        return; /* a class this config no longer has */
    }
    uint64_t key = hash_object_key(cls_name, strlen(cls_name), name, name_len);
    if (hash_pick_slot(key, w->nslots) != w->slot) {
        return; /* another worker's */
    }
    put(w, cls, name, name_len, at);
}

int alarm_load(struct worker *w)
{
    char err[512];
    if (w->alarms == NULL) {
        w->alarms = calloc(1, sizeof *w->alarms);
        if (w->alarms == NULL || uv_timer_init(w->loop, &w->alarms->timer) != 0) {
            log_error("alarm", "event=oom");
            free(w->alarms);
            w->alarms = NULL;
            return -1;
        }
        w->alarms->timer.data = w;
        uv_unref((uv_handle_t *)&w->alarms->timer);
    }
    if (w->aidx == NULL) {
        w->aidx = alarm_index_open(w->conf.storage_dir, err, sizeof err);
        if (w->aidx == NULL) {
            log_error("alarm", "event=index_open_failed err=\"%s\"", err);
            return -1;
        }
    }
    struct alarms *a = w->alarms;
    while (a->n > 0) {
        drop(a, a->n - 1);
    }
    int n = alarm_index_each(w->aidx, load_one, w);
    log_info("alarm", "event=loaded worker=%u index_entries=%d owned=%zu", w->slot, n, a->n);
    rearm(w);
    return n < 0 ? -1 : 0;
}

/* worker/storage_api.c: the duro_storage_* calls, group commit and the gates. */
#include "worker/storage_api.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "duro/class.h"
#include "worker/alarm.h"
#include "worker/migrate.h"
#include "worker/session.h"
#include "worker/storage.h"
#include "worker/tx.h"

static struct object *obj(struct duro_object *o)
{
    return (struct object *)o;
}

static struct worker *wk(const struct object *o)
{
    return object_worker(o);
}

int storage_gated(const struct object *o)
{
    return o->in_flight || store_dirty(o->store);
}

void storage_object_close(struct object *o)
{
    store_close(o->store);
    o->store = NULL;
}

void storage_mark_dirty(struct object *o)
{
    struct worker *w = wk(o);
    if (!o->dirty_listed && store_dirty(o->store)) {
        o->dirty_listed = 1;
        o->dirty_next = w->dirty_head;
        w->dirty_head = o;
    }
}

int storage_object_open(struct object *o)
{
    if (o->store != NULL) {
        return 0;
    }
    struct worker *w = wk(o);
    if (!w->storage_ok) {
        /* The alarms index could not be opened when the pool was configured (its error was
         * logged then): try again, at most once per interval, so that a passing failure does
         * not leave this worker without storage until it restarts. */
        uint64_t now = uv_now(w->loop);
        if (now - w->storage_retry_ms < DURO_STORAGE_REOPEN_INTERVAL_MS) {
            return DURO_ENOSYS;
        }
        w->storage_retry_ms = now;
        w->storage_ok = alarm_load(w) == 0;
        if (!w->storage_ok) {
            return DURO_ENOSYS;
        }
        log_info("storage", "event=storage_recovered worker=%u", w->slot);
    }
    char err[512];
    o->store = store_open(w->conf.storage_dir, o->cls->name, o->id, w->conf.storage_full,
                          w->conf.storage_object_max_bytes, err, sizeof err);
    if (o->store == NULL) {
        w->metrics.v[M_STORAGE_ERRORS]++;
        log_error("storage", "obj=%s/%s event=open_failed err=\"%s\"", o->cls->name, o->name,
                  err);
        return DURO_ESTORAGE;
    }
    return 0;
}

/* Every call starts here: the file is opened on first use. A call while the object's commit is
 * in flight (an event the input gate cannot hold: on_connect, early bytes, a close) waits for it
 * on the store's lock, and its writes join the next commit; the gate stays closed meanwhile. */
static int ready(struct object *o)
{
    return storage_object_open(o);
}

/* A failed call that means the storage itself failed: the event's socket is closed with 1011
 * and the object reset once the event ends (the failed transaction is rolled back). */
static int failed(struct object *o, int rc, const char *what)
{
    if (rc == DURO_ESTORAGE) {
        struct worker *w = wk(o);
        w->metrics.v[M_STORAGE_ERRORS]++;
        log_error("storage", "obj=%s/%s event=%s_failed", o->cls->name, o->name, what);
        if (w->current != NULL && w->current->obj == o) {
            session_fail(w->current, DURO_CLOSE_INTERNAL, "storage failed");
        }
    }
    return rc;
}

int duro_storage_get(struct duro_object *d, const void *key, size_t key_len, const void **val,
                     size_t *val_len)
{
    struct object *o = obj(d);
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    return failed(o, store_get(o->store, key, key_len, val, val_len), "get");
}

int duro_storage_put(struct duro_object *d, const void *key, size_t key_len, const void *val,
                     size_t val_len)
{
    struct object *o = obj(d);
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    rc = store_put(o->store, key, key_len, val, val_len);
    storage_mark_dirty(o);
    if (rc == 0) {
        wk(o)->metrics.v[M_STORAGE_BYTES_WRITTEN] += key_len + val_len;
    }
    return failed(o, rc, "put");
}

int duro_storage_delete(struct duro_object *d, const void *key, size_t key_len)
{
    struct object *o = obj(d);
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    rc = store_delete(o->store, key, key_len);
    storage_mark_dirty(o);
    return failed(o, rc, "delete");
}

int duro_storage_delete_all(struct duro_object *d)
{
    struct object *o = obj(d);
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    rc = store_delete_all(o->store);
    storage_mark_dirty(o);
    return failed(o, rc, "delete_all");
}

int duro_storage_list(struct duro_object *d, const struct duro_list_opts *opts, duro_kv_fn *fn,
                      void *arg)
{
    struct object *o = obj(d);
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    return failed(o, store_list(o->store, opts, fn, arg), "list");
}

int duro_sql_exec(struct duro_object *d, const char *sql, size_t sql_len,
                  const struct duro_sql_value *params, size_t nparams, duro_row_fn *fn, void *arg)
{
    struct object *o = obj(d);
    if (sql == NULL || (params == NULL && nparams > 0)) {
        return DURO_EINVAL;
    }
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    char err[256] = "";
    rc = store_exec(o->store, sql, sql_len, params, nparams, fn, arg, err, sizeof err);
    storage_mark_dirty(o);
    if (rc == DURO_ESQL || rc == DURO_EREFUSED) {
        log_info("storage", "obj=%s/%s event=sql_error code=%d err=\"%s\"", o->cls->name,
                 o->name, rc, err);
    }
    return failed(o, rc, "sql");
}

struct tx_call {
    struct object *o;
    int (*fn)(struct duro_object *o, void *arg);
    void *arg;
};

static int tx_trampoline(void *arg)
{
    struct tx_call *c = arg;
    return c->fn((struct duro_object *)c->o, c->arg);
}

int duro_storage_transaction(struct duro_object *d, int (*fn)(struct duro_object *o, void *arg),
                             void *arg)
{
    struct object *o = obj(d);
    if (fn == NULL) {
        return DURO_EINVAL;
    }
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    struct tx_call c = { o, fn, arg };
    rc = store_savepoint(o->store, tx_trampoline, &c);
    storage_mark_dirty(o);
    return failed(o, rc, "transaction");
}

uint64_t duro_storage_size(struct duro_object *d)
{
    struct object *o = obj(d);
    return ready(o) == 0 ? store_size(o->store) : 0;
}

int duro_alarm_set(struct duro_object *d, int64_t epoch_ms)
{
    struct object *o = obj(d);
    if (epoch_ms <= 0) {
        return DURO_EINVAL;
    }
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    rc = store_alarm_set(o->store, epoch_ms, 0);
    storage_mark_dirty(o);
    if (rc == 0) {
        o->alarm_ms = epoch_ms;
        o->alarm_changed = 1;
        wk(o)->metrics.v[M_ALARMS_SCHEDULED]++;
    }
    return failed(o, rc, "alarm_set");
}

int64_t duro_alarm_get(struct duro_object *d)
{
    struct object *o = obj(d);
    return ready(o) == 0 ? store_alarm_get(o->store, NULL) : 0;
}

int duro_alarm_delete(struct duro_object *d)
{
    struct object *o = obj(d);
    int rc = ready(o);
    if (rc != 0) {
        return rc;
    }
    rc = store_alarm_set(o->store, 0, 0);
    storage_mark_dirty(o);
    if (rc == 0) {
        o->alarm_ms = 0;
        o->alarm_changed = 1;
    }
    return failed(o, rc, "alarm_delete");
}

/* ---- group commit ---- */

static void gate_reads(struct object *o, int open)
{
    for (struct session *s = o->sockets; s != NULL; s = s->onext) {
        if (s->state == SESSION_DESTROYED || s->state == SESSION_PEER_DONE) {
            continue;
        }
        if (open) {
            if (s->gate_paused) {
                s->gate_paused = 0;
                if (session_read_start(s) != 0) {
                    session_destroy(s);
                }
            }
        } else if (!s->gate_paused) {
            s->gate_paused = 1;
            uv_read_stop((uv_stream_t *)&s->tcp);
        }
    }
}

/* On a thread-pool thread: the loop thread leaves the object's file alone meanwhile. The alarms
 * index gets a new alarm before the object's commit and loses a deleted one after it, so that
 * it always holds at least the alarms that are durable. */
static void commit_work(uv_work_t *req)
{
    struct object *o = req->data;
    struct worker *w = object_worker(o);
    int changed = o->alarm_changed;
    int64_t at = o->alarm_ms;
    if (changed && at > 0 && w->aidx != NULL) {
        (void)alarm_index_put(w->aidx, o->cls->name, o->name, o->name_len, o->id, at);
    }
    o->commit_rc = store_commit(o->store, o->commit_err, sizeof o->commit_err);
    if (o->commit_rc == 0 && changed && at == 0 && w->aidx != NULL) {
        (void)alarm_index_put(w->aidx, o->cls->name, o->name, o->name_len, o->id, 0);
    }
}

static void commit_done(uv_work_t *req, int status)
{
    struct object *o = req->data;
    struct worker *w = object_worker(o);
    o->in_flight = 0;
    metrics_observe(&w->metrics, H_COMMIT, uv_hrtime() - o->commit_t0);
    int changed = o->alarm_changed;
    o->alarm_changed = 0;
    if (status == 0 && o->commit_rc == 0) {
        w->metrics.v[M_STORAGE_COMMITS]++;
        if (changed && o->alarm_ms > 0) {
            alarm_schedule(w, o->cls, o->name, o->name_len, o->alarm_ms);
        }
        gate_reads(o, 1);
        for (struct session *s = o->sockets; s != NULL; s = s->onext) {
            tx_flush_soon(s);
        }
        if (o->leaving) {
            migrate_object_check(o); /* a hand-over waits for its commit */
        }
        return;
    }
    w->metrics.v[M_STORAGE_ERRORS]++;
    log_error("storage", "obj=%s/%s id=%s event=commit_failed err=\"%s\" sockets=%u",
              o->cls->name, o->name, o->id, o->commit_err, o->nsockets);
    /* No client may see what depended on the lost write: drop the held frames, close with
     * 1011, and start the object again from its file. */
    struct session *s = o->sockets;
    while (s != NULL) {
        struct session *next = s->onext;
        s->gate_paused = 0;
        tx_drop_pending(s);
        if (s->state == SESSION_OPEN || s->state == SESSION_CLOSE_RECEIVED) {
            session_send_close(s, DURO_CLOSE_INTERNAL, "storage commit failed", 21);
            session_finish(s);
        }
        s = next;
    }
    object_reset(o);
}

static void on_commit_check(uv_check_t *h)
{
    struct worker *w = h->data;
    struct object *o = w->dirty_head;
    w->dirty_head = NULL;
    while (o != NULL) {
        struct object *next = o->dirty_next;
        o->dirty_listed = 0;
        o->dirty_next = NULL;
        if (o->in_flight) {
            /* Written during the commit in flight (an event the input gate could not hold
             * waited for it): commit again after it. */
            o->dirty_listed = 1;
            o->dirty_next = w->dirty_head;
            w->dirty_head = o;
        } else if (store_dirty(o->store)) {
            o->in_flight = 1;
            o->commit_t0 = uv_hrtime();
            o->commit_err[0] = '\0';
            o->commit_req.data = o;
            gate_reads(o, 0);
            if (uv_queue_work(w->loop, &o->commit_req, commit_work, commit_done) != 0) {
                commit_work(&o->commit_req);
                commit_done(&o->commit_req, 0);
            }
        }
        o = next;
    }
}

int storage_worker_init(struct worker *w, char *err, size_t err_cap)
{
    if (uv_check_init(w->loop, &w->commit_check) != 0) {
        snprintf(err, err_cap, "cannot set up the commit handle");
        return -1;
    }
    w->commit_check.data = w;
    uv_check_start(&w->commit_check, on_commit_check);
    uv_unref((uv_handle_t *)&w->commit_check);
    return 0;
}

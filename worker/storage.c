/* worker/storage.c: the SQLite engine. Each store is one connection to one object's file. */
#include "worker/storage.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/duro_limits.h"

struct store {
    pthread_mutex_t lock;
    sqlite3 *db;
    sqlite3_stmt *get, *put, *del, *alarm_get, *alarm_put, *alarm_del;
    int in_txn;      /* BEGIN issued */
    int dirty;       /* a write happened in it */
    int user;        /* a class's statement runs: the authorizer applies */
    unsigned depth;  /* savepoints open */
    uint8_t *val;    /* the last value store_get returned */
};

struct alarm_index {
    sqlite3 *db;
};

static void lock(struct store *st)
{
    pthread_mutex_lock(&st->lock);
}

static void unlock(struct store *st)
{
    pthread_mutex_unlock(&st->lock);
}

static int authorize(void *arg, int action, const char *a, const char *b, const char *dbname,
                     const char *trigger)
{
    struct store *st = arg;
    (void)dbname;
    (void)trigger;
    if (!st->user) {
        return SQLITE_OK;
    }
    switch (action) {
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        return b != NULL ? SQLITE_DENY : SQLITE_OK; /* a value: a PRAGMA write */
    case SQLITE_INSERT:
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
    case SQLITE_DROP_TABLE:
    case SQLITE_ALTER_TABLE:
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TRIGGER:
        return a != NULL && strncmp(a, "_duro", 5) == 0 ? SQLITE_DENY : SQLITE_OK;
    default:
        return SQLITE_OK;
    }
}

static int mkdir_one(const char *path)
{
    return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -1;
}

/* The set-up statements of a file that another worker may be opening at the same moment (the
 * alarms index, which all workers share; an object's file during a hand-over). Switching a new
 * file to WAL can answer SQLITE_BUSY at once, without calling the busy handler (SQLite does
 * not wait where waiting could deadlock), so the whole batch is retried, bounded by the busy
 * timeout. Only at start-up or a first open under contention does this wait. */
static int exec_setup(sqlite3 *db, const char *sql)
{
    sqlite3_busy_timeout(db, (int)DURO_STORAGE_BUSY_TIMEOUT_MS);
    int rc = SQLITE_OK;
    for (unsigned waited = 0;; waited += DURO_STORAGE_SETUP_RETRY_MS) {
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || waited >= DURO_STORAGE_BUSY_TIMEOUT_MS) {
            return rc;
        }
        sqlite3_sleep((int)DURO_STORAGE_SETUP_RETRY_MS);
    }
}

static int prep(sqlite3 *db, const char *sql, sqlite3_stmt **out)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
}

struct store *store_open(const char *dir, const char *cls, const char *id, int full,
                         uint64_t max_bytes, char *err, size_t err_cap)
{
    char path[DURO_STORAGE_DIR_MAX_BYTES + DURO_CLASS_NAME_MAX_BYTES + 96];
    if (strchr(cls, '/') != NULL || cls[0] == '.') {
        snprintf(err, err_cap, "class name '%s' cannot name a folder", cls);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s", dir, cls);
    if (mkdir_one(path) != 0) {
        snprintf(err, err_cap, "cannot create %s: %s", path, strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/%s/%s.db", dir, cls, id);
    struct store *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&st->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    int rc = sqlite3_open_v2(path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
             "CREATE TABLE IF NOT EXISTS _duro_kv(k BLOB PRIMARY KEY, v BLOB NOT NULL) "
             "WITHOUT ROWID;"
             "CREATE TABLE IF NOT EXISTS _duro_alarm(one INTEGER PRIMARY KEY CHECK (one = 0), "
             "at INTEGER NOT NULL, retry INTEGER NOT NULL);",
             full ? "FULL" : "NORMAL");
    if (rc == SQLITE_OK) {
        rc = exec_setup(st->db, sql);
    }
    if (rc == SQLITE_OK) {
        sqlite3_stmt *ps = NULL;
        rc = sqlite3_prepare_v2(st->db, "PRAGMA page_size", -1, &ps, NULL);
        int64_t page = rc == SQLITE_OK && sqlite3_step(ps) == SQLITE_ROW
                           ? sqlite3_column_int64(ps, 0) : 4096;
        sqlite3_finalize(ps);
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%llu",
                 (unsigned long long)(max_bytes / (uint64_t)(page > 0 ? page : 4096)));
        rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) {
        rc = prep(st->db, "SELECT v FROM _duro_kv WHERE k = ?1", &st->get);
    }
    if (rc == SQLITE_OK) {
        rc = prep(st->db, "INSERT OR REPLACE INTO _duro_kv(k, v) VALUES (?1, ?2)", &st->put);
    }
    if (rc == SQLITE_OK) {
        rc = prep(st->db, "DELETE FROM _duro_kv WHERE k = ?1", &st->del);
    }
    if (rc == SQLITE_OK) {
        rc = prep(st->db, "SELECT at, retry FROM _duro_alarm WHERE one = 0", &st->alarm_get);
    }
    if (rc == SQLITE_OK) {
        rc = prep(st->db, "INSERT OR REPLACE INTO _duro_alarm(one, at, retry) VALUES (0, ?1, ?2)",
                  &st->alarm_put);
    }
    if (rc == SQLITE_OK) {
        rc = prep(st->db, "DELETE FROM _duro_alarm", &st->alarm_del);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_set_authorizer(st->db, authorize, st);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, err_cap, "%s: %s", path,
                 st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (st == NULL) {
        return;
    }
    store_rollback(st);
    sqlite3_finalize(st->get);
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->del);
    sqlite3_finalize(st->alarm_get);
    sqlite3_finalize(st->alarm_put);
    sqlite3_finalize(st->alarm_del);
    sqlite3_close_v2(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st->val);
    free(st);
}

int store_dirty(const struct store *cst)
{
    if (cst == NULL) {
        return 0;
    }
    struct store *st = (struct store *)cst; /* the lock is not part of the value */
    lock(st);
    int d = st->dirty;
    unlock(st);
    return d;
}

static int begin(struct store *st)
{
    if (st->in_txn) {
        return 0;
    }
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        return DURO_ESTORAGE;
    }
    st->in_txn = 1;
    return 0;
}

static void rollback_locked(struct store *st);

static int written(struct store *st, int rc)
{
    if (rc == SQLITE_DONE || rc == SQLITE_OK) {
        st->dirty = 1;
        return 0;
    }
    return rc == SQLITE_FULL ? DURO_ETOOBIG : DURO_ESTORAGE;
}

static int commit_locked(struct store *st, char *err, size_t err_cap)
{
    if (!st->in_txn) {
        return 0;
    }
    int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_cap, "%s", sqlite3_errmsg(st->db));
        rollback_locked(st);
        return DURO_ESTORAGE;
    }
    st->in_txn = 0;
    st->dirty = 0;
    return 0;
}

static void rollback_locked(struct store *st)
{
    if (st->in_txn && sqlite3_get_autocommit(st->db) == 0) {
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    st->in_txn = 0;
    st->dirty = 0;
    st->depth = 0;
}

static int get_locked(struct store *st, const void *key, size_t key_len, const void **val,
              size_t *val_len)
{
    if (key_len > DURO_STORAGE_KEY_MAX_BYTES) {
        return DURO_EINVAL;
    }
    sqlite3_stmt *s = st->get;
    sqlite3_bind_blob(s, 1, key_len ? key : "", (int)key_len, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int out = DURO_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        uint8_t *copy = malloc(n + 1);
        if (copy == NULL) {
            out = DURO_ENOMEM;
        } else {
            if (n > 0) {
                memcpy(copy, sqlite3_column_blob(s, 0), n);
            }
            free(st->val);
            st->val = copy;
            *val = copy;
            *val_len = n;
            out = 0;
        }
    } else if (rc != SQLITE_DONE) {
        out = DURO_ESTORAGE;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
}

static int put_locked(struct store *st, const void *key, size_t key_len, const void *val,
              size_t val_len)
{
    if (key_len > DURO_STORAGE_KEY_MAX_BYTES || val_len > DURO_STORAGE_VALUE_MAX_BYTES) {
        return DURO_EINVAL;
    }
    int b = begin(st);
    if (b != 0) {
        return b;
    }
    sqlite3_stmt *s = st->put;
    sqlite3_bind_blob(s, 1, key_len ? key : "", (int)key_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, val_len ? val : "", (int)val_len, SQLITE_STATIC);
    int rc = written(st, sqlite3_step(s));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

static int delete_locked(struct store *st, const void *key, size_t key_len)
{
    if (key_len > DURO_STORAGE_KEY_MAX_BYTES) {
        return DURO_EINVAL;
    }
    int b = begin(st);
    if (b != 0) {
        return b;
    }
    sqlite3_stmt *s = st->del;
    sqlite3_bind_blob(s, 1, key_len ? key : "", (int)key_len, SQLITE_STATIC);
    int rc = written(st, sqlite3_step(s));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == 0 ? (sqlite3_changes(st->db) > 0 ? 1 : 0) : rc;
}

static int delete_all_locked(struct store *st)
{
    int b = begin(st);
    if (b != 0) {
        return b;
    }
    return written(st, sqlite3_exec(st->db, "DELETE FROM _duro_kv", NULL, NULL, NULL));
}

static int list_locked(struct store *st, const struct duro_list_opts *opts, duro_kv_fn *fn,
                       void *arg)
{
    struct duro_list_opts none = { 0 };
    const struct duro_list_opts *o = opts != NULL ? opts : &none;
    if (o->prefix_len > DURO_STORAGE_KEY_MAX_BYTES || o->start_len > DURO_STORAGE_KEY_MAX_BYTES ||
        o->end_len > DURO_STORAGE_KEY_MAX_BYTES) {
        return DURO_EINVAL;
    }
    /* Keys are BLOBs, compared with memcmp: a prefix is the range [prefix, prefix + 1) done
     * with substr, so no escaping is needed. */
    char sql[320];
    snprintf(sql, sizeof sql,
             "SELECT k, v FROM _duro_kv WHERE (?1 IS NULL OR substr(k, 1, length(?1)) = ?1) "
             "AND (?2 IS NULL OR k %s ?2) AND (?3 IS NULL OR k < ?3) ORDER BY k %s LIMIT ?4",
             o->start_after ? ">" : ">=", o->reverse ? "DESC" : "ASC");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return DURO_ESTORAGE;
    }
    if (o->prefix != NULL) {
        sqlite3_bind_blob(s, 1, o->prefix_len ? o->prefix : "", (int)o->prefix_len,
                          SQLITE_STATIC);
    }
    if (o->start != NULL) {
        sqlite3_bind_blob(s, 2, o->start_len ? o->start : "", (int)o->start_len, SQLITE_STATIC);
    }
    if (o->end != NULL) {
        sqlite3_bind_blob(s, 3, o->end_len ? o->end : "", (int)o->end_len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 4, o->limit > 0 ? (int64_t)o->limit : -1);
    int n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        n++;
        if (fn != NULL && fn(arg, sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0),
                             sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : DURO_ESTORAGE;
}

/* The first keyword of `sql`, past blanks and comments, upper-cased into `out`. */
static void first_word(const char *sql, size_t len, char *out, size_t cap)
{
    size_t i = 0;
    for (;;) {
        while (i < len && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r')) {
            i++;
        }
        if (i + 1 < len && sql[i] == '-' && sql[i + 1] == '-') {
            while (i < len && sql[i] != '\n') {
                i++;
            }
            continue;
        }
        if (i + 1 < len && sql[i] == '/' && sql[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(sql[i] == '*' && sql[i + 1] == '/')) {
                i++;
            }
            i += 2;
            continue;
        }
        break;
    }
    size_t n = 0;
    while (i < len && n + 1 < cap &&
           ((sql[i] >= 'a' && sql[i] <= 'z') || (sql[i] >= 'A' && sql[i] <= 'Z'))) {
        out[n++] = (char)(sql[i] >= 'a' ? sql[i] - 32 : sql[i]);
        i++;
    }
    out[n] = '\0';
}

static int bind(sqlite3_stmt *s, const struct duro_sql_value *params, size_t n)
{
    if ((int)n > sqlite3_bind_parameter_count(s)) {
        return DURO_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct duro_sql_value *v = &params[i];
        int col = (int)i + 1;
        int rc;
        switch (v->type) {
        case DURO_SQL_NULL: rc = sqlite3_bind_null(s, col); break;
        case DURO_SQL_INTEGER: rc = sqlite3_bind_int64(s, col, v->i); break;
        case DURO_SQL_REAL: rc = sqlite3_bind_double(s, col, v->r); break;
        case DURO_SQL_TEXT:
            rc = sqlite3_bind_text64(s, col, v->len ? v->p : "", v->len, SQLITE_STATIC,
                                     SQLITE_UTF8);
            break;
        case DURO_SQL_BLOB:
            rc = sqlite3_bind_blob64(s, col, v->len ? v->p : "", v->len, SQLITE_STATIC);
            break;
        default: return DURO_EINVAL;
        }
        if (rc != SQLITE_OK) {
            return DURO_EINVAL;
        }
    }
    return 0;
}

#define SQL_COLUMNS_MAX 64

static int exec_locked(struct store *st, const char *sql, size_t sql_len,
               const struct duro_sql_value *params, size_t nparams, duro_row_fn *fn, void *arg,
               char *err, size_t err_cap)
{
    char word[16];
    first_word(sql, sql_len, word, sizeof word);
    if (strcmp(word, "VACUUM") == 0 || strcmp(word, "BEGIN") == 0 ||
        strcmp(word, "COMMIT") == 0 || strcmp(word, "END") == 0 ||
        strcmp(word, "ROLLBACK") == 0) {
        snprintf(err, err_cap, "%s is duro's", word);
        return DURO_EREFUSED; /* VACUUM has no authorizer code; the rest fail fast here too */
    }
    if (sql_len > (size_t)INT32_MAX) {
        return DURO_EINVAL;
    }
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    st->user = 1;
    int rc = sqlite3_prepare_v2(st->db, sql, (int)sql_len, &s, &tail);
    st->user = 0;
    if (rc == SQLITE_AUTH) {
        snprintf(err, err_cap, "%s", sqlite3_errmsg(st->db));
        return DURO_EREFUSED;
    }
    if (rc != SQLITE_OK || s == NULL) {
        snprintf(err, err_cap, "%s", s == NULL && rc == SQLITE_OK ? "empty statement"
                                                                  : sqlite3_errmsg(st->db));
        sqlite3_finalize(s);
        return DURO_ESQL;
    }
    for (const char *p = tail; p != NULL && p < sql + sql_len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';') {
            sqlite3_finalize(s);
            snprintf(err, err_cap, "one statement at a time");
            return DURO_ESQL;
        }
    }
    if (bind(s, params, nparams) != 0) {
        sqlite3_finalize(s);
        snprintf(err, err_cap, "bad parameters");
        return DURO_EINVAL;
    }
    int writes = !sqlite3_stmt_readonly(s);
    if (writes && begin(st) != 0) {
        sqlite3_finalize(s);
        return DURO_ESTORAGE;
    }
    int ncols = sqlite3_column_count(s);
    if (ncols > SQL_COLUMNS_MAX) {
        ncols = SQL_COLUMNS_MAX;
    }
    struct duro_sql_value cols[SQL_COLUMNS_MAX];
    const char *names[SQL_COLUMNS_MAX];
    for (int i = 0; i < ncols; i++) {
        names[i] = sqlite3_column_name(s, i);
    }
    st->user = 1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (fn == NULL) {
            continue;
        }
        for (int i = 0; i < ncols; i++) {
            struct duro_sql_value *v = &cols[i];
            memset(v, 0, sizeof *v);
            switch (sqlite3_column_type(s, i)) {
            case SQLITE_INTEGER:
                v->type = DURO_SQL_INTEGER;
                v->i = sqlite3_column_int64(s, i);
                break;
            case SQLITE_FLOAT:
                v->type = DURO_SQL_REAL;
                v->r = sqlite3_column_double(s, i);
                break;
            case SQLITE_TEXT:
                v->type = DURO_SQL_TEXT;
                v->p = sqlite3_column_text(s, i);
                v->len = (size_t)sqlite3_column_bytes(s, i);
                break;
            case SQLITE_BLOB:
                v->type = DURO_SQL_BLOB;
                v->p = sqlite3_column_blob(s, i);
                v->len = (size_t)sqlite3_column_bytes(s, i);
                break;
            default: v->type = DURO_SQL_NULL; break;
            }
        }
        if (fn(arg, cols, names, (size_t)ncols) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    st->user = 0;
    int out;
    if (rc == SQLITE_DONE) {
        out = writes ? sqlite3_changes(st->db) : 0;
        if (writes) {
            st->dirty = 1;
        }
    } else if (rc == SQLITE_FULL) {
        out = DURO_ETOOBIG;
    } else if (rc == SQLITE_AUTH) {
        out = DURO_EREFUSED;
    } else {
        snprintf(err, err_cap, "%s", sqlite3_errmsg(st->db));
        out = DURO_ESQL;
    }
    sqlite3_finalize(s);
    return out;
}

static int savepoint_locked(struct store *st, int (*fn)(void *arg), void *arg)
{
    int b = begin(st);
    if (b != 0) {
        return b;
    }
    char sql[64];
    unsigned d = ++st->depth;
    snprintf(sql, sizeof sql, "SAVEPOINT duro_sp%u", d);
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        st->depth--;
        return DURO_ESTORAGE;
    }
    int rc = fn(arg);
    if (rc != 0) {
        snprintf(sql, sizeof sql, "ROLLBACK TO duro_sp%u", d);
        (void)sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    }
    snprintf(sql, sizeof sql, "RELEASE duro_sp%u", d);
    int rel = sqlite3_exec(st->db, sql, NULL, NULL, NULL);
    st->depth--;
    if (rel != SQLITE_OK) {
        return DURO_ESTORAGE;
    }
    return rc;
}

static uint64_t size_locked(struct store *st)
{
    sqlite3_stmt *s;
    uint64_t out = 0;
    if (sqlite3_prepare_v2(st->db, "SELECT page_count * page_size FROM pragma_page_count(), "
                                   "pragma_page_size()", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) {
            out = (uint64_t)sqlite3_column_int64(s, 0);
        }
        sqlite3_finalize(s);
    }
    return out;
}

uint64_t store_file_bytes(const char *dir, const char *cls, const char *id)
{
    char path[DURO_STORAGE_DIR_MAX_BYTES + DURO_CLASS_NAME_MAX_BYTES + 96];
    uint64_t total = 0;
    static const char *const suffixes[] = { ".db", ".db-wal" };
    for (size_t i = 0; i < 2; i++) {
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s/%s%s", dir, cls, id, suffixes[i]);
        if (stat(path, &sb) == 0) {
            total += (uint64_t)sb.st_size;
        }
    }
    return total;
}

static int64_t alarm_get_locked(struct store *st, uint32_t *retry)
{
    int64_t at = 0;
    if (sqlite3_step(st->alarm_get) == SQLITE_ROW) {
        at = sqlite3_column_int64(st->alarm_get, 0);
        if (retry != NULL) {
            *retry = (uint32_t)sqlite3_column_int64(st->alarm_get, 1);
        }
    }
    sqlite3_reset(st->alarm_get);
    return at;
}

static int alarm_set_locked(struct store *st, int64_t epoch_ms, uint32_t retry)
{
    int b = begin(st);
    if (b != 0) {
        return b;
    }
    sqlite3_stmt *s = epoch_ms > 0 ? st->alarm_put : st->alarm_del;
    if (epoch_ms > 0) {
        sqlite3_bind_int64(s, 1, epoch_ms);
        sqlite3_bind_int64(s, 2, retry);
    }
    int rc = written(st, sqlite3_step(s));
    sqlite3_reset(s);
    return rc;
}

/* ---- the public calls: each holds the store's lock (recursive: a list or row callback may
 * call the store again), so that a call the input gate could not hold waits for the commit in
 * flight instead of racing it ---- */

int store_commit(struct store *st, char *err, size_t err_cap)
{
    lock(st);
    int rc = commit_locked(st, err, err_cap);
    unlock(st);
    return rc;
}

void store_rollback(struct store *st)
{
    lock(st);
    rollback_locked(st);
    unlock(st);
}

int store_get(struct store *st, const void *key, size_t key_len, const void **val,
              size_t *val_len)
{
    lock(st);
    int rc = get_locked(st, key, key_len, val, val_len);
    unlock(st);
    return rc;
}

int store_put(struct store *st, const void *key, size_t key_len, const void *val,
              size_t val_len)
{
    lock(st);
    int rc = put_locked(st, key, key_len, val, val_len);
    unlock(st);
    return rc;
}

int store_delete(struct store *st, const void *key, size_t key_len)
{
    lock(st);
    int rc = delete_locked(st, key, key_len);
    unlock(st);
    return rc;
}

int store_delete_all(struct store *st)
{
    lock(st);
    int rc = delete_all_locked(st);
    unlock(st);
    return rc;
}

int store_list(struct store *st, const struct duro_list_opts *opts, duro_kv_fn *fn, void *arg)
{
    lock(st);
    int rc = list_locked(st, opts, fn, arg);
    unlock(st);
    return rc;
}

int store_exec(struct store *st, const char *sql, size_t sql_len,
               const struct duro_sql_value *params, size_t nparams, duro_row_fn *fn, void *arg,
               char *err, size_t err_cap)
{
    lock(st);
    int rc = exec_locked(st, sql, sql_len, params, nparams, fn, arg, err, err_cap);
    unlock(st);
    return rc;
}

int store_savepoint(struct store *st, int (*fn)(void *arg), void *arg)
{
    lock(st);
    int rc = savepoint_locked(st, fn, arg);
    unlock(st);
    return rc;
}

uint64_t store_size(struct store *st)
{
    lock(st);
    uint64_t rc = size_locked(st);
    unlock(st);
    return rc;
}

int64_t store_alarm_get(struct store *st, uint32_t *retry)
{
    lock(st);
    int64_t rc = alarm_get_locked(st, retry);
    unlock(st);
    return rc;
}

int store_alarm_set(struct store *st, int64_t epoch_ms, uint32_t retry)
{
    lock(st);
    int rc = alarm_set_locked(st, epoch_ms, retry);
    unlock(st);
    return rc;
}

/* ---- the alarms index ---- */

struct alarm_index *alarm_index_open(const char *dir, char *err, size_t err_cap)
{
    char path[DURO_STORAGE_DIR_MAX_BYTES + 32];
    snprintf(path, sizeof path, "%s/alarms.db", dir);
    struct alarm_index *ix = calloc(1, sizeof *ix);
    if (ix == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &ix->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc == SQLITE_OK) {
        rc = exec_setup(ix->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                "CREATE TABLE IF NOT EXISTS alarms(id TEXT PRIMARY KEY, cls TEXT "
                                "NOT NULL, name BLOB NOT NULL, at INTEGER NOT NULL);");
    }
    if (rc != SQLITE_OK) {
        snprintf(err, err_cap, "%s: %s", path,
                 ix->db != NULL ? sqlite3_errmsg(ix->db) : sqlite3_errstr(rc));
        alarm_index_close(ix);
        return NULL;
    }
    return ix;
}

void alarm_index_close(struct alarm_index *ix)
{
    if (ix != NULL) {
        sqlite3_close_v2(ix->db);
        free(ix);
    }
}

int alarm_index_put(struct alarm_index *ix, const char *cls, const char *name, size_t name_len,
                    const char *id, int64_t epoch_ms)
{
    const char *sql = epoch_ms > 0
                          ? "INSERT OR REPLACE INTO alarms(id, cls, name, at) "
                            "VALUES (?1, ?2, ?3, ?4)"
                          : "DELETE FROM alarms WHERE id = ?1";
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(ix->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return DURO_ESTORAGE;
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    if (epoch_ms > 0) {
        sqlite3_bind_text(s, 2, cls, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 3, name_len ? name : "", (int)name_len, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, epoch_ms);
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : DURO_ESTORAGE;
}

int alarm_index_each(struct alarm_index *ix, alarm_index_fn *fn, void *arg)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(ix->db, "SELECT cls, name, at FROM alarms", -1, &s, NULL) !=
        SQLITE_OK) {
        return DURO_ESTORAGE;
    }
    int n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        fn(arg, (const char *)sqlite3_column_text(s, 0), sqlite3_column_blob(s, 1),
           (size_t)sqlite3_column_bytes(s, 1), sqlite3_column_int64(s, 2));
        n++;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? n : DURO_ESTORAGE;
}

/* worker/storage.h: the storage engine behind the per-object storage API (SQLite today).
 *
 * The interface is narrow on purpose (open, read, write, commit, alarms index) so that a second
 * engine shared by all nodes (PostgreSQL) can replace it without touching classes or the gates.
 *
 * One store is one object's file, <dir>/<class>/<id>.db, in WAL mode. Writes start an implicit
 * transaction (store_dirty() tells); store_commit() ends it and is the only call that may run on
 * a thread-pool thread, while the loop thread leaves the store alone (the input gate). Every
 * other call runs on the loop thread. Calls return 0 (or a count) or a negative DURO_E* code. */
#ifndef DURO_STORAGE_H
#define DURO_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "duro/class.h"

struct store;
struct alarm_index;

/* Opens (creating) the store of object `id` of class `cls` below `dir`. `full`: fsync every
 * commit (synchronous=FULL) or not (NORMAL: durable against a crash of the process, not of the
 * machine). Returns NULL with `err` set. */
struct store *store_open(const char *dir, const char *cls, const char *id, int full,
                         uint64_t max_bytes, char *err, size_t err_cap);

/* Rolls back an open transaction and closes the file. NULL is ignored. */
void store_close(struct store *st);

/* True while a transaction with writes is open (a commit is due). */
int store_dirty(const struct store *st);

/* Ends the transaction. Thread-safe with respect to the loop thread not using the store.
 * Returns 0 or DURO_ESTORAGE (the transaction is then rolled back); `err` gets SQLite's words. */
int store_commit(struct store *st, char *err, size_t err_cap);

/* Rolls back the open transaction, if any. */
void store_rollback(struct store *st);

/* Key-value calls, as duro_storage_get/put/delete/delete_all/list document. */
int store_get(struct store *st, const void *key, size_t key_len, const void **val,
              size_t *val_len);
int store_put(struct store *st, const void *key, size_t key_len, const void *val,
              size_t val_len);
int store_delete(struct store *st, const void *key, size_t key_len);
int store_delete_all(struct store *st);
int store_list(struct store *st, const struct duro_list_opts *opts, duro_kv_fn *fn, void *arg);

/* One SQL statement, as duro_sql_exec documents; `err` gets SQLite's message on DURO_ESQL. */
int store_exec(struct store *st, const char *sql, size_t sql_len,
               const struct duro_sql_value *params, size_t nparams, duro_row_fn *fn, void *arg,
               char *err, size_t err_cap);

/* A savepoint block: see duro_storage_transaction. */
int store_savepoint(struct store *st, int (*fn)(void *arg), void *arg);

/* Bytes of the file (pages in use times the page size). */
uint64_t store_size(struct store *st);

/* Bytes of the object's file and its log on disk (0 when it has none), without opening it. */
uint64_t store_file_bytes(const char *dir, const char *cls, const char *id);

/* The object's alarm, kept in the object's own file: 0 when none. `retry` may be NULL. */
int64_t store_alarm_get(struct store *st, uint32_t *retry);

/* Sets (epoch_ms > 0) or deletes (epoch_ms 0) the alarm in the open transaction. */
int store_alarm_set(struct store *st, int64_t epoch_ms, uint32_t retry);

/* ---- the alarms index: <dir>/alarms.db, shared by every worker of the node ----
 * It is a superset of the alarms: an entry is written before the object's commit and removed
 * after it, and the object's own file is the truth when the alarm fires. */

struct alarm_index *alarm_index_open(const char *dir, char *err, size_t err_cap);
void alarm_index_close(struct alarm_index *ix);

/* Records (epoch_ms > 0) or forgets (0) the alarm of object `id`. Thread-safe. */
int alarm_index_put(struct alarm_index *ix, const char *cls, const char *name, size_t name_len,
                    const char *id, int64_t epoch_ms);

typedef void alarm_index_fn(void *arg, const char *cls, const char *name, size_t name_len,
                            int64_t epoch_ms);

/* Calls `fn` for every entry. Returns the number of entries or DURO_ESTORAGE. */
int alarm_index_each(struct alarm_index *ix, alarm_index_fn *fn, void *arg);

#endif

/* worker/storage_api.h: per-object storage for the worker: the duro_storage_* and duro_sql_exec
 * calls, group commit off the loop thread, and the output and input gates.
 *
 * A write opens the object's transaction and closes its gates: its frames stay queued (output
 * gate) until the commit is durable. At the end of each loop iteration every dirty object's
 * commit goes to the thread pool and its sockets stop reading (input gate). When the commit is
 * durable the frames go out in order and the sockets read again; when it fails the frames are
 * dropped, the sockets closed with 1011 and the object reset. */
#ifndef DURO_STORAGE_API_H
#define DURO_STORAGE_API_H

#include "worker/object.h"
#include "worker/worker.h"

/* Sets up the end-of-iteration commit handle and the alarms (index, timer). Returns 0, or -1
 * with `err` naming the storage dir and the reason. */
int storage_worker_init(struct worker *w, char *err, size_t err_cap);

/* True while the object's output and events must wait for its storage. */
int storage_gated(const struct object *o);

/* Closes the object's file (hibernation, reset, forget). The object must not be gated. */
void storage_object_close(struct object *o);

/* Opens the object's file when it has none. Returns 0 or a negative DURO_E* code (logged). */
int storage_object_open(struct object *o);

/* After a write made straight on o->store (alarms): lists the object for this iteration's
 * commit. */
void storage_mark_dirty(struct object *o);

#endif

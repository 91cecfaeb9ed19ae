/* gateway/supervisor.h: the worker pool: spawn, feed the config, restart with backoff, stop.
 *
 * Each slot runs one duro-worker whose fd 3 is its channel. A worker that exits is restarted
 * after a delay that doubles (from DURO_RESTART_BACKOFF_MIN_MS to _MAX_MS) while it keeps dying
 * young and resets once it has stayed up DURO_RESTART_STABLE_MS. While a slot is down its
 * channel is NULL and the gateway answers its upgrades with 503. */
#ifndef DURO_SUPERVISOR_H
#define DURO_SUPERVISOR_H

#include "gateway/gateway.h"

struct supervisor;
struct chan;
struct msg;

typedef void supervisor_stopped_fn(struct gateway *gw);

/* Receives a worker's answer to a query sent with supervisor_query (seq not 0). */
typedef void supervisor_answer_fn(void *arg, unsigned slot, const struct msg *m);

/* Creates the pool of gw->nworkers slots and spawns them. Returns NULL on ENOMEM. */
struct supervisor *supervisor_start(struct gateway *gw);

/* The channel of `slot`, or NULL while that worker is down. */
struct chan *supervisor_chan(struct supervisor *s, unsigned slot);

/* Sends a QUERY_STATS query (`seq` not 0) to `slot` (gateway/objects_page.c sends the
 * QUERY_OBJECTS ones itself); its answer goes to the function registered with
 * supervisor_on_answer(). Returns 0, or a negative UV_E* code (UV_EAGAIN while it is down). */
int supervisor_query(struct supervisor *s, unsigned slot, uint64_t seq, uint32_t what);

/* Whether `slot` may take one more hand-off: UV_EMFILE when the worker is within
 * DURO_FD_RESERVE_COUNT descriptors of its limit (as last reported, minus the hand-offs sent
 * since), else 0, and the hand-off is counted against its headroom. */
int supervisor_admit(struct supervisor *s, unsigned slot);

/* Adds to `out` every running worker's metrics as of its last MSG_STATS (heartbeat or query
 * answer) and the counters of the workers that exited, so counters never decrease. */
void supervisor_metrics(const struct supervisor *s, struct metrics *out);

/* One slot's metrics: its worker's last report, with the counters of the slot's earlier
 * workers added, so that per-worker counters never go back across a restart either. */
void supervisor_slot_metrics(const struct supervisor *s, unsigned slot, struct metrics *out);

/* Registers who gets query answers (the admin listener); NULL `fn` drops them. */
void supervisor_on_answer(struct supervisor *s, supervisor_answer_fn *fn, void *arg);

/* Pool size, and the pid of `slot` (0 while it is down). */
unsigned supervisor_size(const struct supervisor *s);
int supervisor_pid(const struct supervisor *s, unsigned slot);

/* Sends the gateway's current config text to every running worker (SIGHUP reload). */
void supervisor_reconfigure(struct supervisor *s);

/* Resizes the pool live to `n` workers (SIGHUP with a new [server] workers): new slots are
 * spawned, slots past `n` retire (MIGRATE_ALL: their sockets move to the objects' new owners),
 * and when the pool grows every remaining worker sends away only the objects whose rendezvous
 * slot changed (MIGRATE_RESIZE). gw->nworkers is set at once, so new connections route over
 * the new pool. Returns 0, or -1 (`n` out of bounds, stopping, out of memory). */
int supervisor_resize(struct supervisor *s, unsigned n);

/* Replaces every worker in turn by a new process (a class reload): slot by slot, a new worker
 * starts and the old one hands all its sockets over to it, then exits; the next slot follows
 * once it has. A call while one runs starts again from slot 0. */
void supervisor_replace_all(struct supervisor *s);

/* Calls `ready` once every slot's worker has answered a first query (read its config and
 * serves), or at once if all have. A supervisor that stops first never calls it. */
void supervisor_on_ready(struct supervisor *s, supervisor_stopped_fn *ready);

/* Upgrade in place: the workers leave one after the other (MIGRATE_ALL; the next once the
 * previous one has exited), none replaced or restarted; a slot being left routes nothing
 * (supervisor_chan NULL). Once all have exited, frees the supervisor like supervisor_stop and
 * calls `done`. A supervisor_stop meanwhile stops the workers left at once. */
void supervisor_retire(struct supervisor *s, supervisor_stopped_fn *done);

/* Sends SIGTERM to every worker and, once all have exited (SIGKILL after `grace_ms`), closes
 * the supervisor's handles, frees it and calls `done`. */
void supervisor_stop(struct supervisor *s, uint64_t grace_ms, supervisor_stopped_fn *done);


#endif

/* worker/worker.h: the worker process's one context struct, passed to every module. */
#ifndef DURO_WORKER_H
#define DURO_WORKER_H

#include <stdint.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "common/conf.h"
#include "common/metrics.h"
#include "common/duro_limits.h"
#include "worker/budget.h"
#include "worker/liveness.h"
#include "worker/pmd.h"

struct chan;
struct registry;
struct session;
struct session_act;
struct msg_span;
struct duro_class;
struct requests;
struct alarm_index;
struct alarms;
struct migration;

/* A growable byte buffer; all-zero is empty. */
struct obuf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

/* A frame shared by the output queues of a broadcast's recipients (one copy, however many they
 * are), freed with its last reference; charged to the worker's budget once, for its life. */
struct tx_shared {
    uint32_t refs;
    size_t len;
    uint8_t p[];
};

/* A shared frame in a queue: it goes out after the first `at` bytes of the queue's own ones. */
struct tx_seg {
    size_t at;
    struct tx_shared *sh;
};

/* Output for one socket, in order: its own framed bytes with shared frames between them. */
struct txq {
    struct obuf own;
    struct tx_seg *segs;
    uint32_t nsegs;
    uint32_t segs_cap;
    size_t shared_bytes;     /* the lengths of the shared frames queued */
};

/* A class loaded from a shared object, known by its [class NAME] section. */
struct loaded_class {
    void *handle;                   /* dlopen handle */
    struct duro_class *cls;         /* a copy, with the section's name */
};

struct worker {
    uv_loop_t *loop;
    const char *version;   /* DURO_VERSION_FULL of the executable (main.c), for the logs */
    struct chan *ch;
    int configured;        /* MSG_CONFIG received */
    unsigned slot;
    unsigned nslots;
    struct conf conf;
    struct registry *reg;
    struct requests *requests; /* HTTP requests into objects, their pending responses */
    struct migration *mig;     /* a MSG_MIGRATE in progress (worker/migrate.h), or NULL */
    int stopping;

    /* One read buffer for every session of the loop: wslay consumes it synchronously, so idle
     * sessions hold none. */
    uint8_t read_buf[DURO_WS_READ_BUF_BYTES];

    /* One wslay frame context frames every outgoing message of the worker: frames are written
     * whole into the target buffer, so it never holds state between calls. */
    wslay_frame_context_ptr tx;
    struct obuf *tx_out;
    /* [websocket] worker_buffer_max_bytes: output buffers, shared frames and messages being
     * assembled (worker/budget.h); past it tx.c sheds the largest backlogs. */
    struct budget budget;
    int shedding;              /* tx_shed() in progress: nested sends do not shed again */
    struct session *current;   /* the session whose read is being handled, if any */
    /* permessage-deflate without context takeover: one compressor and one inflater, reset per
     * message, serve every socket (worker/pmd.h). */
    struct pmd_codec pmd;

    /* Sessions with output waiting for the end of this loop iteration: a broadcast, or replies
     * to sockets other than the one being read, go out once per iteration (one write for many
     * messages), when the check handle runs after the I/O callbacks. */
    struct session **flush_q;
    size_t flush_n;
    size_t flush_cap;
    uv_check_t flush_check;
    const struct msg_span *offered; /* subprotocols offered, during on_connect */

    /* Active-socket states not in use, kept to avoid an allocation per active period. */
    struct session_act *act_pool;
    unsigned act_pool_count;
    uint64_t acts_in_use;

    /* Acts with a write in flight, oldest first, checked for progress by wt_timer: output that
     * does not move for [websocket] write_timeout_ms closes its socket. */
    struct session_act *wt_head, *wt_tail;
    uv_timer_t wt_timer;

    /* Sessions that read their share of this loop iteration (DURO_WS_READ_ITER_MAX_BYTES):
     * reading resumes in the check phase, so heavy sockets cannot delay the others. */
    struct session **paused;
    size_t npaused, paused_cap;
    uint64_t iter;           /* loop iterations, counted in the check phase */
    uv_check_t read_check;

    /* Sessions waiting for a close handshake or the peer's FIN, oldest first. */
    struct session_act *to_head, *to_tail;
    uv_timer_t to_timer;

    /* Pings for open sockets, all in one timing wheel (worker/liveness.h). */
    struct liveness liveness;

    struct loaded_class loaded[DURO_CLASSES_MAX_COUNT];
    unsigned nloaded;

    uv_timer_t heartbeat;    /* unsolicited stats to the gateway: "alive, maybe slow" */
    /* Storage: objects with a commit due at the end of this iteration, and the alarms. */
    struct object *dirty_head;
    uv_check_t commit_check;
    struct alarm_index *aidx;
    struct alarms *alarms;
    int storage_ok;          /* the storage dir was usable at start */
    uint64_t storage_retry_ms; /* when storage_object_open last retried a failed start */

    uint64_t sessions_open;  /* sessions with a descriptor, accepted or not */
    uint64_t fd_soft;        /* RLIMIT_NOFILE in force (logged once configured) */
    uint64_t fd_hard;
    unsigned fd_base;        /* descriptors open before any session */
    struct metrics metrics;
};

#endif

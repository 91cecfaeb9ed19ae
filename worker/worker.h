/* worker/worker.h: the worker process's one context struct, passed to every module. */
#ifndef DURO_WORKER_H
#define DURO_WORKER_H

#include <stdint.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "common/conf.h"
#include "common/duro_limits.h"

struct chan;
struct registry;
struct session;

struct worker {
    uv_loop_t *loop;
    struct chan *ch;
    int configured;        /* MSG_CONFIG received */
    unsigned slot;
    unsigned nslots;
    struct conf conf;
    struct registry *reg;
    int stopping;

    /* One read buffer for every session of the loop: wslay consumes it synchronously, so idle
     * sessions hold none. */
    uint8_t read_buf[DURO_WS_READ_BUF_BYTES];
    int read_buf_busy;

    /* One wslay frame context frames every outgoing message of the worker: frames are written
     * whole into the target session's output buffer, so it never holds state between calls. */
    wslay_frame_context_ptr tx;
    struct session *tx_target;
    struct session *current; /* the session whose read is being handled, if any */

    uint64_t sessions_open;
};

#endif

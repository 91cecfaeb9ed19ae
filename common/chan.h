/* common/chan.h: the message channel between the gateway and one worker: a libuv IPC pipe
 * (a Unix socketpair) carrying msg.h messages, with the client's fd attached to MSG_HANDOFF,
 * MSG_EMIGRATE and MSG_ADOPT (msg_carries_fd).
 *
 * The gateway creates the channel before spawning the worker and passes chan_pipe() to
 * uv_spawn as the worker's fd 3; the worker opens fd 3 with chan_open_fd(). Received handles are
 * paired with MSG_HANDOFF messages in order; a handle no message claims is closed. */
#ifndef DURO_CHAN_H
#define DURO_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/msg.h"

struct chan;

/* A decoded message. For MSG_HANDOFF (and the other msg_carries_fd types) the receiver takes the attached connection with
 * chan_accept() during this call; otherwise the chan closes it. `m` is valid only during the
 * call. */
typedef void chan_msg_fn(struct chan *ch, const struct msg *m, void *arg);

/* The peer closed the channel (status 0), it failed (a negative UV_E* code), or it sent something
 * that is not a valid message (UV_EPROTO). No more messages arrive; the owner must chan_close(). */
typedef void chan_closed_fn(struct chan *ch, int status, void *arg);

/* A send finished: status 0, or a negative UV_E* code (UV_ECANCELED when the chan closed). */
typedef void chan_sent_fn(int status, void *arg);

/* Allocates a channel whose pipe is initialised for IPC on `loop`. Returns NULL on ENOMEM. */
struct chan *chan_new(uv_loop_t *loop);

/* The pipe, for uv_spawn's stdio container (UV_CREATE_PIPE | UV_READABLE_PIPE |
 * UV_WRITABLE_PIPE). Owned by the chan. */
uv_pipe_t *chan_pipe(struct chan *ch);

/* Opens an inherited descriptor (the worker's fd 3). Returns 0 or a negative UV_E* code. */
int chan_open_fd(struct chan *ch, int fd) __attribute__((warn_unused_result));

/* Starts reading. Returns 0 or a negative UV_E* code. */
int chan_start(struct chan *ch, chan_msg_fn *on_msg, chan_closed_fn *on_closed, void *arg)
    __attribute__((warn_unused_result));

/* Sends `len` bytes (one or more encoded messages, copied), with `handle` attached when not NULL
 * (only for a msg_carries_fd type). Returns 0 or a negative UV_E* code. On 0, `done` (may be NULL) runs
 * exactly once, and `handle` must stay open until then. */
int chan_send(struct chan *ch, const uint8_t *bytes, size_t len, uv_stream_t *handle,
              chan_sent_fn *done, void *arg) __attribute__((warn_unused_result));

/* Accepts the connection attached to the MSG_HANDOFF being delivered into `client`, an
 * initialised uv_tcp_t. Returns 0 or a negative UV_E* code. */
int chan_accept(struct chan *ch, uv_stream_t *client) __attribute__((warn_unused_result));

/* MSG_HANDOFFs received without their descriptor (the receiver was at its fd limit): each is
 * logged and skipped, the channel goes on. */
uint64_t chan_handoffs_dropped(const struct chan *ch);

/* Bytes the channel's read buffer holds allocated: DURO_CHAN_READ_INITIAL_BYTES, more only
 * while a large message is being received. */
size_t chan_buffer_bytes(const struct chan *ch);

/* Stops reading and closes the pipe; pending sends complete with UV_ECANCELED; the chan is freed
 * once the pipe has closed. No callback of this chan runs after chan_close returns, except
 * pending `done` callbacks. Idempotent. */
void chan_close(struct chan *ch);

#endif

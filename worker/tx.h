/* worker/tx.h: the output of every session: framing and the flush queue.
 *
 * One wslay frame context per worker frames every outgoing message straight into the target
 * buffer (a frame is written whole, so the context holds no state between calls). A session's
 * output collects in its act's `out` buffer; one write sends it, and frames queued while that
 * write is in flight collect in the other buffer of the pair. Output for a socket other than the
 * one being read (a broadcast, a reply to another member) goes out at the end of the loop
 * iteration, from a uv_check handle: one write per socket per iteration, however many messages. */
#ifndef DURO_TX_H
#define DURO_TX_H

#include <stddef.h>
#include <stdint.h>

#include "duro/class.h"
#include "worker/worker.h"

struct session;

#define TX_FRAME_HEADER_MAX_BYTES 14u

/* Sets up the worker's shared framing context and the end-of-iteration flush. Returns 0 or -1. */
int tx_worker_init(struct worker *w);

/* Closes the flush check handle and frees the framing context and the flush queue. */
void tx_worker_close(struct worker *w);

/* Grows `b` so that `extra` more bytes fit. Returns 0 or -1 (no memory; `b` unchanged). */
int tx_reserve(struct obuf *b, size_t extra);

/* Appends one unmasked frame (FIN set) of `n` pieces to `out`. Returns 0 or -1 (no memory). */
int tx_frame_into(struct worker *w, struct obuf *out, uint8_t opcode,
                  const struct duro_iov *iov, size_t n);

#define TX_DEFLATE_PIECES_MAX 16u

/* True when a data message of `len` bytes to `s` is sent compressed: permessage-deflate was
 * negotiated and the message is at least [websocket] deflate_min_bytes. */
int tx_should_deflate(const struct session *s, uint8_t opcode, size_t len);

/* Compresses one message of `n` (<= TX_DEFLATE_PIECES_MAX) pieces with `codec` and appends it to
 * `out` as one frame with RSV1 set. Returns 0 or -1 (no memory). */
int tx_frame_deflated(struct worker *w, struct obuf *out, uint8_t opcode,
                      const struct pmd_params *p, struct pmd_codec *codec,
                      const struct duro_iov *iov, size_t n);

/* Frames one message into the session's output (compressed where negotiated). Returns 0, or -1 when the backlog is already
 * past the outbound bound (unless `force`, for control frames) or memory ran out. */
int tx_frame(struct session *s, uint8_t opcode, const struct duro_iov *iov, size_t n, int force);

/* Queues bytes already framed (a broadcast frames once for all recipients), or with `force`
 * bytes that are not frames (the 101, a refusal). Same result as tx_frame. */
int tx_queue(struct session *s, const uint8_t *bytes, size_t len, int force);

/* Bytes queued and not yet written. */
size_t tx_buffered(const struct session *s);

/* Writes what is queued now (one uv_try_write, the rest in one uv_write); calls
 * session_drained() when nothing is left, session_destroy() on a write error. */
void tx_flush(struct session *s);

/* Writes what is queued at the end of this loop iteration, together with everything else the
 * iteration produced for this socket. The session being read is flushed when its read ends. */
void tx_flush_soon(struct session *s);

/* Takes the session out of the flush queue (it is being freed). */
void tx_unqueue(struct session *s);

#endif

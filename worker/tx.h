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
struct session_act;

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

/* A frame for many queues: `data` framed once (compressed with the worker's shared codec when
 * `p` is not NULL: stateless recipients of p's window size), one reference held by the caller,
 * charged to the worker's budget until the last reference goes. NULL when memory ran out. */
struct tx_shared *tx_share(struct worker *w, uint8_t opcode, const void *data, size_t len,
                           const struct pmd_params *p);

/* Drops one reference; the last frees the frame. NULL is ignored. */
void tx_unshare(struct worker *w, struct tx_shared *sh);

/* Queues a reference to `sh` (no copy) after what is queued. Returns 0, or -1 when the
 * backlog is already past the outbound bound or memory ran out. */
int tx_queue_shared(struct session *s, struct tx_shared *sh);

/* ---- the worker's buffer budget ([websocket] worker_buffer_max_bytes, worker/budget.h) ---- */

/* The worker's budget, its bound taken from the configuration in force. */
struct budget *tx_budget(struct worker *w);

/* Charges what the session's act holds now: its two output queues' buffers and the message its
 * decoder is assembling. Call after either changes. */
void tx_account(struct session *s);

/* Closes sockets, largest backlog first, until `need` more bytes fit or the largest is `except`
 * (the socket asking for room: refusing it is the caller's): a
 * socket not yet closing has its unsent output dropped and is failed with 1008 (logged at warn as
 * event=buffer_budget_close, counted in duro_buffer_budget_closes_total); one still holding the
 * most after that is destroyed. Does nothing when called from inside a shedding. */
void tx_shed(struct worker *w, size_t need, struct session *except);

/* Makes room for a charge of `need` bytes (tx_shed). Returns 0 when it fits, or when it is not
 * large (DURO_WS_LARGE_MESSAGE_BYTES or less: the end of the iteration sheds again); -1 for a
 * large charge that still does not fit. */
int tx_budget_admit(struct worker *w, size_t need, struct session *except);

/* For the act pool: empties both queues (their shared frames released), frees buffers over
 * `keep` bytes, and takes the act's charge off the budget. */
void tx_act_clear(struct worker *w, struct session_act *a, size_t keep);

/* Frees both queues of an act that is being freed. */
void tx_act_free(struct worker *w, struct session_act *a);

/* Drops the output queued and not yet being written (a failed commit, a shed socket). */
void tx_drop_pending(struct session *s);

/* Frames one message into the session's output (compressed where negotiated). Returns 0, or -1
 * when the backlog is already past the outbound bound, a large message does not fit the worker's
 * budget even after shedding (not with `force`, for control frames), or memory ran out. */
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

/* True when tx_flush_soon(s) would only queue the flush (never write, so never fail the
 * session from where it is called). */
int tx_flush_defers(const struct session *s);

/* Takes the session out of the flush queue (it is being freed). */
void tx_unqueue(struct session *s);

#endif

/* worker/session.h: one WebSocket connection in a worker: its lifetime and close handshake.
 *
 * A connection passes through four modules, one way:
 *   handshake.c  takes the hand-off, lets the class accept or refuse, writes the 101 or the refusal;
 *   session.c    (this) the read loop, events from the decoder to the object, the close handshake,
 *                the close timer, the pool of active-socket states, and the end of the connection;
 *   ws_rx.c      the frame decoder: bytes in, events out (no calls back);
 *   tx.c         framing and the flush queue: everything the session and the class send.
 *
 * A session is split in two so that idle sockets stay small (docs/design.md section 5: idle and
 * hibernated sockets hold no read buffer):
 *  - struct session, always present: the libuv handle, the object membership, tags and
 *    attachment, counters.
 *  - struct session_act, present only while the socket is active: the decoder (which carries
 *    wslay's 4 KiB input buffer), a partial frame or message, output waiting to be written, a
 *    close handshake in progress. When a read leaves nothing pending, the act goes back to the
 *    worker's pool and the next read takes one again.
 * Reads use the worker's one shared buffer; the decoder consumes it synchronously. */
#ifndef DURO_SESSION_H
#define DURO_SESSION_H

#include <stdint.h>
#include <uv.h>

#include "common/msg.h"
#include "duro/class.h"
#include "worker/worker.h"
#include "worker/ws_rx.h"

struct object;
struct tag_member;

/* Where a connection is. Moves only forward, except OPEN -> CLOSE_SENT -> CLOSE_RECEIVED. */
enum session_state {
    SESSION_HANDSHAKE,      /* descriptor taken; inside on_connect: tags and protocol may be set */
    SESSION_REFUSED,        /* a refusal is queued: FIN once written, then close */
    SESSION_OPEN,           /* 101 queued, joined its object: messages flow */
    SESSION_CLOSE_SENT,     /* our close frame is queued; waiting for the client's (close timer) */
    SESSION_CLOSE_RECEIVED, /* the client's close frame arrived; TCP closes once ours is written */
    SESSION_FAILED,         /* protocol error or overload: close frame sent, frames no longer
                             * parsed, FIN once written, then the client's FIN or the timer */
    SESSION_PEER_DONE,      /* EOF from the client: write what is queued, then close */
    SESSION_DESTROYED,      /* uv_close issued: nothing more happens; freed in its callback */
};

struct session_act {
    struct session *s;           /* NULL while in the pool */
    struct session_act *next;    /* pool link */
    struct session_act *to_prev, *to_next; /* the worker's close-timeout list */
    uint64_t deadline_ms;        /* 0: not in the timeout list */
    uv_shutdown_t sreq;
    struct ws_rx rx;             /* the decoder */
    /* Owned by tx.c: */
    uv_write_t wreq;
    struct session_act *wt_prev, *wt_next; /* the worker's writes in flight */
    uint64_t wt_progress_ms;     /* when the write in flight last moved */
    size_t wt_queued;            /* libuv's write queue size then */
    struct txq out;              /* framed bytes not yet written */
    struct txq wb;               /* bytes of the write in flight */
    size_t charged;              /* bytes charged to the worker's budget: out, wb, rx's message */
};

struct session {
    uv_tcp_t tcp;
    struct worker *w;
    struct object *obj;
    struct session *oprev, *onext; /* the object's sockets */
    struct session_act *act;       /* NULL while idle */
    struct tag_member *tags;
    uint8_t *attachment;
    uint64_t conn_id;
    uint64_t opened_ms;
    uint64_t last_auto_ms;         /* wall clock of the last auto-response, 0 if none */
    uint64_t bytes_in, bytes_out;
    uint32_t msgs_in, msgs_out;
    uint32_t attachment_len;
    uint32_t rx_tick;              /* liveness: wheel tick of the last bytes received, or of
                                    * the ping while ping_out */
    uint64_t read_iter;            /* the loop iteration of read_iter_bytes */
    uint32_t read_iter_bytes;      /* bytes read in that iteration */
    uint64_t rate_ms;              /* messages_per_second bucket: last refill (uv_now) */
    double rate_tokens;            /* messages the socket may still send now */
    uint16_t code_sent;            /* 0 until our close frame is queued */
    uint16_t code_recv;
    uint8_t ntags;
    uint8_t pmd_sbits;             /* permessage-deflate: duro's window bits (0: no extension) */
    uint8_t pmd_cbits;             /* ... and the client's */
    enum session_state state;
    unsigned accepted : 1;       /* the 101 was queued: on_close is owed, the gauge counts it */
    unsigned counted : 1;        /* counts as open: accepted and neither side has closed */
    unsigned notified : 1;       /* on_close or on_error has run */
    unsigned shut : 1;           /* uv_shutdown issued */
    unsigned writing : 1;        /* tx: a uv_write is in flight */
    unsigned flush_queued : 1;   /* tx: in the worker's end-of-iteration flush list */
    unsigned pmd_snt : 1;        /* server_no_context_takeover: duro compresses each message
                                  * alone (with the worker's shared codec) */
    unsigned pmd_cnt : 1;        /* client_no_context_takeover: the client does; duro inflates
                                  * with the shared codec */
    unsigned gate_paused : 1;    /* reads stopped while its object's commit is in flight */
    unsigned ping_out : 1;       /* liveness: a ping is unanswered since rx_tick */
    unsigned read_paused : 1;    /* in the worker's paused list until the check phase */
    unsigned rate_started : 1;   /* the rate bucket was filled */
    unsigned migrating : 1;      /* to be handed over to another worker (worker/migrate.h) */
    unsigned held : 1;           /* ... and at a message boundary: reads stay stopped */
    unsigned grouped : 1;        /* adopted, held until the rest of its object's sockets came */
    unsigned peer_kind : 2;      /* session_client's cache: PEER_UNASKED, _V4 (peer4/peer_port),
                                  * _TEXT (kept in `client`), _GONE (asked, the kernel had none) */
    uint16_t peer_port;          /* host order */
    uint32_t peer4;              /* network order */
    struct wheel_node lnode;       /* liveness: in the worker's wheel while open */
    struct pmd_codec *zc;          /* takeover mode: this socket's own windows, kept for its
                                    * life (NULL in stateless mode) */
    char *protocol;              /* chosen subprotocol, only during the handshake; for a
                                  * `grouped` adopted socket, its early bytes (u32 length, then
                                  * the bytes) until its group is released (worker/migrate.c) */
    char *client;                /* the PROXY protocol's client "ip:port", or a peer that is not
                                  * IPv4 as text once asked (peer_kind); NULL otherwise */
};

enum { PEER_UNASKED, PEER_V4, PEER_TEXT, PEER_GONE };

/* ---- for main ---- */

/* Starts the close handshake with 1001 Going Away and `reason` on every open session. */
void session_close_all(struct worker *w, const char *reason);

/* Sets up the worker's close-timeout timer and the output module. Returns 0 or -1. */
int session_worker_init(struct worker *w);

/* Closes the timer and check handles of session_worker_init() and frees the act pool. Every
 * session must be gone (sessions_open == 0); run the loop afterwards to finish the closes. */
void session_worker_close(struct worker *w);

/* ---- for handshake ---- */

/* A new session for connection `conn_id`, its TCP handle initialised (not yet open), in state
 * HANDSHAKE, counted in sessions_open. NULL when memory ran out. Once its handle is open, end it
 * with session_destroy() (the close callback frees it). */
struct session *session_new(struct worker *w, uint64_t conn_id);

/* Starts reading (not while `held` for a hand-over). Returns 0 or -1. */
int session_read_start(struct session *s);

/* Marks an accepted session open: state OPEN, counted in its object and in the gauge. */
void session_opened(struct session *s);

/* Closes the handle of a session handed over to another worker (worker/migrate.c detached it:
 * DESTROYED, out of its object, without on_close) once its descriptor has been sent, and frees
 * it like any session. */
void session_free_detached(struct session *s);

/* Decodes `len` bytes that arrived with the hand-off, as if read. */
void session_feed(struct session *s, const uint8_t *p, size_t len);

/* duro_sendv for a caller that must not re-enter the class (a Lua class's JIT-compiled code):
 * returns 0 or DURO_ESTATE as duro_sendv does, or 1 having done nothing where duro_sendv
 * would fail the socket (and run its on_error): the caller then calls duro_sendv. */
int class_api_sendv_quiet(struct duro_socket *ws, int binary, const struct duro_iov *iov,
                          size_t n);

/* Where duro_object_open_count reads, for a Lua class's compiled code to read it without a
 * call (a C call between a message view's making and its last use keeps LuaJIT from sinking
 * the view's allocation, lua_fast.c). Valid while the object lives. */
const uint32_t *class_api_open_count_at(const struct duro_object *o);

/* ---- for tx, class_api and object ---- */

/* The session's act, taken from the pool when it has none. NULL when memory ran out. */
struct session_act *session_act(struct session *s);

/* Ends the connection now: on_close (1006) if owed, the gauge, uv_close. Idempotent, and safe
 * from any callback, including the class's own on_close (the session is DESTROYED first). */
void session_destroy(struct session *s);

/* tx: everything queued was written. Moves the close handshake on, or releases the act. */
void session_drained(struct session *s);

/* Sends a close frame (once) and starts the close timer. */
void session_send_close(struct session *s, uint16_t code, const char *reason, size_t len);

/* After the output drains: close TCP once the handshake is done (or the session failed). */
void session_finish(struct session *s);

/* Fails the connection (RFC 6455 7.1.7): the class's on_error, a close frame with `code`,
 * no more frames parsed. */
void session_fail(struct session *s, uint16_t code, const char *why);

/* Closes a socket whose output cannot keep up (1008), logged at warn as event=slow_consumer
 * with `path` (send, broadcast, pong, auto_response, write_timeout). */
void session_overloaded(struct session *s, const char *path);

/* The socket no longer counts as open. */
void session_uncount(struct session *s);

/* Calls the class's on_close once (if the socket was accepted). */
void session_notify_close(struct session *s, uint16_t code, const char *reason, size_t len,
                          int clean);

/* True while the class may send data frames: accepted, no close frame queued, not failed. */
int session_can_send(const struct session *s);

/* True once the connection is being closed by us, or gone: no second close frame. */
int session_closing(const struct session *s);

/* True for the close codes an endpoint may send (RFC 6455 7.4). */
int session_close_code_valid(uint16_t code);

/* The client's address for logs: the PROXY protocol's, else the TCP peer's. The peer is asked
 * once and kept: after a reset the kernel no longer knows it, and the close line of a dropped
 * connection is the one an operator looks for. */
void session_client(struct session *s, char *out, size_t cap);

/* ---- permessage-deflate (worker/pmd.h) ---- */

/* The socket's negotiated parameters (all-zero when none). */
struct pmd_params session_pmd(const struct session *s);

/* Records what the handshake negotiated. */
void session_set_pmd(struct session *s, const struct pmd_params *p);

/* The codec to compress (`tx` 1) or inflate (`tx` 0) this socket's messages with: the worker's
 * shared one where no context is kept, else the socket's own (allocated on first use). NULL when
 * memory ran out. */
struct pmd_codec *session_pmd_codec(struct session *s, int tx);

#endif

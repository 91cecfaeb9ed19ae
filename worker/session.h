/* worker/session.h: one WebSocket connection in a worker.
 *
 * A session is split in two so that idle sockets stay small (DESIGN.md 4: idle and hibernated
 * sockets hold no read buffer):
 *  - struct session, always present: the libuv handle, the object membership, tags and
 *    attachment, counters. About 400 bytes.
 *  - struct session_act, present only while the socket is active: the wslay frame context
 *    (which carries wslay's 4 KiB input buffer), a partial frame or message, output waiting to
 *    be written, a close handshake in progress. When a read leaves nothing pending, the act goes
 *    back to the worker's pool and the next read takes one again.
 * Reads use the worker's one shared buffer; wslay consumes it synchronously. Outgoing frames are
 * framed by the worker's shared wslay context straight into the act's output buffer, and
 * everything one read produces goes out in one write. */
#ifndef DURO_SESSION_H
#define DURO_SESSION_H

#include <stdint.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "common/msg.h"
#include "common/utf8.h"
#include "duro/class.h"
#include "worker/worker.h"

struct object;
struct tag_member;

struct session_act {
    struct session *s;           /* NULL while in the pool */
    struct session_act *next;    /* pool link */
    struct session_act *to_prev, *to_next; /* the worker's close-timeout list */
    uint64_t deadline_ms;        /* 0: not in the timeout list */
    uv_write_t wreq;
    uv_shutdown_t sreq;

    wslay_frame_context_ptr rx;
    const uint8_t *in;           /* bytes lent by the current read, not yet given to wslay */
    size_t in_len;
    uint64_t fed;                /* bytes handed to wslay ... */
    uint64_t framed;             /* ... and bytes of the frames it has returned whole */
    uint8_t tail[14];            /* the last bytes handed to wslay: a pending frame header */

    uint64_t frame_left;         /* payload bytes of the current frame still to come */
    uint8_t frame_opcode;
    uint8_t frame_fin;
    uint8_t in_frame;
    uint8_t msg_opcode;          /* data message in progress: WSLAY_TEXT_FRAME/_BINARY_FRAME */
    struct utf8_state utf8;
    struct obuf msg;             /* a message split over frames or reads */
    uint8_t ctrl_len;
    uint8_t ctrl[DURO_WS_CONTROL_MAX_BYTES];

    struct obuf out;             /* framed bytes not yet written */
    struct obuf wb;              /* bytes of the write in flight */
};

struct session {
    uv_tcp_t tcp;
    struct worker *w;
    struct object *obj;
    struct session *oprev, *onext; /* the object's sockets */
    struct session_act *act;       /* NULL while idle */
    struct tag_member *tags;       /* DURO_TAGS_MAX_COUNT at most, fixed at accept */
    uint8_t *attachment;
    uint64_t conn_id;
    uint64_t opened_ms;
    uint64_t last_auto_ms;         /* wall clock of the last auto-response, 0 if none */
    uint64_t bytes_in, bytes_out;
    uint32_t msgs_in, msgs_out;
    uint32_t attachment_len;
    uint16_t code_sent;
    uint16_t code_recv;
    uint8_t ntags;
    unsigned counted : 1;        /* counts as open for the seed */
    unsigned accepted : 1;       /* 101 queued, joined its object */
    unsigned connecting : 1;     /* inside on_connect: tags and protocol may be set */
    unsigned writing : 1;
    unsigned close_sent : 1;
    unsigned close_received : 1;
    unsigned failed : 1;         /* protocol error: frames are no longer parsed */
    unsigned finishing : 1;      /* after the output drains: shutdown, linger, close */
    unsigned shut : 1;           /* uv_shutdown issued */
    unsigned closing : 1;        /* uv_close issued */
    unsigned notified : 1;       /* on_close or on_error has run */
    unsigned flush_queued : 1;   /* in the worker's end-of-iteration flush list */
    unsigned peer_done : 1;      /* EOF from the client: write what is queued, then close */
    char *protocol;              /* chosen subprotocol, only during the handshake */
};

/* ---- for intake and main ---- */

/* Takes over the connection of a MSG_HANDOFF being delivered on `ch`: accepts the descriptor,
 * lets the object's class accept or refuse, writes the 101 (or the refusal), and processes the
 * early bytes. Errors are answered to the client and logged here. */
void session_start(struct worker *w, struct chan *ch, const struct msg_handoff *h);

/* Starts the close handshake with 1001 Going Away and `reason` on every open session. */
void session_close_all(struct worker *w, const char *reason);

/* Sets up the worker's shared sending frame context and close-timeout timer. Returns 0 or -1. */
int session_worker_init(struct worker *w);

/* ---- for ws_rx, api and object ---- */

/* The session's act, taken from the pool when it has none. NULL when memory ran out (the
 * session is then closed). */
struct session_act *session_act(struct session *s);

/* Frames one message of `n` pieces into the output. Returns 0, or -1 when the backlog is past
 * the outbound bound (unless `force`, for control frames) or memory ran out. */
int session_frame(struct session *s, uint8_t opcode, const struct duro_iov *iov, size_t n,
                  int force);

/* Frames one message into `out` with the worker's shared wslay context. Returns 0 or -1. */
int session_frame_into(struct worker *w, struct obuf *out, uint8_t opcode,
                       const struct duro_iov *iov, size_t n);

/* Queues bytes already framed (a broadcast frames once for all recipients). Same result as
 * session_frame. */
int session_queue(struct session *s, const uint8_t *bytes, size_t len);

/* Writes what is queued at the end of this loop iteration, together with everything else the
 * iteration produced for this socket (the end of the socket's own read writes its replies). */
void session_flush_soon(struct session *s);

/* Sends a close frame (once) and starts the close timer. */
void session_send_close(struct session *s, uint16_t code, const char *reason, size_t len);

/* After the output drains: close TCP once the handshake is done (or the session failed). */
void session_finish(struct session *s);

/* Fails the connection (RFC 6455 7.1.7): the class's on_error, a close frame with `code`,
 * no more frames parsed. */
void session_fail(struct session *s, uint16_t code, const char *why);

/* The socket no longer counts as open. */
void session_uncount(struct session *s);

/* Bytes queued and not yet written. */
size_t session_buffered(const struct session *s);

/* Calls the class's on_close once (if the socket was accepted). */
void session_notify_close(struct session *s, uint16_t code, const char *reason, size_t len,
                          int clean);

/* True for the close codes an endpoint may send (RFC 6455 7.4). */
int session_close_code_valid(uint16_t code);

#endif

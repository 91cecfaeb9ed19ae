/* worker/session.h: one WebSocket connection in a worker: libuv <-> wslay frames <-> messages.
 *
 * The session reads with the worker's shared buffer and lends the bytes to its wslay frame
 * context; it assembles messages (fragments, UTF-8 across fragments, size limit), answers pings,
 * runs the close handshake with a timeout, and hands whole messages to its object's class.
 * Outgoing frames are framed by the worker's shared wslay context straight into the session's
 * output buffer; everything produced while handling one read goes out in one write. */
#ifndef DURO_SESSION_H
#define DURO_SESSION_H

#include <stdint.h>
#include <uv.h>
#include <wslay/wslay.h>

#include "common/msg.h"
#include "common/utf8.h"
#include "worker/worker.h"

struct object;

struct obuf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

struct session {
    uv_tcp_t tcp;
    uv_timer_t timer;        /* close handshake / linger bound */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct worker *w;
    struct object *obj;
    struct session *oprev, *onext; /* the object's sockets */
    uint64_t conn_id;
    uint64_t opened_ms;
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    int open_handles;

    wslay_frame_context_ptr rx;
    const uint8_t *in;       /* bytes lent by the current read, not yet given to wslay */
    size_t in_len;

    /* the frame being received */
    uint64_t frame_left;     /* payload bytes still to come */
    uint8_t frame_opcode;
    uint8_t frame_fin;
    uint8_t in_frame;
    /* the data message being assembled (fragmented, or split across reads) */
    uint8_t msg_opcode;      /* 0: none in progress, else WSLAY_TEXT_FRAME or _BINARY_FRAME */
    struct utf8_state utf8;
    struct obuf msg;
    uint8_t ctrl_len;
    uint8_t ctrl[DURO_WS_CONTROL_MAX_BYTES];

    struct obuf out;         /* framed bytes not yet written */
    struct obuf wb;          /* bytes of the write in flight */

    uint16_t code_sent;
    uint16_t code_recv;
    unsigned counted : 1;        /* counts as open for the seed */
    unsigned accepted : 1;       /* 101 sent, joined its object */
    unsigned reading : 1;
    unsigned writing : 1;
    unsigned close_sent : 1;
    unsigned close_received : 1;
    unsigned failed : 1;         /* protocol error: frames are no longer parsed */
    unsigned finishing : 1;      /* after the output drains: shutdown, linger, close */
    unsigned shut : 1;           /* uv_shutdown issued */
    unsigned closing : 1;        /* uv_close issued */
    unsigned notified : 1;       /* on_close or on_error has run */
};

/* Takes over the connection of a MSG_HANDOFF being delivered on `ch`: accepts the descriptor,
 * lets the object's class accept or refuse, writes the 101 (or the refusal), and processes the
 * early bytes. Errors are answered to the client and logged here. */
void session_start(struct worker *w, struct chan *ch, const struct msg_handoff *h);

/* Starts the close handshake with 1001 Going Away and `reason` on every open session. */
void session_close_all(struct worker *w, const char *reason);

/* Creates the worker's shared sending frame context. Returns 0 or a wslay error. */
int session_tx_init(struct worker *w);

#endif

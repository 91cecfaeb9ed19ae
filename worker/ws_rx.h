/* worker/ws_rx.h: the WebSocket frame decoder of one client connection (RFC 6455, server side).
 *
 * A pure decoder: bytes in, events out, no I/O and no callbacks into the session. The session
 * lends each read's bytes with ws_rx_input() and takes events with ws_rx_next() until it says
 * WS_RX_NEED_MORE. It enforces what a server must check on what clients send: masking, RSV bits,
 * opcodes, control frames (<= 125 bytes, never fragmented: wslay checks both), continuation
 * rules, UTF-8 of text messages (failing on the first invalid byte, across fragments and reads;
 * after inflation for a compressed message), permessage-deflate's RSV1 (on the first frame of a
 * data message only, and only when negotiated),
 * close codes and close reasons, and the message size limit. Frames whose header already breaks
 * a rule are refused before their payload arrives.
 *
 * No allocation per message: an unfragmented message that arrives in one read is returned in
 * place, pointing into the lent bytes; only a message split over frames or reads is assembled in
 * the decoder's buffer. After an ERROR or a CLOSE event the decoder returns nothing more. */
#ifndef DURO_WS_RX_H
#define DURO_WS_RX_H

#include <stddef.h>
#include <stdint.h>
#include <wslay/wslay.h>

#include "common/duro_limits.h"
#include "common/utf8.h"
#include "worker/pmd.h"
#include "worker/worker.h"

enum ws_rx_kind {
    WS_RX_NEED_MORE = 0, /* the lent bytes are used up (or the decoder has stopped) */
    WS_RX_TEXT,          /* a whole text message, valid UTF-8 */
    WS_RX_BINARY,        /* a whole binary message */
    WS_RX_PING,          /* payload to echo in a pong */
    WS_RX_PONG,
    WS_RX_CLOSE,         /* the client's close frame: code (1005 if none) and reason */
    WS_RX_ERROR,         /* a protocol violation: fail the connection with `code` */
};

/* `data`/`len` hold the message, the ping or pong payload, or the close reason (valid UTF-8,
 * not NUL-terminated); they are valid until the next ws_rx_next() or ws_rx_input(). */
struct ws_rx_event {
    enum ws_rx_kind kind;
    const uint8_t *data;
    size_t len;
    uint16_t code;   /* CLOSE: the client's code; ERROR: the close code to fail with */
    const char *why; /* ERROR: a static description for the log */
    uint8_t compressed; /* TEXT/BINARY: it arrived compressed (permessage-deflate) */
};

struct ws_rx {
    wslay_frame_context_ptr ctx;
    size_t message_max_bytes;    /* set by the owner; may change between calls (a reload) */
    struct budget *budget;       /* the worker's buffer budget, set by the owner (NULL: none) */
    uint8_t budget_refused;      /* the ERROR was a large message the budget could not hold */
    const uint8_t *in;           /* lent bytes not yet given to wslay */
    size_t in_len;
    uint64_t fed;                /* bytes handed to wslay ... */
    uint64_t framed;             /* ... and bytes of the frames it has returned whole */
    uint8_t tail[14];            /* the last bytes handed to wslay: a pending frame header */
    uint64_t frame_left;         /* payload bytes of the current frame still to come */
    uint8_t frame_opcode;
    uint8_t frame_fin;
    uint8_t in_frame;
    uint8_t msg_opcode;          /* data message in progress: WSLAY_TEXT_FRAME/_BINARY_FRAME */
    uint8_t stopped;             /* after ERROR or CLOSE */
    uint8_t release_msg;         /* the assembled message was returned: empty it next call */
    uint8_t msg_compressed;      /* the message in progress has RSV1 set (permessage-deflate) */
    /* permessage-deflate, set by the owner before lending input: the negotiated parameters
     * (all-zero: no extension, RSV1 is a protocol error) and the codec to inflate with. */
    struct pmd_params pmd;
    struct pmd_codec *codec;
    struct utf8_state utf8;
    struct obuf msg;             /* a message split over frames or reads */
    uint8_t ctrl_len;
    uint8_t ctrl[DURO_WS_CONTROL_MAX_BYTES];
};

/* Initialises a zeroed decoder. Returns 0 or -1 (no memory). */
int ws_rx_init(struct ws_rx *d, size_t message_max_bytes);

/* Frees what the decoder holds; it can be initialised again. */
void ws_rx_free(struct ws_rx *d);

/* Makes the decoder ready for another connection: cheap when it is idle (ws_rx_idle), else the
 * wslay context is recreated. Returns 0 or -1 (no memory; the decoder is then freed). */
int ws_rx_reset(struct ws_rx *d);

/* Lends `len` bytes; they must stay valid until ws_rx_next() returns WS_RX_NEED_MORE. */
void ws_rx_input(struct ws_rx *d, const uint8_t *p, size_t len);

/* Decodes the next event from the lent bytes into `ev` and returns its kind. */
enum ws_rx_kind ws_rx_next(struct ws_rx *d, struct ws_rx_event *ev);

/* Forgets the lent bytes not yet decoded (the session stops reading this connection). */
void ws_rx_drop_input(struct ws_rx *d);

/* True when nothing is half-received: no partial frame, message or buffered header bytes. */
int ws_rx_idle(const struct ws_rx *d);

/* Bytes held for a message being assembled (for the worker's buffer budget). */
size_t ws_rx_buffered(const struct ws_rx *d);

/* Frees an assembly buffer grown past `keep` bytes, when no message is in progress. */
void ws_rx_trim(struct ws_rx *d, size_t keep);

/* True for the close codes an endpoint may send (RFC 6455 7.4). */
int ws_close_code_valid(uint16_t code);

#endif

#include "worker/ws_rx.h"

#include <stdlib.h>
#include <string.h>

#include "duro/class.h"

#define MSG_BUF_KEEP_BYTES 16384u /* a larger assembly buffer is freed after its message */

static ssize_t rx_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    struct ws_rx *d = user;
    (void)flags;
    if (d->in_len == 0) {
        return -1; /* wslay: "no more for now" */
    }
    size_t n = d->in_len < len ? d->in_len : len;
    memcpy(buf, d->in, n);
    /* Keep the last bytes fed: when wslay waits for a payload, they hold the frame's header. */
    if (n >= sizeof d->tail) {
        memcpy(d->tail, d->in + n - sizeof d->tail, sizeof d->tail);
    } else {
        memmove(d->tail, d->tail + n, sizeof d->tail - n);
        memcpy(d->tail + sizeof d->tail - n, d->in, n);
    }
    d->in += n;
    d->in_len -= n;
    d->fed += n;
    return (ssize_t)n;
}

static ssize_t rx_send(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)data;
    (void)len;
    (void)flags;
    (void)user;
    return -1; /* receive contexts never send */
}

int ws_rx_init(struct ws_rx *d, size_t message_max_bytes)
{
    static const struct wslay_frame_callbacks cb = { rx_send, rx_recv, NULL };
    d->message_max_bytes = message_max_bytes;
    return wslay_frame_context_init(&d->ctx, &cb, d) == 0 ? 0 : -1;
}

void ws_rx_free(struct ws_rx *d)
{
    if (d->ctx != NULL) {
        wslay_frame_context_free(d->ctx);
    }
    free(d->msg.p);
    memset(d, 0, sizeof *d);
}

int ws_rx_reset(struct ws_rx *d)
{
    size_t max = d->message_max_bytes;
    if (!ws_rx_idle(d)) {
        wslay_frame_context_free(d->ctx);
        d->ctx = NULL;
        if (ws_rx_init(d, max) != 0) {
            ws_rx_free(d);
            return -1;
        }
    }
    d->in = NULL;
    d->in_len = 0;
    d->fed = d->framed = 0;
    d->in_frame = 0;
    d->msg_opcode = 0;
    d->stopped = 0;
    d->release_msg = 0;
    d->msg_compressed = 0;
    d->budget_refused = 0;
    memset(&d->pmd, 0, sizeof d->pmd);
    d->codec = NULL;
    d->msg.len = 0;
    return 0;
}

void ws_rx_input(struct ws_rx *d, const uint8_t *p, size_t len)
{
    d->in = p;
    d->in_len = len;
}

void ws_rx_drop_input(struct ws_rx *d)
{
    d->in = NULL;
    d->in_len = 0;
}

int ws_rx_idle(const struct ws_rx *d)
{
    return !d->in_frame && d->msg_opcode == 0 && d->fed == d->framed;
}

size_t ws_rx_buffered(const struct ws_rx *d)
{
    return d->msg.cap;
}

void ws_rx_trim(struct ws_rx *d, size_t keep)
{
    if (d->msg_opcode == 0 && d->msg.cap > keep) {
        free(d->msg.p);
        memset(&d->msg, 0, sizeof d->msg);
    }
}

int ws_close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* A frame's size on the wire: wslay refuses non-minimal length encodings, so the header size
 * follows from the payload length. Client frames are masked (4 bytes of key). */
static uint64_t wire_size(uint64_t payload)
{
    return 2u + 4u + (payload < 126u ? 0u : payload < 65536u ? 2u : 8u) + payload;
}

static enum ws_rx_kind fail(struct ws_rx *d, struct ws_rx_event *ev, uint16_t code,
                            const char *why)
{
    d->stopped = 1;
    d->in = NULL;
    d->in_len = 0;
    ev->kind = WS_RX_ERROR;
    ev->code = code;
    ev->why = why;
    return WS_RX_ERROR;
}

static enum ws_rx_kind emit(struct ws_rx_event *ev, enum ws_rx_kind kind, const uint8_t *data,
                            size_t len)
{
    ev->kind = kind;
    ev->data = data;
    ev->len = len;
    return kind;
}

static enum ws_rx_kind close_frame(struct ws_rx *d, struct ws_rx_event *ev)
{
    if (d->ctrl_len == 1) {
        return fail(d, ev, DURO_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
    }
    ev->code = DURO_CLOSE_NO_STATUS;
    const uint8_t *reason = d->ctrl;
    size_t rlen = 0;
    if (d->ctrl_len >= 2) {
        uint16_t code = (uint16_t)((d->ctrl[0] << 8) | d->ctrl[1]);
        if (!ws_close_code_valid(code)) {
            return fail(d, ev, DURO_CLOSE_PROTOCOL, "invalid close code");
        }
        reason = d->ctrl + 2;
        rlen = d->ctrl_len - 2u;
        if (!utf8_valid(reason, rlen)) {
            return fail(d, ev, DURO_CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
        }
        ev->code = code;
    }
    d->stopped = 1; /* nothing follows a close frame (RFC 6455 5.5.1) */
    d->in = NULL;
    d->in_len = 0;
    return emit(ev, WS_RX_CLOSE, reason, rlen);
}

/* The first piece of a new frame: check its header. Returns NEED_MORE (fine) or ERROR. */
static enum ws_rx_kind frame_start(struct ws_rx *d, const struct wslay_frame_iocb *f,
                                   struct ws_rx_event *ev)
{
    /* RSV1 means "compressed" on the first frame of a data message, when permessage-deflate
     * was negotiated (RFC 7692 6); anywhere else, and RSV2/RSV3 always, it is an error. */
    int rsv1_ok = d->pmd.on && f->rsv == WSLAY_RSV1_BIT &&
                  (f->opcode == WSLAY_TEXT_FRAME || f->opcode == WSLAY_BINARY_FRAME);
    if (f->rsv != 0 && !rsv1_ok) {
        return fail(d, ev, DURO_CLOSE_PROTOCOL,
                    d->pmd.on ? "reserved bits set on a frame that cannot be compressed"
                              : "reserved bits set without a negotiated extension");
    }
    if (!f->mask) {
        return fail(d, ev, DURO_CLOSE_PROTOCOL, "unmasked client frame");
    }
    switch (f->opcode) {
    case WSLAY_CONTINUATION_FRAME:
        if (d->msg_opcode == 0) {
            return fail(d, ev, DURO_CLOSE_PROTOCOL, "continuation frame without a message");
        }
        break;
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (d->msg_opcode != 0) {
            return fail(d, ev, DURO_CLOSE_PROTOCOL, "new message before the previous one ended");
        }
        d->msg.len = 0;
        memset(&d->utf8, 0, sizeof d->utf8);
        d->msg_compressed = f->rsv != 0;
        break;
    case WSLAY_CONNECTION_CLOSE:
    case WSLAY_PING:
    case WSLAY_PONG:
        d->ctrl_len = 0;
        break;
    default:
        return fail(d, ev, DURO_CLOSE_PROTOCOL, "unknown opcode");
    }
    if (f->opcode < WSLAY_CONNECTION_CLOSE &&
        d->msg.len + f->payload_length > d->message_max_bytes) {
        return fail(d, ev, DURO_CLOSE_TOO_BIG, "message too big");
    }
    /* A large message is assembled only while the worker's budget can hold it. */
    if (f->opcode < WSLAY_CONNECTION_CLOSE && d->budget != NULL &&
        budget_refuses_message(d->budget, d->msg.len + f->payload_length, f->payload_length)) {
        d->budget_refused = 1;
        return fail(d, ev, DURO_CLOSE_TOO_BIG, "message too big for the worker buffer budget");
    }
    d->in_frame = 1;
    d->frame_opcode = (uint8_t)f->opcode;
    d->frame_fin = (uint8_t)f->fin;
    d->frame_left = f->payload_length;
    if (f->opcode == WSLAY_TEXT_FRAME || f->opcode == WSLAY_BINARY_FRAME) {
        d->msg_opcode = (uint8_t)f->opcode;
    }
    return WS_RX_NEED_MORE;
}

static int msg_append(struct ws_rx *d, const uint8_t *data, size_t len)
{
    struct obuf *b = &d->msg;
    size_t max = d->message_max_bytes;
    if (b->len + len > max) {
        return -1; /* the limit was lowered by a reload while the message arrived */
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len) {
            cap *= 2;
        }
        if (cap > max) {
            cap = max; /* still >= b->len + len, checked above */
        }
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

/* A compressed message is whole: inflate it, bounded by the message limit, then check its text. */
static enum ws_rx_kind inflate_message(struct ws_rx *d, struct ws_rx_event *ev,
                                       const uint8_t *data, size_t len)
{
    struct pmd_codec *c = d->codec;
    /* The codec may be the worker's shared one, last used by another socket: forget its
     * output, and its window unless this socket's client keeps context across messages. */
    pmd_inflate_done(c, d->pmd.client_no_takeover);
    int rc = pmd_inflate_feed(c, &d->pmd, data, len, 1, d->message_max_bytes);
    if (rc == PMD_TOO_BIG) {
        return fail(d, ev, DURO_CLOSE_TOO_BIG, "message too big once inflated");
    }
    if (rc == PMD_CORRUPT) {
        return fail(d, ev, DURO_CLOSE_PROTOCOL, "invalid compressed data");
    }
    if (rc != PMD_OK) {
        return fail(d, ev, DURO_CLOSE_INTERNAL, "no memory to inflate a message");
    }
    size_t n;
    const uint8_t *out = pmd_inflated(c, &n);
    if (d->msg_opcode == WSLAY_TEXT_FRAME && !utf8_valid(out, n)) {
        return fail(d, ev, DURO_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
    }
    enum ws_rx_kind k = d->msg_opcode == WSLAY_TEXT_FRAME ? WS_RX_TEXT : WS_RX_BINARY;
    d->msg_opcode = 0;
    d->msg_compressed = 0;
    ev->compressed = 1;
    return emit(ev, k, n > 0 ? out : (const uint8_t *)"", n);
}

static enum ws_rx_kind message_end(struct ws_rx *d, struct ws_rx_event *ev, const uint8_t *data,
                                   size_t len)
{
    if (d->msg_compressed) {
        return inflate_message(d, ev, data, len);
    }
    if (d->msg_opcode == WSLAY_TEXT_FRAME && !utf8_complete(&d->utf8)) {
        return fail(d, ev, DURO_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
    }
    enum ws_rx_kind k = d->msg_opcode == WSLAY_TEXT_FRAME ? WS_RX_TEXT : WS_RX_BINARY;
    d->msg_opcode = 0;
    return emit(ev, k, data, len);
}

/* One piece of a frame's payload (maybe all of it, maybe none). */
static enum ws_rx_kind frame_data(struct ws_rx *d, const struct wslay_frame_iocb *f,
                                  struct ws_rx_event *ev)
{
    const uint8_t *data = f->data;
    size_t len = f->data_length;
    d->frame_left -= len;
    int last = d->frame_left == 0;
    if (last) {
        d->framed += wire_size(f->payload_length);
        d->in_frame = 0;
    }

    if (d->frame_opcode >= WSLAY_CONNECTION_CLOSE) {
        memcpy(d->ctrl + d->ctrl_len, data, len); /* wslay bounds control payloads to 125 */
        d->ctrl_len = (uint8_t)(d->ctrl_len + len);
        if (!last) {
            return WS_RX_NEED_MORE;
        }
        if (d->frame_opcode == WSLAY_PING) {
            return emit(ev, WS_RX_PING, d->ctrl, d->ctrl_len);
        }
        if (d->frame_opcode == WSLAY_PONG) {
            return emit(ev, WS_RX_PONG, d->ctrl, d->ctrl_len);
        }
        return close_frame(d, ev);
    }
    if (d->msg_opcode == WSLAY_TEXT_FRAME && !d->msg_compressed &&
        utf8_feed(&d->utf8, data, len) != 0) {
        return fail(d, ev, DURO_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
    }
    if (last && d->frame_fin && d->msg.len == 0 && len == f->payload_length) {
        /* The common case: a whole unfragmented message in one piece, returned in place. */
        return message_end(d, ev, data, len);
    }
    if (len > 0 && msg_append(d, data, len) != 0) {
        return fail(d, ev, DURO_CLOSE_TOO_BIG, "message too big, or no memory for it");
    }
    if (!last || !d->frame_fin) {
        return WS_RX_NEED_MORE;
    }
    d->release_msg = 1;
    return message_end(d, ev, d->msg.p, d->msg.len);
}

/* wslay returns a frame only with its first payload byte. A header that says the frame is
 * refused (too big, unmasked, reserved bits...) must not wait for payload that may never come:
 * when wslay waits, the bytes it holds past the last whole frame are a header (a payload byte
 * would have been returned), and they are the last bytes fed. Parse them here. */
static enum ws_rx_kind early_header(struct ws_rx *d, struct ws_rx_event *ev)
{
    uint64_t held = d->fed - d->framed;
    if (d->in_frame || held < 2 || held > sizeof d->tail) {
        return WS_RX_NEED_MORE;
    }
    const uint8_t *h = d->tail + sizeof d->tail - held;
    uint64_t len = h[1] & 0x7fu;
    size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    size_t need = 2 + ext + ((h[1] & 0x80u) ? 4 : 0);
    if (held < need) {
        return WS_RX_NEED_MORE;
    }
    if (ext > 0) {
        len = 0;
        for (size_t i = 0; i < ext; i++) {
            len = (len << 8) | h[2 + i];
        }
    }
    struct wslay_frame_iocb f = {
        .fin = (uint8_t)(h[0] >> 7),
        .rsv = (uint8_t)((h[0] >> 4) & 7u),
        .opcode = (uint8_t)(h[0] & 0xfu),
        .mask = (uint8_t)(h[1] >> 7),
        .payload_length = len,
    };
    return frame_start(d, &f, ev);
}

enum ws_rx_kind ws_rx_next(struct ws_rx *d, struct ws_rx_event *ev)
{
    memset(ev, 0, sizeof *ev);
    if (d->release_msg) {
        d->release_msg = 0;
        d->msg.len = 0;
        ws_rx_trim(d, MSG_BUF_KEEP_BYTES);
    }
    while (!d->stopped) {
        struct wslay_frame_iocb f;
        memset(&f, 0, sizeof f);
        ssize_t r = wslay_frame_recv(d->ctx, &f);
        if (r == WSLAY_ERR_WANT_READ) {
            if (d->in_len == 0) {
                return early_header(d, ev);
            }
            continue;
        }
        if (r < 0) {
            return fail(d, ev, DURO_CLOSE_PROTOCOL, "malformed frame header");
        }
        if (!d->in_frame && frame_start(d, &f, ev) != WS_RX_NEED_MORE) {
            return WS_RX_ERROR;
        }
        enum ws_rx_kind k = frame_data(d, &f, ev);
        if (k != WS_RX_NEED_MORE) {
            return k;
        }
    }
    d->in = NULL;
    d->in_len = 0;
    return WS_RX_NEED_MORE;
}

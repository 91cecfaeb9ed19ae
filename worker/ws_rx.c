#include "worker/ws_rx.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/log.h"
#include "worker/object.h"

#define CLOSE_PROTOCOL_ERROR 1002u
#define CLOSE_NO_STATUS 1005u
#define CLOSE_INVALID_DATA 1007u
#define CLOSE_POLICY 1008u
#define CLOSE_TOO_BIG 1009u
#define MSG_BUF_KEEP_BYTES 16384u /* a larger assembly buffer is freed after its message */

static ssize_t rx_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    struct session_act *a = user;
    (void)flags;
    if (a->in_len == 0) {
        return -1; /* wslay: "no more for now" */
    }
    size_t n = a->in_len < len ? a->in_len : len;
    memcpy(buf, a->in, n);
    /* Keep the last bytes fed: when wslay waits for a payload, they hold the frame's header. */
    if (n >= sizeof a->tail) {
        memcpy(a->tail, a->in + n - sizeof a->tail, sizeof a->tail);
    } else {
        memmove(a->tail, a->tail + n, sizeof a->tail - n);
        memcpy(a->tail + sizeof a->tail - n, a->in, n);
    }
    a->in += n;
    a->in_len -= n;
    a->fed += n;
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

int ws_rx_init(struct session_act *a)
{
    static const struct wslay_frame_callbacks cb = { rx_send, rx_recv, NULL };
    return wslay_frame_context_init(&a->rx, &cb, a) == 0 ? 0 : -1;
}

int ws_rx_idle(const struct session_act *a)
{
    return !a->in_frame && a->msg_opcode == 0 && a->fed == a->framed;
}

/* A frame's size on the wire: wslay refuses non-minimal length encodings, so the header size
 * follows from the payload length. Client frames are masked (4 bytes of key). */
static uint64_t wire_size(uint64_t payload)
{
    return 2u + 4u + (payload < 126u ? 0u : payload < 65536u ? 2u : 8u) + payload;
}

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void deliver(struct session *s, uint8_t opcode, const uint8_t *data, size_t len)
{
    struct object *o = s->obj;
    s->msgs_in++;
    s->bytes_in += len;
    s->w->metrics.v[M_MSGS_IN]++;
    s->w->metrics.v[M_BYTES_IN] += len;
    if (s->close_sent) {
        return; /* closing: RFC 6455 lets us discard data frames */
    }
    const struct auto_rule *rule = o->nrules == 0 ? NULL
        : object_auto_response_find(o, opcode == WSLAY_BINARY_FRAME ? DURO_BINARY : DURO_TEXT,
                                    data, len);
    if (rule != NULL) {
        /* Answered by duro: the object is not woken and on_message is not called. */
        struct duro_iov iov = { rule->resp, rule->resp_len };
        uint8_t op = rule->resp_kind == DURO_BINARY ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
        if (session_frame(s, op, &iov, 1, 0) != 0) {
            session_fail(s, CLOSE_POLICY, "outbound buffer over limit");
            return;
        }
        s->msgs_out++;
        s->w->metrics.v[M_MSGS_OUT]++;
        s->last_auto_ms = wall_ms();
        return;
    }
    if (o->cls->on_message != NULL) {
        object_wake(o);
        o->cls->on_message((struct duro_object *)o, o->state, (struct duro_socket *)s,
                           opcode == WSLAY_BINARY_FRAME, data, len);
    }
}

static void on_close_frame(struct session *s)
{
    struct session_act *a = s->act;
    uint16_t code = CLOSE_NO_STATUS;
    const char *reason = "";
    size_t rlen = 0;

    if (a->ctrl_len == 1) {
        session_fail(s, CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
        return;
    }
    if (a->ctrl_len >= 2) {
        code = (uint16_t)((a->ctrl[0] << 8) | a->ctrl[1]);
        if (!session_close_code_valid(code)) {
            session_fail(s, CLOSE_PROTOCOL_ERROR, "invalid close code");
            return;
        }
        reason = (const char *)a->ctrl + 2;
        rlen = a->ctrl_len - 2u;
        if (!utf8_valid((const uint8_t *)reason, rlen)) {
            session_fail(s, CLOSE_INVALID_DATA, "close reason is not valid UTF-8");
            return;
        }
    }
    s->close_received = 1;
    s->code_recv = code;
    session_uncount(s);
    session_notify_close(s, code, reason, rlen, 1); /* also when duro closed first */
    if (!s->close_sent) {
        /* The class did not answer: echo the code (RFC 6455 5.5.1). */
        session_send_close(s, code, "", 0);
    }
    session_finish(s);
}

static void on_control(struct session *s)
{
    struct session_act *a = s->act;
    if (a->frame_opcode == WSLAY_PING) {
        /* Answered here, without waking the object. */
        if (!s->close_sent) {
            struct duro_iov iov = { a->ctrl, a->ctrl_len };
            if (session_frame(s, WSLAY_PONG, &iov, 1, 0) != 0) {
                session_fail(s, CLOSE_POLICY, "outbound buffer over limit");
            }
        }
    } else if (a->frame_opcode == WSLAY_CONNECTION_CLOSE) {
        on_close_frame(s);
    }
    /* a pong needs nothing */
}

/* The first piece of a new frame: check its header. Returns 0 or -1 (the session failed). */
static int frame_start(struct session *s, const struct wslay_frame_iocb *f)
{
    struct session_act *a = s->act;
    if (f->rsv != 0) {
        session_fail(s, CLOSE_PROTOCOL_ERROR, "reserved bits set without a negotiated extension");
        return -1;
    }
    if (!f->mask) {
        session_fail(s, CLOSE_PROTOCOL_ERROR, "unmasked client frame");
        return -1;
    }
    switch (f->opcode) {
    case WSLAY_CONTINUATION_FRAME:
        if (a->msg_opcode == 0) {
            session_fail(s, CLOSE_PROTOCOL_ERROR, "continuation frame without a message");
            return -1;
        }
        break;
    case WSLAY_TEXT_FRAME:
    case WSLAY_BINARY_FRAME:
        if (a->msg_opcode != 0) {
            session_fail(s, CLOSE_PROTOCOL_ERROR, "new message before the previous one ended");
            return -1;
        }
        a->msg.len = 0;
        memset(&a->utf8, 0, sizeof a->utf8);
        break;
    case WSLAY_CONNECTION_CLOSE:
    case WSLAY_PING:
    case WSLAY_PONG:
        a->ctrl_len = 0;
        break;
    default:
        session_fail(s, CLOSE_PROTOCOL_ERROR, "unknown opcode");
        return -1;
    }
    if (f->opcode < WSLAY_CONNECTION_CLOSE &&
        a->msg.len + f->payload_length > s->w->conf.message_max_bytes) {
        session_fail(s, CLOSE_TOO_BIG, "message too big");
        return -1;
    }
    a->in_frame = 1;
    a->frame_opcode = (uint8_t)f->opcode;
    a->frame_fin = (uint8_t)f->fin;
    a->frame_left = f->payload_length;
    if (f->opcode == WSLAY_TEXT_FRAME || f->opcode == WSLAY_BINARY_FRAME) {
        a->msg_opcode = (uint8_t)f->opcode;
    }
    return 0;
}

static void message_done(struct session_act *a)
{
    a->msg_opcode = 0;
    a->msg.len = 0;
    if (a->msg.cap > MSG_BUF_KEEP_BYTES) {
        free(a->msg.p);
        memset(&a->msg, 0, sizeof a->msg);
    }
}

static int msg_append(struct session *s, const uint8_t *data, size_t len)
{
    struct obuf *b = &s->act->msg;
    size_t max = s->w->conf.message_max_bytes;
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

/* One piece of a frame's payload (maybe all of it, maybe none). */
static void frame_data(struct session *s, const struct wslay_frame_iocb *f)
{
    struct session_act *a = s->act;
    const uint8_t *data = f->data;
    size_t len = f->data_length;
    a->frame_left -= len;
    int last = a->frame_left == 0;
    if (last) {
        a->framed += wire_size(f->payload_length);
        a->in_frame = 0;
    }

    if (a->frame_opcode >= WSLAY_CONNECTION_CLOSE) {
        memcpy(a->ctrl + a->ctrl_len, data, len); /* wslay bounds control payloads to 125 */
        a->ctrl_len = (uint8_t)(a->ctrl_len + len);
        if (last) {
            on_control(s);
        }
        return;
    }
    if (a->msg_opcode == WSLAY_TEXT_FRAME && utf8_feed(&a->utf8, data, len) != 0) {
        session_fail(s, CLOSE_INVALID_DATA, "text message is not valid UTF-8");
        return;
    }
    if (last && a->frame_fin && a->msg.len == 0 && len == f->payload_length) {
        /* The common case: a whole unfragmented message in one piece, delivered in place. */
        if (a->msg_opcode == WSLAY_TEXT_FRAME && !utf8_complete(&a->utf8)) {
            session_fail(s, CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
            return;
        }
        uint8_t op = a->msg_opcode;
        a->msg_opcode = 0;
        deliver(s, op, data, len);
        return;
    }
    if (len > 0 && msg_append(s, data, len) != 0) {
        session_fail(s, CLOSE_TOO_BIG, "message too big, or no memory for it");
        return;
    }
    if (!last || !a->frame_fin) {
        return;
    }
    if (a->msg_opcode == WSLAY_TEXT_FRAME && !utf8_complete(&a->utf8)) {
        session_fail(s, CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
        return;
    }
    uint8_t op = a->msg_opcode;
    a->msg_opcode = 0;
    deliver(s, op, a->msg.p, a->msg.len);
    if (s->act != NULL) {
        message_done(s->act);
    }
}

/* wslay returns a frame only with its first payload byte. A header that says the frame is
 * refused (too big, unmasked, reserved bits...) must not wait for payload that may never come:
 * when wslay waits, the bytes it holds past the last whole frame are a header (a payload byte
 * would have been returned), and they are the last bytes fed. Parse them here. Returns 0, or
 * -1 when the session failed. */
static int early_header(struct session *s)
{
    struct session_act *a = s->act;
    uint64_t held = a->fed - a->framed;
    if (a->in_frame || held < 2 || held > sizeof a->tail) {
        return 0;
    }
    const uint8_t *h = a->tail + sizeof a->tail - held;
    uint64_t len = h[1] & 0x7fu;
    size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    size_t need = 2 + ext + ((h[1] & 0x80u) ? 4 : 0);
    if (held < need) {
        return 0;
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
    return frame_start(s, &f);
}

void ws_rx_feed(struct session *s)
{
    while (!s->failed && !s->close_received && !s->closing && s->act != NULL) {
        struct session_act *a = s->act;
        struct wslay_frame_iocb f;
        memset(&f, 0, sizeof f);
        ssize_t r = wslay_frame_recv(a->rx, &f);
        if (r == WSLAY_ERR_WANT_READ) {
            if (a->in_len == 0) {
                (void)early_header(s);
                break;
            }
            continue;
        }
        if (r < 0) {
            session_fail(s, CLOSE_PROTOCOL_ERROR, "malformed frame header");
            break;
        }
        if (!a->in_frame && frame_start(s, &f) != 0) {
            break;
        }
        frame_data(s, &f);
    }
    if (s->act != NULL) {
        s->act->in = NULL;
        s->act->in_len = 0;
    }
}

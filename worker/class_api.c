/* worker/class_api.c: the calls a class makes (include/duro/class.h), on top of session and object. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utf8.h"
#include "duro/class.h"
#include "worker/object.h"
#include "worker/session.h"
#include "worker/tx.h"


static struct session *sess(struct duro_socket *ws)
{
    return (struct session *)ws;
}

static const struct session *csess(const struct duro_socket *ws)
{
    return (const struct session *)ws;
}

static struct object *obj(struct duro_object *o)
{
    return (struct object *)o;
}

static const struct object *cobj(const struct duro_object *o)
{
    return (const struct object *)o;
}

int duro_sendv(struct duro_socket *ws, int binary, const struct duro_iov *iov, size_t n)
{
    struct session *s = sess(ws);
    if (!session_can_send(s)) {
        return DURO_ESTATE;
    }
    uint8_t opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
    if (tx_frame(s, opcode, iov, n, 0) != 0) {
        session_overloaded(s, "send");
        return DURO_ESLOW;
    }
    s->msgs_out++;
    s->w->metrics.v[M_MSGS_OUT]++;
    tx_flush_soon(s);
    return 0;
}

int class_api_sendv_quiet(struct duro_socket *ws, int binary, const struct duro_iov *iov,
                          size_t n)
{
    struct session *s = sess(ws);
    if (!session_can_send(s)) {
        return DURO_ESTATE;
    }
    if (!tx_flush_defers(s) ||
        tx_frame(s, binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, iov, n, 0) != 0) {
        return 1; /* nothing done: duro_sendv, from where a callback may run, fails the socket */
    }
    s->msgs_out++;
    s->w->metrics.v[M_MSGS_OUT]++;
    tx_flush_soon(s);
    return 0;
}

int duro_send(struct duro_socket *ws, int binary, const void *data, size_t len)
{
    struct duro_iov iov = { data, len };
    return duro_sendv(ws, binary, &iov, 1);
}

int duro_close(struct duro_socket *ws, uint16_t code, const char *reason, size_t reason_len)
{
    struct session *s = sess(ws);
    if (!s->accepted) {
        return DURO_ESTATE; /* during on_connect: refuse by returning an HTTP status instead */
    }
    if (session_closing(s)) {
        return DURO_ESTATE;
    }
    if (!session_close_code_valid(code) || reason_len > DURO_WS_CLOSE_REASON_MAX_BYTES ||
        !utf8_valid((const uint8_t *)reason, reason_len)) {
        return DURO_EINVAL;
    }
    session_send_close(s, code, reason, reason_len);
    session_finish(s);
    return 0;
}

int duro_socket_add_tag(struct duro_socket *ws, const char *tag, size_t len)
{
    struct session *s = sess(ws);
    if (s->obj == NULL || s->state == SESSION_DESTROYED ||
        (s->state != SESSION_HANDSHAKE && !s->accepted)) {
        return DURO_ESTATE;
    }
    return object_tag_socket(s->obj, s, tag, len);
}

int duro_socket_remove_tag(struct duro_socket *ws, const char *tag, size_t len)
{
    struct session *s = sess(ws);
    if (s->obj == NULL) {
        return DURO_ESTATE;
    }
    return object_untag_socket(s->obj, s, tag, len);
}

/* True when `proto` is one of the comma-separated tokens of the offered header value. */
static int offered(const struct msg_span *list, const char *proto, size_t len)
{
    const char *p = list->ptr;
    const char *end = list->ptr + list->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }
        const char *tok = p;
        while (p < end && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }
        if ((size_t)(p - tok) == len && len > 0 && memcmp(tok, proto, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int duro_socket_set_protocol(struct duro_socket *ws, const char *proto, size_t len)
{
    struct session *s = sess(ws);
    if (s->state != SESSION_HANDSHAKE || s->w->offered == NULL || len > DURO_WS_PROTOCOL_MAX_BYTES ||
        !offered(s->w->offered, proto, len)) {
        return DURO_EINVAL;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        return DURO_ENOMEM;
    }
    memcpy(copy, proto, len);
    copy[len] = '\0';
    free(s->protocol);
    s->protocol = copy;
    return 0;
}

size_t duro_socket_tags(const struct duro_socket *ws, struct duro_iov *out, size_t cap)
{
    const struct session *s = csess(ws);
    for (size_t i = 0; i < s->ntags && i < cap; i++) {
        out[i].base = s->tags[i].entry->tag;
        out[i].len = s->tags[i].entry->len;
    }
    return s->ntags;
}

int duro_socket_set_attachment(struct duro_socket *ws, const void *data, size_t len)
{
    struct session *s = sess(ws);
    if (len > DURO_ATTACHMENT_MAX_BYTES) {
        return DURO_ELIMIT;
    }
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            return DURO_ENOMEM;
        }
        memcpy(copy, data, len);
    }
    free(s->attachment);
    s->attachment = copy;
    s->attachment_len = (uint32_t)len;
    return 0;
}

const void *duro_socket_attachment(const struct duro_socket *ws, size_t *len)
{
    const struct session *s = csess(ws);
    if (len != NULL) {
        *len = s->attachment_len;
    }
    return s->attachment;
}

size_t duro_socket_buffered(const struct duro_socket *ws)
{
    return tx_buffered(csess(ws));
}

uint64_t duro_socket_auto_response_time(const struct duro_socket *ws)
{
    return csess(ws)->last_auto_ms;
}

size_t duro_object_sockets(const struct duro_object *o, const char *tag, size_t tag_len,
                           struct duro_socket **out, size_t cap)
{
    const struct object *ob = cobj(o);
    if (tag != NULL) {
        return object_sockets_with_tag(ob, tag, tag_len, out, cap);
    }
    size_t n = 0;
    for (const struct session *s = ob->sockets; s != NULL; s = s->onext) {
        if (s->counted && s->accepted) {
            if (n < cap) {
                out[n] = (struct duro_socket *)s;
            }
            n++;
        }
    }
    return n;
}

/* One broadcast's frames, each built on the first recipient that needs it and shared by
 * reference (DURO_TX_SHARE_MIN_BYTES and longer: one copy however many recipients) or copied
 * into each queue (shorter): the plain frame, and one compressed frame per window size for the
 * recipients that compress each message alone (server_no_context_takeover), since those
 * produce the same bytes for the same message. A recipient that keeps its compression context
 * gets a frame compressed for it alone. */
struct bcast {
    struct worker *w;
    struct session *sender; /* the socket being read, if any: never shed for the frames */
    uint8_t opcode;
    const void *data;
    size_t len;
    int refused;            /* a frame did not fit the worker's budget: nobody gets it */
    struct tx_shared *plain;
    struct tx_shared *z[PMD_WINDOW_BITS_COUNT];
};

static struct tx_shared *build(struct bcast *b, const struct pmd_params *p)
{
    if (b->refused ||
        tx_budget_admit(b->w, b->len + TX_FRAME_HEADER_MAX_BYTES, b->sender) != 0) {
        if (!b->refused) {
            b->w->metrics.v[M_BUDGET_REFUSED]++;
            log_warn("object", "event=buffer_budget_refused path=broadcast bytes=%zu "
                     "worker_buffered=%zu limit=%zu", b->len, b->w->budget.used_bytes,
                     b->w->budget.max_bytes);
        }
        b->refused = 1;
        return NULL;
    }
    return tx_share(b->w, b->opcode, b->data, b->len, p);
}

/* The shared frame for `s`, or NULL when it gets one of its own (or none: b->refused). */
static struct tx_shared *bcast_frame(struct bcast *b, struct session *s)
{
    if (tx_should_deflate(s, b->opcode, b->len) && s->pmd_snt) {
        struct tx_shared **z = &b->z[s->pmd_sbits - PMD_WINDOW_BITS_MIN];
        if (*z == NULL) {
            struct pmd_params p = session_pmd(s);
            *z = build(b, &p);
        }
        if (*z != NULL || b->refused) {
            return *z;
        }
        /* No memory to compress: an uncompressed message (RSV1 clear) is always allowed. */
    }
    if (b->plain == NULL) {
        b->plain = build(b, NULL);
    }
    return b->plain;
}

static int send_frame(struct session *s, struct bcast *b)
{
    if (!s->counted || !session_can_send(s) || b->refused) {
        return 0;
    }
    int rc;
    if (tx_should_deflate(s, b->opcode, b->len) && !s->pmd_snt) {
        struct duro_iov iov = { b->data, b->len };
        rc = tx_frame(s, b->opcode, &iov, 1, 0);
        s->bytes_out -= b->len; /* counted below, as for a shared frame */
        s->w->metrics.v[M_BYTES_OUT] -= b->len;
    } else {
        struct tx_shared *f = bcast_frame(b, s);
        if (f == NULL) {
            return 0;
        }
        rc = f->len >= DURO_TX_SHARE_MIN_BYTES ? tx_queue_shared(s, f)
                                                : tx_queue(s, f->p, f->len, 0);
    }
    if (rc != 0) {
        session_overloaded(s, "broadcast");
        return 0;
    }
    s->msgs_out++;
    s->bytes_out += b->len;
    s->w->metrics.v[M_MSGS_OUT]++;
    s->w->metrics.v[M_BYTES_OUT] += b->len;
    tx_flush_soon(s);
    return 1;
}

size_t duro_object_broadcast(struct duro_object *o, const char *tag, size_t tag_len, int binary,
                             const void *data, size_t len)
{
    struct object *ob = obj(o);
    struct worker *w = ob->sockets != NULL ? ob->sockets->w : NULL;
    if (w == NULL) {
        return 0;
    }
    /* A recipient that fails runs its class's on_error, which may broadcast in turn: each
     * broadcast holds its own frames. */
    struct bcast b = {
        .w = w,
        .sender = w->current,
        .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .data = data,
        .len = len,
    };
    size_t sent = 0;
    if (tag == NULL) {
        struct session *s = ob->sockets;
        while (s != NULL) {
            struct session *next = s->onext; /* a failing socket stays listed until closed */
            sent += (size_t)send_frame(s, &b);
            s = next;
        }
    } else {
        size_t n = object_sockets_with_tag(ob, tag, tag_len, NULL, 0);
        struct duro_socket **list = n > 0 ? malloc(n * sizeof *list) : NULL;
        if (list != NULL) {
            n = object_sockets_with_tag(ob, tag, tag_len, list, n);
            for (size_t i = 0; i < n; i++) {
                sent += (size_t)send_frame(sess(list[i]), &b);
            }
        }
        free(list);
    }
    tx_unshare(w, b.plain);
    for (size_t i = 0; i < PMD_WINDOW_BITS_COUNT; i++) {
        tx_unshare(w, b.z[i]);
    }
    return sent;
}

static int rule_args_ok(int req_kind, const void *req, size_t req_len, int resp_kind,
                        const void *resp, size_t resp_len)
{
    if ((req_kind != DURO_TEXT && req_kind != DURO_BINARY) ||
        (resp_kind != DURO_TEXT && resp_kind != DURO_BINARY) ||
        (req == NULL && req_len > 0) || (resp == NULL && resp_len > 0)) {
        return DURO_EINVAL;
    }
    if (req_len > DURO_AUTO_RESPONSE_MAX_BYTES || resp_len > DURO_AUTO_RESPONSE_MAX_BYTES) {
        return DURO_ELIMIT;
    }
    if ((req_kind == DURO_TEXT && !utf8_valid(req, req_len)) ||
        (resp_kind == DURO_TEXT && !utf8_valid(resp, resp_len))) {
        return DURO_EINVAL;
    }
    return 0;
}

int duro_object_set_auto_response(struct duro_object *o, const char *request, size_t req_len,
                                  const char *response, size_t resp_len)
{
    struct object *ob = obj(o);
    if (request == NULL) {
        object_auto_response_clear(ob);
        return 0;
    }
    int rc = rule_args_ok(DURO_TEXT, request, req_len, DURO_TEXT, response, resp_len);
    if (rc != 0) {
        return rc;
    }
    /* Version 1's one pair: it replaces every rule. */
    object_auto_response_clear(ob);
    return object_auto_response_add(ob, DURO_TEXT, request, req_len, DURO_TEXT, response,
                                    resp_len);
}

int duro_object_add_auto_response(struct duro_object *o, int req_kind, const void *request,
                                  size_t req_len, int resp_kind, const void *response,
                                  size_t resp_len)
{
    int rc = rule_args_ok(req_kind, request, req_len, resp_kind, response, resp_len);
    if (rc != 0) {
        return rc;
    }
    return object_auto_response_add(obj(o), req_kind, request, req_len, resp_kind, response,
                                    resp_len);
}

int duro_object_remove_auto_response(struct duro_object *o, int req_kind, const void *request,
                                     size_t req_len)
{
    return object_auto_response_remove(obj(o), req_kind, request, req_len);
}

size_t duro_object_open_count(const struct duro_object *o)
{
    return cobj(o)->open_count;
}

const uint32_t *class_api_open_count_at(const struct duro_object *o)
{
    return &cobj(o)->open_count;
}

const char *duro_object_name(const struct duro_object *o, size_t *len)
{
    if (len != NULL) {
        *len = cobj(o)->name_len;
    }
    return cobj(o)->name;
}

const char *duro_object_id(const struct duro_object *o)
{
    return cobj(o)->id;
}

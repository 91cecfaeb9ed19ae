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
        log_warn("session", "conn=%llu obj=%s/%s event=slow_consumer buffered=%zu limit=%u",
                 (unsigned long long)s->conn_id, s->obj->cls->name, s->obj->name,
                 tx_buffered(s), s->w->conf.outbound_max_bytes);
        session_fail(s, DURO_CLOSE_POLICY, "outbound buffer over limit");
        return DURO_ESLOW;
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

/* One broadcast's frames: the plain one, built first, and the compressed ones, built on the
 * first recipient that needs each (stateless recipients of one window size share a frame:
 * compressed once, however many they are). */
struct bcast {
    struct worker *w;
    uint8_t opcode;
    const void *data;
    size_t len;
    struct obuf *plain;
    struct obuf z[PMD_WINDOW_BITS_COUNT];
};

static const struct obuf *bcast_frame(struct bcast *b, struct session *s)
{
    if (!tx_should_deflate(s, b->opcode, b->len)) {
        return b->plain;
    }
    if (!s->pmd_snt) {
        return NULL; /* the socket keeps its own window: compressed for it alone */
    }
    struct obuf *z = &b->z[s->pmd_sbits - PMD_WINDOW_BITS_MIN];
    if (z->len == 0) {
        struct pmd_params p = session_pmd(s);
        struct duro_iov iov = { b->data, b->len };
        if (tx_frame_deflated(b->w, z, b->opcode, &p, &b->w->pmd, &iov, 1) != 0) {
            z->len = 0;
            return b->plain;
        }
    }
    return z;
}

static int send_frame(struct session *s, struct bcast *b)
{
    if (!s->counted || !session_can_send(s)) {
        return 0;
    }
    const struct obuf *f = bcast_frame(b, s);
    int rc;
    if (f == NULL) {
        struct duro_iov iov = { b->data, b->len };
        rc = tx_frame(s, b->opcode, &iov, 1, 0);
        s->bytes_out -= b->len; /* counted below, as for a shared frame */
        s->w->metrics.v[M_BYTES_OUT] -= b->len;
    } else {
        rc = tx_queue(s, f->p, f->len, 0);
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
    /* A recipient that fails runs its class's on_error, which may broadcast in turn: only the
     * outermost broadcast uses the worker's buffer, nested ones build their own frame. */
    struct obuf nested = { 0 };
    struct bcast b = {
        .w = w,
        .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .data = data,
        .len = len,
        .plain = w->bcast_depth == 0 ? &w->bcast : &nested,
    };
    struct duro_iov iov = { data, len };
    b.plain->len = 0;
    if (tx_frame_into(w, b.plain, b.opcode, &iov, 1) != 0) {
        free(nested.p);
        return 0;
    }
    w->bcast_depth++;
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
    w->bcast_depth--;
    free(nested.p);
    for (size_t i = 0; i < PMD_WINDOW_BITS_COUNT; i++) {
        free(b.z[i].p);
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

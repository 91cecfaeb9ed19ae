#include "gateway/forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/respond.h"
#include "gateway/conn.h"
#include "gateway/supervisor.h"

int forward_class_may_answer(const char *cls)
{
    return strcmp(cls, "seed") != 0 && strcmp(cls, "echo") != 0;
}

uint32_t forward_headers(const struct gw_conn *c, struct msg_header *out)
{
    const struct http_req *r = &c->req;
    for (uint32_t i = 0; i < r->nfields; i++) {
        out[i].name = (struct msg_span){ http_req_str(r, r->fields[i].name), r->fields[i].name.len };
        out[i].value =
            (struct msg_span){ http_req_str(r, r->fields[i].value), r->fields[i].value.len };
    }
    return r->nfields;
}

static int on_body(struct http_req *r, const char *at, size_t len, void *arg)
{
    struct gw_conn *c = arg;
    (void)r;
    uint64_t max = c->gw->conf.body_max_bytes; /* may have been lowered by a reload */
    if ((uint64_t)c->body_len + len > max) {
        return 413;
    }
    if (c->body_len + len > c->body_cap) {
        /* Grows by doubling, bounded by body_max_bytes. */
        size_t cap = c->body_cap ? (size_t)c->body_cap * 2 : 4096;
        while (cap < c->body_len + len) {
            cap *= 2;
        }
        if (cap > max) {
            cap = (size_t)max;
        }
        char *b = realloc(c->body, cap);
        if (b == NULL) {
            return 503;
        }
        c->body = b;
        c->body_cap = (uint32_t)cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += (uint32_t)len;
    return 0;
}

void forward_prepare(struct gw_conn *c)
{
    struct gateway *gw = c->gw;
    llhttp_t *p = &c->req.parser;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > gw->conf.body_max_bytes) {
        c->verdict = VERDICT_ERROR;
        c->status = 413;
        c->reason = "request body too large";
        return;
    }
    const struct conf_route *rt = c->route.route;
    uint64_t key = hash_object_key(rt->cls, strlen(rt->cls), c->route.name, c->route.name_len);
    c->worker = hash_pick_slot(key, gw->nworkers);
    c->verdict = VERDICT_REQUEST;
    c->body_len = 0;
    c->req.on_body = on_body;
}

static unsigned bucket(uint64_t id)
{
    return (unsigned)(id % DURO_HTTP_REQUESTS_MAP_BUCKETS);
}

int forward_request(struct gw_conn *c)
{
    struct gateway *gw = c->gw;
    struct chan *ch = supervisor_chan(gw->sup, c->worker);
    const struct conf_route *rt = c->route.route;
    if (ch == NULL || gw->stopping) {
        return UV_EAGAIN;
    }
    if (c->peer[0] == '\0') {
        netaddr_peer(&c->tcp, c->peer, sizeof c->peer);
    }
    const char *method = llhttp_method_name((llhttp_method_t)http_req_method(&c->req));
    uint64_t id = ++gw->next_req_id;
    struct msg_request q = {
        .req_id = id,
        .conn_id = c->id,
        .cls = { rt->cls, strlen(rt->cls) },
        .name = { c->route.name, c->route.name_len },
        .method = { method, strlen(method) },
        .target = { http_req_str(&c->req, c->req.target), c->req.target.len },
        .client = { c->peer, strlen(c->peer) },
        .headers = { gw->hdr_scratch, forward_headers(c, gw->hdr_scratch), NULL, 0 },
        .body = { c->body != NULL ? c->body : "", c->body_len },
    };
    /* Sized to this request and freed once chan_send has its copy: a gateway-wide buffer for
     * the largest message would keep every page a large body once touched. */
    size_t cap = msg_request_size(&q);
    if (cap == 0) {
        log_error("forward", "conn=%llu event=request_unencodable", (unsigned long long)c->id);
        return UV_EINVAL;
    }
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return UV_ENOMEM;
    }
    size_t n = msg_encode_request(buf, cap, &q);
    int rc = n == cap ? chan_send(ch, buf, n, NULL, NULL, NULL) : UV_EINVAL;
    free(buf);
    if (rc < 0) {
        return rc;
    }
    c->req_id = id;
    unsigned b = bucket(id);
    c->req_next = gw->requests[b];
    gw->requests[b] = c;
    gw->metrics.v[M_HTTP_FORWARDED]++;
    return 0;
}

struct gw_conn *forward_take(struct gateway *gw, uint64_t req_id)
{
    struct gw_conn **pp = &gw->requests[bucket(req_id)];
    while (*pp != NULL) {
        struct gw_conn *c = *pp;
        if (c->req_id == req_id) {
            *pp = c->req_next;
            c->req_next = NULL;
            c->req_id = 0;
            return c;
        }
        pp = &c->req_next;
    }
    return NULL;
}

void forward_forget(struct gw_conn *c)
{
    if (c->req_id != 0) {
        (void)forward_take(c->gw, c->req_id);
    }
}

char *forward_render(const struct msg_response *r, int flags, size_t *len)
{
    size_t hbytes = 0;
    size_t pos = 0;
    struct msg_header h;
    while (msg_headers_next(&r->headers, &pos, &h)) {
        hbytes += h.name.len + h.value.len + 4;
    }
    size_t body = (flags & RESPOND_HEAD) ? 0 : r->body.len;
    size_t cap = RESPOND_MAX_BYTES + hbytes + body;
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    int n = snprintf(out, cap, "HTTP/1.1 %u %s\r\n", (unsigned)r->status,
                     respond_phrase(r->status));
    size_t at = (size_t)n;
    pos = 0;
    while (msg_headers_next(&r->headers, &pos, &h)) {
        memcpy(out + at, h.name.ptr, h.name.len);
        at += h.name.len;
        memcpy(out + at, ": ", 2);
        at += 2;
        memcpy(out + at, h.value.ptr, h.value.len);
        at += h.value.len;
        memcpy(out + at, "\r\n", 2);
        at += 2;
    }
    /* 1xx, 204 and 304 carry no body and no Content-Length (RFC 9110 8.6). */
    const char *conn = (flags & RESPOND_CLOSE) ? "Connection: close\r\n" : "";
    if (r->status < 200 || r->status == 204 || r->status == 304) {
        n = snprintf(out + at, cap - at, "%s\r\n", conn);
        body = 0;
    } else {
        n = snprintf(out + at, cap - at, "Content-Length: %zu\r\n%s\r\n", r->body.len, conn);
    }
    at += (size_t)n;
    memcpy(out + at, r->body.ptr, body);
    at += body;
    *len = at;
    return out;
}

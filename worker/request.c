#include "worker/request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/utf8.h"
#include "worker/class_loader.h"
#include "worker/object.h"
#include "worker/worker.h"

struct duro_response {
    struct worker *w;
    struct object *obj;
    struct duro_response *oprev, *onext; /* the object's pending responses */
    struct duro_response *tprev, *tnext; /* the worker's, oldest first */
    uint64_t id;                         /* the gateway's request number */
    uint64_t deadline_ms;
    struct msg_header hdrs[DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT];
    uint32_t nhdrs;
    uint32_t hbytes;
    char *hbuf; /* DURO_HTTP_RESPONSE_HEADERS_MAX_BYTES, allocated by the first header */
};

struct requests {
    struct duro_response *head, *tail;
    uv_timer_t timer;
    struct duro_header hdrs[DURO_HTTP_HEADERS_MAX_COUNT_MAX];
};

static void on_timer(uv_timer_t *t);

int request_worker_init(struct worker *w)
{
    struct requests *rq = calloc(1, sizeof *rq);
    if (rq == NULL) {
        return UV_ENOMEM;
    }
    int rc = uv_timer_init(w->loop, &rq->timer);
    if (rc != 0) {
        free(rq);
        return rc;
    }
    rq->timer.data = w;
    uv_unref((uv_handle_t *)&rq->timer); /* pending responses do not keep the worker alive */
    w->requests = rq;
    return 0;
}

const struct duro_header *request_headers(struct worker *w, const struct msg_headers *h,
                                          size_t *n)
{
    struct requests *rq = w->requests;
    size_t pos = 0, i = 0;
    struct msg_header x;
    while (i < DURO_HTTP_HEADERS_MAX_COUNT_MAX && msg_headers_next(h, &pos, &x)) {
        rq->hdrs[i++] = (struct duro_header){ x.name.ptr, x.name.len, x.value.ptr, x.value.len };
    }
    *n = i;
    return rq->hdrs;
}

static void send_response(struct worker *w, uint64_t id, uint16_t status,
                          const struct msg_header *hdrs, uint32_t nhdrs, const void *body,
                          size_t len)
{
    struct msg_response r = {
        .req_id = id,
        .status = status,
        .headers = { hdrs, nhdrs, NULL, 0 },
        .body = { body != NULL ? body : "", len },
    };
    size_t n = msg_response_size(&r);
    uint8_t *buf = n ? malloc(n) : NULL;
    if (buf == NULL || msg_encode_response(buf, n, &r) != n) {
        log_error("request", "req=%llu event=response_unencodable", (unsigned long long)id);
        free(buf);
        return; /* the gateway answers 504 */
    }
    int rc = chan_send(w->ch, buf, n, NULL, NULL, NULL);
    free(buf);
    if (rc < 0) {
        log_warn("request", "req=%llu event=response_send_failed err=%s", (unsigned long long)id,
                 uv_err_name(rc));
    }
}

static void send_error(struct worker *w, uint64_t id, uint16_t status, const char *text)
{
    static const struct msg_header ct = { { "Content-Type", 12 },
                                          { "text/plain;charset=UTF-8", 24 } };
    send_response(w, id, status, &ct, 1, text, strlen(text));
}

static void unlink_response(struct duro_response *res)
{
    struct requests *rq = res->w->requests;
    if (res->oprev != NULL) {
        res->oprev->onext = res->onext;
    } else {
        res->obj->responses = res->onext;
    }
    if (res->onext != NULL) {
        res->onext->oprev = res->oprev;
    }
    if (res->tprev != NULL) {
        res->tprev->tnext = res->tnext;
    } else {
        rq->head = res->tnext;
    }
    if (res->tnext != NULL) {
        res->tnext->tprev = res->tprev;
    } else {
        rq->tail = res->tprev;
    }
    free(res->hbuf);
    free(res);
}

static void schedule(struct worker *w)
{
    struct requests *rq = w->requests;
    if (rq->head == NULL) {
        uv_timer_stop(&rq->timer);
        return;
    }
    uint64_t now = uv_now(w->loop);
    uint64_t d = rq->head->deadline_ms;
    uv_timer_start(&rq->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct requests *rq = w->requests;
    uint64_t now = uv_now(w->loop);
    while (rq->head != NULL && rq->head->deadline_ms <= now) {
        struct duro_response *res = rq->head;
        log_info("request", "req=%llu obj=%s/%s event=response_expired",
                 (unsigned long long)res->id, res->obj->cls->name, res->obj->name);
        unlink_response(res);
    }
    schedule(w);
}

void request_object_gone(struct object *o)
{
    while (o->responses != NULL) {
        unlink_response(o->responses);
    }
}

void request_handle(struct worker *w, const struct msg_request *q)
{
    const struct duro_class *cls = classes_find(w, q->cls.ptr, q->cls.len);
    if (cls == NULL) {
        send_error(w, q->req_id, 500, "unknown object class");
        return;
    }
    if (cls->on_request == NULL) {
        send_response(w, q->req_id, 0, NULL, 0, NULL, 0);
        return;
    }
    struct object *o = registry_get(w->reg, cls, q->name.ptr, q->name.len);
    struct duro_response *res = o != NULL ? calloc(1, sizeof *res) : NULL;
    if (res == NULL) {
        send_error(w, q->req_id, 503, "worker out of memory");
        return;
    }
    struct requests *rq = w->requests;
    res->w = w;
    res->obj = o;
    res->id = q->req_id;
    res->deadline_ms = uv_now(w->loop) + w->conf.object_timeout_ms;
    res->onext = o->responses;
    if (o->responses != NULL) {
        o->responses->oprev = res;
    }
    o->responses = res;
    res->tprev = rq->tail;
    if (rq->tail != NULL) {
        rq->tail->tnext = res;
    } else {
        rq->head = res;
        schedule(w);
    }
    rq->tail = res;

    char client[80];
    snprintf(client, sizeof client, "%.*s", (int)q->client.len, q->client.ptr);
    size_t nh;
    const struct duro_header *hdrs = request_headers(w, &q->headers, &nh);
    struct duro_request req = {
        .method = q->method.ptr,
        .method_len = q->method.len,
        .target = q->target.ptr,
        .target_len = q->target.len,
        .headers = hdrs,
        .nheaders = nh,
        .body = (const uint8_t *)q->body.ptr,
        .body_len = q->body.len,
        .client = client,
    };
    object_wake(o);
    /* The class may answer (and so free `res`) inside the call: do not touch it afterwards. */
    cls->on_request((struct duro_object *)o, o->state, &req, res);
}

/* RFC 9110 5.6.2 token characters. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int name_is(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

int duro_response_header(struct duro_response *res, const char *name, size_t name_len,
                         const char *value, size_t value_len)
{
    if (res == NULL) {
        return DURO_ESTATE;
    }
    if (name == NULL || name_len == 0 || (value == NULL && value_len > 0)) {
        return DURO_EINVAL;
    }
    for (size_t i = 0; i < name_len; i++) {
        if (!is_tchar((unsigned char)name[i])) {
            return DURO_EINVAL;
        }
    }
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') {
            return DURO_EINVAL;
        }
    }
    if (name_is(name, name_len, "content-length") ||
        name_is(name, name_len, "transfer-encoding") || name_is(name, name_len, "connection")) {
        return DURO_EINVAL;
    }
    if (res->nhdrs == DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT ||
        name_len + value_len > DURO_HTTP_RESPONSE_HEADERS_MAX_BYTES - res->hbytes) {
        return DURO_ELIMIT;
    }
    if (res->hbuf == NULL && (res->hbuf = malloc(DURO_HTTP_RESPONSE_HEADERS_MAX_BYTES)) == NULL) {
        return DURO_ENOMEM;
    }
    char *n = res->hbuf + res->hbytes;
    memcpy(n, name, name_len);
    if (value_len > 0) {
        memcpy(n + name_len, value, value_len);
    }
    res->hdrs[res->nhdrs++] = (struct msg_header){ { n, name_len }, { n + name_len, value_len } };
    res->hbytes += (uint32_t)(name_len + value_len);
    return 0;
}

int duro_response_send(struct duro_response *res, uint16_t status, const void *body, size_t len)
{
    if (res == NULL) {
        return DURO_ESTATE;
    }
    if (status < 200 || status > 599 || (body == NULL && len > 0)) {
        return DURO_EINVAL;
    }
    if (len > res->w->conf.body_max_bytes) {
        return DURO_ELIMIT;
    }
    send_response(res->w, res->id, status, res->hdrs, res->nhdrs, body, len);
    struct worker *w = res->w;
    int was_head = res->w->requests->head == res;
    unlink_response(res);
    if (was_head) {
        schedule(w);
    }
    return 0;
}

uint64_t duro_response_id(const struct duro_response *res)
{
    return res != NULL ? res->id : 0;
}

struct duro_response *duro_object_response(struct duro_object *obj, uint64_t id)
{
    struct object *o = (struct object *)obj;
    for (struct duro_response *r = o != NULL ? o->responses : NULL; r != NULL; r = r->onext) {
        if (r->id == id) {
            return r;
        }
    }
    return NULL;
}

struct close_job {
    const struct msg_close *q;
    uint32_t count;
};

static void close_in(struct object *o, void *arg)
{
    struct close_job *j = arg;
    const struct msg_close *q = j->q;
    if (strlen(o->cls->name) != q->cls.len || memcmp(o->cls->name, q->cls.ptr, q->cls.len) != 0 ||
        o->name_len != q->name.len || memcmp(o->name, q->name.ptr, q->name.len) != 0) {
        return;
    }
    size_t n = duro_object_sockets((struct duro_object *)o, q->tag.len ? q->tag.ptr : NULL,
                                   q->tag.len, NULL, 0);
    struct duro_socket **all = n ? calloc(n, sizeof *all) : NULL;
    if (all == NULL) {
        return;
    }
    n = duro_object_sockets((struct duro_object *)o, q->tag.len ? q->tag.ptr : NULL, q->tag.len,
                            all, n);
    for (size_t i = 0; i < n; i++) {
        if (duro_close(all[i], q->code, q->reason.ptr, q->reason.len) == 0) {
            j->count++;
        }
    }
    free(all);
}

void request_admin_close(struct worker *w, const struct msg_close *q)
{
    struct close_job j = { q, 0 };
    registry_each_object(w->reg, close_in, &j);
    w->metrics.v[M_ADMIN_CLOSED] += j.count;
    log_info("request", "obj=%.*s/%.*s tag=\"%.*s\" code=%u event=admin_close sockets=%u",
             (int)q->cls.len, q->cls.ptr, (int)q->name.len, q->name.ptr, (int)q->tag.len,
             q->tag.ptr, (unsigned)q->code, j.count);
    uint8_t buf[DURO_MSG_HEADER_BYTES + 16];
    size_t n = msg_encode_closed(buf, sizeof buf, q->seq, j.count);
    if (n == 0 || chan_send(w->ch, buf, n, NULL, NULL, NULL) < 0) {
        log_warn("request", "event=closed_send_failed");
    }
}

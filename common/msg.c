#include "common/msg.h"

#include <string.h>

#include "common/wire.h"

static const uint8_t magic[4] = { 'D', 'U', 'R', 'O' };

/* ---- writer ---- */

static void put_u16(struct wire_wr *w, uint16_t v)
{
    wire_put_be(w, v, 2);
}

static void put_u32(struct wire_wr *w, uint32_t v)
{
    wire_put_be(w, v, 4);
}

static void put_u64(struct wire_wr *w, uint64_t v)
{
    wire_put_be(w, v, 8);
}

static void put_span16(struct wire_wr *w, struct msg_span s)
{
    put_u16(w, (uint16_t)s.len);
    wire_put(w, s.ptr, s.len);
}

static void put_span32(struct wire_wr *w, struct msg_span s)
{
    put_u32(w, (uint32_t)s.len);
    wire_put(w, s.ptr, s.len);
}

static void put_header(struct wire_wr *w, enum msg_type type, size_t body_len)
{
    wire_put(w, magic, sizeof magic);
    put_u16(w, MSG_VERSION);
    put_u16(w, (uint16_t)type);
    put_u32(w, (uint32_t)body_len);
}

/* Wire bytes of a header list to encode (u32 length prefix not included), or 0 when a field
 * breaks its bound. */
static size_t headers_wire_len(const struct msg_headers *h)
{
    if (h->count > DURO_HTTP_HEADERS_MAX_COUNT_MAX) {
        return 0;
    }
    if (h->list == NULL && h->wire != NULL) {
        return h->wire_len; /* a decoded list, validated by the decoder: re-encoded as is */
    }
    size_t n = 2;
    for (uint32_t i = 0; i < h->count; i++) {
        const struct msg_header *x = &h->list[i];
        if (x->name.len == 0 || x->name.len > UINT16_MAX || x->value.len > UINT16_MAX) {
            return 0;
        }
        n += 4 + x->name.len + x->value.len;
    }
    return n;
}

static void put_headers(struct wire_wr *w, const struct msg_headers *h, size_t wire_len)
{
    put_u32(w, (uint32_t)wire_len);
    if (h->list == NULL && h->wire != NULL) {
        wire_put(w, h->wire, h->wire_len);
        return;
    }
    put_u16(w, (uint16_t)h->count);
    for (uint32_t i = 0; i < h->count; i++) {
        put_span16(w, h->list[i].name);
        put_span16(w, h->list[i].value);
    }
}

/* ---- bounds, shared by encoder and decoder ---- */

static int handoff_in_bounds(const struct msg_handoff *h)
{
    return h->cls.len >= 1 && h->cls.len <= DURO_CLASS_NAME_MAX_BYTES && h->name.len >= 1 &&
           h->name.len <= DURO_OBJECT_NAME_MAX_BYTES && h->key.len == DURO_WS_KEY_BYTES &&
           /* these three travel with a u16 length */
           h->protocols.len <= UINT16_MAX && h->extensions.len <= UINT16_MAX &&
           h->target.len <= UINT16_MAX &&
           h->early.len <= DURO_HANDOFF_EARLY_MAX_BYTES && h->client.len <= 64;
}

static int request_in_bounds(const struct msg_request *q)
{
    return q->cls.len >= 1 && q->cls.len <= DURO_CLASS_NAME_MAX_BYTES && q->name.len >= 1 &&
           q->name.len <= DURO_OBJECT_NAME_MAX_BYTES && q->method.len >= 1 &&
           q->method.len <= 32 && q->target.len <= UINT16_MAX && q->client.len <= 64 &&
           q->body.len <= DURO_HTTP_BODY_MAX_BYTES_MAX;
}

static int response_in_bounds(const struct msg_response *r)
{
    return (r->status == 0 || (r->status >= 100 && r->status <= 599)) &&
           r->headers.count <= DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT &&
           r->body.len <= DURO_HTTP_BODY_MAX_BYTES_MAX;
}

static int close_in_bounds(const struct msg_close *c)
{
    return c->cls.len >= 1 && c->cls.len <= DURO_CLASS_NAME_MAX_BYTES && c->name.len >= 1 &&
           c->name.len <= DURO_OBJECT_NAME_MAX_BYTES && c->tag.len <= DURO_TAG_MAX_BYTES &&
           c->reason.len <= DURO_WS_CLOSE_REASON_MAX_BYTES;
}

static int config_in_bounds(const struct msg_config *c)
{
    return c->nslots >= 1 && c->nslots <= DURO_WORKERS_MAX_COUNT && c->slot < c->nslots &&
           c->path.len <= DURO_CONFIG_PATH_MAX_BYTES && c->text.len <= DURO_CONFIG_MAX_BYTES;
}

size_t msg_handoff_size(const struct msg_handoff *h)
{
    if (!handoff_in_bounds(h)) {
        return 0;
    }
    size_t hl = headers_wire_len(&h->headers);
    if (hl == 0) {
        return 0;
    }
    return DURO_MSG_HEADER_BYTES + 8 + 6 * 2 + 4 + h->cls.len + h->name.len + h->key.len +
           h->protocols.len + h->extensions.len + h->target.len + h->early.len +
           2 + h->client.len + 4 + hl;
}

size_t msg_request_size(const struct msg_request *q)
{
    size_t hl = headers_wire_len(&q->headers);
    if (!request_in_bounds(q) || hl == 0) {
        return 0;
    }
    return DURO_MSG_HEADER_BYTES + 8 + 8 + 5 * 2 + q->cls.len + q->name.len + q->method.len +
           q->target.len + q->client.len + 4 + hl + 4 + q->body.len;
}

size_t msg_response_size(const struct msg_response *r)
{
    size_t hl = headers_wire_len(&r->headers);
    if (!response_in_bounds(r) || hl == 0) {
        return 0;
    }
    return DURO_MSG_HEADER_BYTES + 8 + 2 + 4 + hl + 4 + r->body.len;
}

size_t msg_encode_request(uint8_t *dst, size_t cap, const struct msg_request *q)
{
    size_t total = msg_request_size(q);
    if (total == 0 || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_REQUEST, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, q->req_id);
    put_u64(&w, q->conn_id);
    put_span16(&w, q->cls);
    put_span16(&w, q->name);
    put_span16(&w, q->method);
    put_span16(&w, q->target);
    put_span16(&w, q->client);
    put_headers(&w, &q->headers, headers_wire_len(&q->headers));
    put_span32(&w, q->body);
    return w.ok ? total : 0;
}

size_t msg_encode_response(uint8_t *dst, size_t cap, const struct msg_response *r)
{
    size_t total = msg_response_size(r);
    if (total == 0 || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_RESPONSE, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, r->req_id);
    put_u16(&w, r->status);
    put_headers(&w, &r->headers, headers_wire_len(&r->headers));
    put_span32(&w, r->body);
    return w.ok ? total : 0;
}

size_t msg_encode_close(uint8_t *dst, size_t cap, const struct msg_close *c)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4 * 2 + 2 + c->cls.len + c->name.len +
                   c->tag.len + c->reason.len;
    if (!close_in_bounds(c) || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_CLOSE, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, c->seq);
    put_span16(&w, c->cls);
    put_span16(&w, c->name);
    put_span16(&w, c->tag);
    put_u16(&w, c->code);
    put_span16(&w, c->reason);
    return w.ok ? total : 0;
}

size_t msg_encode_closed(uint8_t *dst, size_t cap, uint64_t seq, uint32_t count)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4;
    if (total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_CLOSED, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, seq);
    put_u32(&w, count);
    return w.ok ? total : 0;
}

static int migrate_in_bounds(const struct msg_migrate *m)
{
    return (m->mode == MIGRATE_ALL || m->mode == MIGRATE_RESIZE) && m->nslots >= 1 &&
           m->nslots <= DURO_WORKERS_MAX_COUNT && m->slot < m->nslots;
}

static int emigrant_in_bounds(const struct msg_emigrant *e)
{
    return e->cls.len >= 1 && e->cls.len <= DURO_CLASS_NAME_MAX_BYTES && e->name.len >= 1 &&
           e->name.len <= DURO_OBJECT_NAME_MAX_BYTES && e->state.len >= 1 &&
           e->state.len <= DURO_HANDOVER_STATE_MAX_BYTES;
}

size_t msg_encode_migrate(uint8_t *dst, size_t cap, const struct msg_migrate *m)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4 * 4;
    if (!migrate_in_bounds(m) || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_MIGRATE, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, m->seq);
    put_u32(&w, m->mode);
    put_u32(&w, m->slot);
    put_u32(&w, m->nslots);
    put_u32(&w, m->timeout_ms);
    return w.ok ? total : 0;
}

size_t msg_emigrant_size(const struct msg_emigrant *e)
{
    if (!emigrant_in_bounds(e)) {
        return 0;
    }
    return DURO_MSG_HEADER_BYTES + 8 + 8 + 2 + 2 + 4 + e->cls.len + e->name.len + e->state.len;
}

size_t msg_encode_emigrant(uint8_t *dst, size_t cap, enum msg_type type,
                           const struct msg_emigrant *e)
{
    size_t total = msg_emigrant_size(e);
    if (total == 0 || total > cap || (type != MSG_EMIGRATE && type != MSG_ADOPT)) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, type, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, e->seq);
    put_u64(&w, e->conn_id);
    put_span16(&w, e->cls);
    put_span16(&w, e->name);
    put_span32(&w, e->state);
    return w.ok ? total : 0;
}

size_t msg_encode_migrated(uint8_t *dst, size_t cap, const struct msg_migrated *m)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 3 * 4 + 8;
    if (total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_MIGRATED, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, m->seq);
    put_u32(&w, m->moved);
    put_u32(&w, m->closed);
    put_u32(&w, m->remaining);
    put_u64(&w, m->elapsed_us);
    return w.ok ? total : 0;
}

size_t msg_encode_upgrade(uint8_t *dst, size_t cap, const struct msg_upgrade *u)
{
    size_t total = DURO_MSG_HEADER_BYTES + 4 + 4 + 8 + 2 + u->version.len;
    if (u->version.len > DURO_UPGRADE_VERSION_MAX_BYTES || total > cap ||
        (u->what != UPGRADE_READY && u->what != UPGRADE_DONE)) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_UPGRADE, total - DURO_MSG_HEADER_BYTES);
    put_u32(&w, u->what);
    put_u32(&w, u->pid);
    put_u64(&w, u->count);
    put_span16(&w, u->version);
    return w.ok ? total : 0;
}

size_t msg_config_size(const struct msg_config *c)
{
    if (!config_in_bounds(c)) {
        return 0;
    }
    return DURO_MSG_HEADER_BYTES + 4 + 4 + 2 + 4 + c->path.len + c->text.len;
}

size_t msg_encode_handoff(uint8_t *dst, size_t cap, const struct msg_handoff *h)
{
    size_t total = msg_handoff_size(h);
    if (total == 0 || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_HANDOFF, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, h->conn_id);
    put_span16(&w, h->cls);
    put_span16(&w, h->name);
    put_span16(&w, h->key);
    put_span16(&w, h->protocols);
    put_span16(&w, h->extensions);
    put_span16(&w, h->target);
    put_span32(&w, h->early);
    put_span16(&w, h->client);
    put_headers(&w, &h->headers, headers_wire_len(&h->headers));
    return w.ok ? total : 0;
}

size_t msg_encode_config(uint8_t *dst, size_t cap, const struct msg_config *c)
{
    size_t total = msg_config_size(c);
    if (total == 0 || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_CONFIG, total - DURO_MSG_HEADER_BYTES);
    put_u32(&w, c->slot);
    put_u32(&w, c->nslots);
    put_span16(&w, c->path);
    put_span32(&w, c->text);
    return w.ok ? total : 0;
}

size_t msg_encode_query(uint8_t *dst, size_t cap, uint64_t seq, uint32_t what)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4;
    if (total > cap || what == QUERY_OBJECTS) { /* msg_encode_objects_query */
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_QUERY, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, seq);
    put_u32(&w, what);
    return w.ok ? total : 0;
}

size_t msg_encode_stats(uint8_t *dst, size_t cap, uint64_t seq, const uint64_t *words,
                        uint32_t nwords)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4 + (size_t)nwords * 8;
    if (nwords > DURO_MSG_STATS_MAX_WORDS || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_STATS, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, seq);
    put_u32(&w, nwords);
    for (uint32_t i = 0; i < nwords; i++) {
        put_u64(&w, words[i]);
    }
    return w.ok ? total : 0;
}

static int cursor_ok(const struct msg_objects_cursor *c)
{
    if (c->bits > DURO_OBJECTS_CURSOR_BITS_MAX || c->bucket >> c->bits != 0 || c->has_after > 1) {
        return 0;
    }
    for (size_t i = 0; c->has_after && i < sizeof c->after; i++) {
        char ch = c->after[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static size_t cursor_size(const struct msg_objects_cursor *c)
{
    return 8 + 1 + 1 + (c->has_after ? sizeof c->after : 0);
}

static void put_cursor(struct wire_wr *w, const struct msg_objects_cursor *c)
{
    put_u64(w, c->bucket);
    wire_put(w, &c->bits, 1);
    wire_put(w, &c->has_after, 1);
    if (c->has_after) {
        wire_put(w, c->after, sizeof c->after);
    }
}

size_t msg_encode_objects_query(uint8_t *dst, size_t cap, const struct msg_query *q)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4 + 4 + cursor_size(&q->from);
    if (total > cap || !cursor_ok(&q->from) || q->limit == 0 ||
        q->limit > DURO_OBJECTS_CHUNK_MAX_COUNT) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_QUERY, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, q->seq);
    put_u32(&w, QUERY_OBJECTS);
    put_u32(&w, q->limit);
    put_cursor(&w, &q->from);
    return w.ok ? total : 0;
}

size_t msg_encode_objects(uint8_t *dst, size_t cap, const struct msg_objects *o)
{
    size_t total = DURO_MSG_HEADER_BYTES + 8 + 4 + 1 + cursor_size(&o->next) + 4 + o->json.len;
    if (o->json.len > DURO_OBJECTS_JSON_MAX_BYTES || total > cap || o->more > 1 ||
        !cursor_ok(&o->next)) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    put_header(&w, MSG_OBJECTS, total - DURO_MSG_HEADER_BYTES);
    put_u64(&w, o->seq);
    put_u32(&w, o->count);
    wire_put(&w, &o->more, 1);
    put_cursor(&w, &o->next);
    put_span32(&w, o->json);
    return w.ok ? total : 0;
}

uint64_t msg_stats_word(const struct msg_stats *s, uint32_t i)
{
    const uint8_t *p = s->words + (size_t)i * 8;
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) {
        v = (v << 8) | p[k];
    }
    return v;
}

/* ---- reader ---- */

static uint64_t get_u64(struct wire_rd *r)
{
    return wire_get_be(r, 8);
}

/* Its bounds are the caller's to check (cursor_ok). */
static void get_cursor(struct wire_rd *r, struct msg_objects_cursor *c)
{
    c->bucket = get_u64(r);
    c->bits = (uint8_t)wire_get_be(r, 1);
    c->has_after = (uint8_t)wire_get_be(r, 1);
    const uint8_t *p = c->has_after == 1 ? wire_take(r, sizeof c->after) : NULL;
    if (p != NULL) {
        memcpy(c->after, p, sizeof c->after);
    }
}

static struct msg_span get_span(struct wire_rd *r, size_t len_bytes)
{
    struct msg_span s = { "", 0 };
    size_t n = wire_get_be(r, len_bytes);
    const uint8_t *p = wire_take(r, n);
    if (p != NULL) {
        s.ptr = (const char *)p;
        s.len = n;
    }
    return s;
}

/* Reads a header list: validates every entry of its wire form, keeps it as a span. */
static struct msg_headers get_headers(struct wire_rd *r, uint32_t max_count)
{
    struct msg_headers h = { NULL, 0, NULL, 0 };
    size_t n = wire_get_be(r, 4);
    const uint8_t *p = wire_take(r, n);
    if (p == NULL) {
        return h;
    }
    struct wire_rd in = { p, p + n, 1 };
    uint32_t count = wire_get_be(&in, 2);
    for (uint32_t i = 0; i < count && in.ok; i++) {
        size_t nl = wire_get_be(&in, 2);
        if (nl == 0) {
            in.ok = 0;
        }
        (void)wire_take(&in, nl);
        (void)wire_take(&in, wire_get_be(&in, 2));
    }
    if (!in.ok || in.p != in.end || count > max_count) {
        r->ok = 0;
        return h;
    }
    h.count = count;
    h.wire = p;
    h.wire_len = n;
    return h;
}

int msg_headers_next(const struct msg_headers *h, size_t *pos, struct msg_header *out)
{
    if (h->wire == NULL) {
        return 0;
    }
    size_t at = *pos == 0 ? 2 : *pos;
    if (at >= h->wire_len) {
        return 0;
    }
    struct wire_rd r = { h->wire + at, h->wire + h->wire_len, 1 };
    out->name = get_span(&r, 2);
    out->value = get_span(&r, 2);
    if (!r.ok) {
        return 0;
    }
    *pos = (size_t)(r.p - h->wire);
    return 1;
}

enum msg_result msg_decode(const uint8_t *buf, size_t len, struct msg *out, size_t *used)
{
    /* Reject a wrong prefix as soon as it is visible, not only once a whole header is in. */
    size_t check = len < sizeof magic ? len : sizeof magic;
    if (memcmp(buf, magic, check) != 0) {
        return MSG_BAD;
    }
    if (len < DURO_MSG_HEADER_BYTES) {
        return MSG_NEED_MORE;
    }
    struct wire_rd h = { buf + sizeof magic, buf + DURO_MSG_HEADER_BYTES, 1 };
    uint32_t version = wire_get_be(&h, 2);
    uint32_t type = wire_get_be(&h, 2);
    uint32_t body_len = wire_get_be(&h, 4);
    if (version != MSG_VERSION || body_len > DURO_MSG_BODY_MAX_BYTES) {
        return MSG_BAD;
    }
    if ((type < MSG_CONFIG || type > MSG_MIGRATED) && type != MSG_UPGRADE) {
        return MSG_BAD;
    }
    if (len - DURO_MSG_HEADER_BYTES < body_len) {
        return MSG_NEED_MORE;
    }
    struct wire_rd r = { buf + DURO_MSG_HEADER_BYTES, buf + DURO_MSG_HEADER_BYTES + body_len, 1 };
    memset(out, 0, sizeof *out);
    out->type = (enum msg_type)type;
    if (type == MSG_HANDOFF) {
        struct msg_handoff *m = &out->u.handoff;
        m->conn_id = get_u64(&r);
        m->cls = get_span(&r, 2);
        m->name = get_span(&r, 2);
        m->key = get_span(&r, 2);
        m->protocols = get_span(&r, 2);
        m->extensions = get_span(&r, 2);
        m->target = get_span(&r, 2);
        m->early = get_span(&r, 4);
        m->client = get_span(&r, 2);
        m->headers = get_headers(&r, DURO_HTTP_HEADERS_MAX_COUNT_MAX);
        if (!r.ok || r.p != r.end || !handoff_in_bounds(m)) {
            return MSG_BAD;
        }
    } else if (type == MSG_REQUEST) {
        struct msg_request *q = &out->u.request;
        q->req_id = get_u64(&r);
        q->conn_id = get_u64(&r);
        q->cls = get_span(&r, 2);
        q->name = get_span(&r, 2);
        q->method = get_span(&r, 2);
        q->target = get_span(&r, 2);
        q->client = get_span(&r, 2);
        q->headers = get_headers(&r, DURO_HTTP_HEADERS_MAX_COUNT_MAX);
        q->body = get_span(&r, 4);
        if (!r.ok || r.p != r.end || !request_in_bounds(q)) {
            return MSG_BAD;
        }
    } else if (type == MSG_RESPONSE) {
        struct msg_response *q = &out->u.response;
        q->req_id = get_u64(&r);
        q->status = (uint16_t)wire_get_be(&r, 2);
        q->headers = get_headers(&r, DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT);
        q->body = get_span(&r, 4);
        if (!r.ok || r.p != r.end || !response_in_bounds(q)) {
            return MSG_BAD;
        }
    } else if (type == MSG_CLOSE) {
        struct msg_close *q = &out->u.close;
        q->seq = get_u64(&r);
        q->cls = get_span(&r, 2);
        q->name = get_span(&r, 2);
        q->tag = get_span(&r, 2);
        q->code = (uint16_t)wire_get_be(&r, 2);
        q->reason = get_span(&r, 2);
        if (!r.ok || r.p != r.end || !close_in_bounds(q)) {
            return MSG_BAD;
        }
    } else if (type == MSG_CLOSED) {
        out->u.closed.seq = get_u64(&r);
        out->u.closed.count = wire_get_be(&r, 4);
        if (!r.ok || r.p != r.end) {
            return MSG_BAD;
        }
    } else if (type == MSG_MIGRATE) {
        struct msg_migrate *q = &out->u.migrate;
        q->seq = get_u64(&r);
        q->mode = wire_get_be(&r, 4);
        q->slot = wire_get_be(&r, 4);
        q->nslots = wire_get_be(&r, 4);
        q->timeout_ms = wire_get_be(&r, 4);
        if (!r.ok || r.p != r.end || !migrate_in_bounds(q)) {
            return MSG_BAD;
        }
    } else if (type == MSG_EMIGRATE || type == MSG_ADOPT) {
        struct msg_emigrant *q = &out->u.emigrant;
        q->seq = get_u64(&r);
        q->conn_id = get_u64(&r);
        q->cls = get_span(&r, 2);
        q->name = get_span(&r, 2);
        q->state = get_span(&r, 4);
        if (!r.ok || r.p != r.end || !emigrant_in_bounds(q)) {
            return MSG_BAD;
        }
    } else if (type == MSG_MIGRATED) {
        struct msg_migrated *q = &out->u.migrated;
        q->seq = get_u64(&r);
        q->moved = wire_get_be(&r, 4);
        q->closed = wire_get_be(&r, 4);
        q->remaining = wire_get_be(&r, 4);
        q->elapsed_us = get_u64(&r);
        if (!r.ok || r.p != r.end) {
            return MSG_BAD;
        }
    } else if (type == MSG_UPGRADE) {
        struct msg_upgrade *u = &out->u.upgrade;
        u->what = wire_get_be(&r, 4);
        u->pid = wire_get_be(&r, 4);
        u->count = get_u64(&r);
        u->version = get_span(&r, 2);
        if (!r.ok || r.p != r.end || u->version.len > DURO_UPGRADE_VERSION_MAX_BYTES ||
            (u->what != UPGRADE_READY && u->what != UPGRADE_DONE)) {
            return MSG_BAD;
        }
    } else if (type == MSG_QUERY) {
        struct msg_query *q = &out->u.query;
        q->seq = get_u64(&r);
        q->what = wire_get_be(&r, 4);
        if (q->what == QUERY_OBJECTS) {
            q->limit = wire_get_be(&r, 4);
            get_cursor(&r, &q->from);
        }
        if (!r.ok || r.p != r.end || (q->what != QUERY_STATS && q->what != QUERY_OBJECTS) ||
            (q->what == QUERY_OBJECTS &&
             (q->limit == 0 || q->limit > DURO_OBJECTS_CHUNK_MAX_COUNT || !cursor_ok(&q->from)))) {
            return MSG_BAD;
        }
    } else if (type == MSG_STATS) {
        out->u.stats.seq = get_u64(&r);
        out->u.stats.nwords = wire_get_be(&r, 4);
        if (out->u.stats.nwords > DURO_MSG_STATS_MAX_WORDS) {
            return MSG_BAD;
        }
        out->u.stats.words = wire_take(&r, (size_t)out->u.stats.nwords * 8);
        if (!r.ok || r.p != r.end) {
            return MSG_BAD;
        }
    } else if (type == MSG_OBJECTS) {
        struct msg_objects *o = &out->u.objects;
        o->seq = get_u64(&r);
        o->count = wire_get_be(&r, 4);
        o->more = (uint8_t)wire_get_be(&r, 1);
        get_cursor(&r, &o->next);
        o->json = get_span(&r, 4);
        if (!r.ok || r.p != r.end || o->json.len > DURO_OBJECTS_JSON_MAX_BYTES || o->more > 1 ||
            !cursor_ok(&o->next)) {
            return MSG_BAD;
        }
    } else {
        struct msg_config *c = &out->u.config;
        c->slot = wire_get_be(&r, 4);
        c->nslots = wire_get_be(&r, 4);
        c->path = get_span(&r, 2);
        c->text = get_span(&r, 4);
        if (!r.ok || r.p != r.end || !config_in_bounds(c)) {
            return MSG_BAD;
        }
    }
    *used = DURO_MSG_HEADER_BYTES + body_len;
    return MSG_OK;
}

/* tests/fuzz/fuzz_msg.c: the hand-off message decoder (common/msg.h msg_decode).
 *
 * Invariants: the result is one of MSG_OK / MSG_NEED_MORE / MSG_BAD; on MSG_OK `used` is within
 * the input, every span points inside the message and keeps its documented bound, re-encoding
 * the decoded message gives back exactly the same bytes, and every strict prefix of a decoded
 * message is MSG_NEED_MORE (never MSG_OK, never MSG_BAD: a message split across reads must
 * wait). Consecutive messages are decoded one after another, as the channel does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "tests/fuzz/fuzz_check.h"


static void check_span(const uint8_t *base, size_t used, struct msg_span s)
{
    if (s.len == 0) {
        return;
    }
    CHECK((const uint8_t *)s.ptr >= base && (const uint8_t *)s.ptr + s.len <= base + used);
}

/* Every header of a decoded list lies inside the message, with a name, and the count matches. */
static void check_headers(const uint8_t *base, size_t used, const struct msg_headers *h)
{
    size_t pos = 0;
    uint32_t n = 0;
    struct msg_header x;
    while (msg_headers_next(h, &pos, &x)) {
        CHECK(x.name.len >= 1);
        check_span(base, used, x.name);
        check_span(base, used, x.value);
        n++;
    }
    CHECK(n == h->count);
}

static void check_one(const uint8_t *buf, size_t used, const struct msg *m)
{
    static uint8_t again[DURO_MSG_HEADER_BYTES + DURO_MSG_BODY_MAX_BYTES];
    size_t n = 0;

    if (m->type == MSG_HANDOFF) {
        const struct msg_handoff *h = &m->u.handoff;
        const struct msg_span spans[] = { h->cls, h->name, h->key, h->protocols, h->extensions,
                                          h->target, h->early, h->client };
        check_headers(buf, used, &h->headers);
        for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
            check_span(buf, used, spans[i]);
        }
        CHECK(h->cls.len >= 1 && h->cls.len <= DURO_CLASS_NAME_MAX_BYTES);
        CHECK(h->name.len >= 1 && h->name.len <= DURO_OBJECT_NAME_MAX_BYTES);
        CHECK(h->key.len == DURO_WS_KEY_BYTES);
        CHECK(h->early.len <= DURO_HANDOFF_EARLY_MAX_BYTES);
        CHECK(msg_handoff_size(h) == used);
        n = msg_encode_handoff(again, sizeof again, h);
    } else if (m->type == MSG_CONFIG) {
        const struct msg_config *c = &m->u.config;
        check_span(buf, used, c->path);
        check_span(buf, used, c->text);
        CHECK(c->nslots >= 1 && c->slot < c->nslots);
        CHECK(c->text.len <= DURO_CONFIG_MAX_BYTES);
        CHECK(msg_config_size(c) == used);
        n = msg_encode_config(again, sizeof again, c);
    } else if (m->type == MSG_REQUEST) {
        const struct msg_request *q = &m->u.request;
        const struct msg_span spans[] = { q->cls, q->name, q->method, q->target, q->client,
                                          q->body };
        for (size_t i = 0; i < sizeof spans / sizeof spans[0]; i++) {
            check_span(buf, used, spans[i]);
        }
        check_headers(buf, used, &q->headers);
        CHECK(q->method.len >= 1 && q->body.len <= DURO_HTTP_BODY_MAX_BYTES_MAX);
        CHECK(msg_request_size(q) == used);
        n = msg_encode_request(again, sizeof again, q);
    } else if (m->type == MSG_RESPONSE) {
        const struct msg_response *r = &m->u.response;
        check_span(buf, used, r->body);
        check_headers(buf, used, &r->headers);
        CHECK(r->headers.count <= DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT);
        CHECK(msg_response_size(r) == used);
        n = msg_encode_response(again, sizeof again, r);
    } else if (m->type == MSG_CLOSE) {
        const struct msg_close *c = &m->u.close;
        check_span(buf, used, c->tag);
        check_span(buf, used, c->reason);
        CHECK(c->tag.len <= DURO_TAG_MAX_BYTES);
        n = msg_encode_close(again, sizeof again, c);
    } else if (m->type == MSG_QUERY) {
        const struct msg_query *q = &m->u.query;
        if (q->what == QUERY_OBJECTS) {
            CHECK(q->limit >= 1 && q->limit <= DURO_OBJECTS_CHUNK_MAX_COUNT);
            n = msg_encode_objects_query(again, sizeof again, q);
        } else {
            n = msg_encode_query(again, sizeof again, q->seq, q->what);
        }
    } else if (m->type == MSG_OBJECTS) {
        const struct msg_objects *o = &m->u.objects;
        check_span(buf, used, o->json);
        CHECK(o->json.len <= DURO_OBJECTS_JSON_MAX_BYTES && o->more <= 1);
        CHECK(o->next.bits <= DURO_OBJECTS_CURSOR_BITS_MAX && o->next.bucket >> o->next.bits == 0);
        n = msg_encode_objects(again, sizeof again, o);
    } else {
        return; /* other message types: bounds above are specific to these */
    }
    CHECK(n == used);
    CHECK(memcmp(again, buf, used) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (int i = 0; i < 8 && off < size; i++) {
        struct msg m;
        size_t used = 0;
        enum msg_result r = msg_decode(data + off, size - off, &m, &used);
        CHECK(r == MSG_OK || r == MSG_NEED_MORE || r == MSG_BAD);
        if (r != MSG_OK) {
            break;
        }
        CHECK(used >= DURO_MSG_HEADER_BYTES && used <= size - off);
        check_one(data + off, used, &m);
        /* Every strict prefix must wait for more (bounded work: at most 64 cut points). */
        size_t stride = used / 64 + 1;
        for (size_t cut = 0; cut < used; cut += stride) {
            struct msg m2;
            size_t used2;
            CHECK(msg_decode(data + off, cut, &m2, &used2) == MSG_NEED_MORE);
        }
        off += used;
    }
    return 0;
}

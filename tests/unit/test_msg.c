/* tests/unit/test_msg.c: the gateway <-> worker message codec.
 *
 * Bad messages are built by a writer of the test's own that follows the wire form field by
 * field, so a bound can be broken on purpose; `wire_layout_is_pinned` proves that writer and
 * the codec agree on valid messages. */
#include "common/msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
/* room for the largest handoff */
#define WIRE_CAP (DURO_HANDOFF_EARLY_MAX_BYTES + 8192u)

static const char early_bytes[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"; /* "Hello" */

static struct msg_span span(const char *s)
{
    struct msg_span sp = { s, strlen(s) };
    return sp;
}

static const struct msg_header sample_headers[] = {
    { { "Host", 4 }, { "127.0.0.1", 9 } },
    { { "Cookie", 6 }, { "sid=42; theme=dark", 18 } },
    { { "X-Empty", 7 }, { "", 0 } },
};

static struct msg_handoff sample_handoff(void)
{
    struct msg_handoff h = {
        .conn_id = 0x0102030405060708ull,
        .cls = span("seed"),
        .name = span("foo"),
        .key = span(SAMPLE_KEY),
        .protocols = span("chat, superchat"),
        .extensions = span("permessage-deflate"),
        .target = span("/rooms/websocket?x=1"),
        .early = { early_bytes, sizeof early_bytes - 1 },
        .client = span("203.0.113.7:4242"),
        .headers = { sample_headers, 3, NULL, 0 },
    };
    return h;
}

static struct msg_request sample_request(void)
{
    struct msg_request q = {
        .req_id = 0x1112131415161718ull,
        .conn_id = 77,
        .cls = span("chat"),
        .name = span("lobby"),
        .method = span("POST"),
        .target = span("/rooms/lobby/websocket?x=1"),
        .client = span("[::1]:5000"),
        .headers = { sample_headers, 3, NULL, 0 },
        .body = { "hi\0there", 8 },
    };
    return q;
}

static struct msg_config sample_config(void)
{
    struct msg_config c = {
        .slot = 2,
        .nslots = 4,
        .path = span("/etc/duro/duro.ini"),
        .text = span("[server]\nlisten = 127.0.0.1:0\n"),
    };
    return c;
}

/* ---- the test's own writer of the wire form ---- */

struct out {
    uint8_t *p;
    size_t len;
    size_t cap;
};

static void out_bytes(struct out *o, const void *src, size_t n)
{
    assert_true(o->len + n <= o->cap);
    if (n > 0) {
        memcpy(o->p + o->len, src, n);
    }
    o->len += n;
}

static void out_be(struct out *o, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(v >> (8 * (n - 1 - i)));
        out_bytes(o, &b, 1);
    }
}

static void out_span(struct out *o, struct msg_span s, size_t len_bytes)
{
    out_be(o, s.len, len_bytes);
    out_bytes(o, s.ptr, s.len);
}

/* Header with a placeholder length; `finish` fills it in from what follows. */
static void out_header(struct out *o, uint16_t version, uint16_t type)
{
    out_bytes(o, "DURO", 4);
    out_be(o, version, 2);
    out_be(o, type, 2);
    out_be(o, 0, 4);
}

static size_t finish(struct out *o)
{
    size_t body = o->len - DURO_MSG_HEADER_BYTES;
    for (size_t i = 0; i < 4; i++) {
        o->p[8 + i] = (uint8_t)(body >> (8 * (3 - i)));
    }
    return o->len;
}

/* The handoff body: conn_id u64, seven spans with u16 lengths, early with a u32 length. */
static size_t write_handoff(uint8_t *dst, size_t cap, const struct msg_handoff *h,
                            const void *trailer, size_t trailer_len)
{
    struct out o = { dst, 0, cap };
    out_header(&o, MSG_VERSION, MSG_HANDOFF);
    out_be(&o, h->conn_id, 8);
    out_span(&o, h->cls, 2);
    out_span(&o, h->name, 2);
    out_span(&o, h->key, 2);
    out_span(&o, h->protocols, 2);
    out_span(&o, h->extensions, 2);
    out_span(&o, h->target, 2);
    out_span(&o, h->early, 4);
    out_span(&o, h->client, 2);
    size_t hl = 2;
    for (uint32_t i = 0; i < h->headers.count; i++) {
        hl += 4 + h->headers.list[i].name.len + h->headers.list[i].value.len;
    }
    out_be(&o, hl, 4);
    out_be(&o, h->headers.count, 2);
    for (uint32_t i = 0; i < h->headers.count; i++) {
        out_span(&o, h->headers.list[i].name, 2);
        out_span(&o, h->headers.list[i].value, 2);
    }
    out_bytes(&o, trailer, trailer_len);
    return finish(&o);
}

/* The config body: slot u32, nslots u32, path with a u16 length, text with a u32 length. */
static size_t write_config(uint8_t *dst, size_t cap, const struct msg_config *c,
                           const void *trailer, size_t trailer_len)
{
    struct out o = { dst, 0, cap };
    out_header(&o, MSG_VERSION, MSG_CONFIG);
    out_be(&o, c->slot, 4);
    out_be(&o, c->nslots, 4);
    out_span(&o, c->path, 2);
    out_span(&o, c->text, 4);
    out_bytes(&o, trailer, trailer_len);
    return finish(&o);
}

static void assert_span_equal(struct msg_span got, struct msg_span want)
{
    assert_int_equal(got.len, want.len);
    if (want.len > 0) {
        assert_memory_equal(got.ptr, want.ptr, want.len);
    }
}

static void assert_points_into(struct msg_span s, const uint8_t *buf, size_t len)
{
    if (s.len > 0) {
        assert_true((const uint8_t *)s.ptr >= buf);
        assert_true((const uint8_t *)s.ptr + s.len <= buf + len);
    }
}

static void assert_headers_equal(const struct msg_headers *got, const struct msg_headers *want)
{
    size_t pos = 0;
    struct msg_header x;
    assert_int_equal(got->count, want->count);
    for (uint32_t i = 0; i < want->count; i++) {
        assert_true(msg_headers_next(got, &pos, &x));
        assert_span_equal(x.name, want->list[i].name);
        assert_span_equal(x.value, want->list[i].value);
    }
    assert_false(msg_headers_next(got, &pos, &x));
}

static void assert_handoff_equal(const struct msg_handoff *got, const struct msg_handoff *want)
{
    assert_int_equal(got->conn_id, want->conn_id);
    assert_span_equal(got->cls, want->cls);
    assert_span_equal(got->name, want->name);
    assert_span_equal(got->key, want->key);
    assert_span_equal(got->protocols, want->protocols);
    assert_span_equal(got->extensions, want->extensions);
    assert_span_equal(got->target, want->target);
    assert_span_equal(got->early, want->early);
    assert_span_equal(got->client, want->client);
    assert_headers_equal(&got->headers, &want->headers);
}

/* ---- round trips ---- */

static void handoff_round_trip(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    static uint8_t wire[WIRE_CAP];
    size_t len = msg_encode_handoff(wire, sizeof wire, &h);
    struct msg m;
    size_t used = 0;

    assert_int_not_equal(len, 0);
    assert_int_equal(len, msg_handoff_size(&h));
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_int_equal(m.type, MSG_HANDOFF);
    assert_handoff_equal(&m.u.handoff, &h);
    /* decoded strings point into the caller's buffer: no copies */
    assert_points_into(m.u.handoff.cls, wire, len);
    assert_points_into(m.u.handoff.early, wire, len);
}

static void handoff_round_trip_with_empty_and_maximal_fields(void **state)
{
    (void)state;
    static char name[DURO_OBJECT_NAME_MAX_BYTES];
    static char cls[DURO_CLASS_NAME_MAX_BYTES];
    static char early[DURO_HANDOFF_EARLY_MAX_BYTES];
    static uint8_t wire[WIRE_CAP];
    memset(name, 'n', sizeof name);
    memset(cls, 'c', sizeof cls);
    memset(early, 0, sizeof early); /* binary, NULs included */

    struct msg_handoff h = sample_handoff();
    h.cls = (struct msg_span){ cls, sizeof cls };
    h.name = (struct msg_span){ name, sizeof name };
    h.early = (struct msg_span){ early, sizeof early };
    h.protocols = span("");
    h.extensions = span("");
    h.target = span("");
    h.conn_id = UINT64_MAX;

    size_t len = msg_encode_handoff(wire, sizeof wire, &h);
    struct msg m;
    size_t used;
    assert_int_not_equal(len, 0);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_handoff_equal(&m.u.handoff, &h);
}

static void config_round_trip(void **state)
{
    (void)state;
    struct msg_config c = sample_config();
    static uint8_t wire[WIRE_CAP];
    size_t len = msg_encode_config(wire, sizeof wire, &c);
    struct msg m;
    size_t used = 0;

    assert_int_not_equal(len, 0);
    assert_int_equal(len, msg_config_size(&c));
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_int_equal(m.type, MSG_CONFIG);
    assert_int_equal(m.u.config.slot, c.slot);
    assert_int_equal(m.u.config.nslots, c.nslots);
    assert_span_equal(m.u.config.path, c.path);
    assert_span_equal(m.u.config.text, c.text);
    assert_points_into(m.u.config.text, wire, len);

    /* embedded config: empty path */
    c.path = span("");
    c.slot = 0;
    c.nslots = 1;
    len = msg_encode_config(wire, sizeof wire, &c);
    assert_int_not_equal(len, 0);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.config.path.len, 0);
    assert_int_equal(m.u.config.nslots, 1);
}

static void config_round_trip_largest_text(void **state)
{
    (void)state;
    size_t cap = DURO_MSG_HEADER_BYTES + DURO_MSG_BODY_MAX_BYTES;
    uint8_t *wire = malloc(cap);
    char *text = malloc(DURO_CONFIG_MAX_BYTES);
    assert_non_null(wire);
    assert_non_null(text);
    memset(text, ';', DURO_CONFIG_MAX_BYTES);

    struct msg_config c = sample_config();
    c.text = (struct msg_span){ text, DURO_CONFIG_MAX_BYTES };
    size_t len = msg_encode_config(wire, cap, &c);
    struct msg m;
    size_t used;
    assert_int_not_equal(len, 0);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_span_equal(m.u.config.text, c.text);

    free(text);
    free(wire);
}

static void wire_layout_is_pinned(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    struct msg_config c = sample_config();
    static uint8_t ours[WIRE_CAP];
    static uint8_t theirs[WIRE_CAP];

    size_t n = write_handoff(ours, sizeof ours, &h, NULL, 0);
    assert_int_equal(msg_encode_handoff(theirs, sizeof theirs, &h), n);
    assert_memory_equal(ours, theirs, n);

    n = write_config(ours, sizeof ours, &c, NULL, 0);
    assert_int_equal(msg_encode_config(theirs, sizeof theirs, &c), n);
    assert_memory_equal(ours, theirs, n);

    /* The header, byte for byte: "DURO", version 1, type 1, body length. */
    static const uint8_t head[] = { 'D', 'U', 'R', 'O', 0, 1, 0, 1 };
    assert_memory_equal(theirs, head, sizeof head);
    size_t body = n - DURO_MSG_HEADER_BYTES;
    assert_int_equal(theirs[8], (uint8_t)(body >> 24));
    assert_int_equal(theirs[11], (uint8_t)body);
}

/* ---- incremental input ---- */

static void every_truncation_needs_more(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    struct msg_config c = sample_config();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;

    size_t len = msg_encode_handoff(wire, sizeof wire, &h);
    assert_int_not_equal(len, 0);
    for (size_t cut = 0; cut < len; cut++) {
        if (msg_decode(wire, cut, &m, &used) != MSG_NEED_MORE) {
            fail_msg("handoff cut at %zu of %zu: not MSG_NEED_MORE", cut, len);
        }
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);

    len = msg_encode_config(wire, sizeof wire, &c);
    assert_int_not_equal(len, 0);
    for (size_t cut = 0; cut < len; cut++) {
        if (msg_decode(wire, cut, &m, &used) != MSG_NEED_MORE) {
            fail_msg("config cut at %zu of %zu: not MSG_NEED_MORE", cut, len);
        }
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
}

/* Two messages back to back, as a stream delivers them: the first decodes alone, whatever
 * follows it; the second needs all of its own bytes. */
static void back_to_back_messages(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    struct msg_config c = sample_config();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;

    size_t first = msg_encode_config(wire, sizeof wire, &c);
    size_t second = msg_encode_handoff(wire + first, sizeof wire - first, &h);
    assert_int_not_equal(first, 0);
    assert_int_not_equal(second, 0);

    for (size_t end = first; end <= first + second; end++) {
        assert_int_equal(msg_decode(wire, end, &m, &used), MSG_OK);
        assert_int_equal(used, first);
        assert_int_equal(m.type, MSG_CONFIG);
    }
    for (size_t cut = 0; cut < second; cut++) {
        assert_int_equal(msg_decode(wire + first, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire + first, second, &m, &used), MSG_OK);
    assert_int_equal(used, second);
    assert_handoff_equal(&m.u.handoff, &h);
}

/* ---- rejected headers ---- */

static void bad_magic(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    size_t len = msg_encode_handoff(wire, sizeof wire, &h);

    for (size_t i = 0; i < 4; i++) {
        wire[i] ^= 0x20; /* "DURO" -> "dURO", ... */
        assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
        /* visible as soon as the wrong byte is in, not only once a whole header is */
        assert_int_equal(msg_decode(wire, i + 1, &m, &used), MSG_BAD);
        wire[i] ^= 0x20;
    }
    assert_int_equal(msg_decode((const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, &m, &used), MSG_BAD);
}

static void bad_version(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    size_t len = msg_encode_handoff(wire, sizeof wire, &h);
    static const uint16_t versions[] = { 0, MSG_VERSION + 1, 0x0100, 0xFFFF };

    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        wire[4] = (uint8_t)(versions[i] >> 8);
        wire[5] = (uint8_t)versions[i];
        assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
        /* a bad header is bad before its body arrives */
        assert_int_equal(msg_decode(wire, DURO_MSG_HEADER_BYTES, &m, &used), MSG_BAD);
    }
}

static void unknown_type(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    size_t len = msg_encode_handoff(wire, sizeof wire, &h);
    static const uint16_t types[] = { 0, MSG_MIGRATED + 1, MSG_UPGRADE - 1, MSG_UPGRADE + 1,
                                      0x0102, 0xFFFF };

    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        wire[6] = (uint8_t)(types[i] >> 8);
        wire[7] = (uint8_t)types[i];
        assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
        assert_int_equal(msg_decode(wire, DURO_MSG_HEADER_BYTES, &m, &used), MSG_BAD);
    }
}

static void small_messages_round_trip_and_wait_for_last_byte(void **state)
{
    (void)state;
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    const uint64_t words[3] = { 1, 0x0102030405060708ull, UINT64_MAX };

    size_t len = msg_encode_query(wire, sizeof wire, 77, QUERY_STATS);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.type, MSG_QUERY);
    assert_int_equal(m.u.query.seq, 77);
    assert_int_equal(m.u.query.what, QUERY_STATS);
    wire[len - 1] = 9; /* an unknown query */
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    /* an objects query carries its cursor: without one it is refused */
    assert_int_equal(msg_encode_query(wire, sizeof wire, 77, QUERY_OBJECTS), 0);

    len = msg_encode_stats(wire, sizeof wire, 5, words, 3);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.stats.nwords, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_true(msg_stats_word(&m.u.stats, i) == words[i]);
    }
    assert_int_equal(msg_encode_stats(wire, sizeof wire, 5, words, DURO_MSG_STATS_MAX_WORDS + 1),
                     0);

    struct msg_objects o = { .seq = 6, .count = 1, .more = 1,
                             .next = { .bucket = 5, .bits = 3 },
                             .json = { "{\"a\":1}", 7 } };
    len = msg_encode_objects(wire, sizeof wire, &o);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_int_equal(m.u.objects.seq, 6);
    assert_int_equal(m.u.objects.count, 1);
    assert_int_equal(m.u.objects.more, 1);
    assert_int_equal(m.u.objects.next.bucket, 5);
    assert_int_equal(m.u.objects.next.bits, 3);
    assert_int_equal(m.u.objects.next.has_after, 0);
    assert_memory_equal(m.u.objects.json.ptr, "{\"a\":1}", 7);
    assert_int_equal(msg_encode_objects(wire, 10, &o), 0);
    o.next.bucket = 8; /* not below 2^bits */
    assert_int_equal(msg_encode_objects(wire, sizeof wire, &o), 0);
}

static void objects_query_carries_its_cursor(void **state)
{
    (void)state;
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    struct msg_query q = { .seq = 9, .limit = 256, .from = { .bucket = 0x2a, .bits = 6,
                                                             .has_after = 1 } };
    memset(q.from.after, 'c', sizeof q.from.after);
    size_t len = msg_encode_objects_query(wire, sizeof wire, &q);
    assert_true(len > 0);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.query.what, QUERY_OBJECTS);
    assert_int_equal(m.u.query.seq, 9);
    assert_int_equal(m.u.query.limit, 256);
    assert_int_equal(m.u.query.from.bucket, 0x2a);
    assert_int_equal(m.u.query.from.bits, 6);
    assert_int_equal(m.u.query.from.has_after, 1);
    assert_memory_equal(m.u.query.from.after, q.from.after, sizeof q.from.after);
    wire[len - 1] = 'G'; /* not hex */
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    q.limit = DURO_OBJECTS_CHUNK_MAX_COUNT + 1;
    assert_int_equal(msg_encode_objects_query(wire, sizeof wire, &q), 0);
    q.limit = 0;
    assert_int_equal(msg_encode_objects_query(wire, sizeof wire, &q), 0);
    q.limit = 1;
    q.from.bits = DURO_OBJECTS_CURSOR_BITS_MAX + 1;
    assert_int_equal(msg_encode_objects_query(wire, sizeof wire, &q), 0);
}

static void oversized_body_length(void **state)
{
    (void)state;
    struct msg m;
    size_t used;
    uint32_t lengths[] = { DURO_MSG_BODY_MAX_BYTES + 1, 0x80000000u, UINT32_MAX };

    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        uint8_t wire[DURO_MSG_HEADER_BYTES] = { 'D', 'U', 'R', 'O', 0, MSG_VERSION, 0,
                                                MSG_HANDOFF };
        wire[8] = (uint8_t)(lengths[i] >> 24);
        wire[9] = (uint8_t)(lengths[i] >> 16);
        wire[10] = (uint8_t)(lengths[i] >> 8);
        wire[11] = (uint8_t)lengths[i];
        /* refused at once: waiting for a gigabyte that will never come would hang the peer */
        assert_int_equal(msg_decode(wire, sizeof wire, &m, &used), MSG_BAD);
    }
}

/* ---- rejected bodies ---- */

static enum msg_result decode_handoff_with(const struct msg_handoff *h)
{
    static uint8_t wire[2 * WIRE_CAP];
    struct msg m;
    size_t used;
    size_t len = write_handoff(wire, sizeof wire, h, NULL, 0);
    return msg_decode(wire, len, &m, &used);
}

static enum msg_result decode_config_with(const struct msg_config *c)
{
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    size_t len = write_config(wire, sizeof wire, c, NULL, 0);
    return msg_decode(wire, len, &m, &used);
}

static void handoff_field_over_its_bound(void **state)
{
    (void)state;
    static char big[DURO_HANDOFF_EARLY_MAX_BYTES + 1];
    memset(big, 'a', sizeof big);
    struct msg_handoff h;

    assert_int_equal(decode_handoff_with(&(struct msg_handoff){ 0 }), MSG_BAD);

    h = sample_handoff();
    assert_int_equal(decode_handoff_with(&h), MSG_OK);

    h = sample_handoff();
    h.cls = (struct msg_span){ big, DURO_CLASS_NAME_MAX_BYTES + 1 };
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);
    assert_int_equal(msg_handoff_size(&h), 0);

    h = sample_handoff();
    h.cls = span("");
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);
    assert_int_equal(msg_handoff_size(&h), 0);

    h = sample_handoff();
    h.name = (struct msg_span){ big, DURO_OBJECT_NAME_MAX_BYTES + 1 };
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);
    assert_int_equal(msg_handoff_size(&h), 0);

    h = sample_handoff();
    h.name = span("");
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);

    h = sample_handoff();
    h.key = (struct msg_span){ SAMPLE_KEY, DURO_WS_KEY_BYTES - 1 };
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);
    assert_int_equal(msg_handoff_size(&h), 0);

    h = sample_handoff();
    h.key = (struct msg_span){ big, DURO_WS_KEY_BYTES + 1 };
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);

    h = sample_handoff();
    h.early = (struct msg_span){ big, DURO_HANDOFF_EARLY_MAX_BYTES + 1 };
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);
    assert_int_equal(msg_handoff_size(&h), 0);

    /* msg.c bounds the PROXY protocol's client at 64 bytes ("[v6]:port" fits) */
    h = sample_handoff();
    h.client = (struct msg_span){ big, 65 };
    assert_int_equal(decode_handoff_with(&h), MSG_BAD);
    assert_int_equal(msg_handoff_size(&h), 0);
}

static void config_field_over_its_bound(void **state)
{
    (void)state;
    static char path[4097]; /* msg.c bounds the path at 4096 bytes */
    memset(path, '/', sizeof path);
    struct msg_config c;

    c = sample_config();
    assert_int_equal(decode_config_with(&c), MSG_OK);

    c = sample_config();
    c.nslots = 0;
    c.slot = 0;
    assert_int_equal(decode_config_with(&c), MSG_BAD);
    assert_int_equal(msg_config_size(&c), 0);

    c = sample_config();
    c.nslots = DURO_WORKERS_MAX_COUNT + 1;
    assert_int_equal(decode_config_with(&c), MSG_BAD);
    assert_int_equal(msg_config_size(&c), 0);

    c = sample_config();
    c.slot = c.nslots;
    assert_int_equal(decode_config_with(&c), MSG_BAD);
    assert_int_equal(msg_config_size(&c), 0);

    c = sample_config();
    c.path = (struct msg_span){ path, sizeof path };
    assert_int_equal(decode_config_with(&c), MSG_BAD);
    assert_int_equal(msg_config_size(&c), 0);
}

static void config_text_over_its_bound(void **state)
{
    (void)state;
    size_t cap = DURO_MSG_HEADER_BYTES + DURO_MSG_BODY_MAX_BYTES;
    uint8_t *wire = malloc(cap);
    char *text = malloc(DURO_CONFIG_MAX_BYTES + 1);
    assert_non_null(wire);
    assert_non_null(text);
    memset(text, ';', DURO_CONFIG_MAX_BYTES + 1);

    struct msg_config c = sample_config();
    c.text = (struct msg_span){ text, DURO_CONFIG_MAX_BYTES + 1 };
    assert_int_equal(msg_config_size(&c), 0);
    assert_int_equal(msg_encode_config(wire, cap, &c), 0);
    /* still within the body bound, so only the field's own bound refuses it */
    size_t len = write_config(wire, cap, &c, NULL, 0);
    assert_true(len - DURO_MSG_HEADER_BYTES <= DURO_MSG_BODY_MAX_BYTES);
    struct msg m;
    size_t used;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);

    free(text);
    free(wire);
}

/* A span whose length runs past the end of the body (the body length is honest). */
static void span_length_past_the_body(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;
    size_t len = write_handoff(wire, sizeof wire, &h, NULL, 0);
    size_t cls_len_at = DURO_MSG_HEADER_BYTES + 8;

    wire[cls_len_at] = 0xFF;
    wire[cls_len_at + 1] = 0xFF;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);

    /* early's u32 length, followed by an empty client (2) and an empty header list (4 + 2):
     * claim more than is there */
    h.client = span("");
    h.headers.count = 0;
    len = write_handoff(wire, sizeof wire, &h, NULL, 0);
    size_t early_len_at = len - 8 - h.early.len - 4;
    wire[early_len_at + 3] = (uint8_t)(h.early.len + 1);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    wire[early_len_at] = 0xFF;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);

    /* a body cut short inside the fields, with an honest body length */
    struct msg_config c = sample_config();
    len = write_config(wire, sizeof wire, &c, NULL, 0);
    uint8_t cut[DURO_MSG_HEADER_BYTES + 6];
    memcpy(cut, wire, sizeof cut);
    cut[8] = 0;
    cut[9] = 0;
    cut[10] = 0;
    cut[11] = 6;
    assert_int_equal(msg_decode(cut, sizeof cut, &m, &used), MSG_BAD);

    /* an empty body */
    cut[11] = 0;
    assert_int_equal(msg_decode(cut, DURO_MSG_HEADER_BYTES, &m, &used), MSG_BAD);
}

static void trailing_bytes_in_the_body(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    struct msg_config c = sample_config();
    static uint8_t wire[WIRE_CAP];
    struct msg m;
    size_t used;

    size_t len = write_handoff(wire, sizeof wire, &h, "x", 1);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    len = write_handoff(wire, sizeof wire, &h, "\0\0\0\0", 4);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    len = write_config(wire, sizeof wire, &c, "\0", 1);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
}

/* ---- encoding ---- */

static void encode_needs_the_whole_capacity(void **state)
{
    (void)state;
    struct msg_handoff h = sample_handoff();
    struct msg_config c = sample_config();
    static uint8_t wire[WIRE_CAP];
    static uint8_t small[WIRE_CAP];

    size_t len = msg_encode_handoff(wire, sizeof wire, &h);
    assert_int_not_equal(len, 0);
    for (size_t cap = 0; cap < len; cap++) {
        assert_int_equal(msg_encode_handoff(small, cap, &h), 0);
    }
    assert_int_equal(msg_encode_handoff(small, len, &h), len);
    assert_memory_equal(small, wire, len);

    len = msg_encode_config(wire, sizeof wire, &c);
    assert_int_not_equal(len, 0);
    for (size_t cap = 0; cap < len; cap++) {
        assert_int_equal(msg_encode_config(small, cap, &c), 0);
    }
    assert_int_equal(msg_encode_config(small, len, &c), len);
    assert_memory_equal(small, wire, len);
}

static void encode_refuses_a_field_over_its_bound(void **state)
{
    (void)state;
    static uint8_t wire[WIRE_CAP];
    struct msg_handoff h = sample_handoff();
    h.key = span("short");
    assert_int_equal(msg_encode_handoff(wire, sizeof wire, &h), 0);

    struct msg_config c = sample_config();
    c.slot = 9;
    assert_int_equal(msg_encode_config(wire, sizeof wire, &c), 0);
}

/* Spans with a u16 length on the wire cannot carry 65,536 bytes or more: the encoder must
 * refuse them rather than wrap the length. */
static void encode_never_wraps_a_u16_length(void **state)
{
    (void)state;
    static char big[UINT16_MAX + 1];
    static uint8_t wire[2 * UINT16_MAX + WIRE_CAP];
    memset(big, 'p', sizeof big);
    struct msg_span spans[3];

    for (int field = 0; field < 3; field++) {
        for (size_t len = UINT16_MAX; len <= UINT16_MAX + 1u; len++) {
            struct msg_handoff h = sample_handoff();
            spans[0] = h.protocols;
            spans[1] = h.extensions;
            spans[2] = h.target;
            spans[field] = (struct msg_span){ big, len };
            h.protocols = spans[0];
            h.extensions = spans[1];
            h.target = spans[2];

            size_t n = msg_encode_handoff(wire, sizeof wire, &h);
            if (n == 0) {
                continue; /* refused: fine */
            }
            struct msg m;
            size_t used;
            if (msg_decode(wire, n, &m, &used) != MSG_OK) {
                fail_msg("field %d of %zu bytes: encoded to %zu bytes that do not decode",
                         field, len, n);
            }
            assert_int_equal(used, n);
            assert_handoff_equal(&m.u.handoff, &h);
        }
    }
}

/* ---- HTTP into objects and admin close ---- */

static void request_round_trip_split_at_every_byte(void **state)
{
    (void)state;
    struct msg_request q = sample_request();
    static uint8_t wire[WIRE_CAP];
    size_t len = msg_encode_request(wire, sizeof wire, &q);
    struct msg m;
    size_t used;

    assert_int_not_equal(len, 0);
    assert_int_equal(len, msg_request_size(&q));
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_int_equal(m.type, MSG_REQUEST);
    assert_int_equal(m.u.request.req_id, q.req_id);
    assert_int_equal(m.u.request.conn_id, q.conn_id);
    assert_span_equal(m.u.request.cls, q.cls);
    assert_span_equal(m.u.request.name, q.name);
    assert_span_equal(m.u.request.method, q.method);
    assert_span_equal(m.u.request.target, q.target);
    assert_span_equal(m.u.request.client, q.client);
    assert_span_equal(m.u.request.body, q.body);
    assert_headers_equal(&m.u.request.headers, &q.headers);
    assert_points_into(m.u.request.body, wire, len);
}

static void response_round_trip_split_at_every_byte(void **state)
{
    (void)state;
    struct msg_response r = {
        .req_id = 9,
        .status = 405,
        .headers = { sample_headers, 2, NULL, 0 },
        .body = span("method not allowed"),
    };
    static uint8_t wire[WIRE_CAP];
    size_t len = msg_encode_response(wire, sizeof wire, &r);
    struct msg m;
    size_t used;

    assert_int_not_equal(len, 0);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.type, MSG_RESPONSE);
    assert_int_equal(m.u.response.req_id, 9);
    assert_int_equal(m.u.response.status, 405);
    assert_span_equal(m.u.response.body, r.body);
    assert_headers_equal(&m.u.response.headers, &r.headers);

    /* status 0: the class has no on_request */
    r.status = 0;
    r.headers.count = 0;
    r.body = span("");
    len = msg_encode_response(wire, sizeof wire, &r);
    assert_int_not_equal(len, 0);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.response.status, 0);
    assert_int_equal(m.u.response.headers.count, 0);
}

static void close_and_closed_round_trip(void **state)
{
    (void)state;
    struct msg_close c = {
        .seq = 5, .cls = span("chat"), .name = span("lobby"), .tag = span("admin"),
        .code = 4001, .reason = span("kicked"),
    };
    uint8_t wire[1024];
    size_t len = msg_encode_close(wire, sizeof wire, &c);
    struct msg m;
    size_t used;
    assert_int_not_equal(len, 0);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.type, MSG_CLOSE);
    assert_int_equal(m.u.close.seq, 5);
    assert_int_equal(m.u.close.code, 4001);
    assert_span_equal(m.u.close.tag, c.tag);
    assert_span_equal(m.u.close.reason, c.reason);

    len = msg_encode_closed(wire, sizeof wire, 5, 1234);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.type, MSG_CLOSED);
    assert_int_equal(m.u.closed.count, 1234);

    static char big[DURO_TAG_MAX_BYTES + 1];
    memset(big, 't', sizeof big);
    c.tag = (struct msg_span){ big, sizeof big };
    assert_int_equal(msg_encode_close(wire, sizeof wire, &c), 0);
}

/* ---- hand-over messages ---- */

static void migrate_round_trip_and_bounds(void **state)
{
    (void)state;
    struct msg_migrate g = { .seq = 0x0102030405060708ull, .mode = MIGRATE_RESIZE, .slot = 2,
                             .nslots = 3, .timeout_ms = 10000 };
    uint8_t wire[256];
    struct msg m;
    size_t used;
    size_t len = msg_encode_migrate(wire, sizeof wire, &g);
    assert_int_equal(len, DURO_MSG_HEADER_BYTES + 24);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_int_equal(m.type, MSG_MIGRATE);
    assert_true(m.u.migrate.seq == g.seq);
    assert_int_equal(m.u.migrate.mode, MIGRATE_RESIZE);
    assert_int_equal(m.u.migrate.slot, 2);
    assert_int_equal(m.u.migrate.nslots, 3);
    assert_int_equal(m.u.migrate.timeout_ms, 10000);
    /* big-endian fields at fixed offsets: mode right after the seq */
    assert_int_equal(wire[DURO_MSG_HEADER_BYTES + 11], MIGRATE_RESIZE);

    /* the encoder refuses what the decoder would refuse */
    struct msg_migrate bad = g;
    bad.mode = 3;
    assert_int_equal(msg_encode_migrate(wire, sizeof wire, &bad), 0);
    bad = g;
    bad.slot = 3;
    assert_int_equal(msg_encode_migrate(wire, sizeof wire, &bad), 0);
    bad = g;
    bad.nslots = DURO_WORKERS_MAX_COUNT + 1;
    bad.slot = 0;
    assert_int_equal(msg_encode_migrate(wire, sizeof wire, &bad), 0);
    assert_int_equal(msg_encode_migrate(wire, len - 1, &g), 0);

    /* and the decoder refuses a broken one: slot past the pool, unknown mode */
    len = msg_encode_migrate(wire, sizeof wire, &g);
    wire[DURO_MSG_HEADER_BYTES + 15] = 7; /* slot 7 of 3 */
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    len = msg_encode_migrate(wire, sizeof wire, &g);
    wire[DURO_MSG_HEADER_BYTES + 11] = 0; /* mode 0 */
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);

    /* MIGRATE_ALL with a one-slot pool */
    g = (struct msg_migrate){ .seq = 1, .mode = MIGRATE_ALL, .slot = 0, .nslots = 1 };
    len = msg_encode_migrate(wire, sizeof wire, &g);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.migrate.mode, MIGRATE_ALL);
}

static void emigrant_round_trip_both_types(void **state)
{
    (void)state;
    static const char blob[] = "\x00\x01state\x00with\xff" "binary";
    struct msg_emigrant e = { .seq = 9, .conn_id = 0x1122334455667788ull, .cls = span("chat"),
                              .name = span("room-7"),
                              .state = { blob, sizeof blob - 1 } };
    static const enum msg_type types[] = { MSG_EMIGRATE, MSG_ADOPT };
    uint8_t wire[1024];
    struct msg m;
    size_t used;

    for (size_t t = 0; t < 2; t++) {
        size_t len = msg_encode_emigrant(wire, sizeof wire, types[t], &e);
        assert_int_equal(len, msg_emigrant_size(&e));
        assert_int_equal(len, DURO_MSG_HEADER_BYTES + 24 + 4 + 6 + sizeof blob - 1);
        for (size_t cut = 0; cut < len; cut++) {
            assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
        }
        assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
        assert_int_equal(m.type, types[t]);
        assert_int_equal(m.u.emigrant.seq, 9);
        assert_true(m.u.emigrant.conn_id == e.conn_id);
        assert_span_equal(m.u.emigrant.cls, e.cls);
        assert_span_equal(m.u.emigrant.name, e.name);
        assert_span_equal(m.u.emigrant.state, e.state);
        /* the payload's bytes are the same whatever the type: the gateway relays by retyping */
        uint8_t other[1024];
        size_t n2 = msg_encode_emigrant(other, sizeof other, types[1 - t], &e);
        assert_int_equal(n2, len);
        assert_memory_equal(wire + 8, other + 8, len - 8);
    }
    assert_int_equal(msg_encode_emigrant(wire, sizeof wire, MSG_HANDOFF, &e), 0);
}

static void emigrant_fields_over_their_bound(void **state)
{
    (void)state;
    static uint8_t wire[DURO_HANDOVER_STATE_MAX_BYTES + 1024];
    static char big[DURO_HANDOVER_STATE_MAX_BYTES + 1];
    struct msg m;
    size_t used;
    memset(big, 's', sizeof big);
    struct msg_emigrant e = { .seq = 1, .conn_id = 2, .cls = span("echo"), .name = span("x"),
                              .state = { big, DURO_HANDOVER_STATE_MAX_BYTES } };

    /* the largest state passes */
    size_t len = msg_encode_emigrant(wire, sizeof wire, MSG_ADOPT, &e);
    assert_int_not_equal(len, 0);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.emigrant.state.len, DURO_HANDOVER_STATE_MAX_BYTES);

    /* one byte more, an empty state, an empty class or name: refused by the encoder */
    e.state.len = DURO_HANDOVER_STATE_MAX_BYTES + 1;
    assert_int_equal(msg_emigrant_size(&e), 0);
    e.state.len = 0;
    assert_int_equal(msg_emigrant_size(&e), 0);
    e.state.len = 4;
    e.cls = span("");
    assert_int_equal(msg_emigrant_size(&e), 0);
    e.cls = span("echo");
    e.name = span("");
    assert_int_equal(msg_emigrant_size(&e), 0);

    /* and by the decoder: a state length past the body, an empty name on the wire */
    e.name = span("x");
    len = msg_encode_emigrant(wire, sizeof wire, MSG_EMIGRATE, &e);
    size_t at = DURO_MSG_HEADER_BYTES + 16 + 2 + 4 + 2 + 1; /* the state's u32 length */
    wire[at + 3] = 5;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    len = msg_encode_emigrant(wire, sizeof wire, MSG_EMIGRATE, &e);
    wire[DURO_MSG_HEADER_BYTES + 16 + 2 + 4 + 1] = 0; /* name length 0 */
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
}

static void migrated_round_trip(void **state)
{
    (void)state;
    struct msg_migrated g = { .seq = 4, .moved = 10000, .closed = 3, .remaining = 17,
                              .elapsed_us = 0x0000000100000002ull };
    uint8_t wire[128];
    struct msg m;
    size_t used;
    size_t len = msg_encode_migrated(wire, sizeof wire, &g);
    assert_int_equal(len, DURO_MSG_HEADER_BYTES + 28);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.type, MSG_MIGRATED);
    assert_int_equal(m.u.migrated.seq, 4);
    assert_int_equal(m.u.migrated.moved, 10000);
    assert_int_equal(m.u.migrated.closed, 3);
    assert_int_equal(m.u.migrated.remaining, 17);
    assert_true(m.u.migrated.elapsed_us == g.elapsed_us);
    assert_int_equal(msg_encode_migrated(wire, len - 1, &g), 0);
    /* a body one byte longer is refused whole */
    wire[11] = (uint8_t)(wire[11] + 1);
    wire[len] = 0;
    assert_int_equal(msg_decode(wire, len + 1, &m, &used), MSG_BAD);
}

static void upgrade_round_trip_and_bounds(void **state)
{
    (void)state;
    struct msg_upgrade u = {
        .what = UPGRADE_READY, .pid = 4242, .count = 7, .version = span("duro-gateway 0.1.0"),
    };
    uint8_t wire[512];
    size_t len = msg_encode_upgrade(wire, sizeof wire, &u);
    struct msg m;
    size_t used;
    assert_int_not_equal(len, 0);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(msg_decode(wire, cut, &m, &used), MSG_NEED_MORE);
    }
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(used, len);
    assert_int_equal(m.type, MSG_UPGRADE);
    assert_int_equal(m.u.upgrade.what, UPGRADE_READY);
    assert_int_equal(m.u.upgrade.pid, 4242);
    assert_int_equal(m.u.upgrade.count, 7);
    assert_span_equal(m.u.upgrade.version, u.version);

    /* An unknown `what` is refused on both sides; so is a version over its bound. */
    wire[DURO_MSG_HEADER_BYTES + 3] = 9;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
    u.what = 9;
    assert_int_equal(msg_encode_upgrade(wire, sizeof wire, &u), 0);
    static char big[DURO_UPGRADE_VERSION_MAX_BYTES + 1];
    memset(big, 'v', sizeof big);
    u.what = UPGRADE_DONE;
    u.version = (struct msg_span){ big, sizeof big };
    assert_int_equal(msg_encode_upgrade(wire, sizeof wire, &u), 0);
    u.version = (struct msg_span){ big, sizeof big - 1 };
    len = msg_encode_upgrade(wire, sizeof wire, &u);
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_OK);
    assert_int_equal(m.u.upgrade.what, UPGRADE_DONE);
    /* The wire's length claims one byte more than the body holds: refused. */
    wire[DURO_MSG_HEADER_BYTES + 16] = (uint8_t)(sizeof big >> 8);
    wire[DURO_MSG_HEADER_BYTES + 17] = (uint8_t)sizeof big;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);
}

static void http_fields_over_their_bound(void **state)
{
    (void)state;
    static uint8_t wire[WIRE_CAP];
    struct msg_request q = sample_request();
    static char body[DURO_HTTP_BODY_MAX_BYTES_MAX + 1];

    q.method = span("");
    assert_int_equal(msg_request_size(&q), 0);
    q = sample_request();
    q.body = (struct msg_span){ body, sizeof body };
    assert_int_equal(msg_request_size(&q), 0);

    /* a header with an empty name is refused by the encoder and by the decoder */
    static const struct msg_header bad[] = { { { "", 0 }, { "v", 1 } } };
    q = sample_request();
    q.headers = (struct msg_headers){ bad, 1, NULL, 0 };
    assert_int_equal(msg_request_size(&q), 0);
    struct msg_handoff h = sample_handoff();
    h.headers = (struct msg_headers){ bad, 1, NULL, 0 };
    size_t len = write_handoff(wire, sizeof wire, &h, NULL, 0);
    struct msg m;
    size_t used;
    assert_int_equal(msg_decode(wire, len, &m, &used), MSG_BAD);

    /* a response has at most DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT headers */
    static struct msg_header many[DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT + 1];
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        many[i] = sample_headers[0];
    }
    struct msg_response r = { .req_id = 1, .status = 200,
                              .headers = { many, DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT + 1, NULL, 0 } };
    assert_int_equal(msg_response_size(&r), 0);
    r.headers.count = DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT;
    assert_int_not_equal(msg_response_size(&r), 0);
    r.status = 99;
    assert_int_equal(msg_response_size(&r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handoff_round_trip),
        cmocka_unit_test(handoff_round_trip_with_empty_and_maximal_fields),
        cmocka_unit_test(config_round_trip),
        cmocka_unit_test(config_round_trip_largest_text),
        cmocka_unit_test(wire_layout_is_pinned),
        cmocka_unit_test(request_round_trip_split_at_every_byte),
        cmocka_unit_test(response_round_trip_split_at_every_byte),
        cmocka_unit_test(close_and_closed_round_trip),
        cmocka_unit_test(migrate_round_trip_and_bounds),
        cmocka_unit_test(emigrant_round_trip_both_types),
        cmocka_unit_test(emigrant_fields_over_their_bound),
        cmocka_unit_test(migrated_round_trip),
        cmocka_unit_test(upgrade_round_trip_and_bounds),
        cmocka_unit_test(http_fields_over_their_bound),
        cmocka_unit_test(every_truncation_needs_more),
        cmocka_unit_test(back_to_back_messages),
        cmocka_unit_test(bad_magic),
        cmocka_unit_test(bad_version),
        cmocka_unit_test(unknown_type),
        cmocka_unit_test(small_messages_round_trip_and_wait_for_last_byte),
        cmocka_unit_test(objects_query_carries_its_cursor),
        cmocka_unit_test(oversized_body_length),
        cmocka_unit_test(handoff_field_over_its_bound),
        cmocka_unit_test(config_field_over_its_bound),
        cmocka_unit_test(config_text_over_its_bound),
        cmocka_unit_test(span_length_past_the_body),
        cmocka_unit_test(trailing_bytes_in_the_body),
        cmocka_unit_test(encode_needs_the_whole_capacity),
        cmocka_unit_test(encode_refuses_a_field_over_its_bound),
        cmocka_unit_test(encode_never_wraps_a_u16_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_ws_rx.c: the worker's frame decoder (worker/ws_rx.c) without a loop or a
 * socket. Every case is fed whole, split in two at every byte boundary, and one byte at a time:
 * the events must not depend on how TCP cut the stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duro/class.h"
#include "worker/ws_rx.h"

#define WIRE_MAX 4096
#define EVENTS_MAX 16
#define MAX_MSG 64u

struct wire {
    uint8_t b[WIRE_MAX];
    size_t n;
};

struct rec {
    enum ws_rx_kind kind;
    uint16_t code;
    size_t len;
    uint8_t data[WIRE_MAX];
};

struct result {
    struct rec ev[EVENTS_MAX];
    size_t n;
};

static const uint8_t MASK[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Appends one client frame: b0 is FIN|RSV|opcode, payload masked with MASK unless `unmasked`. */
static void frame_ex(struct wire *w, uint8_t b0, const void *payload, size_t len, int unmasked)
{
    const uint8_t *p = payload;
    uint8_t m = unmasked ? 0 : 0x80;
    w->b[w->n++] = b0;
    if (len < 126) {
        w->b[w->n++] = (uint8_t)(m | len);
    } else if (len < 65536) {
        w->b[w->n++] = (uint8_t)(m | 126);
        w->b[w->n++] = (uint8_t)(len >> 8);
        w->b[w->n++] = (uint8_t)len;
    } else {
        w->b[w->n++] = (uint8_t)(m | 127);
        for (int i = 7; i >= 0; i--) {
            w->b[w->n++] = (uint8_t)((uint64_t)len >> (8 * i));
        }
    }
    if (!unmasked) {
        memcpy(w->b + w->n, MASK, 4);
        w->n += 4;
    }
    for (size_t i = 0; i < len && p != NULL; i++) {
        w->b[w->n++] = unmasked ? p[i] : (uint8_t)(p[i] ^ MASK[i % 4]);
    }
}

static void frame(struct wire *w, uint8_t b0, const void *payload, size_t len)
{
    frame_ex(w, b0, payload, len, 0);
}

static void close_frame(struct wire *w, uint16_t code, const char *reason)
{
    uint8_t p[125] = { (uint8_t)(code >> 8), (uint8_t)code };
    size_t rl = strlen(reason);
    memcpy(p + 2, reason, rl);
    frame(w, 0x88, p, 2 + rl);
}

static void drain(struct ws_rx *d, struct result *r)
{
    struct ws_rx_event ev;
    while (ws_rx_next(d, &ev) != WS_RX_NEED_MORE) {
        assert_true(r->n < EVENTS_MAX);
        struct rec *e = &r->ev[r->n++];
        e->kind = ev.kind;
        e->code = ev.code;
        e->len = ev.len;
        assert_true(ev.len <= sizeof e->data);
        if (ev.len > 0) {
            memcpy(e->data, ev.data, ev.len);
        }
    }
}

/* Feeds the wire in pieces of at most `step` bytes, with a first cut after `cut` bytes. */
static void feed(const struct wire *w, size_t cut, size_t step, struct result *r)
{
    struct ws_rx d;
    memset(&d, 0, sizeof d);
    assert_int_equal(ws_rx_init(&d, MAX_MSG), 0);
    memset(r, 0, sizeof *r);
    size_t pos = 0;
    while (pos < w->n) {
        size_t n = pos < cut ? cut - pos : step;
        if (n > w->n - pos) {
            n = w->n - pos;
        }
        ws_rx_input(&d, w->b + pos, n);
        drain(&d, r);
        pos += n;
    }
    ws_rx_free(&d);
}

static void same(const struct result *a, const struct result *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->ev[i].kind, b->ev[i].kind);
        assert_int_equal(a->ev[i].code, b->ev[i].code);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
    }
}

/* Decodes `w` whole, then at every split and byte by byte; checks all agree and returns the
 * events of the whole feed. */
static void decode(const struct wire *w, struct result *whole)
{
    struct result r;
    feed(w, w->n, w->n, whole);
    for (size_t cut = 1; cut < w->n; cut++) {
        feed(w, cut, w->n, &r);
        same(whole, &r);
    }
    feed(w, 1, 1, &r);
    same(whole, &r);
}

static void expect_msg(const struct rec *e, enum ws_rx_kind kind, const char *text)
{
    assert_int_equal(e->kind, kind);
    assert_int_equal(e->len, strlen(text));
    assert_memory_equal(e->data, text, e->len);
}

static void expect_error(const struct wire *w, uint16_t code)
{
    struct result r;
    decode(w, &r);
    assert_true(r.n >= 1);
    assert_int_equal(r.ev[r.n - 1].kind, WS_RX_ERROR);
    assert_int_equal(r.ev[r.n - 1].code, code);
}

static void masked_text(void **state)
{
    (void)state;
    struct wire w = { .n = 0 };
    frame(&w, 0x81, "hello", 5);
    frame(&w, 0x82, "\x00\xff", 2);
    frame(&w, 0x81, "", 0);
    struct result r;
    decode(&w, &r);
    assert_int_equal(r.n, 3);
    expect_msg(&r.ev[0], WS_RX_TEXT, "hello");
    assert_int_equal(r.ev[1].kind, WS_RX_BINARY);
    assert_int_equal(r.ev[1].len, 2);
    expect_msg(&r.ev[2], WS_RX_TEXT, "");
}

static void fragmented(void **state)
{
    (void)state;
    struct wire w = { .n = 0 };
    frame(&w, 0x01, "Hel", 3);
    frame(&w, 0x00, "", 0);
    frame(&w, 0x80, "lo", 2);
    /* a 2-byte UTF-8 character split across two fragments */
    frame(&w, 0x01, "\xc3", 1);
    frame(&w, 0x80, "\xa9", 1);
    struct result r;
    decode(&w, &r);
    assert_int_equal(r.n, 2);
    expect_msg(&r.ev[0], WS_RX_TEXT, "Hello");
    expect_msg(&r.ev[1], WS_RX_TEXT, "\xc3\xa9");
}

static void control_interleaved(void **state)
{
    (void)state;
    struct wire w = { .n = 0 };
    frame(&w, 0x01, "ab", 2);
    frame(&w, 0x89, "p1", 2);
    frame(&w, 0x00, "cd", 2);
    frame(&w, 0x8a, "p2", 2);
    frame(&w, 0x80, "ef", 2);
    close_frame(&w, 1000, "bye");
    frame(&w, 0x81, "after close", 11); /* never decoded */
    struct result r;
    decode(&w, &r);
    assert_int_equal(r.n, 4);
    expect_msg(&r.ev[0], WS_RX_PING, "p1");
    expect_msg(&r.ev[1], WS_RX_PONG, "p2");
    expect_msg(&r.ev[2], WS_RX_TEXT, "abcdef");
    expect_msg(&r.ev[3], WS_RX_CLOSE, "bye");
    assert_int_equal(r.ev[3].code, 1000);
}

static void protocol_errors(void **state)
{
    (void)state;
    struct wire w = { .n = 0 };
    frame(&w, 0x83, "x", 1); /* reserved opcode */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    frame(&w, 0x8b, "", 0); /* reserved control opcode */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    frame_ex(&w, 0x81, "x", 1, 1); /* unmasked */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    frame(&w, 0xc1, "x", 1); /* RSV1 without an extension */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    frame(&w, 0x80, "x", 1); /* continuation without a message */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    frame(&w, 0x01, "a", 1);
    frame(&w, 0x81, "b", 1); /* new message inside a fragmented one */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    frame(&w, 0x09, "p", 1); /* fragmented ping */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    uint8_t big[126] = { 0 };
    frame(&w, 0x89, big, sizeof big); /* control payload over 125 */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    /* the message before a bad frame is still delivered */
    w.n = 0;
    frame(&w, 0x81, "ok", 2);
    frame(&w, 0x87, "", 0);
    struct result r;
    decode(&w, &r);
    assert_int_equal(r.n, 2);
    expect_msg(&r.ev[0], WS_RX_TEXT, "ok");
    assert_int_equal(r.ev[1].code, DURO_CLOSE_PROTOCOL);
}

static void bad_utf8(void **state)
{
    (void)state;
    struct wire w = { .n = 0 };
    frame(&w, 0x81, "a\xff", 2);
    expect_error(&w, DURO_CLOSE_INVALID_DATA);
    w.n = 0;
    frame(&w, 0x01, "\xc3", 1);
    frame(&w, 0x80, "(", 1); /* not a continuation byte, across fragments */
    expect_error(&w, DURO_CLOSE_INVALID_DATA);
    w.n = 0;
    frame(&w, 0x81, "\xe2\x82", 2); /* ends inside a sequence */
    expect_error(&w, DURO_CLOSE_INVALID_DATA);
    w.n = 0;
    frame(&w, 0x81, "\xed\xa0\x80", 3); /* a UTF-16 surrogate */
    expect_error(&w, DURO_CLOSE_INVALID_DATA);
    w.n = 0;
    frame(&w, 0x82, "\xff", 1); /* binary is not checked */
    struct result r;
    decode(&w, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].kind, WS_RX_BINARY);
}

static void oversize(void **state)
{
    (void)state;
    uint8_t p[MAX_MSG + 1];
    memset(p, 'a', sizeof p);
    struct wire w = { .n = 0 };
    frame(&w, 0x81, p, MAX_MSG); /* exactly the limit passes */
    struct result r;
    decode(&w, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].len, MAX_MSG);
    w.n = 0;
    frame(&w, 0x82, p, MAX_MSG + 1);
    expect_error(&w, DURO_CLOSE_TOO_BIG);
    w.n = 0;
    frame(&w, 0x01, p, MAX_MSG / 2);
    frame(&w, 0x80, p, MAX_MSG / 2 + 1); /* the sum of the fragments counts */
    expect_error(&w, DURO_CLOSE_TOO_BIG);
    /* Refused from the header alone: the payload never has to arrive. */
    w.n = 0;
    w.b[w.n++] = 0x82;
    w.b[w.n++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) {
        w.b[w.n++] = (uint8_t)((uint64_t)(1u << 30) >> (8 * i));
    }
    memcpy(w.b + w.n, MASK, 4);
    w.n += 4;
    expect_error(&w, DURO_CLOSE_TOO_BIG);
}

/* A frame header with `len` bytes of payload to come (none of it sent). */
static void header_only(struct wire *w, uint8_t b0, uint64_t len)
{
    w->b[w->n++] = b0;
    w->b[w->n++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) {
        w->b[w->n++] = (uint8_t)(len >> (8 * i));
    }
    memcpy(w->b + w->n, MASK, 4);
    w->n += 4;
}

/* The worker's buffer budget: a large message that does not fit is refused (1009) from its
 * header, marked as the budget's; a small one passes even when the budget is full. */
static void budget_refuses_large_messages(void **state)
{
    (void)state;
    struct budget b = { .max_bytes = 1u << 20 };
    struct ws_rx d;
    struct result r;
    memset(&d, 0, sizeof d);
    assert_int_equal(ws_rx_init(&d, 1u << 30), 0);
    d.budget = &b;
    struct wire w = { .n = 0 };
    header_only(&w, 0x82, 2u << 20);
    ws_rx_input(&d, w.b, w.n);
    memset(&r, 0, sizeof r);
    drain(&d, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].kind, WS_RX_ERROR);
    assert_int_equal(r.ev[0].code, DURO_CLOSE_TOO_BIG);
    assert_true(d.budget_refused);
    assert_int_equal(ws_rx_reset(&d), 0);
    assert_false(d.budget_refused);

    /* the same message with room: its header is taken, its payload awaited */
    b.max_bytes = 8u << 20;
    ws_rx_input(&d, w.b, w.n);
    memset(&r, 0, sizeof r);
    drain(&d, &r);
    assert_int_equal(r.n, 0);
    assert_int_equal(ws_rx_reset(&d), 0);

    /* full: a small message is still delivered */
    size_t held = 0;
    budget_set(&b, &held, 16u << 20);
    uint8_t p[MAX_MSG];
    memset(p, 'a', sizeof p);
    w.n = 0;
    frame(&w, 0x81, p, sizeof p);
    ws_rx_input(&d, w.b, w.n);
    memset(&r, 0, sizeof r);
    drain(&d, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].kind, WS_RX_TEXT);
    assert_false(d.budget_refused);
    ws_rx_free(&d);
}

static void close_codes(void **state)
{
    (void)state;
    static const uint16_t ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                                   1013, 1014, 3000, 4999 };
    static const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535 };
    struct wire w;
    struct result r;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        w.n = 0;
        close_frame(&w, ok[i], "");
        decode(&w, &r);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.ev[0].kind, WS_RX_CLOSE);
        assert_int_equal(r.ev[0].code, ok[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w.n = 0;
        close_frame(&w, bad[i], "");
        expect_error(&w, DURO_CLOSE_PROTOCOL);
    }
    w.n = 0;
    frame(&w, 0x88, "", 0); /* no code: 1005 for the class */
    decode(&w, &r);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0].code, DURO_CLOSE_NO_STATUS);
    w.n = 0;
    frame(&w, 0x88, "\x03", 1); /* a 1-byte payload */
    expect_error(&w, DURO_CLOSE_PROTOCOL);
    w.n = 0;
    close_frame(&w, 1000, "\xc3"); /* reason not UTF-8 */
    expect_error(&w, DURO_CLOSE_INVALID_DATA);
}

static void reset_for_reuse(void **state)
{
    (void)state;
    struct ws_rx d;
    memset(&d, 0, sizeof d);
    assert_int_equal(ws_rx_init(&d, MAX_MSG), 0);
    struct wire w = { .n = 0 };
    frame(&w, 0x01, "half", 4);
    ws_rx_input(&d, w.b, w.n - 1);
    struct result r = { .n = 0 };
    drain(&d, &r);
    assert_int_equal(r.n, 0);
    assert_false(ws_rx_idle(&d));
    assert_int_equal(ws_rx_reset(&d), 0);
    assert_true(ws_rx_idle(&d));
    w.n = 0;
    frame(&w, 0x81, "next", 4);
    ws_rx_input(&d, w.b, w.n);
    drain(&d, &r);
    assert_int_equal(r.n, 1);
    expect_msg(&r.ev[0], WS_RX_TEXT, "next");
    ws_rx_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(masked_text),      cmocka_unit_test(fragmented),
        cmocka_unit_test(control_interleaved), cmocka_unit_test(protocol_errors),
        cmocka_unit_test(bad_utf8),         cmocka_unit_test(oversize),
        cmocka_unit_test(budget_refuses_large_messages),
        cmocka_unit_test(close_codes),      cmocka_unit_test(reset_for_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_handover.c: one socket's hand-over state (worker/handover.c): every field
 * survives a round trip, every bound is enforced on both sides, and a cut, padded or
 * unknown-version state is refused whole. */
#include "worker/handover.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duro/class.h"

#define CAP (DURO_HANDOVER_STATE_MAX_BYTES)

static struct msg_span span(const char *s)
{
    struct msg_span sp = { s, strlen(s) };
    return sp;
}

static void assert_span_equal(struct msg_span got, struct msg_span want)
{
    assert_int_equal(got.len, want.len);
    if (want.len > 0) {
        assert_memory_equal(got.ptr, want.ptr, want.len);
    }
}

static struct handover_state sample(void)
{
    static const char attach[] = "{\"user\":\"ann\",\"\x00bin\":1}";
    static const char early[] = "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    struct handover_state st = {
        .flags = HANDOVER_PING_OUT | HANDOVER_RATE_STARTED,
        .group_left = 513,
        .age_ms = 0x0102030405060708ull,
        .last_auto_ms = 1764633600123ull,
        .bytes_in = 1ull << 40,
        .bytes_out = 12345,
        .msgs_in = 77,
        .msgs_out = 0xfffffffeu,
        .silent_ms = 29999,
        .rate_milli = 999500,
        .protocol = span("chat.v2"),
        .client = span("203.0.113.7:4242"),
        .attachment = { attach, sizeof attach - 1 },
        .early = { early, sizeof early - 1 },
        .pmd_on = 1, .pmd_snt = 0, .pmd_cnt = 0, .pmd_sbits = 10, .pmd_cbits = 15,
        .def_window = span("the last bytes compressed"),
        .inf_window = span("the last bytes inflated"),
        .ntags = 3,
        .tags = { span("user:ann"), span("room:7"), span("admin") },
        .nrules = 2,
        .rules = { { DURO_TEXT, DURO_TEXT, span("ping"), span("pong") },
                   { DURO_BINARY, DURO_TEXT, { "\x00\x01", 2 }, span("") } },
    };
    return st;
}

static void check_equal(const struct handover_state *a, const struct handover_state *b)
{
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->group_left, b->group_left);
    assert_true(a->age_ms == b->age_ms);
    assert_true(a->last_auto_ms == b->last_auto_ms);
    assert_true(a->bytes_in == b->bytes_in);
    assert_true(a->bytes_out == b->bytes_out);
    assert_int_equal(a->msgs_in, b->msgs_in);
    assert_int_equal(a->msgs_out, b->msgs_out);
    assert_int_equal(a->silent_ms, b->silent_ms);
    assert_int_equal(a->rate_milli, b->rate_milli);
    assert_span_equal(a->protocol, b->protocol);
    assert_span_equal(a->client, b->client);
    assert_span_equal(a->attachment, b->attachment);
    assert_span_equal(a->early, b->early);
    assert_int_equal(a->pmd_on, b->pmd_on);
    assert_int_equal(a->pmd_snt, b->pmd_snt);
    assert_int_equal(a->pmd_cnt, b->pmd_cnt);
    assert_int_equal(a->pmd_sbits, b->pmd_sbits);
    assert_int_equal(a->pmd_cbits, b->pmd_cbits);
    assert_span_equal(a->def_window, b->def_window);
    assert_span_equal(a->inf_window, b->inf_window);
    assert_int_equal(a->ntags, b->ntags);
    for (uint8_t i = 0; i < a->ntags; i++) {
        assert_span_equal(a->tags[i], b->tags[i]);
    }
    assert_int_equal(a->nrules, b->nrules);
    for (uint8_t i = 0; i < a->nrules; i++) {
        assert_int_equal(a->rules[i].req_kind, b->rules[i].req_kind);
        assert_int_equal(a->rules[i].resp_kind, b->rules[i].resp_kind);
        assert_span_equal(a->rules[i].req, b->rules[i].req);
        assert_span_equal(a->rules[i].resp, b->rules[i].resp);
    }
}

static void round_trip(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    struct handover_state st = sample(), got;
    size_t n = handover_encode(buf, sizeof buf, &st);
    assert_int_equal(n, handover_size(&st));
    assert_int_not_equal(n, 0);
    assert_int_equal(handover_decode(buf, n, &got), 0);
    assert_int_equal(got.version, HANDOVER_VERSION);
    check_equal(&got, &st);
    /* the layout's start is pinned: version 1, flags 3, group_left 513, the age, big-endian */
    static const uint8_t head[] = { 0, 1, 0, 3, 2, 1, 1, 2, 3, 4, 5, 6, 7, 8 };
    assert_memory_equal(buf, head, sizeof head);
}

static void empty_state_round_trip(void **state)
{
    (void)state;
    uint8_t buf[256];
    struct handover_state st = { 0 }, got;
    size_t n = handover_encode(buf, sizeof buf, &st);
    assert_int_equal(n, 2 + 2 + 2 + 32 + 16 + 2 + 2 + 4 + 4 + 5 + 2 + 2 + 1 + 1);
    assert_int_equal(handover_decode(buf, n, &got), 0);
    check_equal(&got, &st);
}

static void largest_state_fits_a_message(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    static char big[DURO_WS_READ_BUF_BYTES];
    memset(big, 'x', sizeof big);
    struct handover_state st = {
        .protocol = { big, DURO_WS_PROTOCOL_MAX_BYTES },
        .client = { big, 64 },
        .attachment = { big, DURO_ATTACHMENT_MAX_BYTES },
        .early = { big, DURO_WS_READ_BUF_BYTES },
        .pmd_on = 1, .pmd_sbits = 15, .pmd_cbits = 15,
        .def_window = { big, HANDOVER_WINDOW_MAX_BYTES },
        .inf_window = { big, HANDOVER_WINDOW_MAX_BYTES },
        .ntags = DURO_TAGS_MAX_COUNT,
        .nrules = DURO_AUTO_RULES_MAX_COUNT,
    };
    for (unsigned i = 0; i < DURO_TAGS_MAX_COUNT; i++) {
        st.tags[i] = (struct msg_span){ big, DURO_TAG_MAX_BYTES };
    }
    for (unsigned i = 0; i < DURO_AUTO_RULES_MAX_COUNT; i++) {
        st.rules[i] = (struct handover_rule){ DURO_TEXT, DURO_BINARY,
                                              { big, DURO_AUTO_RESPONSE_MAX_BYTES },
                                              { big, DURO_AUTO_RESPONSE_MAX_BYTES } };
    }
    size_t n = handover_encode(buf, sizeof buf, &st);
    assert_int_not_equal(n, 0);
    assert_true(n <= DURO_HANDOVER_STATE_MAX_BYTES);
    struct handover_state got;
    assert_int_equal(handover_decode(buf, n, &got), 0);
    check_equal(&got, &st);
}

static void every_cut_and_any_trailer_refused(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    struct handover_state st = sample(), got;
    size_t n = handover_encode(buf, sizeof buf, &st);
    for (size_t cut = 0; cut < n; cut++) {
        if (handover_decode(buf, cut, &got) != -1) {
            fail_msg("cut at %zu of %zu decoded", cut, n);
        }
    }
    buf[n] = 0;
    assert_int_equal(handover_decode(buf, n + 1, &got), -1);
    /* the encoder needs its whole capacity */
    assert_int_equal(handover_encode(buf, n - 1, &st), 0);
}

static void unknown_version_refused(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    struct handover_state st = sample(), got;
    size_t n = handover_encode(buf, sizeof buf, &st);
    buf[1] = 2;
    assert_int_equal(handover_decode(buf, n, &got), -1);
    buf[1] = 0;
    assert_int_equal(handover_decode(buf, n, &got), -1);
}

/* Bounds: the encoder refuses each one, and the decoder refuses the same field written by
 * hand (the byte at `at` patched in a valid encoding). */
static void bounds_on_both_sides(void **state)
{
    (void)state;
    static uint8_t buf[CAP];
    static char big[DURO_ATTACHMENT_MAX_BYTES + 1];
    struct handover_state st, got;

    st = sample();
    st.attachment = (struct msg_span){ big, sizeof big };
    assert_int_equal(handover_size(&st), 0);
    st = sample();
    st.tags[1] = span("");
    assert_int_equal(handover_size(&st), 0);
    st = sample();
    st.ntags = DURO_TAGS_MAX_COUNT + 1;
    assert_int_equal(handover_size(&st), 0);
    st = sample();
    st.rules[0].req_kind = 9;
    assert_int_equal(handover_size(&st), 0);
    st = sample();
    st.pmd_sbits = 16;
    assert_int_equal(handover_size(&st), 0);
    st = sample();
    st.flags = 4;
    assert_int_equal(handover_size(&st), 0);
    /* no window without the extension, none for a direction that resets per message */
    st = sample();
    st.pmd_on = 0;
    assert_int_equal(handover_size(&st), 0);
    st = sample();
    st.pmd_snt = 1;
    assert_int_equal(handover_size(&st), 0);
    st.def_window = span("");
    assert_int_not_equal(handover_size(&st), 0);

    /* decoder: unknown flag bit; window bits out of range */
    st = sample();
    size_t n = handover_encode(buf, sizeof buf, &st);
    buf[3] = 0x07;
    assert_int_equal(handover_decode(buf, n, &got), -1);
    n = handover_encode(buf, sizeof buf, &st);
    size_t pmd_at = 54 + 2 + st.protocol.len + 2 + st.client.len + 4 + st.attachment.len + 4 +
                    st.early.len;
    assert_int_equal(buf[pmd_at], 1);
    assert_int_equal(buf[pmd_at + 3], 10);
    buf[pmd_at + 3] = 7;
    assert_int_equal(handover_decode(buf, n, &got), -1);
    buf[pmd_at + 3] = 10;
    assert_int_equal(handover_decode(buf, n, &got), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(empty_state_round_trip),
        cmocka_unit_test(largest_state_fits_a_message),
        cmocka_unit_test(every_cut_and_any_trailer_refused),
        cmocka_unit_test(unknown_version_refused),
        cmocka_unit_test(bounds_on_both_sides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_pmd.c: permessage-deflate negotiation (RFC 7692 5, 7) and the zlib codec:
 * round trips in both modes, the 00 00 ff ff tail, a bomb stopped at the limit, corrupt input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/duro_limits.h"
#include "worker/pmd.h"

static const char STATELESS[] =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

static int neg(const char *offer, enum pmd_mode mode, struct pmd_params *p, char *ans)
{
    size_t n = 0;
    int r = pmd_negotiate(offer, strlen(offer), mode, 10, p, ans, &n);
    ans[n] = '\0';
    return r;
}

static void stateless_answers_no_takeover_both_ways(void **state)
{
    (void)state;
    struct pmd_params p;
    char ans[PMD_ANSWER_MAX_BYTES + 1];
    assert_int_equal(neg("permessage-deflate", PMD_STATELESS, &p, ans), 1);
    assert_string_equal(ans, STATELESS);
    assert_int_equal(p.on, 1);
    assert_int_equal(p.server_no_takeover, 1);
    assert_int_equal(p.client_no_takeover, 1);
    assert_int_equal(p.server_window_bits, 15);
    /* what browsers send */
    assert_int_equal(neg("permessage-deflate; client_max_window_bits", PMD_STATELESS, &p, ans), 1);
    assert_string_equal(ans, STATELESS);
    /* a server window asked for is honoured and answered */
    assert_int_equal(neg("permessage-deflate; server_max_window_bits=12", PMD_STATELESS, &p,
                         ans), 1);
    assert_string_equal(ans, "permessage-deflate; server_no_context_takeover; "
                             "client_no_context_takeover; server_max_window_bits=12");
    assert_int_equal(p.server_window_bits, 12);
}

static void off_declines_everything(void **state)
{
    (void)state;
    struct pmd_params p;
    char ans[PMD_ANSWER_MAX_BYTES + 1];
    assert_int_equal(neg("permessage-deflate", PMD_OFF, &p, ans), 0);
    assert_int_equal(p.on, 0);
    assert_string_equal(ans, "");
}

static void bad_offers_declined_and_next_tried(void **state)
{
    (void)state;
    struct pmd_params p;
    char ans[PMD_ANSWER_MAX_BYTES + 1];
    static const char *const declined[] = {
        "permessage-deflate; foo",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
        "permessage-deflate; server_max_window_bits=123456789012",
        "x-webkit-deflate-frame",
        "foo, bar; baz=1",
        "permessage-deflate; client_max_window_bits=\"1", /* unterminated quote */
        "permessage-deflate;",
        ";permessage-deflate",
        "",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        assert_int_equal(neg(declined[i], PMD_STATELESS, &p, ans), 0);
        assert_int_equal(p.on, 0);
    }
    /* the first acceptable offer wins: the bad one before it is skipped */
    assert_int_equal(neg("permessage-deflate; foo, permessage-deflate; server_max_window_bits=11",
                         PMD_STATELESS, &p, ans), 1);
    assert_int_equal(p.server_window_bits, 11);
    assert_int_equal(neg("foo; a=b, permessage-deflate", PMD_STATELESS, &p, ans), 1);
    assert_string_equal(ans, STATELESS);
}

static void quoted_values_and_case(void **state)
{
    (void)state;
    struct pmd_params p;
    char ans[PMD_ANSWER_MAX_BYTES + 1];
    assert_int_equal(neg("Permessage-Deflate ; server_max_window_bits=\"10\"", PMD_STATELESS, &p,
                         ans), 1);
    assert_int_equal(p.server_window_bits, 10);
    assert_int_equal(neg("permessage-deflate;client_max_window_bits=\"9\"", PMD_TAKEOVER, &p,
                         ans), 1);
    assert_int_equal(p.client_window_bits, 9);
}

static void takeover_keeps_windows_small(void **state)
{
    (void)state;
    struct pmd_params p;
    char ans[PMD_ANSWER_MAX_BYTES + 1];
    assert_int_equal(neg("permessage-deflate; client_max_window_bits", PMD_TAKEOVER, &p, ans), 1);
    assert_string_equal(ans, "permessage-deflate; server_max_window_bits=10; "
                             "client_max_window_bits=10");
    assert_int_equal(p.server_no_takeover, 0);
    assert_int_equal(p.client_no_takeover, 0);
    assert_int_equal(p.server_window_bits, 10);
    assert_int_equal(p.client_window_bits, 10);
    /* without client_max_window_bits duro may not limit the client's window */
    assert_int_equal(neg("permessage-deflate", PMD_TAKEOVER, &p, ans), 1);
    assert_string_equal(ans, "permessage-deflate; server_max_window_bits=10");
    assert_int_equal(p.client_window_bits, 15);
    /* what the client asks for is honoured */
    assert_int_equal(neg("permessage-deflate; server_no_context_takeover; "
                         "client_no_context_takeover; server_max_window_bits=9", PMD_TAKEOVER,
                         &p, ans), 1);
    assert_string_equal(ans, "permessage-deflate; server_no_context_takeover; "
                             "client_no_context_takeover; server_max_window_bits=9");
    assert_int_equal(p.server_window_bits, 9);
}

static const struct pmd_level LEVEL = { DURO_DEFLATE_LEVEL, DURO_DEFLATE_MEM_LEVEL_SHARED };

static void roundtrip(struct pmd_codec *tx, struct pmd_codec *rx, const struct pmd_params *p,
                      const uint8_t *msg, size_t len, int reset)
{
    const void *bases[2] = { msg, msg + len / 2 };
    size_t lens[2] = { len / 2, len - len / 2 };
    const uint8_t *out;
    size_t olen;
    assert_int_equal(pmd_deflate(tx, p, &LEVEL, bases, lens, 2, reset, &out, &olen), PMD_OK);
    if (olen >= 4) {
        assert_false(memcmp(out + olen - 4, "\x00\x00\xff\xff", 4) == 0);
    }
    /* the payload split over two frames */
    uint8_t *copy = malloc(olen + 1);
    memcpy(copy, out, olen);
    assert_int_equal(pmd_inflate_feed(rx, p, copy, olen / 2, 0, 1u << 20), PMD_OK);
    assert_int_equal(pmd_inflate_feed(rx, p, copy + olen / 2, olen - olen / 2, 1, 1u << 20),
                     PMD_OK);
    size_t got;
    const uint8_t *inflated = pmd_inflated(rx, &got);
    assert_int_equal(got, len);
    if (len > 0) {
        assert_memory_equal(inflated, msg, len);
    }
    pmd_inflate_done(rx, reset);
    free(copy);
}

static void codec_round_trips_both_modes(void **state)
{
    (void)state;
    size_t sizes[] = { 0, 1, 32, 4096, 200000 };
    uint8_t *msg = malloc(200000);
    for (size_t i = 0; i < 200000; i++) {
        msg[i] = (uint8_t)("{\"user\":\"ann\",\"text\":\"hello\"}"[i % 29] + (i / 4096));
    }
    for (int mode = 0; mode < 2; mode++) {
        struct pmd_params p = { .on = 1, .server_no_takeover = (uint8_t)!mode,
                                .client_no_takeover = (uint8_t)!mode,
                                .server_window_bits = mode ? 10 : 15,
                                .client_window_bits = mode ? 10 : 15 };
        struct pmd_codec tx = { 0 }, rx = { 0 };
        for (int round = 0; round < 3; round++) {
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
                roundtrip(&tx, &rx, &p, msg, sizes[s], !mode);
            }
        }
        assert_true(pmd_codec_bytes(&tx) > 0);
        pmd_codec_free(&tx);
        pmd_codec_free(&rx);
        assert_int_equal(pmd_codec_bytes(&tx), 0);
    }
    free(msg);
}

/* A hand-over (worker/handover.h): a codec restored from another's windows goes on exactly
 * where that one stopped, in both directions. `a` talks to the peer `peer_rx`/`peer_tx` for a
 * few messages, then `b` takes over with a's windows: the peer, which kept its own streams,
 * inflates what b compresses and b inflates what the peer compresses (back-references into the
 * window included), and b compresses as well as a would have. */
static void restored_codec_continues_both_streams(void **state)
{
    (void)state;
    const char *m = "{\"type\":\"chat\",\"room\":\"lobby\",\"text\":\"the same line again\"}";
    size_t len = strlen(m);
    struct pmd_params p = { .on = 1, .server_window_bits = 10, .client_window_bits = 10 };
    struct pmd_codec a = { 0 }, b = { 0 }, peer_rx = { 0 }, peer_tx = { 0 };
    for (int i = 0; i < 3; i++) {
        roundtrip(&a, &peer_rx, &p, (const uint8_t *)m, len, 0);
        roundtrip(&peer_tx, &a, &p, (const uint8_t *)m, len, 0);
    }
    static uint8_t dw[32768], iw[32768];
    size_t dl = pmd_codec_window(&a, 1, dw);
    size_t il = pmd_codec_window(&a, 0, iw);
    assert_int_equal(dl, 3 * len);
    assert_int_equal(il, 3 * len);
    assert_memory_equal(dw + dl - len, m, len);
    /* what a's next message would cost */
    const void *base = m;
    const uint8_t *out;
    size_t a_next, b_next;
    struct pmd_codec probe = { 0 };
    assert_int_equal(pmd_codec_restore(&probe, &p, &LEVEL, dw, dl, NULL, 0), 0);
    assert_int_equal(pmd_deflate(&a, &p, &LEVEL, &base, &len, 1, 0, &out, &a_next), PMD_OK);
    assert_int_equal(pmd_deflate(&probe, &p, &LEVEL, &base, &len, 1, 0, &out, &b_next), PMD_OK);
    assert_int_equal(b_next, a_next); /* the window is all there is to a deflate stream here */
    pmd_codec_free(&probe);
    pmd_codec_free(&a);
    /* b takes over: the peer's streams are as they were after the three round trips */
    assert_int_equal(pmd_codec_restore(&b, &p, &LEVEL, dw, dl, iw, il), 0);
    for (int i = 0; i < 3; i++) {
        roundtrip(&b, &peer_rx, &p, (const uint8_t *)m, len, 0);
        roundtrip(&peer_tx, &b, &p, (const uint8_t *)m, len, 0);
    }
    /* never used streams have no window */
    struct pmd_codec none = { 0 };
    assert_int_equal(pmd_codec_window(&none, 1, dw), 0);
    assert_int_equal(pmd_codec_window(&none, 0, iw), 0);
    pmd_codec_free(&b);
    pmd_codec_free(&peer_rx);
    pmd_codec_free(&peer_tx);
}

static void takeover_compresses_repeats_better(void **state)
{
    (void)state;
    const char *m = "{\"type\":\"chat\",\"room\":\"lobby\",\"text\":\"the same line again\"}";
    const void *base = m;
    size_t len = strlen(m);
    struct pmd_params p = { .on = 1, .server_window_bits = 10, .client_window_bits = 10 };
    struct pmd_codec c = { 0 };
    const uint8_t *out;
    size_t first, second;
    assert_int_equal(pmd_deflate(&c, &p, &LEVEL, &base, &len, 1, 0, &out, &first), PMD_OK);
    assert_int_equal(pmd_deflate(&c, &p, &LEVEL, &base, &len, 1, 0, &out, &second), PMD_OK);
    assert_true(second < first / 2); /* the window remembers the first copy */
    size_t third;
    assert_int_equal(pmd_deflate(&c, &p, &LEVEL, &base, &len, 1, 1, &out, &third), PMD_OK);
    assert_int_equal(third, first); /* reset: as if it were the first */
    pmd_codec_free(&c);
}

static void trim_keeps_the_windows(void **state)
{
    (void)state;
    const char *m = "{\"type\":\"chat\",\"room\":\"lobby\",\"text\":\"the same line again\"}";
    const void *base = m;
    size_t len = strlen(m);
    struct pmd_params p = { .on = 1, .server_window_bits = 10, .client_window_bits = 10 };
    struct pmd_codec tx = { 0 }, rx = { 0 };
    const uint8_t *out;
    size_t first, second, got;
    assert_int_equal(pmd_deflate(&tx, &p, &LEVEL, &base, &len, 1, 0, &out, &first), PMD_OK);
    assert_int_equal(pmd_inflate_feed(&rx, &p, out, first, 1, 1u << 20), PMD_OK);
    pmd_inflate_done(&rx, 0);
    size_t held = pmd_codec_bytes(&tx) + pmd_codec_bytes(&rx);
    pmd_codec_trim(&tx);
    pmd_codec_trim(&rx);
    assert_null(tx.out);
    assert_null(rx.msg);
    assert_true(pmd_codec_bytes(&tx) + pmd_codec_bytes(&rx) + 2 * DURO_DEFLATE_BUF_MIN_BYTES <=
                held);
    /* the windows survived: the repeat is still small and still inflates */
    assert_int_equal(pmd_deflate(&tx, &p, &LEVEL, &base, &len, 1, 0, &out, &second), PMD_OK);
    assert_true(second < first / 2);
    assert_int_equal(pmd_inflate_feed(&rx, &p, out, second, 1, 1u << 20), PMD_OK);
    const uint8_t *in = pmd_inflated(&rx, &got);
    assert_int_equal(got, len);
    assert_memory_equal(in, m, len);
    pmd_codec_free(&tx);
    pmd_codec_free(&rx);
}

static void bomb_stops_at_the_limit(void **state)
{
    (void)state;
    /* 64 MiB of zeros compress to about 64 KiB; the limit is 1 MiB */
    size_t big = 64u << 20;
    uint8_t *zeros = calloc(1, big);
    const void *base = zeros;
    struct pmd_params p = { .on = 1, .server_no_takeover = 1, .client_no_takeover = 1,
                            .server_window_bits = 15, .client_window_bits = 15 };
    struct pmd_codec tx = { 0 }, rx = { 0 };
    const uint8_t *out;
    size_t olen;
    assert_int_equal(pmd_deflate(&tx, &p, &LEVEL, &base, &big, 1, 1, &out, &olen), PMD_OK);
    free(zeros);
    assert_true(olen < (1u << 20));
    assert_int_equal(pmd_inflate_feed(&rx, &p, out, olen, 1, 1u << 20), PMD_TOO_BIG);
    assert_true(rx.msg_cap <= (1u << 20) + 1);
    /* exactly at the limit is fine */
    size_t exact = 1u << 20;
    uint8_t *one = calloc(1, exact);
    base = one;
    assert_int_equal(pmd_deflate(&tx, &p, &LEVEL, &base, &exact, 1, 1, &out, &olen), PMD_OK);
    assert_int_equal(pmd_inflate_feed(&rx, &p, out, olen, 1, 1u << 20), PMD_OK);
    size_t got;
    (void)pmd_inflated(&rx, &got);
    assert_int_equal(got, exact);
    pmd_inflate_done(&rx, 1);
    free(one);
    pmd_codec_free(&tx);
    pmd_codec_free(&rx);
}

static void corrupt_stream_is_refused(void **state)
{
    (void)state;
    struct pmd_params p = { .on = 1, .server_no_takeover = 1, .client_no_takeover = 1,
                            .server_window_bits = 15, .client_window_bits = 15 };
    struct pmd_codec rx = { 0 };
    static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x00, 0x12 };
    assert_int_equal(pmd_inflate_feed(&rx, &p, junk, sizeof junk, 1, 1u << 20), PMD_CORRUPT);
    /* the inflater is usable again afterwards: "Hello" from RFC 7692 7.2.3.1 */
    static const uint8_t hello[] = { 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
    assert_int_equal(pmd_inflate_feed(&rx, &p, hello, sizeof hello, 1, 1u << 20), PMD_OK);
    size_t got;
    const uint8_t *m = pmd_inflated(&rx, &got);
    assert_int_equal(got, 5);
    assert_memory_equal(m, "Hello", 5);
    pmd_inflate_done(&rx, 1);
    /* RFC 7692 7.2.3.3: a stored block, and 7.2.3.2's BFINAL=1 form */
    static const uint8_t stored[] = { 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                                      0x00 };
    assert_int_equal(pmd_inflate_feed(&rx, &p, stored, sizeof stored, 1, 1u << 20), PMD_OK);
    m = pmd_inflated(&rx, &got);
    assert_int_equal(got, 5);
    assert_memory_equal(m, "Hello", 5);
    pmd_inflate_done(&rx, 1);
    static const uint8_t final[] = { 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00 };
    assert_int_equal(pmd_inflate_feed(&rx, &p, final, sizeof final, 1, 1u << 20), PMD_OK);
    m = pmd_inflated(&rx, &got);
    assert_int_equal(got, 5);
    assert_memory_equal(m, "Hello", 5);
    pmd_codec_free(&rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stateless_answers_no_takeover_both_ways),
        cmocka_unit_test(off_declines_everything),
        cmocka_unit_test(bad_offers_declined_and_next_tried),
        cmocka_unit_test(quoted_values_and_case),
        cmocka_unit_test(takeover_keeps_windows_small),
        cmocka_unit_test(codec_round_trips_both_modes),
        cmocka_unit_test(takeover_compresses_repeats_better),
        cmocka_unit_test(restored_codec_continues_both_streams),
        cmocka_unit_test(trim_keeps_the_windows),
        cmocka_unit_test(bomb_stops_at_the_limit),
        cmocka_unit_test(corrupt_stream_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

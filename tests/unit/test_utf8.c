/* tests/unit/test_utf8.c: the incremental UTF-8 validator against RFC 3629 and an independent
 * decode-based reference, whole and split at every byte boundary. */
#include "common/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct sample {
    const char *what;
    const char *bytes;
    size_t len;
    long bad_at; /* index of the first invalid byte, -1 when none */
    int complete; /* ends on a character boundary (meaningful when bad_at is -1) */
};

#define S(what, lit, bad, complete) { what, lit, sizeof(lit) - 1, bad, complete }

static const struct sample samples[] = {
    S("empty", "", -1, 1),
    S("ascii", "hello, world", -1, 1),
    S("ascii over the 8-byte fast path", "0123456789abcdefghijklmnopqrstuvwxyz", -1, 1),
    S("NUL is valid", "a\x00z", -1, 1),
    S("U+007F", "\x7f", -1, 1),
    S("U+0080, smallest 2-byte", "\xc2\x80", -1, 1),
    S("U+00E9 in text", "caf\xc3\xa9!", -1, 1),
    S("U+07FF, largest 2-byte", "\xdf\xbf", -1, 1),
    S("U+0800, smallest 3-byte", "\xe0\xa0\x80", -1, 1),
    S("U+20AC euro", "\xe2\x82\xac", -1, 1),
    S("U+D7FF, below the surrogates", "\xed\x9f\xbf", -1, 1),
    S("U+E000, above the surrogates", "\xee\x80\x80", -1, 1),
    S("U+FFFD", "\xef\xbf\xbd", -1, 1),
    S("U+FFFF", "\xef\xbf\xbf", -1, 1),
    S("U+10000, smallest 4-byte", "\xf0\x90\x80\x80", -1, 1),
    S("U+1F600", "\xf0\x9f\x98\x80", -1, 1),
    S("U+10FFFF, largest", "\xf4\x8f\xbf\xbf", -1, 1),
    S("multibyte after 9 ascii", "123456789\xf0\x9f\x98\x80xyz", -1, 1),
    S("mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", -1, 1),

    S("truncated 2-byte", "ab\xc3", -1, 0),
    S("truncated 3-byte after 1", "\xe2", -1, 0),
    S("truncated 3-byte after 2", "\xe2\x82", -1, 0),
    S("truncated 4-byte after 3", "\xf0\x9f\x98", -1, 0),
    S("truncated U+10FFFF", "\xf4\x8f\xbf", -1, 0),

    S("lone continuation 0x80", "\x80", 0, 0),
    S("lone continuation 0xBF after ascii", "abc\xbf", 3, 0),
    S("continuation after a full char", "\xc3\xa9\x80", 2, 0),
    S("overlong NUL C0 80", "\xc0\x80", 0, 0),
    S("overlong C1 BF", "\xc1\xbf", 0, 0),
    S("overlong 3-byte E0 80 80", "\xe0\x80\x80", 1, 0),
    S("overlong 3-byte E0 9F BF", "\xe0\x9f\xbf", 1, 0),
    S("overlong 4-byte F0 80 80 80", "\xf0\x80\x80\x80", 1, 0),
    S("overlong 4-byte F0 8F BF BF", "\xf0\x8f\xbf\xbf", 1, 0),
    S("surrogate U+D800", "\xed\xa0\x80", 1, 0),
    S("surrogate U+DBFF", "\xed\xaf\xbf", 1, 0),
    S("surrogate U+DC00", "\xed\xb0\x80", 1, 0),
    S("surrogate U+DFFF", "\xed\xbf\xbf", 1, 0),
    S("surrogate pair, CESU-8", "\xed\xa0\xbd\xed\xb8\x80", 1, 0),
    S("U+110000 F4 90 80 80", "\xf4\x90\x80\x80", 1, 0),
    S("F5 lead", "\xf5\x80\x80\x80", 0, 0),
    S("F7 lead", "\xf7\xbf\xbf\xbf", 0, 0),
    S("F8 5-byte lead", "\xf8\x88\x80\x80\x80", 0, 0),
    S("FC 6-byte lead", "\xfc\x84\x80\x80\x80\x80", 0, 0),
    S("FE", "\xfe", 0, 0),
    S("FF", "x\xff", 1, 0),
    S("2-byte cut by ascii", "\xc3\x41", 1, 0),
    S("3-byte cut by ascii", "\xe2\x82\x41", 2, 0),
    S("4-byte cut by ascii", "\xf0\x9f\x98\x41", 3, 0),
    S("3-byte cut by a new lead", "\xe2\xc3\xa9", 1, 0),
    S("invalid after 9 ascii", "123456789\xff", 9, 0),
    S("invalid after 16 ascii", "0123456789abcdef\x80rest", 16, 0),
    S("invalid after a valid prefix", "caf\xc3\xa9 \xed\xa0\x80", 7, 0),
};

/* An independent reference: decode each character, then judge its code point. */
static int ref_valid(const uint8_t *p, size_t n)
{
    static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t i = 0;

    while (i < n) {
        uint8_t b = p[i];
        size_t len;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2;
            cp = b & 0x1Fu;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3;
            cp = b & 0x0Fu;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4;
            cp = b & 0x07u;
        } else {
            return 0;
        }
        if (n - i < len) {
            return 0;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return 0;
        }
        i += len;
    }
    return 1;
}

/* Encodes any value up to 0x10FFFF, surrogates included (the way a buggy encoder would). */
static size_t encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Feeds `p` in pieces cut at `cuts` (ascending, each in [0, n]). Returns the verdict
 * "valid and complete". */
static int feed_pieces(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts)
{
    struct utf8_state st = { 0 };
    size_t at = 0;

    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        if (utf8_feed(&st, p + at, end - at) != 0) {
            return 0;
        }
        at = end;
    }
    return utf8_complete(&st);
}

static void samples_whole(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const struct sample *s = &samples[i];
        const uint8_t *p = (const uint8_t *)s->bytes;
        struct utf8_state st = { 0 };
        int expect_valid = s->bad_at < 0 && s->complete;
        int fed = utf8_feed(&st, p, s->len);

        if (utf8_valid(p, s->len) != expect_valid || ref_valid(p, s->len) != expect_valid) {
            fail_msg("%s: utf8_valid %d, reference %d, expected %d", s->what,
                     utf8_valid(p, s->len), ref_valid(p, s->len), expect_valid);
        }
        if (fed != (s->bad_at < 0 ? 0 : -1)) {
            fail_msg("%s: utf8_feed returned %d", s->what, fed);
        }
        if (s->bad_at < 0 && utf8_complete(&st) != s->complete) {
            fail_msg("%s: utf8_complete is %d", s->what, utf8_complete(&st));
        }
    }
}

/* RFC 6455 8.1 fails the connection at the first invalid byte: every byte before it is
 * accepted, in one piece or byte by byte, and that byte is refused. */
static void samples_fail_at_first_invalid_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const struct sample *s = &samples[i];
        const uint8_t *p = (const uint8_t *)s->bytes;
        if (s->bad_at < 0) {
            continue;
        }
        size_t bad = (size_t)s->bad_at;

        struct utf8_state before = { 0 };
        struct utf8_state upto = { 0 };
        if (utf8_feed(&before, p, bad) != 0 || utf8_feed(&upto, p, bad + 1) != -1) {
            fail_msg("%s: not refused exactly at byte %zu", s->what, bad);
        }
        struct utf8_state st = { 0 };
        for (size_t k = 0; k <= bad; k++) {
            int rc = utf8_feed(&st, p + k, 1);
            if (rc != (k == bad ? -1 : 0)) {
                fail_msg("%s: byte by byte, byte %zu gave %d", s->what, k, rc);
            }
        }
    }
}

static void samples_split_everywhere(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        const struct sample *s = &samples[i];
        const uint8_t *p = (const uint8_t *)s->bytes;
        int expect = utf8_valid(p, s->len);

        for (size_t a = 0; a <= s->len; a++) {
            size_t one[1] = { a };
            if (feed_pieces(p, s->len, one, 1) != expect) {
                fail_msg("%s: split at %zu gives another verdict", s->what, a);
            }
            for (size_t b = a; b <= s->len; b++) {
                size_t two[2] = { a, b };
                if (feed_pieces(p, s->len, two, 2) != expect) {
                    fail_msg("%s: split at %zu and %zu gives another verdict", s->what, a, b);
                }
            }
        }
    }
}

/* Every code point, encoded: valid unless it is a surrogate; and valid split inside. */
static void every_code_point(void **state)
{
    (void)state;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t b[4];
        size_t n = encode(cp, b);
        int expect = !(cp >= 0xD800 && cp <= 0xDFFF);
        if (utf8_valid(b, n) != expect) {
            fail_msg("U+%04X: utf8_valid gave %d, expected %d", (unsigned)cp, !expect, expect);
        }
        for (size_t cut = 1; cut < n; cut++) {
            size_t cuts[1] = { cut };
            if (feed_pieces(b, n, cuts, 1) != expect) {
                fail_msg("U+%04X split at %zu: verdict differs", (unsigned)cp, cut);
            }
        }
    }
}

/* All 1-, 2- and 3-byte strings agree with the reference. */
static void exhaustive_short_strings(void **state)
{
    (void)state;
    uint8_t b[3];
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        assert_int_equal(utf8_valid(b, 1), ref_valid(b, 1));
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            assert_int_equal(utf8_valid(b, 2), ref_valid(b, 2));
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (uint8_t)z;
                if (utf8_valid(b, 3) != ref_valid(b, 3)) {
                    fail_msg("%02x %02x %02x: utf8_valid disagrees with the reference", x, y, z);
                }
            }
        }
    }
}

/* 4-byte strings with every lead and second byte, and edge values in the last two. */
static void four_byte_edges(void **state)
{
    (void)state;
    static const uint8_t edge[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F,
                                    0xA0, 0xBF, 0xC0, 0xC2, 0xF0, 0xFF };
    uint8_t b[4];
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            for (size_t i = 0; i < sizeof edge; i++) {
                b[2] = edge[i];
                for (size_t j = 0; j < sizeof edge; j++) {
                    b[3] = edge[j];
                    if (utf8_valid(b, 4) != ref_valid(b, 4)) {
                        fail_msg("%02x %02x %02x %02x: disagrees with the reference", b[0],
                                 b[1], b[2], b[3]);
                    }
                }
            }
        }
    }
}

/* Pseudo-random UTF-8-ish text (fixed seed), long enough to cross the 8-byte fast path at
 * every alignment, whole and split at every boundary. */
static void random_text_split_everywhere(void **state)
{
    (void)state;
    static const uint32_t picks[] = { 'a', 'Z', ' ', 0x7F, 0x80, 0xE9, 0x7FF, 0x800, 0x20AC,
                                      0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFF, 0x10000,
                                      0x1F600, 0x10FFFF };
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    uint8_t buf[96];

    for (int round = 0; round < 400; round++) {
        size_t n = 0;
        while (n + 4 <= sizeof buf) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(rng >> 33);
            if (r % 4 != 0) {
                buf[n++] = (uint8_t)('a' + r % 26); /* mostly ASCII, as real text is */
            } else {
                n += encode(picks[(r / 4) % (sizeof picks / sizeof picks[0])], buf + n);
            }
        }
        if (round % 3 == 0) {
            buf[(size_t)round * 7 % n] = (uint8_t)(0x80 + round % 0x80); /* stray byte */
        }
        int expect = ref_valid(buf, n);
        assert_int_equal(utf8_valid(buf, n), expect);
        for (size_t cut = 0; cut <= n; cut++) {
            size_t cuts[1] = { cut };
            assert_int_equal(feed_pieces(buf, n, cuts, 1), expect);
        }
        size_t every[sizeof buf];
        for (size_t k = 0; k < n; k++) {
            every[k] = k;
        }
        assert_int_equal(feed_pieces(buf, n, every, n), expect);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(samples_whole),
        cmocka_unit_test(samples_fail_at_first_invalid_byte),
        cmocka_unit_test(samples_split_everywhere),
        cmocka_unit_test(every_code_point),
        cmocka_unit_test(exhaustive_short_strings),
        cmocka_unit_test(four_byte_edges),
        cmocka_unit_test(random_text_split_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_wskey.c: Sec-WebSocket-Accept (RFC 6455 4.2.2) and Sec-WebSocket-Key checks.
 * Expected accept values were computed independently (Python hashlib + base64). */
#include "common/wskey.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/duro_limits.h"

#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static int valid(const char *key)
{
    return wskey_valid(key, strlen(key));
}

static void accept_rfc_sample(void **state)
{
    (void)state;
    char out[DURO_WS_ACCEPT_BYTES + 1];

    memset(out, 'X', sizeof out);
    wskey_accept(RFC_KEY, strlen(RFC_KEY), out);
    assert_string_equal(out, RFC_ACCEPT);
    assert_int_equal(strlen(out), DURO_WS_ACCEPT_BYTES);
}

static void accept_other_keys(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        const char *accept;
    } cases[] = {
        { "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" },
        { "AAAAAAAAAAAAAAAAAAAAAA==", "ICX+Yqv66kxgM0FcWaLWlFLwTAI=" },
        /* accept is a pure function of the bytes: it does not validate */
        { "", "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=" },
        { "not a key at all", "rsBfO7VYJe5gzK4ZnaEqwcz3eM0=" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[DURO_WS_ACCEPT_BYTES + 1];
        wskey_accept(cases[i].key, strlen(cases[i].key), out);
        assert_string_equal(out, cases[i].accept);
    }
}

static void accept_reads_only_key_len_bytes(void **state)
{
    (void)state;
    char out[DURO_WS_ACCEPT_BYTES + 1];

    wskey_accept(RFC_KEY "trailing", DURO_WS_KEY_BYTES, out);
    assert_string_equal(out, RFC_ACCEPT);
}

static void valid_accepts_well_formed_keys(void **state)
{
    (void)state;
    assert_true(valid(RFC_KEY));
    assert_true(valid("x3JJHMbDL1EzLkh9GBhXDw=="));
    assert_true(valid("AAAAAAAAAAAAAAAAAAAAAA=="));
    assert_true(valid("/+/+/+/+/+/+/+/+/+/+/w=="));
    /* only key_len bytes count */
    assert_true(wskey_valid(RFC_KEY "junk", DURO_WS_KEY_BYTES));
}

static void valid_rejects_wrong_lengths(void **state)
{
    (void)state;
    assert_false(valid(""));
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQ="));      /* 23 */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQ==="));    /* 25 */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQ"));       /* 22, no padding */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZXh5eg==")); /* 20 bytes of data */
    assert_false(valid("dGhlIHNhbXBsZSBub25j"));         /* 15 bytes, unpadded */
    assert_false(wskey_valid(RFC_KEY, DURO_WS_KEY_BYTES - 1));
}

static void valid_rejects_missing_padding(void **state)
{
    (void)state;
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQAA")); /* 18 bytes, no "==" */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQA=")); /* 17 bytes */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZ=A="));
    assert_false(valid("dGhlIHNhbXBsZSBub25jZQ=A"));
}

static void valid_rejects_bad_characters(void **state)
{
    (void)state;
    assert_false(valid("dGhlIHNhbXBsZSBub25jZ!=="));
    assert_false(valid("dGhl IHNhbXBsZSBub25jZ=="));   /* space */
    assert_false(valid("dGhlIHNhbXBsZSBub25j\tQ=="));  /* tab */
    assert_false(valid("dGhlIHNhbXBsZSBub25j\r\n=="));
    assert_false(valid("dGhlIHNhbXBsZSBub25jZ-=="));   /* base64url alphabet */
    assert_false(valid("dGhlIHNhbXBsZSBub25jZ_=="));
    assert_false(valid("dGhlIHNhbXBs=SBub25jZQ=="));   /* padding inside */
    assert_false(valid("========================"));
    assert_false(valid("dGhlIHNhbXBsZSBub25j\xc3\xa9==")); /* non-ASCII */
    assert_false(wskey_valid("dGhlIHNhbXBsZSBu\0b25jZ==", DURO_WS_KEY_BYTES)); /* NUL */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_rfc_sample),
        cmocka_unit_test(accept_other_keys),
        cmocka_unit_test(accept_reads_only_key_len_bytes),
        cmocka_unit_test(valid_accepts_well_formed_keys),
        cmocka_unit_test(valid_rejects_wrong_lengths),
        cmocka_unit_test(valid_rejects_missing_padding),
        cmocka_unit_test(valid_rejects_bad_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_proxy.c: the PROXY protocol parser (v1 text, v2 binary), fed whole and split
 * at every byte. */
#include "gateway/proxy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static const char v2_sig[12] = { '\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n' };

/* Every proper prefix needs more; the whole header parses and leaves what follows. */
static void parses_whole_and_waits(const char *wire, size_t len, size_t hdr_len, const char *want)
{
    char client[64];
    size_t used = 0;
    for (size_t cut = 0; cut < hdr_len; cut++) {
        assert_int_equal(proxy_parse(wire, cut, &used, client, sizeof client), PROXY_NEED_MORE);
    }
    assert_int_equal(proxy_parse(wire, len, &used, client, sizeof client), PROXY_OK);
    assert_int_equal(used, hdr_len);
    assert_string_equal(client, want);
}

static void v1_tcp4_tcp6_unknown(void **state)
{
    (void)state;
    const char *a = "PROXY TCP4 203.0.113.7 127.0.0.1 56324 8787\r\nGET / HTTP/1.1\r\n";
    parses_whole_and_waits(a, strlen(a), strlen(a) - 16, "203.0.113.7:56324");
    const char *b = "PROXY TCP6 2001:db8::1 ::1 4000 443\r\n";
    parses_whole_and_waits(b, strlen(b), strlen(b), "[2001:db8::1]:4000");
    const char *c = "PROXY UNKNOWN\r\n";
    parses_whole_and_waits(c, strlen(c), strlen(c), "");
    const char *d = "PROXY UNKNOWN ffff::1 ::1 1 2\r\n";
    parses_whole_and_waits(d, strlen(d), strlen(d), "");
}

static void v1_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "PROXY TCP4 1.2.3.4\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        "PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
        "PROXY TCP4 ::1 ::1 1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    };
    char client[64];
    size_t used;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(proxy_parse(bad[i], strlen(bad[i]), &used, client, sizeof client),
                         PROXY_BAD);
    }
    /* no CRLF within the longest v1 line */
    char longline[200];
    memset(longline, 'x', sizeof longline);
    memcpy(longline, "PROXY TCP4 ", 11);
    assert_int_equal(proxy_parse(longline, sizeof longline, &used, client, sizeof client),
                     PROXY_BAD);
}

static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *addr, size_t alen)
{
    memcpy(out, v2_sig, sizeof v2_sig);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(alen >> 8);
    out[15] = (uint8_t)alen;
    if (alen > 0) {
        memcpy(out + 16, addr, alen);
    }
    return 16 + alen;
}

static void v2_tcp4_tcp6_local_tlvs(void **state)
{
    (void)state;
    uint8_t wire[700];
    /* 198.51.100.9:40000 -> 127.0.0.1:8787, then a TLV (type 4 NOOP, 3 bytes) */
    static const uint8_t a4[] = { 198, 51, 100, 9, 127, 0, 0, 1, 0x9c, 0x40, 0x22, 0x53,
                                  0x04, 0x00, 0x03, 0, 0, 0 };
    size_t n = v2(wire, 0x21, 0x11, a4, sizeof a4);
    memcpy(wire + n, "GET", 3);
    parses_whole_and_waits((const char *)wire, n + 3, n, "198.51.100.9:40000");

    uint8_t a6[36] = { 0x20, 0x01, 0x0d, 0xb8 };
    a6[15] = 1;
    a6[31] = 1;
    a6[32] = 0x01;
    a6[33] = 0xbb;
    n = v2(wire, 0x21, 0x21, a6, sizeof a6);
    parses_whole_and_waits((const char *)wire, n, n, "[2001:db8::1]:443");

    n = v2(wire, 0x20, 0x00, NULL, 0); /* LOCAL: a health check */
    parses_whole_and_waits((const char *)wire, n, n, "");
}

static void v2_malformed(void **state)
{
    (void)state;
    uint8_t wire[700];
    uint8_t addr[600] = { 0 };
    char client[64];
    size_t used;

    size_t n = v2(wire, 0x11, 0x11, addr, 12); /* version 1 in a v2 header */
    assert_int_equal(proxy_parse((const char *)wire, n, &used, client, sizeof client), PROXY_BAD);
    n = v2(wire, 0x22, 0x11, addr, 12); /* command 2 */
    assert_int_equal(proxy_parse((const char *)wire, n, &used, client, sizeof client), PROXY_BAD);
    n = v2(wire, 0x21, 0x11, addr, 8); /* IPv4 addresses cut short */
    assert_int_equal(proxy_parse((const char *)wire, n, &used, client, sizeof client), PROXY_BAD);
    n = v2(wire, 0x21, 0x21, addr, 20); /* IPv6 cut short */
    assert_int_equal(proxy_parse((const char *)wire, n, &used, client, sizeof client), PROXY_BAD);
    n = v2(wire, 0x21, 0x41, addr, 12); /* unknown family */
    assert_int_equal(proxy_parse((const char *)wire, n, &used, client, sizeof client), PROXY_BAD);
    n = v2(wire, 0x21, 0x11, addr, sizeof addr); /* over DURO_PROXY_HEADER_MAX_BYTES */
    assert_int_equal(proxy_parse((const char *)wire, 16, &used, client, sizeof client), PROXY_BAD);
    wire[3] = 'x'; /* signature broken */
    assert_int_equal(proxy_parse((const char *)wire, 4, &used, client, sizeof client), PROXY_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_tcp4_tcp6_unknown),
        cmocka_unit_test(v1_malformed),
        cmocka_unit_test(v2_tcp4_tcp6_local_tlvs),
        cmocka_unit_test(v2_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

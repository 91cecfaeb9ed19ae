#include "gateway/proxy.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duro_limits.h"

static const char v2_sig[12] = { '\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n' };

#define V1_MAX_BYTES 107u /* proxy-protocol.txt 2.1: the longest v1 line, CRLF included */
#define V2_FIXED_BYTES 16u

/* Copies the space-separated word at `*p` (before `end`) into `out`. Returns its length, or 0. */
static size_t word(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    while (*p < end && **p != ' ' && **p != '\r') {
        if (n + 1 >= cap) {
            return 0;
        }
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    if (*p < end && **p == ' ') {
        (*p)++;
    }
    return n;
}

static int port_of(const char *s, unsigned *port)
{
    char *e;
    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] != '\0')) {
        return -1;
    }
    unsigned long v = strtoul(s, &e, 10);
    if (*e != '\0' || v > 65535) {
        return -1;
    }
    *port = (unsigned)v;
    return 0;
}

static enum proxy_result parse_v1(const char *buf, size_t len, size_t *used, char *client,
                                  size_t cap)
{
    const char *eol = memchr(buf, '\n', len < V1_MAX_BYTES ? len : V1_MAX_BYTES);
    if (eol == NULL) {
        return len >= V1_MAX_BYTES ? PROXY_BAD : PROXY_NEED_MORE;
    }
    if (eol == buf || eol[-1] != '\r') {
        return PROXY_BAD;
    }
    const char *p = buf + 6, *end = eol - 1;
    char proto[8], src[48], dst[48], sport[8], dport[8];
    if (word(&p, end, proto, sizeof proto) == 0) {
        return PROXY_BAD;
    }
    *used = (size_t)(eol + 1 - buf);
    if (strcmp(proto, "UNKNOWN") == 0) {
        client[0] = '\0'; /* the rest of the line is to be ignored */
        return PROXY_OK;
    }
    int v6 = strcmp(proto, "TCP6") == 0;
    if (!v6 && strcmp(proto, "TCP4") != 0) {
        return PROXY_BAD;
    }
    unsigned sp, dp;
    unsigned char addr[16];
    if (word(&p, end, src, sizeof src) == 0 || word(&p, end, dst, sizeof dst) == 0 ||
        word(&p, end, sport, sizeof sport) == 0 || word(&p, end, dport, sizeof dport) == 0 ||
        p != end || inet_pton(v6 ? AF_INET6 : AF_INET, src, addr) != 1 ||
        inet_pton(v6 ? AF_INET6 : AF_INET, dst, addr) != 1 || port_of(sport, &sp) != 0 ||
        port_of(dport, &dp) != 0) {
        return PROXY_BAD;
    }
    snprintf(client, cap, v6 ? "[%s]:%u" : "%s:%u", src, sp);
    return PROXY_OK;
}

static enum proxy_result parse_v2(const unsigned char *b, size_t len, size_t *used, char *client,
                                  size_t cap)
{
    if (len < V2_FIXED_BYTES) {
        return PROXY_NEED_MORE;
    }
    unsigned ver = b[12] >> 4, cmd = b[12] & 0x0fu, fam = b[13];
    size_t body = ((size_t)b[14] << 8) | b[15];
    if (ver != 2 || cmd > 1 || V2_FIXED_BYTES + body > DURO_PROXY_HEADER_MAX_BYTES) {
        return PROXY_BAD;
    }
    if (len < V2_FIXED_BYTES + body) {
        return PROXY_NEED_MORE;
    }
    *used = V2_FIXED_BYTES + body;
    client[0] = '\0';
    const unsigned char *a = b + V2_FIXED_BYTES;
    char ip[INET6_ADDRSTRLEN];
    if (cmd == 0) {
        return PROXY_OK; /* LOCAL: the proxy's own connection (a health check) */
    }
    if (fam == 0x11) { /* TCP over IPv4 */
        if (body < 12 || inet_ntop(AF_INET, a, ip, sizeof ip) == NULL) {
            return PROXY_BAD;
        }
        snprintf(client, cap, "%s:%u", ip, (unsigned)((a[8] << 8) | a[9]));
    } else if (fam == 0x21) { /* TCP over IPv6 */
        if (body < 36 || inet_ntop(AF_INET6, a, ip, sizeof ip) == NULL) {
            return PROXY_BAD;
        }
        snprintf(client, cap, "[%s]:%u", ip, (unsigned)((a[32] << 8) | a[33]));
    } else if (fam != 0x00 && fam != 0x31 && fam != 0x12 && fam != 0x22 && fam != 0x32) {
        return PROXY_BAD; /* UNSPEC, UNIX and UDP carry no TCP client: the peer is it */
    }
    return PROXY_OK;
}

enum proxy_result proxy_parse(const char *buf, size_t len, size_t *used, char *client,
                              size_t cap)
{
    /* Tell the versions apart as soon as the bytes allow, and refuse anything else early. */
    size_t n = len < sizeof v2_sig ? len : sizeof v2_sig;
    if (memcmp(buf, v2_sig, n) == 0) {
        if (len < sizeof v2_sig) {
            return PROXY_NEED_MORE;
        }
        return parse_v2((const unsigned char *)buf, len, used, client, cap);
    }
    n = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", n) != 0) {
        return PROXY_BAD;
    }
    if (len < 6) {
        return PROXY_NEED_MORE;
    }
    return parse_v1(buf, len, used, client, cap);
}

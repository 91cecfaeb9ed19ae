/* tests/fuzz/fuzz_handshake.c: the WebSocket handshake validation (http_req_check_upgrade,
 * http_req_hdr_is) against a reference written from RFC 6455 4.2.1 and docs/design.md section 8.
 *
 * The input describes a request: byte 0 picks the method and the HTTP version, then a list of
 * headers, each a name selector byte (one of the handshake headers in varied spellings, or a
 * filler), a length byte and that many value bytes (CR, LF and NUL replaced so that the request
 * stays parseable). The harness builds the request, parses it in one read, and compares the
 * verdict with the reference:
 *   not GET -> 400; not HTTP/1.1 -> 400; Sec-WebSocket-Version not exactly one "13" -> 426;
 *   no Sec-WebSocket-Key -> 400; not exactly one key that is base64 of 16 bytes -> 400;
 *   a body -> 400; else accepted.
 * Values are compared after trimming optional whitespace (SP, HTAB) at both ends. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "gateway/http_req.h"
#include "tests/fuzz/fuzz_check.h"


enum { N_UPGRADE, N_CONNECTION, N_KEY, N_VERSION, N_HOST, N_PROTOCOL, N_EXT, N_CLEN, N_TE,
       N_OTHER, N_KINDS };

static const char *const names[][3] = {
    [N_UPGRADE] = { "Upgrade", "upgrade", "UPGRADE" },
    [N_CONNECTION] = { "Connection", "connection", "CONNECTION" },
    [N_KEY] = { "Sec-WebSocket-Key", "sec-websocket-key", "SEC-WEBSOCKET-KEY" },
    [N_VERSION] = { "Sec-WebSocket-Version", "sec-websocket-version", "Sec-Websocket-Version" },
    [N_HOST] = { "Host", "host", "HOST" },
    [N_PROTOCOL] = { "Sec-WebSocket-Protocol", "sec-websocket-protocol", "X-Protocol" },
    [N_EXT] = { "Sec-WebSocket-Extensions", "sec-websocket-extensions", "X-Ext" },
    [N_CLEN] = { "Content-Length", "content-length", "Content-Length" },
    [N_TE] = { "Transfer-Encoding", "transfer-encoding", "Transfer-Encoding" },
    [N_OTHER] = { "X-Filler", "Sec-WebSocket-Keys", "Sec-WebSocket-Versio" },
};

static const char *const methods[] = { "GET", "POST", "HEAD", "PUT", "OPTIONS", "GET" };

struct hdr {
    int kind;
    int exact_name; /* spelled as the real header (not a look-alike) */
    char value[256];
    size_t len;
};

struct verdict {
    int done;
    int status;
    const char *reason;
};

static void on_head(struct http_req *r, void *arg)
{
    struct verdict *v = arg;
    const char *why = NULL;
    v->done = 1;
    v->status = http_req_check_upgrade(r, &why);
    v->reason = why;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char *s, size_t len, const char **out, size_t *out_len)
{
    while (len > 0 && is_ows(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_ows(s[len - 1])) {
        len--;
    }
    *out = s;
    *out_len = len;
}

static int b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

/* 1 valid, 0 invalid, -1 undecided (non-canonical trailing bits: RFC 4648 3.5 lets a decoder
 * accept or reject them). */
static int ref_key(const char *k, size_t len)
{
    if (len != 24 || k[22] != '=' || k[23] != '=') {
        return 0;
    }
    for (int i = 0; i < 22; i++) {
        if (!b64(k[i])) {
            return 0;
        }
    }
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int last = (int)(strchr(alphabet, k[21]) - alphabet);
    return (last & 0x0F) == 0 ? 1 : -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz", LOG_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    static struct hdr hs[24];
    size_t nh = 0, p = 1;
    const char *method = methods[data[0] % 6];
    int http10 = (data[0] >> 4) & 1;
    while (p + 2 <= size && nh < sizeof hs / sizeof hs[0]) {
        struct hdr *h = &hs[nh++];
        h->kind = data[p] % N_KINDS;
        int spelling = (data[p] >> 4) % 3;
        h->exact_name = !((h->kind == N_PROTOCOL || h->kind == N_EXT) && spelling == 2);
        h->exact_name = h->kind == N_OTHER ? 0 : h->exact_name;
        size_t len = data[p + 1];
        p += 2;
        if (len > size - p) {
            len = size - p;
        }
        if (len > sizeof h->value - 1) {
            len = sizeof h->value - 1;
        }
        for (size_t i = 0; i < len; i++) {
            char c = (char)data[p + i];
            h->value[i] = (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
        }
        h->len = len;
        h->value[len] = '\0';
        /* remember the spelling in the first byte of kind's high bits */
        h->kind |= spelling << 8;
        p += len;
    }

    /* Build the request. */
    static char req[24 * 300 + 256];
    size_t n = (size_t)snprintf(req, sizeof req, "%s /websocket HTTP/1.%d\r\n", method,
                                http10 ? 0 : 1);
    for (size_t i = 0; i < nh; i++) {
        int kind = hs[i].kind & 0xFF, spelling = hs[i].kind >> 8;
        n += (size_t)snprintf(req + n, sizeof req - n, "%s: %s\r\n", names[kind][spelling],
                              hs[i].value);
    }
    n += (size_t)snprintf(req + n, sizeof req - n, "\r\n");

    struct http_limits lim = { 65536, 1000, 8192 };
    struct http_req r;
    struct verdict v = { 0, -1, NULL };
    http_req_init(&r, &lim, on_head, &v, NULL);
    size_t consumed = 0;
    enum http_result res = http_req_feed(&r, req, 0, n, &consumed);
    if (res == HTTP_ERROR) {
        CHECK(r.status == 400 || r.status == 414 || r.status == 431 || r.status == 501);
        return 0; /* llhttp refused the head (a bad Content-Length, say): no verdict to check */
    }
    if (!v.done) {
        return 0; /* e.g. a chunked body still to come: the head was decided all the same */
    }
    CHECK(v.status == 0 || v.status == 400 || v.status == 426);
    CHECK(v.status == 0 || (v.reason != NULL && v.reason[0] != '\0'));

    /* Reference verdict. */
    int nver = 0, nkey = 0, body = 0, ver_ok = 0, key_ok = 0;
    for (size_t i = 0; i < nh; i++) {
        int kind = hs[i].kind & 0xFF;
        if (!hs[i].exact_name) {
            continue;
        }
        const char *val;
        size_t vlen;
        trim(hs[i].value, hs[i].len, &val, &vlen);
        if (kind == N_VERSION) {
            nver++;
            ver_ok = vlen == 2 && memcmp(val, "13", 2) == 0;
        } else if (kind == N_KEY) {
            nkey++;
            key_ok = ref_key(val, vlen);
        } else if (kind == N_CLEN) {
            body |= strtoull(val, NULL, 10) > 0;
        } else if (kind == N_TE) {
            body = 1; /* llhttp: any accepted Transfer-Encoding on a request means a body */
        }
    }
    int want;
    if (strcmp(method, "GET") != 0 || http10) {
        want = 400;
    } else if (nver != 1 || !ver_ok) {
        want = 426;
    } else if (nkey != 1 || key_ok == 0) {
        want = 400;
    } else if (key_ok < 0) {
        return 0; /* undecided key */
    } else if (body) {
        want = 400;
    } else {
        want = 0;
    }
    if (v.status != want) {
        fprintf(stderr, "handshake verdict %d, reference %d (reason: %s)\nrequest:\n%.*s\n",
                v.status, want, v.reason ? v.reason : "-", (int)n, req);
        abort();
    }
    return 0;
}

#include "bench/wsframe.h"

#include <string.h>

#define WSF_LEN_16 126u
#define WSF_LEN_64 127u

int wsf_parse(const uint8_t *p, size_t n, struct wsf_head *h)
{
    if (n < 2) {
        return WSF_NEED_MORE;
    }
    uint8_t b0 = p[0], b1 = p[1];
    if ((b0 & 0x30u) != 0 || (b1 & 0x80u) != 0) {
        return WSF_BAD; /* RSV2/RSV3 (no extension uses them), or a masked server frame */
    }
    h->rsv1 = (uint8_t)((b0 >> 6) & 1u);
    h->fin = (uint8_t)(b0 >> 7);
    h->opcode = b0 & 0x0Fu;
    uint64_t len = b1 & 0x7Fu;
    size_t hlen = 2;
    if (len == WSF_LEN_16) {
        if (n < 4) {
            return WSF_NEED_MORE;
        }
        len = ((uint64_t)p[2] << 8) | p[3];
        hlen = 4;
    } else if (len == WSF_LEN_64) {
        if (n < 10) {
            return WSF_NEED_MORE;
        }
        len = 0;
        for (int i = 0; i < 8; i++) {
            len = (len << 8) | p[2 + i];
        }
        if (len >> 63) {
            return WSF_BAD;
        }
        hlen = 10;
    }
    switch (h->opcode) {
    case WSF_OP_CONT:
    case WSF_OP_TEXT:
    case WSF_OP_BINARY:
        break;
    case WSF_OP_CLOSE:
    case WSF_OP_PING:
    case WSF_OP_PONG:
        if (!h->fin || len > WSF_CONTROL_MAX_BYTES) {
            return WSF_BAD;
        }
        break;
    default:
        return WSF_BAD;
    }
    h->len = len;
    h->hlen = (uint8_t)hlen;
    return (int)hlen;
}

size_t wsf_put_header(uint8_t *dst, uint8_t opcode, uint64_t len, uint32_t mask)
{
    size_t i = 0;
    dst[i++] = (uint8_t)(0x80u | opcode);
    if (len < WSF_LEN_16) {
        dst[i++] = (uint8_t)(0x80u | len);
    } else if (len <= 0xFFFFu) {
        dst[i++] = 0x80u | WSF_LEN_16;
        dst[i++] = (uint8_t)(len >> 8);
        dst[i++] = (uint8_t)len;
    } else {
        dst[i++] = 0x80u | WSF_LEN_64;
        for (int k = 7; k >= 0; k--) {
            dst[i++] = (uint8_t)(len >> (8 * k));
        }
    }
    dst[i++] = (uint8_t)(mask >> 24);
    dst[i++] = (uint8_t)(mask >> 16);
    dst[i++] = (uint8_t)(mask >> 8);
    dst[i++] = (uint8_t)mask;
    return i;
}

void wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, uint32_t mask, size_t offset)
{
    uint8_t m[8];
    for (size_t k = 0; k < 8; k++) {
        m[k] = (uint8_t)(mask >> (8 * (3 - (k + offset) % 4)));
    }
    uint64_t m64;
    memcpy(&m64, m, sizeof m64);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, sizeof v);
        v ^= m64;
        memcpy(dst + i, &v, sizeof v);
    }
    for (; i < len; i++) {
        dst[i] = src[i] ^ m[i % 8];
    }
}

#include "common/utf8.h"

#include <string.h>

int utf8_feed(struct utf8_state *st, const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (st->need == 0) {
            /* ASCII runs dominate real traffic: check eight bytes at a time. */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, sizeof w);
                if (w & 0x8080808080808080ull) {
                    break;
                }
                i += 8;
            }
            if (i == n) {
                break;
            }
            uint8_t b = p[i++];
            if (b < 0x80) {
                continue;
            }
            st->lo = 0x80;
            st->hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                st->need = 1;
            } else if (b == 0xE0) {
                st->need = 2;
                st->lo = 0xA0; /* no overlong 3-byte forms */
            } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
                st->need = 2;
            } else if (b == 0xED) {
                st->need = 2;
                st->hi = 0x9F; /* no UTF-16 surrogates */
            } else if (b == 0xF0) {
                st->need = 3;
                st->lo = 0x90; /* no overlong 4-byte forms */
            } else if (b >= 0xF1 && b <= 0xF3) {
                st->need = 3;
            } else if (b == 0xF4) {
                st->need = 3;
                st->hi = 0x8F; /* nothing above U+10FFFF */
            } else {
                return -1;
            }
        } else {
            uint8_t b = p[i++];
            if (b < st->lo || b > st->hi) {
                return -1;
            }
            st->need--;
            st->lo = 0x80;
            st->hi = 0xBF;
        }
    }
    return 0;
}

int utf8_valid(const uint8_t *p, size_t n)
{
    struct utf8_state st = { 0 };
    return utf8_feed(&st, p, n) == 0 && utf8_complete(&st);
}

/* tests/fuzz/fuzz_pmd.c: permessage-deflate from the client's side of the wire.
 *
 * The first byte picks the mode, the next 2 bytes a length L: the L bytes after them are an
 * offered Sec-WebSocket-Extensions value to negotiate, the rest a compressed message payload
 * cut into frames at the positions later bytes choose. Checks: negotiation never answers more
 * than PMD_ANSWER_MAX_BYTES nor an answer without the token; inflating never holds more than
 * the limit (plus the one byte that detects passing it) and never reports success past it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/fuzz/fuzz_check.h"
#include "worker/pmd.h"

#define LIMIT_BYTES 65536u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) {
        return 0;
    }
    enum pmd_mode mode = (enum pmd_mode)(data[0] % 3);
    size_t olen = ((size_t)data[1] << 8 | data[2]) % (size - 2);
    const char *offer = (const char *)data + 3;
    if (olen > size - 3) {
        olen = size - 3;
    }
    struct pmd_params p;
    char answer[PMD_ANSWER_MAX_BYTES];
    size_t alen = 0;
    int ok = pmd_negotiate(offer, olen, mode, 9 + data[0] % 7, &p, answer, &alen);
    CHECK(alen <= PMD_ANSWER_MAX_BYTES);
    CHECK(ok == 0 || (p.on && alen >= 18 && memcmp(answer, "permessage-deflate", 18) == 0));
    CHECK(ok == 1 || (!p.on && alen == 0));

    /* Inflate the rest as one message with the negotiated (or the stateless) parameters. */
    if (!ok) {
        p = (struct pmd_params){ .on = 1, .server_no_takeover = 1, .client_no_takeover = 1,
                                 .server_window_bits = 15, .client_window_bits = 15 };
    }
    const uint8_t *msg = data + 3 + olen;
    size_t mlen = size - 3 - olen;
    struct pmd_codec c = { 0 };
    size_t at = 0;
    int rc = PMD_OK;
    while (rc == PMD_OK) {
        size_t piece = mlen - at;
        if (piece > 1 && at < mlen) {
            piece = 1 + msg[at] % piece; /* frame boundaries chosen by the input */
        }
        int last = at + piece >= mlen;
        rc = pmd_inflate_feed(&c, &p, msg + at, piece, last, LIMIT_BYTES);
        CHECK(c.msg_cap <= LIMIT_BYTES + 1);
        at += piece;
        if (last) {
            break;
        }
    }
    size_t got;
    (void)pmd_inflated(&c, &got);
    CHECK(rc != PMD_OK || got <= LIMIT_BYTES);
    pmd_inflate_done(&c, 1);
    pmd_codec_free(&c);
    return 0;
}

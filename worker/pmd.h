/* worker/pmd.h: permessage-deflate (RFC 7692): negotiation and the per-message codec.
 *
 * Negotiation is pure: it reads the client's Sec-WebSocket-Extensions offers and says which
 * parameters duro runs with and what it answers. The codec wraps zlib (raw deflate):
 *  - stateless mode: duro answers server_no_context_takeover and client_no_context_takeover, so
 *    every message is compressed and inflated on its own and ONE pmd_codec per worker serves every
 *    socket; an idle socket holds no compression state at all;
 *  - takeover mode: each socket keeps its sliding windows (a pmd_codec of its own, with a small
 *    window and memLevel) for a better ratio, at a per-socket memory cost.
 *
 * zlib rather than libdeflate: takeover needs zlib's streaming state, and inflating has to stop
 * as soon as a message passes message_max_bytes (a 4 GiB bomb in a few KiB), which only a
 * streaming inflater can do without allocating the whole limit up front. One library covers both
 * modes; no deflate of our own. */
#ifndef DURO_PMD_H
#define DURO_PMD_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#define PMD_WINDOW_BITS_MIN 9u   /* duro never compresses with 8: see pmd_negotiate */
#define PMD_WINDOW_BITS_COUNT 7u /* 9..15 */

enum pmd_mode {
    PMD_OFF = 0,       /* never negotiated */
    PMD_STATELESS = 1, /* no context takeover either way (the default) */
    PMD_TAKEOVER = 2,  /* context takeover where the client allows it */
};

/* What was negotiated for one socket. All-zero: no extension. */
struct pmd_params {
    uint8_t on;                  /* the extension is in use */
    uint8_t server_no_takeover;  /* duro resets its compressor after each message */
    uint8_t client_no_takeover;  /* the client resets; duro may reset its inflater too */
    uint8_t server_window_bits;  /* 9..15: what duro's compressor uses */
    uint8_t client_window_bits;  /* 8..15: what the client promised (15 if it promised nothing) */
};

/* Negotiates from the offers in `offer` (the joined Sec-WebSocket-Extensions values, may be
 * empty). Accepts the first acceptable permessage-deflate offer; an offer with an unknown,
 * duplicate or malformed parameter is declined, as RFC 7692 5 says, and the next one tried.
 * On acceptance returns 1, fills `p`, and writes the response's header value (without CRLF) into
 * `answer` (`*answer_len` bytes; PMD_ANSWER_MAX_BYTES is enough). Returns 0 when nothing was
 * accepted (no header in the 101, `p` zeroed), also when `mode` is PMD_OFF. `window_bits`
 * (9..15) is the window duro keeps per socket in takeover mode. */
#define PMD_ANSWER_MAX_BYTES 160u
int pmd_negotiate(const char *offer, size_t len, enum pmd_mode mode, unsigned window_bits,
                  struct pmd_params *p, char *answer, size_t *answer_len);

/* ---- the codec ---- */

enum pmd_result {
    PMD_OK = 0,
    PMD_TOO_BIG = -1,  /* the inflated message passed the limit: close 1009 */
    PMD_CORRUPT = -2,  /* not a valid deflate stream: close 1002 */
    PMD_NOMEM = -3,    /* zlib could not allocate: close 1011 */
};

/* A compressor and an inflater with their output buffers. Zeroed is "not initialised". */
struct pmd_codec {
    z_stream def;
    z_stream inf;
    uint8_t def_ready, inf_ready;
    uint8_t def_bits, inf_bits;
    uint8_t def_mem;   /* the compressor's memLevel */
    uint8_t *out;      /* deflate output: valid until the next pmd_deflate */
    size_t out_cap;
    uint8_t *msg;      /* inflate output of the message in progress */
    size_t msg_len, msg_cap;
};

/* Compression settings: zlib level and memLevel, chosen by the caller's mode. */
struct pmd_level {
    int level;
    int mem_level;
};

/* Compresses one whole message made of `n` pieces into the codec's output buffer: `*out` and
 * `*out_len` (the 0x00 0x00 0xff 0xff tail already removed, RFC 7692 7.2.1). `reset` starts from
 * an empty window (no context takeover). Returns PMD_OK or PMD_NOMEM. */
int pmd_deflate(struct pmd_codec *c, const struct pmd_params *p, const struct pmd_level *lv,
                const void *const *bases, const size_t *lens, size_t n, int reset,
                const uint8_t **out, size_t *out_len);

/* Feeds one frame's compressed payload of a message. `last` marks the message's final frame,
 * after which the tail 0x00 0x00 0xff 0xff is fed too. The inflated bytes accumulate in the
 * codec; when more than `max` would be produced, returns PMD_TOO_BIG at once (no more than
 * about `max` plus one zlib window is ever allocated). Returns PMD_OK, PMD_TOO_BIG, PMD_CORRUPT
 * or PMD_NOMEM; on any error the message is dropped and the inflater reset. */
int pmd_inflate_feed(struct pmd_codec *c, const struct pmd_params *p, const uint8_t *in,
                     size_t len, int last, size_t max);

/* The message inflated so far (whole once pmd_inflate_feed returned PMD_OK for `last`). */
const uint8_t *pmd_inflated(const struct pmd_codec *c, size_t *len);

/* Ends the message in progress: the output is forgotten (kept allocated up to a small size for
 * the next one); with `reset` the window too (client_no_context_takeover). */
void pmd_inflate_done(struct pmd_codec *c, int reset);

/* Frees the codec's output buffers and keeps its zlib streams (the sliding windows a socket
 * with context takeover must keep): for a socket going idle, whose buffers are only scratch
 * between messages. The next pmd_deflate or pmd_inflate_feed allocates them again. */
void pmd_codec_trim(struct pmd_codec *c);

/* The sliding windows of a takeover codec, for a hand-over (worker/handover.h): the last bytes
 * compressed (`def` 1) or inflated (`def` 0), at most 32 KiB, copied into `out`. Returns their
 * length, 0 when that stream was never used. Only between messages. */
size_t pmd_codec_window(struct pmd_codec *c, int def, uint8_t *out);

/* A fresh codec that continues where another left off: its streams start with these windows
 * (either may be empty), so the next message compresses and inflates as if it had been the
 * same codec (both peers' windows hold the same bytes). Returns 0 or -1 (no memory). */
int pmd_codec_restore(struct pmd_codec *c, const struct pmd_params *p, const struct pmd_level *lv,
                      const uint8_t *def_win, size_t def_len, const uint8_t *inf_win,
                      size_t inf_len);

/* Frees everything the codec holds; it is zeroed again afterwards. */
void pmd_codec_free(struct pmd_codec *c);

/* Bytes the codec holds (zlib state and buffers), for memory reports. */
size_t pmd_codec_bytes(const struct pmd_codec *c);

#endif

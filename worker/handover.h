/* worker/handover.h: one socket's state as it travels between workers (docs/design.md,
 * "Hand-over"): the opaque `state` of MSG_EMIGRATE and MSG_ADOPT.
 *
 * A pure codec, like common/msg: no I/O, no allocation, decoded spans point into the caller's
 * buffer. The format is versioned on its own (the gateway relays it without reading it), so a
 * worker of the next release can adopt from this one: a decoder refuses a version it does not
 * know, and the adopting worker then closes the socket with 1012 (its client reconnects)
 * instead of guessing.
 *
 * Wire form (big-endian): u16 version, u16 flags, u16 group_left, u64 age_ms, u64 last_auto_ms,
 * u64 bytes_in, u64 bytes_out, u32 msgs_in, u32 msgs_out, u32 silent_ms, u32 rate_milli, then
 * the spans protocol (u16), client (u16), attachment (u32), early (u32), pmd (5 x u8), deflate
 * window (u16), inflate window (u16), u8 tag count and the tags (u16 each), u8 rule count and the
 * rules (u8 req_kind, u8 resp_kind, u16 req, u16 resp). Nothing may follow. */
#ifndef DURO_HANDOVER_H
#define DURO_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/duro_limits.h"
#include "common/msg.h"

#define HANDOVER_VERSION 1u
#define HANDOVER_WINDOW_MAX_BYTES 32768u /* a deflate window, 2^15 */

enum handover_flags {
    HANDOVER_PING_OUT = 1,     /* a ping is unanswered */
    HANDOVER_RATE_STARTED = 2, /* the messages_per_second bucket was filled */
};

struct handover_rule {
    uint8_t req_kind;          /* DURO_TEXT or DURO_BINARY */
    uint8_t resp_kind;
    struct msg_span req;       /* <= DURO_AUTO_RESPONSE_MAX_BYTES each */
    struct msg_span resp;
};

struct handover_state {
    uint16_t version;          /* set by the decoder; the encoder writes HANDOVER_VERSION */
    uint16_t flags;            /* enum handover_flags */
    uint16_t group_left;       /* sockets of the same object sent after this one: the adopter
                                * reads none of them until the last (0) has arrived, so that no
                                * broadcast misses a socket still on its way */
    uint64_t age_ms;           /* since the socket opened */
    uint64_t last_auto_ms;     /* wall clock of the last auto-response, 0 if none */
    uint64_t bytes_in, bytes_out;
    uint32_t msgs_in, msgs_out;
    uint32_t silent_ms;        /* since the last bytes from the client (or the ping) */
    uint32_t rate_milli;       /* messages_per_second tokens left, in thousandths */
    struct msg_span protocol;  /* chosen subprotocol, "" if none (<= DURO_WS_PROTOCOL_MAX_BYTES) */
    struct msg_span client;    /* PROXY protocol's "ip:port", "" when none (<= 64) */
    struct msg_span attachment; /* <= DURO_ATTACHMENT_MAX_BYTES */
    struct msg_span early;     /* bytes read past the last complete message, to decode first */
    uint8_t pmd_on, pmd_snt, pmd_cnt, pmd_sbits, pmd_cbits; /* permessage-deflate parameters */
    struct msg_span def_window; /* takeover: the last bytes compressed (<= 32 KiB), "" else */
    struct msg_span inf_window; /* takeover: the last bytes inflated (<= 32 KiB), "" else */
    uint8_t ntags;             /* <= DURO_TAGS_MAX_COUNT */
    struct msg_span tags[DURO_TAGS_MAX_COUNT];
    uint8_t nrules;            /* the object's auto-responses (first socket of an object only) */
    struct handover_rule rules[DURO_AUTO_RULES_MAX_COUNT];
};

/* Bytes needed to encode `st`, or 0 when a field breaks its bound. */
size_t handover_size(const struct handover_state *st);

/* Encodes into `dst` (capacity `cap`). Returns the bytes written, or 0 when a field breaks its
 * bound or `cap` is too small. */
size_t handover_encode(uint8_t *dst, size_t cap, const struct handover_state *st);

/* Decodes `len` bytes. Returns 0 with `*st` filled (spans into `buf`), or -1 when the bytes
 * are not a state of a known version, break a bound, or are cut or followed by anything. */
int handover_decode(const uint8_t *buf, size_t len, struct handover_state *st);

#endif

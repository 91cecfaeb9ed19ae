/* bench/wsframe.h: the client side of RFC 6455 framing, small and allocation-free.
 *
 * duro-bench shares the machine's two cores with the server it measures, so every reply must
 * cost it as little as possible. Frames are therefore parsed in place, in the loop's read buffer,
 * and verified there; masked frames are written straight into the connection's write buffer.
 * wslay's frame API (wslay_frame_recv) instead pulls every received byte through its context's
 * own 4 KiB buffer with a callback and returns payloads in pieces, which would add a copy and a
 * callback round trip per reply and cut large replies into pieces to verify. */
#ifndef DURO_BENCH_WSFRAME_H
#define DURO_BENCH_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#define WSF_OP_CONT 0x0u
#define WSF_OP_TEXT 0x1u
#define WSF_OP_BINARY 0x2u
#define WSF_OP_CLOSE 0x8u
#define WSF_OP_PING 0x9u
#define WSF_OP_PONG 0xAu
#define WSF_HEADER_MAX_BYTES 14u  /* 2 + 8 (64-bit length) + 4 (mask) */
#define WSF_CONTROL_MAX_BYTES 125u

struct wsf_head {
    uint64_t len;     /* payload bytes */
    uint8_t opcode;
    uint8_t fin;
    uint8_t hlen;     /* header bytes before the payload */
    uint8_t rsv1;     /* permessage-deflate's bit: the caller decides whether it is allowed */
};

enum wsf_result {
    WSF_BAD = -1,     /* not a valid server frame (masked, RSV2/3, bad control frame, opcode) */
    WSF_NEED_MORE = 0 /* the header is not complete in the bytes given */
};

/* Parses the header of a server-to-client frame at p[0..n). Returns the header length (> 0)
 * and fills `h`, or WSF_NEED_MORE, or WSF_BAD. The payload may still be incomplete. */
int wsf_parse(const uint8_t *p, size_t n, struct wsf_head *h);

/* Writes the header of a masked, final client frame of `len` payload bytes to `dst`, which
 * must have room for WSF_HEADER_MAX_BYTES. Returns the header length. */
size_t wsf_put_header(uint8_t *dst, uint8_t opcode, uint64_t len, uint32_t mask);

/* Copies `len` bytes from `src` to `dst` XORed with `mask` (as written by wsf_put_header),
 * starting at payload offset `offset`. `src` may equal `dst`. */
void wsf_mask(uint8_t *dst, const uint8_t *src, size_t len, uint32_t mask, size_t offset);

#endif

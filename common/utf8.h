/* common/utf8.h: incremental UTF-8 validation (RFC 3629, Unicode table 3-7).
 *
 * Hand-written: wslay's frame layer does not validate text, and no Debian library offers a
 * validator that keeps its state across buffers (a WebSocket text message arrives in fragments
 * and TCP segments; RFC 6455 8.1 wants the connection failed at the first invalid byte). */
#ifndef DURO_UTF8_H
#define DURO_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* All-zero is the start state ("nothing pending"). */
struct utf8_state {
    uint8_t need; /* continuation bytes still expected */
    uint8_t lo;   /* bounds of the next continuation byte */
    uint8_t hi;
};

/* Feeds `n` bytes. Returns 0 while the input is a valid prefix, -1 at the first byte that can
 * never be part of valid UTF-8 (the state is then undefined). */
int utf8_feed(struct utf8_state *st, const uint8_t *p, size_t n);

/* True when the bytes fed so far end on a character boundary. */
static inline int utf8_complete(const struct utf8_state *st)
{
    return st->need == 0;
}

/* Validates a whole buffer. Returns 1 if it is complete, valid UTF-8. */
int utf8_valid(const uint8_t *p, size_t n);

#endif

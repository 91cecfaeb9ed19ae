/* common/wire.h: bounds-checked big-endian writing and reading of byte strings, for the codecs
 * that cross a process boundary (common/msg.c: the gateway-worker messages; worker/handover.c:
 * a socket's state). Both sides sticky-fail: once a write does not fit or a read runs past the
 * end, `ok` is 0 and every later call does nothing (writes) or yields zero/NULL (reads), so a
 * codec checks `ok` once at the end instead of after every field. */
#ifndef DURO_WIRE_H
#define DURO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct wire_wr {
    uint8_t *p;   /* the next byte to write */
    uint8_t *end; /* one past the buffer */
    int ok;
};

struct wire_rd {
    const uint8_t *p;   /* the next byte to read */
    const uint8_t *end; /* one past the input */
    int ok;
};

static inline void wire_put(struct wire_wr *w, const void *src, size_t n)
{
    if (!w->ok || (size_t)(w->end - w->p) < n) {
        w->ok = 0;
        return;
    }
    if (n > 0) {
        memcpy(w->p, src, n);
    }
    w->p += n;
}

/* The low `n` (1 to 8) bytes of v, most significant first. */
static inline void wire_put_be(struct wire_wr *w, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++) {
        b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    }
    wire_put(w, b, n);
}

/* The next `n` bytes (a pointer into the input), or NULL if fewer remain. */
static inline const uint8_t *wire_take(struct wire_rd *r, size_t n)
{
    if (!r->ok || (size_t)(r->end - r->p) < n) {
        r->ok = 0;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

/* An `n`-byte (1 to 8) big-endian number, or 0 if fewer bytes remain. */
static inline uint64_t wire_get_be(struct wire_rd *r, unsigned n)
{
    const uint8_t *b = wire_take(r, n);
    uint64_t v = 0;
    for (unsigned i = 0; b != NULL && i < n; i++) {
        v = (v << 8) | b[i];
    }
    return v;
}

#endif

/* common/buf.h: one growable byte buffer for every module.
 *
 * `struct buf` is embedded by its owner. All-zero is an empty, valid buffer (no allocation
 * until the first reserve). Growth is explicit and bounded: every call that may grow takes the
 * largest capacity the caller allows, and fails rather than exceed it. The fields are public so
 * that I/O code can read into `p + len` and then add to `len` (buf_room / buf_commit). */
#ifndef DURO_BUF_H
#define DURO_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *p;   /* NULL while cap is 0 */
    size_t len;   /* bytes held, from p[0] */
    size_t cap;   /* bytes allocated */
};

/* Allocates exactly `cap` bytes (the buffer must be empty: all-zero or freed). `cap` 0 leaves
 * it all-zero. Returns 0, or -1 on allocation failure (the buffer stays all-zero). */
int buf_init(struct buf *b, size_t cap) __attribute__((warn_unused_result));

/* Makes room for `extra` more bytes: capacity doubles from max(cap, DURO_BUF_MIN_BYTES) until
 * len + extra fits, and is never raised beyond `max` (capped to it when doubling overshoots).
 * Returns 0, or -1 when len + extra > max or allocation fails (the buffer is unchanged). */
int buf_reserve(struct buf *b, size_t extra, size_t max) __attribute__((warn_unused_result));

/* buf_reserve(b, n, max), then copies `n` bytes of `data` to the end. Returns 0 or -1. */
int buf_append(struct buf *b, const void *data, size_t n, size_t max)
    __attribute__((warn_unused_result));

/* Free bytes after len (cap - len): where a read may write before buf_commit. */
size_t buf_room(const struct buf *b);

/* Counts `n` bytes written at p + len (n <= buf_room). */
void buf_commit(struct buf *b, size_t n);

/* Drops the first `n` bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

/* Empties the buffer, keeping its allocation. */
void buf_reset(struct buf *b);

/* Gives memory back: capacity becomes max(len, keep) when it is larger than that (0 bytes kept
 * frees the allocation, leaving all-zero). Never fails: a failed shrink keeps the old block. */
void buf_shrink(struct buf *b, size_t keep);

/* Frees the allocation; the buffer is all-zero again. */
void buf_free(struct buf *b);

#endif

#include "common/buf.h"

#include <stdlib.h>
#include <string.h>

#include "common/duro_limits.h"

int buf_init(struct buf *b, size_t cap)
{
    memset(b, 0, sizeof *b);
    if (cap == 0) {
        return 0;
    }
    b->p = malloc(cap);
    if (b->p == NULL) {
        return -1;
    }
    b->cap = cap;
    return 0;
}

int buf_reserve(struct buf *b, size_t extra, size_t max)
{
    if (extra > max || b->len > max - extra) {
        return -1;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) {
        return 0;
    }
    size_t cap = b->cap > DURO_BUF_MIN_BYTES ? b->cap : DURO_BUF_MIN_BYTES;
    while (cap < need) {
        cap = cap > max / 2 ? max : cap * 2; /* need <= max: this ends */
    }
    if (cap > max) {
        cap = max; /* DURO_BUF_MIN_BYTES above a small max */
    }
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n, size_t max)
{
    if (n == 0) {
        return 0;
    }
    if (buf_reserve(b, n, max) != 0) {
        return -1;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

size_t buf_room(const struct buf *b)
{
    return b->cap - b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    b->len += n <= b->cap - b->len ? n : b->cap - b->len;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

void buf_shrink(struct buf *b, size_t keep)
{
    size_t want = b->len > keep ? b->len : keep;
    if (b->cap <= want) {
        return;
    }
    if (want == 0) {
        buf_free(b);
        return;
    }
    uint8_t *p = realloc(b->p, want);
    if (p != NULL) {
        b->p = p;
        b->cap = want;
    }
}

void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

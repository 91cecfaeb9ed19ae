/* bench/wsdeflate.h: duro-bench's permessage-deflate (RFC 7692), zlib on the client side.
 * State: struct tctx's def/inf/zbuf (one per thread) and struct conn's pmd_* fields and `inf`. */
#ifndef DURO_BENCH_WSDEFLATE_H
#define DURO_BENCH_WSDEFLATE_H

#include <stddef.h>

#include "bench/bench.h"

/* Reads the Sec-WebSocket-Extensions answer collected in c->t->ext (and empties it): sets
 * c->pmd_on and the parameters. Returns 0, or -1 for an answer duro-bench did not ask for or
 * cannot follow (the caller fails the connection). */
int wsdeflate_answer(struct conn *c);

/* Compresses a then b as one message into c->t->zbuf, without the 00 00 ff ff tail. Returns the
 * compressed length, or -1 (zlib failed). */
long wsdeflate_compress(struct conn *c, const void *a, size_t a_len, const void *b,
                        size_t b_len);

/* Inflates one whole compressed message into c->t->zbuf (valid until the next call on the
 * thread). Returns its length, or -1 when corrupt or larger than t->max_reply. */
long wsdeflate_inflate(struct conn *c, const uint8_t *p, size_t len);

/* Frees the socket's own inflater, if any. */
void wsdeflate_conn_free(struct conn *c);

/* Frees the thread's compressor, inflater and buffer. */
void wsdeflate_thread_free(struct tctx *t);

#endif

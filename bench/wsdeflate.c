/* bench/wsdeflate.c: the client side of permessage-deflate (RFC 7692) for duro-bench, with zlib:
 * the answer parsed, messages compressed by the thread's one compressor (reset per message, which
 * is valid whether or not the server allowed context takeover), replies inflated by the thread's
 * inflater or, when the server keeps its context, by the socket's own. */
#include "bench/wsdeflate.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t pmd_tail[4] = { 0x00, 0x00, 0xff, 0xff };

static int zbuf_room(struct tctx *t, size_t need)
{
    if (need <= t->zcap) {
        return 0;
    }
    size_t n = t->zcap ? t->zcap : 4096;
    while (n < need) {
        n *= 2;
    }
    uint8_t *q = realloc(t->zbuf, n);
    if (q == NULL) {
        return -1;
    }
    t->zbuf = q;
    t->zcap = n;
    return 0;
}

long wsdeflate_compress(struct conn *c, const void *a, size_t a_len, const void *b,
                         size_t b_len)
{
    struct tctx *t = c->t;
    if (t->def_bits != c->pmd_cli_bits) {
        if (t->def_bits != 0) {
            deflateEnd(&t->def);
            t->def_bits = 0;
        }
        memset(&t->def, 0, sizeof t->def);
        if (deflateInit2(&t->def, BENCH_DEFLATE_LEVEL, Z_DEFLATED, -(int)c->pmd_cli_bits,
                         BENCH_DEFLATE_MEM_LEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
            return -1;
        }
        t->def_bits = c->pmd_cli_bits;
    } else if (deflateReset(&t->def) != Z_OK) {
        return -1;
    }
    size_t bound = deflateBound(&t->def, a_len + b_len) + 16;
    if (zbuf_room(t, bound) != 0) {
        return -1;
    }
    t->def.next_out = t->zbuf;
    t->def.avail_out = (uInt)bound;
    const void *in[2] = { a, b };
    size_t in_len[2] = { a_len, b_len };
    for (int i = 0; i < 2; i++) {
        t->def.next_in = (Bytef *)(uintptr_t)in[i];
        t->def.avail_in = (uInt)in_len[i];
        if (deflate(&t->def, i == 1 ? Z_SYNC_FLUSH : Z_NO_FLUSH) == Z_STREAM_ERROR ||
            t->def.avail_in != 0) {
            return -1;
        }
    }
    size_t n = bound - t->def.avail_out;
    if (n < sizeof pmd_tail || memcmp(t->zbuf + n - 4, pmd_tail, 4) != 0) {
        return -1;
    }
    return (long)(n - sizeof pmd_tail);
}

long wsdeflate_inflate(struct conn *c, const uint8_t *p, size_t len)
{
    struct tctx *t = c->t;
    z_stream *zs;
    if (c->pmd_srv_reset) {
        zs = &t->inf;
        if (!t->inf_ready) {
            memset(zs, 0, sizeof *zs);
            if (inflateInit2(zs, -15) != Z_OK) {
                return -1;
            }
            t->inf_ready = 1;
        } else if (inflateReset(zs) != Z_OK) {
            return -1;
        }
    } else {
        if (c->inf == NULL) {
            c->inf = calloc(1, sizeof *c->inf);
            if (c->inf == NULL || inflateInit2(c->inf, -(int)c->pmd_srv_bits) != Z_OK) {
                free(c->inf);
                c->inf = NULL;
                return -1;
            }
        }
        zs = c->inf;
    }
    size_t cap = t->max_reply + 1;
    if (zbuf_room(t, cap) != 0) {
        return -1;
    }
    zs->next_out = t->zbuf;
    zs->avail_out = (uInt)cap;
    const uint8_t *in[2] = { p, pmd_tail };
    size_t in_len[2] = { len, sizeof pmd_tail };
    for (int i = 0; i < 2; i++) {
        zs->next_in = (Bytef *)(uintptr_t)in[i];
        zs->avail_in = (uInt)in_len[i];
        int rc = inflate(zs, Z_SYNC_FLUSH);
        if ((rc != Z_OK && rc != Z_BUF_ERROR) || zs->avail_in != 0 || zs->avail_out == 0) {
            return -1; /* corrupt, or larger than any expected reply */
        }
    }
    return (long)(cap - zs->avail_out);
}

void wsdeflate_thread_free(struct tctx *t)
{
    if (t->def_bits != 0) {
        deflateEnd(&t->def);
    }
    if (t->inf_ready) {
        inflateEnd(&t->inf);
    }
    free(t->zbuf);
    t->zbuf = NULL;
    t->def_bits = t->inf_ready = 0;
}

void wsdeflate_conn_free(struct conn *c)
{
    if (c->inf != NULL) {
        inflateEnd(c->inf);
        free(c->inf);
        c->inf = NULL;
    }
}

int wsdeflate_answer(struct conn *c)
{
    struct tctx *t = c->t;
    t->ext[t->ext_len < sizeof t->ext ? t->ext_len : sizeof t->ext - 1] = '\0';
    c->pmd_on = 0;
    if (t->ext_len == 0) {
        return 0;
    }
    if (!c->t->o->deflate || strncmp(t->ext, "permessage-deflate", 18) != 0 ||
        t->ext_len >= sizeof t->ext) {
        t->ext_len = 0;
        return -1;
    }
    c->pmd_on = 1;
    c->pmd_srv_reset = strstr(t->ext, "server_no_context_takeover") != NULL;
    const char *s = strstr(t->ext, "server_max_window_bits=");
    c->pmd_srv_bits = (uint8_t)(s != NULL ? atoi(s + 23) : 15);
    s = strstr(t->ext, "client_max_window_bits=");
    c->pmd_cli_bits = (uint8_t)(s != NULL ? atoi(s + 23) : 15);
    t->ext_len = 0; /* consumed: the next handshake's answer starts empty */
    if (c->pmd_srv_bits < 9 || c->pmd_srv_bits > 15 || c->pmd_cli_bits < 9 ||
        c->pmd_cli_bits > 15) {
        return -1;
    }
    return 0;
}

/* bench/conn.c: one client connection: source address, connect, the upgrade handshake (llhttp),
 * frames in (parsed in place, see wsframe.h) and out (one buffer, one write per read), the
 * close handshake. What to send and check is modes.c's business. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/wsdeflate.h"
#include "bench/wsframe.h"
#include "common/wskey.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h: pick the port at connect, per 4-tuple */
#endif

#define WS_KEY_RAW_BYTES 16u
#define OUT_MIN_BYTES 512u
#define CARRY_MIN_BYTES 256u
#define REQUEST_EXTRA_BYTES 320u /* the upgrade request besides target and host */
#define LOOPBACK_BASE 0x7F000001u /* 127.0.0.1 */

/* ---- reporting ---- */

static void report(struct tctx *t, const struct conn *c, uint64_t count, const char *what,
                   const char *fmt, va_list ap)
{
    if (count > BENCH_ERRORS_SHOWN) {
        return;
    }
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "duro-bench: %s: thread=%u conn=%ld %s%s\n", what, t->index,
            c != NULL ? (long)c->id : -1L, msg,
            count == BENCH_ERRORS_SHOWN ? " (further ones not shown)" : "");
}

void bench_error(struct tctx *t, const struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(t, c, ++t->errors, "error", fmt, ap);
    va_end(ap);
}

void bench_verify_fail(struct tctx *t, const struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(t, c, ++t->verify_failures, "verify", fmt, ap);
    va_end(ap);
}

uint64_t bench_rand(struct tctx *t)
{
    /* xorshift64*: masks and keys only need to differ, not to be secret */
    uint64_t x = t->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- buffers ---- */

static int grow(uint8_t **p, uint32_t *cap, size_t need, size_t min)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap : min;
    while (n < need) {
        n *= 2;
    }
    if (n > UINT32_MAX) {
        return -1;
    }
    uint8_t *q = realloc(*p, n);
    if (q == NULL) {
        return -1;
    }
    *p = q;
    *cap = (uint32_t)n;
    return 0;
}

static uint8_t *out_room(struct conn *c, size_t n)
{
    if (grow(&c->out, &c->out_cap, (size_t)c->out_len + n, OUT_MIN_BYTES) != 0) {
        return NULL;
    }
    return c->out + c->out_len;
}

void conn_put_raw(struct conn *c, const void *p, size_t len)
{
    uint8_t *dst = out_room(c, len);
    if (dst == NULL) {
        bench_error(c->t, c, "out of memory");
        conn_kill(c);
        return;
    }
    memcpy(dst, p, len);
    c->out_len += (uint32_t)len;
}

void conn_put_frame(struct conn *c, uint8_t opcode, const void *a, size_t a_len, const void *b,
                    size_t b_len)
{
    if (c->state == CS_DEAD || c->state == CS_FREE) {
        return;
    }
    size_t len = a_len + b_len;
    uint8_t *dst = out_room(c, len + WSF_HEADER_MAX_BYTES);
    if (dst == NULL) {
        bench_error(c->t, c, "out of memory");
        conn_kill(c);
        return;
    }
    uint32_t mask = (uint32_t)bench_rand(c->t);
    size_t h = wsf_put_header(dst, opcode, len, mask);
    if (a_len > 0) {
        wsf_mask(dst + h, a, a_len, mask, 0);
    }
    if (b_len > 0) {
        wsf_mask(dst + h + a_len, b, b_len, mask, a_len);
    }
    c->out_len += (uint32_t)(h + len);
    c->t->wire_out += h + len;
}

void conn_put_message(struct conn *c, uint8_t opcode, const void *a, size_t a_len, const void *b,
                      size_t b_len)
{
    c->t->msgs_out++;
    if (!c->pmd_on) {
        conn_put_frame(c, opcode, a, a_len, b, b_len);
        return;
    }
    long z = wsdeflate_compress(c, a, a_len, b, b_len);
    if (z < 0) {
        bench_error(c->t, c, "compressing a message failed");
        conn_kill(c);
        return;
    }
    size_t before = c->out_len;
    conn_put_frame(c, opcode, c->t->zbuf, (size_t)z, NULL, 0);
    if (c->out_len > before) {
        c->out[before] |= 0x40u; /* RSV1: this message is compressed */
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    c->writing = 0;
    if (c->state == CS_DEAD) {
        return;
    }
    if (status < 0) {
        bench_error(c->t, c, "write: %s", uv_strerror(status));
        conn_kill(c);
        return;
    }
    conn_flush(c);
}

void conn_flush(struct conn *c)
{
    if (c->writing || c->out_len == 0 || c->state == CS_DEAD || c->state == CS_FREE ||
        c->state == CS_CONNECTING) {
        return;
    }
    uv_buf_t b = uv_buf_init((char *)c->out, c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out_len) {
        c->out_len = 0;
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        bench_error(c->t, c, "write: %s", uv_strerror(n));
        conn_kill(c);
        return;
    }
    /* The rest goes out from the second buffer while new frames collect in the first. */
    size_t done = n > 0 ? (size_t)n : 0;
    uint8_t *tp = c->wb;
    uint32_t tcap = c->wb_cap;
    c->wb = c->out;
    c->wb_cap = c->out_cap;
    uint32_t wlen = c->out_len;
    c->out = tp;
    c->out_cap = tcap;
    c->out_len = 0;
    c->wreq.data = c;
    b = uv_buf_init((char *)c->wb + done, (unsigned)(wlen - done));
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        bench_error(c->t, c, "write: %s", uv_strerror(rc));
        conn_kill(c);
        return;
    }
    c->writing = 1;
}

/* ---- closing ---- */

static void on_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    wsdeflate_conn_free(c);
    c->t->alive--;
    c->state = CS_FREE;
    mode_on_closed(c);
}

void conn_kill(struct conn *c)
{
    struct tctx *t = c->t;
    switch (c->state) {
    case CS_FREE:
    case CS_DEAD:
        return;
    case CS_CONNECTING:
    case CS_HANDSHAKE:
        t->pending--;
        c->state = CS_DEAD;
        mode_on_failed(c);
        break;
    case CS_OPEN:
    case CS_CLOSING:
        t->up--;
        break;
    }
    c->state = CS_DEAD;
    c->deadline = 0;
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void conn_close_ws(struct conn *c)
{
    if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE ||
        (c->state == CS_OPEN && c->t->o->mode == MODE_HTTP)) {
        conn_kill(c);
        return;
    }
    if (c->state != CS_OPEN) {
        return;
    }
    uint8_t code[2] = { BENCH_CLOSE_NORMAL >> 8, BENCH_CLOSE_NORMAL & 0xFF };
    conn_put_frame(c, WSF_OP_CLOSE, code, sizeof code, NULL, 0);
    c->close_sent = 1;
    c->state = CS_CLOSING;
    c->deadline = uv_hrtime() + (uint64_t)BENCH_CLOSE_WAIT_MS * 1000000u;
    conn_flush(c);
}

/* ---- frames in ---- */

static void deliver(struct conn *c, uint8_t opcode, const uint8_t *p, size_t len, uint64_t now)
{
    if (c->close_sent) {
        return; /* after our close, data frames may still arrive: they are not counted */
    }
    c->t->msgs_in++;
    mode_on_message(c, opcode == WSF_OP_BINARY, p, len, now);
}

static void deliver_maybe_z(struct conn *c, uint8_t opcode, int z, const uint8_t *p, size_t len,
                            uint64_t now)
{
    if (!z) {
        deliver(c, opcode, p, len, now);
        return;
    }
    long n = wsdeflate_inflate(c, p, len);
    if (n < 0) {
        bench_verify_fail(c->t, c, "a compressed message (%zu bytes) does not inflate", len);
        conn_kill(c);
        return;
    }
    deliver(c, opcode, c->t->zbuf, (size_t)n, now);
}

static void on_close_frame(struct conn *c, const uint8_t *p, size_t len, uint64_t now)
{
    struct tctx *t = c->t;
    unsigned code = len >= 2 ? ((unsigned)p[0] << 8) | p[1] : 1005u;
    c->close_recv = 1;
    if (!c->close_sent) {
        if (t->phase < PH_CLOSE) {
            bench_error(t, c, "server closed the WebSocket: code=%u reason=\"%.*s\"", code,
                        len > 2 ? (int)(len - 2) : 0, len > 2 ? (const char *)p + 2 : "");
        }
        uint8_t echo[2] = { len >= 2 ? p[0] : 0, len >= 2 ? p[1] : 0 };
        conn_put_frame(c, WSF_OP_CLOSE, echo, len >= 2 ? 2 : 0, NULL, 0);
        c->close_sent = 1;
        c->state = CS_CLOSING;
    } else if (code != BENCH_CLOSE_NORMAL && t->o->expect == EXPECT_SEED) {
        bench_verify_fail(t, c, "close reply code %u, want %u", code, BENCH_CLOSE_NORMAL);
    }
    /* The server closes TCP first (RFC 6455 7.1.1): wait for its FIN, bounded. */
    c->deadline = now + (uint64_t)BENCH_CLOSE_WAIT_MS * 1000000u;
}

static void on_frame(struct conn *c, const struct wsf_head *h, const uint8_t *p, uint64_t now)
{
    struct tctx *t = c->t;
    if (c->close_recv) {
        return;
    }
    t->wire_in += (uint64_t)h->hlen + h->len;
    if (h->rsv1 && (!c->pmd_on || (h->opcode != WSF_OP_TEXT && h->opcode != WSF_OP_BINARY))) {
        bench_verify_fail(t, c, "RSV1 on a frame that cannot be compressed (opcode %u)",
                          h->opcode);
        conn_kill(c);
        return;
    }
    switch (h->opcode) {
    case WSF_OP_TEXT:
    case WSF_OP_BINARY:
        if (c->frag_op != 0) {
            bench_verify_fail(t, c, "new message inside a fragmented one");
            conn_kill(c);
            return;
        }
        if (h->fin) {
            deliver_maybe_z(c, h->opcode, h->rsv1, p, (size_t)h->len, now);
            return;
        }
        c->frag_op = h->opcode;
        c->frag_z = h->rsv1;
        c->frag_len = 0;
        break;
    case WSF_OP_CONT:
        if (c->frag_op == 0) {
            bench_verify_fail(t, c, "continuation frame without a message");
            conn_kill(c);
            return;
        }
        break;
    case WSF_OP_CLOSE:
        on_close_frame(c, p, (size_t)h->len, now);
        return;
    case WSF_OP_PING:
        conn_put_frame(c, WSF_OP_PONG, p, (size_t)h->len, NULL, 0);
        return;
    default:
        return; /* pong */
    }
    /* a piece of a fragmented message */
    if (grow(&c->frag, &c->frag_cap, (size_t)c->frag_len + h->len, t->max_reply + 1) != 0) {
        bench_error(t, c, "out of memory");
        conn_kill(c);
        return;
    }
    memcpy(c->frag + c->frag_len, p, (size_t)h->len);
    c->frag_len += (uint32_t)h->len;
    if (h->fin) {
        uint8_t op = c->frag_op;
        c->frag_op = 0;
        deliver_maybe_z(c, op, c->frag_z, c->frag, c->frag_len, now);
    }
}

static size_t header_need(const uint8_t *p, size_t have)
{
    if (have < 2) {
        return 2;
    }
    unsigned l = p[1] & 0x7Fu;
    return l == 126 ? 4 : l == 127 ? 10 : 2;
}

static void bad_frame(struct conn *c)
{
    bench_verify_fail(c->t, c, "malformed frame from the server");
    conn_kill(c);
}

static int too_big(struct conn *c, uint64_t len)
{
    bench_verify_fail(c->t, c, "frame of %llu bytes, larger than any expected reply",
                      (unsigned long long)len);
    conn_kill(c);
    return -1;
}

/* Completes a frame carried over from the previous read. Returns the bytes of `p` used, or -1
 * when the connection was closed. */
static long finish_carry(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
    size_t used = 0;
    while (c->carry_len > 0) {
        struct wsf_head h;
        size_t need = header_need(c->carry, c->carry_len);
        int r = c->carry_len >= need ? wsf_parse(c->carry, c->carry_len, &h) : WSF_NEED_MORE;
        if (r == WSF_BAD) {
            bad_frame(c);
            return -1;
        }
        if (r > 0) {
            need = (size_t)h.hlen + h.len;
            if (need > c->carry_cap) {
                return too_big(c, h.len);
            }
            if (c->carry_len == need) {
                c->carry_len = 0;
                on_frame(c, &h, c->carry + h.hlen, now);
                return c->state == CS_DEAD ? -1 : (long)used;
            }
        }
        if (used == n) {
            break;
        }
        size_t take = need - c->carry_len;
        if (take > n - used) {
            take = n - used;
        }
        memcpy(c->carry + c->carry_len, p + used, take);
        c->carry_len += (uint32_t)take;
        used += take;
    }
    return (long)used;
}

static void feed_frames(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
    if (c->carry_len > 0) {
        long used = finish_carry(c, p, n, now);
        if (used < 0) {
            return;
        }
        p += used;
        n -= (size_t)used;
    }
    while (n > 0 && c->state != CS_DEAD) {
        struct wsf_head h;
        int r = wsf_parse(p, n, &h);
        if (r == WSF_BAD) {
            bad_frame(c);
            return;
        }
        if (r > 0 && (size_t)h.hlen + h.len <= n) {
            size_t total = (size_t)h.hlen + h.len;
            on_frame(c, &h, p + h.hlen, now);
            p += total;
            n -= total;
            continue;
        }
        /* incomplete: keep it for the next read */
        if (r > 0 && (size_t)h.hlen + h.len > c->t->max_reply + WSF_HEADER_MAX_BYTES) {
            too_big(c, h.len);
            return;
        }
        size_t cap = c->t->max_reply + WSF_HEADER_MAX_BYTES;
        if (grow(&c->carry, &c->carry_cap, cap < CARRY_MIN_BYTES ? CARRY_MIN_BYTES : cap,
                 CARRY_MIN_BYTES) != 0) {
            bench_error(c->t, c, "out of memory");
            conn_kill(c);
            return;
        }
        memcpy(c->carry, p, n);
        c->carry_len = (uint32_t)n;
        return;
    }
}

/* ---- the upgrade, and http mode's responses (llhttp) ---- */

static int hs_on_header_field(llhttp_t *hp, const char *at, size_t len)
{
    struct conn *c = hp->data;
    for (size_t i = 0; i < len; i++) {
        if (c->hdr_name_len < sizeof c->hdr_name) {
            c->hdr_name[c->hdr_name_len] = (char)tolower((unsigned char)at[i]);
        }
        if (c->hdr_name_len < UINT8_MAX) {
            c->hdr_name_len++;
        }
    }
    return 0;
}

static int hs_on_header_field_complete(llhttp_t *hp)
{
    struct conn *c = hp->data;
    static const char name[] = "sec-websocket-accept";
    static const char ext[] = "sec-websocket-extensions";
    c->hdr_is_accept = c->hdr_name_len == sizeof name - 1 &&
                       memcmp(c->hdr_name, name, sizeof name - 1) == 0;
    c->hdr_is_ext = c->hdr_name_len == sizeof ext - 1 &&
                    memcmp(c->hdr_name, ext, sizeof ext - 1) == 0;
    if (c->hdr_is_ext) {
        /* A second header would be joined to the first: pmd_answer then rejects it. */
        c->t->ext_len += c->t->ext_len > 0 ? sizeof c->t->ext : 0;
    }
    c->hdr_name_len = 0;
    if (c->hdr_is_accept && c->accept_count < UINT8_MAX) {
        c->accept_count++;
    }
    return 0;
}

static int hs_on_header_value(llhttp_t *hp, const char *at, size_t len)
{
    struct conn *c = hp->data;
    if (c->hdr_is_ext) {
        struct tctx *t = c->t;
        for (size_t i = 0; i < len; i++) {
            if (t->ext_len < sizeof t->ext) {
                t->ext[t->ext_len] = at[i];
            }
            t->ext_len++;
        }
        return 0;
    }
    if (!c->hdr_is_accept) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (c->accept_len < BENCH_WS_ACCEPT_BYTES) {
            c->accept_got[c->accept_len] = at[i];
        }
        if (c->accept_len < UINT8_MAX) {
            c->accept_len++;
        }
    }
    return 0;
}

static int hs_on_headers_complete(llhttp_t *hp)
{
    return hp->status_code == 101 ? 0 : -1;
}

static int http_on_message_complete(llhttp_t *hp)
{
    struct conn *c = hp->data;
    mode_on_response(c, c->t->now);
    return c->state == CS_DEAD ? -1 : 0;
}

static llhttp_settings_t hs_settings;
static llhttp_settings_t http_settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void settings_init(void)
{
    llhttp_settings_init(&hs_settings);
    hs_settings.on_header_field = hs_on_header_field;
    hs_settings.on_header_field_complete = hs_on_header_field_complete;
    hs_settings.on_header_value = hs_on_header_value;
    hs_settings.on_headers_complete = hs_on_headers_complete;
    llhttp_settings_init(&http_settings);
    http_settings.on_message_complete = http_on_message_complete;
}

/* Feeds the upgrade response. Returns the bytes used (frames may follow in the same read), or
 * -1 when the connection was closed. */
static long feed_handshake(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
    struct tctx *t = c->t;
    enum llhttp_errno e = llhttp_execute(&c->http, (const char *)p, n);
    if (e == HPE_OK) {
        return (long)n;
    }
    if (e != HPE_PAUSED_UPGRADE) {
        if (e == HPE_CB_HEADERS_COMPLETE) {
            bench_error(t, c, "upgrade refused: status %d", c->http.status_code);
        } else {
            bench_error(t, c, "bad upgrade response: %s", llhttp_errno_name(e));
        }
        conn_kill(c);
        return -1;
    }
    if (c->accept_count != 1 || c->accept_len != BENCH_WS_ACCEPT_BYTES ||
        memcmp(c->accept_got, c->accept_want, BENCH_WS_ACCEPT_BYTES) != 0) {
        bench_verify_fail(t, c, "bad Sec-WebSocket-Accept (%u headers, want %s)",
                          c->accept_count, c->accept_want);
        conn_kill(c);
        return -1;
    }
    if (wsdeflate_answer(c) != 0) {
        bench_verify_fail(t, c, "unexpected Sec-WebSocket-Extensions answer \"%.*s\"",
                          (int)(t->ext_len < sizeof t->ext ? t->ext_len : sizeof t->ext - 1),
                          t->ext);
        conn_kill(c);
        return -1;
    }
    long used = (long)(llhttp_get_error_pos(&c->http) - (const char *)p);
    c->state = CS_OPEN;
    t->pending--;
    t->up++;
    t->handshakes++;
    c->deadline = 0;
    hist_record(&t->hs_hist, now - c->t_start);
    mode_on_open(c, now);
    return c->state == CS_DEAD ? -1 : used;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)c->t->rbuf, BENCH_READ_BUF_BYTES);
}

static void on_eof(struct conn *c, ssize_t err)
{
    struct tctx *t = c->t;
    if (c->state == CS_CLOSING && c->close_recv) {
        conn_kill(c); /* the clean end of the close handshake */
        return;
    }
    if (t->phase < PH_CLOSE) {
        bench_error(t, c, "connection %s by the server (%s)",
                    err == UV_EOF ? "closed" : "reset",
                    c->state == CS_HANDSHAKE ? "during the upgrade"
                    : c->close_sent          ? "before the close reply"
                                             : "while open");
    }
    conn_kill(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread == 0 || c->state == CS_DEAD) {
        return;
    }
    if (nread < 0) {
        on_eof(c, nread);
        return;
    }
    uint64_t now = uv_hrtime();
    c->t->now = now;
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t n = (size_t)nread;
    if (c->t->o->mode == MODE_HTTP) {
        enum llhttp_errno e = llhttp_execute(&c->http, (const char *)p, n);
        if (e != HPE_OK && c->state != CS_DEAD) {
            bench_error(c->t, c, "bad HTTP response: %s (%s)", llhttp_errno_name(e),
                        llhttp_get_error_reason(&c->http));
            conn_kill(c);
            return;
        }
        conn_flush(c);
        return;
    }
    if (c->state == CS_HANDSHAKE) {
        long used = feed_handshake(c, p, n, now);
        if (used < 0) {
            return;
        }
        p += used;
        n -= (size_t)used;
    }
    if (n > 0 && (c->state == CS_OPEN || c->state == CS_CLOSING)) {
        feed_frames(c, p, n, now);
    }
    conn_flush(c);
}

/* ---- connecting ---- */

static void base64_16(const uint8_t in[WS_KEY_RAW_BYTES], char out[BENCH_WS_KEY_BYTES + 1])
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < WS_KEY_RAW_BYTES; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < WS_KEY_RAW_BYTES) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < WS_KEY_RAW_BYTES) {
            v |= in[i + 2];
        }
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < WS_KEY_RAW_BYTES ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < WS_KEY_RAW_BYTES ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static void send_upgrade(struct conn *c)
{
    struct tctx *t = c->t;
    uint8_t raw[WS_KEY_RAW_BYTES];
    uint64_t r1 = bench_rand(t), r2 = bench_rand(t);
    memcpy(raw, &r1, sizeof r1);
    memcpy(raw + sizeof r1, &r2, sizeof r2);
    char key[BENCH_WS_KEY_BYTES + 1];
    base64_16(raw, key);
    wskey_accept(key, BENCH_WS_KEY_BYTES, c->accept_want);
    char target[BENCH_TARGET_MAX_BYTES + 16];
    const char *ph = t->o->objects > 0 ? strstr(t->o->target, "{n}") : NULL;
    if (ph != NULL) {
        snprintf(target, sizeof target, "%.*s%u%s", (int)(ph - t->o->target), t->o->target,
                 (unsigned)(c->id % t->o->objects), ph + 3);
    } else {
        snprintf(target, sizeof target, "%s", t->o->target);
    }
    char req[BENCH_TARGET_MAX_BYTES + 16 + BENCH_HOST_MAX_BYTES + REQUEST_EXTRA_BYTES];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     target, t->o->host_header, key,
                     t->o->deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                     "client_max_window_bits\r\n"
                                   : "");
    t->ext_len = 0;
    conn_put_raw(c, req, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    struct tctx *t = c->t;
    if (c->state == CS_DEAD) {
        return;
    }
    if (status < 0) {
        bench_error(t, c, "connect: %s", uv_strerror(status));
        conn_kill(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        bench_error(t, c, "read: %s", uv_strerror(rc));
        conn_kill(c);
        return;
    }
    c->http.data = c;
    if (t->o->mode == MODE_HTTP) {
        llhttp_init(&c->http, HTTP_RESPONSE, &http_settings);
        c->http.data = c;
        c->state = CS_OPEN;
        t->pending--;
        t->up++;
        c->deadline = 0;
        hist_record(&t->hs_hist, uv_hrtime() - c->t_start);
        mode_on_open(c, uv_hrtime());
        conn_flush(c);
        return;
    }
    llhttp_init(&c->http, HTTP_RESPONSE, &hs_settings);
    c->http.data = c;
    c->state = CS_HANDSHAKE;
    send_upgrade(c);
    conn_flush(c);
}

/* A socket bound to 127.0.0.K with the port left to connect(), so that every source address
 * has the whole ephemeral range towards the one server address. */
static int open_bound(struct conn *c, uv_tcp_t *tcp)
{
    const struct opts *o = c->t->o;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(LOOPBACK_BASE + c->id % o->source_ips);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) == -1) {
        int e = -errno;
        close(fd);
        return e;
    }
    int rc = uv_tcp_open(tcp, fd);
    if (rc != 0) {
        close(fd);
    }
    return rc;
}

int conn_start(struct conn *c)
{
    struct tctx *t = c->t;
    pthread_once(&settings_once, settings_init);
    c->writing = c->close_sent = c->close_recv = 0;
    c->accept_len = c->accept_count = c->hdr_name_len = c->hdr_is_accept = 0;
    c->frag_op = c->frag_z = c->hdr_is_ext = c->pmd_on = 0;
    c->inf = NULL;
    c->carry_len = c->frag_len = c->out_len = 0;
    c->sent = c->recvd = 0;
    c->deadline = 0;
    c->counted_open = 0;
    int rc = uv_tcp_init(&t->loop, &c->tcp);
    if (rc != 0) {
        bench_error(t, c, "socket: %s", uv_strerror(rc));
        return rc;
    }
    c->tcp.data = c;
    c->creq.data = c;
    t->alive++;
    t->pending++;
    c->state = CS_CONNECTING;
    c->t_start = uv_hrtime();
    c->deadline = c->t_start + (uint64_t)(t->o->connect_timeout_s * 1e9);
    if (t->o->source_ips > 1 && (rc = open_bound(c, &c->tcp)) != 0) {
        bench_error(t, c, "bind to a source address: %s", uv_strerror(rc));
        conn_kill(c);
        return rc;
    }
    rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&t->o->dst, on_connect);
    if (rc != 0) {
        bench_error(t, c, "connect: %s", uv_strerror(rc));
        conn_kill(c);
        return rc;
    }
    return 0;
}

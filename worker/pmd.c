#include "worker/pmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/duro_limits.h"

/* ---- negotiation: RFC 6455 9.1 grammar, RFC 7692 7 parameters ---- */

struct cursor {
    const char *p;
    const char *end;
};

static int is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(struct cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) {
        c->p++;
    }
}

/* A token: returns its length (0 when there is none) and leaves the cursor after it. */
static size_t token(struct cursor *c, const char **start)
{
    skip_ows(c);
    *start = c->p;
    while (c->p < c->end && is_tchar(*c->p)) {
        c->p++;
    }
    return (size_t)(c->p - *start);
}

/* A parameter value: a token or a quoted-string whose unescaped content is a token (RFC 6455
 * 9.1). Copies it into `out` (NUL-terminated). Returns its length, -1 when malformed (the
 * header cannot be parsed past it), or -2 when well-formed but longer than `cap` - 1 (no value
 * of ours is that long: the parameter is bad, the header still parses). */
static int value(struct cursor *c, char *out, size_t cap)
{
    skip_ows(c);
    size_t n = 0;
    int quoted = c->p < c->end && *c->p == '"';
    if (quoted) {
        c->p++;
    }
    while (c->p < c->end && (quoted ? *c->p != '"' : is_tchar(*c->p))) {
        char ch = *c->p++;
        if (quoted && ch == '\\') {
            if (c->p == c->end) {
                return -1;
            }
            ch = *c->p++;
        }
        if (!is_tchar(ch)) {
            return -1;
        }
        if (n + 1 < cap) {
            out[n] = ch;
        }
        n++;
    }
    if (quoted) {
        if (c->p == c->end) {
            return -1; /* unterminated */
        }
        c->p++;
    }
    if (n == 0) {
        return -1;
    }
    if (n + 1 > cap) {
        return -2;
    }
    out[n] = '\0';
    return (int)n;
}

static int name_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char a = s[i];
        if (a >= 'A' && a <= 'Z') {
            a = (char)(a - 'A' + 'a');
        }
        if (a != lit[i]) {
            return 0;
        }
    }
    return 1;
}

/* "8".."15" exactly (no sign, no leading zero). Returns the number or -1. */
static int window_bits(const char *v)
{
    if (v[0] >= '8' && v[0] <= '9' && v[1] == '\0') {
        return v[0] - '0';
    }
    if (v[0] == '1' && v[1] >= '0' && v[1] <= '5' && v[2] == '\0') {
        return 10 + (v[1] - '0');
    }
    return -1;
}

/* One permessage-deflate offer's parameters. */
struct offer {
    int server_no_takeover;
    int client_no_takeover;
    int server_bits;         /* 0: not offered */
    int client_bits;         /* 0: not offered; 16: offered without a value */
    int bad;                 /* unknown, duplicate or malformed parameter */
};

static void offer_param(struct offer *o, const char *name, size_t nlen, const char *v, int has_v)
{
    if (name_is(name, nlen, "server_no_context_takeover")) {
        o->bad |= o->server_no_takeover || has_v;
        o->server_no_takeover = 1;
    } else if (name_is(name, nlen, "client_no_context_takeover")) {
        o->bad |= o->client_no_takeover || has_v;
        o->client_no_takeover = 1;
    } else if (name_is(name, nlen, "server_max_window_bits")) {
        int b = has_v ? window_bits(v) : -1;
        o->bad |= o->server_bits != 0 || b < 0;
        o->server_bits = b;
    } else if (name_is(name, nlen, "client_max_window_bits")) {
        int b = has_v ? window_bits(v) : 16;
        o->bad |= o->client_bits != 0 || b < 0;
        o->client_bits = b;
    } else {
        o->bad = 1;
    }
}

static int min_int(int a, int b)
{
    return a < b ? a : b;
}

/* Decides on one valid offer. Returns 1 and fills `p` and `answer`, or 0 to decline it. */
static int accept_offer(const struct offer *o, enum pmd_mode mode, unsigned cfg_bits,
                        struct pmd_params *p, char *answer, size_t *answer_len)
{
    /* zlib's raw deflate cannot make a 256-byte window (it turns 8 into 9), so a client that
     * can only inflate with 8 bits is declined rather than sent what it cannot read. */
    if (o->server_bits == 8) {
        return 0;
    }
    int sbits = o->server_bits != 0 ? o->server_bits : 15;
    int n;
    memset(p, 0, sizeof *p);
    p->on = 1;
    if (mode == PMD_STATELESS) {
        p->server_no_takeover = 1;
        p->client_no_takeover = 1;
        p->server_window_bits = (uint8_t)sbits;
        p->client_window_bits = 15;
        n = snprintf(answer, PMD_ANSWER_MAX_BYTES,
                     "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        if (o->server_bits != 0) {
            n += snprintf(answer + n, PMD_ANSWER_MAX_BYTES - (size_t)n,
                          "; server_max_window_bits=%d", sbits);
        }
        *answer_len = (size_t)n;
        return 1;
    }
    /* Takeover: duro keeps a window of at most cfg_bits per socket, and asks the client for
     * the same when the client says it can comply (client_max_window_bits offered). */
    sbits = min_int(sbits, (int)cfg_bits);
    p->server_no_takeover = (uint8_t)o->server_no_takeover;
    p->client_no_takeover = (uint8_t)o->client_no_takeover;
    p->server_window_bits = (uint8_t)sbits;
    p->client_window_bits = 15;
    n = snprintf(answer, PMD_ANSWER_MAX_BYTES, "permessage-deflate");
    if (o->server_no_takeover) {
        n += snprintf(answer + n, PMD_ANSWER_MAX_BYTES - (size_t)n, "; server_no_context_takeover");
    }
    if (o->client_no_takeover) {
        n += snprintf(answer + n, PMD_ANSWER_MAX_BYTES - (size_t)n, "; client_no_context_takeover");
    }
    if (sbits < 15 || o->server_bits != 0) {
        n += snprintf(answer + n, PMD_ANSWER_MAX_BYTES - (size_t)n, "; server_max_window_bits=%d",
                      sbits);
    }
    if (o->client_bits != 0) {
        int cbits = min_int(o->client_bits == 16 ? 15 : o->client_bits, (int)cfg_bits);
        p->client_window_bits = (uint8_t)cbits;
        n += snprintf(answer + n, PMD_ANSWER_MAX_BYTES - (size_t)n, "; client_max_window_bits=%d",
                      cbits);
    }
    *answer_len = (size_t)n;
    return 1;
}

int pmd_negotiate(const char *offer, size_t len, enum pmd_mode mode, unsigned window_bits_cfg,
                  struct pmd_params *p, char *answer, size_t *answer_len)
{
    memset(p, 0, sizeof *p);
    *answer_len = 0;
    if (mode == PMD_OFF || offer == NULL) {
        return 0;
    }
    struct cursor c = { offer, offer + len };
    for (;;) {
        skip_ows(&c);
        while (c.p < c.end && *c.p == ',') { /* empty list elements are allowed */
            c.p++;
            skip_ows(&c);
        }
        if (c.p == c.end) {
            return 0;
        }
        const char *ext;
        size_t elen = token(&c, &ext);
        if (elen == 0) {
            return 0; /* malformed header: nothing after this point can be trusted */
        }
        struct offer o = { 0 };
        int deflate = name_is(ext, elen, "permessage-deflate");
        for (;;) {
            skip_ows(&c);
            if (c.p == c.end || *c.p != ';') {
                break;
            }
            c.p++;
            const char *name;
            size_t nlen = token(&c, &name);
            if (nlen == 0) {
                return 0;
            }
            skip_ows(&c);
            char v[8];
            int has_v = 0;
            if (c.p < c.end && *c.p == '=') {
                c.p++;
                int vl = value(&c, v, sizeof v);
                if (vl == -1) {
                    return 0;
                }
                if (vl == -2) {
                    o.bad = 1;
                    continue;
                }
                has_v = 1;
            }
            offer_param(&o, name, nlen, v, has_v);
        }
        skip_ows(&c);
        if (c.p < c.end && *c.p != ',') {
            return 0;
        }
        if (deflate && !o.bad &&
            accept_offer(&o, mode, window_bits_cfg, p, answer, answer_len)) {
            return 1;
        }
        memset(p, 0, sizeof *p);
    }
}

/* ---- the codec ---- */

static const uint8_t TAIL[4] = { 0x00, 0x00, 0xff, 0xff };

static int grow(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
    if (need <= *cap) {
        return 0;
    }
    size_t n = *cap ? *cap : DURO_DEFLATE_BUF_MIN_BYTES;
    while (n < need) {
        n *= 2;
    }
    if (n > limit) {
        n = limit;
    }
    if (n < need) {
        return -1;
    }
    uint8_t *p = realloc(*buf, n);
    if (p == NULL) {
        return -1;
    }
    *buf = p;
    *cap = n;
    return 0;
}

static int def_ready(struct pmd_codec *c, const struct pmd_params *p, const struct pmd_level *lv)
{
    if (c->def_ready && c->def_bits == p->server_window_bits) {
        return 0;
    }
    if (c->def_ready) {
        deflateEnd(&c->def);
        c->def_ready = 0;
    }
    memset(&c->def, 0, sizeof c->def);
    if (deflateInit2(&c->def, lv->level, Z_DEFLATED, -(int)p->server_window_bits, lv->mem_level,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return -1;
    }
    c->def_ready = 1;
    c->def_bits = p->server_window_bits;
    c->def_mem = (uint8_t)lv->mem_level;
    return 0;
}

int pmd_deflate(struct pmd_codec *c, const struct pmd_params *p, const struct pmd_level *lv,
                const void *const *bases, const size_t *lens, size_t n, int reset,
                const uint8_t **out, size_t *out_len)
{
    int fresh = !c->def_ready || c->def_bits != p->server_window_bits;
    if (def_ready(c, p, lv) != 0) {
        return PMD_NOMEM;
    }
    if (reset && !fresh && deflateReset(&c->def) != Z_OK) {
        return PMD_NOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += lens[i];
    }
    /* deflateBound covers the data; a sync flush adds an empty stored block (5 bytes) and a
     * partial byte, plus the slack of pieces fed one by one. */
    size_t bound = deflateBound(&c->def, (uLong)total) + 16u + 6u * n;
    if (grow(&c->out, &c->out_cap, bound, SIZE_MAX) != 0) {
        return PMD_NOMEM;
    }
    c->def.next_out = c->out;
    c->def.avail_out = (uInt)c->out_cap;
    for (size_t i = 0; i <= n; i++) {
        int last = i == n;
        c->def.next_in = last ? NULL : (Bytef *)(uintptr_t)bases[i];
        c->def.avail_in = last ? 0 : (uInt)lens[i];
        for (;;) {
            int rc = deflate(&c->def, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_BUF_ERROR) {
                return PMD_NOMEM;
            }
            if (c->def.avail_out > 0 && c->def.avail_in == 0) {
                break;
            }
            size_t used = c->out_cap - c->def.avail_out;
            if (grow(&c->out, &c->out_cap, c->out_cap * 2, SIZE_MAX) != 0) {
                return PMD_NOMEM;
            }
            c->def.next_out = c->out + used;
            c->def.avail_out = (uInt)(c->out_cap - used);
        }
    }
    size_t len = c->out_cap - c->def.avail_out;
    if (len >= 4 && memcmp(c->out + len - 4, TAIL, 4) == 0) {
        len -= 4;
    }
    *out = c->out;
    *out_len = len;
    return PMD_OK;
}

static int inf_ready(struct pmd_codec *c, const struct pmd_params *p)
{
    /* Inflating with a window at least the client's is always right; 15 unless the client
     * promised less (then the smaller window saves memory in takeover mode). */
    uint8_t bits = p->client_window_bits >= 8 ? p->client_window_bits : 15;
    if (bits < 9) {
        bits = 9; /* zlib's smallest raw inflate window that every zlib accepts */
    }
    if (c->inf_ready && c->inf_bits == bits) {
        return 0;
    }
    if (c->inf_ready) {
        inflateEnd(&c->inf);
        c->inf_ready = 0;
    }
    memset(&c->inf, 0, sizeof c->inf);
    if (inflateInit2(&c->inf, -(int)bits) != Z_OK) {
        return -1;
    }
    c->inf_ready = 1;
    c->inf_bits = bits;
    return 0;
}

static int inflate_some(struct pmd_codec *c, const uint8_t *in, size_t len, size_t max)
{
    c->inf.next_in = (Bytef *)(uintptr_t)in;
    c->inf.avail_in = (uInt)len;
    while (c->inf.avail_in > 0) {
        if (c->msg_len == c->msg_cap) {
            /* One byte past the limit tells "exactly max" from "more than max". */
            if (c->msg_len > max ||
                grow(&c->msg, &c->msg_cap, c->msg_len + 1, max + 1) != 0) {
                return c->msg_len > max ? PMD_TOO_BIG : PMD_NOMEM;
            }
        }
        c->inf.next_out = c->msg + c->msg_len;
        c->inf.avail_out = (uInt)(c->msg_cap - c->msg_len);
        int rc = inflate(&c->inf, Z_SYNC_FLUSH);
        c->msg_len = c->msg_cap - c->inf.avail_out;
        if (c->msg_len > max) {
            return PMD_TOO_BIG;
        }
        if (rc == Z_STREAM_END) {
            /* The client ended its stream (BFINAL): whatever follows starts a new one. */
            if (inflateReset(&c->inf) != Z_OK) {
                return PMD_NOMEM;
            }
            continue;
        }
        if (rc == Z_MEM_ERROR) {
            return PMD_NOMEM;
        }
        if (rc == Z_BUF_ERROR) {
            if (c->inf.avail_out == 0) {
                continue; /* needs room, not input */
            }
            break;
        }
        if (rc != Z_OK) {
            return PMD_CORRUPT;
        }
    }
    return PMD_OK;
}

int pmd_inflate_feed(struct pmd_codec *c, const struct pmd_params *p, const uint8_t *in,
                     size_t len, int last, size_t max)
{
    if (inf_ready(c, p) != 0) {
        return PMD_NOMEM;
    }
    int rc = inflate_some(c, in, len, max);
    if (rc == PMD_OK && last) {
        rc = inflate_some(c, TAIL, sizeof TAIL, max);
    }
    if (rc != PMD_OK) {
        pmd_inflate_done(c, 1);
    }
    return rc;
}

const uint8_t *pmd_inflated(const struct pmd_codec *c, size_t *len)
{
    *len = c->msg_len;
    return c->msg;
}

void pmd_inflate_done(struct pmd_codec *c, int reset)
{
    c->msg_len = 0;
    if (c->msg_cap > DURO_DEFLATE_BUF_KEEP_BYTES) {
        free(c->msg);
        c->msg = NULL;
        c->msg_cap = 0;
    }
    if (reset && c->inf_ready) {
        (void)inflateReset(&c->inf);
    }
}

void pmd_codec_trim(struct pmd_codec *c)
{
    free(c->out);
    c->out = NULL;
    c->out_cap = 0;
    free(c->msg);
    c->msg = NULL;
    c->msg_cap = 0;
    c->msg_len = 0;
}

size_t pmd_codec_window(struct pmd_codec *c, int def, uint8_t *out)
{
    uInt len = 0;
    if (def && c->def_ready) {
        if (deflateGetDictionary(&c->def, out, &len) != Z_OK) {
            return 0;
        }
    } else if (!def && c->inf_ready) {
        if (inflateGetDictionary(&c->inf, out, &len) != Z_OK) {
            return 0;
        }
    }
    return len;
}

int pmd_codec_restore(struct pmd_codec *c, const struct pmd_params *p, const struct pmd_level *lv,
                      const uint8_t *def_win, size_t def_len, const uint8_t *inf_win,
                      size_t inf_len)
{
    /* Raw streams take a dictionary at any point before their first byte: it becomes the
     * window, which is exactly what the peer's side of the stream holds. */
    if (def_len > 0 && (def_ready(c, p, lv) != 0 ||
                        deflateSetDictionary(&c->def, def_win, (uInt)def_len) != Z_OK)) {
        return -1;
    }
    if (inf_len > 0 && (inf_ready(c, p) != 0 ||
                        inflateSetDictionary(&c->inf, inf_win, (uInt)inf_len) != Z_OK)) {
        return -1;
    }
    return 0;
}

void pmd_codec_free(struct pmd_codec *c)
{
    if (c->def_ready) {
        deflateEnd(&c->def);
    }
    if (c->inf_ready) {
        inflateEnd(&c->inf);
    }
    free(c->out);
    free(c->msg);
    memset(c, 0, sizeof *c);
}

size_t pmd_codec_bytes(const struct pmd_codec *c)
{
    size_t n = c->out_cap + c->msg_cap;
    /* zlib's documented memory use: deflate (1 << (windowBits+2)) + (1 << (memLevel+9)),
     * inflate 1 << windowBits, plus about 7 KiB of state each. */
    if (c->def_ready) {
        n += (1u << (c->def_bits + 2)) + (1u << (c->def_mem + 9)) + 7168u;
    }
    if (c->inf_ready) {
        n += (1u << c->inf_bits) + 7168u;
    }
    return n;
}

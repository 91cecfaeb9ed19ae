#include "gateway/http_req.h"

#include <strings.h>
#include <string.h>
#include <strings.h>

#include "common/wskey.h"

static const char *const hdr_names[HDR_COUNT] = {
    [HDR_HOST] = "host",
    [HDR_UPGRADE] = "upgrade",
    [HDR_CONNECTION] = "connection",
    [HDR_WS_KEY] = "sec-websocket-key",
    [HDR_WS_VERSION] = "sec-websocket-version",
    [HDR_WS_PROTOCOL] = "sec-websocket-protocol",
    [HDR_WS_EXTENSIONS] = "sec-websocket-extensions",
    [HDR_TRANSFER_ENCODING] = "transfer-encoding",
};

/* RFC 9110 5.6.2 token characters. */
static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* True when `p` starts with a method-shaped token followed by a space: an unknown method
 * (501), as opposed to bytes that are not HTTP at all (400). */
static int looks_like_method(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)p[i])) {
        i++;
    }
    return i > 0 && i < len && p[i] == ' ';
}

static int all_tchars(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)p[i])) {
            return 0;
        }
    }
    return 1;
}

static struct http_req *req_of(llhttp_t *p)
{
    return (struct http_req *)p->data;
}

static int reject(struct http_req *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    return -1;
}

static void mark_end(struct http_req *r, const char *at, size_t len)
{
    r->head_end = (uint32_t)(at + len - r->base);
}

static void extend(struct http_req *r, struct http_span *s, const char *at, size_t len)
{
    if (s->len == 0) {
        s->off = (uint32_t)(at - r->base);
    }
    s->len += (uint32_t)len;
}

static int on_message_begin(llhttp_t *p)
{
    req_of(p)->started = 1;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_req *r = req_of(p);
    extend(r, &r->target, at, len);
    mark_end(r, at, len);
    if (r->target.len > r->lim.target_max_bytes) {
        return reject(r, 414, "request-target too long");
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_req *r = req_of(p);
    if (!r->field_pending) {
        r->field_pending = 1;
        r->field_len = 0;
        if (++r->header_count > r->lim.headers_max_count) {
            return reject(r, 431, "too many header fields");
        }
        if (r->fields != NULL) {
            memset(&r->fields[r->nfields++], 0, sizeof r->fields[0]);
        }
    }
    if (r->fields != NULL) {
        extend(r, &r->fields[r->nfields - 1].name, at, len);
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_tchar((unsigned char)at[i])) {
            /* RFC 9112 5.1: no whitespace before the colon, and a field name is a token.
             * llhttp lets some of this through; a proxy in front of us may not agree. */
            return reject(r, 400, "malformed header field name");
        }
        if (r->field_len < sizeof r->field) {
            char ch = at[i];
            r->field[r->field_len] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
        if (r->field_len < 255) {
            r->field_len++;
        }
    }
    mark_end(r, at, len);
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_req *r = req_of(p);
    r->field_pending = 0;

    r->cur = HDR_OTHER;
    for (int h = 0; h < HDR_COUNT; h++) {
        size_t n = strlen(hdr_names[h]);
        if (r->field_len == n && memcmp(r->field, hdr_names[h], n) == 0) {
            r->cur = (enum http_hdr)h;
            if (r->hdr_count[h] < 255) {
                r->hdr_count[h]++;
            }
            break;
        }
    }
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_req *r = req_of(p);
    if (r->fields != NULL && r->nfields > 0) {
        extend(r, &r->fields[r->nfields - 1].value, at, len);
    }
    if (r->cur != HDR_OTHER && r->hdr_count[r->cur] == 1) {
        extend(r, &r->hdr[r->cur], at, len);
    }
    mark_end(r, at, len);
    return 0;
}

static void trim_end(const struct http_req *r, struct http_span *s)
{
    while (s->len > 0 &&
           (r->base[s->off + s->len - 1] == ' ' || r->base[s->off + s->len - 1] == '\t')) {
        s->len--;
    }
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_req *r = req_of(p);
    if (r->fields != NULL && r->nfields > 0) {
        trim_end(r, &r->fields[r->nfields - 1].value);
    }
    if (r->cur != HDR_OTHER && r->hdr_count[r->cur] == 1) {
        struct http_span *s = &r->hdr[r->cur];
        while (s->len > 0 && (r->base[s->off + s->len - 1] == ' ' ||
                              r->base[s->off + s->len - 1] == '\t')) {
            s->len--;
        }
    }
    r->cur = HDR_OTHER;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_req *r = req_of(p);
    /* The head ends with CRLF CRLF after the last byte a callback saw. */
    if (r->head_end + 4 > r->lim.head_max_bytes) {
        return reject(r, 431, "request head too large");
    }
    r->head_done = 1;
    /* Any Transfer-Encoding header means a body (RFC 9112 6.3), chunked or not, even empty. */
    r->has_body = (p->flags & (F_CHUNKED | F_TRANSFER_ENCODING)) || p->content_length > 0 ||
                  r->hdr_count[HDR_TRANSFER_ENCODING] > 0;
    if (r->on_head != NULL) {
        r->on_head(r, r->arg);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_req *r = req_of(p);
    if (r->on_body == NULL) {
        return 0;
    }
    int st = r->on_body(r, at, len, r->arg);
    if (st != 0) {
        return reject(r, st, "request body too large");
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    (void)p;
    /* Pause after every request: the caller answers it before parsing the next one, and an
     * upgrade's following bytes are WebSocket frames, not HTTP. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void reset_fields(struct http_req *r)
{
    memset(&r->target, 0, sizeof r->target);
    memset(r->hdr, 0, sizeof r->hdr);
    memset(r->hdr_count, 0, sizeof r->hdr_count);
    r->header_count = 0;
    r->nfields = 0;
    r->on_body = NULL;
    r->head_end = 0;
    r->started = 0;
    r->head_done = 0;
    r->has_body = 0;
    r->cur = HDR_OTHER;
    r->field_pending = 0;
    r->field_len = 0;
    r->status = 0;
    r->reason = NULL;
}

void http_req_init(struct http_req *r, const struct http_limits *lim, http_head_fn *on_head,
                   void *arg, struct http_field *fields)
{
    memset(r, 0, sizeof *r);
    r->fields = fields;
    r->lim = *lim;
    r->on_head = on_head;
    r->arg = arg;
    llhttp_init(&r->parser, HTTP_REQUEST, &settings);
    r->parser.data = r;
    reset_fields(r);
}

void http_req_next(struct http_req *r)
{
    if (llhttp_get_errno(&r->parser) == HPE_PAUSED) {
        llhttp_resume(&r->parser);
    }
    reset_fields(r);
}

enum http_result http_req_feed(struct http_req *r, const char *base, size_t from, size_t to,
                               size_t *consumed)
{
    r->base = base;
    if (r->restart) {
        /* The last feed ended inside what may be an unknown method: parse from the start. */
        r->restart = 0;
        llhttp_reset(&r->parser);
        reset_fields(r);
        from = 0;
    }
    llhttp_errno_t e = llhttp_execute(&r->parser, base + from, to - from);
    if (e == HPE_PAUSED_UPGRADE && !r->started) {
        /* A request with "Connection: upgrade" that we answered ourselves (426): llhttp stops
         * after it, but whether the connection is upgraded is ours to decide, and it is not. */
        const char *at = llhttp_get_error_pos(&r->parser);
        llhttp_resume_after_upgrade(&r->parser);
        e = llhttp_execute(&r->parser, at, (size_t)(base + to - at));
    }
    if (e == HPE_OK) {
        *consumed = to;
        if (!r->head_done && to > (size_t)r->lim.head_max_bytes) {
            r->status = 431;
            r->reason = "request head too large";
            return HTTP_ERROR;
        }
        return HTTP_NEED_MORE;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
        *consumed = (size_t)(llhttp_get_error_pos(&r->parser) - base);
        return HTTP_DONE;
    }
    if (e == HPE_INVALID_METHOD && r->status == 0 && all_tchars(base, to) &&
        to <= r->lim.head_max_bytes) {
        /* Only token characters so far: an unknown method (501) or garbage (400) is told by
         * the byte after it, which has not arrived. */
        r->restart = 1;
        *consumed = to;
        return HTTP_NEED_MORE;
    }
    if (r->status == 0) {
        if (e == HPE_INVALID_METHOD && looks_like_method(base, to)) {
            r->status = 501;
            r->reason = "method not implemented";
        } else {
            r->status = 400;
            r->reason = "malformed request";
        }
    }
    return HTTP_ERROR;
}

int http_req_method(const struct http_req *r)
{
    return llhttp_get_method((llhttp_t *)&r->parser);
}

int http_req_version_minor(const struct http_req *r)
{
    return llhttp_get_http_minor((llhttp_t *)&r->parser);
}

int http_req_keep_alive(const struct http_req *r)
{
    if (llhttp_get_http_major((llhttp_t *)&r->parser) != 1 || http_req_version_minor(r) == 0) {
        return 0;
    }
    return llhttp_should_keep_alive(&r->parser);
}

const char *http_req_field(const struct http_req *r, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; r->fields != NULL && i < r->nfields; i++) {
        const struct http_field *f = &r->fields[i];
        if (f->name.len == n && strncasecmp(http_req_str(r, f->name), name, n) == 0) {
            *len = f->value.len;
            return http_req_str(r, f->value);
        }
    }
    return NULL;
}

int http_req_hdr_is(const struct http_req *r, enum http_hdr h, const char *v)
{
    size_t n = strlen(v);
    return r->hdr_count[h] == 1 && r->hdr[h].len == n &&
           memcmp(http_req_str(r, r->hdr[h]), v, n) == 0;
}

int http_req_hdr_has_token(const struct http_req *r, enum http_hdr h, const char *token)
{
    size_t tl = strlen(token);
    if (r->hdr_count[h] != 1) {
        return 0;
    }
    const char *p = http_req_str(r, r->hdr[h]);
    size_t len = r->hdr[h].len;
    size_t i = 0;
    while (i < len) {
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ',')) {
            i++;
        }
        size_t start = i;
        while (i < len && p[i] != ',') {
            i++;
        }
        size_t end = i;
        while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t')) {
            end--;
        }
        if (end - start == tl && strncasecmp(p + start, token, tl) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 2.3 unreserved and 2.2 sub-delims. */
static int is_host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
}

int http_req_host_valid(const char *p, size_t len)
{
    size_t i = 0;
    if (len > 0 && p[0] == '[') {
        /* IP-literal: IPv6address or IPvFuture, both within unreserved, sub-delims and ':'. */
        i = 1;
        while (i < len && p[i] != ']') {
            if (!is_host_char((unsigned char)p[i]) && p[i] != ':') {
                return 0;
            }
            i++;
        }
        if (i == len || i == 1) {
            return 0;
        }
        i++;
    } else {
        while (i < len && p[i] != ':') {
            if (p[i] == '%') {
                if (len - i < 3 || !is_hex((unsigned char)p[i + 1]) ||
                    !is_hex((unsigned char)p[i + 2])) {
                    return 0;
                }
                i += 3;
                continue;
            }
            if (!is_host_char((unsigned char)p[i])) {
                return 0;
            }
            i++;
        }
    }
    if (i < len) {
        if (p[i] != ':') {
            return 0;
        }
        for (i++; i < len; i++) {
            if (p[i] < '0' || p[i] > '9') {
                return 0;
            }
        }
    }
    return 1;
}

int http_req_check_upgrade(const struct http_req *r, const char **reason)
{
    if (http_req_method(r) != HTTP_GET) {
        *reason = "WebSocket upgrade requires the GET method";
        return 400;
    }
    if (llhttp_get_http_major((llhttp_t *)&r->parser) != 1 || http_req_version_minor(r) < 1) {
        *reason = "WebSocket upgrade requires HTTP/1.1";
        return 400;
    }
    if (!http_req_hdr_is(r, HDR_WS_VERSION, "13")) {
        *reason = r->hdr_count[HDR_WS_VERSION] == 0 ? "missing Sec-WebSocket-Version header"
                                                     : "unsupported Sec-WebSocket-Version";
        return 426;
    }
    if (r->hdr_count[HDR_WS_KEY] == 0) {
        *reason = "missing Sec-WebSocket-Key header";
        return 400;
    }
    if (r->hdr_count[HDR_WS_KEY] != 1 ||
        !wskey_valid(http_req_str(r, r->hdr[HDR_WS_KEY]), r->hdr[HDR_WS_KEY].len)) {
        *reason = "invalid Sec-WebSocket-Key header";
        return 400;
    }
    if (r->has_body) {
        *reason = "WebSocket upgrade must not have a body";
        return 400;
    }
    return 0;
}

/* gateway/http_req.h: llhttp glue. Pure: bytes in, outcomes out, no I/O, no allocation.
 *
 * The caller keeps every byte of the current request head in one buffer and feeds it in
 * order; header values are remembered as spans (offsets into that buffer), so nothing is
 * copied. At the end of the head, `on_head` runs while the spans are valid: the gateway decides
 * there what to answer. Only the fields duro needs are kept. */
#ifndef DURO_HTTP_REQ_H
#define DURO_HTTP_REQ_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

struct http_span {
    uint32_t off;
    uint32_t len;
};

enum http_hdr {
    HDR_HOST = 0,
    HDR_UPGRADE,
    HDR_CONNECTION,
    HDR_WS_KEY,
    HDR_WS_VERSION,
    HDR_WS_PROTOCOL,
    HDR_WS_EXTENSIONS,
    HDR_TRANSFER_ENCODING,
    HDR_COUNT,
    HDR_OTHER = HDR_COUNT,
};

struct http_limits {
    uint32_t head_max_bytes;
    uint32_t headers_max_count;
    uint32_t target_max_bytes;
};

/* One header of the request: name and value (trimmed), spans into the request's buffer. */
struct http_field {
    struct http_span name;
    struct http_span value;
};

struct http_req;
typedef void http_head_fn(struct http_req *r, void *arg);

/* A piece of the request's body (de-chunked), pointing into the buffer being fed. Return 0 to
 * go on, or an HTTP status (413) to stop: the feed then returns HTTP_ERROR with that status. */
typedef int http_body_fn(struct http_req *r, const char *at, size_t len, void *arg);

struct http_req {
    llhttp_t parser;
    struct http_limits lim;
    http_head_fn *on_head;
    void *arg;
    const char *base; /* buffer of the current feed; spans are offsets into it */
    http_body_fn *on_body;      /* NULL: body bytes are skipped */
    struct http_field *fields;  /* every header, in order; capacity lim.headers_max_count */

    /* per request, reset by http_req_next() */
    struct http_span target;
    struct http_span hdr[HDR_COUNT]; /* first occurrence of each header */
    uint8_t hdr_count[HDR_COUNT];    /* occurrences, so duplicates are visible */
    uint32_t header_count;
    uint32_t nfields;   /* headers recorded in `fields` */
    uint32_t head_end;  /* offset just past the last head byte seen by a callback */
    int started;        /* a byte of this request has arrived */
    int head_done;
    int has_body;
    int restart;        /* re-parse from the request's first byte on the next feed */
    enum http_hdr cur;  /* header whose value is arriving */
    int field_pending;  /* a header name is arriving (it may come in pieces) */
    uint8_t field_len;
    char field[32];     /* lowercase header name so far; longer names are HDR_OTHER */

    /* outcome of the last feed */
    int status;         /* HTTP status for HTTP_ERROR */
    const char *reason; /* text naming the problem, for the response body and logs */
};

enum http_result {
    HTTP_NEED_MORE = 0, /* all bytes consumed, the request is not complete */
    HTTP_DONE = 1,      /* a whole request: *consumed is the offset just past it */
    HTTP_ERROR = 2,     /* malformed or over a limit: r->status and r->reason say what */
};

/* Prepares `r`. `on_head` runs once per request, when its head is complete. `fields` (capacity
 * lim->headers_max_count, owned by the caller) receives every header, may be NULL. */
void http_req_init(struct http_req *r, const struct http_limits *lim, http_head_fn *on_head,
                   void *arg, struct http_field *fields);

/* Parses base[from, to). The request being parsed started at base[0] and every earlier byte of
 * it is still in place. Returns as documented in enum http_result; after HTTP_DONE call
 * http_req_next() before feeding the following request (pipelining), re-basing the buffer so
 * that it starts at the next request. After HTTP_ERROR the connection must be closed. */
enum http_result http_req_feed(struct http_req *r, const char *base, size_t from, size_t to,
                               size_t *consumed);

/* Forgets the finished request and readies the parser for the next one. */
void http_req_next(struct http_req *r);

/* Accessors valid from on_head until http_req_next(). */
static inline const char *http_req_str(const struct http_req *r, struct http_span s)
{
    return r->base + s.off;
}
int http_req_method(const struct http_req *r);      /* llhttp_method_t */
int http_req_version_minor(const struct http_req *r); /* 1 for HTTP/1.1, 0 for HTTP/1.0 */
int http_req_keep_alive(const struct http_req *r);  /* 0 on Connection: close or HTTP/1.0 */

/* Header `name` (lowercase, compared case-insensitively): the value of its first occurrence,
 * or NULL when absent; `*len` receives the value's length. Needs `fields`. */
const char *http_req_field(const struct http_req *r, const char *name, size_t *len);

/* True when header `h` occurs exactly once and its value (trimmed) equals `v` exactly. */
int http_req_hdr_is(const struct http_req *r, enum http_hdr h, const char *v);

/* True when header `h` occurs exactly once and its comma-separated list holds `token`, compared
 * case-insensitively (RFC 9110 5.6.1 lists, RFC 6455 4.2.1 "websocket"). */
int http_req_hdr_has_token(const struct http_req *r, enum http_hdr h, const char *token);

/* True when `p` (`len` bytes) is a valid Host field value (RFC 9112 3.2, RFC 3986 3.2.2):
 * uri-host [ ":" port ], where uri-host is an IP-literal in brackets or a reg-name. Empty is
 * valid (a target without authority). */
int http_req_host_valid(const char *p, size_t len);

/* Whether the request is a WebSocket upgrade that may be handed to a worker (RFC 6455 4.2.1),
 * checked in order: GET, HTTP/1.1, Sec-WebSocket-Version 13, a valid Sec-WebSocket-Key.
 * Returns 0 when valid, else the HTTP status (400 or 426) with `*reason` naming the problem.
 * Call only once the route matched and Upgrade is exactly "websocket". */
int http_req_check_upgrade(const struct http_req *r, const char **reason);

#endif

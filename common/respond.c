#include "common/respond.h"

#include <stdio.h>
#include <string.h>

#define SEED_426_BODY "Durable Object expected Upgrade: websocket"

const char *respond_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 504:
        return "Gateway Timeout";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

static size_t finish(size_t cap, int n)
{
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

static const char *extra(int flags, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s%s%s", (flags & RESPOND_WS_VERSION) ? "Sec-WebSocket-Version: 13\r\n" : "",
             (flags & RESPOND_RETRY_AFTER) ? "Retry-After: 1\r\n" : "",
             (flags & RESPOND_CLOSE) ? "Connection: close\r\n" : "");
    return buf;
}

/* The seed's answers are fixed bytes, one per (HEAD, close) pair, copied without formatting:
 * the 400 is the answer to most of what a scanner sends, and snprintf was 2% of the gateway
 * answering it (issue 18). Index: RESPOND_HEAD | RESPOND_CLOSE. */
#define SEED_400_HEAD "HTTP/1.1 400 Bad Request\r\n"
#define SEED_400_LEN "Content-Length: 0\r\n"
#define SEED_400_TYPE "Content-Type: text/plain\r\n"
#define SEED_CLOSE "Connection: close\r\n"
#define SEED_426_HEAD                                                                              \
    "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 42\r\n"                                     \
    "Content-Type: text/plain;charset=UTF-8\r\n"
_Static_assert(sizeof SEED_426_BODY - 1 == 42, "the 426's Content-Length is its body's length");

struct fixed {
    const char *p;
    size_t len;
};
#define FIXED(s) { s, sizeof s - 1 }

static size_t put_fixed(char *dst, size_t cap, const struct fixed *f)
{
    if (f->len >= cap) {
        return 0;
    }
    memcpy(dst, f->p, f->len);
    return f->len;
}

size_t respond_seed_400(char *dst, size_t cap, int flags)
{
    /* Response(null, {status: 400}) on the reference runtime: no body, and so no
     * Content-Length on a HEAD answer. */
    static const struct fixed answer[4] = {
        FIXED(SEED_400_HEAD SEED_400_LEN SEED_400_TYPE "\r\n"),
        FIXED(SEED_400_HEAD SEED_400_TYPE "\r\n"),
        FIXED(SEED_400_HEAD SEED_400_LEN SEED_400_TYPE SEED_CLOSE "\r\n"),
        FIXED(SEED_400_HEAD SEED_400_TYPE SEED_CLOSE "\r\n"),
    };
    return put_fixed(dst, cap, &answer[flags & (RESPOND_HEAD | RESPOND_CLOSE)]);
}

size_t respond_seed_426(char *dst, size_t cap, int flags)
{
    static const struct fixed answer[4] = {
        FIXED(SEED_426_HEAD "\r\n" SEED_426_BODY),
        FIXED(SEED_426_HEAD "\r\n"),
        FIXED(SEED_426_HEAD SEED_CLOSE "\r\n" SEED_426_BODY),
        FIXED(SEED_426_HEAD SEED_CLOSE "\r\n"),
    };
    return put_fixed(dst, cap, &answer[flags & (RESPOND_HEAD | RESPOND_CLOSE)]);
}

size_t respond_error(char *dst, size_t cap, int status, const char *reason, int flags)
{
    char hdrs[128];
    int n = snprintf(dst, cap,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n"
                     "Content-Type: text/plain;charset=UTF-8\r\n%s\r\n%s",
                     status, respond_phrase(status), strlen(reason),
                     extra(flags, hdrs, sizeof hdrs), (flags & RESPOND_HEAD) ? "" : reason);
    return finish(cap, n);
}

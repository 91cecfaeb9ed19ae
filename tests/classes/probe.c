/* tests/classes/probe.c: a class for tests, loaded from a shared object like any external class.
 * It exposes the class API through text commands so that tests can drive it over WebSocket:
 *
 *   gen                 -> "gen:G" where G counts constructions in this worker (a wake adds one)
 *   version             -> "version:V", V = PROBE_VERSION it was built with (1 by default; the
 *                          class reload test builds a second copy with 2)
 *   tags                -> the socket's tags, comma-separated
 *   count:TAG           -> how many open sockets carry TAG ("count:" for all)
 *   attach:VALUE        -> sets the attachment; "ok" or "error"
 *   attachsize:N        -> sets an attachment of N bytes; "ok" or "error"
 *   attachment          -> the attachment
 *   auto:REQ=RESP       -> sets the object's auto-response; "ok" or "error"
 *   autot:REQ=RESP      -> adds a text rule (v2); "ok" or "error:CODE"
 *   autob:REQ=RESP      -> adds a binary rule: binary REQ answered with binary RESP (v2)
 *   autorm:REQ          -> removes the text rule for REQ (v2); "ok" or "error:CODE"
 *   tag+:TAG / tag-:TAG -> adds / removes a tag after accept (v2); "ok" or "error:CODE"
 *   autotime            -> "autotime:MS" of this socket's last auto-response (0 if none)
 *   bcast:TAG:TEXT      -> broadcasts TEXT to sockets with TAG ("bcast::TEXT" for all); replies
 *                          "sent:N"
 *   id / name           -> the object's ID / name
 *   buffered            -> "buffered:N"
 *   close:CODE          -> closes with CODE and reason "probe"
 *   lastclose           -> "lastclose:CODE:CLEAN" as on_close saw the last socket that closed
 *   alarmfail:N:MS      -> sets the alarm MS ms from now; its on_alarm fails while retry_count
 *                          < N, then stores "alarm_ok" = the retry count. Replies "ok"
 *   alarmin             -> "alarmin:MS" until the alarm (or "alarmin:none")
 *   kv:KEY              -> the stored value of KEY, or "kv:none"
 *   sql:STATEMENT       -> runs it; "sql:RC"
 * When a socket closes, on_close also sends "closed:CODE:CLEAN" to the object's sockets tagged
 * "watch".
 * At connect, the query string's tags=a,b,c become tags, proto=1 picks the first offered
 * subprotocol, refuse=STATUS refuses, peek=TAG stores "peek:O:S:T" as the attachment: what
 * duro_object_open_count, duro_object_sockets and a lookup of TAG say inside on_connect;
 * info=1 stores "cookie=COOKIE;client=CLIENT" (the Cookie header and
 * duro_connect_info.client) as the attachment.
 *
 * Plain HTTP (on_request): a target with "?never" is never answered (504 tests), "?later" is
 * answered on the object's next message ("answer" command, after on_request returned); any
 * other answers 200 "METHOD TARGET BODY" with X-Probe-Client: the client address and
 * X-Probe-Gen: the object's generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "duro/class.h"

#define REPLY_MAX_BYTES 20000
#ifndef PROBE_VERSION
#define PROBE_VERSION 1
#endif
#define LIST_MAX 64

static unsigned generation; /* per worker process */

struct probe_state {
    unsigned gen;
    int last_close_code; /* of the last socket that closed, for "lastclose" */
    int last_close_clean;
};

static void *probe_construct(struct duro_object *obj)
{
    (void)obj;
    struct probe_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->gen = ++generation;
        st->last_close_code = -1;
    }
    return st;
}

static void probe_destroy(struct duro_object *obj, void *state)
{
    (void)obj;
    free(state);
}

/* Value of query parameter `key` in the target, or NULL. */
static const char *param(const struct duro_connect_info *info, const char *key, size_t *len)
{
    const char *end = info->target + info->target_len;
    const char *p = memchr(info->target, '?', info->target_len);
    size_t klen = strlen(key);
    while (p != NULL && p < end) {
        p++;
        if ((size_t)(end - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            const char *v = p + klen + 1;
            const char *amp = memchr(v, '&', (size_t)(end - v));
            *len = (size_t)((amp ? amp : end) - v);
            return v;
        }
        p = memchr(p, '&', (size_t)(end - p));
    }
    return NULL;
}

static int probe_connect(struct duro_object *obj, void *state, struct duro_socket *ws,
                         const struct duro_connect_info *info)
{
    (void)state;
    size_t len;
    const char *v = param(info, "refuse", &len);
    if (v != NULL) {
        return atoi(v);
    }
    v = param(info, "tags", &len);
    while (v != NULL && len > 0) {
        const char *comma = memchr(v, ',', len);
        size_t n = comma ? (size_t)(comma - v) : len;
        if (duro_socket_add_tag(ws, v, n) != 0) {
            return 400; /* over a limit: refuse, so the test sees it */
        }
        if (comma == NULL) {
            break;
        }
        len -= n + 1;
        v = comma + 1;
    }
    v = param(info, "peek", &len);
    if (v != NULL) {
        char peek[96];
        int n = snprintf(peek, sizeof peek, "peek:%zu:%zu:%zu", duro_object_open_count(obj),
                         duro_object_sockets(obj, NULL, 0, NULL, 0),
                         duro_object_sockets(obj, v, len, NULL, 0));
        if (duro_socket_set_attachment(ws, peek, (size_t)n) != 0) {
            return 500;
        }
    }
    if (param(info, "info", &len) != NULL) {
        const char *cookie = "";
        size_t clen = 0;
        for (size_t i = 0; i < info->nheaders; i++) {
            if (info->headers[i].name_len == 6 &&
                strncasecmp(info->headers[i].name, "cookie", 6) == 0) {
                cookie = info->headers[i].value;
                clen = info->headers[i].value_len;
            }
        }
        char att[512];
        int n = snprintf(att, sizeof att, "cookie=%.*s;client=%s", (int)clen, cookie,
                         info->client);
        if (n < 0 || (size_t)n >= sizeof att ||
            duro_socket_set_attachment(ws, att, (size_t)n) != 0) {
            return 500;
        }
    }
    if (param(info, "proto", &len) != NULL && info->protocols_len > 0) {
        const char *p = info->protocols;
        size_t n = 0;
        while (n < info->protocols_len && p[n] != ',' && p[n] != ' ') {
            n++;
        }
        if (duro_socket_set_protocol(ws, p, n) != 0) {
            return 500;
        }
    }
    return 0;
}

static uint64_t later_id; /* a response answered after on_request returned */

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static int is(const uint8_t *d, size_t len, const char *cmd)
{
    size_t n = strlen(cmd);
    return len >= n && memcmp(d, cmd, n) == 0;
}

static void reply(struct duro_socket *ws, const char *s, size_t n)
{
    (void)duro_send(ws, 0, s, n);
}

static void probe_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                          int binary, const uint8_t *d, size_t len)
{
    struct probe_state *st = state;
    static char out[REPLY_MAX_BYTES];
    int n = 0;
    if (binary) {
        reply(ws, "binary", 6);
    } else if (is(d, len, "version") && len == 7) {
        n = snprintf(out, sizeof out, "version:%d", PROBE_VERSION);
    } else if (is(d, len, "gen") && len == 3) {
        n = snprintf(out, sizeof out, "gen:%u", st ? st->gen : 0);
    } else if (is(d, len, "tags") && len == 4) {
        struct duro_iov tags[LIST_MAX];
        size_t k = duro_socket_tags(ws, tags, LIST_MAX);
        for (size_t i = 0; i < k && i < LIST_MAX; i++) {
            n += snprintf(out + n, sizeof out - (size_t)n, "%s%.*s", i ? "," : "",
                          (int)tags[i].len, (const char *)tags[i].base);
        }
    } else if (is(d, len, "count:")) {
        size_t tl = len - 6;
        size_t k = duro_object_sockets(obj, tl ? (const char *)d + 6 : NULL, tl, NULL, 0);
        n = snprintf(out, sizeof out, "count:%zu", k);
    } else if (is(d, len, "attach:")) {
        n = snprintf(out, sizeof out, "%s",
                     duro_socket_set_attachment(ws, d + 7, len - 7) == 0 ? "ok" : "error");
    } else if (is(d, len, "attachsize:")) {
        char num[16];
        snprintf(num, sizeof num, "%.*s", (int)(len - 11), (const char *)d + 11);
        size_t size = (size_t)atol(num);
        char *buf = calloc(1, size + 1);
        int rc = buf ? duro_socket_set_attachment(ws, buf, size) : -1;
        free(buf);
        n = snprintf(out, sizeof out, "%s", rc == 0 ? "ok" : "error");
    } else if (is(d, len, "attachment") && len == 10) {
        size_t al;
        const void *a = duro_socket_attachment(ws, &al);
        n = snprintf(out, sizeof out, "%.*s", (int)al, a ? (const char *)a : "");
    } else if (is(d, len, "auto:")) {
        const uint8_t *eq = memchr(d + 5, '=', len - 5);
        int rc = -1;
        if (eq != NULL) {
            rc = duro_object_set_auto_response(obj, (const char *)d + 5, (size_t)(eq - d - 5),
                                               (const char *)eq + 1, (size_t)(d + len - eq - 1));
        }
        n = snprintf(out, sizeof out, "%s", rc == 0 ? "ok" : "error");
    } else if (is(d, len, "autot:") || is(d, len, "autob:")) {
        const uint8_t *eq = memchr(d + 6, '=', len - 6);
        int kind = d[4] == 'b' ? DURO_BINARY : DURO_TEXT;
        int rc = DURO_EINVAL;
        if (eq != NULL) {
            rc = duro_object_add_auto_response(obj, kind, d + 6, (size_t)(eq - d - 6), kind,
                                               eq + 1, (size_t)(d + len - eq - 1));
        }
        n = rc == 0 ? snprintf(out, sizeof out, "ok") : snprintf(out, sizeof out, "error:%d", rc);
    } else if (is(d, len, "autorm:")) {
        int rc = duro_object_remove_auto_response(obj, DURO_TEXT, d + 7, len - 7);
        n = rc == 0 ? snprintf(out, sizeof out, "ok") : snprintf(out, sizeof out, "error:%d", rc);
    } else if (is(d, len, "tag+:") || is(d, len, "tag-:")) {
        int rc = d[3] == '+' ? duro_socket_add_tag(ws, (const char *)d + 5, len - 5)
                             : duro_socket_remove_tag(ws, (const char *)d + 5, len - 5);
        n = rc == 0 ? snprintf(out, sizeof out, "ok") : snprintf(out, sizeof out, "error:%d", rc);
    } else if (is(d, len, "autotime") && len == 8) {
        n = snprintf(out, sizeof out, "autotime:%llu",
                     (unsigned long long)duro_socket_auto_response_time(ws));
    } else if (is(d, len, "bcast:")) {
        const uint8_t *colon = memchr(d + 6, ':', len - 6);
        if (colon != NULL) {
            size_t tl = (size_t)(colon - d - 6);
            size_t k = duro_object_broadcast(obj, tl ? (const char *)d + 6 : NULL, tl, 0,
                                             colon + 1, (size_t)(d + len - colon - 1));
            n = snprintf(out, sizeof out, "sent:%zu", k);
        }
    } else if (is(d, len, "id") && len == 2) {
        n = snprintf(out, sizeof out, "%s", duro_object_id(obj));
    } else if (is(d, len, "name") && len == 4) {
        size_t nl;
        const char *name = duro_object_name(obj, &nl);
        n = snprintf(out, sizeof out, "%.*s", (int)nl, name);
    } else if (is(d, len, "answer") && len == 6) {
        struct duro_response *res = duro_object_response(obj, later_id);
        int rc = res != NULL ? duro_response_send(res, 202, "later", 5) : DURO_ENOTFOUND;
        n = snprintf(out, sizeof out, "answer:%d", rc);
    } else if (is(d, len, "buffered") && len == 8) {
        n = snprintf(out, sizeof out, "buffered:%zu", duro_socket_buffered(ws));
    } else if (is(d, len, "lastclose") && len == 9) {
        n = snprintf(out, sizeof out, "lastclose:%d:%d", st ? st->last_close_code : -2,
                     st ? st->last_close_clean : -2);
    } else if (is(d, len, "alarmfail:")) {
        unsigned fails = 0;
        long long ms = 0;
        char args[40];
        snprintf(args, sizeof args, "%.*s", (int)(len - 10), (const char *)d + 10);
        if (sscanf(args, "%u:%lld", &fails, &ms) == 2) {
            char v[16];
            int vl = snprintf(v, sizeof v, "%u", fails);
            int rc = duro_storage_put(obj, "fails", 5, v, (size_t)vl);
            if (rc == 0) {
                rc = duro_alarm_set(obj, now_ms() + ms);
            }
            n = snprintf(out, sizeof out, "%s", rc == 0 ? "ok" : "error");
        }
    } else if (is(d, len, "alarmin") && len == 7) {
        int64_t at = duro_alarm_get(obj);
        n = at == 0 ? snprintf(out, sizeof out, "alarmin:none")
                    : snprintf(out, sizeof out, "alarmin:%lld", (long long)(at - now_ms()));
    } else if (is(d, len, "kv:")) {
        const void *v;
        size_t vl;
        int rc = duro_storage_get(obj, d + 3, len - 3, &v, &vl);
        n = rc == 0 ? snprintf(out, sizeof out, "kv:%.*s", (int)vl, (const char *)v)
                    : snprintf(out, sizeof out, "kv:none");
    } else if (is(d, len, "sql:")) {
        int rc = duro_sql_exec(obj, (const char *)d + 4, len - 4, NULL, 0, NULL, NULL);
        n = snprintf(out, sizeof out, "sql:%d", rc);
    } else if (is(d, len, "close:")) {
        char num[16];
        snprintf(num, sizeof num, "%.*s", (int)(len - 6), (const char *)d + 6);
        (void)duro_close(ws, (uint16_t)atoi(num), "probe", 5);
        return;
    } else {
        n = snprintf(out, sizeof out, "unknown");
    }
    if (n > 0) {
        reply(ws, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
    }
}

static int probe_alarm(struct duro_object *obj, void *state, uint32_t retry_count)
{
    (void)state;
    const void *v;
    size_t vl;
    unsigned fails = 0;
    if (duro_storage_get(obj, "fails", 5, &v, &vl) == 0 && vl < 16) {
        char num[16];
        memcpy(num, v, vl);
        num[vl] = '\0';
        fails = (unsigned)atoi(num);
    }
    if (retry_count < fails) {
        return -1;
    }
    char out[16];
    int n = snprintf(out, sizeof out, "%u", retry_count);
    return duro_storage_put(obj, "alarm_ok", 8, out, (size_t)n) == 0 ? 0 : -1;
}

static void probe_close(struct duro_object *obj, void *state, struct duro_socket *ws,
                        uint16_t code, const char *reason, size_t reason_len, int was_clean)
{
    (void)ws;
    (void)reason;
    (void)reason_len;
    struct probe_state *st = state;
    if (st != NULL) {
        st->last_close_code = code;
        st->last_close_clean = was_clean;
    }
    char out[64];
    int n = snprintf(out, sizeof out, "closed:%u:%d", (unsigned)code, was_clean);
    (void)duro_object_broadcast(obj, "watch", 5, DURO_TEXT, out, (size_t)n);
}


static int target_has(const struct duro_request *req, const char *what)
{
    size_t n = strlen(what);
    for (size_t i = 0; i + n <= req->target_len; i++) {
        if (memcmp(req->target + i, what, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static void probe_request(struct duro_object *obj, void *state, const struct duro_request *req,
                          struct duro_response *res)
{
    struct probe_state *st = state;
    (void)obj;
    if (target_has(req, "?never")) {
        return;
    }
    if (target_has(req, "?later")) {
        later_id = duro_response_id(res);
        return;
    }
    static char out[REPLY_MAX_BYTES];
    int n = snprintf(out, sizeof out, "%.*s %.*s %.*s", (int)req->method_len, req->method,
                     (int)req->target_len, req->target, (int)req->body_len,
                     (const char *)req->body);
    char gen[16];
    int gl = snprintf(gen, sizeof gen, "%u", st != NULL ? st->gen : 0);
    if (duro_response_header(res, "X-Probe-Client", 14, req->client, strlen(req->client)) != 0 ||
        duro_response_header(res, "X-Probe-Gen", 11, gen, (size_t)gl) != 0 ||
        duro_response_header(res, "Content-Length", 14, "1", 1) != DURO_EINVAL) {
        (void)duro_response_send(res, 500, "header refused", 14);
        return;
    }
    (void)duro_response_send(res, 200, out, n > 0 && (size_t)n < sizeof out ? (size_t)n : 0);
}

const struct duro_class probe_class = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "probe",
    .construct = probe_construct,
    .destroy = probe_destroy,
    .on_connect = probe_connect,
    .on_message = probe_message,
    .on_close = probe_close,
    .on_request = probe_request,
    .on_alarm = probe_alarm,
};

/* A class built for another API version, for the start-up error test. */
const struct duro_class probe_class_v0 = {
    .api_version = 0,
    .name = "old",
    .on_message = probe_message,
};

/* A class that claims version 2 without saying its size (struct_size 0): refused at start-up,
 * since the worker could not know which fields it has. */
const struct duro_class probe_class_v2_nosize = {
    .api_version = 2,
    .name = "nosize",
    .on_message = probe_message,
};

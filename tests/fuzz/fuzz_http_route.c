/* tests/fuzz/fuzz_http_route.c: the gateway's request parser (gateway/http_req.h) and routing
 * decision (gateway/router.h over a common/conf.h config), fed like gateway/conn.c feeds them.
 *
 * Input: byte 0 picks how the rest is split into reads (1..32 bytes, or all at once); the rest
 * is the client's byte stream (pipelined requests allowed). Each request is parsed, decided as
 * conn.c's on_head decides (Host, route, Upgrade, handshake), and answered; an upgrade ends the
 * stream (the rest would be WebSocket bytes).
 *
 * Invariants checked (abort on violation):
 * - every span (target, headers) lies inside the bytes fed so far, and head_end too;
 * - an error carries a status in {400, 414, 431, 501} and a reason;
 * - router_match: a match names a route of the config, a NUL-free name of name_len bytes
 *   (<= DURO_OBJECT_NAME_MAX_BYTES); exact/prefix/suffix hits agree with a reference matcher;
 * - http_req_check_upgrade accepts only GET HTTP/1.1 with Sec-WebSocket-Version 13 and a
 *   24-byte key, and names the problem otherwise;
 * - the outcome (sequence of decisions and statuses) does not depend on how the stream was
 *   split into reads, unless a size limit was hit (those legitimately depend on buffering). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/log.h"
#include "gateway/http_req.h"
#include "gateway/router.h"
#include "tests/fuzz/fuzz_check.h"

#define MAX_REQS 16

static const char CONFIG[] =
    "[http]\n"
    "head_max_bytes = 2048\n"
    "headers_max_count = 24\n"
    "target_max_bytes = 512\n"
    "[route echo]\nmatch = exact /echo\nclass = echo\nobject = echo\n"
    "[route rooms]\nmatch = path /rooms/{name}/ws\nclass = seed\nobject = {name}\n"
    "[route top]\nmatch = path /{name}\nclass = echo\nobject = {name}\n"
    "[route api]\nmatch = prefix /api/\nclass = seed\nobject = api\n"
    "[route seed]\nmatch = suffix /websocket\nclass = seed\nobject = foo\n";

static struct conf g_conf;

enum verdict { V_NONE = 0, V_SEED_400, V_SEED_426, V_ERROR, V_UPGRADE };

struct outcome {
    int kind;    /* 1 done, 2 error, 3 stream ended */
    int verdict;
    int status;
    int limit;   /* a size limit decided it */
};

struct ctx {
    size_t fed;  /* bytes of the current buffer handed to the parser */
    const char *buf;
    int verdict;
    int status;
};


int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    log_init("fuzz", LOG_ERROR);
    if (conf_parse(&g_conf, CONFIG, "(fuzz)", err, sizeof err) != 0) {
        fprintf(stderr, "fuzz config: %s\n", err);
        abort();
    }
    return 0;
}

static void check_span(const struct ctx *x, struct http_span s)
{
    CHECK((size_t)s.off + s.len <= x->fed);
}

/* Reference for the literal route kinds: first route that matches wins. */
static const struct conf_route *ref_literal(const char *t, size_t len)
{
    const char *hash = memchr(t, '#', len);
    if (hash != NULL) {
        len = (size_t)(hash - t);
    }
    for (unsigned i = 0; i < g_conf.nroutes; i++) {
        const struct conf_route *r = &g_conf.routes[i];
        size_t v = strlen(r->value);
        if (r->match == ROUTE_PATTERN) {
            return NULL; /* a pattern route comes first: the reference stops here */
        }
        int hit = (r->match == ROUTE_EXACT && len == v && memcmp(t, r->value, v) == 0) ||
                  (r->match == ROUTE_PREFIX && len >= v && memcmp(t, r->value, v) == 0) ||
                  (r->match == ROUTE_SUFFIX && len >= v && memcmp(t + len - v, r->value, v) == 0);
        if (hit) {
            return r;
        }
    }
    return NULL;
}

static void on_head(struct http_req *r, void *arg)
{
    struct ctx *x = arg;

    CHECK(r->head_end <= x->fed);
    check_span(x, r->target);
    for (int h = 0; h < HDR_COUNT; h++) {
        if (r->hdr_count[h] > 0) {
            check_span(x, r->hdr[h]);
        }
    }
    x->status = 0;
    if (http_req_version_minor(r) >= 1 && r->hdr_count[HDR_HOST] != 1) {
        x->verdict = V_ERROR;
        x->status = 400;
        return;
    }
    struct route_result rr;
    memset(&rr, 0xAA, sizeof rr);
    const char *t = http_req_str(r, r->target);
    enum router_outcome ro = router_match(&g_conf, t, r->target.len, &rr);
    CHECK(ro == ROUTER_NONE || ro == ROUTER_MATCH || ro == ROUTER_BAD_NAME);
    if (ro == ROUTER_MATCH) {
        CHECK(rr.route >= g_conf.routes && rr.route < g_conf.routes + g_conf.nroutes);
        CHECK(rr.name_len >= 1 && rr.name_len <= DURO_OBJECT_NAME_MAX_BYTES);
        CHECK(rr.name[rr.name_len] == '\0' && strlen(rr.name) == rr.name_len);
        if (rr.route->match != ROUTE_PATTERN) {
            CHECK(strcmp(rr.name, rr.route->object) == 0);
        }
    }
    const struct conf_route *ref = ref_literal(t, r->target.len);
    if (ref != NULL) {
        CHECK(ro == ROUTER_MATCH && rr.route == ref);
    }
    if (ro == ROUTER_NONE) {
        x->verdict = V_SEED_400;
        return;
    }
    if (!http_req_hdr_is(r, HDR_UPGRADE, "websocket")) {
        x->verdict = V_SEED_426;
        return;
    }
    if (ro == ROUTER_BAD_NAME) {
        x->verdict = V_ERROR;
        x->status = 400;
        return;
    }
    const char *why = NULL;
    int st = http_req_check_upgrade(r, &why);
    if (st != 0) {
        CHECK(st == 400 || st == 426);
        CHECK(why != NULL && why[0] != '\0');
        x->verdict = V_ERROR;
        x->status = st;
        return;
    }
    CHECK(http_req_method(r) == HTTP_GET);
    CHECK(http_req_version_minor(r) == 1);
    CHECK(r->hdr_count[HDR_WS_KEY] == 1 && r->hdr[HDR_WS_KEY].len == DURO_WS_KEY_BYTES);
    CHECK(http_req_hdr_is(r, HDR_WS_VERSION, "13"));
    CHECK(!r->has_body);
    x->verdict = V_UPGRADE;
}

/* Runs the stream through a parser the way conn.c does, reads of `step` bytes (0: all).
 * Returns the number of outcomes written. */
static int run(const uint8_t *data, size_t len, size_t step, struct outcome *out)
{
    uint32_t cap = g_conf.head_max_bytes + DURO_EARLY_DATA_MAX_BYTES;
    char *buf = malloc(cap);
    struct ctx x = { 0, buf, V_NONE, 0 };
    struct http_limits lim = { g_conf.head_max_bytes, g_conf.headers_max_count,
                               g_conf.target_max_bytes };
    struct http_req r;
    size_t pos = 0, in_len = 0, parsed = 0;
    int n = 0;

    http_req_init(&r, &lim, on_head, &x, NULL);
    while (n < MAX_REQS) {
        if (parsed == in_len) {
            if (pos == len) {
                out[n++] = (struct outcome){ 3, 0, 0, 0 };
                break;
            }
            size_t take = step == 0 ? len - pos : step;
            if (take > len - pos) {
                take = len - pos;
            }
            if (take > cap - in_len) {
                take = cap - in_len;
            }
            memcpy(buf + in_len, data + pos, take);
            in_len += take;
            pos += take;
        }
        size_t consumed = 0;
        x.fed = in_len;
        enum http_result res = http_req_feed(&r, buf, parsed, in_len, &consumed);
        if (res == HTTP_NEED_MORE) {
            CHECK(consumed == in_len);
            parsed = consumed;
            if (r.head_done) {
                in_len = parsed = 0; /* body bytes of a decided request: dropped */
            } else if (in_len == cap) {
                out[n++] = (struct outcome){ 2, 0, 431, 1 };
                break;
            }
            continue;
        }
        if (res == HTTP_ERROR) {
            CHECK(r.status == 400 || r.status == 414 || r.status == 431 || r.status == 501);
            CHECK(r.reason != NULL && r.reason[0] != '\0');
            out[n++] = (struct outcome){ 2, 0, r.status, r.status == 431 || r.status == 414 };
            break;
        }
        CHECK(res == HTTP_DONE);
        CHECK(consumed >= parsed && consumed <= in_len && consumed > 0);
        CHECK(r.head_done);
        int verdict = x.verdict;
        CHECK(verdict != V_NONE);
        out[n++] = (struct outcome){ 1, verdict, x.status, 0 };
        if (verdict == V_UPGRADE || verdict == V_ERROR || !http_req_keep_alive(&r)) {
            break; /* hand-off, or Connection: close */
        }
        memmove(buf, buf + consumed, in_len - consumed);
        in_len -= consumed;
        parsed = 0;
        x.verdict = V_NONE; /* decided in on_head, which may run in an earlier read than DONE */
        http_req_next(&r);
    }
    free(buf);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t step = data[0] % 33; /* 0: everything in one read */
    struct outcome whole[MAX_REQS], split[MAX_REQS];
    int nw = run(data + 1, size - 1, 0, whole);
    int ns = run(data + 1, size - 1, step, split);
    int limited = 0;
    for (int i = 0; i < nw; i++) {
        limited |= whole[i].limit;
    }
    for (int i = 0; i < ns; i++) {
        limited |= split[i].limit;
    }
    if (!limited) {
        int same = nw == ns;
        for (int i = 0; same && i < nw; i++) {
            same = whole[i].kind == split[i].kind && whole[i].verdict == split[i].verdict &&
                   whole[i].status == split[i].status;
        }
        if (!same) {
            fprintf(stderr, "outcome depends on the read size (%zu):\n", step);
            for (int i = 0; i < nw || i < ns; i++) {
                fprintf(stderr, "  #%d whole: kind=%d verdict=%d status=%d | split: kind=%d "
                        "verdict=%d status=%d\n", i, i < nw ? whole[i].kind : -1,
                        i < nw ? whole[i].verdict : -1, i < nw ? whole[i].status : -1,
                        i < ns ? split[i].kind : -1, i < ns ? split[i].verdict : -1,
                        i < ns ? split[i].status : -1);
            }
            CHECK(same);
        }
    }
    return 0;
}

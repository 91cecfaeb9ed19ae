/* tests/fuzz/fuzz_conf.c: the config parser (common/conf.h conf_parse, conf_parse_hostport),
 * and the router over whatever route list a config that parses defines.
 *
 * Invariants: conf_parse returns 0 or -1; on -1 the error is one NUL-terminated, non-empty
 * line; on 0 every value is inside the bounds duro_limits.h documents, there are 1..64 routes,
 * each with a match value, a class, an object, a unique name, and `{name}` objects only on path
 * routes; router_match over sample targets (and the input itself) names one of those routes and
 * a NUL-free name; parsing the same text twice gives the same result. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conf.h"
#include "common/log.h"
#include "gateway/router.h"
#include "tests/fuzz/fuzz_check.h"


static struct conf g_a, g_b;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_init("fuzz", LOG_ERROR);
    return 0;
}

static void check_route_result(const struct conf *c, const char *t, size_t len)
{
    struct route_result rr;
    enum router_outcome o = router_match(c, t, len, &rr);
    CHECK(o == ROUTER_NONE || o == ROUTER_MATCH || o == ROUTER_BAD_NAME);
    if (o == ROUTER_MATCH) {
        CHECK(rr.route >= c->routes && rr.route < c->routes + c->nroutes);
        CHECK(rr.name_len >= 1 && rr.name_len <= DURO_OBJECT_NAME_MAX_BYTES);
        CHECK(strlen(rr.name) == rr.name_len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > DURO_CONFIG_MAX_BYTES) {
        return 0;
    }
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';

    char err[512];
    memset(err, 0x5A, sizeof err);
    int rc = conf_parse(&g_a, text, "fuzz.ini", err, sizeof err);
    CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        CHECK(strchr(err, '\n') == NULL);
    } else {
        CHECK(g_a.head_max_bytes >= DURO_HTTP_HEAD_MAX_BYTES_MIN &&
              g_a.head_max_bytes <= DURO_HTTP_HEAD_MAX_BYTES_MAX);
        CHECK(g_a.headers_max_count >= 1 &&
              g_a.headers_max_count <= DURO_HTTP_HEADERS_MAX_COUNT_MAX);
        CHECK(g_a.target_max_bytes >= DURO_HTTP_TARGET_MAX_BYTES_MIN &&
              g_a.target_max_bytes <= DURO_HTTP_HEAD_MAX_BYTES_MAX);
        CHECK(g_a.message_max_bytes >= 1 && g_a.message_max_bytes <= DURO_WS_MESSAGE_MAX_BYTES_MAX);
        CHECK(g_a.outbound_max_bytes >= DURO_WS_OUTBOUND_MIN_BYTES);
        CHECK(g_a.close_timeout_ms >= DURO_TIMEOUT_MS_MIN &&
              g_a.close_timeout_ms <= DURO_TIMEOUT_MS_MAX);
        CHECK(g_a.head_timeout_ms >= DURO_TIMEOUT_MS_MIN);
        CHECK(g_a.workers <= DURO_WORKERS_MAX_COUNT);
        CHECK(g_a.nroutes >= 1 && g_a.nroutes <= DURO_ROUTES_MAX_COUNT);
        for (unsigned i = 0; i < g_a.nroutes; i++) {
            const struct conf_route *r = &g_a.routes[i];
            CHECK(r->value[0] != '\0' && r->cls[0] != '\0' && r->object[0] != '\0');
            CHECK(strlen(r->value) <= DURO_ROUTE_PATTERN_MAX_BYTES);
            if (strcmp(r->object, "{name}") == 0) {
                CHECK(r->match == ROUTE_PATTERN);
            }
            if (r->match == ROUTE_PATTERN) {
                CHECK(strstr(r->value, "{name}") != NULL);
            }
            for (unsigned j = 0; j < i; j++) {
                CHECK(strcmp(g_a.routes[j].name, r->name) != 0);
            }
        }
        char err2[512];
        CHECK(conf_parse(&g_b, text, "fuzz.ini", err2, sizeof err2) == 0);
        CHECK(g_b.nroutes == g_a.nroutes && g_b.head_max_bytes == g_a.head_max_bytes);
        static const char *const targets[] = {
            "/", "/websocket", "/echo", "/a/websocket?x=1", "/rooms/r1/ws", "/rooms/%41%42/ws",
            "/rooms/%00/ws", "/rooms//ws", "/x#frag", "/%zz", "/api/v1", "",
        };
        for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
            check_route_result(&g_a, targets[i], strlen(targets[i]));
        }
        check_route_result(&g_a, (const char *)data, size < 8192 ? size : 8192);
    }

    char host[64];
    uint16_t port;
    if (conf_parse_hostport(text, host, sizeof host, &port) == 0) {
        CHECK(strlen(host) >= 1 && strlen(host) < sizeof host);
    }
    free(text);
    return 0;
}

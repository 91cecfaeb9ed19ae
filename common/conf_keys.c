/* common/conf_keys.c: every config key, one row each (section, name, type, where it is stored,
 * bounds, default), which the parser (conf.c), `--check`, the docs test and the fuzzer read. */
#include "common/conf.h"

#include <stdio.h>
#include <string.h>

static const char *const ownership_words[] = { "warn", "refuse", NULL };
static const char *const deflate_words[] = { "off", "stateless", "takeover", NULL };
static const char *const upgrade_check_words[] = { "seed", "rfc", NULL }; /* enum upgrade_check */
static const char *const durability_words[] = { "relaxed", "full", NULL }; /* storage_full */
static const char *const failover_words[] = { "yes", "no", NULL };             /* no_failover */

/* ---- the key table: one row per key ---- */

#define FIELD(type, m) offsetof(type, m), sizeof(((type *)0)->m)
#define PORT(type, m) offsetof(type, m)
#define LEN(type, m) (uint32_t)(sizeof(((type *)0)->m) - 1)

#define U32(sec, key, m, lo, hi, def) \
    { sec, key, CONF_U32, CONF_SCOPE_CONF, FIELD(struct conf, m), 0, lo, hi, def, NULL, NULL }
#define BOOL(sec, key, m, def) \
    { sec, key, CONF_BOOL, CONF_SCOPE_CONF, FIELD(struct conf, m), 0, 0, 1, def, NULL, NULL }
#define WORDS(sec, key, m, words, def) \
    { sec, key, CONF_WORDS, CONF_SCOPE_CONF, FIELD(struct conf, m), 0, 0, 0, def, NULL, words }
#define ADDR(sec, key, type, m, port, def) \
    { sec, key, type, CONF_SCOPE_CONF, FIELD(struct conf, m), PORT(struct conf, port), 0, 0, 0, \
      def, NULL }
#define TEXT(scope, st, sec, key, type, m, lo, def) \
    { sec, key, type, scope, FIELD(st, m), 0, lo, LEN(st, m), 0, def, NULL }

const struct conf_key conf_keys[] = {
    ADDR("server", "listen", CONF_BIND, listen_host, listen_port, DURO_LISTEN_DEFAULT),
    BOOL("server", "reuseport", reuseport, 0),
    U32("server", "workers", workers, 0, DURO_WORKERS_MAX_COUNT, 0),
    ADDR("server", "admin", CONF_BIND_OFF, admin_host, admin_port, DURO_ADMIN_DEFAULT),
    U32("server", "drain_timeout_ms", drain_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX,
        DURO_DRAIN_TIMEOUT_MS_DEFAULT),
    U32("server", "upgrade_timeout_ms", upgrade_timeout_ms, DURO_TIMEOUT_MS_MIN,
        DURO_TIMEOUT_MS_MAX, DURO_UPGRADE_TIMEOUT_MS_DEFAULT),
    U32("server", "heartbeat_timeout_ms", heartbeat_timeout_ms, DURO_HEARTBEAT_TIMEOUT_MS_MIN,
        DURO_TIMEOUT_MS_MAX, DURO_HEARTBEAT_TIMEOUT_MS_DEFAULT),
    U32("server", "ready_workers_down_max_percent", ready_workers_down_max_percent, 0,
        DURO_READY_WORKERS_DOWN_MAX_PERCENT_MAX, DURO_READY_WORKERS_DOWN_MAX_PERCENT_DEFAULT),
    WORDS("server", "log_level", log_level, log_level_names, LOG_INFO),
    BOOL("server", "log_timestamps", log_timestamps, 1),
    WORDS("server", "log_format", log_format, log_format_names, LOG_FORMAT_TEXT),
    BOOL("server", "proxy_protocol", proxy_protocol, 0),

    U32("http", "head_max_bytes", head_max_bytes, DURO_HTTP_HEAD_MAX_BYTES_MIN,
        DURO_HTTP_HEAD_MAX_BYTES_MAX, DURO_HTTP_HEAD_MAX_BYTES_DEFAULT),
    U32("http", "headers_max_count", headers_max_count, 1, DURO_HTTP_HEADERS_MAX_COUNT_MAX,
        DURO_HTTP_HEADERS_MAX_COUNT_DEFAULT),
    U32("http", "target_max_bytes", target_max_bytes, DURO_HTTP_TARGET_MAX_BYTES_MIN,
        DURO_HTTP_HEAD_MAX_BYTES_MAX, DURO_HTTP_TARGET_MAX_BYTES_DEFAULT),
    U32("http", "head_timeout_ms", head_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX,
        DURO_HEAD_TIMEOUT_MS_DEFAULT),
    U32("http", "keepalive_timeout_ms", keepalive_timeout_ms, DURO_TIMEOUT_MS_MIN,
        DURO_TIMEOUT_MS_MAX, DURO_KEEPALIVE_TIMEOUT_MS_DEFAULT),
    U32("http", "body_max_bytes", body_max_bytes, 0, DURO_HTTP_BODY_MAX_BYTES_MAX,
        DURO_HTTP_BODY_MAX_BYTES_DEFAULT),
    U32("http", "object_timeout_ms", object_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX,
        DURO_OBJECT_TIMEOUT_MS_DEFAULT),

    U32("websocket", "message_max_bytes", message_max_bytes, 1, DURO_WS_MESSAGE_MAX_BYTES_MAX,
        DURO_WS_MESSAGE_MAX_BYTES_DEFAULT),
    U32("websocket", "close_timeout_ms", close_timeout_ms, DURO_TIMEOUT_MS_MIN,
        DURO_TIMEOUT_MS_MAX, DURO_WS_CLOSE_TIMEOUT_MS_DEFAULT),
    U32("websocket", "outbound_max_bytes", outbound_max_bytes, DURO_WS_OUTBOUND_MIN_BYTES,
        DURO_WS_MESSAGE_MAX_BYTES_MAX, DURO_WS_OUTBOUND_MAX_BYTES_DEFAULT),
    U32("websocket", "write_timeout_ms", write_timeout_ms, DURO_TIMEOUT_MS_MIN,
        DURO_TIMEOUT_MS_MAX, DURO_WS_WRITE_TIMEOUT_MS_DEFAULT),
    U32("websocket", "messages_per_second", messages_per_second, 0,
        DURO_WS_MESSAGES_PER_SECOND_MAX, 0),
    U32("websocket", "worker_buffer_max_bytes", worker_buffer_max_bytes,
        DURO_WS_WORKER_BUFFER_MIN_BYTES, DURO_WS_WORKER_BUFFER_MAX_BYTES_MAX,
        DURO_WS_WORKER_BUFFER_MAX_BYTES_DEFAULT),
    U32("websocket", "ping_interval_ms", ping_interval_ms, 0, DURO_TIMEOUT_MS_MAX,
        DURO_WS_PING_INTERVAL_MS_DEFAULT),
    U32("websocket", "ping_timeout_ms", ping_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX,
        DURO_WS_PING_TIMEOUT_MS_DEFAULT),
    WORDS("websocket", "deflate", deflate, deflate_words, DURO_DEFLATE_MODE_DEFAULT),
    U32("websocket", "deflate_min_bytes", deflate_min_bytes, 0, DURO_WS_MESSAGE_MAX_BYTES_MAX,
        DURO_DEFLATE_MIN_BYTES_DEFAULT),
    U32("websocket", "deflate_window_bits", deflate_window_bits, DURO_DEFLATE_WINDOW_BITS_MIN,
        DURO_DEFLATE_WINDOW_BITS_MAX, DURO_DEFLATE_WINDOW_BITS_DEFAULT),

    U32("objects", "hibernate_after_ms", hibernate_after_ms, DURO_TIMEOUT_MS_MIN,
        DURO_TIMEOUT_MS_MAX, DURO_HIBERNATE_AFTER_MS_DEFAULT),
    U32("objects", "sockets_max_count", sockets_max_count, 1, DURO_OBJECT_SOCKETS_MAX_COUNT,
        DURO_OBJECT_SOCKETS_MAX_COUNT),

    U32("lua", "event_max_ms", lua_event_max_ms, DURO_TIMEOUT_MS_MIN, DURO_LUA_EVENT_MAX_MS_MAX,
        DURO_LUA_EVENT_MAX_MS_DEFAULT),
    U32("lua", "memory_max_bytes", lua_memory_max_bytes, DURO_LUA_MEMORY_MIN_BYTES,
        DURO_LUA_MEMORY_MAX_BYTES_MAX, DURO_LUA_MEMORY_MAX_BYTES_DEFAULT),

    TEXT(CONF_SCOPE_CONF, struct conf, "storage", "dir", CONF_STRING, storage_dir, 1,
         DURO_STORAGE_DIR_DEFAULT),
    WORDS("storage", "durability", storage_full, durability_words, 1),
    U32("storage", "object_max_bytes", storage_object_max_bytes,
        DURO_STORAGE_OBJECT_MAX_BYTES_MIN, DURO_STORAGE_OBJECT_MAX_BYTES_MAX,
        DURO_STORAGE_OBJECT_MAX_BYTES_DEFAULT),

    TEXT(CONF_SCOPE_CONF, struct conf, "cluster", "self", CONF_NAME, self, 0, ""),
    WORDS("cluster", "ownership", ownership, ownership_words, OWNERSHIP_WARN),
    ADDR("cluster", "balancer_listen", CONF_HOSTPORT, balancer_host, balancer_port,
         DURO_BALANCER_LISTEN_DEFAULT),
    TEXT(CONF_SCOPE_CONF, struct conf, "cluster", "tls_cert", CONF_STRING, tls_cert, 0, ""),

    { "route", "match", CONF_MATCH, CONF_SCOPE_ROUTE, FIELD(struct conf_route, value),
      offsetof(struct conf_route, match), 1, LEN(struct conf_route, value), 0, NULL, NULL },
    TEXT(CONF_SCOPE_ROUTE, struct conf_route, "route", "class", CONF_STRING, cls, 1, NULL),
    TEXT(CONF_SCOPE_ROUTE, struct conf_route, "route", "object", CONF_STRING, object, 1, NULL),
    TEXT(CONF_SCOPE_ROUTE, struct conf_route, "route", "origins", CONF_STRING, origins, 0, ""),
    { "route", "upgrade_check", CONF_WORDS, CONF_SCOPE_ROUTE,
      FIELD(struct conf_route, upgrade_check), 0, 0, 0, 0, NULL, upgrade_check_words },
    { "route", "failover", CONF_WORDS, CONF_SCOPE_ROUTE, FIELD(struct conf_route, no_failover), 0,
      0, 0, 0, NULL, failover_words },

    TEXT(CONF_SCOPE_CLASS, struct conf_class, "class", "path", CONF_STRING, path, 1, NULL),
    TEXT(CONF_SCOPE_CLASS, struct conf_class, "class", "script", CONF_STRING, script, 1, NULL),
    TEXT(CONF_SCOPE_CLASS, struct conf_class, "class", "symbol", CONF_STRING, symbol, 1,
         "duro_class"),

    { "node", "address", CONF_HOSTPORT, CONF_SCOPE_NODE, FIELD(struct conf_node, host),
      offsetof(struct conf_node, port), 0, 0, 0, NULL, NULL },
    { "node", "admin", CONF_HOSTPORT, CONF_SCOPE_NODE, FIELD(struct conf_node, admin_host),
      offsetof(struct conf_node, admin_port), 0, 0, 0, NULL, NULL },
};
const unsigned conf_keys_count = sizeof conf_keys / sizeof conf_keys[0];

_Static_assert(sizeof(unsigned) == sizeof(uint32_t), "[server] workers is read as a uint32_t");

const struct conf_key *conf_key_find(const char *section, const char *name)
{
    for (unsigned i = 0; i < conf_keys_count; i++) {
        if (strcmp(conf_keys[i].section, section) == 0 && strcmp(conf_keys[i].name, name) == 0) {
            return &conf_keys[i];
        }
    }
    return NULL;
}

int conf_key_default(const struct conf_key *k, char *out, size_t cap)
{
    switch (k->type) {
    case CONF_U32:
        snprintf(out, cap, "%u", (unsigned)k->def_num);
        return 0;
    case CONF_BOOL:
        snprintf(out, cap, "%s", k->def_num ? "true" : "false");
        return 0;
    case CONF_WORDS:
        snprintf(out, cap, "%s", k->words[k->def_num]);
        return 0;
    default:
        if (k->def_text == NULL) {
            return -1;
        }
        snprintf(out, cap, "%s", k->def_text);
        return 0;
    }
}

/* common/conf.h: duro's configuration: defaults, INI parsing (libinih), validation.
 *
 * The gateway and every worker parse the same text: the gateway sends the text it loaded to each
 * worker in MSG_CONFIG, so a respawned worker always matches its gateway. */
#ifndef DURO_CONF_H
#define DURO_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/duro_limits.h"
#include "common/log.h"

enum route_match {
    ROUTE_EXACT = 0,   /* target == value */
    ROUTE_PREFIX = 1,  /* target starts with value */
    ROUTE_SUFFIX = 2,  /* target ends with value */
    ROUTE_PATTERN = 3, /* path (target before '?') matches value, one "{name}" segment in it */
};

/* How a route checks the Upgrade header ([route] upgrade_check). */
enum upgrade_check {
    UPGRADE_CHECK_DEFAULT = -1, /* not set: resolved at load to SEED for class seed, else RFC */
    UPGRADE_CHECK_SEED = 0,     /* the seed's rule: exactly one header, byte for byte "websocket" */
    UPGRADE_CHECK_RFC = 1,      /* RFC 6455 4.2.1: a case-insensitive "websocket" token in a list */
};

struct conf_route {
    char name[DURO_ROUTE_NAME_MAX_BYTES + 1];
    enum route_match match;
    enum upgrade_check upgrade_check;
    char value[DURO_ROUTE_PATTERN_MAX_BYTES + 1];
    char cls[DURO_CLASS_NAME_MAX_BYTES + 1];
    char object[DURO_OBJECT_NAME_MAX_BYTES + 1]; /* literal, or "{name}" for ROUTE_PATTERN */
    char origins[DURO_ROUTE_ORIGINS_MAX_BYTES + 1]; /* "a, b" allow-list of Origin, "" = any */
    int no_failover; /* failover = no: storage-backed objects; the balancer answers 503 while
                      * the owner node is down instead of sending them to another node */
};

/* A class loaded from a shared object or a Lua script ([class NAME] section; exactly one of
 * `path` and `script` is set). A script may replace a built-in class of the same name. */
struct conf_class {
    char name[DURO_CLASS_NAME_MAX_BYTES + 1];
    char path[DURO_CLASS_PATH_MAX_BYTES + 1];
    char symbol[DURO_CLASS_SYMBOL_MAX_BYTES + 1]; /* default "duro_class" */
    char script[DURO_CLASS_PATH_MAX_BYTES + 1];   /* a Lua class: the script, or "" */
};

/* A duro node of the cluster ([node NAME] sections), for the balancer config and the ownership
 * check. */
struct conf_node {
    char name[DURO_NODE_NAME_MAX_BYTES + 1];
    char host[DURO_HOST_MAX_BYTES + 1];
    uint16_t port;
    char admin_host[DURO_HOST_MAX_BYTES + 1];
    uint16_t admin_port;     /* 0: no health check port given (the node's own port is used) */
};

enum ownership_mode {
    OWNERSHIP_WARN = 0,   /* serve an object this node does not own, and log a warning */
    OWNERSHIP_REFUSE = 1, /* answer 503 with Retry-After */
};

struct conf {
    char listen_host[DURO_HOST_MAX_BYTES + 1];
    uint16_t listen_port;
    unsigned workers;          /* 0 in the file means one per CPU; resolved by the gateway */
    int reuseport;             /* SO_REUSEPORT on the listener: several gateways on one port */
    char admin_host[DURO_HOST_MAX_BYTES + 1]; /* "" when the admin listener is off */
    uint16_t admin_port;
    uint32_t drain_timeout_ms;
    uint32_t upgrade_timeout_ms; /* hand-over: a socket not at a clean point by then gets 1012 */
    uint32_t heartbeat_timeout_ms;
    uint32_t ready_workers_down_max_percent; /* /readyz: 200 while at most this share is down */
    int log_level;             /* enum log_level */
    int log_timestamps;        /* ts= on every line (off for journald, which stamps its own) */
    int log_format;            /* enum log_format */
    int proxy_protocol;        /* read a PROXY protocol v1/v2 header before each connection */

    uint32_t head_max_bytes;
    uint32_t headers_max_count;
    uint32_t target_max_bytes;
    uint32_t head_timeout_ms;
    uint32_t keepalive_timeout_ms;
    uint32_t body_max_bytes;    /* request body forwarded to an object: beyond it 413 */
    uint32_t object_timeout_ms; /* an object's answer to a request: beyond it 504 */

    uint32_t message_max_bytes;
    uint32_t close_timeout_ms;
    uint32_t outbound_max_bytes;
    uint32_t ping_interval_ms;  /* silent this long: ping (0: never) */
    uint32_t ping_timeout_ms;   /* no frame this long after a ping: close (1006) */
    int deflate;                /* enum pmd_mode's values: 0 off, 1 stateless, 2 takeover */
    uint32_t deflate_min_bytes;
    uint32_t deflate_window_bits;
    uint32_t write_timeout_ms;     /* issue 11: output stuck this long closes with 1008 */
    uint32_t messages_per_second;  /* issue 11: per-socket rate (burst: one second's worth) */
    uint32_t worker_buffer_max_bytes; /* issue 11: queued output + assembly, per worker */
    uint32_t hibernate_after_ms;
    uint32_t sockets_max_count; /* per object */

    uint32_t lua_event_max_ms;     /* [lua]: one callback's wall-clock budget */
    uint32_t lua_memory_max_bytes; /* [lua]: one Lua state's heap (one per class per worker) */

    unsigned nroutes;
    struct conf_route routes[DURO_ROUTES_MAX_COUNT];

    unsigned nclasses;
    struct conf_class classes[DURO_CLASSES_MAX_COUNT];

    unsigned nnodes;
    struct conf_node nodes[DURO_NODES_MAX_COUNT];
    char self[DURO_NODE_NAME_MAX_BYTES + 1]; /* this node's name; "" outside a cluster */
    int ownership;                           /* enum ownership_mode */
    char balancer_host[DURO_HOST_MAX_BYTES + 1]; /* the generated HAProxy frontend binds here */
    uint16_t balancer_port;
    char tls_cert[DURO_CLASS_PATH_MAX_BYTES + 1]; /* PEM for HAProxy TLS termination, or "" */

    /* [storage] */
    char storage_dir[DURO_STORAGE_DIR_MAX_BYTES + 1]; /* one SQLite file per object below it */
    int storage_full;              /* durability = full (1, fsync before the gate opens) or
                                    * relaxed (0) */
    uint32_t storage_object_max_bytes;
};

/* ---- the key table ----
 * Every key of every section is one row of conf_keys[]: the INI parser, the defaults, --check
 * and the test that config/duro.ini documents every key all read it. Adding a key is one row
 * (plus the struct field and its line in config/duro.ini). */

enum conf_type {
    CONF_U32,      /* whole number in [lo, hi], uint32_t field */
    CONF_BOOL,     /* true | false, int field */
    CONF_WORDS,    /* one of words[] (NULL-terminated), int field = its index */
    CONF_STRING,   /* text of lo to hi bytes, char[] field of size hi + 1 */
    CONF_BIND,     /* numeric "IP:PORT" or "[V6]:PORT" that duro binds; host + port fields */
    CONF_BIND_OFF, /* CONF_BIND, or "off" (host "" and port 0) */
    CONF_HOSTPORT, /* "HOST:PORT", names allowed (used by HAProxy, not bound by duro) */
    CONF_NAME,     /* lo to hi letters, digits, - and _ (a node name), char[] field */
    CONF_MATCH,    /* a route's "exact|prefix|suffix|path VALUE": char[] value, int match at off2 */
};

/* Which struct a key's offsets point into: the repeated sections ([route NAME], [class NAME],
 * [node NAME]) have one struct per section. */
enum conf_scope { CONF_SCOPE_CONF, CONF_SCOPE_ROUTE, CONF_SCOPE_CLASS, CONF_SCOPE_NODE };

struct conf_key {
    const char *section;        /* "server", ... or "route", "class", "node" for [KIND NAME] */
    const char *name;
    enum conf_type type;
    enum conf_scope scope;
    size_t off;                 /* offsetof the field (the host for CONF_BIND/HOSTPORT) */
    size_t size;                /* sizeof the field */
    size_t off2;                /* CONF_BIND/HOSTPORT: offsetof the uint16_t port */
    uint32_t lo, hi;            /* CONF_U32 bounds; CONF_STRING length bounds */
    uint32_t def_num;           /* default of CONF_U32, CONF_BOOL and CONF_WORDS (an index) */
    const char *def_text;       /* default of the text types; NULL: no default (required) */
    const char *const *words;   /* CONF_WORDS */
};

extern const struct conf_key conf_keys[];
extern const unsigned conf_keys_count;

/* Writes `k`'s default as config/duro.ini writes it ("16384", "true", "info", "127.0.0.1:8787").
 * Returns 0, or -1 when the key has no default (a required key, such as a route's class). */
int conf_key_default(const struct conf_key *k, char *out, size_t cap);

/* The row for [section] key, or NULL. `section` is the bare kind for repeated sections. */
const struct conf_key *conf_key_find(const char *section, const char *name);

/* Parses "NAME=HOST:PORT" or "NAME=HOST:PORT,ADMINHOST:ADMINPORT" (the --node flag) into a new
 * node of `c`. Returns 0, or -1 with `err` set. */
int conf_add_node(struct conf *c, const char *spec, char *err, size_t err_cap);

/* Names of the classes built into duro-worker. */
extern const char *const conf_builtin_classes[];
extern const unsigned conf_builtin_classes_count;

/* The embedded default config text (config/duro.ini, compiled in). */
extern const char conf_default_text[];

/* The origin naming the embedded config in errors. */
#define CONF_ORIGIN_EMBEDDED "(embedded)"

/* Fills `c` with the built-in defaults, then applies `text` (INI). Routes in `text` replace the
 * default route list. `origin` names the text in errors (a file path, or CONF_ORIGIN_EMBEDDED);
 * a relative [class] path is resolved against the directory of a file `origin`.
 * Returns 0, or -1 with `err` holding one line such as "duro.ini:12: [http] head_max_bytes:
 * must be between 1024 and 65536". */
int conf_parse(struct conf *c, const char *text, const char *origin, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* Applies the [server] log_* keys to the logger (log_set_level and log_configure). */
void conf_apply_log(const struct conf *c);

/* Reads `path` (at most DURO_CONFIG_MAX_BYTES) into a NUL-terminated malloc'd string.
 * Returns it, or NULL with `err` set. The caller frees it. */
char *conf_read_file(const char *path, char *err, size_t err_cap);

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. Returns 0 or -1. */
int conf_parse_hostport(const char *s, char *host, size_t host_cap, uint16_t *port);

/* conf_parse_hostport for an address duro binds: the host must be a numeric IPv4 or IPv6
 * address (names are refused, not resolved: --check and start-up agree, and start-up never
 * waits on DNS). Returns 0 or -1. */
int conf_parse_bind(const char *s, char *host, size_t host_cap, uint16_t *port);

#endif

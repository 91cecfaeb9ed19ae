/* common/conf.h: duro's configuration: defaults, INI parsing (libinih), validation.
 *
 * The gateway and every worker parse the same text: the gateway sends the text it loaded to each
 * worker in MSG_CONFIG, so a respawned worker always matches its gateway. */
#ifndef DURO_CONF_H
#define DURO_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/duro_limits.h"

enum route_match {
    ROUTE_EXACT = 0,   /* target == value */
    ROUTE_PREFIX = 1,  /* target starts with value */
    ROUTE_SUFFIX = 2,  /* target ends with value */
    ROUTE_PATTERN = 3, /* path (target before '?') matches value, one "{name}" segment in it */
};

struct conf_route {
    char name[64];
    enum route_match match;
    char value[DURO_ROUTE_PATTERN_MAX_BYTES + 1];
    char cls[DURO_CLASS_NAME_MAX_BYTES + 1];
    char object[DURO_OBJECT_NAME_MAX_BYTES + 1]; /* literal, or "{name}" for ROUTE_PATTERN */
};

/* A class loaded from a shared object ([class NAME] section). */
struct conf_class {
    char name[DURO_CLASS_NAME_MAX_BYTES + 1];
    char path[DURO_CLASS_PATH_MAX_BYTES + 1];
    char symbol[DURO_CLASS_SYMBOL_MAX_BYTES + 1]; /* default "duro_class" */
};

/* A duro node of the cluster ([node NAME] sections), for the balancer config and the ownership
 * check. */
struct conf_node {
    char name[DURO_NODE_NAME_MAX_BYTES + 1];
    char host[64];
    uint16_t port;
    char admin_host[64];
    uint16_t admin_port;     /* 0: no health check port given (the node's own port is used) */
};

enum ownership_mode {
    OWNERSHIP_WARN = 0,   /* serve an object this node does not own, and log a warning */
    OWNERSHIP_REFUSE = 1, /* answer 503 with Retry-After */
};

struct conf {
    char listen_host[64];
    uint16_t listen_port;
    unsigned workers;          /* 0 in the file means one per CPU; resolved by the gateway */
    int reuseport;             /* SO_REUSEPORT on the listener: several gateways on one port */
    char admin_host[64];       /* "" when the admin listener is off */
    uint16_t admin_port;
    uint32_t drain_timeout_ms;
    uint32_t heartbeat_timeout_ms;
    int log_level;             /* enum log_level */

    uint32_t head_max_bytes;
    uint32_t headers_max_count;
    uint32_t target_max_bytes;
    uint32_t head_timeout_ms;
    uint32_t keepalive_timeout_ms;

    uint32_t message_max_bytes;
    uint32_t close_timeout_ms;
    uint32_t outbound_max_bytes;
    uint32_t hibernate_after_ms;
    uint32_t sockets_max_count; /* per object */

    unsigned nroutes;
    struct conf_route routes[DURO_ROUTES_MAX_COUNT];

    unsigned nclasses;
    struct conf_class classes[DURO_CLASSES_MAX_COUNT];

    unsigned nnodes;
    struct conf_node nodes[DURO_NODES_MAX_COUNT];
    char self[DURO_NODE_NAME_MAX_BYTES + 1]; /* this node's name; "" outside a cluster */
    int ownership;                           /* enum ownership_mode */
    char balancer_host[64];                  /* the generated HAProxy frontend binds here */
    uint16_t balancer_port;
    char tls_cert[DURO_CLASS_PATH_MAX_BYTES + 1]; /* PEM for HAProxy TLS termination, or "" */
};

/* Parses "NAME=HOST:PORT" or "NAME=HOST:PORT,ADMINHOST:ADMINPORT" (the --node flag) into a new
 * node of `c`. Returns 0, or -1 with `err` set. */
int conf_add_node(struct conf *c, const char *spec, char *err, size_t err_cap);

/* Names of the classes built into duro-worker. */
extern const char *const conf_builtin_classes[];
extern const unsigned conf_builtin_classes_count;

/* The embedded default config text (config/duro.ini, compiled in). */
extern const char conf_default_text[];

/* Fills `c` with the built-in defaults, then applies `text` (INI). Routes in `text` replace the
 * default route list. `origin` names the text in errors (a file path, or "(embedded)").
 * Returns 0, or -1 with `err` holding one line such as "duro.ini:12: [http] head_max_bytes:
 * must be between 1024 and 65536". */
int conf_parse(struct conf *c, const char *text, const char *origin, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* Reads `path` (at most DURO_CONFIG_MAX_BYTES) into a NUL-terminated malloc'd string.
 * Returns it, or NULL with `err` set. The caller frees it. */
char *conf_read_file(const char *path, char *err, size_t err_cap);

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port. Returns 0 or -1. */
int conf_parse_hostport(const char *s, char *host, size_t host_cap, uint16_t *port);

#endif

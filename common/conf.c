#include "common/conf.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define ROUTE_SECTION "route "

const char *const conf_builtin_classes[] = { "seed", "echo", "chat" };
const unsigned conf_builtin_classes_count =
    sizeof conf_builtin_classes / sizeof conf_builtin_classes[0];

#define CLASS_SECTION "class "
#define NODE_SECTION "node "

struct parse {
    struct conf *c;
    char err[256];       /* first semantic error; inih gives its line */
    int routes_replaced; /* the text's first route section cleared the defaults */
    int cur_route;       /* index of the route section being read, or -1 */
    const char *next;    /* the reader's position in the text */
    int line;            /* line being parsed, counted as inih counts them */
    int section_line;    /* line of the last [section] header */
    int err_line;        /* line of err, 0 while err is empty */
    int route_line[DURO_ROUTES_MAX_COUNT]; /* header line of each route read from the text */
};

static void conf_defaults(struct conf *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 8787;
    c->workers = 0;
    snprintf(c->admin_host, sizeof c->admin_host, "127.0.0.1");
    c->admin_port = 9787;
    c->drain_timeout_ms = DURO_DRAIN_TIMEOUT_MS_DEFAULT;
    c->heartbeat_timeout_ms = DURO_HEARTBEAT_TIMEOUT_MS_DEFAULT;
    snprintf(c->balancer_host, sizeof c->balancer_host, "127.0.0.1");
    c->balancer_port = 8080;
    c->log_level = LOG_INFO;
    c->head_max_bytes = DURO_HTTP_HEAD_MAX_BYTES_DEFAULT;
    c->headers_max_count = DURO_HTTP_HEADERS_MAX_COUNT_DEFAULT;
    c->target_max_bytes = DURO_HTTP_TARGET_MAX_BYTES_DEFAULT;
    c->head_timeout_ms = DURO_HEAD_TIMEOUT_MS_DEFAULT;
    c->keepalive_timeout_ms = DURO_KEEPALIVE_TIMEOUT_MS_DEFAULT;
    c->message_max_bytes = DURO_WS_MESSAGE_MAX_BYTES_DEFAULT;
    c->close_timeout_ms = DURO_WS_CLOSE_TIMEOUT_MS_DEFAULT;
    c->outbound_max_bytes = DURO_WS_OUTBOUND_MAX_BYTES_DEFAULT;
    c->hibernate_after_ms = DURO_HIBERNATE_AFTER_MS_DEFAULT;
    c->sockets_max_count = DURO_OBJECT_SOCKETS_MAX_COUNT;
    c->nroutes = 1;
    struct conf_route *r = &c->routes[0];
    snprintf(r->name, sizeof r->name, "seed");
    r->match = ROUTE_SUFFIX;
    snprintf(r->value, sizeof r->value, "/websocket");
    snprintf(r->cls, sizeof r->cls, "seed");
    snprintf(r->object, sizeof r->object, "foo");
}

int conf_parse_hostport(const char *s, char *host, size_t host_cap, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return -1;
        }
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= host_cap) {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || p > 65535) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int fail(struct parse *ps, const char *fmt, const char *a, const char *b)
{
    if (ps->err[0] == '\0') {
        snprintf(ps->err, sizeof ps->err, fmt, a, b);
        ps->err_line = ps->line;
    }
    return 0;
}

static int set_u32(struct parse *ps, const char *section, const char *key, const char *value,
                   uint32_t *dst, uint32_t lo, uint32_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "[%s] %s: '%s' is not a whole number between %u and %u",
                 section, key, value, lo, hi);
        return fail(ps, "%s%s", msg, "");
    }
    *dst = (uint32_t)v;
    return 1;
}

static int route_key(struct parse *ps, const char *section, const char *key, const char *value)
{
    struct conf_route *r = &ps->c->routes[ps->cur_route];

    if (strcmp(key, "match") == 0) {
        static const struct {
            const char *word;
            enum route_match m;
        } kinds[] = { { "exact ", ROUTE_EXACT }, { "prefix ", ROUTE_PREFIX },
                      { "suffix ", ROUTE_SUFFIX }, { "path ", ROUTE_PATTERN } };
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
            size_t wl = strlen(kinds[i].word);
            if (strncmp(value, kinds[i].word, wl) == 0) {
                const char *v = value + wl;
                if (v[0] == '\0' || strlen(v) > DURO_ROUTE_PATTERN_MAX_BYTES) {
                    return fail(ps, "[%s] match: the value is empty or longer than 512 bytes",
                                section, "");
                }
                r->match = kinds[i].m;
                snprintf(r->value, sizeof r->value, "%s", v);
                return 1;
            }
        }
        return fail(ps, "[%s] match: '%s' must be 'exact|prefix|suffix|path VALUE'", section,
                    value);
    }
    if (strcmp(key, "class") == 0) {
        if (value[0] == '\0' || strlen(value) > DURO_CLASS_NAME_MAX_BYTES) {
            return fail(ps, "[%s] class: '%s' is empty or too long", section, value);
        }
        snprintf(r->cls, sizeof r->cls, "%s", value);
        return 1;
    }
    if (strcmp(key, "object") == 0) {
        if (value[0] == '\0' || strlen(value) > DURO_OBJECT_NAME_MAX_BYTES) {
            return fail(ps, "[%s] object: '%s' is empty or longer than 256 bytes", section,
                        value);
        }
        snprintf(r->object, sizeof r->object, "%s", value);
        return 1;
    }
    return fail(ps, "[%s] unknown key '%s'", section, key);
}

static int class_key(struct parse *ps, const char *section, const char *key, const char *value)
{
    struct conf *c = ps->c;
    const char *cname = section + sizeof CLASS_SECTION - 1;
    struct conf_class *k = NULL;

    for (unsigned i = 0; i < c->nclasses; i++) {
        if (strcmp(c->classes[i].name, cname) == 0) {
            k = &c->classes[i];
        }
    }
    if (k == NULL) {
        if (cname[0] == '\0' || strlen(cname) > DURO_CLASS_NAME_MAX_BYTES) {
            return fail(ps, "[%s] a class needs a name of 1 to 64 bytes%s", section, "");
        }
        for (unsigned i = 0; i < conf_builtin_classes_count; i++) {
            if (strcmp(cname, conf_builtin_classes[i]) == 0) {
                return fail(ps, "[%s] '%s' is a built-in class", section, cname);
            }
        }
        if (c->nclasses == DURO_CLASSES_MAX_COUNT) {
            return fail(ps, "[%s] more than %s classes", section, "16");
        }
        k = &c->classes[c->nclasses++];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%s", cname);
        snprintf(k->symbol, sizeof k->symbol, "duro_class");
    }
    if (strcmp(key, "path") == 0) {
        if (value[0] == '\0' || strlen(value) > DURO_CLASS_PATH_MAX_BYTES) {
            return fail(ps, "[%s] path: empty or longer than 180 bytes%s", section, "");
        }
        snprintf(k->path, sizeof k->path, "%s", value);
        return 1;
    }
    if (strcmp(key, "symbol") == 0) {
        if (value[0] == '\0' || strlen(value) > DURO_CLASS_SYMBOL_MAX_BYTES) {
            return fail(ps, "[%s] symbol: empty or longer than 128 bytes%s", section, "");
        }
        snprintf(k->symbol, sizeof k->symbol, "%s", value);
        return 1;
    }
    return fail(ps, "[%s] unknown key '%s'", section, key);
}

static int node_name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > DURO_NODE_NAME_MAX_BYTES) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = n[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || ch == '_';
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

/* The node named `name`, created when absent. NULL when the name is bad or the list full. */
static struct conf_node *node_slot(struct conf *c, const char *name)
{
    for (unsigned i = 0; i < c->nnodes; i++) {
        if (strcmp(c->nodes[i].name, name) == 0) {
            return &c->nodes[i];
        }
    }
    if (!node_name_ok(name) || c->nnodes == DURO_NODES_MAX_COUNT) {
        return NULL;
    }
    struct conf_node *n = &c->nodes[c->nnodes++];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    return n;
}

int conf_add_node(struct conf *c, const char *spec, char *err, size_t err_cap)
{
    char name[DURO_NODE_NAME_MAX_BYTES + 1];
    const char *eq = strchr(spec, '=');
    if (eq == NULL || (size_t)(eq - spec) > DURO_NODE_NAME_MAX_BYTES) {
        snprintf(err, err_cap, "--node '%s': expected NAME=HOST:PORT[,ADMINHOST:PORT]", spec);
        return -1;
    }
    memcpy(name, spec, (size_t)(eq - spec));
    name[eq - spec] = '\0';
    for (unsigned i = 0; i < c->nnodes; i++) {
        if (strcmp(c->nodes[i].name, name) == 0) {
            snprintf(err, err_cap, "--node '%s': node %s given twice", spec, name);
            return -1;
        }
    }
    struct conf_node *n = node_slot(c, name);
    char addr[160];
    snprintf(addr, sizeof addr, "%s", eq + 1);
    char *comma = strchr(addr, ',');
    if (comma != NULL) {
        *comma = '\0';
    }
    if (n == NULL || conf_parse_hostport(addr, n->host, sizeof n->host, &n->port) != 0 ||
        (comma != NULL &&
         conf_parse_hostport(comma + 1, n->admin_host, sizeof n->admin_host, &n->admin_port) !=
             0)) {
        if (n != NULL) {
            c->nnodes--;
        }
        snprintf(err, err_cap, "--node '%s': expected NAME=HOST:PORT[,ADMINHOST:PORT] with a "
                 "name of letters, digits, - and _", spec);
        return -1;
    }
    return 0;
}

static int node_key(struct parse *ps, const char *section, const char *key, const char *value)
{
    struct conf_node *n = node_slot(ps->c, section + sizeof NODE_SECTION - 1);
    if (n == NULL) {
        return fail(ps, "[%s] a node name is 1 to 32 letters, digits, - or _ (at most 64 "
                        "nodes)%s", section, "");
    }
    if (strcmp(key, "address") == 0) {
        if (conf_parse_hostport(value, n->host, sizeof n->host, &n->port) != 0) {
            return fail(ps, "[%s] address: '%s' is not HOST:PORT", section, value);
        }
        return 1;
    }
    if (strcmp(key, "admin") == 0) {
        if (conf_parse_hostport(value, n->admin_host, sizeof n->admin_host, &n->admin_port) != 0) {
            return fail(ps, "[%s] admin: '%s' is not HOST:PORT", section, value);
        }
        return 1;
    }
    return fail(ps, "[%s] unknown key '%s'", section, key);
}

static int cluster_key(struct parse *ps, const char *key, const char *value)
{
    struct conf *c = ps->c;
    if (strcmp(key, "self") == 0) {
        if (!node_name_ok(value)) {
            return fail(ps, "[cluster] self: '%s' is not a node name%s", value, "");
        }
        snprintf(c->self, sizeof c->self, "%s", value);
        return 1;
    }
    if (strcmp(key, "ownership") == 0) {
        if (strcmp(value, "warn") == 0) {
            c->ownership = OWNERSHIP_WARN;
        } else if (strcmp(value, "refuse") == 0) {
            c->ownership = OWNERSHIP_REFUSE;
        } else {
            return fail(ps, "[cluster] ownership: '%s' is not warn or refuse%s", value, "");
        }
        return 1;
    }
    if (strcmp(key, "balancer_listen") == 0) {
        if (conf_parse_hostport(value, c->balancer_host, sizeof c->balancer_host,
                                &c->balancer_port) != 0) {
            return fail(ps, "[cluster] balancer_listen: '%s' is not HOST:PORT%s", value, "");
        }
        return 1;
    }
    if (strcmp(key, "tls_cert") == 0) {
        if (strlen(value) > DURO_CLASS_PATH_MAX_BYTES) {
            return fail(ps, "[cluster] tls_cert: longer than 180 bytes%s%s", "", "");
        }
        snprintf(c->tls_cert, sizeof c->tls_cert, "%s", value);
        return 1;
    }
    return fail(ps, "[cluster] unknown key '%s'%s", key, "");
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parse *ps = user;
    struct conf *c = ps->c;

    if (strncmp(section, ROUTE_SECTION, sizeof ROUTE_SECTION - 1) == 0) {
        const char *rname = section + sizeof ROUTE_SECTION - 1;
        /* A new header, even one naming the route just read, starts a new route. */
        if (ps->cur_route < 0 || ps->route_line[ps->cur_route] != ps->section_line) {
            if (!ps->routes_replaced) {
                c->nroutes = 0;
                ps->routes_replaced = 1;
            }
            for (unsigned i = 0; i < c->nroutes; i++) {
                if (strcmp(c->routes[i].name, rname) == 0) {
                    return fail(ps, "[%s] route '%s' is defined twice", section, rname);
                }
            }
            if (c->nroutes == DURO_ROUTES_MAX_COUNT) {
                return fail(ps, "[%s] more than %s routes", section, "64");
            }
            if (rname[0] == '\0' || strlen(rname) >= sizeof c->routes[0].name) {
                return fail(ps, "[%s] a route needs a name of 1 to 63 bytes%s", section, "");
            }
            ps->cur_route = (int)c->nroutes++;
            ps->route_line[ps->cur_route] = ps->section_line;
            memset(&c->routes[ps->cur_route], 0, sizeof c->routes[0]);
            snprintf(c->routes[ps->cur_route].name, sizeof c->routes[0].name, "%s", rname);
            c->routes[ps->cur_route].match = ROUTE_SUFFIX;
        }
        return route_key(ps, section, key, value);
    }
    ps->cur_route = -1;

    if (strncmp(section, CLASS_SECTION, sizeof CLASS_SECTION - 1) == 0) {
        return class_key(ps, section, key, value);
    }
    if (strncmp(section, NODE_SECTION, sizeof NODE_SECTION - 1) == 0) {
        return node_key(ps, section, key, value);
    }
    if (strcmp(section, "cluster") == 0) {
        return cluster_key(ps, key, value);
    }
    if (strcmp(section, "server") == 0) {
        if (strcmp(key, "listen") == 0) {
            if (conf_parse_hostport(value, c->listen_host, sizeof c->listen_host,
                                    &c->listen_port) != 0) {
                return fail(ps, "[server] listen: '%s' is not HOST:PORT%s", value, "");
            }
            return 1;
        }
        if (strcmp(key, "admin") == 0) {
            if (strcmp(value, "off") == 0) {
                c->admin_host[0] = '\0';
                c->admin_port = 0;
                return 1;
            }
            if (conf_parse_hostport(value, c->admin_host, sizeof c->admin_host,
                                    &c->admin_port) != 0) {
                return fail(ps, "[server] admin: '%s' is not HOST:PORT or off%s", value, "");
            }
            return 1;
        }
        if (strcmp(key, "reuseport") == 0) {
            if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
                return fail(ps, "[server] reuseport: '%s' is not true or false%s", value, "");
            }
            c->reuseport = strcmp(value, "true") == 0;
            return 1;
        }
        if (strcmp(key, "drain_timeout_ms") == 0) {
            return set_u32(ps, section, key, value, &c->drain_timeout_ms, DURO_TIMEOUT_MS_MIN,
                           DURO_TIMEOUT_MS_MAX);
        }
        if (strcmp(key, "heartbeat_timeout_ms") == 0) {
            return set_u32(ps, section, key, value, &c->heartbeat_timeout_ms,
                           DURO_HEARTBEAT_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX);
        }
        if (strcmp(key, "workers") == 0) {
            uint32_t n;
            if (!set_u32(ps, section, key, value, &n, 0, DURO_WORKERS_MAX_COUNT)) {
                return 0;
            }
            c->workers = n;
            return 1;
        }
        if (strcmp(key, "log_level") == 0) {
            int lvl = log_level_parse(value);
            if (lvl < 0) {
                return fail(ps, "[server] log_level: '%s' is not debug, info, warn or error%s",
                            value, "");
            }
            c->log_level = lvl;
            return 1;
        }
    } else if (strcmp(section, "http") == 0) {
        if (strcmp(key, "head_max_bytes") == 0) {
            return set_u32(ps, section, key, value, &c->head_max_bytes,
                           DURO_HTTP_HEAD_MAX_BYTES_MIN, DURO_HTTP_HEAD_MAX_BYTES_MAX);
        }
        if (strcmp(key, "headers_max_count") == 0) {
            return set_u32(ps, section, key, value, &c->headers_max_count, 1,
                           DURO_HTTP_HEADERS_MAX_COUNT_MAX);
        }
        if (strcmp(key, "target_max_bytes") == 0) {
            return set_u32(ps, section, key, value, &c->target_max_bytes,
                           DURO_HTTP_TARGET_MAX_BYTES_MIN, DURO_HTTP_HEAD_MAX_BYTES_MAX);
        }
        if (strcmp(key, "head_timeout_ms") == 0) {
            return set_u32(ps, section, key, value, &c->head_timeout_ms, DURO_TIMEOUT_MS_MIN,
                           DURO_TIMEOUT_MS_MAX);
        }
        if (strcmp(key, "keepalive_timeout_ms") == 0) {
            return set_u32(ps, section, key, value, &c->keepalive_timeout_ms,
                           DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX);
        }
    } else if (strcmp(section, "websocket") == 0) {
        if (strcmp(key, "message_max_bytes") == 0) {
            return set_u32(ps, section, key, value, &c->message_max_bytes, 1,
                           DURO_WS_MESSAGE_MAX_BYTES_MAX);
        }
        if (strcmp(key, "close_timeout_ms") == 0) {
            return set_u32(ps, section, key, value, &c->close_timeout_ms, DURO_TIMEOUT_MS_MIN,
                           DURO_TIMEOUT_MS_MAX);
        }
        if (strcmp(key, "outbound_max_bytes") == 0) {
            return set_u32(ps, section, key, value, &c->outbound_max_bytes,
                           DURO_WS_OUTBOUND_MIN_BYTES, DURO_WS_MESSAGE_MAX_BYTES_MAX);
        }
    } else if (strcmp(section, "objects") == 0) {
        if (strcmp(key, "hibernate_after_ms") == 0) {
            return set_u32(ps, section, key, value, &c->hibernate_after_ms, DURO_TIMEOUT_MS_MIN,
                           DURO_TIMEOUT_MS_MAX);
        }
        if (strcmp(key, "sockets_max_count") == 0) {
            return set_u32(ps, section, key, value, &c->sockets_max_count, 1,
                           DURO_OBJECT_SOCKETS_MAX_COUNT);
        }
    } else {
        return fail(ps, "unknown section [%s]%s", section, "");
    }
    return fail(ps, "[%s] unknown key '%s'", section, key);
}

static int check_route(const struct conf *c, const struct conf_route *r, char *msg, size_t cap)
{
    int known = 0;
    for (unsigned i = 0; i < conf_builtin_classes_count; i++) {
        known |= strcmp(r->cls, conf_builtin_classes[i]) == 0;
    }
    for (unsigned i = 0; i < c->nclasses; i++) {
        known |= strcmp(r->cls, c->classes[i].name) == 0;
    }
    if (r->value[0] == '\0') {
        snprintf(msg, cap, "[route %s] has no match", r->name);
        return -1;
    }
    if (r->cls[0] == '\0' || r->object[0] == '\0') {
        snprintf(msg, cap, "[route %s] needs both class and object", r->name);
        return -1;
    }
    if (!known) {
        snprintf(msg, cap,
                 "[route %s] class '%s' is neither built in (seed, echo, chat) nor a [class] "
                 "section",
                 r->name, r->cls);
        return -1;
    }
    const char *ph = strstr(r->value, "{name}");
    int uses_name = strcmp(r->object, "{name}") == 0;
    if (r->match == ROUTE_PATTERN) {
        if (ph == NULL || strstr(ph + 1, "{name}") != NULL || r->value[0] != '/' ||
            (ph[6] != '\0' && ph[6] != '/') || ph[-1] != '/') {
            snprintf(msg, cap,
                     "[route %s] path '%s' must start with '/' and hold one {name} segment",
                     r->name, r->value);
            return -1;
        }
    } else if (uses_name) {
        snprintf(msg, cap, "[route %s] object {name} needs a 'path' match", r->name);
        return -1;
    }
    return 0;
}

/* inih's reader: one line per call, so the handler knows its line. libinih reads at most
 * `num` - 1 bytes a line and would parse the rest of a longer line as a line of its own. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse *ps = stream;
    const char *p = ps->next;

    if (*p == '\0') {
        return NULL;
    }
    const char *nl = strchr(p, '\n');
    size_t len = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
    ps->line++;
    if (len > (size_t)num - 1) {
        char limit[32];
        snprintf(limit, sizeof limit, "%d", num - 2);
        fail(ps, "line longer than %s bytes%s", limit, "");
        return NULL;
    }
    memcpy(str, p, len);
    str[len] = '\0';
    ps->next = p + len;
    const char *q = str + strspn(str, " \t");
    if (*q == '[') {
        ps->section_line = ps->line;
    }
    return str;
}

int conf_parse(struct conf *c, const char *text, const char *origin, char *err, size_t err_cap)
{
    struct parse ps = { .c = c, .err = "", .routes_replaced = 0, .cur_route = -1 };

    conf_defaults(c);
    ps.next = text;
    int line = ini_parse_stream(read_line, &ps, on_key, &ps);
    if (ps.err_line != 0 && (line == 0 || ps.err_line <= line)) {
        snprintf(err, err_cap, "%s:%d: %s", origin, ps.err_line, ps.err);
        return -1;
    }
    if (line != 0) {
        snprintf(err, err_cap, "%s:%d: syntax error (expected [section] or key = value)", origin,
                 line);
        return -1;
    }
    for (unsigned i = 0; i < c->nclasses; i++) {
        if (c->classes[i].path[0] == '\0') {
            snprintf(err, err_cap, "%s: [class %s] needs a path", origin, c->classes[i].name);
            return -1;
        }
    }
    for (unsigned i = 0; i < c->nnodes; i++) {
        if (c->nodes[i].port == 0 && c->nodes[i].host[0] == '\0') {
            snprintf(err, err_cap, "%s: [node %s] needs an address", origin, c->nodes[i].name);
            return -1;
        }
    }
    if (c->nroutes == 0) {
        snprintf(err, err_cap, "%s: no routes", origin);
        return -1;
    }
    for (unsigned i = 0; i < c->nroutes; i++) {
        char msg[320];
        if (check_route(c, &c->routes[i], msg, sizeof msg) != 0) {
            snprintf(err, err_cap, "%s:%d: %s", origin, ps.route_line[i], msg);
            return -1;
        }
    }
    return 0;
}

char *conf_read_file(const char *path, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_cap, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(DURO_CONFIG_MAX_BYTES + 1);
    if (text == NULL) {
        fclose(f);
        snprintf(err, err_cap, "%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(text, 1, DURO_CONFIG_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > DURO_CONFIG_MAX_BYTES) {
        snprintf(err, err_cap, "%s: %s", path,
                 bad ? "read error" : "larger than 1 MiB, the largest config accepted");
        free(text);
        return NULL;
    }
    if (memchr(text, '\0', n) != NULL) {
        snprintf(err, err_cap, "%s: contains a NUL byte; not a text file", path);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    return text;
}

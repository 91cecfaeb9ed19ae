#include "common/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

const char *const conf_builtin_classes[] = { "seed", "echo", "chat", "counter" };
const unsigned conf_builtin_classes_count =
    sizeof conf_builtin_classes / sizeof conf_builtin_classes[0];

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


int conf_parse_bind(const char *s, char *host, size_t host_cap, uint16_t *port)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (conf_parse_hostport(s, host, host_cap, port) != 0) {
        return -1;
    }
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1) {
        return -1;
    }
    return 0;
}

/* The node named `name`, created when absent. */
static struct conf_node *node_slot(struct conf *c, const char *name);

#define ROUTE_SECTION "route "
#define CLASS_SECTION "class "
#define NODE_SECTION "node "

/* The line of each part of a route, for errors found once the route is complete. */
enum { RL_HEADER, RL_MATCH, RL_CLASS, RL_OBJECT, RL_COUNT };

struct parse {
    struct conf *c;
    char err[320];       /* first semantic error; inih gives its line */
    int routes_replaced; /* the text's first route section cleared the defaults */
    int cur_route;       /* index of the route section being read, or -1 */
    const char *next;    /* the reader's position in the text */
    int line;            /* line being parsed, counted as inih counts them */
    int err_line;        /* line of err, 0 while err is empty */
    int route_line[DURO_ROUTES_MAX_COUNT][RL_COUNT];
    int class_line[DURO_CLASSES_MAX_COUNT]; /* header line of each [class] */
    int node_line[DURO_NODES_MAX_COUNT];    /* header line of each [node] */
};

static int fail(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *ps, const char *fmt, ...)
{
    if (ps->err[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err, sizeof ps->err, fmt, ap);
        va_end(ap);
        ps->err_line = ps->line;
    }
    return 0;
}

/* "a, b or c" from a NULL-terminated word list. */
static void join_words(const char *const *w, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; w[i] != NULL; i++) {
        const char *sep = i == 0 ? "" : w[i + 1] == NULL ? " or " : ", ";
        int m = snprintf(out + n, cap - n, "%s%s", sep, w[i]);
        if (m < 0 || (size_t)m >= cap - n) {
            return;
        }
        n += (size_t)m;
    }
}

static int set_match(struct parse *ps, const struct conf_key *k, char *base, const char *section,
                     const char *value)
{
    static const struct {
        const char *word;
        enum route_match m;
    } kinds[] = { { "exact ", ROUTE_EXACT }, { "prefix ", ROUTE_PREFIX },
                  { "suffix ", ROUTE_SUFFIX }, { "path ", ROUTE_PATTERN } };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t wl = strlen(kinds[i].word);
        if (strncmp(value, kinds[i].word, wl) == 0) {
            const char *v = value + wl;
            if (v[0] == '\0' || strlen(v) > k->hi) {
                return fail(ps, "[%s] match: the value is empty or longer than %u bytes", section,
                            (unsigned)k->hi);
            }
            *(enum route_match *)(base + k->off2) = kinds[i].m;
            snprintf(base + k->off, k->size, "%s", v);
            return 1;
        }
    }
    return fail(ps, "[%s] match: '%s' must be 'exact|prefix|suffix|path VALUE'", section, value);
}

/* Applies `value` to the key `k` of the struct at `base`. Returns 1, or 0 with ps->err set. */
static int set_value(struct parse *ps, const struct conf_key *k, void *base_, const char *section,
                     const char *value)
{
    char *base = base_;
    char *field = base + k->off;
    switch (k->type) {
    case CONF_U32: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 || v < k->lo ||
            v > k->hi) {
            return fail(ps, "[%s] %s: '%s' is not a whole number between %u and %u", section,
                        k->name, value, (unsigned)k->lo, (unsigned)k->hi);
        }
        *(uint32_t *)(void *)field = (uint32_t)v;
        return 1;
    }
    case CONF_BOOL:
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
            return fail(ps, "[%s] %s: '%s' is not true or false", section, k->name, value);
        }
        *(int *)(void *)field = strcmp(value, "true") == 0;
        return 1;
    case CONF_WORDS:
        for (int i = 0; k->words[i] != NULL; i++) {
            if (strcmp(value, k->words[i]) == 0) {
                *(int *)(void *)field = i;
                return 1;
            }
        }
        char list[128];
        join_words(k->words, list, sizeof list);
        return fail(ps, "[%s] %s: '%s' is not %s", section, k->name, value, list);
    case CONF_STRING:
    case CONF_NAME: {
        size_t len = strlen(value);
        if (len < k->lo || len > k->hi) {
            return fail(ps, "[%s] %s: must be %u to %u bytes, not %zu", section, k->name,
                        (unsigned)k->lo, (unsigned)k->hi, len);
        }
        for (size_t i = 0; k->type == CONF_NAME && i < len; i++) {
            char ch = value[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
                return fail(ps, "[%s] %s: '%s' is not a name of letters, digits, - and _",
                            section, k->name, value);
            }
        }
        memcpy(field, value, len + 1);
        return 1;
    }
    case CONF_BIND_OFF:
        if (strcmp(value, "off") == 0) {
            field[0] = '\0';
            *(uint16_t *)(void *)(base + k->off2) = 0;
            return 1;
        }
        /* fall through */
    case CONF_BIND:
        if (conf_parse_bind(value, field, k->size, (uint16_t *)(void *)(base + k->off2)) != 0) {
            return fail(ps, "[%s] %s: '%s' is not IP:PORT%s (a numeric IPv4 address, or [IPv6]; "
                        "names are not resolved)", section, k->name, value,
                        k->type == CONF_BIND_OFF ? " or off" : "");
        }
        return 1;
    case CONF_HOSTPORT:
        if (conf_parse_hostport(value, field, k->size, (uint16_t *)(void *)(base + k->off2)) !=
            0) {
            return fail(ps, "[%s] %s: '%s' is not HOST:PORT", section, k->name, value);
        }
        return 1;
    case CONF_MATCH:
        return set_match(ps, k, base, section, value);
    }
    return fail(ps, "[%s] %s: unhandled key type", section, k->name);
}

static void conf_defaults(struct conf *c)
{
    memset(c, 0, sizeof *c);
    for (unsigned i = 0; i < conf_keys_count; i++) {
        const struct conf_key *k = &conf_keys[i];
        char text[64];
        if (k->scope == CONF_SCOPE_CONF && conf_key_default(k, text, sizeof text) == 0) {
            struct parse ps = { .c = c };
            int ok = set_value(&ps, k, c, k->section, text);
            (void)ok; /* the table's defaults are valid: test_conf checks every one */
        }
    }
    c->nroutes = 1;
    struct conf_route *r = &c->routes[0];
    snprintf(r->name, sizeof r->name, "seed");
    r->match = ROUTE_SUFFIX;
    snprintf(r->value, sizeof r->value, "/websocket");
    snprintf(r->cls, sizeof r->cls, "seed");
    snprintf(r->object, sizeof r->object, "foo");
    r->upgrade_check = UPGRADE_CHECK_SEED;
}

/* Repeated sections' entries are created when their header is read, so that a section without
 * keys still exists (and is reported when it lacks a required key). */

static void open_route(struct parse *ps, const char *section)
{
    struct conf *c = ps->c;
    const char *rname = section + sizeof ROUTE_SECTION - 1;

    ps->cur_route = -1;
    if (!ps->routes_replaced) {
        c->nroutes = 0;
        ps->routes_replaced = 1;
    }
    for (unsigned i = 0; i < c->nroutes; i++) {
        if (strcmp(c->routes[i].name, rname) == 0) {
            fail(ps, "[%s] route '%s' is defined twice", section, rname);
            return;
        }
    }
    if (c->nroutes == DURO_ROUTES_MAX_COUNT) {
        fail(ps, "[%s] more than %u routes", section, DURO_ROUTES_MAX_COUNT);
        return;
    }
    if (rname[0] == '\0' || strlen(rname) >= sizeof c->routes[0].name) {
        fail(ps, "[%s] a route needs a name of 1 to %zu bytes", section,
             sizeof c->routes[0].name - 1);
        return;
    }
    ps->cur_route = (int)c->nroutes++;
    memset(ps->route_line[ps->cur_route], 0, sizeof ps->route_line[0]);
    ps->route_line[ps->cur_route][RL_HEADER] = ps->line;
    struct conf_route *r = &c->routes[ps->cur_route];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", rname);
    r->match = ROUTE_SUFFIX;
    r->upgrade_check = UPGRADE_CHECK_DEFAULT;
}

static struct conf_class *class_slot(struct parse *ps, const char *section)
{
    struct conf *c = ps->c;
    const char *cname = section + sizeof CLASS_SECTION - 1;

    for (unsigned i = 0; i < c->nclasses; i++) {
        if (strcmp(c->classes[i].name, cname) == 0) {
            return &c->classes[i];
        }
    }
    if (cname[0] == '\0' || strlen(cname) > DURO_CLASS_NAME_MAX_BYTES) {
        fail(ps, "[%s] a class needs a name of 1 to %u bytes", section,
             DURO_CLASS_NAME_MAX_BYTES);
        return NULL;
    }
    if (c->nclasses == DURO_CLASSES_MAX_COUNT) {
        fail(ps, "[%s] more than %u classes", section, DURO_CLASSES_MAX_COUNT);
        return NULL;
    }
    ps->class_line[c->nclasses] = ps->line;
    struct conf_class *k = &c->classes[c->nclasses++];
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%s", cname);
    snprintf(k->symbol, sizeof k->symbol, "%s", conf_key_find("class", "symbol")->def_text);
    return k;
}

static struct conf_node *node_section(struct parse *ps, const char *section)
{
    unsigned before = ps->c->nnodes;
    struct conf_node *n = node_slot(ps->c, section + sizeof NODE_SECTION - 1);
    if (n == NULL) {
        fail(ps, "[%s] a node name is 1 to %u letters, digits, - or _ (at most %u nodes)",
             section, DURO_NODE_NAME_MAX_BYTES, DURO_NODES_MAX_COUNT);
        return NULL;
    }
    if (ps->c->nnodes != before) {
        ps->node_line[before] = ps->line;
    }
    return n;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Called by the reader for each "[section]" line, before inih sees it. */
static void on_section(struct parse *ps, const char *section)
{
    ps->cur_route = -1;
    if (starts(section, ROUTE_SECTION)) {
        open_route(ps, section);
    } else if (starts(section, CLASS_SECTION)) {
        class_slot(ps, section);
    } else if (starts(section, NODE_SECTION)) {
        node_section(ps, section);
    }
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parse *ps = user;
    struct conf *c = ps->c;
    const char *kind = section;
    enum conf_scope scope = CONF_SCOPE_CONF;
    void *base = c;

    if (starts(section, ROUTE_SECTION)) {
        if (ps->cur_route < 0) {
            return 0; /* the header's error is already recorded */
        }
        kind = "route";
        scope = CONF_SCOPE_ROUTE;
        base = &c->routes[ps->cur_route];
    } else if (starts(section, CLASS_SECTION)) {
        kind = "class";
        scope = CONF_SCOPE_CLASS;
        base = class_slot(ps, section);
    } else if (starts(section, NODE_SECTION)) {
        kind = "node";
        scope = CONF_SCOPE_NODE;
        base = node_section(ps, section);
    }
    if (base == NULL) {
        return 0;
    }
    int known_section = 0;
    for (unsigned i = 0; i < conf_keys_count; i++) {
        known_section |= conf_keys[i].scope == scope && strcmp(conf_keys[i].section, kind) == 0;
    }
    if (!known_section) {
        return fail(ps, "unknown section [%s]", section);
    }
    const struct conf_key *k = conf_key_find(kind, key);
    if (k == NULL || k->scope != scope) {
        return fail(ps, "[%s] unknown key '%s'", section, key);
    }
    if (scope == CONF_SCOPE_ROUTE) {
        int *lines = ps->route_line[ps->cur_route];
        lines[k->type == CONF_MATCH ? RL_MATCH : strcmp(key, "class") == 0 ? RL_CLASS
                                                                            : RL_OBJECT] =
            ps->line;
    }
    return set_value(ps, k, base, section, value);
}

/* A complete route's own checks. Returns 0, or -1 with `msg` set and *part the RL_* whose line
 * the error names. */
static int check_route(const struct conf *c, const struct conf_route *r, char *msg, size_t cap,
                       int *part)
{
    int known = 0;
    for (unsigned i = 0; i < conf_builtin_classes_count; i++) {
        known |= strcmp(r->cls, conf_builtin_classes[i]) == 0;
    }
    for (unsigned i = 0; i < c->nclasses; i++) {
        known |= strcmp(r->cls, c->classes[i].name) == 0;
    }
    *part = RL_HEADER;
    if (r->value[0] == '\0') {
        snprintf(msg, cap, "[route %s] has no match", r->name);
        return -1;
    }
    if (r->cls[0] == '\0' || r->object[0] == '\0') {
        snprintf(msg, cap, "[route %s] needs both class and object", r->name);
        return -1;
    }
    if (!known) {
        *part = RL_CLASS;
        snprintf(msg, cap,
                 "[route %s] class '%s' is neither built in (seed, echo, chat, counter) nor a "
                 "[class] section",
                 r->name, r->cls);
        return -1;
    }
    const char *ph = strstr(r->value, "{name}");
    int uses_name = strcmp(r->object, "{name}") == 0;
    if (r->match == ROUTE_PATTERN) {
        if (ph == NULL || strstr(ph + 1, "{name}") != NULL || r->value[0] != '/' ||
            (ph[6] != '\0' && ph[6] != '/') || ph[-1] != '/') {
            *part = RL_MATCH;
            snprintf(msg, cap,
                     "[route %s] path '%s' must start with '/' and hold one {name} segment",
                     r->name, r->value);
            return -1;
        }
    } else if (uses_name) {
        *part = RL_OBJECT;
        snprintf(msg, cap, "[route %s] object {name} needs a 'path' match", r->name);
        return -1;
    }
    return 0;
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
    const char *close = *q == '[' ? strchr(q, ']') : NULL;
    if (close != NULL) {
        char section[256];
        snprintf(section, sizeof section, "%.*s", (int)(close - q - 1), q + 1);
        on_section(ps, section);
    }
    return str;
}

/* A relative [class] path or script names a file next to the config file that holds it (as
 * nginx and HAProxy resolve theirs), so an installed tree can be moved or staged with DESTDIR.
 * The embedded config has no directory: its relative paths stay relative to the working
 * directory. `file` holds DURO_CLASS_PATH_MAX_BYTES + 1. Returns 0, or -1 when the joined path
 * does not fit. */
static int resolve_class_file(char *file, const char *origin)
{
    if (file[0] == '\0' || file[0] == '/' || strcmp(origin, CONF_ORIGIN_EMBEDDED) == 0) {
        return 0;
    }
    const char *slash = strrchr(origin, '/');
    if (slash == NULL) {
        return 0; /* a config file in the working directory */
    }
    char joined[DURO_CLASS_PATH_MAX_BYTES + 1];
    int n = snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - origin), origin, file);
    if (n < 0 || (size_t)n >= sizeof joined) {
        return -1;
    }
    memcpy(file, joined, (size_t)n + 1);
    return 0;
}

int conf_parse(struct conf *c, const char *text, const char *origin, char *err, size_t err_cap)
{
    static struct parse ps; /* large (the route lines); conf_parse is not reentrant anyway */

    memset(&ps, 0, sizeof ps);
    ps.c = c;
    ps.cur_route = -1;
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
        const struct conf_class *k = &c->classes[i];
        if (k->path[0] == '\0' && k->script[0] == '\0') {
            snprintf(err, err_cap,
                     "%s:%d: [class %s] has no 'path' key: path = the shared object (.so) to "
                     "load (or script = a Lua file)", origin, ps.class_line[i], k->name);
            return -1;
        }
        if (k->path[0] != '\0' && k->script[0] != '\0') {
            snprintf(err, err_cap, "%s:%d: [class %s] has a path and a script: one, not both",
                     origin, ps.class_line[i], k->name);
            return -1;
        }
        /* A built-in may be replaced by a script only (the seed in Lua, examples/lua). */
        for (unsigned j = 0; j < conf_builtin_classes_count && k->script[0] == '\0'; j++) {
            if (strcmp(k->name, conf_builtin_classes[j]) == 0) {
                snprintf(err, err_cap, "%s:%d: [class %s] '%s' is a built-in class (only a "
                         "script may replace it)", origin, ps.class_line[i], k->name, k->name);
                return -1;
            }
        }
        struct conf_class *kc = &c->classes[i];
        char *file = kc->path[0] != '\0' ? kc->path : kc->script;
        if (resolve_class_file(file, origin) != 0) {
            snprintf(err, err_cap, "%s: [class %s] %s '%s' is over %u bytes once resolved "
                     "against the config file's directory", origin, kc->name,
                     file == kc->path ? "path" : "script", file, DURO_CLASS_PATH_MAX_BYTES);
            return -1;
        }
    }
    for (unsigned i = 0; i < c->nnodes; i++) {
        if (c->nodes[i].port == 0 && c->nodes[i].host[0] == '\0') {
            snprintf(err, err_cap, "%s:%d: [node %s] has no 'address' key (HOST:PORT)", origin,
                     ps.node_line[i], c->nodes[i].name);
            return -1;
        }
    }
    if (c->nroutes == 0) {
        snprintf(err, err_cap, "%s: no routes", origin);
        return -1;
    }
    for (unsigned i = 0; i < c->nroutes; i++) {
        char msg[320];
        int part;
        if (check_route(c, &c->routes[i], msg, sizeof msg, &part) != 0) {
            int at = ps.route_line[i][part] != 0 ? ps.route_line[i][part]
                                                 : ps.route_line[i][RL_HEADER];
            snprintf(err, err_cap, "%s:%d: %s", origin, at, msg);
            return -1;
        }
        struct conf_route *r = &c->routes[i];
        if (r->upgrade_check == UPGRADE_CHECK_DEFAULT) {
            r->upgrade_check =
                strcmp(r->cls, "seed") == 0 ? UPGRADE_CHECK_SEED : UPGRADE_CHECK_RFC;
        }
    }
    return 0;
}

void conf_apply_log(const struct conf *c)
{
    log_set_level((enum log_level)c->log_level);
    log_configure(c->log_timestamps, (enum log_format)c->log_format);
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

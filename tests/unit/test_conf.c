/* tests/unit/test_conf.c: the embedded defaults, every key, errors with their line, routes,
 * HOST:PORT parsing and reading a config file. */
#include "common/conf.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

#define ORIGIN "t.ini"
#define ERR_CAP 512u

/* struct conf is large (64 routes): keep it off the stack. */
static struct conf got;
static struct conf want;
static char last_err[ERR_CAP]; /* the error of the last parse_fails_at */

static int parse(const char *text, char *err)
{
    err[0] = '\0';
    return conf_parse(&got, text, ORIGIN, err, ERR_CAP);
}

static void parse_ok(const char *text)
{
    char err[ERR_CAP];
    if (parse(text, err) != 0) {
        fail_msg("refused: %s\n--- text ---\n%s", err, text);
    }
}

/* Parses `text`, which must fail, and returns the line its error names ("t.ini:N: ..."), or
 * 0 when the error names none. `must_mention` must appear in the error. */
static long parse_fails_at(const char *text, const char *must_mention)
{
    char *err = last_err;
    if (parse(text, err) == 0) {
        fail_msg("accepted, expected an error\n--- text ---\n%s", text);
    }
    if (strncmp(err, ORIGIN, strlen(ORIGIN)) != 0) {
        fail_msg("error does not start with the origin: %s", err);
    }
    if (must_mention != NULL && strstr(err, must_mention) == NULL) {
        fail_msg("error does not mention '%s': %s", must_mention, err);
    }
    if (strchr(err, '\n') != NULL) {
        fail_msg("error is not one line: %s", err);
    }
    const char *p = err + strlen(ORIGIN);
    if (p[0] != ':' || p[1] < '0' || p[1] > '9') {
        return 0;
    }
    return strtol(p + 1, NULL, 10);
}

static void expect_error_line(const char *text, const char *must_mention, long line)
{
    long at = parse_fails_at(text, must_mention);
    if (at != line) {
        fail_msg("error names line %ld, expected %ld\n--- text ---\n%s", at, line, text);
    }
}

static void assert_route(const struct conf_route *r, const char *name, enum route_match match,
                         const char *value, const char *cls, const char *object)
{
    assert_string_equal(r->name, name);
    assert_int_equal(r->match, match);
    assert_string_equal(r->value, value);
    assert_string_equal(r->cls, cls);
    assert_string_equal(r->object, object);
}

static void assert_conf_equal(const struct conf *a, const struct conf *b)
{
    assert_string_equal(a->listen_host, b->listen_host);
    assert_int_equal(a->listen_port, b->listen_port);
    assert_int_equal(a->workers, b->workers);
    assert_int_equal(a->log_level, b->log_level);
    assert_int_equal(a->head_max_bytes, b->head_max_bytes);
    assert_int_equal(a->headers_max_count, b->headers_max_count);
    assert_int_equal(a->target_max_bytes, b->target_max_bytes);
    assert_int_equal(a->head_timeout_ms, b->head_timeout_ms);
    assert_int_equal(a->keepalive_timeout_ms, b->keepalive_timeout_ms);
    assert_int_equal(a->message_max_bytes, b->message_max_bytes);
    assert_int_equal(a->close_timeout_ms, b->close_timeout_ms);
    assert_int_equal(a->outbound_max_bytes, b->outbound_max_bytes);
    assert_int_equal(a->hibernate_after_ms, b->hibernate_after_ms);
    assert_int_equal(a->nroutes, b->nroutes);
    for (unsigned i = 0; i < a->nroutes && i < b->nroutes; i++) {
        const struct conf_route *r = &b->routes[i];
        assert_route(&a->routes[i], r->name, r->match, r->value, r->cls, r->object);
    }
}

/* ---- defaults ---- */

static void embedded_default_text(void **state)
{
    (void)state;
    char err[ERR_CAP] = "";

    assert_int_equal(conf_parse(&got, conf_default_text, "(embedded)", err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_string_equal(got.listen_host, "127.0.0.1");
    assert_int_equal(got.listen_port, 8787);
    assert_int_equal(got.workers, 0);
    assert_int_equal(got.log_level, LOG_INFO);
    assert_int_equal(got.head_max_bytes, DURO_HTTP_HEAD_MAX_BYTES_DEFAULT);
    assert_int_equal(got.headers_max_count, DURO_HTTP_HEADERS_MAX_COUNT_DEFAULT);
    assert_int_equal(got.target_max_bytes, DURO_HTTP_TARGET_MAX_BYTES_DEFAULT);
    assert_int_equal(got.head_timeout_ms, DURO_HEAD_TIMEOUT_MS_DEFAULT);
    assert_int_equal(got.keepalive_timeout_ms, DURO_KEEPALIVE_TIMEOUT_MS_DEFAULT);
    assert_int_equal(got.message_max_bytes, DURO_WS_MESSAGE_MAX_BYTES_DEFAULT);
    assert_int_equal(got.close_timeout_ms, DURO_WS_CLOSE_TIMEOUT_MS_DEFAULT);
    assert_int_equal(got.outbound_max_bytes, DURO_WS_OUTBOUND_MAX_BYTES_DEFAULT);
    assert_int_equal(got.hibernate_after_ms, DURO_HIBERNATE_AFTER_MS_DEFAULT);
    assert_int_equal(got.nroutes, 1);
    assert_route(&got.routes[0], "seed", ROUTE_SUFFIX, "/websocket", "seed", "foo");
}

/* The embedded file documents every default: an empty text gives exactly the same config. */
static void empty_text_equals_embedded_text(void **state)
{
    (void)state;
    char err[ERR_CAP];

    assert_int_equal(conf_parse(&want, conf_default_text, "(embedded)", err, sizeof err), 0);
    parse_ok("");
    assert_conf_equal(&got, &want);
    parse_ok("; only a comment\n\n# another\n");
    assert_conf_equal(&got, &want);
}

/* ---- every key ---- */

struct u32_key {
    const char *section;
    const char *key;
    size_t offset;
    uint32_t lo; /* smallest accepted */
    uint32_t hi; /* largest accepted */
    uint32_t some; /* a value in between, not the default */
};

#define U32_KEY(sec, k, lo, hi, some) { sec, #k, offsetof(struct conf, k), lo, hi, some }

static const struct u32_key u32_keys[] = {
    U32_KEY("http", head_max_bytes, DURO_HTTP_HEAD_MAX_BYTES_MIN, DURO_HTTP_HEAD_MAX_BYTES_MAX,
            4096),
    U32_KEY("http", headers_max_count, 1, DURO_HTTP_HEADERS_MAX_COUNT_MAX, 50),
    U32_KEY("http", target_max_bytes, DURO_HTTP_TARGET_MAX_BYTES_MIN,
            DURO_HTTP_HEAD_MAX_BYTES_MAX, 1024),
    U32_KEY("http", head_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX, 5000),
    U32_KEY("http", keepalive_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX, 30000),
    U32_KEY("websocket", message_max_bytes, 1, DURO_WS_MESSAGE_MAX_BYTES_MAX, 65536),
    U32_KEY("websocket", close_timeout_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX, 500),
    U32_KEY("websocket", outbound_max_bytes, DURO_WS_OUTBOUND_MIN_BYTES,
            DURO_WS_MESSAGE_MAX_BYTES_MAX, 131072),
    U32_KEY("objects", hibernate_after_ms, DURO_TIMEOUT_MS_MIN, DURO_TIMEOUT_MS_MAX, 250),
};

static uint32_t field(const struct conf *c, size_t offset)
{
    uint32_t v;
    memcpy(&v, (const char *)c + offset, sizeof v);
    return v;
}

static void set_field(struct conf *c, size_t offset, uint32_t v)
{
    memcpy((char *)c + offset, &v, sizeof v);
}

static void each_number_key_sets_its_field(void **state)
{
    (void)state;
    char text[256];
    char err[ERR_CAP];

    assert_int_equal(conf_parse(&want, "", ORIGIN, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof u32_keys / sizeof u32_keys[0]; i++) {
        const struct u32_key *k = &u32_keys[i];
        const uint32_t values[] = { k->some, k->lo, k->hi };
        for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
            snprintf(text, sizeof text, "[%s]\n%s = %u\n", k->section, k->key, values[j]);
            parse_ok(text);
            assert_int_equal(field(&got, k->offset), values[j]);
            /* and nothing else */
            set_field(&got, k->offset, field(&want, k->offset));
            assert_conf_equal(&got, &want);
        }
    }
}

static void server_keys_set_their_fields(void **state)
{
    (void)state;
    parse_ok("[server]\nlisten = 0.0.0.0:9000\n");
    assert_string_equal(got.listen_host, "0.0.0.0");
    assert_int_equal(got.listen_port, 9000);

    parse_ok("[server]\nlisten = [::1]:0\n");
    assert_string_equal(got.listen_host, "::1");
    assert_int_equal(got.listen_port, 0);

    parse_ok("[server]\nworkers = 3\n");
    assert_int_equal(got.workers, 3);
    parse_ok("[server]\nworkers = 64\n");
    assert_int_equal(got.workers, DURO_WORKERS_MAX_COUNT);
    parse_ok("[server]\nworkers = 0\n");
    assert_int_equal(got.workers, 0);

    static const struct {
        const char *word;
        int level;
    } levels[] = { { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "warn", LOG_WARN },
                   { "error", LOG_ERROR } };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "[server]\nlog_level = %s\n", levels[i].word);
        parse_ok(text);
        assert_int_equal(got.log_level, levels[i].level);
    }
}

static void later_value_wins_and_sections_may_repeat(void **state)
{
    (void)state;
    parse_ok("[server]\nworkers = 2\n[http]\nhead_timeout_ms = 100\n[server]\nworkers = 5\n");
    assert_int_equal(got.workers, 5);
    assert_int_equal(got.head_timeout_ms, 100);
}

/* ---- errors name file and line ---- */

static void unknown_key_names_its_line(void **state)
{
    (void)state;
    expect_error_line("[server]\nworkers = 2\n\nbogus = 1\n", "bogus", 4);
    expect_error_line("; c\n[http]\nhead_max_bytes = 4096\nheadmax = 1\n", "headmax", 4);
    expect_error_line("[objects]\nhibernate_after = 5\n", "hibernate_after", 2);
    expect_error_line("[route r]\nmatch = exact /\nclass = seed\nobject = o\ncolour = red\n",
                      "colour", 5);
}

static void unknown_section_names_its_line(void **state)
{
    (void)state;
    expect_error_line("; c\n[server]\nworkers = 2\n[nope]\nx = 1\n", "nope", 5);
    expect_error_line("[Server]\nworkers = 2\n", "Server", 2);
    expect_error_line("workers = 2\n", NULL, 1); /* a key before any section */
}

static void out_of_range_number_names_its_line(void **state)
{
    (void)state;
    char text[256];

    for (size_t i = 0; i < sizeof u32_keys / sizeof u32_keys[0]; i++) {
        const struct u32_key *k = &u32_keys[i];
        if (k->lo > 0) {
            snprintf(text, sizeof text, "[%s]\n; below\n%s = %u\n", k->section, k->key,
                     k->lo - 1);
            expect_error_line(text, k->key, 3);
        }
        snprintf(text, sizeof text, "[%s]\n%s = %llu\n", k->section, k->key,
                 (unsigned long long)k->hi + 1);
        expect_error_line(text, k->key, 2);
    }
    expect_error_line("[server]\nworkers = 65\n", "workers", 2);

    static const char *const garbage[] = { "", "abc", "-1", "12abc", "1.5", "0x10",
                                           "99999999999999999999", "4096 bytes" };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        snprintf(text, sizeof text, "[http]\n\nhead_max_bytes = %s\n", garbage[i]);
        expect_error_line(text, "head_max_bytes", 3);
    }
    expect_error_line("[server]\nlog_level = loud\n", "log_level", 2);
}

static void bad_listen_names_its_line(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "localhost", "127.0.0.1", "127.0.0.1:", ":8787", "127.0.0.1:65536",
        "127.0.0.1:http", "[::1]", "[::1]8787", "[::1", "127.0.0.1:-1",
    };
    char text[128];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "[server]\nworkers = 1\nlisten = %s\n", bad[i]);
        expect_error_line(text, "listen", 3);
    }
}

static void syntax_error_names_its_line(void **state)
{
    (void)state;
    expect_error_line("[server]\nworkers = 1\nthis is not ini\n", NULL, 3);
    expect_error_line("[server\nworkers = 1\n", NULL, 1);
}

/* When a text has several errors, the one reported is a line and that line's own message. */
static void first_error_keeps_its_own_message(void **state)
{
    (void)state;
    long at = parse_fails_at("garbage line\n[server]\nbogus = 1\n", NULL);
    if (at == 1 && strstr(last_err, "bogus") != NULL) {
        fail_msg("line 1 reported with line 3's message: %s", last_err);
    }
    if (at == 3 && strstr(last_err, "bogus") == NULL) {
        fail_msg("line 3 reported without its message: %s", last_err);
    }
    assert_true(at == 1 || at == 3);
}

/* Route checks run once a route is complete; their errors still name the route's lines. */
static void route_errors_name_their_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *mention;
        long first;
        long last;
    } cases[] = {
        { "[server]\nworkers = 1\n[route a]\nmatch = prefix /a\nobject = x\n", "route a", 3, 5 },
        { "[route a]\nmatch = prefix /a\nclass = seed\nobject = x\n"
          "[route b]\nmatch = prefix /b\nobject = y\n",
          "route b", 5, 7 },
        { "[route a]\nclass = seed\nobject = x\n", "route a", 1, 3 },
        { "[route a]\nmatch = exact /a\nclass = nope\nobject = x\n", "nope", 1, 4 },
        { "[route a]\nmatch = exact /a\nclass = seed\nobject = {name}\n", "route a", 1, 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long at = parse_fails_at(cases[i].text, cases[i].mention);
        if (at < cases[i].first || at > cases[i].last) {
            fail_msg("error names line %ld, expected one of lines %ld-%ld\n--- text ---\n%s", at,
                     cases[i].first, cases[i].last, cases[i].text);
        }
    }
}

/* ---- routes ---- */

static void routes_replace_the_defaults_in_file_order(void **state)
{
    (void)state;
    parse_ok("[route zeta]\nmatch = prefix /chat/\nclass = echo\nobject = lobby\n"
             "[server]\nworkers = 2\n"
             "[route alpha]\nmatch = path /rooms/{name}/ws\nclass = seed\nobject = {name}\n"
             "[route mid]\nmatch = exact /x?y=1\nclass = seed\nobject = x\n"
             "[route last]\nclass = echo\nobject = e\nmatch = suffix /echo\n");
    assert_int_equal(got.nroutes, 4);
    assert_route(&got.routes[0], "zeta", ROUTE_PREFIX, "/chat/", "echo", "lobby");
    assert_route(&got.routes[1], "alpha", ROUTE_PATTERN, "/rooms/{name}/ws", "seed", "{name}");
    assert_route(&got.routes[2], "mid", ROUTE_EXACT, "/x?y=1", "seed", "x");
    assert_route(&got.routes[3], "last", ROUTE_SUFFIX, "/echo", "echo", "e");
    for (unsigned i = 0; i < got.nroutes; i++) {
        assert_string_not_equal(got.routes[i].value, "/websocket");
    }
    assert_int_equal(got.workers, 2);
}

static void class_paths_resolve_against_the_config_directory(void **state)
{
    (void)state;
    char err[ERR_CAP];
    const char *text = "[class a]\npath = ../lib/a.so\n[class b]\npath = /abs/b.so\n";
    assert_int_equal(conf_parse(&got, text, "/etc/duro/duro.ini", err, ERR_CAP), 0);
    assert_string_equal(got.classes[0].path, "/etc/duro/../lib/a.so");
    assert_string_equal(got.classes[1].path, "/abs/b.so");
    /* a file in the working directory, and the embedded config: relative to the cwd */
    assert_int_equal(conf_parse(&got, text, "duro.ini", err, ERR_CAP), 0);
    assert_string_equal(got.classes[0].path, "../lib/a.so");
    assert_int_equal(conf_parse(&got, text, CONF_ORIGIN_EMBEDDED, err, ERR_CAP), 0);
    assert_string_equal(got.classes[0].path, "../lib/a.so");
    /* a joined path over the cap is refused, naming the section */
    char origin[DURO_CLASS_PATH_MAX_BYTES + 16];
    memset(origin, 'd', sizeof origin - 1);
    origin[0] = '/';
    origin[sizeof origin - 1] = '\0';
    origin[sizeof origin - 3] = '/';
    assert_int_equal(conf_parse(&got, text, origin, err, ERR_CAP), -1);
    assert_non_null(strstr(err, "[class a]"));
    /* a Lua script the same way */
    text = "[class c]\nscript = room.lua\n[class d]\nscript = /abs/d.lua\n";
    assert_int_equal(conf_parse(&got, text, "/etc/duro/duro.ini", err, ERR_CAP), 0);
    assert_string_equal(got.classes[0].script, "/etc/duro/room.lua");
    assert_string_equal(got.classes[1].script, "/abs/d.lua");
    assert_int_equal(conf_parse(&got, text, CONF_ORIGIN_EMBEDDED, err, ERR_CAP), 0);
    assert_string_equal(got.classes[0].script, "room.lua");
    assert_int_equal(conf_parse(&got, text, origin, err, ERR_CAP), -1);
    assert_non_null(strstr(err, "[class c] script"));
}

static void ready_share_is_bounded(void **state)
{
    (void)state;
    parse_ok("[server]\nready_workers_down_max_percent = 0\n");
    assert_int_equal(got.ready_workers_down_max_percent, 0);
    parse_ok("");
    assert_int_equal(got.ready_workers_down_max_percent, DURO_READY_WORKERS_DOWN_MAX_PERCENT_DEFAULT);
    assert_int_equal(parse_fails_at("[server]\nready_workers_down_max_percent = 100\n",
                                    "ready_workers_down_max_percent"), 2);
}

static void route_limits(void **state)
{
    (void)state;
    static char text[DURO_ROUTES_MAX_COUNT * 80 + 128];
    size_t n = 0;

    for (unsigned i = 0; i < DURO_ROUTES_MAX_COUNT; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n,
                              "[route r%u]\nmatch = exact /%u\nclass = seed\nobject = o%u\n", i,
                              i, i);
    }
    parse_ok(text);
    assert_int_equal(got.nroutes, DURO_ROUTES_MAX_COUNT);
    for (unsigned i = 0; i < DURO_ROUTES_MAX_COUNT; i++) {
        char name[16];
        char value[16];
        char object[16];
        snprintf(name, sizeof name, "r%u", i);
        snprintf(value, sizeof value, "/%u", i);
        snprintf(object, sizeof object, "o%u", i);
        assert_route(&got.routes[i], name, ROUTE_EXACT, value, "seed", object);
    }

    snprintf(text + n, sizeof text - n, "[route one_more]\nmatch = exact /x\n");
    /* The section that is one too many is named by its header line. */
    expect_error_line(text, "routes", 4 * DURO_ROUTES_MAX_COUNT + 1);
}

static void route_values_are_checked(void **state)
{
    (void)state;
    expect_error_line("[route a]\nmatch = regex /a\n", "match", 2);
    expect_error_line("[route a]\nmatch = prefix\n", "match", 2);
    expect_error_line("[route a]\nmatch = exact /a\nclass = seed\nobject =\n", "object", 4);
    expect_error_line("[route a]\nmatch = exact /a\nclass =\n", "class", 3);
    expect_error_line("[route a]\nmatch = exact /a\nclass = seed\nobject = x\n"
                      "[route b]\nmatch = exact /b\nclass = seed\nobject = y\n"
                      "[route a]\nclass = echo\n",
                      "twice", 9);
    static const char *const bad_paths[] = { "rooms/{name}", "/rooms/x{name}",
                                             "/rooms/{name}x", "/a/{name}/{name}", "/rooms" };
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        char text[160];
        snprintf(text, sizeof text, "[route p]\nmatch = path %s\nclass = seed\nobject = {name}\n",
                 bad_paths[i]);
        parse_fails_at(text, "route p");
    }
    parse_ok("[route p]\nmatch = path /{name}\nclass = seed\nobject = {name}\n");
    parse_ok("[route p]\nmatch = path /r/{name}\nclass = seed\nobject = fixed\n");
}

/* Reopening a route right after itself is still a second definition. */
static void route_defined_twice_in_a_row(void **state)
{
    (void)state;
    parse_fails_at("[route a]\nmatch = exact /a\nclass = seed\nobject = x\n"
                   "[route a]\nclass = echo\n",
                   "twice");
}

/* libinih reads at most INI_MAX_LINE bytes a line: a longer line must be refused or read
 * whole, never cut into a second "key = value" line. */
static void long_line_is_never_split(void **state)
{
    (void)state;
    static char text[1024];
    char pattern[201];
    char err[ERR_CAP];

    memset(pattern, 'a', sizeof pattern - 1);
    pattern[sizeof pattern - 1] = '\0';
    snprintf(text, sizeof text,
             "[route a]\nclass = seed\nobject = x\nmatch = prefix /%.183sobject=evil\n", pattern);
    if (parse(text, err) == 0) {
        assert_string_equal(got.routes[0].object, "x");
        assert_int_equal(strlen(got.routes[0].value), 1 + 183 + strlen("object=evil"));
    }
}

/* ---- HOST:PORT ---- */

static void hostport_accepts(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *host;
        uint16_t port;
    } ok[] = {
        { "127.0.0.1:8787", "127.0.0.1", 8787 },
        { "[::1]:80", "::1", 80 },
        { "[2001:db8::1]:443", "2001:db8::1", 443 },
        { "[::]:1", "::", 1 },
        { "0.0.0.0:0", "0.0.0.0", 0 },
        { "localhost:65535", "localhost", 65535 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char host[64];
        uint16_t port = 1234;
        assert_int_equal(conf_parse_hostport(ok[i].in, host, sizeof host, &port), 0);
        assert_string_equal(host, ok[i].host);
        assert_int_equal(port, ok[i].port);
    }
}

static void hostport_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:65536",
        "127.0.0.1:99999999999999999999", "h:8a", "h:-1", "[::1]", "[::1]:", "[::1]80",
        "[::1", "[]:80", "[::1]:65536",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[64];
        uint16_t port;
        if (conf_parse_hostport(bad[i], host, sizeof host, &port) != -1) {
            fail_msg("'%s' accepted", bad[i]);
        }
    }
}

static void hostport_respects_host_capacity(void **state)
{
    (void)state;
    char host[8];
    uint16_t port;

    assert_int_equal(conf_parse_hostport("abcdefg:1", host, 8, &port), 0);
    assert_string_equal(host, "abcdefg");
    assert_int_equal(conf_parse_hostport("abcdefgh:1", host, 8, &port), -1);
    assert_int_equal(conf_parse_hostport("[abcdefgh]:1", host, 8, &port), -1);
}

/* ---- reading a file ---- */

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    assert_non_null(d);
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

static void write_temp(char *path, const void *data, size_t len)
{
    strcpy(path, "/tmp/duro-test-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void read_file(void **state)
{
    (void)state;
    static const char body[] = "[server]\nworkers = 7\n";
    char path[64];
    char err[ERR_CAP] = "";
    int fds = count_open_fds();

    write_temp(path, body, sizeof body - 1);
    char *text = conf_read_file(path, err, sizeof err);
    assert_non_null(text);
    assert_string_equal(text, body);
    parse_ok(text);
    assert_int_equal(got.workers, 7);
    free(text);
    assert_int_equal(unlink(path), 0);

    text = conf_read_file(path, err, sizeof err);
    assert_null(text);
    assert_non_null(strstr(err, path));

    write_temp(path, "[server]\0workers = 1\n", 21);
    err[0] = '\0';
    assert_null(conf_read_file(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_int_equal(unlink(path), 0);

    assert_int_equal(count_open_fds(), fds);
}

static void read_file_bounds(void **state)
{
    (void)state;
    char *big = malloc(DURO_CONFIG_MAX_BYTES + 1);
    char path[64];
    char err[ERR_CAP] = "";
    int fds = count_open_fds();
    assert_non_null(big);
    memset(big, ';', DURO_CONFIG_MAX_BYTES + 1);

    write_temp(path, big, DURO_CONFIG_MAX_BYTES);
    char *text = conf_read_file(path, err, sizeof err);
    assert_non_null(text);
    assert_int_equal(strlen(text), DURO_CONFIG_MAX_BYTES);
    free(text);
    assert_int_equal(unlink(path), 0);

    write_temp(path, big, DURO_CONFIG_MAX_BYTES + 1);
    assert_null(conf_read_file(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_int_equal(unlink(path), 0);

    free(big);
    assert_int_equal(count_open_fds(), fds);
}

/* ---- the key table ---- */

/* One documented key of config/duro.ini: "key = value" under a section, commented out or not. */
struct doc_key {
    char section[64];
    char name[64];
    char value[256];
    int line;
};

/* Reads every "key = value" line of the embedded duro.ini, including the commented examples
 * ("; key = value"), with the section it sits in ("[route seed]" and "; [class presence]" give
 * "route" and "class"). Returns the count. */
static size_t doc_keys(struct doc_key *out, size_t cap)
{
    char section[64] = "";
    size_t n = 0;
    int line = 0;

    for (const char *p = conf_default_text; *p != '\0' && n < cap; line++) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)len, p);
        p += len + (nl != NULL);
        char *q = buf;
        if (*q == ';') {
            q++;
            q += strspn(q, " ");
        }
        char *comment = strstr(q, "  ;");
        if (comment != NULL) {
            *comment = '\0';
        }
        if (*q == '[') {
            size_t w = strcspn(q + 1, " ]");
            snprintf(section, sizeof section, "%.*s", (int)w, q + 1);
            continue;
        }
        size_t klen = strspn(q, "abcdefghijklmnopqrstuvwxyz_");
        if (klen == 0 || strncmp(q + klen, " = ", 3) != 0) {
            continue;
        }
        struct doc_key *d = &out[n++];
        snprintf(d->section, sizeof d->section, "%s", section);
        snprintf(d->name, sizeof d->name, "%.*s", (int)klen, q);
        char *v = q + klen + 3;
        size_t vlen = strlen(v);
        while (vlen > 0 && v[vlen - 1] == ' ') {
            v[--vlen] = '\0';
        }
        snprintf(d->value, sizeof d->value, "%s", v);
        d->line = line + 1;
    }
    return n;
}

static void duro_ini_documents_every_key_with_its_default(void **state)
{
    (void)state;
    static struct doc_key docs[256];
    size_t n = doc_keys(docs, sizeof docs / sizeof docs[0]);

    assert_true(n > 10);
    for (size_t i = 0; i < n; i++) {
        if (conf_key_find(docs[i].section, docs[i].name) == NULL) {
            fail_msg("duro.ini:%d documents [%s] %s, which is not a key", docs[i].line,
                     docs[i].section, docs[i].name);
        }
    }
    for (unsigned i = 0; i < conf_keys_count; i++) {
        const struct conf_key *k = &conf_keys[i];
        char def[256];
        int has_default = conf_key_default(k, def, sizeof def) == 0 && def[0] != '\0';
        int found = 0;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(docs[j].section, k->section) == 0 && strcmp(docs[j].name, k->name) == 0 &&
                (!has_default || strcmp(docs[j].value, def) == 0)) {
                found = 1;
            }
        }
        if (!found) {
            fail_msg("duro.ini does not document [%s] %s%s%s", k->section, k->name,
                     has_default ? " = " : "", has_default ? def : "");
        }
    }
}

/* Every default in the table is a value its own key accepts, and the defaults are what an empty
 * config gives. */
static void table_defaults_parse(void **state)
{
    (void)state;
    char err[ERR_CAP];
    for (unsigned i = 0; i < conf_keys_count; i++) {
        const struct conf_key *k = &conf_keys[i];
        char def[256];
        char text[512];
        if (conf_key_default(k, def, sizeof def) != 0 || k->scope != CONF_SCOPE_CONF) {
            continue;
        }
        if (k->type == CONF_U32) {
            assert_int_equal(k->size, sizeof(uint32_t));
        }
        snprintf(text, sizeof text, "[%s]\n%s = %s\n", k->section, k->name, def);
        if (parse(text, err) != 0) {
            fail_msg("default of [%s] %s refused: %s", k->section, k->name, err);
        }
        assert_int_equal(parse("", err), 0);
        memcpy(&want, &got, sizeof want);
        assert_int_equal(parse(text, err), 0);
        if (memcmp(&want, &got, sizeof want) != 0) {
            fail_msg("[%s] %s = %s differs from the built-in default", k->section, k->name, def);
        }
    }
}

static void log_keys_set_their_fields(void **state)
{
    (void)state;
    parse_ok("");
    assert_int_equal(got.log_timestamps, 1);
    assert_int_equal(got.log_format, LOG_FORMAT_TEXT);
    parse_ok("[server]\nlog_timestamps = false\nlog_format = json\n");
    assert_int_equal(got.log_timestamps, 0);
    assert_int_equal(got.log_format, LOG_FORMAT_JSON);
    expect_error_line("[server]\n\nlog_format = xml\n", "text or json", 3);
    expect_error_line("[server]\nlog_timestamps = yes\n", "log_timestamps", 2);
}

/* Route checks that concern one key name that key's line, not the [route] header. */
static void route_errors_name_the_key_line(void **state)
{
    (void)state;
    expect_error_line("[route a]\nmatch = exact /a\nclass = nope\nobject = x\n", "nope", 3);
    expect_error_line("[route a]\nobject = {name}\nclass = seed\nmatch = exact /a\n", "{name}", 2);
    expect_error_line("[route a]\nclass = seed\n\nmatch = path /r/x\nobject = {name}\n", "path",
                      4);
    /* a missing key has no line of its own: the header is named */
    expect_error_line("[server]\nworkers = 1\n[route a]\nmatch = prefix /a\nobject = x\n",
                      "class", 3);
}

static void class_without_path_says_so(void **state)
{
    (void)state;
    expect_error_line("[server]\nworkers = 1\n[class k]\nsymbol = x\n", "'path'", 3);
    /* a section with no key at all still exists, and is reported the same way */
    expect_error_line("[class k]\n[route a]\nmatch = exact /a\nclass = k\nobject = x\n",
                      "'path'", 1);
    expect_error_line("[node n]\n", "'address'", 1);
    /* an empty route is reported instead of being skipped */
    expect_error_line("[route a]\n[route b]\nmatch = exact /b\nclass = seed\nobject = y\n",
                      "route a", 1);
}

/* --check and start-up use the same parser: a name where duro binds is refused, with a clear
 * message, rather than accepted and failing with EINVAL at bind time. */
static void bind_addresses_are_numeric(void **state)
{
    (void)state;
    static const char *const names[] = { "localhost:8787", "example.com:80", "[localhost]:1" };
    char text[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(text, sizeof text, "[server]\nlisten = %s\n", names[i]);
        expect_error_line(text, "names are not resolved", 2);
        snprintf(text, sizeof text, "[server]\n\nadmin = %s\n", names[i]);
        expect_error_line(text, "names are not resolved", 3);
    }
    char host[64];
    uint16_t port;
    assert_int_equal(conf_parse_bind("localhost:1", host, sizeof host, &port), -1);
    assert_int_equal(conf_parse_bind("10.1.2.3:1", host, sizeof host, &port), 0);
    assert_int_equal(conf_parse_bind("[::1]:2", host, sizeof host, &port), 0);
    assert_int_equal(port, 2);
    /* HAProxy resolves names itself: node addresses may be names */
    parse_ok("[node a]\naddress = node-a.example:8787\n");
}

/* A [class] is a shared object (path) or a Lua script (script), never both; only a script may
 * replace a built-in class. [lua] bounds Lua classes. */
static void lua_classes_and_limits(void **st)
{
    (void)st;
    parse_ok("[class room]\nscript = /etc/duro/room.lua\n");
    assert_string_equal(got.classes[0].script, "/etc/duro/room.lua");
    assert_string_equal(got.classes[0].path, "");
    assert_int_equal(got.lua_event_max_ms, DURO_LUA_EVENT_MAX_MS_DEFAULT);
    assert_int_equal(got.lua_memory_max_bytes, DURO_LUA_MEMORY_MAX_BYTES_DEFAULT);
    parse_ok("[class seed]\nscript = seed.lua\n");
    parse_fails_at("[class seed]\npath = seed.so\n", "built-in");
    parse_fails_at("[class x]\npath = x.so\nscript = x.lua\n", "not both");
    parse_fails_at("[class x]\nsymbol = s\n", "no 'path' key");
    parse_ok("[lua]\nevent_max_ms = 50\nmemory_max_bytes = 1048576\n");
    assert_int_equal(got.lua_event_max_ms, 50);
    assert_int_equal(got.lua_memory_max_bytes, 1048576);
    expect_error_line("[lua]\nevent_max_ms = 0\n", "event_max_ms", 2);
    expect_error_line("[lua]\nmemory_max_bytes = 1024\n", "memory_max_bytes", 2);
    expect_error_line("[lua]\ncolour = red\n", "colour", 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embedded_default_text),
        cmocka_unit_test(empty_text_equals_embedded_text),
        cmocka_unit_test(each_number_key_sets_its_field),
        cmocka_unit_test(server_keys_set_their_fields),
        cmocka_unit_test(later_value_wins_and_sections_may_repeat),
        cmocka_unit_test(unknown_key_names_its_line),
        cmocka_unit_test(unknown_section_names_its_line),
        cmocka_unit_test(out_of_range_number_names_its_line),
        cmocka_unit_test(bad_listen_names_its_line),
        cmocka_unit_test(syntax_error_names_its_line),
        cmocka_unit_test(first_error_keeps_its_own_message),
        cmocka_unit_test(route_errors_name_their_line),
        cmocka_unit_test(routes_replace_the_defaults_in_file_order),
        cmocka_unit_test(route_limits),
        cmocka_unit_test(class_paths_resolve_against_the_config_directory),
        cmocka_unit_test(ready_share_is_bounded),
        cmocka_unit_test(route_values_are_checked),
        cmocka_unit_test(route_defined_twice_in_a_row),
        cmocka_unit_test(long_line_is_never_split),
        cmocka_unit_test(hostport_accepts),
        cmocka_unit_test(hostport_refuses),
        cmocka_unit_test(hostport_respects_host_capacity),
        cmocka_unit_test(read_file),
        cmocka_unit_test(read_file_bounds),
        cmocka_unit_test(duro_ini_documents_every_key_with_its_default),
        cmocka_unit_test(table_defaults_parse),
        cmocka_unit_test(log_keys_set_their_fields),
        cmocka_unit_test(route_errors_name_the_key_line),
        cmocka_unit_test(class_without_path_says_so),
        cmocka_unit_test(bind_addresses_are_numeric),
        cmocka_unit_test(lua_classes_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* tests/unit/test_router.c: gateway/router.h: the seed's raw routing and named routes. */
#include "gateway/router.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static struct conf c;

static int setup(void **state)
{
    (void)state;
    char err[256];
    const char *text = "[route exact]\nmatch = exact /e?q=1\nclass = echo\nobject = e\n"
                       "[route rooms]\nmatch = path /rooms/{name}/websocket\nclass = chat\n"
                       "object = {name}\n"
                       "[route pre]\nmatch = prefix /p/\nclass = echo\nobject = p\n"
                       "[route seed]\nmatch = suffix /websocket\nclass = seed\nobject = foo\n";
    return conf_parse(&c, text, "t.ini", err, sizeof err);
}

static enum router_outcome route(const char *target, struct route_result *out)
{
    return router_match(&c, target, strlen(target), out);
}

static void seed_routing_is_raw(void **state)
{
    (void)state;
    struct route_result r;
    assert_int_equal(route("/websocket", &r), ROUTER_MATCH);
    assert_string_equal(r.route->cls, "seed");
    assert_string_equal(r.name, "foo");
    assert_int_equal(route("/a/b/websocket", &r), ROUTER_MATCH);
    assert_int_equal(route("/websocket#frag", &r), ROUTER_MATCH); /* fragment dropped */
    assert_int_equal(route("/websocket?x=1", &r), ROUTER_NONE);   /* the query is part of it */
    assert_int_equal(route("/websocket/", &r), ROUTER_NONE);
    assert_int_equal(route("/WEBSOCKET", &r), ROUTER_NONE);
    assert_int_equal(route("/web%73ocket", &r), ROUTER_NONE);     /* no decoding */
    assert_int_equal(route("", &r), ROUTER_NONE);
}

static void exact_prefix_and_order(void **state)
{
    (void)state;
    struct route_result r;
    assert_int_equal(route("/e?q=1", &r), ROUTER_MATCH);
    assert_string_equal(r.route->name, "exact");
    assert_int_equal(route("/e?q=2", &r), ROUTER_NONE);
    assert_int_equal(route("/p/x/websocket", &r), ROUTER_MATCH);
    assert_string_equal(r.route->name, "pre"); /* first match wins over the seed's suffix */
}

static void path_routes_decode_one_segment(void **state)
{
    (void)state;
    struct route_result r;
    assert_int_equal(route("/rooms/lobby/websocket", &r), ROUTER_MATCH);
    assert_string_equal(r.route->cls, "chat");
    assert_string_equal(r.name, "lobby");
    assert_int_equal(route("/rooms/a%20b%2Ec/websocket?t=1", &r), ROUTER_MATCH);
    assert_string_equal(r.name, "a b.c");
    assert_int_equal(r.name_len, 5);
    /* two segments: not this route, so the seed's suffix route takes it */
    assert_int_equal(route("/rooms/a/b/websocket", &r), ROUTER_MATCH);
    assert_string_equal(r.route->name, "seed");
    assert_int_equal(route("/rooms//websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/%zz/websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/%00/websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/%4/websocket", &r), ROUTER_BAD_NAME);
    char long_name[600];
    snprintf(long_name, sizeof long_name, "/rooms/%0257d/websocket", 0);
    assert_int_equal(route(long_name, &r), ROUTER_BAD_NAME);
    snprintf(long_name, sizeof long_name, "/rooms/%0256d/websocket", 0);
    assert_int_equal(route(long_name, &r), ROUTER_MATCH);
    assert_int_equal(r.name_len, 256);
}

static void decoded_names_are_one_segment(void **state)
{
    (void)state;
    struct route_result r;
    assert_int_equal(route("/rooms/a%2Fb/websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/..%2F..%2Fetc/websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/%2E%2E/websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/./websocket", &r), ROUTER_BAD_NAME);
    assert_int_equal(route("/rooms/.../websocket", &r), ROUTER_MATCH);
    assert_string_equal(r.name, "...");
}

static void absolute_form_is_routed_by_its_path(void **state)
{
    (void)state;
    const char *t = "http://h/rooms/x/websocket";
    size_t off = router_origin_offset(t, strlen(t));
    assert_int_equal(off, 8);
    struct route_result r;
    assert_int_equal(router_match(&c, t + off, strlen(t) - off, &r), ROUTER_MATCH);
    assert_string_equal(r.route->cls, "chat");
    assert_string_equal(r.name, "x");
    assert_int_equal(router_origin_offset("HTTPS://h:1/e?q=1", 17), 11);
    assert_int_equal(router_origin_offset("http://h", 8), 8);
    assert_int_equal(router_origin_offset("/websocket", 10), 0);
    assert_int_equal(router_origin_offset("http:/x", 7), 0);
}

static void upgrade_check_defaults_by_class(void **state)
{
    (void)state;
    struct route_result r;
    assert_int_equal(route("/websocket", &r), ROUTER_MATCH);
    assert_int_equal(r.route->upgrade_check, UPGRADE_CHECK_SEED);
    assert_int_equal(route("/rooms/x/websocket", &r), ROUTER_MATCH);
    assert_int_equal(r.route->upgrade_check, UPGRADE_CHECK_RFC);
    struct conf k;
    char err[256];
    assert_int_equal(conf_parse(&k, "[route s]\nmatch = exact /s\nclass = seed\nobject = f\n"
                                    "upgrade_check = rfc\n[route e]\nmatch = exact /e\n"
                                    "class = echo\nobject = e\nupgrade_check = seed\n",
                                "t.ini", err, sizeof err),
                     0);
    assert_int_equal(k.routes[0].upgrade_check, UPGRADE_CHECK_RFC);
    assert_int_equal(k.routes[1].upgrade_check, UPGRADE_CHECK_SEED);
    assert_int_not_equal(conf_parse(&k, "[route s]\nmatch = exact /s\nclass = seed\nobject = f\n"
                                        "upgrade_check = loose\n",
                                    "t.ini", err, sizeof err),
                         0);
    assert_non_null(strstr(err, "upgrade_check"));
    assert_int_equal(conf_parse(&k, "", "t.ini", err, sizeof err), 0);
    assert_int_equal(k.routes[0].upgrade_check, UPGRADE_CHECK_SEED); /* the default seed route */
}

static void decode_edges(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(router_decode("%41%62c", 7, out, sizeof out), 3);
    assert_string_equal(out, "Abc");
    assert_int_equal(router_decode("abc%", 4, out, sizeof out), -1);
    assert_int_equal(router_decode("abc%4", 5, out, sizeof out), -1);
    assert_int_equal(router_decode("12345678", 8, out, sizeof out), -1); /* no room for NUL */
    assert_int_equal(router_decode("1234567", 7, out, sizeof out), 7);
}

static void origins_allow_list(void **state)
{
    (void)state;
    struct conf_route rt;
    memset(&rt, 0, sizeof rt);
    assert_true(router_origin_allowed(&rt, "https://any.example", 19)); /* no list: any */
    snprintf(rt.origins, sizeof rt.origins, "%s", "https://a.example, https://b.example,https://c");
    assert_true(router_origin_allowed(&rt, "https://a.example", 17));
    assert_true(router_origin_allowed(&rt, "https://b.example", 17));
    assert_true(router_origin_allowed(&rt, "https://c", 9));
    assert_false(router_origin_allowed(&rt, "https://a.exampl", 16));  /* a prefix */
    assert_false(router_origin_allowed(&rt, "https://a.example.evil", 22));
    assert_false(router_origin_allowed(&rt, "HTTPS://A.EXAMPLE", 17)); /* exact, as browsers send */
    assert_false(router_origin_allowed(&rt, "", 0));
    assert_false(router_origin_allowed(&rt, "null", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(seed_routing_is_raw, setup),
        cmocka_unit_test_setup(exact_prefix_and_order, setup),
        cmocka_unit_test_setup(path_routes_decode_one_segment, setup),
        cmocka_unit_test(decode_edges),
        cmocka_unit_test(origins_allow_list),
        cmocka_unit_test_setup(decoded_names_are_one_segment, setup),
        cmocka_unit_test_setup(absolute_form_is_routed_by_its_path, setup),
        cmocka_unit_test_setup(upgrade_check_defaults_by_class, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

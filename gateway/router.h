/* gateway/router.h: request-target -> (class, object name), by the config's ordered routes.
 *
 * Matching uses the raw target (path and query, fragment removed), with no normalisation and
 * no percent-decoding, as the seed does; only a `path` route's {name} segment is decoded. */
#ifndef DURO_ROUTER_H
#define DURO_ROUTER_H

#include <stddef.h>

#include "common/conf.h"

enum router_outcome {
    ROUTER_NONE = 0,     /* no route matches: the seed's 400 */
    ROUTER_MATCH = 1,    /* `out` holds the route and the object name */
    ROUTER_BAD_NAME = 2, /* a {name} segment that is empty, too long, badly encoded, or that
                          * decodes to a name holding '/' or equal to "." or ".." */
};

struct route_result {
    const struct conf_route *route;
    size_t name_len;
    char name[DURO_OBJECT_NAME_MAX_BYTES + 1]; /* NUL-terminated, decoded */
};

/* Finds the first route of `c` matching `target` (`len` bytes). */
enum router_outcome router_match(const struct conf *c, const char *target, size_t len,
                                 struct route_result *out);

/* True when `origin` (an Origin header's value, `len` bytes) is in the route's `origins` list
 * (comma- or space-separated, compared exactly), or the route has no list. */
int router_origin_allowed(const struct conf_route *rt, const char *origin, size_t len);
/* The offset of the path in `target`: past "http://authority" or "https://authority" for an
 * absolute-form target (RFC 9112 3.2.2, scheme compared case-insensitively), else 0. */
size_t router_origin_offset(const char *target, size_t len);

/* Percent-decodes `src` into `dst` (capacity `cap`, NUL-terminated). Returns the decoded length,
 * or -1 on a malformed escape, a decoded NUL, or overflow. */
long router_decode(const char *src, size_t len, char *dst, size_t cap);

#endif

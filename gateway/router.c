#include "gateway/router.h"

#include <string.h>
#include <strings.h>

#define NAME_PLACEHOLDER "{name}"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

long router_decode(const char *src, size_t len, char *dst, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = src[i];
        if (ch == '%') {
            if (len - i < 3) {
                return -1;
            }
            int hi = hexval(src[i + 1]);
            int lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            ch = (char)(hi * 16 + lo);
            i += 2;
            if (ch == '\0') {
                return -1;
            }
        }
        if (n + 1 >= cap) {
            return -1;
        }
        dst[n++] = ch;
    }
    dst[n] = '\0';
    return (long)n;
}

static int ends_with(const char *s, size_t len, const char *suffix, size_t slen)
{
    return len >= slen && memcmp(s + len - slen, suffix, slen) == 0;
}

static enum router_outcome match_pattern(const struct conf_route *r, const char *path,
                                         size_t len, struct route_result *out)
{
    const char *ph = strstr(r->value, NAME_PLACEHOLDER);
    size_t pre = (size_t)(ph - r->value);
    const char *suffix = ph + sizeof NAME_PLACEHOLDER - 1;
    size_t suf = strlen(suffix);

    if (len < pre + suf || memcmp(path, r->value, pre) != 0 ||
        !ends_with(path, len, suffix, suf)) {
        return ROUTER_NONE;
    }
    const char *seg = path + pre;
    size_t seg_len = len - pre - suf;
    if (memchr(seg, '/', seg_len) != NULL) {
        return ROUTER_NONE; /* {name} is one segment */
    }
    out->route = r;
    long n = router_decode(seg, seg_len, out->name, sizeof out->name);
    if (seg_len == 0 || n <= 0) {
        return ROUTER_BAD_NAME;
    }
    /* A decoded '/' (from %2F) or a dot segment would make a name that is not one path
     * segment: refused, so that names stay usable as file or URL components. */
    if (memchr(out->name, '/', (size_t)n) != NULL || strcmp(out->name, ".") == 0 ||
        strcmp(out->name, "..") == 0) {
        return ROUTER_BAD_NAME;
    }
    out->name_len = (size_t)n;
    return ROUTER_MATCH;
}

size_t router_origin_offset(const char *target, size_t len)
{
    static const char *const schemes[] = { "http://", "https://" };
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t sl = strlen(schemes[i]);
        if (len >= sl && strncasecmp(target, schemes[i], sl) == 0) {
            size_t p = sl;
            while (p < len && target[p] != '/' && target[p] != '?' && target[p] != '#') {
                p++;
            }
            return p;
        }
    }
    return 0;
}

enum router_outcome router_match(const struct conf *c, const char *target, size_t len,
                                 struct route_result *out)
{
    const char *hash = memchr(target, '#', len);
    if (hash != NULL) {
        len = (size_t)(hash - target);
    }
    const char *q = memchr(target, '?', len);
    size_t path_len = q != NULL ? (size_t)(q - target) : len;

    for (unsigned i = 0; i < c->nroutes; i++) {
        const struct conf_route *r = &c->routes[i];
        size_t vlen = strlen(r->value);
        int hit = 0;
        switch (r->match) {
        case ROUTE_EXACT:
            hit = len == vlen && memcmp(target, r->value, vlen) == 0;
            break;
        case ROUTE_PREFIX:
            hit = len >= vlen && memcmp(target, r->value, vlen) == 0;
            break;
        case ROUTE_SUFFIX:
            hit = ends_with(target, len, r->value, vlen);
            break;
        case ROUTE_PATTERN: {
            enum router_outcome o = match_pattern(r, target, path_len, out);
            if (o != ROUTER_NONE) {
                return o;
            }
            break;
        }
        }
        if (hit) {
            out->route = r;
            out->name_len = strlen(r->object);
            memcpy(out->name, r->object, out->name_len + 1);
            return ROUTER_MATCH;
        }
    }
    return ROUTER_NONE;
}

int router_origin_allowed(const struct conf_route *rt, const char *origin, size_t len)
{
    const char *p = rt->origins;
    if (*p == '\0') {
        return 1;
    }
    while (*p != '\0') {
        while (*p == ' ' || *p == ',') {
            p++;
        }
        size_t n = strcspn(p, ", ");
        if (n > 0 && n == len && memcmp(p, origin, n) == 0) {
            return 1;
        }
        p += n;
    }
    return 0;
}

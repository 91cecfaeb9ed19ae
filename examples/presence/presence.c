/* examples/presence/presence.c: an example of an external duro class, built as a shared object
 * and loaded with a [class presence] section. It is what a class of your own looks like.
 *
 * A room that knows who is in it. A client connects with ?user=NAME (percent-encoded, as a
 * browser's URLSearchParams writes it; at most 64 bytes of printable UTF-8 once decoded, else
 * the upgrade gets 400); the name is kept in the socket's attachment, so it survives
 * hibernation (the object's state does not need to hold it).
 * Everyone in the room hears "join NAME (N online)" and "leave NAME (N online)"; a client that
 * sends "who" gets the names of everyone online; anything else is relayed to the room as
 * "NAME: message". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duro/class.h"

#define USER_PARAM "user="
#define NAME_MAX_BYTES 64
#define LINE_MAX_BYTES 256
#define WHO_MAX_SOCKETS 1024

static int hex_value(char c)
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

/* 1 when `s` is well-formed UTF-8 without control characters: the name goes into text frames. */
static int name_is_printable_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t more;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return 0;
            }
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1fu;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0fu;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07u;
        } else {
            return 0;
        }
        if (len - i <= more) {
            return 0;
        }
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0u) != 0x80u) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (more == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
            return 0;
        }
        i += more + 1;
    }
    return 1;
}

/* Decodes the query value `v` (percent-encoding, and '+' for a space as HTML forms send it)
 * into `out`. Returns the decoded length, or 0 when it is empty, over `cap` bytes, badly
 * encoded, or not printable UTF-8. */
static size_t decode_name(const char *v, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_value(v[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(v[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return 0;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (n == cap) {
            return 0;
        }
        out[n++] = c;
    }
    return name_is_printable_utf8((const unsigned char *)out, n) ? n : 0;
}

/* The user name from the request-target's query, decoded; "anonymous" without one. Returns its
 * length, or 0 when the value cannot be a name. */
static size_t user_from_target(const char *target, size_t len, char *out, size_t cap)
{
    const char *q = memchr(target, '?', len);
    const char *end = target + len;
    const char *p = q;
    while (p != NULL && p < end) {
        p++;
        size_t plen = sizeof USER_PARAM - 1;
        if ((size_t)(end - p) >= plen && memcmp(p, USER_PARAM, plen) == 0) {
            const char *v = p + plen;
            const char *amp = memchr(v, '&', (size_t)(end - v));
            return decode_name(v, (size_t)((amp != NULL ? amp : end) - v), out, cap);
        }
        p = memchr(p, '&', (size_t)(end - p));
    }
    memcpy(out, "anonymous", 9);
    return 9;
}

static void announce(struct duro_object *obj, const char *what, const char *name, size_t len,
                     size_t online)
{
    char line[LINE_MAX_BYTES];
    int n = snprintf(line, sizeof line, "%s %.*s (%zu online)", what, (int)len, name, online);
    (void)duro_object_broadcast(obj, NULL, 0, 0, line, (size_t)n);
}

static int presence_connect(struct duro_object *obj, void *state, struct duro_socket *ws,
                            const struct duro_connect_info *info)
{
    (void)state;
    char name[NAME_MAX_BYTES];
    size_t n = user_from_target(info->target, info->target_len, name, sizeof name);
    if (n == 0) {
        return 400; /* empty, too long, badly percent-encoded or not printable UTF-8 */
    }
    if (duro_socket_set_attachment(ws, name, n) != 0) {
        return 500;
    }
    /* The newcomer is not open yet (its 101 follows on_connect), so it neither counts nor hears
     * the join; it is online as soon as this returns 0. */
    announce(obj, "join", name, n, duro_object_open_count(obj) + 1);
    return 0;
}

static void presence_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                             int binary, const uint8_t *data, size_t len)
{
    (void)state;
    size_t nlen;
    const char *name = duro_socket_attachment(ws, &nlen);
    if (!binary && len == 3 && memcmp(data, "who", 3) == 0) {
        struct duro_socket *all[WHO_MAX_SOCKETS];
        size_t total = duro_object_sockets(obj, NULL, 0, all, WHO_MAX_SOCKETS);
        char line[LINE_MAX_BYTES] = "online:";
        size_t used = strlen(line);
        for (size_t i = 0; i < total && i < WHO_MAX_SOCKETS; i++) {
            size_t l;
            const char *other = duro_socket_attachment(all[i], &l);
            if (used + l + 2 >= sizeof line) {
                break;
            }
            line[used++] = ' ';
            memcpy(line + used, other, l);
            used += l;
        }
        (void)duro_send(ws, 0, line, used);
        return;
    }
    if (binary) {
        return;
    }
    /* The relayed line is as long as the message allows ([limits] message_max_bytes), so it is
     * built on the heap: a fixed buffer would cut long messages. */
    char *line = malloc(nlen + 2 + len);
    if (line == NULL) {
        (void)duro_close(ws, 1011, "out of memory", 13);
        return;
    }
    memcpy(line, name, nlen);
    memcpy(line + nlen, ": ", 2);
    memcpy(line + nlen + 2, data, len);
    (void)duro_object_broadcast(obj, NULL, 0, 0, line, nlen + 2 + len);
    free(line);
}

static void presence_close(struct duro_object *obj, void *state, struct duro_socket *ws,
                           uint16_t code, const char *reason, size_t reason_len, int was_clean)
{
    (void)state;
    (void)code;
    (void)reason;
    (void)reason_len;
    (void)was_clean;
    size_t nlen;
    const char *name = duro_socket_attachment(ws, &nlen);
    announce(obj, "leave", name, nlen, duro_object_open_count(obj));
}

const struct duro_class duro_class = {
    .api_version = 1, /* a version 1 class: it must keep loading unchanged */
    .name = "presence",
    .on_connect = presence_connect,
    .on_message = presence_message,
    .on_close = presence_close,
};

/* examples/presence/presence.c: an example of an external duro class, built as a shared object
 * and loaded with a [class presence] section. It is what a class of your own looks like.
 *
 * A room that knows who is in it. A client connects with ?user=NAME; the name is kept in the
 * socket's attachment, so it survives hibernation (the object's state does not need to hold it).
 * Everyone in the room hears "join NAME (N online)" and "leave NAME (N online)"; a client that
 * sends "who" gets the names of everyone online; anything else is relayed to the room as
 * "NAME: message". */
#include <stdio.h>
#include <string.h>

#include "duro/class.h"

#define USER_PARAM "user="
#define NAME_MAX_BYTES 64
#define LINE_MAX_BYTES 256
#define WHO_MAX_SOCKETS 1024

/* The user name from the request-target's query, or "anonymous". */
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
            size_t n = 0;
            while (v + n < end && v[n] != '&' && n + 1 < cap) {
                n++;
            }
            if (n > 0) {
                memcpy(out, v, n);
                return n;
            }
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
    struct duro_iov parts[] = { { name, nlen }, { ": ", 2 }, { data, len } };
    char line[LINE_MAX_BYTES * 4];
    size_t used = 0;
    for (size_t i = 0; i < 3 && used + parts[i].len <= sizeof line; i++) {
        memcpy(line + used, parts[i].base, parts[i].len);
        used += parts[i].len;
    }
    (void)duro_object_broadcast(obj, NULL, 0, 0, line, used);
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

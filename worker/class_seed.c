/* worker/class_seed.c: Cloudflare's "WebSocket Hibernation Server" example, byte for byte.
 *
 * Every text message M gets `[Durable Object] message: M, connections: N`; a binary one gets
 * `[object ArrayBuffer]` in place of M (JavaScript's `${arrayBuffer}`); N is the number of the
 * object's open sockets. A client's close with code C is answered with C and the seed's reason;
 * a close without a code with 1000 (the reference runtime leaves it unanswered: a bug). */
#include <string.h>

#include "worker/class_loader.h"

#define SEED_PREFIX "[Durable Object] message: "
#define SEED_BINARY "[object ArrayBuffer]"
#define SEED_COUNT ", connections: "
#define SEED_CLOSE_REASON "Durable Object is closing WebSocket"

/* Decimal digits of `v` at the end of `buf` (24 bytes); returns where they start. snprintf's
 * format parsing was a measurable share of the worker's time at a million replies a second. */
static const char *decimal(size_t v, char buf[24], size_t *len)
{
    char *p = buf + 24;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    *len = (size_t)(buf + 24 - p);
    return p;
}

static void seed_on_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                            int binary, const uint8_t *data, size_t len)
{
    (void)state;
    char buf[24];
    size_t n;
    const char *count = decimal(duro_object_open_count(obj), buf, &n);
    struct duro_iov iov[] = {
        { SEED_PREFIX, sizeof SEED_PREFIX - 1 },
        { binary ? (const void *)SEED_BINARY : (const void *)data,
          binary ? sizeof SEED_BINARY - 1 : len },
        { SEED_COUNT, sizeof SEED_COUNT - 1 },
        { count, n },
    };
    (void)duro_sendv(ws, 0, iov, sizeof iov / sizeof iov[0]); /* a failed send closes ws */
}

static void seed_on_close(struct duro_object *obj, void *state, struct duro_socket *ws,
                          uint16_t code, const char *reason, size_t reason_len, int was_clean)
{
    (void)obj;
    (void)state;
    (void)reason;
    (void)reason_len;
    if (!was_clean) {
        return; /* TCP dropped: there is nobody to answer */
    }
    (void)duro_close(ws, code == DURO_CLOSE_NO_STATUS ? DURO_CLOSE_NORMAL : code, SEED_CLOSE_REASON,
                     sizeof SEED_CLOSE_REASON - 1);
}

const struct duro_class class_seed = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "seed",
    .on_message = seed_on_message,
    .on_close = seed_on_close,
};

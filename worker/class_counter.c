/* worker/class_counter.c: the canonical durable object. Text commands:
 *   incr     -> key "n" + 1, answered with the new value once it is durable (the output gate)
 *   get      -> the value of "n"
 *   alarm MS -> sets the object's alarm MS milliseconds from now, answers "ok"
 *   fired    -> the value of "fired"
 * On the alarm, "fired" + 1 and "fired N" goes to every open socket. Anything else is closed
 * with 1003 "unsupported command". It uses nothing but the public class API. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "worker/class_loader.h"

#define COUNTER_REPLY_MAX_BYTES 32

static const char UNSUPPORTED[] = "unsupported command";

/* The decimal value under `key`, 0 when absent; -1 on a storage error. */
static int64_t read_count(struct duro_object *obj, const char *key)
{
    const void *v;
    size_t n;
    int rc = duro_storage_get(obj, key, strlen(key), &v, &n);
    if (rc == DURO_ENOTFOUND) {
        return 0;
    }
    if (rc != 0 || n >= COUNTER_REPLY_MAX_BYTES) {
        return -1;
    }
    char buf[COUNTER_REPLY_MAX_BYTES];
    memcpy(buf, v, n);
    buf[n] = '\0';
    return strtoll(buf, NULL, 10);
}

/* Adds one to `key`. Returns the new value, or -1. */
static int64_t bump(struct duro_object *obj, const char *key)
{
    int64_t v = read_count(obj, key);
    if (v < 0) {
        return -1;
    }
    char buf[COUNTER_REPLY_MAX_BYTES];
    int len = snprintf(buf, sizeof buf, "%" PRId64, v + 1);
    return duro_storage_put(obj, key, strlen(key), buf, (size_t)len) == 0 ? v + 1 : -1;
}

static void reply_num(struct duro_socket *ws, const char *prefix, int64_t v)
{
    char buf[COUNTER_REPLY_MAX_BYTES + 8];
    int len = snprintf(buf, sizeof buf, "%s%" PRId64, prefix, v);
    (void)duro_send(ws, DURO_TEXT, buf, (size_t)len);
}

static int is(const uint8_t *data, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(data, word, len) == 0;
}

static void storage_failed(struct duro_socket *ws)
{
    (void)duro_close(ws, DURO_CLOSE_INTERNAL, "storage failed", 14);
}

static void counter_on_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                               int binary, const uint8_t *data, size_t len)
{
    (void)state;
    if (binary == DURO_TEXT && is(data, len, "incr")) {
        int64_t v = bump(obj, "n");
        if (v < 0) {
            storage_failed(ws);
            return;
        }
        reply_num(ws, "", v);
        return;
    }
    if (binary == DURO_TEXT && (is(data, len, "get") || is(data, len, "fired"))) {
        int64_t v = read_count(obj, len == 3 ? "n" : "fired");
        if (v < 0) {
            storage_failed(ws);
            return;
        }
        reply_num(ws, "", v);
        return;
    }
    if (binary == DURO_TEXT && len > 6 && len < 6 + 19 && memcmp(data, "alarm ", 6) == 0) {
        char buf[24];
        memcpy(buf, data + 6, len - 6);
        buf[len - 6] = '\0';
        char *end;
        long long ms = strtoll(buf, &end, 10);
        if (*end == '\0' && buf[0] >= '0' && buf[0] <= '9' && ms >= 0) {
            struct timeval tv;
            gettimeofday(&tv, NULL);
            int64_t at = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + ms;
            if (duro_alarm_set(obj, at) != 0) {
                storage_failed(ws);
                return;
            }
            (void)duro_send(ws, DURO_TEXT, "ok", 2);
            return;
        }
    }
    (void)duro_close(ws, DURO_CLOSE_UNSUPPORTED, UNSUPPORTED, sizeof UNSUPPORTED - 1);
}

static int counter_on_alarm(struct duro_object *obj, void *state, uint32_t retry_count)
{
    (void)state;
    (void)retry_count;
    int64_t v = bump(obj, "fired");
    if (v < 0) {
        return -1;
    }
    char buf[COUNTER_REPLY_MAX_BYTES + 8];
    int len = snprintf(buf, sizeof buf, "fired %" PRId64, v);
    (void)duro_object_broadcast(obj, NULL, 0, DURO_TEXT, buf, (size_t)len);
    return 0;
}

const struct duro_class class_counter = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "counter",
    .on_message = counter_on_message,
    .on_alarm = counter_on_alarm,
};

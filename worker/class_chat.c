/* worker/class_chat.c: a room. A text message from one socket goes to every open socket of the
 * object, its sender included, framed once (duro_object_broadcast). Binary messages are
 * relayed the same way. Over plain HTTP (on_request), a backend can push into the room: POST
 * broadcasts its body as one text message (400 unless it is UTF-8) and answers
 * {"delivered":N}; GET answers {"open":N}; any other method gets 405 with Allow. It uses
 * nothing but the public class API. */
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"
#include "worker/class_loader.h"

static void chat_on_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                            int binary, const uint8_t *data, size_t len)
{
    (void)state;
    (void)ws;
    (void)duro_object_broadcast(obj, NULL, 0, binary, data, len);
}

static int method_is(const struct duro_request *req, const char *m)
{
    return req->method_len == strlen(m) && memcmp(req->method, m, req->method_len) == 0;
}

static void answer(struct duro_response *res, uint16_t status, const char *type,
                   const char *body)
{
    (void)duro_response_header(res, "Content-Type", 12, type, strlen(type));
    (void)duro_response_send(res, status, body, strlen(body));
}

static void chat_on_request(struct duro_object *obj, void *state, const struct duro_request *req,
                            struct duro_response *res)
{
    (void)state;
    char body[64];
    if (method_is(req, "POST")) {
        if (!utf8_valid(req->body, req->body_len)) {
            answer(res, 400, "text/plain;charset=UTF-8", "the body is not valid UTF-8");
            return;
        }
        size_t n = duro_object_broadcast(obj, NULL, 0, DURO_TEXT, req->body, req->body_len);
        snprintf(body, sizeof body, "{\"delivered\":%zu}", n);
        answer(res, 200, "application/json", body);
        return;
    }
    if (method_is(req, "GET") || method_is(req, "HEAD")) {
        snprintf(body, sizeof body, "{\"open\":%zu}", duro_object_open_count(obj));
        answer(res, 200, "application/json", body);
        return;
    }
    (void)duro_response_header(res, "Allow", 5, "GET, HEAD, POST", 15);
    answer(res, 405, "text/plain;charset=UTF-8", "method not allowed");
}

const struct duro_class class_chat = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "chat",
    .on_message = chat_on_message,
    .on_request = chat_on_request,
};

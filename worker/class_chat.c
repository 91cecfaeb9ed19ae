/* worker/class_chat.c: a room. A text message from one socket goes to every open socket of the
 * object, its sender included, framed once (duro_object_broadcast). Binary messages are
 * relayed the same way. It uses nothing but the public class API. */
#include "worker/class_loader.h"

static void chat_on_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                            int binary, const uint8_t *data, size_t len)
{
    (void)state;
    (void)ws;
    (void)duro_object_broadcast(obj, NULL, 0, binary, data, len);
}

const struct duro_class class_chat = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "chat",
    .on_message = chat_on_message,
};

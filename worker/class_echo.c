/* worker/class_echo.c: text -> the same text, binary -> the same binary. What conformance suites
 * such as Autobahn expect of a server; closes are answered with the client's code (duro's
 * default). */
#include "worker/class_loader.h"

static void echo_on_message(struct duro_object *obj, void *state, struct duro_socket *ws,
                            int binary, const uint8_t *data, size_t len)
{
    (void)obj;
    (void)state;
    (void)duro_send(ws, binary, data, len); /* a failed send closes ws */
}

const struct duro_class class_echo = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "echo",
    .on_message = echo_on_message,
};

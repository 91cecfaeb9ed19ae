/* worker/class.h: the object class API. This is duro's one public header: built-in classes
 * and classes loaded from shared objects use it alike.
 *
 * An object is (class, name). Its WebSockets belong to the object. The worker calls the class's
 * callbacks on the worker's only thread, one event at a time, and events of one socket in the
 * order they happened. `state` is what construct() returned: the object's in-memory state, which
 * destroy() must free.
 *
 * Lifetimes: a `struct duro_socket *` is valid from on_connect until on_close returns (or
 * on_error, when the socket failed); `struct duro_object *` from construct until destroy. Data
 * pointers passed to callbacks are valid only during the call. */
#ifndef DURO_CLASS_H
#define DURO_CLASS_H

#include <stddef.h>
#include <stdint.h>

#define DURO_CLASS_API_VERSION 1u

struct duro_object;
struct duro_socket;

/* A piece of a message to send; see duro_sendv. */
struct duro_iov {
    const void *base;
    size_t len;
};

/* What on_connect knows of the upgrade request. */
struct duro_connect_info {
    const char *target;    /* request-target, not NUL-terminated */
    size_t target_len;
    const char *protocols; /* Sec-WebSocket-Protocol as offered ("" if none) */
    size_t protocols_len;
    const char *peer;      /* "ip:port", NUL-terminated */
};

struct duro_class {
    uint32_t api_version;  /* DURO_CLASS_API_VERSION */
    const char *name;

    /* Creates the object's state (NULL is a valid state). Called before the first event of an
     * object that is absent. */
    void *(*construct)(struct duro_object *obj);

    /* Frees the object's state. */
    void (*destroy)(struct duro_object *obj, void *state);

    /* A client asks to connect. Return 0 to accept, or an HTTP status (400..599) to refuse.
     * May be NULL: accept all. */
    int (*on_connect)(struct duro_object *obj, void *state, struct duro_socket *ws,
                      const struct duro_connect_info *info);

    /* A whole message arrived: `binary` is 0 for text (valid UTF-8), 1 for binary. */
    void (*on_message)(struct duro_object *obj, void *state, struct duro_socket *ws, int binary,
                       const uint8_t *data, size_t len);

    /* The socket closed. `code` is the client's close code (1005 when its close frame had none,
     * 1006 when TCP dropped without a close frame), `was_clean` is 1 when a close frame was
     * received. The class may answer with duro_close(); if it does not, duro answers a client's
     * close with the same code. May be NULL. */
    void (*on_close)(struct duro_object *obj, void *state, struct duro_socket *ws, uint16_t code,
                     const char *reason, size_t reason_len, int was_clean);

    /* The socket failed (protocol error, slow consumer); on_close does not follow. May be NULL. */
    void (*on_error)(struct duro_object *obj, void *state, struct duro_socket *ws, int code);
};

/* Sends one text (`binary` 0, must be valid UTF-8) or binary message. Returns 0, or -1 when the
 * socket is closing or its outbound buffer would pass the configured bound (the socket is then
 * closed with 1008). */
int duro_send(struct duro_socket *ws, int binary, const void *data, size_t len);

/* Sends one message made of `n` pieces, framed once, without joining them first. */
int duro_sendv(struct duro_socket *ws, int binary, const struct duro_iov *iov, size_t n);

/* Starts the close handshake with `code` (1000..4999, not 1004-1006 or 1015) and a reason of at
 * most 123 bytes. Returns 0, or -1 on a bad argument or when a close was already sent. */
int duro_close(struct duro_socket *ws, uint16_t code, const char *reason, size_t reason_len);

/* Number of the object's sockets that are open (accepted, and neither closing nor failed). */
size_t duro_object_open_count(const struct duro_object *obj);

/* The object's name (not NUL-terminated; `*len` receives its length). */
const char *duro_object_name(const struct duro_object *obj, size_t *len);

/* The object's ID: 64 lowercase hex digits, NUL-terminated. */
const char *duro_object_id(const struct duro_object *obj);

#endif

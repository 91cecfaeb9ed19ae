/* worker/class.h: the object class API. This is duro's one public header: built-in classes
 * and classes loaded from shared objects use it alike.
 *
 * An object is (class, name). Its WebSockets belong to the object. The worker calls the class's
 * callbacks on the worker's only thread, one event at a time, and events of one socket in the
 * order they happened. `state` is what construct() returned: the object's in-memory state, which
 * destroy() must free.
 *
 * Hibernation: after [objects] hibernate_after_ms without an event, destroy() runs and the state
 * is freed while the sockets stay open, with their tags and attachments. The next event runs
 * construct() again, then its callback. Pings and the auto-response do not wake an object.
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
     * Tags and the subprotocol are chosen here (duro_socket_add_tag, duro_socket_set_protocol).
     * May be NULL: accept all. */
    int (*on_connect)(struct duro_object *obj, void *state, struct duro_socket *ws,
                      const struct duro_connect_info *info);

    /* A whole message arrived: `binary` is 0 for text (valid UTF-8), 1 for binary. */
    void (*on_message)(struct duro_object *obj, void *state, struct duro_socket *ws, int binary,
                       const uint8_t *data, size_t len);

    /* The socket closed. `code` is the client's close code (1005 when its close frame had none,
     * 1006 when TCP dropped without a close frame), `was_clean` is 1 when a close frame was
     * received. The class may answer with duro_close(); if it does not, duro answers a client's
     * close with the same code. The socket no longer counts as open. May be NULL. */
    void (*on_close)(struct duro_object *obj, void *state, struct duro_socket *ws, uint16_t code,
                     const char *reason, size_t reason_len, int was_clean);

    /* The socket failed: `code` is the close code duro sent (1002 protocol error, 1007 invalid
     * UTF-8, 1008 slow consumer, 1009 message too big). on_close does not follow. May be NULL. */
    void (*on_error)(struct duro_object *obj, void *state, struct duro_socket *ws, int code);
};

/* ---- sockets ---- */

/* Sends one text (`binary` 0, must be valid UTF-8) or binary message. Returns 0, or -1 when the
 * socket is closing, or when its backlog of unread output is already past the configured bound
 * ([websocket] outbound_max_bytes): the socket is then closed with 1008 (a slow consumer). */
int duro_send(struct duro_socket *ws, int binary, const void *data, size_t len);

/* Sends one message made of `n` pieces, framed once, without joining them first. */
int duro_sendv(struct duro_socket *ws, int binary, const struct duro_iov *iov, size_t n);

/* Starts the close handshake with `code` (1000-1003, 1007-1014, 3000-4999) and a UTF-8 reason
 * of at most 123 bytes. Returns 0, or -1 on a bad argument or when a close was already sent. */
int duro_close(struct duro_socket *ws, uint16_t code, const char *reason, size_t reason_len);

/* Only during on_connect: adds a tag (1..256 bytes) to the socket. At most 10 tags; a duplicate
 * is dropped (returns 0). Returns -1 when over a limit or outside on_connect. */
int duro_socket_add_tag(struct duro_socket *ws, const char *tag, size_t len);

/* Only during on_connect: chooses the subprotocol, which must be one the client offered
 * (see duro_connect_info.protocols). Returns 0, or -1 when it was not offered. */
int duro_socket_set_protocol(struct duro_socket *ws, const char *proto, size_t len);

/* The socket's tags: fills up to `cap` of `out` and returns how many the socket has. */
size_t duro_socket_tags(const struct duro_socket *ws, struct duro_iov *out, size_t cap);

/* Replaces the socket's attachment with a copy of `len` bytes (0 clears it). Attachments
 * survive hibernation and are freed when the socket closes. Returns 0, or -1 when `len` is over
 * 16 KiB or memory ran out (the old attachment is kept). */
int duro_socket_set_attachment(struct duro_socket *ws, const void *data, size_t len);

/* The socket's attachment (NULL and 0 when none). Valid until it is replaced or the socket
 * closes. */
const void *duro_socket_attachment(const struct duro_socket *ws, size_t *len);

/* Bytes queued for the socket that its client has not read yet. */
size_t duro_socket_buffered(const struct duro_socket *ws);

/* When the auto-response last answered this socket: milliseconds since the Unix epoch, 0 if
 * never. */
uint64_t duro_socket_auto_response_time(const struct duro_socket *ws);

/* ---- objects ---- */

/* Number of the object's sockets that are open (accepted, and neither closing nor failed). */
size_t duro_object_open_count(const struct duro_object *obj);

/* The object's sockets that are open, all (tag NULL) or those with `tag`: fills up to `cap` of
 * `out` and returns how many there are. Costs O(sockets returned). */
size_t duro_object_sockets(const struct duro_object *obj, const char *tag, size_t tag_len,
                           struct duro_socket **out, size_t cap);

/* Sends one message to every open socket of the object (all, or those with `tag`), framed once.
 * Returns the number of sockets it was queued to. */
size_t duro_object_broadcast(struct duro_object *obj, const char *tag, size_t tag_len, int binary,
                             const void *data, size_t len);

/* Sets the object's auto-response: a text message exactly equal to `request` is answered with
 * `response` by duro itself, without waking a hibernated object or calling on_message. Both at
 * most 2,048 bytes; `request` NULL clears it. Returns 0 or -1. */
int duro_object_set_auto_response(struct duro_object *obj, const char *request, size_t req_len,
                                  const char *response, size_t resp_len);

/* The object's name (not NUL-terminated; `*len` receives its length). */
const char *duro_object_name(const struct duro_object *obj, size_t *len);

/* The object's ID: 64 lowercase hex digits, NUL-terminated. */
const char *duro_object_id(const struct duro_object *obj);

/* A shared object (.so) named in a [class NAME] section exports one `const struct duro_class`
 * under the section's `symbol` key (default "duro_class"), with api_version set to
 * DURO_CLASS_API_VERSION. duro renames nothing: the class is known by its section name. */

#endif

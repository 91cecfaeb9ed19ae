/* include/duro/class.h: the object class API, duro's one public header. Built-in classes, Lua
 * classes (through the worker's Lua binding) and classes loaded from shared objects use it alike.
 * It is installed with a pkg-config file (`pkg-config --cflags duro`) for class authors.
 *
 * An object is (class, name). Its WebSockets belong to the object. The worker calls the class's
 * callbacks on the worker's only thread, one event at a time, and events of one socket in the
 * order they happened. `state` is what construct() returned: the object's in-memory state, which
 * destroy() must free.
 *
 * Hibernation: after [objects] hibernate_after_ms without an event, destroy() runs and the state
 * is freed while the sockets stay open, with their tags and attachments. The next event runs
 * construct() again, then its callback. Pings, pongs and auto-responses do not wake an object.
 *
 * Lifetimes: a `struct duro_socket *` is valid from on_connect until on_close returns (or
 * on_error, when the socket failed); `struct duro_object *` from construct until destroy. Data
 * pointers passed to callbacks are valid only during the call.
 *
 * Versions. A class declares the API version it was built for. Version 1 classes (the first
 * struct duro_class, up to on_error) load and behave exactly as before: the worker never reads
 * past the fields their version has. Version 2 adds, after on_error, `struct_size` and the
 * callbacks on_request and on_alarm; later versions only ever append, and the worker reads a
 * field only when `struct_size` covers it. The calls below marked "v2" exist in every worker that
 * accepts version 2 classes; a version 1 class simply does not use them.
 *
 * Errors. Every call that can fail returns 0 (or a count) on success and a negative DURO_E* code
 * on failure. Version 1 documented "-1": every failure is still negative, so `< 0` and `!= 0`
 * tests written against version 1 keep working. */
#ifndef DURO_CLASS_H
#define DURO_CLASS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DURO_CLASS_API_VERSION 2u     /* what this header describes */
#define DURO_CLASS_API_VERSION_MIN 1u /* the oldest a worker still loads */

/* ---- error codes ---- */
enum duro_err {
    DURO_OK = 0,
    DURO_EINVAL = -1,    /* a bad argument (and version 1's only code) */
    DURO_ESTATE = -2,    /* not allowed now: socket closing, call outside its callback, ... */
    DURO_ELIMIT = -3,    /* over a documented limit (size, count, rate) */
    DURO_ENOMEM = -4,    /* memory ran out; nothing changed */
    DURO_ESLOW = -5,     /* the socket's backlog is past [websocket] outbound_max_bytes: the
                          * socket is being closed with DURO_CLOSE_POLICY */
    DURO_ENOTFOUND = -6, /* no such key, tag, rule or response */
    DURO_ESTORAGE = -7,  /* the storage engine failed (I/O, full disk, corrupt file): logged by
                          * duro; the event's socket is closed with DURO_CLOSE_INTERNAL and the
                          * object reset */
    DURO_ESQL = -8,      /* the SQL statement is invalid or failed */
    DURO_EREFUSED = -9,  /* refused by policy: a transaction-control statement, a PRAGMA write */
    DURO_ETOOBIG = -10,  /* the object's storage would pass [storage] object_max_bytes */
    DURO_ENOSYS = -11,   /* not available in this worker (e.g. storage not configured) */
};

/* ---- message kinds and close codes (RFC 6455 7.4) ---- */
enum duro_kind {
    DURO_TEXT = 0,   /* valid UTF-8 */
    DURO_BINARY = 1,
};

#define DURO_CLOSE_NORMAL 1000u
#define DURO_CLOSE_GOING_AWAY 1001u
#define DURO_CLOSE_PROTOCOL 1002u
#define DURO_CLOSE_UNSUPPORTED 1003u
#define DURO_CLOSE_NO_STATUS 1005u   /* never sent: a close frame without a code */
#define DURO_CLOSE_ABNORMAL 1006u    /* never sent: TCP dropped without a close frame */
#define DURO_CLOSE_INVALID_DATA 1007u
#define DURO_CLOSE_POLICY 1008u
#define DURO_CLOSE_TOO_BIG 1009u
#define DURO_CLOSE_INTERNAL 1011u
#define DURO_CLOSE_RESTART 1012u

struct duro_object;
struct duro_socket;
struct duro_response;

/* A piece of a message to send; see duro_sendv. */
struct duro_iov {
    const void *base;
    size_t len;
};

/* One request header as the client sent it (name and value not NUL-terminated, value trimmed). */
struct duro_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* What on_connect knows of the upgrade request. Version 2 appended the fields after `peer`. */
struct duro_connect_info {
    const char *target;    /* request-target, not NUL-terminated */
    size_t target_len;
    const char *protocols; /* Sec-WebSocket-Protocol as offered ("" if none) */
    size_t protocols_len;
    const char *peer;      /* "ip:port" of the TCP peer, NUL-terminated */
    /* v2: */
    const struct duro_header *headers; /* every header of the request, in order */
    size_t nheaders;
    const char *client;    /* "ip:port" of the client: the PROXY protocol's source address when
                            * [server] proxy_protocol is on, else the TCP peer; NUL-terminated */
};

/* v2: a plain HTTP request routed to the object (see on_request). */
struct duro_request {
    const char *method;    /* "GET", "POST", ... not NUL-terminated */
    size_t method_len;
    const char *target;    /* request-target, not NUL-terminated */
    size_t target_len;
    const struct duro_header *headers;
    size_t nheaders;
    const uint8_t *body;   /* the whole body (at most [http] body_max_bytes), de-chunked */
    size_t body_len;
    const char *client;    /* as in duro_connect_info */
};

struct duro_class {
    uint32_t api_version;  /* DURO_CLASS_API_VERSION the class was built with */
    const char *name;

    /* Creates the object's state (NULL is a valid state). Called before the first event of an
     * object that is absent or hibernated. */
    void *(*construct)(struct duro_object *obj);

    /* Frees the object's state. */
    void (*destroy)(struct duro_object *obj, void *state);

    /* A client asks to connect. Return 0 to accept, or an HTTP status (400..599) to refuse.
     * Tags and the subprotocol may be chosen here (duro_socket_add_tag,
     * duro_socket_set_protocol). The socket is not open yet: it does not count in
     * duro_object_open_count, duro_object_sockets or tag lookups until on_connect returns 0.
     * May be NULL: accept all. */
    int (*on_connect)(struct duro_object *obj, void *state, struct duro_socket *ws,
                      const struct duro_connect_info *info);

    /* A whole message arrived: `binary` is DURO_TEXT (valid UTF-8) or DURO_BINARY. */
    void (*on_message)(struct duro_object *obj, void *state, struct duro_socket *ws, int binary,
                       const uint8_t *data, size_t len);

    /* The socket closed. `code` is the client's close code (1005 when its close frame had none,
     * 1006 when TCP dropped without a close frame or a ping went unanswered), `was_clean` is 1
     * when a close frame was received. The class may answer with duro_close(); if it does not,
     * duro answers a client's close with the same code. The socket no longer counts as open.
     * May be NULL. */
    void (*on_close)(struct duro_object *obj, void *state, struct duro_socket *ws, uint16_t code,
                     const char *reason, size_t reason_len, int was_clean);

    /* The socket failed: `code` is the close code duro sent (1002 protocol error, 1007 invalid
     * UTF-8, 1008 slow consumer or policy, 1009 message too big, 1011 internal). on_close does
     * not follow. May be NULL. */
    void (*on_error)(struct duro_object *obj, void *state, struct duro_socket *ws, int code);

    /* ---- version 2 ---- */

    /* sizeof(struct duro_class) as the class was compiled: the worker reads no field past it. */
    size_t struct_size;

    /* A plain HTTP request (not an upgrade) matched a route of this class. Answer with
     * duro_response_send(), during the call or later (keep duro_response_id() and find the
     * response again with duro_object_response()). A request not answered within
     * [http] object_timeout_ms gets 504 and its response handle expires. May be NULL: the route
     * behaves as in version 1 (426 for a non-upgrade). */
    void (*on_request)(struct duro_object *obj, void *state, const struct duro_request *req,
                       struct duro_response *res);

    /* The object's alarm fired (duro_alarm_set). `retry_count` is 0 the first time and counts
     * the retries of this alarm. Return 0 when done; any other value is a failure and the alarm
     * is retried with exponential backoff (2 s, 4 s, ...) up to 6 times. Writes made here are
     * committed like any other event's. May be NULL. */
    int (*on_alarm)(struct duro_object *obj, void *state, uint32_t retry_count);
};

/* ---- sockets ---- */

/* Sends one text (`binary` DURO_TEXT, must be valid UTF-8) or binary message. Returns 0,
 * DURO_ESTATE when the socket is closing or not accepted yet, DURO_ESLOW when its backlog of
 * unread output is already past the configured bound (the socket is then closed with 1008), or
 * DURO_ENOMEM. While the object's storage commit is in flight the frame is held and leaves only
 * once the commit is durable (output gate). */
int duro_send(struct duro_socket *ws, int binary, const void *data, size_t len);

/* Sends one message made of `n` pieces, framed once, without joining them first. */
int duro_sendv(struct duro_socket *ws, int binary, const struct duro_iov *iov, size_t n);

/* Starts the close handshake with `code` (1000-1003, 1007-1014, 3000-4999) and a UTF-8 reason
 * of at most 123 bytes. Returns 0, DURO_EINVAL on a bad argument, DURO_ESTATE when a close was
 * already sent or during on_connect (refuse by returning an HTTP status instead). */
int duro_close(struct duro_socket *ws, uint16_t code, const char *reason, size_t reason_len);

/* Adds a tag (1..256 bytes) to the socket: during on_connect (version 1) or at any time
 * (version 2). At most 10 tags; a duplicate is dropped (returns 0). Returns DURO_ELIMIT when
 * over a limit, DURO_ENOMEM. Tags survive hibernation. */
int duro_socket_add_tag(struct duro_socket *ws, const char *tag, size_t len);

/* v2: removes a tag from the socket. Returns 0, or DURO_ENOTFOUND when it had none such. */
int duro_socket_remove_tag(struct duro_socket *ws, const char *tag, size_t len);

/* Only during on_connect: chooses the subprotocol, which must be one the client offered
 * (see duro_connect_info.protocols). Returns 0, DURO_EINVAL when it was not offered, or
 * DURO_ESTATE outside on_connect. */
int duro_socket_set_protocol(struct duro_socket *ws, const char *proto, size_t len);

/* The socket's tags: fills up to `cap` of `out` and returns how many the socket has. */
size_t duro_socket_tags(const struct duro_socket *ws, struct duro_iov *out, size_t cap);

/* Replaces the socket's attachment with a copy of `len` bytes (0 clears it). Attachments
 * survive hibernation and are freed when the socket closes. Returns 0, DURO_ELIMIT when `len`
 * is over 16 KiB, or DURO_ENOMEM (the old attachment is kept). */
int duro_socket_set_attachment(struct duro_socket *ws, const void *data, size_t len);

/* The socket's attachment (NULL and 0 when none). Valid until it is replaced or the socket
 * closes. */
const void *duro_socket_attachment(const struct duro_socket *ws, size_t *len);

/* Bytes queued for the socket that its client has not read yet (after compression). */
size_t duro_socket_buffered(const struct duro_socket *ws);

/* When an auto-response last answered this socket: milliseconds since the Unix epoch, 0 if
 * never. */
uint64_t duro_socket_auto_response_time(const struct duro_socket *ws);

/* ---- objects ---- */

/* Number of the object's sockets that are open (accepted, and neither closing nor failed). */
size_t duro_object_open_count(const struct duro_object *obj);

/* The object's sockets that are open, all (tag NULL) or those with `tag`: fills up to `cap` of
 * `out` and returns how many there are. Costs O(sockets returned). */
size_t duro_object_sockets(const struct duro_object *obj, const char *tag, size_t tag_len,
                           struct duro_socket **out, size_t cap);

/* Sends one message to every open socket of the object (all, or those with `tag`), framed once
 * (and compressed once per negotiated parameter set). Returns the number of sockets it was
 * queued to. */
size_t duro_object_broadcast(struct duro_object *obj, const char *tag, size_t tag_len, int binary,
                             const void *data, size_t len);

/* Sets the object's one text auto-response pair: a text message exactly equal to `request` is
 * answered with the text `response` by duro itself, without waking a hibernated object or
 * calling on_message. Both at most 2,048 bytes; `request` NULL clears every rule. Replaces all
 * rules with this one. Returns 0, DURO_EINVAL (not UTF-8), DURO_ELIMIT or DURO_ENOMEM. */
int duro_object_set_auto_response(struct duro_object *obj, const char *request, size_t req_len,
                                  const char *response, size_t resp_len);

/* v2: adds an auto-response rule: a message of kind `req_kind` (DURO_TEXT or DURO_BINARY; a
 * binary rule matches binary messages only) exactly equal to `request` is answered with
 * `response` of kind `resp_kind`, without waking the object. At most 16 rules per object, each
 * side at most 2,048 bytes; a rule with the same request and kind replaces the old one.
 * Returns 0, DURO_EINVAL, DURO_ELIMIT or DURO_ENOMEM. */
int duro_object_add_auto_response(struct duro_object *obj, int req_kind, const void *request,
                                  size_t req_len, int resp_kind, const void *response,
                                  size_t resp_len);

/* v2: removes the rule for (`req_kind`, `request`). Returns 0 or DURO_ENOTFOUND. */
int duro_object_remove_auto_response(struct duro_object *obj, int req_kind, const void *request,
                                     size_t req_len);

/* The object's name (not NUL-terminated; `*len` receives its length). */
const char *duro_object_name(const struct duro_object *obj, size_t *len);

/* The object's ID: 64 lowercase hex digits, NUL-terminated. */
const char *duro_object_id(const struct duro_object *obj);

/* ---- v2: HTTP responses (see on_request) ---- */

/* Adds a response header (name: a token; value: no CR, LF or NUL). Content-Length,
 * Transfer-Encoding and Connection are duro's and refused. At most 32 headers, 8 KiB in all.
 * Returns 0, DURO_EINVAL, DURO_ELIMIT, DURO_ENOMEM, or DURO_ESTATE when the response was sent
 * or expired. */
int duro_response_header(struct duro_response *res, const char *name, size_t name_len,
                         const char *value, size_t value_len);

/* Sends the response: `status` 200..599 and a body of at most [http] body_max_bytes. The
 * handle is invalid afterwards. Like frames, the response waits for the object's storage commit
 * (output gate). Returns 0, DURO_EINVAL, DURO_ELIMIT or DURO_ESTATE. */
int duro_response_send(struct duro_response *res, uint16_t status, const void *body, size_t len);

/* An ID for the pending response, to answer it after on_request returned. */
uint64_t duro_response_id(const struct duro_response *res);

/* The object's pending response with that ID, or NULL when it was answered, timed out (504) or
 * its client went away. */
struct duro_response *duro_object_response(struct duro_object *obj, uint64_t id);

/* ---- v2: storage (per object, transactional; see docs/design.md section 11) ----
 *
 * Every write made while one event is handled belongs to one implicit transaction of the
 * object, committed by duro after the event (group commit, off the event loop). Until it is
 * durable, the object's outgoing frames and HTTP responses are held (output gate) and its next
 * events wait (input gate). Keys are at most 2 KiB, values at most 128 KiB. A failed commit
 * closes the object's sockets with 1011 and resets the object, so no client saw a lost write.
 * Without [storage] (or when its directory is unusable) the calls return DURO_ENOSYS. */

#define DURO_STORAGE_KEY_MAX_BYTES 2048u
#define DURO_STORAGE_VALUE_MAX_BYTES (128u * 1024u)

/* Reads `key`. On 0, `*val`/`*val_len` point at the value, valid until the next storage call of
 * this object or the end of the callback. Returns 0, DURO_ENOTFOUND, DURO_EINVAL (key too long),
 * or DURO_ESTORAGE. */
int duro_storage_get(struct duro_object *obj, const void *key, size_t key_len, const void **val,
                     size_t *val_len);

/* Writes `key` = `val`. Returns 0, DURO_EINVAL (sizes), DURO_ETOOBIG, or DURO_ESTORAGE. */
int duro_storage_put(struct duro_object *obj, const void *key, size_t key_len, const void *val,
                     size_t val_len);

/* Deletes `key`. Returns 1 when it existed, 0 when not, or a negative DURO_E* code. */
int duro_storage_delete(struct duro_object *obj, const void *key, size_t key_len);

/* Deletes every key (and the alarm is kept). Returns 0 or a negative DURO_E* code. */
int duro_storage_delete_all(struct duro_object *obj);

/* Which keys duro_storage_list visits, in byte order of the keys. Zeroed means "all". */
struct duro_list_opts {
    const void *prefix;  /* only keys that start with it */
    size_t prefix_len;
    const void *start;   /* only keys >= start (inclusive); a cursor: the last key seen, with
                          * start_after set */
    size_t start_len;
    const void *end;     /* only keys < end (exclusive) */
    size_t end_len;
    int start_after;     /* 1: keys > start instead of >= */
    int reverse;         /* 1: descending */
    size_t limit;        /* at most this many (0: no limit) */
};

/* Called for each key in order; return 0 to go on, anything else to stop. The pointers are
 * valid during the call only. */
typedef int duro_kv_fn(void *arg, const void *key, size_t key_len, const void *val,
                       size_t val_len);

/* Visits the keys `opts` selects (NULL: all). Returns the number visited, or a negative code. */
int duro_storage_list(struct duro_object *obj, const struct duro_list_opts *opts, duro_kv_fn *fn,
                      void *arg);

/* SQL values, for parameters and result columns. */
enum duro_sql_type {
    DURO_SQL_NULL = 0,
    DURO_SQL_INTEGER = 1,
    DURO_SQL_REAL = 2,
    DURO_SQL_TEXT = 3,
    DURO_SQL_BLOB = 4,
};

struct duro_sql_value {
    int type;            /* enum duro_sql_type */
    int64_t i;           /* DURO_SQL_INTEGER */
    double r;            /* DURO_SQL_REAL */
    const void *p;       /* DURO_SQL_TEXT (UTF-8, not NUL-terminated) and DURO_SQL_BLOB */
    size_t len;
};

/* Called for each result row: `cols[0..ncols)` and their names. Return 0 to go on, anything
 * else to stop. The pointers are valid during the call only. */
typedef int duro_row_fn(void *arg, const struct duro_sql_value *cols, const char *const *names,
                        size_t ncols);

/* Runs one SQL statement with `nparams` bound parameters (?1, ?2, ...), calling `fn` (may be
 * NULL) for each row. Statements that control transactions (BEGIN, COMMIT, ROLLBACK,
 * SAVEPOINT, RELEASE), ATTACH/DETACH, VACUUM and PRAGMA writes are refused with DURO_EREFUSED:
 * duro owns the transaction. Tables whose names start with `_duro` are duro's own. Returns the
 * number of rows changed (or 0 for a query), DURO_ESQL (the error is logged with the object's
 * name), DURO_ETOOBIG or DURO_ESTORAGE. */
int duro_sql_exec(struct duro_object *obj, const char *sql, size_t sql_len,
                  const struct duro_sql_value *params, size_t nparams, duro_row_fn *fn,
                  void *arg);

/* Runs `fn` as an explicit transaction nested in the event's: when `fn` returns 0 its writes
 * stay (and are committed with the event's), otherwise they are rolled back. Returns what `fn`
 * returned, or a negative DURO_E* code when the transaction could not start or finish. */
int duro_storage_transaction(struct duro_object *obj, int (*fn)(struct duro_object *obj, void *arg),
                             void *arg);

/* Bytes the object's storage takes on disk. */
uint64_t duro_storage_size(struct duro_object *obj);

/* ---- v2: alarms (one per object, durable) ---- */

/* Sets the object's alarm to `epoch_ms` (milliseconds since the Unix epoch; a time in the past
 * fires at once), replacing any other. The alarm survives hibernation, worker and gateway
 * restarts, and a pool resize; it constructs an absent object. Returns 0 or a negative code. */
int duro_alarm_set(struct duro_object *obj, int64_t epoch_ms);

/* The alarm's time, or 0 when none is set. */
int64_t duro_alarm_get(struct duro_object *obj);

/* Deletes the alarm. Returns 0 (also when none was set) or a negative code. */
int duro_alarm_delete(struct duro_object *obj);

/* A shared object (.so) named in a [class NAME] section exports one `const struct duro_class`
 * under the section's `symbol` key (default "duro_class"), with api_version set to the
 * DURO_CLASS_API_VERSION it was built with (and, from version 2, struct_size to
 * sizeof(struct duro_class)). duro renames nothing: the class is known by its section name. */

#ifdef __cplusplus
}
#endif

#endif

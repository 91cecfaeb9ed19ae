/* common/msg.h: the messages between the gateway and its workers, and their wire codec.
 *
 * Wire form: magic "DURO" (4), version (u16), type (u16), body length (u32), then the body; all
 * integers big-endian. Fields are encoded one by one, never as a raw struct, and every length is
 * bounded: a message that breaks a bound is rejected whole (MSG_BAD). The codec is pure: no I/O,
 * no allocation; decoded strings point into the caller's buffer. */
#ifndef DURO_MSG_H
#define DURO_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/duro_limits.h"

#define MSG_VERSION 1u

enum msg_type {
    MSG_CONFIG = 1,  /* gateway -> worker, first message: the config text and the worker's slot */
    MSG_HANDOFF = 2, /* gateway -> worker, with the client's fd attached */
    MSG_QUERY = 3,   /* gateway -> worker: heartbeat, metrics or objects request */
    MSG_STATS = 4,   /* worker -> gateway: the worker's metrics (answers QUERY_STATS) */
    MSG_OBJECTS = 5, /* worker -> gateway: JSON objects, comma-separated (QUERY_OBJECTS) */
    MSG_REQUEST = 6, /* gateway -> worker: a plain HTTP request for an object (on_request) */
    MSG_RESPONSE = 7, /* worker -> gateway: the object's answer to a MSG_REQUEST */
    MSG_CLOSE = 8,   /* gateway -> worker: admin close of an object's sockets */
    MSG_CLOSED = 9,  /* worker -> gateway: how many sockets MSG_CLOSE closed */
    MSG_MIGRATE = 10,  /* gateway -> worker: hand these objects' sockets over (docs: Hand-over) */
    MSG_EMIGRATE = 11, /* worker -> gateway, fd attached: one socket leaving, with its state */
    MSG_ADOPT = 12,    /* gateway -> worker, fd attached: one socket arriving (same payload) */
    MSG_MIGRATED = 13, /* worker -> gateway: a MSG_MIGRATE is done, with its counts */
    /* Gateway <-> gateway over the upgrade link (gateway/upgrade.c). Numbered apart so that
     * the worker messages can grow without renumbering it. */
    MSG_UPGRADE = 32,
};

/* The messages that travel with a descriptor attached. */
static inline int msg_carries_fd(enum msg_type t)
{
    return t == MSG_HANDOFF || t == MSG_EMIGRATE || t == MSG_ADOPT;
}

enum msg_migrate_mode {
    MIGRATE_ALL = 1,    /* every socket leaves; the worker exits 0 after MSG_MIGRATED */
    MIGRATE_RESIZE = 2, /* the sockets of objects whose owner under `nslots` is not `slot` */
};

enum msg_upgrade_what {
    UPGRADE_READY = 1, /* successor -> predecessor: my workers answer, I accept; retire */
    UPGRADE_DONE = 2,  /* predecessor -> successor: my workers are gone, `count` handed over */
};

enum msg_query_what {
    QUERY_STATS = 1,   /* also the heartbeat: a worker that stops answering is hung */
    QUERY_OBJECTS = 2,
};

/* A byte span: `len` bytes at `ptr` (not NUL-terminated). */
struct msg_span {
    const char *ptr;
    size_t len;
};

/* One HTTP header (name and value as the client sent them, the value trimmed). */
struct msg_header {
    struct msg_span name;
    struct msg_span value;
};

/* A list of headers. To encode, set `list` and `count`. A decoded list has `count` and its
 * validated wire form (`wire`, `wire_len`), read with msg_headers_next(); encoding a decoded
 * list (`list` NULL) copies that wire form. Wire form: u16 count, then per header u16 name
 * length, name, u16 value length, value. */
struct msg_headers {
    const struct msg_header *list;
    uint32_t count;
    const uint8_t *wire;
    size_t wire_len;
};

struct msg_config {
    uint32_t slot;          /* this worker's index in the pool */
    uint32_t nslots;        /* pool size */
    struct msg_span path;   /* file the text came from, for messages ("" when embedded) */
    struct msg_span text;   /* the whole INI text, <= DURO_CONFIG_MAX_BYTES */
};

/* What the worker needs of an upgrade request: the gateway has validated the handshake and
 * chosen the object, so the worker never parses HTTP. */
struct msg_handoff {
    uint64_t conn_id;            /* gateway's connection number, for logs */
    struct msg_span cls;         /* class name, 1..DURO_CLASS_NAME_MAX_BYTES */
    struct msg_span name;        /* object name, 1..DURO_OBJECT_NAME_MAX_BYTES, decoded */
    struct msg_span key;         /* Sec-WebSocket-Key, exactly DURO_WS_KEY_BYTES */
    struct msg_span protocols;   /* Sec-WebSocket-Protocol as offered, may be empty */
    struct msg_span extensions;  /* Sec-WebSocket-Extensions as offered, may be empty */
    struct msg_span target;      /* request-target, for logs and classes */
    struct msg_span early;       /* bytes read past the request head, <= DURO_HANDOFF_EARLY_MAX_BYTES */
    struct msg_span client;      /* "ip:port" from the PROXY protocol, "" when none (<= 64) */
    struct msg_headers headers;  /* every request header, in order (<= headers_max_count) */
};

/* A plain HTTP request routed to an object whose class may answer it (on_request). */
struct msg_request {
    uint64_t req_id;             /* the gateway's number, echoed in MSG_RESPONSE */
    uint64_t conn_id;            /* for logs */
    struct msg_span cls;         /* as in msg_handoff */
    struct msg_span name;
    struct msg_span method;      /* 1..32 bytes */
    struct msg_span target;
    struct msg_span client;      /* "ip:port" of the client, <= 64 */
    struct msg_headers headers;
    struct msg_span body;        /* de-chunked, <= DURO_HTTP_BODY_MAX_BYTES_MAX */
};

/* The object's answer. `status` 0 means the class has no on_request: the gateway answers the
 * seed's 426 itself, byte for byte as for any routed request without an upgrade. */
struct msg_response {
    uint64_t req_id;
    uint16_t status;             /* 0, or 200..599 */
    struct msg_headers headers;  /* <= DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT */
    struct msg_span body;        /* <= DURO_HTTP_BODY_MAX_BYTES_MAX */
};

/* Admin: close the object's sockets (all, or those with `tag`) with `code` and `reason`. */
struct msg_close {
    uint64_t seq;                /* echoed in MSG_CLOSED */
    struct msg_span cls;
    struct msg_span name;
    struct msg_span tag;         /* "" = all; <= DURO_TAG_MAX_BYTES */
    uint16_t code;
    struct msg_span reason;      /* <= DURO_WS_CLOSE_REASON_MAX_BYTES */
};

struct msg_closed {
    uint64_t seq;
    uint32_t count;              /* sockets a close was sent to */
};

/* Where a worker's listing of its objects stands (worker/report.c). `bucket` is a reverse-binary
 * cursor over the registry's buckets as Redis's SCAN uses (valid across the table's growth), in
 * a table of 2^`bits` buckets; the unit it names is that bucket, or in a grown table every
 * bucket descending from it. With `has_after`, the unit's objects up to id `after` (in id
 * order) are listed already. The start is all zero. */
struct msg_objects_cursor {
    uint64_t bucket;   /* < 2^bits */
    uint8_t bits;      /* <= DURO_OBJECTS_CURSOR_BITS_MAX */
    uint8_t has_after;
    char after[DURO_OBJECT_ID_HEX_BYTES]; /* lowercase hex, when has_after */
};

#define DURO_OBJECTS_CURSOR_BITS_MAX 63u

/* Gateway -> worker: which sockets must leave. For MIGRATE_RESIZE the worker computes
 * hash_pick_slot(hash_object_key(cls, name), nslots) per object and sends away those that do
 * not land on `slot` (its index in the new pool); `slot` and `nslots` are ignored for
 * MIGRATE_ALL. A socket that cannot reach a clean point within `timeout_ms` is closed with
 * 1012. */
struct msg_migrate {
    uint64_t seq;                /* echoed in MSG_MIGRATED and every MSG_EMIGRATE */
    uint32_t mode;               /* enum msg_migrate_mode */
    uint32_t slot;               /* < nslots */
    uint32_t nslots;             /* 1..DURO_WORKERS_MAX_COUNT */
    uint32_t timeout_ms;         /* [server] upgrade_timeout_ms */
};

/* MSG_EMIGRATE and MSG_ADOPT: one socket (its fd travels beside the message) and its state.
 * The gateway routes by `cls` and `name` and never looks into `state`, which only
 * worker/handover.c reads and writes (its own versioned format). */
struct msg_emigrant {
    uint64_t seq;                /* the MSG_MIGRATE's seq (0 when none) */
    uint64_t conn_id;            /* the connection's number since its hand-off, for logs */
    struct msg_span cls;         /* 1..DURO_CLASS_NAME_MAX_BYTES */
    struct msg_span name;        /* 1..DURO_OBJECT_NAME_MAX_BYTES */
    struct msg_span state;       /* 1..DURO_HANDOVER_STATE_MAX_BYTES */
};

/* Worker -> gateway: the sockets of a MSG_MIGRATE have all left (or been closed). */
struct msg_migrated {
    uint64_t seq;
    uint32_t moved;              /* MSG_EMIGRATE sent */
    uint32_t closed;             /* closed with 1012: no clean point in time, or no state */
    uint32_t remaining;          /* sockets the worker still holds (0 after MIGRATE_ALL) */
    uint64_t elapsed_us;         /* from MSG_MIGRATE to the last socket gone */
};

struct msg_query {
    uint64_t seq;      /* echoed in the answer */
    uint32_t what;     /* enum msg_query_what */
    uint32_t limit;    /* QUERY_OBJECTS: entries wanted, 1..DURO_OBJECTS_CHUNK_MAX_COUNT */
    struct msg_objects_cursor from; /* QUERY_OBJECTS: where to go on */
};

struct msg_stats {
    uint64_t seq;
    uint32_t nwords;           /* METRICS_WORDS of the sender */
    const uint8_t *words;      /* nwords big-endian u64 */
};

struct msg_objects {
    uint64_t seq;
    uint32_t count;            /* entries in json */
    uint8_t more;              /* the worker has more from `next` on; 0: its listing is done */
    struct msg_objects_cursor next;
    struct msg_span json;      /* zero or more JSON objects separated by commas */
};

/* The upgrade link's own message. The link also carries MSG_HANDOFF (a connection the retiring
 * gateway read the upgrade of) with its descriptor. */
struct msg_upgrade {
    uint32_t what;             /* enum msg_upgrade_what */
    uint32_t pid;              /* the sender's */
    uint64_t count;            /* UPGRADE_DONE: sockets and connections handed over the link */
    struct msg_span version;   /* the sender's --version, <= DURO_UPGRADE_VERSION_MAX_BYTES */
};

struct msg {
    enum msg_type type;
    union {
        struct msg_config config;
        struct msg_handoff handoff;
        struct msg_query query;
        struct msg_stats stats;
        struct msg_objects objects;
        struct msg_request request;
        struct msg_response response;
        struct msg_close close;
        struct msg_closed closed;
        struct msg_migrate migrate;
        struct msg_emigrant emigrant; /* MSG_EMIGRATE and MSG_ADOPT */
        struct msg_migrated migrated;
        struct msg_upgrade upgrade;
    } u;
};

enum msg_result {
    MSG_OK = 0,        /* one message decoded; *used says how many bytes it took */
    MSG_NEED_MORE = 1, /* a valid prefix: call again with more bytes */
    MSG_BAD = 2,       /* not a message of ours, or a bound broken: a bug in the peer */
};

/* Bytes needed to encode `h`, or 0 when a field breaks its bound. */
size_t msg_handoff_size(const struct msg_handoff *h);
size_t msg_config_size(const struct msg_config *c);

/* Encodes into `dst` (capacity `cap`). Returns the bytes written, or 0 when a field breaks its
 * bound or `cap` is too small. */
size_t msg_encode_handoff(uint8_t *dst, size_t cap, const struct msg_handoff *h);
size_t msg_encode_config(uint8_t *dst, size_t cap, const struct msg_config *c);

/* Encoders of the small messages; same contract as msg_encode_handoff. `words` has `nwords`
 * values (at most DURO_MSG_STATS_MAX_WORDS). */
size_t msg_encode_query(uint8_t *dst, size_t cap, uint64_t seq, uint32_t what);
size_t msg_encode_stats(uint8_t *dst, size_t cap, uint64_t seq, const uint64_t *words,
                        uint32_t nwords);

/* A QUERY_OBJECTS query (q->what is ignored) and its answer (o->json.len at most
 * DURO_OBJECTS_JSON_MAX_BYTES); same contract. A cursor out of its bounds encodes as 0. */
size_t msg_encode_objects_query(uint8_t *dst, size_t cap, const struct msg_query *q);
size_t msg_encode_objects(uint8_t *dst, size_t cap, const struct msg_objects *o);

/* Sizes and encoders of the HTTP and admin messages; same contract as msg_encode_handoff. */
size_t msg_request_size(const struct msg_request *q);
size_t msg_encode_request(uint8_t *dst, size_t cap, const struct msg_request *q);
size_t msg_response_size(const struct msg_response *r);
size_t msg_encode_response(uint8_t *dst, size_t cap, const struct msg_response *r);
size_t msg_encode_close(uint8_t *dst, size_t cap, const struct msg_close *c);
size_t msg_encode_closed(uint8_t *dst, size_t cap, uint64_t seq, uint32_t count);
size_t msg_encode_upgrade(uint8_t *dst, size_t cap, const struct msg_upgrade *u);

/* The hand-over messages; same contract as msg_encode_handoff. `type` of
 * msg_encode_emigrant is MSG_EMIGRATE or MSG_ADOPT. */
size_t msg_encode_migrate(uint8_t *dst, size_t cap, const struct msg_migrate *m);
size_t msg_emigrant_size(const struct msg_emigrant *e);
size_t msg_encode_emigrant(uint8_t *dst, size_t cap, enum msg_type type,
                           const struct msg_emigrant *e);
size_t msg_encode_migrated(uint8_t *dst, size_t cap, const struct msg_migrated *m);

/* Reads the next header of a decoded list: `*pos` starts at 0. Returns 1 with `*out` filled
 * (pointing into the message), or 0 at the end. */
int msg_headers_next(const struct msg_headers *h, size_t *pos, struct msg_header *out);

/* Reads word `i` of a decoded MSG_STATS. */
uint64_t msg_stats_word(const struct msg_stats *s, uint32_t i);

/* Decodes one message from the start of `buf`. On MSG_OK, `*out` points into `buf` and `*used`
 * is the message's size. On MSG_NEED_MORE and MSG_BAD, `*out` and `*used` are unspecified. */
enum msg_result msg_decode(const uint8_t *buf, size_t len, struct msg *out, size_t *used);

#endif

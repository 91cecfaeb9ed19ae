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
    struct msg_span peer;        /* "ip:port" of the client */
    struct msg_span early;       /* bytes read past the request head, <= DURO_HANDOFF_EARLY_MAX_BYTES */
};

struct msg_query {
    uint64_t seq;      /* echoed in the answer */
    uint32_t what;     /* enum msg_query_what */
};

struct msg_stats {
    uint64_t seq;
    uint32_t nwords;           /* METRICS_WORDS of the sender */
    const uint8_t *words;      /* nwords big-endian u64 */
};

struct msg_objects {
    uint64_t seq;
    struct msg_span json;      /* zero or more JSON objects separated by commas */
};

struct msg {
    enum msg_type type;
    union {
        struct msg_config config;
        struct msg_handoff handoff;
        struct msg_query query;
        struct msg_stats stats;
        struct msg_objects objects;
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
size_t msg_encode_objects(uint8_t *dst, size_t cap, uint64_t seq, const char *json, size_t len);

/* Reads word `i` of a decoded MSG_STATS. */
uint64_t msg_stats_word(const struct msg_stats *s, uint32_t i);

/* Decodes one message from the start of `buf`. On MSG_OK, `*out` points into `buf` and `*used`
 * is the message's size. On MSG_NEED_MORE and MSG_BAD, `*out` and `*used` are unspecified. */
enum msg_result msg_decode(const uint8_t *buf, size_t len, struct msg *out, size_t *used);

#endif

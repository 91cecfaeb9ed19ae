/* bench/bench.h: duro-bench's shared types. One `struct tctx` per thread (its own libuv loop
 * and connections); `struct shared` is what the threads of a run have in common.
 *
 * conn.c owns a connection's mechanics (source address, connect, the upgrade handshake,
 * framing, the write buffer, the close handshake); modes.c owns what each mode sends and
 * checks, and the phases of a run; duro-bench.c owns options, threads and the report. */
#ifndef DURO_BENCH_H
#define DURO_BENCH_H

#include <llhttp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>
#include <zlib.h>

#include "bench/hist.h"

#define BENCH_READ_BUF_BYTES (256u * 1024u) /* one per thread: frames are parsed in place */
#define BENCH_TICK_MS 20u                   /* phase and deadline checks */
#define BENCH_CLOSE_WAIT_MS 2000u           /* our close sent: wait this long for the server */
#define BENCH_DRAIN_MS 3000u                /* after the run: wait for replies in flight */
#define BENCH_ERRORS_SHOWN 10u              /* per thread, on stderr */
#define BENCH_TARGET_MAX_BYTES 1024u
#define BENCH_HOST_MAX_BYTES 64u
#define BENCH_TAG_BYTES 16u                 /* hex (conn, seq) tag that starts each message */
#define BENCH_PATTERN_SPREAD 64u            /* messages start at one of this many offsets */
#define BENCH_COUNT_MAX_BYTES 24u           /* decimal connection count in a seed reply */
#define BENCH_HEADER_NAME_MAX_BYTES 24u
#define BENCH_WS_KEY_BYTES 24u              /* base64 of 16 random bytes */
#define BENCH_WS_ACCEPT_BYTES 28u
#define BENCH_INFLIGHT_MAX 4096u
#define BENCH_SOURCE_IPS_MAX 254u
#define BENCH_CLOSE_NORMAL 1000u
#define BENCH_EXT_MAX_BYTES 160u            /* the Sec-WebSocket-Extensions answer kept */
#define BENCH_DEFLATE_LEVEL 1               /* the client's own compression: cheap, it shares
                                               the cores with the server it measures */
#define BENCH_DEFLATE_MEM_LEVEL 1               /* and a 512-byte hash: deflateReset per message
                                               clears it, 64 KiB at memLevel 8 */

#define BENCH_SEED_PREFIX "[Durable Object] message: "
#define BENCH_SEED_MIDDLE ", connections: "
#define BENCH_SEED_BINARY "[object ArrayBuffer]"

enum mode { MODE_ECHO, MODE_CONNECT, MODE_IDLE, MODE_HTTP, MODE_BROADCAST };
enum expect { EXPECT_SEED, EXPECT_ECHO, EXPECT_NONE };

struct opts {
    enum mode mode;
    struct sockaddr_in dst;
    char host_header[BENCH_HOST_MAX_BYTES]; /* HOST:PORT as given in the URL */
    char target[BENCH_TARGET_MAX_BYTES];    /* path and query */
    const char *url;
    unsigned conns;
    unsigned inflight;
    unsigned size;
    unsigned threads;
    unsigned source_ips;     /* 127.0.0.1 .. 127.0.0.N */
    unsigned burst;          /* connects pending at once while opening */
    double duration_s;
    double warmup_s;
    double connect_timeout_s;
    enum expect expect;
    int binary;
    int status;              /* http: required status code, 0 for any */
    int post;                /* http: POST a body of `size` bytes instead of GET */
    int pid;                 /* idle: measure this process tree */
    int deflate;             /* offer permessage-deflate (RFC 7692) */
    int json;                /* JSON-like message bodies instead of the letter pattern */
    int quiet;
    const char *text;        /* echo: send exactly this text every time (--text) */
    unsigned objects;        /* "{n}" in the target becomes the connection id modulo this */
};

enum conn_state {
    CS_FREE,        /* no handle */
    CS_CONNECTING,
    CS_HANDSHAKE,   /* upgrade request written, waiting for the 101 */
    CS_OPEN,
    CS_CLOSING,     /* a close frame sent or received, waiting for the rest */
    CS_DEAD         /* uv_close issued */
};

struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct tctx *t;
    uint32_t id;             /* index over all threads */
    uint8_t state;
    uint8_t writing;
    uint8_t close_sent;
    uint8_t close_recv;
    uint8_t counted_open;    /* counted in the connect phase */
    uint8_t hdr_is_accept;
    uint8_t hdr_name_len;
    uint8_t accept_len;      /* bytes of Sec-WebSocket-Accept received; > 28: bad */
    uint8_t accept_count;
    uint8_t frag_op;         /* opcode of a fragmented message being assembled, 0: none */
    uint8_t frag_z;          /* ... and it is compressed (RSV1 on its first frame) */
    uint8_t hdr_is_ext;      /* the header being parsed is Sec-WebSocket-Extensions */
    uint8_t pmd_on;          /* permessage-deflate negotiated */
    uint8_t pmd_srv_reset;   /* the server resets its compressor per message */
    uint8_t pmd_srv_bits;    /* server_max_window_bits */
    uint8_t pmd_cli_bits;    /* client_max_window_bits (the client's compressor) */
    z_stream *inf;           /* the server keeps its context: this socket's own inflater */
    char hdr_name[BENCH_HEADER_NAME_MAX_BYTES];
    char accept_want[BENCH_WS_ACCEPT_BYTES + 1];
    char accept_got[BENCH_WS_ACCEPT_BYTES];
    llhttp_t http;           /* the 101, or the responses of http mode */
    uint64_t t_start;        /* connect started (ns) */
    uint64_t deadline;       /* ns; 0: none */

    /* a frame split across reads; allocated when first needed */
    uint8_t *carry;
    uint32_t carry_len, carry_cap;
    /* a fragmented message */
    uint8_t *frag;
    uint32_t frag_len, frag_cap;

    /* frames not yet written, and the write in flight */
    uint8_t *out, *wb;
    uint32_t out_len, out_cap, wb_cap;

    /* echo, http: sequence numbers and the send time of each request in flight */
    uint64_t sent, recvd;
    uint64_t *ts;            /* ring of opts.inflight */
};

enum phase { PH_CONNECT, PH_READY, PH_RUN, PH_DRAIN, PH_CLOSE, PH_DONE };

struct bslot {               /* broadcast: one message in flight to every socket */
    uint64_t id;
    uint64_t ts;
    uint32_t remaining;
    uint8_t busy;
};

struct shared {
    const struct opts *o;
    atomic_uint ready;       /* threads whose connections are all up (or failed) */
    atomic_uint established; /* connections up after the connect phase */
    atomic_int hold_done;    /* idle: thread 0 measured the RSS */
    const uint8_t *pattern;  /* size + BENCH_PATTERN_SPREAD printable bytes */
    int64_t rss_before, rss_after;
    unsigned rss_procs;
};

struct tctx {
    uv_loop_t loop;
    uv_timer_t tick;
    pthread_t thread;
    struct shared *sh;
    const struct opts *o;
    unsigned index;
    struct conn *conns;
    unsigned nconns;
    unsigned next_open;      /* connect phase: conns[0..next_open) were started */
    unsigned pending;        /* connecting or handshaking */
    unsigned up;             /* open WebSockets (or HTTP connections) */
    unsigned alive;          /* handles not yet closed */
    enum phase phase;
    uint64_t t_run, t_measure, t_end, t_deadline;
    uint64_t now;            /* time of the read being handled */
    int opening;             /* inside open_more: no recursion */
    char *http_req;          /* http mode: the request, sent as is */
    size_t http_req_len;
    char count_str[BENCH_COUNT_MAX_BYTES];
    size_t count_len;
    size_t max_reply;        /* largest data frame payload expected */

    struct hist hist;        /* the mode's latency */
    struct hist hs_hist;     /* handshake latency */
    uint64_t counted;        /* messages, requests or handshakes inside the window */
    uint64_t handshakes;     /* every completed upgrade */
    uint64_t errors;
    uint64_t verify_failures;
    uint64_t rng;
    uint8_t *rbuf;

    /* permessage-deflate: one compressor per thread, reset per message (valid with or without
     * context takeover), and one inflater for servers that reset theirs too */
    z_stream def, inf;
    uint8_t def_bits, inf_ready;
    uint8_t *zbuf;
    size_t zcap;
    char ext[BENCH_EXT_MAX_BYTES];
    size_t ext_len;
    uint64_t wire_in, wire_out, msgs_in, msgs_out; /* data frames' bytes, all messages */

    /* broadcast (one thread) */
    struct bslot *slots;
    unsigned next_sender;
    uint64_t next_bid;
    uint64_t bcast_done;
    uint64_t deliveries;
};

/* ---- conn.c ---- */

/* Starts connection `c` (connect, then the upgrade unless the mode is http). Returns 0, or a
 * negative UV_E* code after counting the error. */
int conn_start(struct conn *c);

/* Appends a masked final frame to `c`'s write buffer: `len` bytes from `a` then `b_len` from `b`
 * (either may be empty). Written by the next conn_flush. */
void conn_put_frame(struct conn *c, uint8_t opcode, const void *a, size_t a_len, const void *b,
                    size_t b_len);

/* A data message: compressed (RSV1) when permessage-deflate was negotiated, else as
 * conn_put_frame. */
void conn_put_message(struct conn *c, uint8_t opcode, const void *a, size_t a_len, const void *b,
                      size_t b_len);

/* Appends raw bytes (an HTTP request). */
void conn_put_raw(struct conn *c, const void *p, size_t len);

/* Writes what was appended: one write for everything produced while handling one read. */
void conn_flush(struct conn *c);

/* Starts the close handshake (code 1000), or closes the handle if not yet open. */
void conn_close_ws(struct conn *c);

/* Closes the handle now. */
void conn_kill(struct conn *c);

/* Counts an error (and prints the first few) or a verification failure. */
void bench_error(struct tctx *t, const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void bench_verify_fail(struct tctx *t, const struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

uint64_t bench_rand(struct tctx *t);

/* ---- modes.c: called by conn.c ---- */

/* The upgrade completed (http mode: the TCP connection did). */
void mode_on_open(struct conn *c, uint64_t now);
/* A whole data message arrived. */
void mode_on_message(struct conn *c, int binary, const uint8_t *p, size_t len, uint64_t now);
/* http mode: one response completed. */
void mode_on_response(struct conn *c, uint64_t now);
/* The connection failed before it opened (connect error, refused upgrade). */
void mode_on_failed(struct conn *c);
/* The handle closed. */
void mode_on_closed(struct conn *c);

/* ---- modes.c: called by duro-bench.c ---- */

/* Sets up a thread's loop, connections and timer. Returns 0 or -1. */
int mode_thread_init(struct tctx *t);
/* The thread body: runs the loop until the run is over. */
void *mode_thread_main(void *arg);
/* Frees what mode_thread_init allocated. */
void mode_thread_free(struct tctx *t);

#endif

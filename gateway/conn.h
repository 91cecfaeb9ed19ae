/* gateway/conn.h: one client connection in the gateway, from accept to hand-off or close.
 * (gateway/listener accepts and allocates it; conn is the HTTP state machine.)
 *
 * A gw_conn reads the request head into its own buffer, parses it with http_req, answers what
 * the gateway answers itself (keep-alive and pipelining included), and hands an upgrade to its
 * worker with dispatch. It owns its tcp and timer handles and frees itself when both closed. */
#ifndef DURO_CONN_H
#define DURO_CONN_H

#include <stdint.h>
#include <uv.h>

#include "gateway/gateway.h"
#include "gateway/http_req.h"
#include "common/respond.h"
#include "gateway/router.h"
#include "common/msg.h"

enum conn_verdict {
    VERDICT_NONE = 0,
    VERDICT_SEED_400,
    VERDICT_SEED_426,
    VERDICT_ERROR,   /* status + reason, Connection: close */
    VERDICT_UPGRADE, /* hand off to `worker` */
    VERDICT_REQUEST, /* a plain request for an object: forward it to `worker` (on_request) */
};

enum conn_timer {
    TIMER_HEAD = 0,  /* the request head must arrive in time */
    TIMER_IDLE,      /* keep-alive wait between requests */
    TIMER_LINGER,    /* after the last response: read and discard until EOF */
    TIMER_WRITE,     /* an upgrade waits for earlier answers the client must read first */
    TIMER_OBJECT,    /* a forwarded request waits for its object's answer (504) */
};

struct gw_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    struct gateway *gw;
    struct gw_conn *prev, *next; /* gateway's list of open connections */
    uint64_t id;
    uint64_t head_started_ns; /* first byte of the current request, for duro_handshake_seconds */
    int open_handles;
    enum conn_timer timer_mode;
    uint64_t deadline_ms;     /* uv_now() when timer_mode's wait ends; the timer may fire
                               * earlier (conn.c, arm) */
    unsigned reading : 1;
    unsigned writing : 1;
    unsigned closing : 1;     /* uv_close called */
    unsigned finishing : 1;   /* last response queued: write, shut down, linger, close */
    unsigned handing_off : 1; /* chan_send in flight; the tcp handle must stay open */
    unsigned got_bytes : 1;   /* anything of the current request arrived */
    unsigned upgrade_waits : 1; /* an upgrade waits for earlier pipelined answers to be written */
    uint32_t upgrade_at;      /* where the upgrade's request ended in `in` */
    unsigned awaiting : 1;    /* a forwarded request waits for its object's answer */
    unsigned proxy_pending : 1; /* [server] proxy_protocol: the PROXY header has not come yet */
    unsigned proxied : 1;     /* `peer` is the PROXY protocol's source address */
    unsigned big_writing : 1; /* `big` is being written */
    uint64_t req_id;          /* the forwarded request's number, while awaiting */
    struct gw_conn *req_next; /* the gateway's map of awaiting requests */
    char *body;               /* the body of a request being forwarded (malloc'd) */
    uint32_t body_len;
    uint32_t body_cap;
    const char *fwd_method;   /* the forwarded request's method and target, for its log line */
    uint32_t fwd_target_len;
    char fwd_target[200];
    char *big;                /* an object's response, written after `out` (malloc'd) */
    size_t big_len;
    struct http_field *fields; /* every header of the current request (after `in`) */

    struct http_req req;
    enum conn_verdict verdict;
    int status;
    const char *reason;
    int resp_flags;
    unsigned worker;
    struct route_result route;    /* route points into the config only inside on_head */
    char cls[DURO_CLASS_NAME_MAX_BYTES + 1]; /* the matched route's class, copied: a reload
                                               * may replace the route table while an upgrade
                                               * waits behind earlier answers */

    char peer[64];            /* "ip:port", filled when a log line first needs it */
    uint32_t in_len;
    uint32_t parsed;
    uint32_t in_cap;
    uint32_t out_len;
    uint32_t out_inflight;
    char out[4 * RESPOND_MAX_BYTES];
    char in[];
};

/* Takes a connection the listener allocated (zeroed, fields set), whose tcp and timer handles
 * are initialised and accepted: starts its head timer and reads what already arrived. From here
 * the connection frees itself once both handles closed. */
void conn_start(struct gw_conn *c);

/* The close callback of a connection's handles: frees it after the last (open_handles). */
void conn_on_handle_closed(uv_handle_t *h);

/* A retiring gateway (upgrade): closes the keep-alive connections idle between requests; the
 * others finish their request and get Connection: close (gw->retiring). */
void conn_retire_all(struct gateway *gw);

/* Closes every open client connection (shutdown). */
void conn_close_all(struct gateway *gw);

/* Answers `status` with `reason` and closes: used by dispatch when a hand-off fails. */
void conn_fail(struct gw_conn *c, int status, const char *reason, int flags);

/* Closes our copy of the connection's descriptor right away (after a hand-off). Idempotent. */
void conn_close(struct gw_conn *c);

/* An object's answer (MSG_RESPONSE) arrived from worker `slot`: writes it on the connection
 * waiting for it, if it still waits (a late answer after a 504 is dropped). */
void conn_response(struct gateway *gw, unsigned slot, const struct msg_response *r);

/* Worker `slot` went down: every request waiting for it gets 503 with Retry-After. */
void conn_worker_down(struct gateway *gw, unsigned slot);

#endif

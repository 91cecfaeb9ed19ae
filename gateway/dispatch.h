/* gateway/dispatch.h: hands a validated upgrade to the worker that owns its object.
 *
 * One MSG_HANDOFF (the request fields the worker needs and the bytes read past the head) goes
 * over the worker's channel with the client's descriptor attached. When that write completes the
 * gateway closes its copy: from then on the connection is the worker's alone. If the worker is
 * down or the send fails, the client gets 503 with Retry-After: 1. */
#ifndef DURO_DISPATCH_H
#define DURO_DISPATCH_H

#include <stddef.h>
#include <uv.h>

struct gateway;
struct gw_conn;
struct msg_emigrant;

/* Why a hand-off could not start: the answer the connection owes its client. */
struct dispatch_error {
    int status;         /* 503 (worker down, near its fd limit, out of memory) or 431 */
    const char *reason; /* static text for the body */
    int flags;          /* RESPOND_* flags, e.g. RESPOND_RETRY_AFTER */
};

/* Hands off `c` (whose verdict is VERDICT_UPGRADE) with `early` bytes of client data. Reading
 * must already be stopped. Returns 0 once the send is under way (a failure of the send itself
 * later answers 503 from its completion), or -1 with `*err` set: the caller answers it. */
int dispatch_handoff(struct gw_conn *c, const char *early, size_t early_len,
                     struct dispatch_error *err);

/* Routes a socket a worker handed over (MSG_EMIGRATE, its descriptor accepted into `t`) like a
 * new connection: MSG_ADOPT to the worker that owns its object under the current pool. Takes
 * `t`: closed (and freed) once the worker has its copy. When the owner is down the client gets
 * a close frame 1012 (Service Restart) and the socket is closed: it reconnects. The one place
 * that decides where an emigrant goes, so that a retiring gateway can send it elsewhere. */
void gw_route_emigrant(struct gateway *gw, const struct msg_emigrant *e, uv_tcp_t *t);

/* A close callback that frees a malloc'd handle. */
void dispatch_free_handle(uv_handle_t *h);

#endif

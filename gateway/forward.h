/* gateway/forward.h: plain HTTP requests into objects (class API v2 on_request).
 *
 * A request that matches a route whose class may answer HTTP (every class but the built-in
 * `seed` and `echo`, which have no on_request) is not answered by the gateway: its method,
 * target, headers and body go to the object's worker in one MSG_REQUEST, and the connection
 * waits (reading stopped, later pipelined requests kept in order) for the MSG_RESPONSE with the
 * same request number. The worker answers status 0 for a class without on_request, and the
 * gateway then writes the seed's 426 itself, byte for byte as before. Waiting requests are
 * kept in a small hash map by request number, so a late answer (after the 504) is dropped. */
#ifndef DURO_FORWARD_H
#define DURO_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"

struct gateway;
struct gw_conn;

/* True when requests on routes of class `cls` go to the object rather than to the seed's 426. */
int forward_class_may_answer(const char *cls);

/* Called from the head callback of a plain request on such a route: sets c->verdict to
 * VERDICT_REQUEST (the body is then collected into c->body, 413 past [http] body_max_bytes) or
 * to VERDICT_ERROR 413 when Content-Length is already over it. */
void forward_prepare(struct gw_conn *c);

/* Fills `out` (capacity headers_max_count) with every header of `c`'s current request, as spans
 * into its buffer. Returns how many. */
uint32_t forward_headers(const struct gw_conn *c, struct msg_header *out);

/* Sends `c`'s complete request (head in c->in, body in c->body) to c->worker and registers it
 * as waiting under a new c->req_id. Returns 0, or a negative UV_E* code (UV_EAGAIN: worker
 * down or gateway stopping) after which nothing is registered and the caller answers 503. */
int forward_request(struct gw_conn *c) __attribute__((warn_unused_result));

/* Removes and returns the connection waiting for `req_id`, or NULL. */
struct gw_conn *forward_take(struct gateway *gw, uint64_t req_id);

/* Removes `c` from the waiting requests, if it is there. */
void forward_forget(struct gw_conn *c);

/* Renders the object's answer as an HTTP/1.1 response: status line, the class's headers,
 * Content-Length, "Connection: close" when `flags` has RESPOND_CLOSE, and the body (none for
 * RESPOND_HEAD). Returns a malloc'd buffer the caller frees, with `*len` set, or NULL (ENOMEM). */
char *forward_render(const struct msg_response *r, int flags, size_t *len);

#endif

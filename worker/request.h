/* worker/request.h: plain HTTP requests into objects (on_request) and the responses classes
 * give them (duro_response_*), plus the admin's "close this object's sockets".
 *
 * A MSG_REQUEST wakes (or constructs) its object like a message and calls the class's
 * on_request with a struct duro_response. The class answers during the call or later; the
 * answer goes back to the gateway as one MSG_RESPONSE. A response not sent within
 * [http] object_timeout_ms expires (the gateway has answered 504 by then): one timer per
 * worker walks the pending responses, oldest first. A class without on_request gets status 0
 * back, which the gateway turns into the seed's 426. */
#ifndef DURO_REQUEST_H
#define DURO_REQUEST_H

#include <stddef.h>

#include "common/msg.h"
#include "duro/class.h"

struct worker;
struct object;

/* Prepares the worker's request state (w->requests). Returns 0 or a negative UV_E* code. */
int request_worker_init(struct worker *w) __attribute__((warn_unused_result));

/* Delivers a decoded MSG_REQUEST. Never fails: errors are answered (500, 503). */
void request_handle(struct worker *w, const struct msg_request *q);

/* Handles a decoded MSG_CLOSE and answers MSG_CLOSED with the count. */
void request_admin_close(struct worker *w, const struct msg_close *q);

/* The object is being forgotten: its pending responses expire (the gateway answers 504). */
void request_object_gone(struct object *o);

/* The request's headers as the class API's array: valid until the next call. `*n` receives the
 * count. Used for on_connect's duro_connect_info too. */
const struct duro_header *request_headers(struct worker *w, const struct msg_headers *h,
                                          size_t *n);

#endif

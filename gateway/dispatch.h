/* gateway/dispatch.h: hands a validated upgrade to the worker that owns its object.
 *
 * One MSG_HANDOFF (the request fields the worker needs and the bytes read past the head) goes
 * over the worker's channel with the client's descriptor attached. When that write completes the
 * gateway closes its copy: from then on the connection is the worker's alone. If the worker is
 * down or the send fails, the client gets 503 with Retry-After: 1. */
#ifndef DURO_DISPATCH_H
#define DURO_DISPATCH_H

#include <stddef.h>

struct gw_conn;

/* Hands off `c` (whose verdict is VERDICT_UPGRADE) with `early` bytes of client data. Reading
 * must already be stopped. Never fails: errors become a 503 answer. */
void dispatch_handoff(struct gw_conn *c, const char *early, size_t early_len);

#endif

/* gateway/admin.h: the admin listener ([server] admin, loopback by default).
 *
 *   GET /healthz  200 {"status":"ok",...} when every worker is up, else 503 naming the missing
 *   GET /metrics  Prometheus text format: the gateway's metrics plus every worker's, summed
 *   GET /objects  one page of the objects (?limit=, ?cursor=): gateway/objects_page.h
 *
 * /metrics asks each worker over its channel and answers when all have replied, or after
 * DURO_ADMIN_QUERY_TIMEOUT_MS without the silent ones. One request per connection. */
#ifndef DURO_ADMIN_H
#define DURO_ADMIN_H

#include <stdint.h>

#include "common/msg.h"
#include "gateway/gateway.h"

/* Starts listening. Returns 0 or a negative UV_E* code (logged). */
int admin_start(struct gateway *gw, const char *host, uint16_t port)
    __attribute__((warn_unused_result));

/* The same on the listening socket inherited on `fd` (an upgrade's successor), without
 * accepting yet: admin_accept_start() does, once the successor's workers answer (a health
 * check must not see a pool still starting while the old one serves). */
int admin_start_fd(struct gateway *gw, int fd) __attribute__((warn_unused_result));

/* Starts accepting on an inherited admin listener; no-op while the admin listener is off.
 * Returns 0 or a negative UV_E* code. */
int admin_accept_start(struct gateway *gw) __attribute__((warn_unused_result));

/* The listening socket's descriptor, to pass to an upgrade's successor; -1 when off. */
int admin_fd(const struct gateway *gw);

/* The address actually bound ("127.0.0.1:9787"), for the readiness line. */
const char *admin_address(const struct gateway *gw);

/* Registers with the supervisor (gw->sup, once started) for the workers' answers (MSG_STATS or
 * MSG_OBJECTS) to admin queries. No-op while the admin listener is off. */
void admin_attach(struct gateway *gw);

/* Stops listening and closes every admin connection. */
void admin_stop(struct gateway *gw);

#endif

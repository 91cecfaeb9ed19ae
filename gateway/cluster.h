/* gateway/cluster.h: several duro nodes behind HAProxy.
 *
 * The object key is "CLASS/NAME" (the route's class and the decoded object name). A node owns an
 * object by rendezvous hashing over the configured nodes: the node whose
 * XXH32("CLASS/NAME:NODE", DURO_NODE_HASH_SEED) is highest, the first listed winning a tie.
 * The HAProxy configuration printed by cluster_print_haproxy computes the same key from the
 * request with the gateway's own route table, the same weights with HAProxy's xxh32 converter,
 * and picks the highest among the nodes its health checks find up: every gateway and the
 * balancer agree, and a node going down moves only its own objects. */
#ifndef DURO_CLUSTER_H
#define DURO_CLUSTER_H

#include <stddef.h>
#include <stdio.h>

#include "common/conf.h"

/* Index in c->nodes of the owner of (cls, name), or -1 when there are no nodes. */
int cluster_owner(const struct conf *c, const char *cls, const char *name, size_t name_len);

/* Index of c->self in c->nodes, or -1. */
int cluster_self(const struct conf *c);

/* Writes the HAProxy configuration for c's nodes and routes to `out`. Returns 0, or -1 with
 * `err` set when a route cannot be expressed in HAProxy's configuration language. */
int cluster_print_haproxy(const struct conf *c, FILE *out, char *err, size_t err_cap);

#endif

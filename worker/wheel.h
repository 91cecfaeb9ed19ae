/* worker/wheel.h: a hashed timing wheel of intrusive nodes, in coarse ticks.
 *
 * A wheel has WHEEL_SLOTS slots, each a circular list of nodes. A node filed for tick `due` sits
 * in slot `due % WHEEL_SLOTS`; advancing to tick `now` visits each slot passed since the last
 * advance, once, and hands every node of it to a callback, unlinked. The wheel keeps no deadline
 * per node: the callback decides whether the node is due (and acts), or files it again for a
 * later tick (a deadline that moved, or one more than WHEEL_SLOTS ticks away, which comes round
 * again a revolution later). So a node costs two pointers, nothing is allocated, and an advance
 * costs the slots passed plus the nodes in them: the nodes due, not all nodes.
 *
 * Ticks are uint32_t and compared modulo 2^32 (deadlines are far less than 2^31 ticks away).
 * Pure data structure: no libuv, no clock; the caller supplies the ticks. */
#ifndef DURO_WHEEL_H
#define DURO_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/duro_limits.h"

#define WHEEL_SLOTS DURO_PING_WHEEL_SLOTS_COUNT

_Static_assert((WHEEL_SLOTS & (WHEEL_SLOTS - 1)) == 0, "wheel slots: a power of two");

/* Embedded in whatever is timed. All-zero: not in a wheel. */
struct wheel_node {
    struct wheel_node *prev, *next;
};

struct wheel {
    struct wheel_node slot[WHEEL_SLOTS]; /* list heads (sentinels); set up by wheel_init */
    uint32_t now;                        /* the last tick advanced to */
    size_t count;                        /* nodes filed */
};

/* Visits one node of a slot passed by wheel_advance, already unlinked: file it again with
 * wheel_add, or leave it out. It may add, remove or free any node, this one included. */
typedef void wheel_visit_fn(struct wheel_node *n, void *arg);

/* An empty wheel whose current tick is `now`. */
void wheel_init(struct wheel *wh, uint32_t now);

/* Moves an empty wheel's current tick to `now` (after it sat empty and unadvanced). */
void wheel_restart(struct wheel *wh, uint32_t now);

/* Files unlinked `n` for tick `due`. A due tick not after the current one is filed for the next
 * tick. */
void wheel_add(struct wheel *wh, struct wheel_node *n, uint32_t due);

/* Takes `n` out of the wheel, if it is in one (also while its slot is being visited). */
void wheel_remove(struct wheel *wh, struct wheel_node *n);

/* True while `n` is filed. */
int wheel_linked(const struct wheel_node *n);

/* Advances to tick `now`: visits the slots of the ticks after the current one up to `now` (each
 * slot at most once, however far `now` is), calling `fn` for each node in them. Nodes filed
 * while visiting wait for their own slot. Returns the number of nodes visited. */
size_t wheel_advance(struct wheel *wh, uint32_t now, wheel_visit_fn *fn, void *arg);

#endif

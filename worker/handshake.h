/* worker/handshake.h: the worker's side of the upgrade: a hand-off becomes a session.
 *
 * The gateway has validated the request; the worker never re-parses HTTP. This module adopts the
 * descriptor, finds the object, lets the class accept or refuse in on_connect, and queues the
 * 101 (or the refusal, after which the connection is closed). A socket inside on_connect is not
 * open yet: it is not counted, not in tag lookups and not in duro_object_sockets until the 101
 * is queued. */
#ifndef DURO_HANDSHAKE_H
#define DURO_HANDSHAKE_H

#include "common/msg.h"
#include "worker/worker.h"

/* Takes over the connection of a MSG_HANDOFF being delivered on `ch` and processes the early
 * bytes. Errors are answered to the client and logged here. */
void handshake_start(struct worker *w, struct chan *ch, const struct msg_handoff *h);

#endif

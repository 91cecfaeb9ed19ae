/* worker/act.h: a session's active state (struct session_act, worker/session.h): taken from
 * the worker's pool when a socket has something in progress (a partial frame, output not yet
 * written, a close handshake), given back when it has none, so that an idle socket holds only
 * its struct session; and the worker's close timeouts, one FIFO list of acts. session_act()
 * (session.h) takes one. */
#ifndef DURO_ACT_H
#define DURO_ACT_H

#include "worker/session.h"

/* Frees an act that is in no session and no pool. */
void act_free(struct worker *w, struct session_act *a);

/* Gives the session's act back (to the pool, or frees it past DURO_ACT_POOL_MAX_COUNT); its
 * decoder is made ready for the next socket. */
void act_release(struct session *s);

/* act_release() when the session is idle: open, nothing half-read, nothing to write, not the
 * session being processed. */
void act_maybe_release(struct session *s);

/* The session's close deadline: now + close_timeout_ms (the session is destroyed then). The
 * session must have an act. */
void act_timeout_arm(struct session *s);

/* Takes the act out of the close-timeout list (nothing if it is not in it). */
void act_timeout_disarm(struct session_act *a);

#endif

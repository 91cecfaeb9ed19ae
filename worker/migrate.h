/* worker/migrate.h: live sockets leaving this worker and arriving from another one, through the
 * gateway (docs/design.md, "Hand-over").
 *
 * MSG_MIGRATE names the objects that leave (all of them, or those whose rendezvous owner under
 * a new pool size is another worker). Each of their sockets keeps reading until no message is
 * half-received, then stops reading; once every socket of an object has stopped and its output
 * (and storage commit) is out, the object is destroyed as at hibernation (storage closed), and
 * each socket goes to the gateway as one MSG_EMIGRATE with its descriptor and its state
 * (worker/handover.h). The object is then forgotten here. Sockets that are not there within the
 * MSG_MIGRATE's timeout are closed with 1012. MSG_MIGRATED says when it is all done; after
 * MIGRATE_ALL the worker then exits 0.
 *
 * MSG_ADOPT is the other end: a session from the state, without a handshake, joined to its
 * object, which stays hibernated until its next event constructs it. */
#ifndef DURO_MIGRATE_H
#define DURO_MIGRATE_H

#include "common/msg.h"
#include "worker/worker.h"

struct chan;
struct object;
struct session;

/* MSG_MIGRATE. A second one while the first runs widens it (its mode and pool win). */
void migrate_start(struct worker *w, const struct msg_migrate *m);

/* MSG_ADOPT: takes the attached descriptor from `ch`. */
void migrate_adopt(struct worker *w, struct chan *ch, const struct msg_emigrant *e);

/* A migrating socket read or wrote everything: it may be at its clean point. */
void migrate_socket_check(struct session *s);

/* Something the leaving object `o` waited for happened (a socket closed, a commit ended). */
void migrate_object_check(struct object *o);

/* A socket just opened in `o` (handshake or adoption): it leaves too if `o` does. */
void migrate_joined(struct session *s);

#endif

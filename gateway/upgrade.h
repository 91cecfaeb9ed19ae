/* gateway/upgrade.h: upgrade in place (SIGUSR2): a successor gateway from the binary on disk
 * takes over the listening sockets, and the old gateway retires.
 *
 * Old gateway (predecessor), on SIGUSR2:
 *   1. pre-flight: `EXE --version`, `duro-worker --version` and `EXE ARGS... --check` must
 *      succeed, each within DURO_UPGRADE_CHECK_TIMEOUT_MS; otherwise it logs and keeps serving;
 *   2. starts EXE with its own arguments, the listening sockets and one end of a socketpair,
 *      the upgrade link, as fds 3, 4 and 5, named by $DURO_UPGRADE_FDS;
 *   3. waits for UPGRADE_READY over the link (its workers all answer, it accepts): a successor
 *      that exits, closes the link or is silent for DURO_UPGRADE_READY_TIMEOUT_MS is killed and
 *      the old gateway keeps serving (event=upgrade_failed);
 *   4. retires: stops accepting (the successor accepts from the same kernel queue, so no
 *      connection is refused), closes its admin listener and its idle keep-alive connections,
 *      answers the others' next request with Connection: close, sends the upgrades it still
 *      reads over the link, retires its workers one after the other, and exits once they
 *      and its connections are gone, after UPGRADE_DONE.
 * Successor: opens the inherited sockets, starts its own pool, accepts and reports ready when
 * every worker answered, tells the service manager MAINPID= (sd_notify), and routes what
 * arrives over the link (MSG_HANDOFF) as it routes its own. */
#ifndef DURO_UPGRADE_H
#define DURO_UPGRADE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/gateway.h"

struct chan;
struct msg_emigrant;

/* What a successor inherited, from $DURO_UPGRADE_FDS; -1 where absent. */
struct upgrade_fds {
    int listen;
    int admin;
    int link;
};

/* Remembers what a successor is started with: this executable's path as it is now (the file a
 * deploy replaces) and `argv` (copied before getopt permutes it). Call first in main().
 * Returns 0, or -1 when the path cannot be found (upgrades are then refused, logged). */
int upgrade_save_args(int argc, char **argv);

/* Reads and unsets $DURO_UPGRADE_FDS. Returns 0 (not started by an upgrade), 1 with `fds`
 * filled, or -1 (malformed; printed). */
int upgrade_inherited(struct upgrade_fds *fds);

/* Creates gw->upgrade; for a successor (`fds` not NULL) opens the link and, once every worker
 * of gw->sup answered, starts accepting and reports ready. Call after supervisor_start.
 * Returns 0 or -1 (logged). */
int upgrade_init(struct gateway *gw, const struct upgrade_fds *fds);

/* SIGUSR2. Refused (logged) while an upgrade runs or the gateway stops. */
void upgrade_begin(struct gateway *gw);

/* SIGTERM: kills a successor not yet ready. Returns 1 when the gateway is retiring (it goes on
 * retiring, faster: its workers are stopped), else 0: the caller stops as usual. */
int upgrade_stop(struct gateway *gw);

/* The link to the successor while retiring, for hand-offs (NULL when it broke). */
struct chan *upgrade_link(struct gateway *gw);

/* Retiring: sends an emigrant (a socket one of our workers handed over, its descriptor in `t`)
 * over the link, where the successor routes it to its own pool. Returns 0 when it took `t`
 * (closed and freed once sent), -1 when there is no link (the caller routes it). */
int upgrade_forward_emigrant(struct gateway *gw, const struct msg_emigrant *e, uv_tcp_t *t);

/* A hand-off went over the link (counted for UPGRADE_DONE and the log). */
void upgrade_count_forwarded(struct gateway *gw);

/* conn.c: the retiring gateway's last HTTP connection closed. */
void upgrade_conns_closed(struct gateway *gw);

#endif

/* gateway/listener.h: the gateway's listening socket.
 *
 * The listener accepts, allocates one gw_conn per client (struct, read buffer and header spans
 * in one block) and gives it to conn, which runs the HTTP state machine. A connection it cannot
 * afford (out of memory) is accepted into a spare handle and closed at once, so that libuv keeps
 * watching the listener; at EMFILE libuv sheds pending connections with its reserve descriptor
 * and the listener counts them (duro_accept_errors_total) and logs once per interval. */
#ifndef DURO_LISTENER_H
#define DURO_LISTENER_H

#include <stdint.h>

#include "gateway/gateway.h"

/* Binds and listens on host:port ([server] reuseport honoured). Returns 0 or a negative UV_E*
 * code, logged. The handle is gw->listener. */
int listener_listen(struct gateway *gw, const char *host, uint16_t port)
    __attribute__((warn_unused_result));

/* Opens the listening socket inherited on `fd` (an upgrade's successor) without accepting yet.
 * Returns 0 or a negative UV_E* code, logged. */
int listener_listen_fd(struct gateway *gw, int fd) __attribute__((warn_unused_result));

/* Starts accepting on gw->listener (listener_listen does it itself). Returns 0 or a UV_E*
 * code. */
int listener_accept_start(struct gateway *gw) __attribute__((warn_unused_result));

/* Stops accepting and closes this process's copy of the listening socket (the kernel's queue
 * lives on in any other process holding it). Idempotent. */
void listener_accept_stop(struct gateway *gw);

#endif

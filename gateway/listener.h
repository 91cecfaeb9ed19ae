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

#endif

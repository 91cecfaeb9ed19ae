/* worker/ws_rx.h: the receiving half of a session: wslay frames -> messages -> the class.
 *
 * Enforces RFC 6455 on what clients send: masking, RSV bits, opcodes, control frames,
 * continuation rules, UTF-8 of text messages (failing fast on the first invalid byte, across
 * fragments) and close reasons, close codes, and the message size limit. */
#ifndef DURO_WS_RX_H
#define DURO_WS_RX_H

#include "worker/session.h"

/* Creates the act's wslay receive context. Returns 0 or -1. */
int ws_rx_init(struct session_act *a);

/* Feeds the bytes lent in a->in to wslay until they are used up, delivering what completes. */
void ws_rx_feed(struct session *s);

/* True when nothing is half-received: no partial frame, message or buffered header bytes. */
int ws_rx_idle(const struct session_act *a);

#endif

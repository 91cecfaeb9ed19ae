/* common/respond.h: the HTTP responses duro answers without a class (gateway, and worker refusals).
 *
 * The seed's 400 and 426 are reproduced byte for byte (docs/design.md section 8); every other
 * status carries a short text body naming the problem. No Date or Server header, ever. */
#ifndef DURO_RESPOND_H
#define DURO_RESPOND_H

#include <stddef.h>

/* Largest response any respond_* call writes, for sizing output buffers. */
#define RESPOND_MAX_BYTES 512u

enum respond_flags {
    RESPOND_HEAD = 1,        /* answer to HEAD: no body */
    RESPOND_CLOSE = 2,       /* add "Connection: close" */
    RESPOND_WS_VERSION = 4,  /* add "Sec-WebSocket-Version: 13" (426 on a version mismatch) */
    RESPOND_RETRY_AFTER = 8, /* add "Retry-After: 1" (503) */
};

/* The seed's 400 for a target no route matches. Returns bytes written (cap >= RESPOND_MAX_BYTES). */
size_t respond_seed_400(char *dst, size_t cap, int flags);

/* The seed's 426 for a routed request without "Upgrade: websocket". */
size_t respond_seed_426(char *dst, size_t cap, int flags);

/* Any other status, with `reason` (plain ASCII) as the text body. */
size_t respond_error(char *dst, size_t cap, int status, const char *reason, int flags);

/* The standard reason phrase of `status` ("Bad Request"). */
const char *respond_phrase(int status);

#endif

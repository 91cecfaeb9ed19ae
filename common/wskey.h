/* common/wskey.h: the Sec-WebSocket-Accept value of RFC 6455 section 4.2.2. */
#ifndef DURO_WSKEY_H
#define DURO_WSKEY_H

#include <stddef.h>

/* Writes base64(SHA-1(key + GUID)) to `out`: 28 characters and a NUL (29 bytes). */
void wskey_accept(const char *key, size_t key_len, char out[29]);

/* True when `key` is the base64 form of 16 bytes (24 characters ending in "=="), as RFC 6455
 * 4.2.1 requires of Sec-WebSocket-Key. */
int wskey_valid(const char *key, size_t key_len);

#endif

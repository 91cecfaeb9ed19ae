/* gateway/proxy.h: the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2)
 * that a proxy sends before the client's bytes when [server] proxy_protocol is on. Pure: bytes
 * in, outcome out, no I/O, no allocation. */
#ifndef DURO_PROXY_H
#define DURO_PROXY_H

#include <stddef.h>

enum proxy_result {
    PROXY_NEED_MORE = 0, /* a valid prefix: call again with more bytes */
    PROXY_OK = 1,        /* a whole header: `*used` bytes, `client` filled */
    PROXY_BAD = 2,       /* not a PROXY header, or a malformed one: close the connection */
};

/* Parses the header at the start of `buf` (`len` bytes). On PROXY_OK, `*used` is its size and
 * `client` (capacity `cap`, at least 64) holds the source as "ip:port" ("[ip6]:port" for IPv6),
 * or "" when the header carries no address (v1 UNKNOWN, v2 LOCAL or a non-IP family: the TCP
 * peer is the client). Headers over DURO_PROXY_HEADER_MAX_BYTES are PROXY_BAD. */
enum proxy_result proxy_parse(const char *buf, size_t len, size_t *used, char *client,
                              size_t cap);

#endif

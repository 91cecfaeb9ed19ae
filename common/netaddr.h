/* common/netaddr.h: socket addresses to and from the "HOST:PORT" / "[V6]:PORT" text that
 * configs, flags and log lines use. */
#ifndef DURO_NETADDR_H
#define DURO_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Fills `ss` from a numeric IPv4 or IPv6 `host` and `port`. Returns 0 or a UV_E* code. */
int netaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss)
    __attribute__((warn_unused_result));

/* Writes "1.2.3.4:80" or "[::1]:80" (or "?:0" for an unknown family) into `out`. */
void netaddr_format(const struct sockaddr_storage *ss, char *out, size_t cap);

/* The local (bound) or peer address of `t`, formatted; "?:0" when unknown. */
void netaddr_local(const uv_tcp_t *t, char *out, size_t cap);
void netaddr_peer(const uv_tcp_t *t, char *out, size_t cap);

#endif

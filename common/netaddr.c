#include "common/netaddr.h"

#include <stdio.h>
#include <string.h>

int netaddr_parse(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    return strchr(host, ':') != NULL ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss)
                                     : uv_ip4_addr(host, port, (struct sockaddr_in *)ss);
}

void netaddr_format(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else {
        snprintf(out, cap, "?:0");
    }
}

void netaddr_local(const uv_tcp_t *t, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len) != 0) {
        ss.ss_family = AF_UNSPEC;
    }
    netaddr_format(&ss, out, cap);
}

void netaddr_peer(const uv_tcp_t *t, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0) {
        ss.ss_family = AF_UNSPEC;
    }
    netaddr_format(&ss, out, cap);
}

/* gateway/gateway.h: the gateway process's one context struct, passed to every module. */
#ifndef DURO_GATEWAY_H
#define DURO_GATEWAY_H

#include <stdint.h>
#include <uv.h>

#include "common/conf.h"

struct supervisor;
struct gw_conn;

struct gateway {
    uv_loop_t *loop;
    struct conf conf;
    char *conf_text;         /* the INI text workers receive (malloc'd, or the embedded one) */
    const char *conf_origin; /* file path, or "(embedded)" */
    unsigned nworkers;
    char worker_path[4096];

    uv_tcp_t listener;
    struct supervisor *sup;
    uint64_t next_conn_id;
    struct gw_conn *conns;   /* every open client connection, for shutdown */
    uint64_t open_conns;
    int stopping;

    uint8_t *scratch;        /* encode buffer for hand-off messages */
    size_t scratch_cap;
};

#endif

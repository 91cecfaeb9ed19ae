/* gateway/gateway.h: the gateway process's one context struct, passed to every module. */
#ifndef DURO_GATEWAY_H
#define DURO_GATEWAY_H

#include <stdint.h>
#include <uv.h>

#include "common/conf.h"
#include "common/metrics.h"

struct supervisor;
struct gw_conn;
struct msg_header;
struct reload;
struct upgrade;

struct gateway {
    uv_loop_t *loop;
    struct conf conf;
    char *conf_text;         /* the INI text workers receive (malloc'd, or the embedded one) */
    const char *conf_origin; /* file path, or "(embedded)" */
    unsigned nworkers;
    unsigned conf_workers_configured; /* [server] workers as configured, for reload checks */
    char worker_path[4096];

    uv_tcp_t listener;
    struct supervisor *sup;
    uint64_t next_conn_id;
    struct gw_conn *conns;   /* every open client connection, for shutdown */
    uint64_t open_conns;
    uint64_t next_req_id;
    struct gw_conn *requests[DURO_HTTP_REQUESTS_MAP_BUCKETS]; /* awaiting an object, by req_id */
    struct msg_header *hdr_scratch; /* headers_max_count entries, for encoding messages */
    int stopping;
    int accepting;           /* the listener accepts (conn_accept_start, until _stop) */
    int retiring;            /* an upgrade's successor serves: finish and exit (upgrade.c) */
    struct upgrade *upgrade; /* SIGUSR2 state (gateway/upgrade.c), NULL before upgrade_init */
    const char *version;     /* DURO_VERSION_FULL of this binary, e.g. "0.1.0" */
    uv_timer_t trim_timer;   /* dispatch.c: gives the heap of a burst of hand-offs back */
    int trim_inited;
    int trim_armed;

    /* Classes named by any config since start: workers load each once and keep it. */
    struct conf_class classes_seen[DURO_CLASSES_MAX_COUNT];
    unsigned nclasses_seen;
    /* Each one's file as last loaded (device, inode, size, mtime in ns): a SIGHUP that finds
     * it changed replaces the workers, which load it again (docs/design.md, "Hand-over"). */
    uint64_t class_stamps[DURO_CLASSES_MAX_COUNT][4];
    uv_tcp_t spare;          /* takes a connection we cannot afford, to close it */
    int spare_busy;
    int spare_wanted;        /* a connection waits for the spare: accept it once it is closed */
    uint64_t accept_errors;  /* since the last accept_error line */
    uint64_t accept_logged_ms;

    struct metrics metrics;  /* the gateway's own; workers' are summed in at /metrics */
    struct admin *admin;     /* NULL when [server] admin is off */
    const char *config_path; /* -c FILE, re-read on SIGHUP; NULL for the embedded config */
    int listen_from_flag;    /* --listen, --admin, --workers given: they win over the file */
    int admin_from_flag;
    int workers_from_flag;
    struct reload *reload;   /* a SIGHUP's class check in progress, or NULL */
    int reload_again;        /* another SIGHUP arrived during that check */
};

#endif

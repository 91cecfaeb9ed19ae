/* common/duro_limits.h: every default and hard cap of duro, in one place.
 *
 * DURO_*_DEFAULT values are what the embedded config uses; DURO_*_MAX/MIN bound what a config
 * file may set (the config parser refuses values outside them). The unit is in the name. */
#ifndef DURO_LIMITS_H
#define DURO_LIMITS_H

/* ---- HTTP, in the gateway ---- */
#define DURO_HTTP_HEAD_MAX_BYTES_DEFAULT   16384u   /* request line + headers: beyond it 431 */
#define DURO_HTTP_HEAD_MAX_BYTES_MIN        1024u
#define DURO_HTTP_HEAD_MAX_BYTES_MAX       65536u
#define DURO_HTTP_HEADERS_MAX_COUNT_DEFAULT  100u   /* header lines: beyond it 431 */
#define DURO_HTTP_HEADERS_MAX_COUNT_MAX     1000u
#define DURO_HTTP_TARGET_MAX_BYTES_DEFAULT  8192u   /* request-target: beyond it 414 */
#define DURO_HTTP_TARGET_MAX_BYTES_MIN       256u
#define DURO_HEAD_TIMEOUT_MS_DEFAULT       10000u   /* head not complete in time: 408 + close */
#define DURO_KEEPALIVE_TIMEOUT_MS_DEFAULT  60000u   /* idle keep-alive connection: close */
#define DURO_TIMEOUT_MS_MIN                   10u
#define DURO_TIMEOUT_MS_MAX             86400000u   /* one day */
#define DURO_LINGER_MS                      2000u   /* read-and-discard after an error response */
#define DURO_LINGER_READ_BYTES              4096u   /* one read while lingering, thrown away */
#define DURO_LISTEN_BACKLOG_COUNT           4096    /* listen(2) backlog of the traffic port */
#define DURO_NETADDR_TEXT_MAX_BYTES           64u   /* "[v6]:port" as text, NUL included */
#define DURO_LOG_TARGET_MAX_BYTES            200u   /* request-target bytes in an access line */
#define DURO_HTTP_BODY_MAX_BYTES_DEFAULT (1u << 20) /* body forwarded to an object: beyond 413 */
#define DURO_HTTP_BODY_MAX_BYTES_MAX     (4u << 20)
#define DURO_OBJECT_TIMEOUT_MS_DEFAULT      5000u   /* an object's answer to a request: else 504 */
#define DURO_HTTP_RESPONSE_HEADERS_MAX_COUNT  32u   /* headers a class adds to a response */
#define DURO_HTTP_RESPONSE_HEADERS_MAX_BYTES 8192u
#define DURO_HTTP_REQUESTS_MAP_BUCKETS      1024u   /* gateway: requests waiting for an object */
#define DURO_ROUTE_ORIGINS_MAX_BYTES        1024u   /* [route] origins allow-list */
#define DURO_PROXY_HEADER_MAX_BYTES          536u   /* PROXY v1 is <= 107, v2 16 + 520 here */
#define DURO_ADMIN_FORM_MAX_BYTES           1024u   /* body of POST /objects/CLASS/NAME/close */
/* Bytes past the request head that the gateway reads and forwards with the hand-off. */
#define DURO_EARLY_DATA_MAX_BYTES           4096u
/* The gateway's read buffer is head_max_bytes + DURO_EARLY_DATA_MAX_BYTES: whatever of it
 * follows a short head travels with the hand-off. */
#define DURO_HANDOFF_EARLY_MAX_BYTES (DURO_HTTP_HEAD_MAX_BYTES_MAX + DURO_EARLY_DATA_MAX_BYTES)

/* ---- WebSocket, in the worker ---- */
#define DURO_WS_MESSAGE_MAX_BYTES_DEFAULT (32u << 20)  /* 32 MiB; beyond it close 1009 */
#define DURO_WS_MESSAGE_MAX_BYTES_MAX    (1u << 30)
#define DURO_WS_CLOSE_TIMEOUT_MS_DEFAULT    2000u   /* our close sent, no answer: TCP closed */
#define DURO_WS_OUTBOUND_MAX_BYTES_DEFAULT (16u << 20)  /* slow consumer beyond it: close 1008 */
#define DURO_WS_OUTBOUND_MIN_BYTES         65536u
#define DURO_WS_WRITE_TIMEOUT_MS_DEFAULT  10000u  /* pending output without progress: close 1008 */
#define DURO_WS_MESSAGES_PER_SECOND_MAX 1000000u  /* [websocket] messages_per_second; 0 = off */
#define DURO_WS_READ_ITER_MAX_BYTES      262144u  /* read from one socket per loop iteration */
/* [websocket] worker_buffer_max_bytes: one worker's queued output plus messages being assembled.
 * Past it the socket with the largest backlog is closed (1008) and large messages are refused
 * (1009). docs/design.md section 10 has the formula that bounds a worker's memory. */
#define DURO_WS_WORKER_BUFFER_MAX_BYTES_DEFAULT (256u << 20)
#define DURO_WS_WORKER_BUFFER_MIN_BYTES    (1u << 20)
#define DURO_WS_WORKER_BUFFER_MAX_BYTES_MAX 4294967295u
/* A message is "large" past this size: only a large message can be refused (1009) by the worker
 * buffer budget. A smaller one fits one read and is often delivered in place, unassembled. */
#define DURO_WS_LARGE_MESSAGE_BYTES      65536u
/* A broadcast frame at least this long is shared by its recipients' queues (one copy, counted);
 * a shorter one is copied into each queue, which costs less than a reference. */
#define DURO_TX_SHARE_MIN_BYTES           1024u
/* Liveness: a socket silent (nothing received) this long gets a ping; when nothing arrives
 * within the timeout after it, the socket is closed (on_close 1006, not clean). 0: no pings. */
#define DURO_WS_PING_INTERVAL_MS_DEFAULT   30000u
#define DURO_WS_PING_TIMEOUT_MS_DEFAULT    10000u
/* One timing wheel per worker times every socket's ping (worker/liveness.c). Its tick is the
 * shorter of interval and timeout over this divisor, within the bounds: deadlines are met
 * within three ticks, never early. */
#define DURO_PING_TICK_DIVISOR                16u
#define DURO_PING_TICK_MS_MIN                 10u
#define DURO_PING_TICK_MS_MAX               1000u
#define DURO_PING_WHEEL_SLOTS_COUNT         1024u   /* a revolution: 1024 ticks */
#define DURO_WS_CONTROL_MAX_BYTES            125u   /* RFC 6455 5.5 */
#define DURO_WS_CLOSE_REASON_MAX_BYTES       123u   /* 125 - 2 bytes of code */
#define DURO_WS_READ_BUF_BYTES            65536u    /* one per worker loop, shared by sessions */
#define DURO_WS_KEY_BYTES                     24u   /* base64 of 16 bytes, RFC 6455 4.1 */
#define DURO_WS_ACCEPT_BYTES                  28u   /* base64 of a SHA-1 */
#define DURO_WS_PROTOCOL_MAX_BYTES           256u   /* offered subprotocols, forwarded as is */
#define DURO_OBJECT_SOCKETS_MAX_COUNT      32768u   /* further upgrades: 503 */
#define DURO_HIBERNATE_AFTER_MS_DEFAULT    10000u
/* permessage-deflate (RFC 7692): zlib buffers start small, grow as a message needs, and are
 * kept between messages up to the KEEP size. */
#define DURO_DEFLATE_BUF_MIN_BYTES          4096u
#define DURO_DEFLATE_BUF_KEEP_BYTES        65536u
#define DURO_DEFLATE_MIN_BYTES_DEFAULT        64u   /* smaller messages go uncompressed */
#define DURO_DEFLATE_MODE_DEFAULT              1    /* stateless: see worker/pmd.h */
#define DURO_DEFLATE_WINDOW_BITS_DEFAULT      10u   /* takeover mode's window per socket */
#define DURO_DEFLATE_WINDOW_BITS_MIN           9u   /* zlib cannot compress with 8 */
#define DURO_DEFLATE_WINDOW_BITS_MAX          15u
#define DURO_DEFLATE_LEVEL                     3    /* zlib level: speed over the last percent */
#define DURO_DEFLATE_MEM_LEVEL_SHARED          8    /* the worker's one stateless compressor */
#define DURO_DEFLATE_MEM_LEVEL_TAKEOVER        4    /* per socket: small, since every socket pays */
#define DURO_ACT_POOL_MAX_COUNT             1024u   /* spare active-socket states kept for reuse */

/* ---- objects and routes ---- */
#define DURO_CLASS_NAME_MAX_BYTES             64u
#define DURO_OBJECT_NAME_MAX_BYTES           256u
#define DURO_OBJECT_ID_HEX_BYTES              64u
#define DURO_ROUTES_MAX_COUNT                 64u
#define DURO_CLASSES_MAX_COUNT                16u   /* [class] sections (shared objects) */
#define DURO_CLASS_PATH_MAX_BYTES            180u   /* fits one config line */
#define DURO_CLASS_SYMBOL_MAX_BYTES          128u
#define DURO_TAGS_MAX_COUNT                   10u   /* per socket */
#define DURO_TAG_MAX_BYTES                   256u
#define DURO_ATTACHMENT_MAX_BYTES          16384u   /* per socket, survives hibernation */
#define DURO_AUTO_RESPONSE_MAX_BYTES        2048u   /* request and response each */
#define DURO_AUTO_RULES_MAX_COUNT             16u   /* auto-response rules per object */
#define DURO_ROUTE_PATTERN_MAX_BYTES         512u
#define DURO_ROUTE_NAME_MAX_BYTES             63u   /* [route NAME] */
#define DURO_HOST_MAX_BYTES                   63u   /* the HOST of a HOST:PORT in the config */

/* ---- Lua classes ---- */
#define DURO_LUA_EVENT_MAX_MS_DEFAULT       1000u   /* a callback running longer: 1011, reset */
#define DURO_LUA_EVENT_MAX_MS_MAX          60000u
#define DURO_LUA_MEMORY_MAX_BYTES_DEFAULT (64u << 20) /* per Lua state: one per class per worker */
#define DURO_LUA_MEMORY_MIN_BYTES          (1u << 20)
#define DURO_LUA_MEMORY_MAX_BYTES_MAX      (1u << 30)
#define DURO_LUA_WATCHDOG_TICKS                8u   /* watchdog ticks per event_max_ms */
#define DURO_LUA_SCRIPT_MAX_BYTES          (1u << 20)
#define DURO_LUA_SENDV_MAX_PARTS              16u   /* ws:sendv(binary, part, ...) */

/* ---- cluster ---- */
#define DURO_NODES_MAX_COUNT                  64u
#define DURO_NODE_NAME_MAX_BYTES              32u
#define DURO_NODE_HASH_SEED           1685418607u  /* fixed: the balancer config uses it too */

/* ---- processes ---- */
#define DURO_WORKERS_MAX_COUNT                64u
#define DURO_PROC_STAT_MAX_BYTES            1024u   /* one /proc/PID/stat line, for /metrics */
#define DURO_RESTART_BACKOFF_MIN_MS          100u   /* first restart of a dead worker */
#define DURO_RESTART_BACKOFF_MAX_MS        10000u   /* doubling stops here */
#define DURO_RESTART_STABLE_MS             10000u   /* alive this long: backoff resets */
#define DURO_DRAIN_TIMEOUT_MS_DEFAULT     10000u   /* SIGTERM: time for close handshakes */
#define DURO_UPGRADE_TIMEOUT_MS_DEFAULT   10000u   /* hand-over: clean point or 1012 */
#define DURO_HEARTBEAT_INTERVAL_MS         1000u   /* gateway asks each worker this often */
#define DURO_HEARTBEAT_TIMEOUT_MS_DEFAULT  5000u   /* no answer this long: hung, killed */
#define DURO_READY_WORKERS_DOWN_MAX_PERCENT_DEFAULT 50u /* /readyz: half the pool may be down */
#define DURO_READY_WORKERS_DOWN_MAX_PERCENT_MAX    99u  /* 100 would be ready with no worker */
#define DURO_HEARTBEAT_TIMEOUT_MS_MIN      1000u
#define DURO_ADMIN_QUERY_TIMEOUT_MS        2000u   /* /metrics, or one /objects chunk, waits this */
/* GET /objects pages (gateway/objects_page.c): ?limit= entries at most, fewer when the page
 * reaches its byte bound or its time; a worker builds one bounded chunk per request. */
#define DURO_ADMIN_OBJECTS_LIMIT_DEFAULT   1000u   /* GET /objects without ?limit= */
#define DURO_ADMIN_OBJECTS_LIMIT_MAX      10000u   /* a larger ?limit= is answered 400 */
#define DURO_ADMIN_OBJECTS_PAGE_MAX_BYTES (4u << 20) /* one page's JSON: then it ends, with next */
#define DURO_ADMIN_OBJECTS_PAGE_TIMEOUT_MS 5000u   /* a page stops asking for chunks after this */
#define DURO_ADMIN_OBJECTS_PAGES_MAX_COUNT    8u   /* pages in progress at once: beyond, 503 */
#define DURO_ACCEPT_LOG_INTERVAL_MS        1000u   /* one accept_error line per interval */
#define DURO_FD_RESERVE_COUNT                64u   /* worker fd headroom under which upgrades get 503 */
#define DURO_ADMIN_CONNS_MAX_COUNT           64u   /* past it, the oldest idle one is closed */
#define DURO_ADMIN_IDLE_TIMEOUT_MS         1000u   /* admin connection that sent nothing yet */
#define DURO_ADMIN_CAP_LOG_INTERVAL_MS     1000u   /* one cap_reached warning per interval */
#define DURO_ADMIN_HEAD_MAX_BYTES          4096u   /* admin request head; beyond it 431 */
#define DURO_METRICS_TEXT_MAX_BYTES       65536u   /* one /metrics answer */
#define DURO_REPORT_JSON_INITIAL_BYTES     4096u   /* a worker's /objects JSON starts this big */
/* One worker's answer to one /objects chunk request: its work on one loop iteration. */
#define DURO_OBJECTS_CHUNK_MAX_COUNT        256u   /* entries */
#define DURO_OBJECTS_CHUNK_SCAN_MAX_COUNT 65536u   /* registry buckets looked at */
#define DURO_CONFIG_MAX_BYTES            (1u << 20)
#define DURO_CONFIG_PATH_MAX_BYTES         4096u   /* the config file's path, sent to workers */
/* The embedded config's addresses (config/duro.ini writes the same). */
#define DURO_LISTEN_DEFAULT            "127.0.0.1:8787"
#define DURO_ADMIN_DEFAULT             "127.0.0.1:9787"
#define DURO_BALANCER_LISTEN_DEFAULT   "127.0.0.1:8080"
#define DURO_WORKER_CHANNEL_FD                 3    /* workers find their channel here */

/* ---- buffers (common/buf) ---- */
#define DURO_BUF_MIN_BYTES                   256u   /* first allocation of a growing buffer */
#define DURO_CHAN_READ_INITIAL_BYTES       65536u   /* an IPC channel's first read buffer */
/* The gateway's malloc: an allocation this large is its own mapping, returned when freed, and a
 * free heap top this large is given back. Fixed, because glibc otherwise raises both after the
 * first large free (a 4 MiB body), and then keeps megabytes of freed connections resident. */
#define DURO_GW_MALLOC_MMAP_THRESHOLD_BYTES (128u << 10)
#define DURO_GW_MALLOC_TRIM_THRESHOLD_BYTES (128u << 10)

/* ---- gateway memory ---- */
/* After a hand-off, the gateway returns the free pages of its heap to the kernel this long
 * later (malloc_trim): a burst of connections leaves no resident memory behind. */
#define DURO_HANDOFF_TRIM_DELAY_MS          1000u
/* ... and free() itself shrinks the heap only past this much free memory at its top. */
#define DURO_HANDOFF_TRIM_THRESHOLD_BYTES  (64 * 1024 * 1024)

/* ---- logs ---- */
#define DURO_LOG_LINE_MAX_BYTES             2048u   /* a longer line is cut */
#define DURO_LOG_BATCH_BYTES                4096u   /* one write(2); PIPE_BUF: never interleaved */
/* stderr a regular file: a write(2) is never interleaved with another process's at any size
 * (the kernel serialises writes to one open file), so a loop iteration's lines go in one. */
#define DURO_LOG_FILE_BATCH_BYTES          65536u

/* ---- storage and alarms (DESIGN.md 8) ---- */
#define DURO_STORAGE_DIR_DEFAULT        "/var/lib/duro"
#define DURO_STORAGE_DIR_MAX_BYTES           180u   /* fits one config line */
#define DURO_STORAGE_OBJECT_MAX_BYTES_DEFAULT (1u << 30) /* per object file */
#define DURO_STORAGE_OBJECT_MAX_BYTES_MIN (64u << 10)
#define DURO_STORAGE_OBJECT_MAX_BYTES_MAX 4294967295u    /* a [storage] u32 key */
#define DURO_STORAGE_KEY_MAX            2048u   /* = DURO_STORAGE_KEY_MAX_BYTES of the API */
#define DURO_STORAGE_BUSY_TIMEOUT_MS     5000u   /* the alarms index, shared by the workers */
#define DURO_STORAGE_SETUP_RETRY_MS      10u     /* a file's set-up retried this often on BUSY */
#define DURO_STORAGE_REOPEN_INTERVAL_MS  1000u   /* a failed alarms index retried at most this often */
#define DURO_STORAGE_COMMIT_THREADS      "16"   /* libuv pool size in workers (a string) */
#define DURO_ALARM_RETRY_MAX_COUNT          6u   /* on_alarm failures retried this often */
#define DURO_ALARM_RETRY_FIRST_MS        2000u   /* then doubling */
#define DURO_ALARM_GATED_RECHECK_MS         5u   /* an alarm due on a gated object waits */

/* ---- IPC messages ---- */
#define DURO_MSG_HEADER_BYTES                 12u   /* magic(4) version(2) type(2) length(4) */
#define DURO_OBJECTS_JSON_MAX_BYTES      (1u << 20)  /* one /objects chunk: 256 entries fit */
/* The largest message: a MSG_REQUEST with a DURO_HTTP_BODY_MAX_BYTES_MAX body and its headers. */
#define DURO_MSG_BODY_MAX_BYTES          ((8u << 20) + 4096u)
#define DURO_MSG_STATS_MAX_WORDS             1024u
/* One socket's hand-over state (worker/handover.c): attachment, tags, two deflate windows,
 * the bytes read past its last complete message, and small fields. */
#define DURO_HANDOVER_STATE_MAX_BYTES    (256u << 10)

/* ---- upgrade in place: SIGUSR2 (gateway/upgrade.c) ---- */
#define DURO_UPGRADE_VERSION_MAX_BYTES        128u   /* a --version line */
#define DURO_UPGRADE_CHECK_TIMEOUT_MS       10000u   /* each pre-flight run of the new binary */
#define DURO_UPGRADE_READY_TIMEOUT_MS       15000u   /* the successor's workers all answer */
#define DURO_UPGRADE_STOP_GRACE_MS           2000u   /* a successor that closed the link, exits */
#define DURO_UPGRADE_ACK_TIMEOUT_MS         10000u   /* UPGRADE_DONE read (the link closed) */
#define DURO_UPGRADE_FDS_ENV        "DURO_UPGRADE_FDS" /* listen=N[,admin=N],link=N */
#define DURO_UPGRADE_LISTEN_FD                  3    /* where the successor finds them */
#define DURO_UPGRADE_ADMIN_FD                   4
#define DURO_UPGRADE_LINK_FD                    5

#endif

/* common/metrics.h: the counters, gauges and histograms of duro, and their Prometheus text form.
 *
 * Every process keeps one struct metrics. Workers send theirs to the gateway (MSG_STATS) as a
 * flat array of u64, and the gateway sums the workers' and its own into one exposition: the
 * numbers are the pool's, as an operator sees one server. Names are fixed here, so both ends
 * agree on the order by construction. */
#ifndef DURO_METRICS_H
#define DURO_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* X(id, name, type, labels, help). Series sharing a name must be adjacent. */
#define METRICS_LIST(X)                                                                         \
    X(M_CONN_ACCEPTED, "duro_connections_accepted_total", "counter", "",                        \
      "TCP connections accepted by the gateway")                                                 \
    X(M_CONN_OPEN, "duro_connections_open", "gauge", "",                                         \
      "HTTP connections open in the gateway (not yet handed off or answered)")                  \
    X(M_HTTP_400, "duro_http_responses_total", "counter", "status=\"400\"",                     \
      "HTTP responses the gateway and workers answered, by status")                             \
    X(M_HTTP_403, "duro_http_responses_total", "counter", "status=\"403\"", "")                \
    X(M_HTTP_408, "duro_http_responses_total", "counter", "status=\"408\"", "")                \
    X(M_HTTP_414, "duro_http_responses_total", "counter", "status=\"414\"", "")                \
    X(M_HTTP_426, "duro_http_responses_total", "counter", "status=\"426\"", "")                \
    X(M_HTTP_431, "duro_http_responses_total", "counter", "status=\"431\"", "")                \
    X(M_HTTP_501, "duro_http_responses_total", "counter", "status=\"501\"", "")                \
    X(M_HTTP_503, "duro_http_responses_total", "counter", "status=\"503\"", "")                \
    X(M_HTTP_OTHER, "duro_http_responses_total", "counter", "status=\"other\"", "")            \
    X(M_HTTP_101, "duro_http_responses_total", "counter", "status=\"101\"", "")                \
    X(M_HANDOFFS, "duro_handoffs_total", "counter", "",                                         \
      "Upgrades handed from the gateway to a worker")                                            \
    X(M_HANDOFF_FAILURES, "duro_handoff_failures_total", "counter", "",                         \
      "Upgrades answered 503 because their worker was down or unreachable")                     \
    X(M_HTTP_FORWARDED, "duro_http_requests_forwarded_total", "counter", "",                    \
      "Plain HTTP requests the gateway forwarded to an object (on_request)")                     \
    X(M_HTTP_OBJECT_TIMEOUTS, "duro_http_object_timeouts_total", "counter", "",                 \
      "Forwarded requests answered 504 because the object did not answer in time")               \
    X(M_ADMIN_CLOSED, "duro_admin_closed_sockets_total", "counter", "",                         \
      "WebSockets closed by POST /objects/CLASS/NAME/close on the admin listener")               \
    X(M_HANDOFF_DROPPED, "duro_handoffs_dropped_total", "counter", "",                          \
      "Hand-offs a worker dropped because their descriptor did not arrive (fd limit)")          \
    X(M_HANDOFF_FD_REFUSED, "duro_handoffs_refused_fd_total", "counter", "",                    \
      "Upgrades answered 503 because their worker was near its descriptor limit")               \
    X(M_ACCEPT_ERRORS, "duro_accept_errors_total", "counter", "",                               \
      "Connections the gateway's listener could not accept (EMFILE, ENFILE, ...), shed")        \
    X(M_FD_HEADROOM, "duro_worker_fd_headroom", "gauge", "",                                    \
      "Descriptors the workers can still open, summed over the workers")                        \
    X(M_WORKER_RESTARTS, "duro_worker_restarts_total", "counter", "",                           \
      "Workers restarted after they died or hung")                                               \
    X(M_WORKERS_UP, "duro_workers_up", "gauge", "", "Workers running")                           \
    X(M_CHAN_BUF_BYTES, "duro_gateway_channel_buffer_bytes", "gauge", "",                       \
      "Bytes the gateway's read buffers of its worker channels hold")                           \
    X(M_WS_OPEN, "duro_websockets_open", "gauge", "", "WebSocket connections open in workers")   \
    X(M_WS_ACCEPTED, "duro_websockets_accepted_total", "counter", "",                           \
      "WebSocket connections accepted (101 sent)")                                               \
    X(M_OBJ_LIVE, "duro_objects", "gauge", "state=\"live\"", "Objects, by state")               \
    X(M_OBJ_HIBERNATED, "duro_objects", "gauge", "state=\"hibernated\"", "")                   \
    X(M_OBJ_CONSTRUCTS, "duro_object_constructions_total", "counter", "",                       \
      "Objects constructed from absent")                                                         \
    X(M_OBJ_WAKES, "duro_object_wakes_total", "counter", "",                                    \
      "Hibernated objects constructed again by an event")                                        \
    X(M_OBJ_HIBERNATIONS, "duro_object_hibernations_total", "counter", "",                      \
      "Objects that hibernated")                                                                  \
    X(M_OBJ_DESTROYS, "duro_object_destroys_total", "counter", "",                              \
      "Objects forgotten after their last socket closed")                                        \
    X(M_MSGS_IN, "duro_messages_in_total", "counter", "", "WebSocket messages received")        \
    X(M_MSGS_OUT, "duro_messages_out_total", "counter", "", "WebSocket messages sent")          \
    X(M_BYTES_IN, "duro_message_bytes_in_total", "counter", "",                                 \
      "Payload bytes of WebSocket messages received")                                            \
    X(M_BYTES_OUT, "duro_message_bytes_out_total", "counter", "",                               \
      "Payload bytes of WebSocket messages sent")                                                \
    X(M_DEFLATE_OUT, "duro_deflate_messages_total", "counter", "dir=\"out\"",                 \
      "Messages compressed (a broadcast once per window size) or inflated, permessage-deflate") \
    X(M_DEFLATE_IN, "duro_deflate_messages_total", "counter", "dir=\"in\"", "")              \
    X(M_DEFLATE_BYTES_OUT, "duro_deflate_compressed_bytes_total", "counter", "",               \
      "Compressed payload bytes produced for sending")                                           \
    X(M_BUFFERED, "duro_worker_buffered_bytes", "gauge", "",                                    \
      "Queued output and messages being assembled in workers (worker_buffer_max_bytes)") \
    X(M_BUDGET_CLOSES, "duro_buffer_budget_closes_total", "counter", "",                        \
      "Sockets closed (1008), largest backlog first, by a full worker buffer budget") \
    X(M_BUDGET_REFUSED, "duro_buffer_budget_refused_total", "counter", "",                      \
      "Large messages refused (1009): the worker buffer budget could not hold them") \
    X(M_READ_PAUSES, "duro_read_budget_pauses_total", "counter", "",                            \
      "Times a socket read its per-iteration share (256 KiB) and waited for the next iteration") \
    X(M_PINGS_SENT, "duro_pings_sent_total", "counter", "",                                     \
      "Pings sent to sockets silent for [websocket] ping_interval_ms")                           \
    X(M_PING_TIMEOUTS, "duro_ping_timeouts_total", "counter", "",                               \
      "Sockets closed (1006) because nothing arrived within ping_timeout_ms of a ping")          \
    X(M_CLOSE_1000, "duro_websocket_closes_total", "counter", "code=\"1000\"",                  \
      "WebSocket connections closed, by the close code duro sent (1006: no close frame)")        \
    X(M_CLOSE_1001, "duro_websocket_closes_total", "counter", "code=\"1001\"", "")             \
    X(M_CLOSE_1002, "duro_websocket_closes_total", "counter", "code=\"1002\"", "")             \
    X(M_CLOSE_1005, "duro_websocket_closes_total", "counter", "code=\"1005\"", "")             \
    X(M_CLOSE_1006, "duro_websocket_closes_total", "counter", "code=\"1006\"", "")             \
    X(M_CLOSE_1007, "duro_websocket_closes_total", "counter", "code=\"1007\"", "")             \
    X(M_CLOSE_1008, "duro_websocket_closes_total", "counter", "code=\"1008\"", "")             \
    X(M_CLOSE_1009, "duro_websocket_closes_total", "counter", "code=\"1009\"", "")             \
    X(M_CLOSE_OTHER, "duro_websocket_closes_total", "counter", "code=\"other\"", "")                                                                                 \
    X(M_STORAGE_COMMITS, "duro_storage_commits_total", "counter", "",                           \
      "Object storage transactions committed (one per object per loop iteration at most)")      \
    X(M_STORAGE_BYTES_WRITTEN, "duro_storage_bytes_written_total", "counter", "",                \
      "Key and value bytes written to object storage")                                           \
    X(M_STORAGE_ERRORS, "duro_storage_errors_total", "counter", "",                             \
      "Storage opens and commits that failed (the object was reset)")                            \
    X(M_ALARMS_SCHEDULED, "duro_alarms_scheduled_total", "counter", "", "Alarms set")            \
    X(M_ALARMS_FIRED, "duro_alarms_fired_total", "counter", "", "on_alarm calls")               \
    X(M_ALARMS_RETRIED, "duro_alarms_retried_total", "counter", "",                             \
      "Alarms scheduled again after on_alarm failed")                                            \
    X(M_HANDOVER_SOCKETS, "duro_handover_sockets_total", "counter", "",                         \
      "WebSockets handed over live to another worker (resize, class reload, upgrade)")          \
    X(M_HANDOVER_ADOPTED, "duro_handover_adopted_total", "counter", "",                         \
      "WebSockets a worker adopted from another one, without a new handshake")                  \
    X(M_HANDOVER_SWITCHES, "duro_handover_switches_total", "counter", "",                       \
      "Worker hand-overs finished (MSG_MIGRATED: a resize step or a worker replaced)")          \
    X(M_HANDOVER_CLOSED, "duro_handover_closed_total", "counter", "",                           \
      "WebSockets closed with 1012 because they could not be handed over in time")             \
    X(M_UPGRADES, "duro_upgrades_total", "counter", "",                                          \
      "Upgrades in place (SIGUSR2) this gateway took over from its predecessor")                \
    X(M_UPGRADE_FAILURES, "duro_upgrade_failures_total", "counter", "",                         \
      "Upgrades refused or aborted (new binary broken or not ready): the old one kept serving") \
    X(M_UPGRADE_RELAYED, "duro_upgrade_relayed_total", "counter", "",                           \
      "Connections this gateway received from its retiring predecessor over the upgrade link")

#define METRICS_ENUM(id, name, type, labels, help) id,
enum metric_id { METRICS_LIST(METRICS_ENUM) M_COUNT };
#undef METRICS_ENUM

/* Histograms of durations; bucket bounds in microseconds, shared by all. */
#define METRICS_HISTS(X)                                                                        \
    X(H_HANDSHAKE, "duro_handshake_seconds",                                                     \
      "Gateway time from the first byte of an upgrade request to its hand-off")                  \
    X(H_MESSAGE, "duro_message_handling_seconds",                                                \
      "Worker time to handle one read of WebSocket frames: parse, class callbacks, replies")   \
    X(H_COMMIT, "duro_storage_commit_seconds",                                                   \
      "Time from the start of an object's commit to its durability (the output gate's wait)")   \
    X(H_HANDOVER, "duro_handover_switch_seconds",                                                \
      "Worker time from MSG_MIGRATE to its last socket handed over (one per worker switch)")

#define METRICS_HENUM(id, name, help) id,
enum hist_id { METRICS_HISTS(METRICS_HENUM) H_COUNT };
#undef METRICS_HENUM

#define METRICS_BUCKETS 14 /* finite bounds; +Inf is implicit */

struct metrics_hist {
    uint64_t buckets[METRICS_BUCKETS + 1]; /* per bucket (not cumulative); last is +Inf */
    uint64_t count;
    uint64_t sum_ns;
};

struct metrics {
    uint64_t v[M_COUNT];
    struct metrics_hist h[H_COUNT];
};

/* Number of u64 words of a struct metrics on the wire. */
#define METRICS_WORDS (M_COUNT + H_COUNT * (METRICS_BUCKETS + 3))

/* Records one duration in nanoseconds. */
void metrics_observe(struct metrics *m, enum hist_id h, uint64_t ns);

/* Counts an HTTP response status. */
void metrics_http_status(struct metrics *m, int status);

/* Counts a WebSocket close by the code duro sent (or 1006). */
void metrics_ws_close(struct metrics *m, unsigned code);

/* dst += src, every series. */
void metrics_add(struct metrics *dst, const struct metrics *src);

/* dst += src for counters and histograms only (gauges untouched): what a dead worker leaves
 * behind, so that counters stay monotonic across worker restarts. */
void metrics_add_counters(struct metrics *dst, const struct metrics *src);

/* Flattens to / from METRICS_WORDS u64 words. */
void metrics_to_words(const struct metrics *m, uint64_t *words);
void metrics_from_words(struct metrics *m, const uint64_t *words);

/* Writes the Prometheus text exposition (format 0.0.4). Returns the length, or 0 if `cap` is
 * too small. */
size_t metrics_render(const struct metrics *m, char *out, size_t cap);

#endif

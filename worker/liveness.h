/* worker/liveness.h: dead peers found while their object sleeps ([websocket] ping_interval_ms,
 * ping_timeout_ms).
 *
 * Every open session of the worker is filed in one timing wheel (worker/wheel.h), driven by one
 * uv_timer: no timer and no allocation per socket. A session carries the wheel's two links, the
 * tick of the last bytes it received (or of the ping sent to it) and one bit for "ping
 * outstanding", so a hibernated socket grows by 16 bytes.
 *
 * A read only stamps the tick; the wheel slot is not touched. When the slot comes round, the
 * session is due if it has been silent for ping_interval_ms: it gets a ping (framed and written
 * at once, so the act goes back to the pool straight away). If it is still silent
 * ping_timeout_ms after that, it is closed without a close frame: the class sees on_close with
 * 1006 and was_clean 0, the only moment its object is woken. A session that was heard from
 * meanwhile is filed again for its new deadline; so each tick costs the sessions due (and those
 * heard from since they were filed, once per interval), never a scan of all sessions. */
#ifndef DURO_LIVENESS_H
#define DURO_LIVENESS_H

#include <stdint.h>
#include <uv.h>

#include "worker/wheel.h"

struct session;
struct worker;

struct liveness {
    struct wheel wheel;
    uv_timer_t timer;
    uint32_t tick_ms;  /* chosen when the wheel starts from empty */
    int running;       /* the timer is started */
};

/* Sets up the worker's timer (no allocation). Returns 0 or a negative UV_E* code. */
int liveness_worker_init(struct worker *w) __attribute__((warn_unused_result));

/* Closes the timer; run the loop afterwards to finish the close. */
void liveness_worker_close(struct worker *w);

/* `s` is now open: file it, unless pings are off. */
void liveness_add(struct session *s);

/* Bytes arrived from `s`'s client: it is alive. */
void liveness_touch(struct session *s);

/* `s` is being freed: take it out of the wheel. Idempotent. */
void liveness_remove(struct session *s);

/* The worker's wheel tick for `now_ms` (uv_now), for tests. */
uint32_t liveness_tick(const struct worker *w, uint64_t now_ms);

#endif

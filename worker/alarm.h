/* worker/alarm.h: the alarms of the objects this worker owns: one timer for the earliest, fed
 * from the node's alarms index at start (filtered by rendezvous ownership) and by commits.
 * An alarm that comes due wakes or constructs its object and calls on_alarm once the object's
 * gate is open; the object's own file says whether the alarm is still set. A failing on_alarm
 * is retried 2 s, 4 s, ... later, DURO_ALARM_RETRY_MAX_COUNT times. */
#ifndef DURO_ALARM_H
#define DURO_ALARM_H

#include <stddef.h>
#include <stdint.h>

#include "duro/class.h"
#include "worker/worker.h"

/* Opens the index below [storage] dir and loads the alarms of the objects this worker owns
 * (again after a reconfiguration that changed the pool). Returns 0 or -1 (logged). */
int alarm_load(struct worker *w);

/* The alarm of (cls, name) is durable at `epoch_ms`: time it. */
void alarm_schedule(struct worker *w, const struct duro_class *cls, const char *name,
                    size_t name_len, int64_t epoch_ms);

/* The time of the object's next alarm as this worker knows it, 0 if none. */
int64_t alarm_next(struct worker *w, const struct duro_class *cls, const char *name,
                   size_t name_len);

#endif

/* worker/intake.h: the worker's end of its channel: the config first, then hand-offs.
 *
 * A malformed message or a hand-off before the config is a bug in the gateway: intake logs it
 * and the worker exits, and the supervisor restarts it. */
#ifndef DURO_INTAKE_H
#define DURO_INTAKE_H

#include "worker/worker.h"

/* Opens the channel on DURO_WORKER_CHANNEL_FD and starts reading. Returns 0 or a negative
 * UV_E* code. */
int intake_start(struct worker *w) __attribute__((warn_unused_result));

#endif

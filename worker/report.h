/* worker/report.h: the worker's answers to the gateway's queries: its metrics (which are also
 * the heartbeat's answer) and the list of its objects, for the admin listener. */
#ifndef DURO_REPORT_H
#define DURO_REPORT_H

#include "common/msg.h"
#include "worker/worker.h"

/* Answers `q` on the worker's channel. A failure to answer is logged; the gateway's heartbeat
 * then notices. */
void report_answer(struct worker *w, const struct msg_query *q);

#endif

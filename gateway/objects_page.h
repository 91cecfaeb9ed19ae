/* gateway/objects_page.h: GET /objects, one page at a time (docs/design.md 7).
 *
 * A page walks the workers in slot order from its cursor and asks each for chunks of at most
 * DURO_OBJECTS_CHUNK_MAX_COUNT objects (one MSG_QUERY each, answered by one MSG_OBJECTS built on
 * one loop iteration of the worker), until it has `limit` objects, reaches
 * DURO_ADMIN_OBJECTS_PAGE_MAX_BYTES or DURO_ADMIN_OBJECTS_PAGE_TIMEOUT_MS, or every worker is
 * done. A worker has at most one chunk query in flight: the pages that need it meanwhile wait in
 * its queue (at most DURO_ADMIN_OBJECTS_PAGES_MAX_COUNT pages exist at once). A worker that is
 * down, or does not answer its chunk within DURO_ADMIN_QUERY_TIMEOUT_MS (and, until it answers
 * that one or is restarted, every later page), is named in the page's missing_workers and
 * skipped. The body:
 *
 *   {"partial":false,"missing_workers":[],"next":"1.3f.6"|null,"objects":[{...},...]}
 */
#ifndef DURO_OBJECTS_PAGE_H
#define DURO_OBJECTS_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/msg.h"
#include "gateway/gateway.h"

struct objects_pages;
struct objects_page;

/* The page's answer: `body` (JSON, owned by the page: copy it) and its `next` cursor (NULL at
 * the end of the listing). The page is freed once this returns. */
typedef void objects_page_done_fn(void *arg, const char *body, size_t len, const char *next);

/* The pages of one admin listener. Returns NULL on ENOMEM. */
struct objects_pages *objects_pages_new(struct gateway *gw);

/* Frees it once its timers have closed. Every page must be done or cancelled first. */
void objects_pages_free(struct objects_pages *p);

/* Starts a page of at most `limit` (1..DURO_ADMIN_OBJECTS_LIMIT_MAX) objects from `cursor`
 * ("" for the start, else a `next` of an earlier page). `done` runs later, never from here.
 * Returns the page, or NULL with `*status` 400 (a malformed cursor, or one of another pool
 * size) or 503 (DURO_ADMIN_OBJECTS_PAGES_MAX_COUNT pages in progress, or ENOMEM). */
struct objects_page *objects_page_start(struct objects_pages *p, uint32_t limit,
                                        const char *cursor, size_t cursor_len,
                                        objects_page_done_fn *done, void *arg, int *status);

/* The page's client went away: `done` will not run, and the page is freed. */
void objects_page_cancel(struct objects_page *pg);

/* A worker's MSG_OBJECTS. Stale answers (of a chunk given up on) are dropped. */
void objects_pages_answer(struct objects_pages *p, unsigned slot, const struct msg_objects *m);

#endif

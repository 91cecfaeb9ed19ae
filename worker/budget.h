/* worker/budget.h: the worker's buffer budget ([websocket] worker_buffer_max_bytes), as pure
 * accounting: what is charged, and what the budget admits.
 *
 * Charged: every socket's output buffers (their capacity: the bytes held, not only the bytes
 * queued), each shared broadcast frame once however many queues hold it, and every buffer of a
 * message being assembled. The owners (worker/tx.c, worker/session.c) keep, per charge holder,
 * the bytes they charged last, and move the total with budget_set(). What is charged is what a
 * worker may hold beyond its fixed per-socket cost: docs/design.md section 10 has the formula.
 *
 * What happens past the budget is the caller's: worker/tx.c closes the socket with the largest
 * backlog (1008), worker/ws_rx.c refuses a large message that would not fit (1009). */
#ifndef DURO_BUDGET_H
#define DURO_BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct budget {
    size_t max_bytes;  /* the configured budget */
    size_t used_bytes; /* charged now */
    size_t peak_bytes; /* the most charged at once (tests, logs) */
    /* Called when a large message does not fit, to free charges first (the worker closes the
     * largest backlogs); NULL: nothing can be freed. */
    void (*make_room)(struct budget *b, size_t need);
};

/* Moves the charge of one holder from `*held` to `now` bytes and records `now` in `*held`. */
void budget_set(struct budget *b, size_t *held, size_t now);

/* Adds or removes `n` bytes of a charge without a holder (a shared frame: its whole life). */
void budget_add(struct budget *b, size_t n);
void budget_sub(struct budget *b, size_t n);

/* True when `extra` more bytes keep the charge within the budget. */
int budget_fits(const struct budget *b, size_t extra);

/* True when a data message that will be `msg_len` bytes once this frame is in, this frame adding
 * `growth` bytes to what is assembled, must be refused: it is large (over
 * DURO_WS_LARGE_MESSAGE_BYTES) and the growth does not fit, even after make_room. A small message
 * is never refused. */
int budget_refuses_message(struct budget *b, uint64_t msg_len, uint64_t growth);

#endif

#include "worker/wheel.h"

static void list_init(struct wheel_node *head)
{
    head->prev = head->next = head;
}

static void link_before(struct wheel_node *head, struct wheel_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static void unlink_node(struct wheel_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = NULL;
}

void wheel_init(struct wheel *wh, uint32_t now)
{
    for (size_t i = 0; i < WHEEL_SLOTS; i++) {
        list_init(&wh->slot[i]);
    }
    wh->now = now;
    wh->count = 0;
}

void wheel_restart(struct wheel *wh, uint32_t now)
{
    if (wh->count == 0) {
        wh->now = now;
    }
}

int wheel_linked(const struct wheel_node *n)
{
    return n->next != NULL;
}

void wheel_add(struct wheel *wh, struct wheel_node *n, uint32_t due)
{
    if ((int32_t)(due - wh->now) <= 0) {
        due = wh->now + 1;
    }
    link_before(&wh->slot[due & (WHEEL_SLOTS - 1)], n);
    wh->count++;
}

void wheel_remove(struct wheel *wh, struct wheel_node *n)
{
    if (n->next == NULL) {
        return;
    }
    /* Also right while the node waits in wheel_advance's detached list: that list has its own
     * sentinel, and the count still includes it. */
    unlink_node(n);
    wh->count--;
}

size_t wheel_advance(struct wheel *wh, uint32_t now, wheel_visit_fn *fn, void *arg)
{
    size_t visited = 0;
    uint32_t ticks = now - wh->now;
    if ((int32_t)ticks <= 0) {
        return 0;
    }
    if (ticks > WHEEL_SLOTS) {
        ticks = WHEEL_SLOTS; /* every slot once: each node is looked at, and decides */
    }
    uint32_t first = now - ticks + 1;
    wh->now = now; /* nodes filed from the callbacks are due after this advance */
    for (uint32_t k = 1; k <= ticks; k++) {
        struct wheel_node *head = &wh->slot[(first + k - 1) & (WHEEL_SLOTS - 1)];
        if (head->next == head) {
            continue;
        }
        /* Detach the slot first: a node filed again for a later revolution lands back in this
         * slot and must not be visited twice in one advance. */
        struct wheel_node batch;
        batch.next = head->next;
        batch.prev = head->prev;
        batch.next->prev = &batch;
        batch.prev->next = &batch;
        list_init(head);
        while (batch.next != &batch) {
            struct wheel_node *n = batch.next;
            unlink_node(n);
            wh->count--;
            visited++;
            fn(n, arg);
        }
    }
    return visited;
}

#include "worker/budget.h"

#include "common/duro_limits.h"

void budget_set(struct budget *b, size_t *held, size_t now)
{
    b->used_bytes = b->used_bytes - *held + now;
    *held = now;
    if (b->used_bytes > b->peak_bytes) {
        b->peak_bytes = b->used_bytes;
    }
}

void budget_add(struct budget *b, size_t n)
{
    size_t held = 0;
    budget_set(b, &held, n);
}

void budget_sub(struct budget *b, size_t n)
{
    b->used_bytes = n <= b->used_bytes ? b->used_bytes - n : 0;
}

int budget_fits(const struct budget *b, size_t extra)
{
    return b->used_bytes <= b->max_bytes && extra <= b->max_bytes - b->used_bytes;
}

int budget_refuses_message(struct budget *b, uint64_t msg_len, uint64_t growth)
{
    if (msg_len <= DURO_WS_LARGE_MESSAGE_BYTES) {
        return 0;
    }
    if (growth > SIZE_MAX) {
        return 1;
    }
    if (!budget_fits(b, (size_t)growth) && b->make_room != NULL) {
        b->make_room(b, (size_t)growth);
    }
    return !budget_fits(b, (size_t)growth);
}

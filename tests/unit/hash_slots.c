/* tests/unit/hash_slots.c: prints what common/hash picks, for test_hash_vectors.py to compare
 * with its own computation of the same rule.
 *
 * Reads lines "CLASS NAME" (each at most 64 bytes, no spaces) on stdin; for each prints
 * "KEY S1 S2 ... S8": the object key in hex and hash_pick_slot(key, n) for n = 1..8. */
#include "common/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    char cls[65], name[65];
    while (scanf("%64s %64s", cls, name) == 2) {
        uint64_t key = hash_object_key(cls, strlen(cls), name, strlen(name));
        printf("%016" PRIx64, key);
        for (unsigned n = 1; n <= 8; n++) {
            printf(" %u", hash_pick_slot(key, n));
        }
        printf("\n");
    }
    return 0;
}

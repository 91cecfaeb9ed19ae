/* tests/fuzz/fuzz_check.h: the invariant check every fuzz target uses: a failed invariant is a
 * finding, reported with its text and place, and aborts so libFuzzer saves the input. */
#ifndef DURO_FUZZ_CHECK_H
#define DURO_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                       \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#endif

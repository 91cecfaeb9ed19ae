/* tests/classes/slow_load.c: a class whose loading is slow inside a reload's class check.
 *
 * Loaded by `duro-worker --check-classes` with DURO_SLOW_LOAD_GATE=PATH in the environment, its
 * constructor logs "slow_load event=check_waiting" on stderr and waits until PATH no longer
 * exists (at most 30 s), so a test decides when the check ends. Loaded by a worker, it loads at
 * once. The class echoes messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duro/class.h"

static int in_class_check(void)
{
    char cmd[4096];
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = '\0';
    for (size_t i = 0; i < n; i += strlen(cmd + i) + 1) {
        if (strcmp(cmd + i, "--check-classes") == 0) {
            return 1;
        }
    }
    return 0;
}

__attribute__((constructor)) static void slow_load(void)
{
    const char *gate = getenv("DURO_SLOW_LOAD_GATE");
    if (gate == NULL || !in_class_check()) {
        return;
    }
    fprintf(stderr, "slow_load event=check_waiting gate=%s\n", gate);
    fflush(stderr);
    struct timespec tick = { 0, 10 * 1000 * 1000 };
    for (int i = 0; i < 3000 && access(gate, F_OK) == 0; i++) {
        nanosleep(&tick, NULL);
    }
}

static void slow_message(struct duro_object *obj, void *state, struct duro_socket *ws, int binary,
                         const uint8_t *data, size_t len)
{
    (void)obj;
    (void)state;
    (void)duro_send(ws, binary, data, len);
}

const struct duro_class duro_class = {
    .api_version = DURO_CLASS_API_VERSION,
    .struct_size = sizeof(struct duro_class),
    .name = "slow",
    .on_message = slow_message,
};

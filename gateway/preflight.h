/* gateway/preflight.h: one run of a program the gateway is about to trust (an upgrade's new
 * binary: `--version`, `--check`), without blocking the loop.
 *
 * The program's stdin is /dev/null, its stdout is read (the first line is kept, at most
 * DURO_UPGRADE_VERSION_MAX_BYTES), its stderr goes to the gateway's. It must exit 0 within the
 * timeout, or it is killed (SIGKILL) and the run fails. */
#ifndef DURO_PREFLIGHT_H
#define DURO_PREFLIGHT_H

#include <stdint.h>
#include <uv.h>

struct preflight;

/* The run is over: `ok` when it exited 0 in time, `line` its first stdout line (without the
 * newline; "" when none), valid during the call. The preflight is freed after this returns. */
typedef void preflight_done_fn(void *arg, int ok, const char *line);

/* Starts `args` (args[0] is the file, NULL-terminated). `done` runs exactly once, from the
 * loop, even when the program cannot be started. Returns the run, or NULL on ENOMEM (then
 * `done` never runs). */
struct preflight *preflight_run(uv_loop_t *loop, char **args, uint32_t timeout_ms,
                                preflight_done_fn *done, void *arg);

/* Kills the program (SIGKILL); `done` still runs, with `ok` 0. */
void preflight_kill(struct preflight *p);

#endif

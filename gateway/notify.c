/* gateway/notify.c: sd_notify(3) through libsystemd, or nothing without it. */
#include "gateway/notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"

#ifdef DURO_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>

static void send_state(const char *state)
{
    /* 0 means no $NOTIFY_SOCKET: not run by a service manager. */
    int rc = sd_notify(0, state);
    if (rc < 0) {
        log_debug("notify", "event=sd_notify_failed err=%d", rc);
    }
}
#else
static void send_state(const char *state)
{
    (void)state;
}
#endif

void notify_ready(const char *listen)
{
    char state[160];
    snprintf(state, sizeof state, "READY=1\nSTATUS=serving on %s", listen);
    send_state(state);
}

void notify_reloading(void)
{
    struct timespec ts;
    char state[96];
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=reloading",
             usec);
    send_state(state);
}

void notify_mainpid(int pid, const char *listen)
{
    char state[192];
    snprintf(state, sizeof state, "MAINPID=%d\nREADY=1\nSTATUS=serving on %s (upgraded)", pid,
             listen);
    send_state(state);
}

void notify_status(const char *status)
{
    char state[160];
    snprintf(state, sizeof state, "STATUS=%s", status);
    send_state(state);
}

void notify_stopping(void)
{
    send_state("STOPPING=1\nSTATUS=draining");
}

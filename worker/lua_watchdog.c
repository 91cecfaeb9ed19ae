/* worker/lua_watchdog.c: the time limit of Lua callbacks (lua_watchdog.h). */
#include "worker/lua_watchdog.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/duro_limits.h"
#include "common/log.h"

static struct {
    struct lua_watch *volatile vm; /* the state whose outermost event runs, or NULL */
    volatile uint64_t seq;      /* counts outermost events */
    volatile sig_atomic_t armed;
    uint64_t seen_seq;          /* the handler's own */
    uint64_t started_ns;
    int idle_ticks;
    int created;
    timer_t timer;
} wd;


static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void wd_set(uint64_t interval_ns)
{
    struct itimerspec it = {
        .it_interval = { (time_t)(interval_ns / 1000000000u), (long)(interval_ns % 1000000000u) },
        .it_value = { (time_t)(interval_ns / 1000000000u), (long)(interval_ns % 1000000000u) },
    };
    (void)timer_settime(wd.timer, 0, &it, NULL);
}

static void wd_tick(int sig)
{
    (void)sig;
    int saved = errno;
    struct lua_watch *vm = wd.vm;
    if (vm == NULL) {
        if (++wd.idle_ticks >= 2) {
            wd_set(0);
            wd.armed = 0;
        }
    } else {
        wd.idle_ticks = 0;
        uint64_t now = now_ns();
        if (wd.seq != wd.seen_seq) {
            wd.seen_seq = wd.seq;
            wd.started_ns = now;
        } else if (now - wd.started_ns >= (uint64_t)vm->max_ms * 1000000u) {
            /* again at every later tick: a tick that interrupted LuaJIT updating its dispatch
             * table for another reason is repaired by the next */
            vm->timed_out = 1;
            lua_sethook(vm->L, vm->hook, LUA_MASKCOUNT, 1);
        }
    }
    errno = saved;
}

/* Creates the timer once per process. Returns 0, or -1 (logged): events then run untimed. */
static int wd_create(void)
{
    if (wd.created) {
        return wd.created > 0 ? 0 : -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = wd_tick;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGRTMIN;
    sev._sigev_un._tid = (pid_t)syscall(SYS_gettid); /* sigev_notify_thread_id */
    if (sigaction(SIGRTMIN, &sa, NULL) != 0 ||
        timer_create(CLOCK_MONOTONIC, &sev, &wd.timer) != 0) {
        log_error("lua", "event=watchdog_failed err=\"%s\" (callbacks run without a time limit)",
                  strerror(errno));
        wd.created = -1;
        return -1;
    }
    wd.created = 1;
    return 0;
}

struct lua_watch *lua_watchdog_enter(struct lua_watch *w)
{
    struct lua_watch *prev = wd.vm;
    w->timed_out = 0;
    wd.seq++;
    wd.vm = w;
    if (!wd.armed && wd_create() == 0) {
        uint64_t tick = (uint64_t)w->max_ms * 1000000u / DURO_LUA_WATCHDOG_TICKS;
        wd.idle_ticks = 0;
        wd.armed = 1;
        wd_set(tick > 1000000u ? tick : 1000000u);
    }
    return prev;
}

void lua_watchdog_leave(struct lua_watch *w, struct lua_watch *prev)
{
    wd.vm = prev;
    if (w->timed_out) {
        lua_sethook(w->L, NULL, 0, 0);
    }
}

void lua_watchdog_forget(const struct lua_watch *w)
{
    if (wd.vm == w) {
        wd.vm = NULL;
    }
}

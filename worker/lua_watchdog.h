/* worker/lua_watchdog.h: the time limit of Lua callbacks ([lua] event_max_ms).
 *
 * The JIT is on, and compiled code never calls hooks; so the hook is not set while events run
 * in time. A watchdog (a POSIX timer, its signal delivered to this thread) ticks 8 times per
 * event_max_ms while Lua events keep coming, and stops after two idle ticks. The first tick
 * that sees an event notes the time; a tick that finds the same event still running past
 * event_max_ms sets the count hook (lua_sethook is async-signal-safe in LuaJIT), which raises
 * the error at the next instruction the interpreter runs. That instruction comes soon: lua_fast
 * drops every trace that would not return to the interpreter (loops, recursion, links between
 * traces) and interprets its function, so compiled code runs one bounded trace at a time. An
 * event is stopped between event_max_ms and 1.125 x event_max_ms after it started. */
#ifndef DURO_LUA_WATCHDOG_H
#define DURO_LUA_WATCHDOG_H

#include <luajit-2.1/lua.h>
#include <signal.h>
#include <stdint.h>

/* One Lua state as the watchdog sees it. */
struct lua_watch {
    lua_State *L;
    lua_Hook hook;                   /* set on L (count 1) once an event is past max_ms */
    uint32_t max_ms;                 /* [lua] event_max_ms */
    volatile sig_atomic_t timed_out; /* set by the watchdog; the hook raises the error */
};

/* An outermost event of `w` starts: clears timed_out, starts (or keeps) the ticks. Returns the
 * state timed before, for lua_watchdog_leave (a nested event of another state). */
struct lua_watch *lua_watchdog_enter(struct lua_watch *w);

/* The event ended: no tick changes `w` after this, and a hook left set is removed. */
void lua_watchdog_leave(struct lua_watch *w, struct lua_watch *prev);

/* `w` is freed. */
void lua_watchdog_forget(const struct lua_watch *w);

#endif

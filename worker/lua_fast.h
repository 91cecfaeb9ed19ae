/* worker/lua_fast.h: the hot path of a Lua class, in Lua, compiled by LuaJIT.
 *
 * The message dispatcher and ws:send, ws:sendv, obj:open_count are Lua code calling C through
 * the FFI, so that one message is one trace with direct C calls instead of a classic C API call
 * per method and per argument. Scripts cannot reach the ffi and jit libraries: only this code
 * holds them. It also sets the rule that keeps compiled code interruptible: a trace that would
 * not return to the interpreter (a loop, recursion, a link to another trace) is dropped as soon
 * as it is compiled, and its function interpreted from then on (logged as lua_trace_dropped),
 * so that the time limit's hook, which compiled code never calls, is reached. */
#ifndef DURO_LUA_FAST_H
#define DURO_LUA_FAST_H

#include <luajit-2.1/lua.h>

#include "worker/lua_api.h"

/* Turns the JIT compiler on with that rule, and replaces the socket and object methods named
 * above in the metatables lua_api_open made. Call from lua_api_open, protected. Returns the
 * registry ref of the dispatcher maker (see lua_api_open). */
int lua_fast_open(lua_State *L, struct lua_api_ev *ev);

#endif

/* worker/class_lua.h: classes written in Lua (LuaJIT): a [class NAME] section with
 * `script = FILE.lua` becomes a struct duro_class whose callbacks call the functions of the
 * table the script returns (construct, destroy, on_connect, on_message, on_close, on_error,
 * on_alarm, on_request; each optional). The API the script sees is in worker/lua_api.h.
 *
 * One Lua state per class per worker: classes do not share globals, memory or a failure, the
 * [lua] memory_max_bytes bound is per state (a custom lua_Alloc that refuses past it), and a
 * reload swaps one whole state, so the old code's memory goes back at once. The JIT is off:
 * LuaJIT does not run hooks inside compiled traces, so a compiled endless loop could not be
 * stopped; the interpreter runs the instruction-count hook that enforces [lua] event_max_ms.
 *
 * Errors stay inside the object: a Lua error, a callback over event_max_ms or an allocation past
 * memory_max_bytes fails the event: it is logged with the traceback and the object's name, the
 * event's socket is closed with 1011, and the object is reset (its Lua state dropped without
 * destroy; construct runs again on its next event). The worker and other objects carry on. */
#ifndef DURO_CLASS_LUA_H
#define DURO_CLASS_LUA_H

#include <stddef.h>

#include "common/conf.h"
#include "duro/class.h"

/* Loads `k->script` as the class `k->name`, with the [lua] limits of `c`. Returns the class
 * (freed by nothing: it lives as long as the worker), or NULL with `err` holding one line that
 * names the file (and the line, for a syntax or run-time error of the script). */
struct duro_class *class_lua_load(const struct conf_class *k, const struct conf *c, char *err,
                                  size_t err_cap);

/* A config reload: when the script's bytes (or its path) changed, loads the new code in a new
 * Lua state; on success every live object of the class runs destroy in the old state and is
 * constructed by the new code at its next event (no socket closes). Returns 0 (unchanged or
 * reloaded) or -1 with `err` set, the old code staying in service. */
int class_lua_reload(struct duro_class *cls, const struct conf_class *k, const struct conf *c,
                     char *err, size_t err_cap) __attribute__((warn_unused_result));

/* True when `cls` was made by class_lua_load. */
int class_lua_is(const struct duro_class *cls);

#endif

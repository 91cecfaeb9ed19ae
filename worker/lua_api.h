/* worker/lua_api.h: the class API (include/duro/class.h) as a Lua class sees it.
 *
 * Handles. A socket (`ws`), an object (`obj`) and a response (`res`) reach Lua as small
 * userdata that hold the C pointer; duro clears the pointer when the C lifetime ends, and a
 * method called on a cleared handle raises a Lua error (it never touches freed memory):
 *   - a socket handle from on_message/on_close/on_error/obj:sockets() lives while its object is
 *     live and the socket open: it is cleared after on_close or on_error, and when the object
 *     hibernates or is reset. The `ws` of on_connect is valid during on_connect only (the socket
 *     is not open yet; it appears in obj:sockets() once accepted).
 *   - an object handle lives from construct until destroy (or a reset).
 *   - a response handle lives during the callback that received or found it (obj:response(id)).
 * Methods return their value (true when there is none) or, for a negative DURO_E* code,
 * nil and the code's name ("ENOSYS", "ELIMIT", ...). */
#ifndef DURO_LUA_API_H
#define DURO_LUA_API_H

#include <luajit-2.1/lua.h>

#include "duro/class.h"

struct lua_class;

/* One live object of a Lua class, owned by class_lua (the object's C-level state pointer). */
struct lua_rec {
    struct lua_class *lc;
    struct duro_object *obj;
    int ref;                     /* registry: the object's record table, or LUA_NOREF */
    int failed;                  /* construct failed: the next event fails without Lua */
    int has_temp;                /* response handles to clear when the event ends */
    struct lua_rec *prev, *next; /* the class's live objects */
};

/* The handles' metatables (registry names). */
#define MT_SOCKET "duro.socket"
#define MT_OBJECT "duro.object"

/* Slots of a record table (lua_fast's dispatcher reads 1 to 3 too). */
#define LUA_REC_OBJ 1   /* the object handle */
#define LUA_REC_STATE 2 /* what construct returned */
#define LUA_REC_SOCKS 3 /* light userdata (struct duro_socket *) -> its socket handle */
#define LUA_REC_TEMP 4  /* handles to clear when the current event ends (responses) */

struct lua_sock_ud {
    struct duro_socket *ws; /* NULL once cleared */
};

struct lua_obj_ud {
    struct duro_object *obj; /* NULL once cleared */
    struct lua_rec *r;
    const uint32_t *open_count; /* class_api_open_count_at(obj), read by lua_fast.c */
};

struct lua_res_ud {
    struct duro_response *res; /* NULL once cleared */
};

/* What the message dispatcher reads through the FFI: the message of the event (C fills it
 * before calling the dispatcher). */
struct lua_api_ev {
    const char *data;
    size_t len;
    double gen; /* changes as a message event starts and ends: a message view of an older
                 * value is stale (lua_fast.c) */
};

/* Opens the sandboxed libraries (base without load/loadstring/dofile/loadfile/print/newproxy,
 * string, table, math, bit, os.time/clock/date; no io, debug, jit, ffi or package: the jit and
 * ffi libraries are opened for duro's own Lua code only), the handle metatables and the global
 * `duro` (close codes, duro.log, duro.valid_utf8), turns the JIT compiler on with the rule that
 * keeps compiled code interruptible (a trace that would not return to the interpreter is
 * dropped and its function interpreted). Call once per state, protected. Returns the registry
 * ref of a function that, given the script's on_message, returns the message dispatcher:
 * dispatcher(record, light userdata ws, binary) with the message in `ev`. */
int lua_api_open(lua_State *L, struct lua_api_ev *ev);

/* Pushes a new object handle for `r`. */
void lua_api_push_object(lua_State *L, struct lua_rec *r);

/* Pushes the socket handle of `ws`, cached in the record table at stack index `rec` (so one
 * socket is one handle while the object is live). */
void lua_api_push_socket(lua_State *L, int rec, struct duro_socket *ws);

/* Pushes an uncached socket handle (on_connect's) and returns it, for the caller to clear. */
struct lua_sock_ud *lua_api_push_temp_socket(lua_State *L, struct duro_socket *ws);

/* Pushes a response handle, remembered in the record at `rec` to be cleared at the event's end. */
void lua_api_push_response(lua_State *L, struct lua_rec *r, int rec, struct duro_response *res);

/* Clears every handle of the record table at stack index `rec` (object, sockets, responses). */
void lua_api_clear_record(lua_State *L, int rec);

/* Clears the handle of `ws` in the record table at `rec` and forgets it. */
void lua_api_forget_socket(lua_State *L, int rec, struct duro_socket *ws);

/* Clears the responses of the event that ends. */
void lua_api_clear_temp(lua_State *L, int rec);

/* The name of a DURO_E* code ("EINVAL"), or "EUNKNOWN". */
const char *lua_api_err_name(int code);

/* For the methods of lua_api and lua_storage. lua_api_fail pushes nil and the name of the
 * negative DURO_E* `code` and returns 2; lua_api_result returns lua_api_fail(rc) for a
 * negative rc, else pushes true and returns 1. lua_api_obj returns the object of the handle
 * at index 1, raising a Lua error for a wrong or cleared handle (never NULL). */
int lua_api_fail(lua_State *L, int code);
int lua_api_result(lua_State *L, int rc);
struct duro_object *lua_api_obj(lua_State *L);

#endif

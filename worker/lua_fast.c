/* worker/lua_fast.c: a Lua class's hot path compiled by LuaJIT, and the rule that keeps the
 * compiled code interruptible (lua_fast.h). */
#include "worker/lua_fast.h"

#include <luajit-2.1/lauxlib.h>
#include <luajit-2.1/lualib.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "worker/session.h"

/* The classic API costs a C call per method and per argument check; the message dispatcher
 * and the methods of nearly every message (ws:send, ws:sendv, obj:open_count) are written in
 * Lua below instead, so that LuaJIT compiles the callback, the dispatcher and these methods into
 * one trace with direct C calls. Whatever the fast path does not handle (a wrong argument, a
 * cleared handle, a number that is not a small integer, a send that would fail the socket) is
 * handed to the C method, which gives the same result or error. No C function called through
 * the FFI may call back into Lua: the send that would run on_error goes through the C method. */

/* One part of ws:sendv as the Lua side fills it: a string (p, len) or a number (p NULL). */
struct lua_part {
    const char *p;
    size_t len;
    double num;
};

#define FAST_PARTS 6

/* 1 (let the C method do it) for a number that Lua would not print as a plain integer. */
static int fast_sendv(struct duro_socket *ws, int binary, const struct lua_part *parts, int n)
{
    struct duro_iov iov[FAST_PARTS];
    char num[FAST_PARTS][24];
    if (n < 0 || n > FAST_PARTS) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        if (parts[i].p != NULL) {
            iov[i].base = parts[i].p;
            iov[i].len = parts[i].len;
            continue;
        }
        double v = parts[i].num;
        /* Lua writes numbers with "%.14g": integers below 1e14 in plain digits */
        if (!(v > -1e14 && v < 1e14) || v != (double)(int64_t)v || (v == 0 && signbit(v))) {
            return 1;
        }
        int64_t k = (int64_t)v;
        uint64_t u = k < 0 ? (uint64_t)-k : (uint64_t)k;
        char *end = num[i] + sizeof num[i];
        char *d = end;
        do {
            *--d = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (k < 0) {
            *--d = '-';
        }
        iov[i].base = d;
        iov[i].len = (size_t)(end - d);
    }
    return class_api_sendv_quiet(ws, binary ? DURO_BINARY : DURO_TEXT, iov, (size_t)n);
}

/* new_socket(record, light userdata): the cached handle of a socket new to the record. */
static int l_new_socket(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TLIGHTUSERDATA);
    lua_api_push_socket(L, 1, lua_touserdata(L, 2));
    return 1;
}

/* dropped(linktype, where): the trace policy dropped a trace (fast_lua). */
static int l_dropped(lua_State *L)
{
    log_info("lua", "event=lua_trace_dropped link=%s where=%s (interpreted from now on)",
             luaL_optstring(L, 1, "?"), luaL_optstring(L, 2, "?"));
    return 0;
}

static const char fast_lua[] =
    "local ffi, ev, p_sendv, S, O, stok, otok, new_sock, names, traceinfo,\n"
    "      funcinfo, attach, jit_off, jit_flush, dropped = ...\n"
    "ffi.cdef[[\n"
    "struct duro_lua_part { const char *p; size_t len; double num; };\n"
    "struct duro_lua_ev { const char *data; size_t len; double gen; };\n"
    "struct duro_lua_view { const char *p; size_t len; double gen; };\n"
    "struct duro_lua_sock { void *ws; };\n"
    "struct duro_lua_obj { void *obj; void *r; const uint32_t *open_count; };\n"
    "]]\n"
    "local cast, fstring, type, select, getmetatable = ffi.cast, ffi.string, type, select,\n"
    "      getmetatable\n"
    "local c_sendv = cast('int (*)(void *, int, struct duro_lua_part *, int)', p_sendv)\n"
    "ev = cast('struct duro_lua_ev *', ev)\n"
    "local parts = ffi.new('struct duro_lua_part[6]')\n"
    "local sockp = ffi.typeof('struct duro_lua_sock *')\n"
    "local objp = ffi.typeof('struct duro_lua_obj *')\n"
    "local slow_sendv, slow_send, slow_count = S.sendv, S.send, O.open_count\n"
    "local slow_broadcast = O.broadcast\n"
    "local istype = ffi.istype\n"
    /* A message view (a class with message_view = true): the message's bytes in the worker's
     * read buffer, valid during its on_message only. No string is made unless asked for: the
     * message string's hashing, interning and sweeping was most of what a Lua message cost
     * more than a C one (BENCHMARKS.md). */
    "local view_t\n"
    "local function live(v)\n"
    "  if v.gen ~= ev.gen then\n"
    "    error('message view used after its on_message returned (keep tostring(data))', 3)\n"
    "  end\n"
    "end\n"
    "local function vstr(v) live(v) return fstring(v.p, v.len) end\n"
    "local function plain(v) if istype(view_t, v) then return vstr(v) end return v end\n"
    "view_t = ffi.metatype('struct duro_lua_view', {\n"
    "  __len = function(v) live(v) return tonumber(v.len) end,\n"
    "  __tostring = vstr,\n"
    "  __concat = function(a, b) return plain(a) .. plain(b) end,\n"
    "  __eq = function(a, b) return plain(a) == plain(b) end,\n"
    "  __index = { string = vstr, sub = function(v, i, j) return vstr(v):sub(i, j) end },\n"
    "})\n"
    "local function plains(...)\n"
    "  local n = select('#', ...)\n"
    "  local t = { ... }\n"
    "  for i = 1, n do t[i] = plain(t[i]) end\n"
    "  return unpack(t, 1, n)\n"
    "end\n"
    "local function put(i, v)\n"
    "  local p = parts[i]\n"
    "  if type(v) == 'string' then p.p = v; p.len = #v; return true end\n"
    "  if type(v) == 'cdata' and istype(view_t, v) and v.gen == ev.gen then\n"
    "    p.p = v.p; p.len = v.len; return true\n"
    "  end\n"
    "  if type(v) == 'number' then p.p = nil; p.num = v; return true end\n"
    "  return false\n"
    "end\n"
    "local function sock(ws)\n"
    "  if type(ws) ~= 'userdata' or getmetatable(ws) ~= stok then return nil end\n"
    "  local u = cast(sockp, ws).ws\n"
    "  if u == nil then return nil end\n"
    "  return u\n"
    "end\n"
    "function S.sendv(ws, binary, ...)\n"
    "  local u, n = sock(ws), select('#', ...)\n"
    "  if u == nil or n > 6 then return slow_sendv(ws, binary, plains(...)) end\n"
    "  local a, b, c, d, e, f = ...\n"
    "  if (n >= 1 and not put(0, a)) or (n >= 2 and not put(1, b)) or\n"
    "     (n >= 3 and not put(2, c)) or (n >= 4 and not put(3, d)) or\n"
    "     (n >= 5 and not put(4, e)) or (n >= 6 and not put(5, f)) then\n"
    "    return slow_sendv(ws, binary, plains(...))\n"
    "  end\n"
    "  local rc = c_sendv(u, binary and 1 or 0, parts, n)\n"
    "  if rc == 0 then return true end\n"
    "  if rc > 0 then return slow_sendv(ws, binary, plains(...)) end\n"
    "  return nil, names[-rc] or 'EUNKNOWN'\n"
    "end\n"
    "function S.send(ws, data, binary)\n"
    "  local u = sock(ws)\n"
    "  if u == nil or not put(0, data) then return slow_send(ws, plain(data), binary) end\n"
    "  local rc = c_sendv(u, binary and 1 or 0, parts, 1)\n"
    "  if rc == 0 then return true end\n"
    "  if rc > 0 then return slow_send(ws, plain(data), binary) end\n"
    "  return nil, names[-rc] or 'EUNKNOWN'\n"
    "end\n"
    "function O.broadcast(o, data, ...) return slow_broadcast(o, plain(data), ...) end\n"
    "function O.open_count(o)\n"
    "  if type(o) ~= 'userdata' or getmetatable(o) ~= otok then return slow_count(o) end\n"
    "  local h = cast(objp, o)\n"
    "  if h.obj == nil then return slow_count(o) end\n"
    "  return h.open_count[0]\n"
    "end\n"
    /* A trace that does not end by leaving to the interpreter (a loop, a recursion, a link
     * to another trace) could run in machine code for ever, where no hook is ever called: the
     * function it ends in is interpreted from now on, and the trace is dropped. */
    "local root_of = {}\n"
    "attach(function(what, tr, func, pc, otr)\n"
    "  if what == 'start' then root_of[tr] = otr and (root_of[otr] or otr) or tr return end\n"
    "  if what ~= 'stop' then return end\n"
    "  local info = traceinfo(tr)\n"
    "  local lt = info and info.linktype\n"
    "  if lt == 'return' or lt == 'interpreter' or lt == 'stitch' then return end\n"
    "  if type(func) == 'function' then\n"
    "    jit_off(func)\n"
    "    local fi = funcinfo(func)\n"
    "    dropped(lt, fi and fi.loc)\n"
    "  end\n"
    "  jit_flush(root_of[tr] or tr)\n"
    "end, 'trace')\n"
    "return function(cb, view)\n"
    "  if view then\n"
    "    return function(rec, wsp, binary)\n"
    "      local s = rec[3][wsp]\n"
    "      if s == nil then s = new_sock(rec, wsp) end\n"
    "      cb(rec[1], rec[2], s, view_t(ev.data, ev.len, ev.gen), binary)\n"
    "    end\n"
    "  end\n"
    "  return function(rec, wsp, binary)\n"
    "    local s = rec[3][wsp]\n"
    "    if s == nil then s = new_sock(rec, wsp) end\n"
    "    cb(rec[1], rec[2], s, fstring(ev.data, ev.len), binary)\n"
    "  end\n"
    "end\n";

static void push_fn(lua_State *L, void (*fn)(void))
{
    void *p;
    memcpy(&p, &fn, sizeof p);
    lua_pushlightuserdata(L, p);
}

static void push_field(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        luaL_error(L, "LuaJIT has no '%s'", k);
    }
}

int lua_fast_open(lua_State *L, struct lua_api_ev *ev)
{
    int base = lua_gettop(L);
    lua_pushcfunction(L, luaopen_jit); /* turns the compiler on (CPU detection) */
    lua_call(L, 0, 0);
    lua_getglobal(L, LUA_JITLIBNAME);
    int jit = lua_gettop(L);
    luaL_checktype(L, jit, LUA_TTABLE);
    lua_pushnil(L);
    lua_setglobal(L, LUA_JITLIBNAME);
    lua_getfield(L, LUA_REGISTRYINDEX, "_PRELOAD");
    push_field(L, -1, LUA_JITLIBNAME ".util");
    lua_call(L, 0, 1);
    int util = lua_gettop(L);
    if (luaL_loadbuffer(L, fast_lua, sizeof fast_lua - 1, "=duro") != 0) {
        lua_error(L);
    }
    lua_pushcfunction(L, luaopen_ffi);
    lua_call(L, 0, 1);
    lua_pushlightuserdata(L, ev);
    push_fn(L, (void (*)(void))fast_sendv);
    luaL_getmetatable(L, MT_SOCKET);
    int smt = lua_gettop(L);
    luaL_getmetatable(L, MT_OBJECT);
    int omt = lua_gettop(L);
    lua_getfield(L, smt, "__index");
    lua_getfield(L, omt, "__index");
    lua_getfield(L, smt, "__metatable");
    lua_getfield(L, omt, "__metatable");
    lua_remove(L, omt);
    lua_remove(L, smt);
    lua_pushcfunction(L, l_new_socket);
    lua_newtable(L);
    for (int code = -1; code >= -11; code--) {
        lua_pushstring(L, lua_api_err_name(code));
        lua_rawseti(L, -2, -code);
    }
    push_field(L, util, "traceinfo");
    push_field(L, util, "funcinfo");
    push_field(L, jit, "attach");
    push_field(L, jit, "off");
    push_field(L, jit, "flush");
    lua_pushcfunction(L, l_dropped);
    lua_call(L, 15, 1);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_settop(L, base);
    return ref;
}


#include "worker/lua_api.h"

#include <luajit-2.1/lauxlib.h>
#include <luajit-2.1/lualib.h>
#include <time.h>

#include "common/duro_limits.h"
#include "common/log.h"
#include "common/utf8.h"
#include "worker/lua_fast.h"
#include "worker/lua_storage.h"
#include "worker/session.h"

#define MT_RESPONSE "duro.response"

const char *lua_api_err_name(int code)
{
    static const char *const names[] = {
        "OK", "EINVAL", "ESTATE", "ELIMIT", "ENOMEM", "ESLOW", "ENOTFOUND",
        "ESTORAGE", "ESQL", "EREFUSED", "ETOOBIG", "ENOSYS",
    };
    if (code > 0 || -code >= (int)(sizeof names / sizeof names[0])) {
        return "EUNKNOWN";
    }
    return names[-code];
}

int lua_api_fail(lua_State *L, int code)
{
    lua_pushnil(L);
    lua_pushstring(L, lua_api_err_name(code));
    return 2;
}

int lua_api_result(lua_State *L, int rc)
{
    if (rc < 0) {
        return lua_api_fail(L, rc);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- handles ---- */

/* The handle at index 1, whose metatable must be the method's upvalue (the methods of each
 * metatable carry it): cheaper than luaL_checkudata's lookup by name. */
static void *check(lua_State *L, const char *what)
{
    void *u = lua_touserdata(L, 1);
    if (u == NULL || !lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(1))) {
        luaL_typerror(L, 1, what);
    }
    lua_pop(L, 1);
    return u;
}

static struct duro_socket *sock(lua_State *L)
{
    struct lua_sock_ud *u = check(L, MT_SOCKET);
    if (u->ws == NULL) {
        luaL_error(L, "socket handle used after its socket closed or its object hibernated");
    }
    return u->ws;
}

static struct lua_obj_ud *objud(lua_State *L)
{
    struct lua_obj_ud *u = check(L, MT_OBJECT);
    if (u->obj == NULL) {
        luaL_error(L, "object handle used after its object hibernated or was reset");
    }
    return u;
}

struct duro_object *lua_api_obj(lua_State *L)
{
    return objud(L)->obj;
}

static struct duro_response *resp(lua_State *L)
{
    struct lua_res_ud *u = check(L, MT_RESPONSE);
    if (u->res == NULL) {
        luaL_error(L, "response handle used after it was sent or its callback returned");
    }
    return u->res;
}

static void set_mt(lua_State *L, const char *name)
{
    luaL_getmetatable(L, name);
    lua_setmetatable(L, -2);
}

void lua_api_push_object(lua_State *L, struct lua_rec *r)
{
    struct lua_obj_ud *u = lua_newuserdata(L, sizeof *u);
    u->obj = r->obj;
    u->r = r;
    u->open_count = class_api_open_count_at(r->obj);
    set_mt(L, MT_OBJECT);
}

void lua_api_push_socket(lua_State *L, int rec, struct duro_socket *ws)
{
    lua_rawgeti(L, rec, LUA_REC_SOCKS);
    lua_pushlightuserdata(L, ws);
    lua_rawget(L, -2);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        struct lua_sock_ud *u = lua_newuserdata(L, sizeof *u);
        u->ws = ws;
        set_mt(L, MT_SOCKET);
        lua_pushlightuserdata(L, ws);
        lua_pushvalue(L, -2);
        lua_rawset(L, -4);
    }
    lua_remove(L, -2);
}

struct lua_sock_ud *lua_api_push_temp_socket(lua_State *L, struct duro_socket *ws)
{
    struct lua_sock_ud *u = lua_newuserdata(L, sizeof *u);
    u->ws = ws;
    set_mt(L, MT_SOCKET);
    return u;
}

void lua_api_push_response(lua_State *L, struct lua_rec *r, int rec, struct duro_response *res)
{
    r->has_temp = 1;
    struct lua_res_ud *u = lua_newuserdata(L, sizeof *u);
    u->res = res;
    set_mt(L, MT_RESPONSE);
    lua_rawgeti(L, rec, LUA_REC_TEMP);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (int)lua_objlen(L, -2) + 1);
    lua_pop(L, 1);
}

void lua_api_clear_temp(lua_State *L, int rec)
{
    lua_rawgeti(L, rec, LUA_REC_TEMP);
    int n = (int)lua_objlen(L, -1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        struct lua_res_ud *u = lua_touserdata(L, -1);
        if (u != NULL) {
            u->res = NULL;
        }
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawseti(L, -2, i);
    }
    lua_pop(L, 1);
}

void lua_api_forget_socket(lua_State *L, int rec, struct duro_socket *ws)
{
    lua_rawgeti(L, rec, LUA_REC_SOCKS);
    lua_pushlightuserdata(L, ws);
    lua_rawget(L, -2);
    struct lua_sock_ud *u = lua_touserdata(L, -1);
    if (u != NULL) {
        u->ws = NULL;
    }
    lua_pop(L, 1);
    lua_pushlightuserdata(L, ws);
    lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

void lua_api_clear_record(lua_State *L, int rec)
{
    lua_rawgeti(L, rec, LUA_REC_OBJ);
    struct lua_obj_ud *o = lua_touserdata(L, -1);
    if (o != NULL) {
        o->obj = NULL;
    }
    lua_pop(L, 1);
    lua_rawgeti(L, rec, LUA_REC_SOCKS);
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
        struct lua_sock_ud *u = lua_touserdata(L, -1);
        if (u != NULL) {
            u->ws = NULL;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_api_clear_temp(L, rec);
}

/* Pushes the record table of the object handle at index 1 (for methods that return sockets). */
static void push_record(lua_State *L, struct lua_obj_ud *u)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->r->ref);
    if (!lua_istable(L, -1)) {
        luaL_error(L, "object handle used after its object was reset");
    }
}

static const char *opt_lstring(lua_State *L, int i, size_t *len)
{
    if (lua_isnoneornil(L, i)) {
        *len = 0;
        return NULL;
    }
    return luaL_checklstring(L, i, len);
}

/* ---- socket methods ---- */

static int s_send(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    return lua_api_result(L, duro_send(ws, lua_toboolean(L, 3) ? DURO_BINARY : DURO_TEXT, data, len));
}

/* ws:sendv(binary, part, ...): one message made of the parts (strings or numbers), framed once
 * without joining them in Lua first (duro_sendv). */
static int s_sendv(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    int binary = lua_toboolean(L, 2) ? DURO_BINARY : DURO_TEXT;
    int n = lua_gettop(L) - 2;
    struct duro_iov iov[DURO_LUA_SENDV_MAX_PARTS];
    if (n > (int)DURO_LUA_SENDV_MAX_PARTS) {
        return luaL_error(L, "sendv: at most %d parts", (int)DURO_LUA_SENDV_MAX_PARTS);
    }
    for (int i = 0; i < n; i++) {
        iov[i].base = luaL_checklstring(L, 3 + i, &iov[i].len);
    }
    return lua_api_result(L, duro_sendv(ws, binary, iov, (size_t)n));
}

static int s_close(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    lua_Integer code = luaL_optinteger(L, 2, DURO_CLOSE_NORMAL);
    size_t len;
    const char *reason = luaL_optlstring(L, 3, "", &len);
    if (code < 0 || code > 65535) {
        return lua_api_fail(L, DURO_EINVAL);
    }
    return lua_api_result(L, duro_close(ws, (uint16_t)code, reason, len));
}

static int s_add_tag(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    size_t len;
    const char *tag = luaL_checklstring(L, 2, &len);
    return lua_api_result(L, duro_socket_add_tag(ws, tag, len));
}

static int s_remove_tag(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    size_t len;
    const char *tag = luaL_checklstring(L, 2, &len);
    return lua_api_result(L, duro_socket_remove_tag(ws, tag, len));
}

static int s_tags(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    struct duro_iov tags[DURO_TAGS_MAX_COUNT];
    size_t n = duro_socket_tags(ws, tags, DURO_TAGS_MAX_COUNT);
    n = n < DURO_TAGS_MAX_COUNT ? n : DURO_TAGS_MAX_COUNT;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushlstring(L, tags[i].base, tags[i].len);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int s_set_protocol(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    size_t len;
    const char *p = luaL_checklstring(L, 2, &len);
    return lua_api_result(L, duro_socket_set_protocol(ws, p, len));
}

static int s_attachment(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    size_t len;
    const void *p = duro_socket_attachment(ws, &len);
    if (p == NULL || len == 0) {
        lua_pushnil(L);
    } else {
        lua_pushlstring(L, p, len);
    }
    return 1;
}

static int s_set_attachment(lua_State *L)
{
    struct duro_socket *ws = sock(L);
    size_t len;
    const char *p = opt_lstring(L, 2, &len);
    return lua_api_result(L, duro_socket_set_attachment(ws, p, len));
}

static int s_buffered(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)duro_socket_buffered(sock(L)));
    return 1;
}

static int s_auto_response_time(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)duro_socket_auto_response_time(sock(L)));
    return 1;
}

static int s_tostring(lua_State *L)
{
    struct lua_sock_ud *u = luaL_checkudata(L, 1, MT_SOCKET);
    lua_pushfstring(L, "duro.socket(%p)", (void *)u->ws);
    return 1;
}

static const luaL_Reg socket_methods[] = {
    { "send", s_send },
    { "sendv", s_sendv },
    { "close", s_close },
    { "add_tag", s_add_tag },
    { "remove_tag", s_remove_tag },
    { "tags", s_tags },
    { "set_protocol", s_set_protocol },
    { "attachment", s_attachment },
    { "set_attachment", s_set_attachment },
    { "buffered", s_buffered },
    { "auto_response_time", s_auto_response_time },
    { NULL, NULL },
};

/* ---- object methods ---- */

static int o_open_count(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)duro_object_open_count(lua_api_obj(L)));
    return 1;
}

static int o_sockets(lua_State *L)
{
    struct lua_obj_ud *u = objud(L);
    size_t tlen;
    const char *tag = opt_lstring(L, 2, &tlen);
    size_t n = duro_object_sockets(u->obj, tag, tlen, NULL, 0);
    struct duro_socket **v = lua_newuserdata(L, (n ? n : 1) * sizeof *v); /* freed by the GC */
    n = duro_object_sockets(u->obj, tag, tlen, v, n);
    push_record(L, u);
    int rec = lua_gettop(L);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_api_push_socket(L, rec, v[i]);
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

static int o_broadcast(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t len, tlen;
    const char *data = luaL_checklstring(L, 2, &len);
    int binary = lua_toboolean(L, 3) ? DURO_BINARY : DURO_TEXT;
    const char *tag = opt_lstring(L, 4, &tlen);
    lua_pushinteger(L, (lua_Integer)duro_object_broadcast(o, tag, tlen, binary, data, len));
    return 1;
}

static int o_set_auto_response(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t qlen, rlen;
    const char *q = opt_lstring(L, 2, &qlen);
    const char *r = q != NULL ? luaL_checklstring(L, 3, &rlen) : NULL;
    if (r == NULL) {
        rlen = 0;
    }
    return lua_api_result(L, duro_object_set_auto_response(o, q, qlen, r, rlen));
}

static int o_add_auto_response(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t qlen, rlen;
    const char *q = luaL_checklstring(L, 2, &qlen);
    const char *r = luaL_checklstring(L, 3, &rlen);
    int qk = lua_toboolean(L, 4) ? DURO_BINARY : DURO_TEXT;
    int rk = lua_toboolean(L, 5) ? DURO_BINARY : DURO_TEXT;
    return lua_api_result(L, duro_object_add_auto_response(o, qk, q, qlen, rk, r, rlen));
}

static int o_remove_auto_response(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t qlen;
    const char *q = luaL_checklstring(L, 2, &qlen);
    int qk = lua_toboolean(L, 3) ? DURO_BINARY : DURO_TEXT;
    return lua_api_result(L, duro_object_remove_auto_response(o, qk, q, qlen));
}

static int o_name(lua_State *L)
{
    size_t len;
    const char *n = duro_object_name(lua_api_obj(L), &len);
    lua_pushlstring(L, n, len);
    return 1;
}

static int o_id(lua_State *L)
{
    lua_pushstring(L, duro_object_id(lua_api_obj(L)));
    return 1;
}

static int o_response(lua_State *L)
{
    struct lua_obj_ud *u = objud(L);
    lua_Number id = luaL_checknumber(L, 2);
    struct duro_response *res = duro_object_response(u->obj, (uint64_t)id);
    if (res == NULL) {
        return lua_api_fail(L, DURO_ENOTFOUND);
    }
    push_record(L, u);
    lua_api_push_response(L, u->r, lua_gettop(L), res);
    return 1;
}

static int o_tostring(lua_State *L)
{
    struct lua_obj_ud *u = luaL_checkudata(L, 1, MT_OBJECT);
    if (u->obj == NULL) {
        lua_pushstring(L, "duro.object(expired)");
        return 1;
    }
    size_t len;
    const char *n = duro_object_name(u->obj, &len);
    lua_pushfstring(L, "duro.object(%s)", n); /* the name is NUL-terminated in the worker */
    return 1;
}

static const luaL_Reg object_methods[] = {
    { "open_count", o_open_count },
    { "sockets", o_sockets },
    { "broadcast", o_broadcast },
    { "set_auto_response", o_set_auto_response },
    { "add_auto_response", o_add_auto_response },
    { "remove_auto_response", o_remove_auto_response },
    { "name", o_name },
    { "id", o_id },
    { "response", o_response },
    { NULL, NULL },
};

/* ---- responses ---- */

static int r_header(lua_State *L)
{
    struct duro_response *res = resp(L);
    size_t nlen, vlen;
    const char *n = luaL_checklstring(L, 2, &nlen);
    const char *v = luaL_checklstring(L, 3, &vlen);
    return lua_api_result(L, duro_response_header(res, n, nlen, v, vlen));
}

static int r_send(lua_State *L)
{
    struct duro_response *res = resp(L);
    lua_Integer status = luaL_checkinteger(L, 2);
    size_t len;
    const char *body = luaL_optlstring(L, 3, "", &len);
    if (status < 0 || status > 65535) {
        return lua_api_fail(L, DURO_EINVAL);
    }
    int rc = duro_response_send(res, (uint16_t)status, body, len);
    if (rc == 0) {
        ((struct lua_res_ud *)lua_touserdata(L, 1))->res = NULL; /* invalid once sent */
    }
    return lua_api_result(L, rc);
}

static int r_id(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)duro_response_id(resp(L)));
    return 1;
}

static int r_tostring(lua_State *L)
{
    lua_pushstring(L, "duro.response");
    return 1;
}

static const luaL_Reg response_methods[] = {
    { "header", r_header },
    { "send", r_send },
    { "id", r_id },
    { NULL, NULL },
};

/* ---- the sandbox ---- */

static int l_log(lua_State *L)
{
    size_t len;
    const char *msg = luaL_checklstring(L, 1, &len);
    int n = len > 1024 ? 1024 : (int)len;
    log_info("lua", "event=log msg=\"%.*s\"", n, msg);
    return 0;
}

/* duro.now_ms(): the wall clock in milliseconds since the epoch, the clock alarms are set in
 * (os.time() tells only seconds). */
static int l_now_ms(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec * 1000.0 + (lua_Number)(ts.tv_nsec / 1000000));
    return 1;
}

static int l_valid_utf8(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, utf8_valid((const uint8_t *)s, len));
    return 1;
}

static void new_mt(lua_State *L, const char *name, const luaL_Reg *methods,
                   const luaL_Reg *more, lua_CFunction tostring)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, methods, 1);
    if (more != NULL) {
        lua_pushvalue(L, -2);
        luaL_setfuncs(L, more, 1);
    }
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, tostring);
    lua_setfield(L, -2, "__tostring");
    /* Scripts cannot reach or change the metatable: getmetatable gives a token, which the
     * methods written in Lua compare (a script can give the token to a table, not to a
     * userdata, and the methods check both). */
    lua_newtable(L);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

static void open_lib(lua_State *L, const char *name, lua_CFunction open)
{
    lua_pushcfunction(L, open);
    lua_pushstring(L, name);
    lua_call(L, 1, 0);
}

static void drop_field(lua_State *L, const char *table, const char *field)
{
    lua_getglobal(L, table);
    lua_pushnil(L);
    lua_setfield(L, -2, field);
    lua_pop(L, 1);
}

int lua_api_open(lua_State *L, struct lua_api_ev *ev)
{
    open_lib(L, "", luaopen_base);
    open_lib(L, LUA_TABLIBNAME, luaopen_table);
    open_lib(L, LUA_STRLIBNAME, luaopen_string);
    open_lib(L, LUA_MATHLIBNAME, luaopen_math);
    open_lib(L, LUA_BITLIBNAME, luaopen_bit);
    open_lib(L, LUA_OSLIBNAME, luaopen_os);
    /* Bytecode is not verified by LuaJIT (load, loadstring), files are the worker's (dofile,
     * loadfile), stdout is not a log (print), os may only tell the time, and newproxy is the
     * one way to give Lua values a __gc, which would run outside any time limit. */
    static const char *const base_out[] = { "load", "loadstring", "dofile", "loadfile", "print",
                                            "module", "require", "newproxy" };
    for (size_t i = 0; i < sizeof base_out / sizeof base_out[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, base_out[i]);
    }
    static const char *const os_out[] = { "execute", "exit", "getenv", "remove", "rename",
                                          "setlocale", "tmpname" };
    for (size_t i = 0; i < sizeof os_out / sizeof os_out[0]; i++) {
        drop_field(L, LUA_OSLIBNAME, os_out[i]);
    }
    new_mt(L, MT_SOCKET, socket_methods, NULL, s_tostring);
    new_mt(L, MT_OBJECT, object_methods, lua_storage_methods, o_tostring);
    new_mt(L, MT_RESPONSE, response_methods, NULL, r_tostring);

    lua_newtable(L);
    static const struct {
        const char *name;
        unsigned code;
    } codes[] = {
        { "CLOSE_NORMAL", DURO_CLOSE_NORMAL },
        { "CLOSE_GOING_AWAY", DURO_CLOSE_GOING_AWAY },
        { "CLOSE_PROTOCOL", DURO_CLOSE_PROTOCOL },
        { "CLOSE_UNSUPPORTED", DURO_CLOSE_UNSUPPORTED },
        { "CLOSE_NO_STATUS", DURO_CLOSE_NO_STATUS },
        { "CLOSE_ABNORMAL", DURO_CLOSE_ABNORMAL },
        { "CLOSE_INVALID_DATA", DURO_CLOSE_INVALID_DATA },
        { "CLOSE_POLICY", DURO_CLOSE_POLICY },
        { "CLOSE_TOO_BIG", DURO_CLOSE_TOO_BIG },
        { "CLOSE_INTERNAL", DURO_CLOSE_INTERNAL },
        { "CLOSE_RESTART", DURO_CLOSE_RESTART },
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        lua_pushinteger(L, (lua_Integer)codes[i].code);
        lua_setfield(L, -2, codes[i].name);
    }
    lua_pushcfunction(L, l_log);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, l_valid_utf8);
    lua_setfield(L, -2, "valid_utf8");
    lua_pushcfunction(L, l_now_ms);
    lua_setfield(L, -2, "now_ms");
    lua_setglobal(L, "duro");
    return lua_fast_open(L, ev);
}

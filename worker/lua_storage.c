/* worker/lua_storage.c: the storage and alarm methods of a Lua class's object handle (the
 * C API's duro_storage_*, duro_sql, duro_transaction and duro_alarm_*, in Lua's idiom). */
#include "worker/lua_storage.h"

#include <luajit-2.1/lauxlib.h>
#include <string.h>

#include "worker/lua_api.h"

static int o_get(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t klen, vlen;
    const char *k = luaL_checklstring(L, 2, &klen);
    const void *v;
    int rc = duro_storage_get(o, k, klen, &v, &vlen);
    if (rc < 0) {
        return lua_api_fail(L, rc);
    }
    lua_pushlstring(L, v, vlen);
    return 1;
}

static int o_put(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t klen, vlen;
    const char *k = luaL_checklstring(L, 2, &klen);
    const char *v = luaL_checklstring(L, 3, &vlen);
    return lua_api_result(L, duro_storage_put(o, k, klen, v, vlen));
}

static int o_delete(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t klen;
    const char *k = luaL_checklstring(L, 2, &klen);
    int rc = duro_storage_delete(o, k, klen);
    if (rc < 0) {
        return lua_api_fail(L, rc);
    }
    lua_pushboolean(L, rc == 1);
    return 1;
}

static int o_delete_all(lua_State *L)
{
    return lua_api_result(L, duro_storage_delete_all(lua_api_obj(L)));
}

static int o_storage_size(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)duro_storage_size(lua_api_obj(L)));
    return 1;
}

/* Rows reach Lua from inside a C iteration (storage list, SQL): each one is added by a
 * protected call, so a Lua error (memory) never unwinds through the storage engine's frames.
 * The error is kept and raised once the iteration has returned. */
struct collect {
    lua_State *L;
    int out;       /* stack index of the result table */
    int failed;
    const void *k;
    size_t klen;
    const void *v;
    size_t vlen;
    const struct duro_sql_value *cols;
    const char *const *names;
    size_t ncols;
};

static void push_sql_value(lua_State *L, const struct duro_sql_value *v)
{
    switch (v->type) {
    case DURO_SQL_INTEGER:
        lua_pushnumber(L, (lua_Number)v->i);
        break;
    case DURO_SQL_REAL:
        lua_pushnumber(L, v->r);
        break;
    case DURO_SQL_TEXT:
    case DURO_SQL_BLOB:
        lua_pushlstring(L, v->p, v->len);
        break;
    default:
        lua_pushboolean(L, 0); /* SQL NULL: false, so that the row keeps the column */
        break;
    }
}

static int add_row(lua_State *L)
{
    struct collect *c = lua_touserdata(L, 1);
    lua_createtable(L, 0, c->cols != NULL ? (int)c->ncols : 2);
    if (c->cols != NULL) {
        for (size_t i = 0; i < c->ncols; i++) {
            push_sql_value(L, &c->cols[i]);
            lua_setfield(L, -2, c->names[i]);
        }
    } else {
        lua_pushlstring(L, c->k, c->klen);
        lua_setfield(L, -2, "key");
        lua_pushlstring(L, c->v, c->vlen);
        lua_setfield(L, -2, "value");
    }
    lua_rawseti(L, c->out, (int)lua_objlen(L, c->out) + 1);
    return 0;
}

static int collect_row(struct collect *c)
{
    lua_State *L = c->L;
    lua_pushcfunction(L, add_row);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 1, 0, 0) != 0) {
        c->failed = lua_gettop(L); /* the error message stays on the stack */
        return 1;
    }
    return 0;
}

static int on_kv(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    struct collect *c = arg;
    c->k = key;
    c->klen = key_len;
    c->v = val;
    c->vlen = val_len;
    return collect_row(c);
}

static int on_row(void *arg, const struct duro_sql_value *cols, const char *const *names,
                  size_t ncols)
{
    struct collect *c = arg;
    c->cols = cols;
    c->names = names;
    c->ncols = ncols;
    return collect_row(c);
}

static const char *opt_field(lua_State *L, int t, const char *name, size_t *len)
{
    lua_getfield(L, t, name);
    const char *s = lua_isnil(L, -1) ? NULL : luaL_checklstring(L, -1, len);
    if (s == NULL) {
        *len = 0;
    }
    lua_pop(L, 1); /* the string stays referenced by the table */
    return s;
}

static int o_list(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    struct duro_list_opts opts = { 0 };
    if (lua_istable(L, 2)) {
        opts.prefix = opt_field(L, 2, "prefix", &opts.prefix_len);
        opts.start = opt_field(L, 2, "start", &opts.start_len);
        opts.end = opt_field(L, 2, "end", &opts.end_len);
        lua_getfield(L, 2, "start_after");
        opts.start_after = lua_toboolean(L, -1);
        lua_getfield(L, 2, "reverse");
        opts.reverse = lua_toboolean(L, -1);
        lua_getfield(L, 2, "limit");
        opts.limit = (size_t)luaL_optinteger(L, -1, 0);
        lua_pop(L, 3);
    }
    lua_newtable(L);
    struct collect c = { .L = L, .out = lua_gettop(L) };
    int rc = duro_storage_list(o, &opts, on_kv, &c);
    if (c.failed) {
        lua_pushvalue(L, c.failed);
        lua_error(L);
    }
    if (rc < 0) {
        return lua_api_fail(L, rc);
    }
    lua_settop(L, c.out);
    return 1;
}

/* obj:sql(query, ...): the rows (tables keyed by column name; SQL NULL is false) and the
 * number of rows changed. */
static int o_sql(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    size_t qlen;
    const char *q = luaL_checklstring(L, 2, &qlen);
    int np = lua_gettop(L) - 2;
    struct duro_sql_value *params = lua_newuserdata(L, (np > 0 ? (size_t)np : 1) * sizeof *params);
    for (int i = 0; i < np; i++) {
        struct duro_sql_value *v = &params[i];
        memset(v, 0, sizeof *v);
        int t = lua_type(L, 3 + i);
        if (t == LUA_TNUMBER) {
            lua_Number d = lua_tonumber(L, 3 + i);
            if (d == (lua_Number)(int64_t)d) {
                v->type = DURO_SQL_INTEGER;
                v->i = (int64_t)d;
            } else {
                v->type = DURO_SQL_REAL;
                v->r = d;
            }
        } else if (t == LUA_TSTRING) {
            v->type = DURO_SQL_TEXT;
            v->p = lua_tolstring(L, 3 + i, &v->len);
        } else if (t == LUA_TBOOLEAN) {
            v->type = DURO_SQL_INTEGER;
            v->i = lua_toboolean(L, 3 + i);
        } else if (t != LUA_TNIL) {
            return luaL_argerror(L, 3 + i, "SQL parameters are numbers, strings, booleans or nil");
        }
    }
    lua_newtable(L);
    struct collect c = { .L = L, .out = lua_gettop(L) };
    int rc = duro_sql_exec(o, q, qlen, params, (size_t)np, on_row, &c);
    if (c.failed) {
        lua_pushvalue(L, c.failed);
        lua_error(L);
    }
    if (rc < 0) {
        return lua_api_fail(L, rc);
    }
    lua_settop(L, c.out);
    lua_pushinteger(L, rc);
    return 2;
}

struct txn {
    lua_State *L;
    int fn;
    int failed; /* stack index of the error, or 0 */
};

static int run_txn(struct duro_object *o, void *arg)
{
    (void)o;
    struct txn *t = arg;
    lua_State *L = t->L;
    lua_pushvalue(L, t->fn);
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        t->failed = lua_gettop(L);
        return 1;
    }
    int keep = !(lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    return keep ? 0 : 1;
}

/* obj:transaction(fn): fn(obj) runs in a nested transaction; it is rolled back when fn raises
 * an error (raised again afterwards) or returns false. */
static int o_transaction(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    struct txn t = { .L = L, .fn = 2 };
    int rc = duro_storage_transaction(o, run_txn, &t);
    if (t.failed) {
        lua_pushvalue(L, t.failed);
        lua_error(L);
    }
    if (rc < 0) {
        return lua_api_fail(L, rc);
    }
    lua_pushboolean(L, rc == 0);
    return 1;
}

static int o_set_alarm(lua_State *L)
{
    struct duro_object *o = lua_api_obj(L);
    return lua_api_result(L, duro_alarm_set(o, (int64_t)luaL_checknumber(L, 2)));
}

static int o_get_alarm(lua_State *L)
{
    int64_t t = duro_alarm_get(lua_api_obj(L));
    if (t == 0) {
        lua_pushnil(L);
    } else {
        lua_pushnumber(L, (lua_Number)t);
    }
    return 1;
}

static int o_delete_alarm(lua_State *L)
{
    return lua_api_result(L, duro_alarm_delete(lua_api_obj(L)));
}

const luaL_Reg lua_storage_methods[] = {
    { "get", o_get },
    { "put", o_put },
    { "delete", o_delete },
    { "delete_all", o_delete_all },
    { "list", o_list },
    { "sql", o_sql },
    { "transaction", o_transaction },
    { "storage_size", o_storage_size },
    { "set_alarm", o_set_alarm },
    { "get_alarm", o_get_alarm },
    { "delete_alarm", o_delete_alarm },
    { NULL, NULL },
};

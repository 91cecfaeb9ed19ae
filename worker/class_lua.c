#include "worker/class_lua.h"

#include <luajit-2.1/lauxlib.h>
#include <luajit-2.1/lua.h>
#include <luajit-2.1/luajit.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/duro_limits.h"
#include "common/log.h"
#include "worker/lua_api.h"
#include "worker/lua_watchdog.h"
#include "worker/object.h"

enum cb {
    CB_CONSTRUCT,
    CB_DESTROY,
    CB_CONNECT,
    CB_MESSAGE,
    CB_CLOSE,
    CB_ERROR,
    CB_ALARM,
    CB_REQUEST,
    CB_COUNT,
};

static const char *const cb_names[CB_COUNT] = {
    "construct", "destroy", "on_connect", "on_message", "on_close", "on_error", "on_alarm",
    "on_request",
};

/* One Lua state and what duro keeps of it. The allocator's user data, so that the hook and the
 * message handler find it from the lua_State alone. */
struct lua_vm {
    lua_State *L;
    size_t used;           /* bytes the state holds */
    size_t max;            /* [lua] memory_max_bytes */
    int cb[CB_COUNT];      /* registry refs of the script's callbacks, LUA_NOREF when absent */
    int tramp;             /* registry ref of the event trampoline */
    int maker;             /* registry ref of lua_api's dispatcher maker */
    int msgh;              /* registry refs of the message handler (traceback) */
    int message;           /* and of the message dispatcher (nil without on_message) */
    unsigned depth;        /* protected calls in progress (a callback may cause another) */
    volatile int in_msgh;  /* the message handler runs: the hook lets it finish */
    struct lua_watch watch; /* [lua] event_max_ms, and whether the event ran past it */
    int oom;               /* an allocation was refused */
    struct lua_api_ev ev;  /* the message, for the dispatcher (FFI) */
    uint64_t hash;         /* XXH64 of the script's bytes */
    lua_Alloc inner;       /* LuaJIT's own allocator, which vm_alloc wraps */
    void *inner_ud;
};

struct lua_class {
    struct duro_class cls; /* first: the worker holds this pointer */
    char name[DURO_CLASS_NAME_MAX_BYTES + 1];
    char path[DURO_CLASS_PATH_MAX_BYTES + 1];
    struct lua_vm *vm;
    struct lua_rec *recs;  /* live objects */
};

/* Fixed slots at the bottom of each state's stack (events push above them), for the outermost
 * event: a nested one (a callback that a C method caused) runs above a C function's frame, whose
 * index 1 is that function's own, and takes the registry's. */
#define SLOT_MSGH 1 /* the message handler (traceback) */
#define SLOT_MESSAGE 2 /* the message dispatcher (lua_api), or nil without on_message */

/* One event, handed to the trampoline as light userdata. */
struct ev {
    enum cb kind;
    struct lua_rec *r;
    struct duro_socket *ws;
    int binary;
    const uint8_t *data;
    size_t len;
    uint16_t code;
    int clean;
    const struct duro_connect_info *info;
    const struct duro_request *req;
    struct duro_response *res;
    uint32_t retry;
    int ret;                    /* on_connect's status, on_alarm's result */
    struct lua_sock_ud *temp;   /* on_connect's socket handle */
};

static struct lua_vm *vm_of(lua_State *L)
{
    void *ud;
    (void)lua_getallocf(L, &ud);
    return ud;
}

/* Refuses to grow the state past vm->max. Frees and shrinks always succeed, so the collector
 * and lua_close never fail. The memory itself comes from LuaJIT's allocator (faster than
 * malloc for the small strings every message makes): this only counts and refuses. */
static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_vm *vm = ud;
    if (ptr == NULL) {
        osize = 0;
    }
    if (nsize == 0) {
        (void)vm->inner(vm->inner_ud, ptr, osize, 0);
        vm->used -= osize;
        return NULL;
    }
    if (nsize > osize && vm->used - osize + nsize > vm->max) {
        vm->oom = 1;
        return NULL;
    }
    void *p = vm->inner(vm->inner_ud, ptr, osize, nsize);
    if (p == NULL) {
        vm->oom = 1;
        return NULL;
    }
    vm->used = vm->used - osize + nsize;
    return p;
}

/* ---- the time limit (lua_watchdog.h): the hook the watchdog sets ---- */

static void hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lua_vm *vm = vm_of(L);
    if (vm->in_msgh) {
        return;
    }
    if (!vm->watch.timed_out) {
        lua_sethook(L, NULL, 0, 0); /* set late, by a tick racing the end of the event */
        return;
    }
    /* The hook stays set to every instruction: a script that catches the error (pcall, a
     * coroutine) is interrupted at the first instruction of its handler, so the error unwinds
     * to duro however deep the catching goes. */
    luaL_error(L, "callback ran past [lua] event_max_ms (%d ms)", (int)vm->watch.max_ms);
}

/* An outermost event of `vm` starts: the watchdog times it. */
static struct lua_watch *wd_enter(struct lua_vm *vm)
{
    vm->oom = 0;
    return lua_watchdog_enter(&vm->watch);
}

static int msgh(lua_State *L)
{
    struct lua_vm *vm = vm_of(L);
    vm->in_msgh = 1;
    const char *m = lua_tostring(L, 1);
    luaL_traceback(L, L, m != NULL ? m : "(error object is not a string)", 1);
    vm->in_msgh = 0;
    return 1;
}

/* ---- records: one per live object ---- */

static struct lua_class *class_of(struct duro_object *obj)
{
    return (struct lua_class *)(void *)((struct object *)obj)->cls;
}

/* Pushes the record table of `r`, creating it (and running construct) when the object has none
 * since it woke, was reset or was reloaded. The ref is taken before construct runs, so that a
 * failed construct's handles are cleared by the reset. */
static int push_record(lua_State *L, struct lua_vm *vm, struct lua_rec *r)
{
    if (r->ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
        return lua_gettop(L);
    }
    lua_createtable(L, 4, 0);
    int rec = lua_gettop(L);
    lua_newtable(L);
    lua_rawseti(L, rec, LUA_REC_SOCKS);
    lua_newtable(L);
    lua_rawseti(L, rec, LUA_REC_TEMP);
    lua_api_push_object(L, r);
    lua_rawseti(L, rec, LUA_REC_OBJ);
    lua_pushvalue(L, rec);
    r->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (vm->cb[CB_CONSTRUCT] != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cb[CB_CONSTRUCT]);
        lua_rawgeti(L, rec, LUA_REC_OBJ);
        lua_call(L, 1, 1);
        lua_rawseti(L, rec, LUA_REC_STATE);
    }
    return rec;
}

/* Drops the object's Lua state: its handles are cleared and the collector frees the rest. No
 * allocation happens here (unref and clearing reuse existing slots). */
static void reset(struct lua_rec *r)
{
    if (r->ref == LUA_NOREF) {
        return;
    }
    lua_State *L = r->lc->vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    if (lua_istable(L, -1)) {
        lua_api_clear_record(L, lua_gettop(L));
    }
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, r->ref);
    r->ref = LUA_NOREF;
    r->has_temp = 0;
}

static void push_headers(lua_State *L, const struct duro_header *h, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 2, 0);
        lua_pushlstring(L, h[i].name, h[i].name_len);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, h[i].value, h[i].value_len);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (int)i + 1);
    }
}

static void push_info(lua_State *L, const struct duro_connect_info *info)
{
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, info->target, info->target_len);
    lua_setfield(L, -2, "target");
    lua_pushlstring(L, info->protocols, info->protocols_len);
    lua_setfield(L, -2, "protocols");
    lua_pushstring(L, info->peer);
    lua_setfield(L, -2, "peer");
    lua_pushstring(L, info->client != NULL ? info->client : info->peer);
    lua_setfield(L, -2, "client");
    push_headers(L, info->headers, info->headers != NULL ? info->nheaders : 0);
    lua_setfield(L, -2, "headers");
}

static void push_request(lua_State *L, const struct duro_request *q)
{
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, q->method, q->method_len);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, q->target, q->target_len);
    lua_setfield(L, -2, "target");
    lua_pushlstring(L, (const char *)q->body, q->body_len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, q->client != NULL ? q->client : "");
    lua_setfield(L, -2, "client");
    push_headers(L, q->headers, q->nheaders);
    lua_setfield(L, -2, "headers");
}

/* Runs in protected mode: everything that allocates (the record, handles, arguments) happens
 * here, so a refused allocation is an error of the event, never a panic of the worker. */
static int tramp(lua_State *L)
{
    struct ev *e = lua_touserdata(L, 1);
    struct lua_vm *vm = e->r->lc->vm;
    int rec = push_record(L, vm, e->r);
    if (e->kind == CB_CONSTRUCT || vm->cb[e->kind] == LUA_NOREF) {
        return 0;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cb[e->kind]);
    lua_rawgeti(L, rec, LUA_REC_OBJ);
    lua_rawgeti(L, rec, LUA_REC_STATE);
    int nargs = 2;
    switch (e->kind) {
    case CB_CONNECT:
        e->temp = lua_api_push_temp_socket(L, e->ws);
        push_info(L, e->info);
        nargs += 2;
        break;
    case CB_MESSAGE:
        lua_api_push_socket(L, rec, e->ws);
        lua_pushlstring(L, (const char *)e->data, e->len);
        lua_pushboolean(L, e->binary);
        nargs += 3;
        break;
    case CB_CLOSE:
        lua_api_push_socket(L, rec, e->ws);
        lua_pushinteger(L, e->code);
        lua_pushlstring(L, (const char *)e->data, e->len);
        lua_pushboolean(L, e->clean);
        nargs += 4;
        break;
    case CB_ERROR:
        lua_api_push_socket(L, rec, e->ws);
        lua_pushinteger(L, e->code);
        nargs += 2;
        break;
    case CB_ALARM:
        lua_pushinteger(L, (lua_Integer)e->retry);
        nargs += 1;
        break;
    case CB_REQUEST:
        push_request(L, e->req);
        lua_api_push_response(L, e->r, rec, e->res);
        nargs += 2;
        break;
    default:
        break;
    }
    lua_call(L, nargs, 1);
    if (e->kind == CB_CONNECT) {
        /* nil, true or 0 accept; a number refuses with that status; false refuses with 403 */
        if (lua_isnumber(L, -1)) {
            e->ret = (int)lua_tointeger(L, -1);
        } else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
            e->ret = 403;
        }
    } else if (e->kind == CB_ALARM) {
        e->ret = !(lua_isnil(L, -1) || (lua_isboolean(L, -1) && lua_toboolean(L, -1)) ||
                   (lua_isnumber(L, -1) && lua_tonumber(L, -1) == 0));
    }
    return 0;
}

/* Writes the error on one log line: newlines of the traceback become " | ". */
static void report(struct lua_class *lc, struct lua_rec *r, const struct ev *e, int rc,
                   const char *msg)
{
    struct lua_vm *vm = lc->vm;
    char flat[1536];
    size_t n = 0;
    for (const char *p = msg != NULL ? msg : "?"; *p != '\0' && n + 4 < sizeof flat; p++) {
        if (*p == '\n') {
            memcpy(flat + n, " | ", 3);
            n += 3;
        } else if (*p == '"' || *p == '\t') {
            flat[n++] = *p == '"' ? '\'' : ' ';
        } else {
            flat[n++] = *p;
        }
    }
    flat[n] = '\0';
    size_t name_len;
    const char *name = duro_object_name(r->obj, &name_len);
    const char *why = vm->watch.timed_out                   ? "timeout"
                      : rc == LUA_ERRMEM || vm->oom ? "memory"
                                                    : "error";
    log_error("lua", "event=lua_error class=%s obj=%s/%.*s callback=%s why=%s heap_bytes=%zu "
              "err=\"%s\"", lc->name, lc->name, (int)name_len, name, cb_names[e->kind], why,
              vm->used, flat);
}

/* Runs one event of `r`. Returns 0, or -1 when it failed: logged, and the object reset. */
static int run(struct lua_rec *r, struct ev *e)
{
    struct lua_class *lc = r->lc;
    struct lua_vm *vm = lc->vm;
    lua_State *L = vm->L;
    int top = lua_gettop(L);
    struct lua_watch *prev = NULL;
    if (vm->depth++ == 0) {
        prev = wd_enter(vm);
    }
    int rc, h = SLOT_MSGH;
    if (vm->depth > 1) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->msgh);
        h = lua_gettop(L);
    }
    if (e->kind == CB_MESSAGE && r->ref != LUA_NOREF) {
        /* The hot path: the dispatcher (Lua, compiled) reads the message through the FFI.
         * Nothing pushed here allocates, so nothing can fail outside the protected call. */
        vm->ev.data = (const char *)e->data;
        vm->ev.len = e->len;
        vm->ev.gen++; /* a view made for this message is live until the next change */
        if (vm->depth > 1) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, vm->message);
        } else {
            lua_pushvalue(L, SLOT_MESSAGE);
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
        lua_pushlightuserdata(L, e->ws);
        lua_pushboolean(L, e->binary);
        rc = lua_pcall(L, 3, 0, h);
        vm->ev.gen++; /* and stale from now on */
    } else {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->tramp);
        lua_pushlightuserdata(L, e);
        rc = lua_pcall(L, 1, 0, h);
    }
    vm->depth--;
    vm->in_msgh = 0;
    if (vm->depth == 0) {
        lua_watchdog_leave(&vm->watch, prev);
    }
    if (e->temp != NULL) {
        e->temp->ws = NULL; /* still on the stack's unused part: not collected before this */
    }
    if (rc != 0) {
        report(lc, r, e, rc, lua_tostring(L, -1));
    }
    lua_settop(L, top);
    int closing = e->kind == CB_CLOSE || e->kind == CB_ERROR;
    if (rc == 0 && r->ref != LUA_NOREF && (closing || (r->has_temp && vm->depth == 0))) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
        int rec = lua_gettop(L);
        if (closing) {
            lua_api_forget_socket(L, rec, e->ws);
        }
        if (vm->depth == 0) {
            lua_api_clear_temp(L, rec);
            r->has_temp = 0;
        }
        lua_settop(L, top);
    }
    if (rc != 0) {
        reset(r);
        if (vm->depth == 0) {
            lua_gc(L, LUA_GCCOLLECT, 0); /* give the failed event's garbage back at once */
        }
        return -1;
    }
    return 0;
}

static void fail_socket(struct duro_socket *ws)
{
    static const char reason[] = "internal error";
    (void)duro_close(ws, DURO_CLOSE_INTERNAL, reason, sizeof reason - 1);
}

/* A record that cannot take the event: its construct failed (that failure is this event's). */
static int unusable(struct lua_rec *r)
{
    if (r == NULL) {
        return 1;
    }
    if (r->failed) {
        r->failed = 0;
        return 1;
    }
    return 0;
}

/* ---- the struct duro_class callbacks ---- */

static void *l_construct(struct duro_object *obj)
{
    struct lua_rec *r = calloc(1, sizeof *r);
    if (r == NULL) {
        log_error("lua", "event=oom where=construct");
        return NULL;
    }
    r->lc = class_of(obj);
    r->obj = obj;
    r->ref = LUA_NOREF;
    r->next = r->lc->recs;
    if (r->next != NULL) {
        r->next->prev = r;
    }
    r->lc->recs = r;
    struct ev e = { .kind = CB_CONSTRUCT, .r = r };
    if (run(r, &e) != 0) {
        r->failed = 1;
    }
    return r;
}

static void l_destroy(struct duro_object *obj, void *state)
{
    (void)obj;
    struct lua_rec *r = state;
    if (r == NULL) {
        return;
    }
    if (r->ref != LUA_NOREF && r->lc->vm->cb[CB_DESTROY] != LUA_NOREF) {
        struct ev e = { .kind = CB_DESTROY, .r = r };
        (void)run(r, &e); /* a failing destroy is logged; the state goes anyway */
    }
    reset(r);
    if (r->prev != NULL) {
        r->prev->next = r->next;
    } else {
        r->lc->recs = r->next;
    }
    if (r->next != NULL) {
        r->next->prev = r->prev;
    }
    free(r);
}

static int l_on_connect(struct duro_object *obj, void *state, struct duro_socket *ws,
                        const struct duro_connect_info *info)
{
    (void)obj;
    struct lua_rec *r = state;
    if (unusable(r)) {
        return 500;
    }
    if (r->lc->vm->cb[CB_CONNECT] == LUA_NOREF) {
        return 0;
    }
    struct ev e = { .kind = CB_CONNECT, .r = r, .ws = ws, .info = info };
    if (run(r, &e) != 0) {
        return 500;
    }
    return e.ret;
}

static void l_on_message(struct duro_object *obj, void *state, struct duro_socket *ws, int binary,
                         const uint8_t *data, size_t len)
{
    (void)obj;
    struct lua_rec *r = state;
    if (unusable(r)) {
        fail_socket(ws);
        return;
    }
    if (r->lc->vm->cb[CB_MESSAGE] == LUA_NOREF) {
        return;
    }
    struct ev e = { .kind = CB_MESSAGE, .r = r, .ws = ws, .binary = binary, .data = data,
                    .len = len };
    if (run(r, &e) != 0) {
        fail_socket(ws);
    }
}

/* The socket's handle is cleared whether or not the script has the callback. */
static void forget(struct lua_rec *r, struct duro_socket *ws)
{
    if (r->ref == LUA_NOREF) {
        return;
    }
    lua_State *L = r->lc->vm->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->ref);
    lua_api_forget_socket(L, lua_gettop(L), ws);
    lua_pop(L, 1);
}

static void l_on_close(struct duro_object *obj, void *state, struct duro_socket *ws, uint16_t code,
                       const char *reason, size_t reason_len, int was_clean)
{
    (void)obj;
    struct lua_rec *r = state;
    if (unusable(r)) {
        fail_socket(ws);
        return;
    }
    if (r->lc->vm->cb[CB_CLOSE] == LUA_NOREF) {
        forget(r, ws);
        return;
    }
    struct ev e = { .kind = CB_CLOSE, .r = r, .ws = ws, .code = code,
                    .data = (const uint8_t *)reason, .len = reason_len, .clean = was_clean };
    if (run(r, &e) != 0) {
        fail_socket(ws);
    }
}

static void l_on_error(struct duro_object *obj, void *state, struct duro_socket *ws, int code)
{
    (void)obj;
    struct lua_rec *r = state;
    if (unusable(r)) {
        return;
    }
    if (r->lc->vm->cb[CB_ERROR] == LUA_NOREF) {
        forget(r, ws);
        return;
    }
    struct ev e = { .kind = CB_ERROR, .r = r, .ws = ws, .code = (uint16_t)code };
    (void)run(r, &e);
}

static int l_on_alarm(struct duro_object *obj, void *state, uint32_t retry_count)
{
    (void)obj;
    struct lua_rec *r = state;
    if (unusable(r)) {
        return 1;
    }
    if (r->lc->vm->cb[CB_ALARM] == LUA_NOREF) {
        return 0;
    }
    struct ev e = { .kind = CB_ALARM, .r = r, .retry = retry_count };
    if (run(r, &e) != 0) {
        return 1;
    }
    return e.ret;
}

static void l_on_request(struct duro_object *obj, void *state, const struct duro_request *req,
                         struct duro_response *res)
{
    (void)obj;
    static const char body[] = "internal error\n";
    struct lua_rec *r = state;
    if (unusable(r) || r->lc->vm->cb[CB_REQUEST] == LUA_NOREF) {
        (void)duro_response_send(res, 500, body, sizeof body - 1);
        return;
    }
    struct ev e = { .kind = CB_REQUEST, .r = r, .req = req, .res = res };
    if (run(r, &e) != 0) {
        (void)duro_response_send(res, 500, body, sizeof body - 1);
    }
}

/* ---- loading ---- */

struct load {
    struct lua_vm *vm;
    const char *text;
    size_t len;
    const char *path;
};

static int setup(lua_State *L)
{
    struct load *ld = lua_touserdata(L, 1);
    struct lua_vm *vm = ld->vm;
    vm->maker = lua_api_open(L, &vm->ev);
    lua_pushcfunction(L, tramp);
    vm->tramp = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushfstring(L, "@%s", ld->path);
    if (luaL_loadbuffer(L, ld->text, ld->len, lua_tostring(L, -1)) != 0) {
        lua_error(L); /* "PATH:LINE: message" */
    }
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1)) {
        luaL_error(L, "%s: the script must return a table of callbacks, not a %s", ld->path,
                   luaL_typename(L, -1));
    }
    int t = lua_gettop(L);
    for (int i = 0; i < CB_COUNT; i++) {
        lua_getfield(L, t, cb_names[i]);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
        } else if (lua_isfunction(L, -1)) {
            vm->cb[i] = luaL_ref(L, LUA_REGISTRYINDEX);
        } else {
            luaL_error(L, "%s: '%s' must be a function, not a %s", ld->path, cb_names[i],
                       luaL_typename(L, -1));
        }
    }
    /* the fixed slots: vm_new puts them at the bottom of the stack */
    lua_pushcfunction(L, msgh);
    lua_getfield(L, t, "message_view"); /* on_message takes a view, not a string */
    int view = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (vm->cb[CB_MESSAGE] != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->maker);
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cb[CB_MESSAGE]);
        lua_pushboolean(L, view);
        lua_call(L, 2, 1);
    } else {
        lua_pushnil(L);
    }
    vm->message = luaL_ref(L, LUA_REGISTRYINDEX);
    vm->msgh = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static void vm_free(struct lua_vm *vm)
{
    lua_watchdog_forget(&vm->watch);
    if (vm->L != NULL) {
        /* LuaJIT frees its whole arena at close only when its own allocator is installed */
        lua_setallocf(vm->L, vm->inner, vm->inner_ud);
        lua_close(vm->L);
    }
    free(vm);
}

/* A new state running the script at `path`. Returns it, or NULL with `err` set. */
static struct lua_vm *vm_new(const char *name, const char *path, const struct conf *c, char *err,
                             size_t err_cap)
{
    char why[256];
    char *text = conf_read_file(path, why, sizeof why);
    if (text == NULL) {
        snprintf(err, err_cap, "[class %s] cannot read script '%s': %s", name, path, why);
        return NULL;
    }
    size_t len = strlen(text);
    struct lua_vm *vm = calloc(1, sizeof *vm);
    if (vm == NULL) {
        free(text);
        snprintf(err, err_cap, "[class %s] out of memory", name);
        return NULL;
    }
    for (int i = 0; i < CB_COUNT; i++) {
        vm->cb[i] = LUA_NOREF;
    }
    vm->max = c->lua_memory_max_bytes;
    vm->watch.max_ms = c->lua_event_max_ms;
    vm->hash = XXH64(text, len, 0);
    /* luaL_newstate, then our allocator around LuaJIT's own: lua_newstate(vm_alloc) works
     * too (GC64), but would put every allocation on malloc. What the state holds already is
     * counted from the collector's own count. */
    vm->L = luaL_newstate();
    if (vm->L == NULL) {
        free(text);
        free(vm);
        snprintf(err, err_cap, "[class %s] cannot create a Lua state", name);
        return NULL;
    }
    vm->inner = lua_getallocf(vm->L, &vm->inner_ud);
    vm->watch.L = vm->L;
    vm->watch.hook = hook;
    vm->used = (size_t)lua_gc(vm->L, LUA_GCCOUNT, 0) * 1024u +
               (size_t)lua_gc(vm->L, LUA_GCCOUNTB, 0);
    lua_setallocf(vm->L, vm_alloc, vm);
    struct load ld = { .vm = vm, .text = text, .len = len, .path = path };
    vm->depth = 1; /* the script's main chunk has the same time limit as a callback */
    struct lua_watch *prev = wd_enter(vm);
    int rc = lua_cpcall(vm->L, setup, &ld);
    vm->depth = 0;
    vm->in_msgh = 0;
    lua_watchdog_leave(&vm->watch, prev);
    if (vm->watch.timed_out && rc == 0) {
        rc = LUA_ERRRUN; /* the script caught the timeout and returned */
        lua_pushstring(vm->L, "the script's main chunk ran past [lua] event_max_ms");
    }
    free(text);
    if (rc != 0) {
        const char *m = lua_tostring(vm->L, -1);
        snprintf(err, err_cap, "[class %s] script refused: %s", name,
                 rc == LUA_ERRMEM ? "over [lua] memory_max_bytes" : m != NULL ? m : "?");
        vm_free(vm);
        return NULL;
    }
    lua_settop(vm->L, 0);
    lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->msgh);    /* SLOT_MSGH */
    lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->message); /* SLOT_MESSAGE */
    return vm;
}

int class_lua_is(const struct duro_class *cls)
{
    return cls->construct == l_construct;
}

struct duro_class *class_lua_load(const struct conf_class *k, const struct conf *c, char *err,
                                  size_t err_cap)
{
    struct lua_class *lc = calloc(1, sizeof *lc);
    if (lc == NULL) {
        snprintf(err, err_cap, "[class %s] out of memory", k->name);
        return NULL;
    }
    snprintf(lc->name, sizeof lc->name, "%s", k->name);
    snprintf(lc->path, sizeof lc->path, "%s", k->script);
    lc->vm = vm_new(lc->name, lc->path, c, err, err_cap);
    if (lc->vm == NULL) {
        free(lc);
        return NULL;
    }
    lc->cls = (struct duro_class){
        .api_version = DURO_CLASS_API_VERSION,
        .struct_size = sizeof(struct duro_class),
        .name = lc->name,
        .construct = l_construct,
        .destroy = l_destroy,
        .on_connect = l_on_connect,
        .on_message = l_on_message,
        .on_close = l_on_close,
        .on_error = l_on_error,
        .on_alarm = l_on_alarm,
        /* without on_request the route answers plain HTTP as a version 1 class would */
        .on_request = lc->vm->cb[CB_REQUEST] != LUA_NOREF ? l_on_request : NULL,
    };
    log_info("lua", "event=script_loaded class=%s script=%s heap_bytes=%zu", lc->name, lc->path,
             lc->vm->used);
    return &lc->cls;
}

int class_lua_reload(struct duro_class *cls, const struct conf_class *k, const struct conf *c,
                     char *err, size_t err_cap)
{
    struct lua_class *lc = (struct lua_class *)(void *)cls;
    struct lua_vm *old = lc->vm;
    old->max = c->lua_memory_max_bytes > old->used ? c->lua_memory_max_bytes : old->max;
    old->watch.max_ms = c->lua_event_max_ms;
    if (strcmp(k->script, lc->path) == 0) {
        char why[256];
        char *text = conf_read_file(k->script, why, sizeof why);
        uint64_t h = text != NULL ? XXH64(text, strlen(text), 0) : 0;
        free(text);
        if (text != NULL && h == old->hash) {
            return 0; /* unchanged: objects keep their state */
        }
    }
    struct lua_vm *vm = vm_new(lc->name, k->script, c, err, err_cap);
    if (vm == NULL) {
        return -1;
    }
    /* Hibernate every live object in the old code; the new code constructs each at its next
     * event. The objects stay live for the worker: no socket notices. */
    unsigned n = 0;
    for (struct lua_rec *r = lc->recs; r != NULL; r = r->next) {
        if (r->ref != LUA_NOREF && old->cb[CB_DESTROY] != LUA_NOREF) {
            struct ev e = { .kind = CB_DESTROY, .r = r };
            (void)run(r, &e);
        }
        reset(r);
        r->failed = 0;
        n++;
    }
    vm_free(old);
    lc->vm = vm;
    snprintf(lc->path, sizeof lc->path, "%s", k->script);
    lc->cls.on_request = vm->cb[CB_REQUEST] != LUA_NOREF ? l_on_request : NULL;
    log_info("lua", "event=script_reloaded class=%s script=%s objects=%u heap_bytes=%zu",
             lc->name, lc->path, n, vm->used);
    return 0;
}

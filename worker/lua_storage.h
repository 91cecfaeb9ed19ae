/* worker/lua_storage.h: the object handle's storage and alarm methods (obj:get, obj:put,
 * obj:delete, obj:delete_all, obj:list, obj:sql, obj:transaction, obj:storage_size,
 * obj:set_alarm, obj:get_alarm, obj:delete_alarm), which lua_api registers beside the
 * object's other methods. Each checks its handle (argument 1) like every method of lua_api. */
#ifndef DURO_LUA_STORAGE_H
#define DURO_LUA_STORAGE_H

#include <luajit-2.1/lauxlib.h>

extern const luaL_Reg lua_storage_methods[];

#endif

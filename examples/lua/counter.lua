-- examples/lua/counter.lua: the canonical durable object, storage and alarms, as a Lua class
-- (the C version is worker/class_counter.c; this one answers the same bytes). Route to it with
--   [class counter]
--   script = examples/lua/counter.lua
-- which replaces the built-in counter class. Text commands:
--   incr     -> key "n" + 1, answered with the new value once it is durable (the output gate:
--               the reply waits for the write's commit, without the script doing anything)
--   get      -> the value of "n"
--   alarm MS -> the object's alarm MS milliseconds from now, answered "ok"
--   fired    -> the value of "fired"
-- On the alarm, "fired" + 1 and "fired N" to every open socket. Anything else is closed with
-- 1003 "unsupported command". Storage outlives hibernation and restarts; the state construct
-- returns would not, so this class keeps none.
local counter = {}

-- The number under `key`, 0 when absent; nil and the error's name when storage failed.
local function read_count(obj, key)
    local v, err = obj:get(key)
    if v == nil then
        if err == "ENOTFOUND" then
            return 0
        end
        return nil, err
    end
    return tonumber(v:match("^%-?%d+")) or 0
end

-- Adds one to `key`: the new value, or nil and the error's name.
local function bump(obj, key)
    local v, err = read_count(obj, key)
    if v == nil then
        return nil, err
    end
    local ok, perr = obj:put(key, string.format("%d", v + 1))
    if not ok then
        return nil, perr
    end
    return v + 1
end

local function storage_failed(ws)
    ws:close(duro.CLOSE_INTERNAL, "storage failed")
end

-- The value, or the close that says storage failed.
local function reply(ws, v)
    if v == nil then
        return storage_failed(ws)
    end
    ws:send(string.format("%d", v))
end

function counter.on_message(obj, state, ws, data, binary)
    if not binary and data == "incr" then
        return reply(ws, bump(obj, "n"))
    end
    if not binary and (data == "get" or data == "fired") then
        return reply(ws, read_count(obj, data == "get" and "n" or "fired"))
    end
    local ms = not binary and data:match("^alarm (%d+)$")
    if ms and #ms <= 18 then
        if not obj:set_alarm(duro.now_ms() + tonumber(ms)) then
            return storage_failed(ws)
        end
        ws:send("ok")
        return
    end
    ws:close(duro.CLOSE_UNSUPPORTED, "unsupported command")
end

-- Returning false (or failing) has the alarm retried with backoff; nothing means done.
function counter.on_alarm(obj, state, retry_count)
    local v = bump(obj, "fired")
    if v == nil then
        return false
    end
    obj:broadcast(string.format("fired %d", v))
end

return counter

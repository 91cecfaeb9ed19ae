-- tests/integration/lua/nested.lua: an on_error that runs inside another callback (test_lua.py).
-- "victim" keeps that socket; "flood" sends it more than [websocket] outbound_max_bytes within
-- one event, so that duro fails it as a slow consumer from inside ws:send, and its on_error,
-- which raises, runs nested in this on_message.
local t = {}
local victim

function t.on_message(obj, state, ws, data)
    if data == "victim" then
        victim = ws
        ws:send("kept")
    elseif data == "flood" then
        local chunk = string.rep("x", 65536)
        for _ = 1, 8 do
            if not victim:send(chunk) then
                break
            end
        end
        ws:send("flooded")
    else
        ws:send("echo " .. data)
    end
end

function t.on_error(obj, state, ws, code)
    error("on_error raised on purpose, code " .. code)
end

return t

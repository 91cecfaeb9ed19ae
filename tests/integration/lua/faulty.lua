-- tests/integration/lua/faulty.lua: a Lua class that fails on demand (test_lua.py).
-- "error" raises, "loop" never returns ("catch" too, catching every error; "sum" counts to
-- 1e12; "tail" tail-calls itself for ever), "hog" allocates without end, "keep" stores the socket
-- handle in a global and "stale" uses the stored one, "now" answers duro.now_ms(); anything else
-- gets "n=N" (N counts the messages since construct).
local t = {}
local kept

function t.construct(obj)
    duro.log("construct " .. obj:name())
    return { n = 0 }
end

function t.destroy(obj, state)
    duro.log("destroy " .. obj:name() .. " n=" .. state.n)
end

local function explode()
    error("boom on purpose")
end

local function tail(n)
    return tail(n + 1)
end

function t.on_message(obj, state, ws, data, binary)
    state.n = state.n + 1
    if data == "error" then
        explode()
    elseif data == "loop" then
        while true do end
    elseif data == "sum" then
        local x = 0
        for i = 1, 1e12 do
            x = x + i
        end
        ws:send(tostring(x))
    elseif data == "tail" then
        tail(0)
    elseif data == "catch" then
        -- an endless loop that catches every error, the time limit's included
        while true do
            pcall(function() while true do end end)
        end
    elseif data == "hog" then
        local hoard = {}
        local chunk = string.rep("x", 4096)
        while true do
            hoard[#hoard + 1] = chunk .. #hoard
        end
    elseif data == "keep" then
        kept = ws
    elseif data == "stale" then
        kept:send("never")
    elseif data == "now" then
        ws:send(string.format("now %.0f", duro.now_ms()))
        return
    elseif data == "storage" then
        local v, err = obj:get("k")
        ws:send("storage " .. tostring(v) .. " " .. tostring(err))
        return
    end
    ws:send("n=" .. state.n .. (binary and " binary" or ""))
end

return t

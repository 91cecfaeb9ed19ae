-- tests/integration/lua/view.lua: a class whose on_message takes message views (test_lua.py):
-- "keep" stores the view in an upvalue and "stale" uses it in a later message; "len", "cat",
-- "many" (seven parts: ws:sendv's slow path), "bc" (obj:broadcast) and "sub" use one; anything
-- else is echoed as the view itself, text or binary.
local t = { message_view = true }
local kept
function t.on_message(obj, state, ws, data, binary)
    if data == "keep" then kept = data; ws:send("kept") return end
    if data == "stale" then ws:send(tostring(kept)) return end
    if data == "len" then ws:send("len " .. #data) return end
    if data == "cat" then ws:send("cat:" .. data) return end
    if data == "many" then ws:sendv(false, "a", data, "b", data, "c", data, "d") return end
    if data == "bc" then obj:broadcast(data) return end
    if data == "sub" then ws:send(data:sub(2, 3)) return end
    ws:send(data, binary)
end
return t

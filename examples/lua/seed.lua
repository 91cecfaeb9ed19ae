-- examples/lua/seed.lua: Cloudflare's "WebSocket Hibernation Server" example, byte for byte,
-- as a Lua class (the C version is worker/class_seed.c). Route to it with
--   [class seed]
--   script = examples/lua/seed.lua
-- which replaces the built-in seed class.
local seed = {
    -- on_message's `data` is a view of the message's bytes, not a string: it is passed on to
    -- ws:sendv as is, so no Lua string is made per message (tostring(data) makes one).
    message_view = true,
}

-- Every text message M gets "[Durable Object] message: M, connections: N"; a binary one gets
-- "[object ArrayBuffer]" in place of M (JavaScript's `${arrayBuffer}`); N is the number of the
-- object's open sockets. The parts are framed as one message without joining them first
-- (ws:sendv; `ws:send(a .. b .. c .. d)` says the same, and costs a string per message).
function seed.on_message(obj, state, ws, data, binary)
    if binary then
        data = "[object ArrayBuffer]"
    end
    ws:sendv(false, "[Durable Object] message: ", data, ", connections: ", obj:open_count())
end

-- A client's close with code C is answered with C and the seed's reason; a close without a
-- code with 1000. A dropped TCP connection has nobody to answer.
function seed.on_close(obj, state, ws, code, reason, was_clean)
    if not was_clean then
        return
    end
    if code == duro.CLOSE_NO_STATUS then
        code = duro.CLOSE_NORMAL
    end
    ws:close(code, "Durable Object is closing WebSocket")
end

return seed

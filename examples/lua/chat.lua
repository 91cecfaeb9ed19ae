-- examples/lua/chat.lua: a room (the C version is worker/class_chat.c). A message from one
-- socket goes to every open socket of the object, its sender included, framed once. Over plain
-- HTTP a backend can push into the room: POST broadcasts its body as one text message (400
-- unless it is UTF-8) and answers {"delivered":N}; GET answers {"open":N}; any other method
-- gets 405 with Allow.
--   [class room]
--   script = examples/lua/chat.lua
--   [route rooms]
--   match = path /rooms/{name}
--   class = room
--   object = {name}
local chat = {}

function chat.on_message(obj, state, ws, data, binary)
    obj:broadcast(data, binary)
end

local function answer(res, status, content_type, body)
    res:header("Content-Type", content_type)
    res:send(status, body)
end

function chat.on_request(obj, state, req, res)
    if req.method == "POST" then
        if not duro.valid_utf8(req.body) then
            answer(res, 400, "text/plain;charset=UTF-8", "the body is not valid UTF-8")
            return
        end
        local n = obj:broadcast(req.body)
        answer(res, 200, "application/json", '{"delivered":' .. n .. '}')
    elseif req.method == "GET" or req.method == "HEAD" then
        answer(res, 200, "application/json", '{"open":' .. obj:open_count() .. '}')
    else
        res:header("Allow", "GET, HEAD, POST")
        answer(res, 405, "text/plain;charset=UTF-8", "method not allowed")
    end
end

return chat

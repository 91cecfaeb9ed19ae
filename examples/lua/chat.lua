-- examples/lua/chat.lua: a room (the C version is worker/class_chat.c). A message from one
-- socket goes to every open socket of the object, its sender included, framed once.
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

return chat

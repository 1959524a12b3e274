-- The tables inside the module (orm.event, orm.func, the type objects) cannot be rewritten
-- either: a script must not be able to swap the ORM's own functions under another caller.
local orm = require("lualchemy")
local listen = orm.event and orm.event.listen
local evil = function() return "pwned" end
refused("orm.event.listen = evil", function() orm.event.listen = evil end)
refused("rawset(orm.event, 'listen', evil)", function() rawset(orm.event, "listen", evil) end)
refused("orm.func.count = evil", function() orm.func.count = evil end)
refused("rawset(orm.func, 'count', evil)", function() rawset(orm.func, "count", evil) end)
refused("orm.Integer.x = 1", function() orm.Integer.x = 1 end)
check("orm.event.listen is untouched", orm.event.listen == listen)
check("orm.func.count still builds SQL", pcall(function() return tostring(orm.func.count()) end))
print("DONE")

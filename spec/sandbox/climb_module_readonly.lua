-- The lualchemy module table is read-only: assignment, rawset and setmetatable are refused,
-- and require hands back the pristine module afterwards.
local orm = require("lualchemy")
local original_create_engine = orm.create_engine
local original_Session = orm.Session
local evil = function() return "pwned" end
refused("orm.create_engine = evil", function() orm.create_engine = evil end)
refused("orm.Session = nil", function() orm.Session = nil end)
refused("orm.new_field = 1", function() orm.new_field = 1 end)
refused("rawset(orm, 'create_engine', evil)", function() rawset(orm, "create_engine", evil) end)
refused("rawset(orm, 'text', evil)", function() rawset(orm, "text", evil) end)
refused("setmetatable(orm, {})", function() setmetatable(orm, { __index = function() return evil end }) end)
refused("getmetatable(orm).__index = evil", function() getmetatable(orm).__index = evil end)
refused("getmetatable(orm).__newindex = nil", function() getmetatable(orm).__newindex = nil end)
refused("table.insert(orm, 1)", function() table.insert(orm, evil) end)
check("orm.create_engine is untouched", orm.create_engine == original_create_engine)
check("orm.Session is untouched", orm.Session == original_Session)
check("orm.new_field does not exist", orm.new_field == nil)
check("orm.text is not the evil function", orm.text ~= evil)
local again = require("lualchemy")
check("require('lualchemy').create_engine is pristine", again.create_engine == original_create_engine)
check("require('lualchemy').Session is pristine", again.Session == original_Session)
check("the module still works", pcall(function()
  return orm.create_engine("sqlite://"):connect():execute(orm.text("SELECT 1")):scalar() == 1
end))
print("DONE")

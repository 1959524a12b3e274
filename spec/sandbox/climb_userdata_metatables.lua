-- Userdata metatables are protected: a script cannot read a usable metatable of an engine,
-- session, model class, instance, column, statement or error, nor replace or edit it.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
local m = M{ name = "x" }
s:add(m)
s:commit()
local _, err = pcall(function() s:get(M, "not a key") end)
local values = {
  engine = engine, session = s, model_class = M, instance = m, column = M.name,
  statement = orm.select(M), type = orm.Integer, table = M.__table__, error = err,
  metadata = Base.metadata, result = s:execute(orm.select(M)),
}
local evil = function() return "pwned" end
for name, v in pairs(values) do
  local mt = getmetatable(v)
  print(name .. ": " .. type(v) .. ", getmetatable gives a " .. type(mt))
  if type(mt) == "table" then
    refused(name .. ": mt.__index = evil", function() mt.__index = evil end)
    refused(name .. ": mt.__newindex = evil", function() mt.__newindex = evil end)
    refused(name .. ": mt.__gc = evil", function() mt.__gc = evil end)
    refused(name .. ": mt.__close = evil", function() mt.__close = evil end)
    refused(name .. ": rawset(mt, '__tostring', evil)", function() rawset(mt, "__tostring", evil) end)
    refused(name .. ": setmetatable(mt, ...)", function() setmetatable(mt, { __index = evil }) end)
  end
  if type(v) == "userdata" then
    refused(name .. ": setmetatable(v, {})", function() setmetatable(v, { __index = evil }) end)
    refused(name .. ": rawset(v, 'x', 1)", function() rawset(v, "x", 1) end)
    -- rawget on a userdata must error, not crash
    pcall(rawget, v, "x")
    pcall(rawlen, v)
  end
end
-- everything still behaves
check("m.name reads", m.name == "x", m.name)
check("the session still works", s:scalar(orm.select(orm.func.count(M.id))) == 1)
check("tostring(engine) is a string", type(tostring(engine)) == "string")
check("the error still has its kind", is_orm_error(err))
check("the statement still compiles", type(tostring(orm.select(M))) == "string")
print("DONE")

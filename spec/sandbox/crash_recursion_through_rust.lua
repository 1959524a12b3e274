-- Recursion that passes through Rust on every level: Lua's C-stack limit (or an ORM guard)
-- stops it with a catchable error before the host's native stack overflows.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local M
M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
  code = orm.Column(orm.String(50), { default = function(ctx) return M{ name = "again" }.code end }),
  loop = orm.hybrid_property(function(self) return self.loop end),
  __tostring = function(self) return "M:" .. tostring(self) end,
})
Base.metadata:create_all(engine)
M:validates("name", function(self, key, value)
  self.name = value .. "!"
  return value
end)
local s = orm.Session(engine)
local function try(name, fn)
  local ok, err = pcall(fn)
  print(name .. ": " .. show(ok) .. " " .. show(err))
  pcall(function() s:rollback() end)
end
try("a validator setting its own attribute", function() return M{ name = "a" } end)
try("a hybrid reading itself", function() local m = M{}; return m.loop end)
try("__tostring calling tostring(self)", function() return tostring(M{}) end)
try("a column default constructing its model", function() s:add(M{}); s:flush() end)
local N = Base:model("N", {
  __tablename__ = "n",
  id = orm.Column(orm.Integer, { primary_key = true }),
})
Base.metadata:create_all(engine)
orm.event.listen(N, "after_insert", function(mapper, connection, target)
  s:add(N{})
  s:flush()
end)
try("an after_insert listener flushing a new object into its session", function() s:add(N{}); s:commit() end)
orm.event.listen(N, "init", function(target, args) N{} end)
try("an init listener constructing its model", function() return N{} end)
local t = setmetatable({}, {})
getmetatable(t).__index = function(tt, k) return tt[k] end
try("a plain __index recursing", function() return t.x end)
try("string.gsub replacement recursing through gsub", function()
  local function rep(c) return (string.gsub("ab", ".", rep)) end
  return string.gsub("ab", ".", rep)
end)
try("table.sort comparator recursing through table.sort", function()
  local function cmp(a, b) table.sort({ 3, 2, 1 }, cmp); return a < b end
  table.sort({ 3, 2, 1 }, cmp)
end)
try("load of a deeply nested expression", function() return load("return " .. string.rep("(", 100000) .. "1" .. string.rep(")", 100000)) end)
try("load of deeply nested tables", function() return load("return " .. string.rep("{", 100000) .. string.rep("}", 100000)) end)
local P = Base:model("P", { __tablename__ = "p", id = orm.Column(orm.Integer, { primary_key = true }) })
Base.metadata:create_all(engine)
local s2 = orm.Session(engine)
local ok, err = pcall(function() s2:add(P{}); s2:commit(); return s2:scalar(orm.select(orm.func.count(P.id))) end)
check("a fresh session still works", ok and err == 1, err)
print("DONE")

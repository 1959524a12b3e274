-- Hostile __tostring metamethods on model instances and plain values, wherever the host or
-- the ORM may turn a value into text: print, tostring, string.format, error messages the
-- ORM builds about an object, comparisons and parameters. Each gets a catchable error (or
-- works), never a crash.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local E = { "an error table" }
local behaviours = {
  raises_table = function() error(E) end,
  raises_nil = function() error(nil) end,
  returns_table = function() return {} end,
  returns_nil = function() return nil end,
  returns_number = function() return 42 end,
  returns_function = function() return print end,
  recurses = function(self) return tostring(self) end,
  yields = function() return coroutine.yield("from __tostring") end,
  huge = function() return string.rep("x", 1000000) end,
}
local models = {}
for name, fn in pairs(behaviours) do
  models[name] = Base:model("T_" .. name, {
    __tablename__ = "t_" .. name,
    id = orm.Column(orm.Integer, { primary_key = true }),
    v = orm.Column(orm.String(20)),
    __tostring = fn,
  })
end
Base.metadata:create_all(engine)
local s1, s2 = orm.Session(engine), orm.Session(engine)
for name, M in pairs(models) do
  local obj = M{ v = "x" }
  local plain = setmetatable({}, { __tostring = behaviours[name], __name = "Hostile" })
  for _, v in ipairs({ obj, plain }) do
    if name ~= "huge" then pcall(print, v) end
    pcall(tostring, v)
    pcall(string.format, "%s", v)
    pcall(function() return "x" .. v end)
    pcall(error, v)
    pcall(function() return table.concat({ v }) end)
    pcall(function() return coroutine.wrap(function() return tostring(v) end)() end)
  end
  -- the ORM describing the object in its own errors
  pcall(function() s1:add(obj); s2:add(obj) end)          -- attached to another session
  pcall(function() s2:delete(M{ v = "y" }) end)            -- not persisted
  pcall(function() s2:refresh(M{ v = "z" }) end)           -- not persistent
  pcall(function() s2:expunge(M{ v = "z" }) end)           -- not in the session
  pcall(function() return orm.inspect(obj).identity end)
  pcall(function() return M.v:eq(plain) end)               -- a hostile value as a parameter
  pcall(function() return s1:scalars(orm.select(M):filter_by{ v = plain }):all() end)
  pcall(function() obj.v = plain end)
  pcall(function() return M{ nope = plain } end)           -- unknown key error message
  pcall(function() s1:flush() end)
  pcall(function() s1:rollback() end)
  pcall(function() s2:rollback() end)
  -- the session itself keeps working
  local ok, err = pcall(function()
    local o = M{ v = "ok" }
    s1:add(o)
    s1:commit()
    return s1:scalar(orm.select(orm.func.count(M.id)))
  end)
  check("session still works after hostile __tostring " .. name, ok, err)
end
-- a hostile __tostring on an orm.Error's metatable cannot be installed, but an error raised
-- with a hostile value through the ORM is handed back unchanged
local ok, err = pcall(function()
  local M = models.raises_table
  orm.event.listen(M, "before_insert", function() error(setmetatable({}, { __tostring = behaviours.raises_table })) end)
  s1:add(M{ v = "e" })
  s1:commit()
end)
check("a listener's hostile error value comes back", not ok and type(err) == "table", err)
pcall(function() s1:rollback() end)
print("DONE")

-- Finalizers that call into the session, run by the collector at arbitrary points (in the
-- middle of a flush, a query, an attribute load): errors are contained, nothing deadlocks,
-- crashes or corrupts the database. If setmetatable refuses __gc, the ways around the
-- check (a placeholder __gc filled in later, a callable table) are used instead.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite:///" .. ALLOWED .. "/main.db")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
local fired = 0
local function finalizer()
  fired = fired + 1
  pcall(function() s:add(M{ name = "gc" }) end)
  pcall(function() s:flush() end)
  pcall(function() s:rollback() end)
  pcall(function() s:execute(orm.text("DELETE FROM m WHERE name = 'gc'")) end)
end
local callable = setmetatable({}, { __call = finalizer })
local ways = {
  function() return setmetatable({}, { __gc = finalizer }) end,
  function() local mt = { __gc = true }; local o = setmetatable({}, mt); mt.__gc = finalizer; return o end,
  function() return setmetatable({}, { __gc = callable }) end,
}
local made, refused_ways = 0, 0
local function bomb()
  for _, way in ipairs(ways) do
    if pcall(way) then made = made + 1 else refused_ways = refused_ways + 1 end
  end
end
for round = 1, 30 do
  for i = 1, 100 do bomb() end
  local ok, err = pcall(function()
    for i = 1, 20 do s:add(M{ name = "r" .. round .. "." .. i }) end
    s:flush()
    s:scalars(orm.select(M):limit(5)):all()
    s:commit()
  end)
  if not ok then pcall(function() s:rollback() end) end
  local junk = {}
  for i = 1, 2000 do junk[i] = { i, tostring(i) } end
end
print(("finalizers installed: %d, refused: %d, fired: %d"):format(made, refused_ways, fired))
pcall(function() s:rollback() end)
s:close()
print("DONE")

-- coroutine.yield from Lua code that Rust called (validators, listeners, defaults, hybrids,
-- echo functions, the bodies of session:begin/run/no_autoflush and engine:begin) inside a
-- coroutine: a clean error ("attempt to yield across a C-call boundary") or a clean yield,
-- never a crash; the session is usable afterwards.
local orm = require("lualchemy")
local echo_yields = false
local engine = orm.create_engine("sqlite://", {
  echo = function(sql) if echo_yields then coroutine.yield("from echo") end end,
})
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
  tag = orm.Column(orm.String(50), { default = function(ctx)
    if _ENV.default_yields then coroutine.yield("from default") end
    return "t"
  end }),
  h = orm.hybrid_property(function(self) coroutine.yield("from hybrid"); return 1 end),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)

local function in_coroutine(name, fn)
  local co = coroutine.create(fn)
  local ok, a = coroutine.resume(co)
  local steps = 1
  while ok and coroutine.status(co) == "suspended" and steps < 10 do
    ok, a = coroutine.resume(co)
    steps = steps + 1
  end
  print(("%s: %s after %d resume(s), %s, status %s"):format(name, show(ok), steps, show(a), coroutine.status(co)))
  pcall(function() s:rollback() end)
end

local validator_yields = true
M:validates("name", function(self, k, v)
  if validator_yields then coroutine.yield("from validator") end
  return v
end)
in_coroutine("validator", function() return M{ name = "a" } end)
validator_yields = false

local function with_listener(target, ev, body)
  local fn = function() coroutine.yield("from " .. ev) end
  orm.event.listen(target, ev, fn)
  in_coroutine(ev .. " listener", body)
  orm.event.remove(target, ev, fn)
end
local function add_commit() s:add(M{ id = math.random(1, 1000000) }); s:commit() end
with_listener(M, "before_insert", add_commit)
with_listener(M, "after_insert", add_commit)
with_listener(M, "init", function() return M{} end)
with_listener(s, "before_flush", add_commit)
with_listener(s, "after_commit", add_commit)
with_listener(s, "after_begin", add_commit)
with_listener(engine, "before_cursor_execute", function() return engine:connect():execute(orm.text("SELECT 1")):all() end)
s:add(M{ id = 999 }); s:commit(); s:expire_all()
with_listener(M, "load", function() return s:scalars(orm.select(M)):all() end)

_ENV.default_yields = true
in_coroutine("column default", add_commit)
_ENV.default_yields = false
in_coroutine("hybrid getter", function() return M{}.h end)
echo_yields = true
in_coroutine("echo function", function() return s:scalar(orm.select(orm.func.count(M.id))) end)
echo_yields = false
in_coroutine("session:begin body", function() s:begin(function() coroutine.yield("in begin") end) end)
in_coroutine("session:begin_nested body", function() s:begin_nested(function() coroutine.yield("in nested") end) end)
in_coroutine("session:run body", function() orm.Session(engine):run(function() coroutine.yield("in run") end) end)
in_coroutine("session:no_autoflush body", function() s:no_autoflush(function() coroutine.yield("in no_autoflush") end) end)
in_coroutine("engine:begin body", function() engine:begin(function(conn) coroutine.yield("in engine:begin") end) end)
-- yielding between the steps of a result iteration is plain Lua and may work
in_coroutine("yield between result rows", function()
  for row in s:execute(orm.select(M)) do coroutine.yield(row) end
end)
-- a coroutine that yielded inside a Rust call and is then abandoned, closed, collected
local co = coroutine.create(function() s:begin(function() coroutine.yield() end) end)
coroutine.resume(co)
pcall(coroutine.close, co)
co = nil

local ok, n = pcall(function()
  s:rollback()
  s:add(M{ id = 5000, name = "after" })
  s:commit()
  return s:scalar(orm.select(orm.func.count(M.id)):where(M.id:eq(5000)))
end)
check("the session works afterwards", ok and n == 1, n)
print("DONE")

-- What lualchemy costs per object on the Lua side, beside plain Lua tables (what the
-- hand-written lsqlite3 code of ../shared/bench/lua_hand keeps its rows in): the constructor,
-- an attribute read, an attribute update, `session:delete`. Runs on every Lua version.
--
-- usage: lualchemy benches/per_object.lua [N]        (default 100000)
--
-- Each step is bracketed by os.clock() calls and prints CPU ns per object. Under
-- `valgrind --tool=callgrind --dump-before=clock` every step is one dump, in the printed
-- order (dump k+1 is step k), which gives load-independent instruction counts per step:
--   valgrind --tool=callgrind --dump-before=clock --callgrind-out-file=/tmp/po.out \
--     target/release/lualchemy benches/per_object.lua 10000
--   grep -H totals /tmp/po.out.*
local N = tonumber(arg and arg[1]) or 100000
local orm = require("lualchemy")

local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100)),
  age = orm.Column(orm.Integer),
})

local engine = orm.create_engine("sqlite://")
Base.metadata:create_all(engine)

local steps = {}
local function step(name, f)
  collectgarbage()
  collectgarbage()
  local t0 = os.clock()
  local keep = f()
  local dt = os.clock() - t0
  steps[#steps + 1] = name
  print(("%-40s %8.1f ns/object"):format(name, dt * 1e9 / N))
  return keep
end

-- 1-2: building N objects (the strings included, as in W1)
local plain = step("plain table {name=, email=, age=}", function()
  local t = {}
  for i = 1, N do t[i] = { name = "user" .. i, email = "user" .. i .. "@example.com", age = i % 80 } end
  return t
end)
local objs = step("User{name=, email=, age=}", function()
  local t = {}
  for i = 1, N do t[i] = User { name = "user" .. i, email = "user" .. i .. "@example.com", age = i % 80 } end
  return t
end)

-- 3: W1's add_all + commit (persistent, then expired on commit)
local s = orm.Session(engine)
step("add_all + commit (W1's flush)", function() s:add_all(objs); s:commit() end)
objs = nil
s:close()

-- 4: loading (W2's loader)
s = orm.Session(engine)
local users = step("scalars(select(User)):all()", function()
  return s:scalars(orm.select(User)):all()
end)

-- 5-6: reads
step("plain: read t.name", function()
  local n = 0
  for i = 1, N do if plain[i].name then n = n + 1 end end
  assert(n == N)
end)
step("User: read u.name", function()
  local n = 0
  for i = 1, N do if users[i].name then n = n + 1 end end
  assert(n == N)
end)

-- 7-8: updates
step("plain: t.age = t.age + 1", function()
  for i = 1, N do local u = plain[i]; u.age = u.age + 1 end
end)
step("User: u.age = u.age + 1", function()
  for i = 1, N do local u = users[i]; u.age = u.age + 1 end
end)
step("commit of the updates (W3's flush)", function() s:commit() end)

-- 10: delete
s:close()
s = orm.Session(engine)
users = s:scalars(orm.select(User)):all()
step("session:delete(u)", function()
  for i = 1, N do s:delete(users[i]) end
end)
step("commit of the deletes (W8's flush)", function() s:commit() end)
s:close()

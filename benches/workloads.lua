-- Reference workloads on lualchemy (see /work/shared/bench/README.md and benches/README.md).
--
-- usage: lualchemy benches/workloads.lua [scale] [W1,W2,...]
--
-- The same work as shared/bench/sqlalchemy_ref.py for W1 (insert), W2 (load), W3 (update),
-- W4 (get-by-pk), W8 (delete) and W9 (small-transactions). W5 to W7 need relationships and
-- print nothing. Times are os.clock() (CPU seconds of the process) for both `seconds` and
-- `cpu_seconds`: standard Lua has no high-resolution wall clock (see benches/README.md).

local orm = require("lualchemy")

local SCALE = tonumber(arg and arg[1]) or 1.0
local ONLY = arg and arg[2] or nil
local N = math.floor(100000 * SCALE)
local NQ = math.floor(10000 * SCALE)

local Base = orm.declarative_base()

local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100)),
  age = orm.Column(orm.Integer),
})

local function fresh(url)
  local engine = orm.create_engine(url or "sqlite://")
  Base.metadata:create_all(engine)
  return engine
end

local function seed_users(engine)
  local rows = {}
  for i = 1, N do
    rows[i] = { name = "user" .. i, email = "user" .. i .. "@example.com", age = i % 80 }
  end
  local s = orm.Session(engine)
  s:execute(orm.insert(User), rows)
  s:commit()
  s:close()
  -- Python frees the seed rows by reference counting as seed_users returns; Lua leaves them
  -- to the collector, which would then spend part of the timed run collecting them
  rows = nil
  collectgarbage()
  collectgarbage()
end

-- Timer: os.clock() at start and stop; `wall` and `cpu` are both CPU seconds.
local function timer_start()
  return { t0 = os.clock() }
end

local function timer_stop(t)
  local dt = os.clock() - t.t0
  t.wall, t.cpu = dt, dt
  return t
end

local function w1_insert()
  local engine = fresh()
  local t = timer_start()
  local s = orm.Session(engine)
  local objs = {}
  for i = 1, N do
    objs[i] = User { name = "user" .. i, email = "user" .. i .. "@example.com", age = i % 80 }
  end
  s:add_all(objs)
  s:commit()
  timer_stop(t)
  s:close()
  return N, t
end

local function w2_load()
  local engine = fresh()
  seed_users(engine)
  local t = timer_start()
  local s = orm.Session(engine)
  local users = s:scalars(orm.select(User)):all()
  local n = 0
  for _, u in ipairs(users) do
    local name = u.name
    if name and name ~= "" then n = n + 1 end -- Python truthiness of a str
  end
  timer_stop(t)
  s:close()
  return n, t
end

local function w3_update()
  local engine = fresh()
  seed_users(engine)
  local t = timer_start()
  local s = orm.Session(engine)
  local users = s:scalars(orm.select(User)):all()
  for _, u in ipairs(users) do
    u.age = u.age + 1
  end
  s:commit()
  timer_stop(t)
  s:close()
  return #users, t
end

local function w4_get_by_pk()
  local engine = fresh()
  seed_users(engine)
  local t = timer_start()
  local s = orm.Session(engine)
  for j = 0, NQ - 1 do
    local u = s:get(User, 1 + (j * 7919) % N)
    assert(u ~= nil, "get returned nil")
  end
  timer_stop(t)
  s:close()
  return NQ, t
end

local function w8_delete()
  local engine = fresh()
  seed_users(engine)
  local t = timer_start()
  local s = orm.Session(engine)
  local users = s:scalars(orm.select(User)):all()
  for _, u in ipairs(users) do
    s:delete(u)
  end
  s:commit()
  timer_stop(t)
  s:close()
  return #users, t
end

local function w9_small_transactions()
  local tmp = os.getenv("TMPDIR")
  if tmp == nil or tmp == "" then tmp = "/tmp" end
  tmp = tmp:gsub("/+$", "")
  if tmp == "" then tmp = "/" end
  -- no getpid in standard Lua: time plus a random suffix keep parallel runs apart
  math.randomseed(os.time(), math.floor(os.clock() * 1e6))
  local path = ("%s/bench_w9_lua_%d_%d.db"):format(tmp, os.time(), math.random(1, 1 << 30))
  local files = { path, path .. "-wal", path .. "-shm" }
  for _, f in ipairs(files) do os.remove(f) end
  -- an absolute path gives "sqlite:////abs/path.db"; lualchemy sets WAL on file databases
  local engine = fresh("sqlite:///" .. path)
  local t = timer_start()
  for i = 1, 1000 do
    local s = orm.Session(engine)
    s:add(User { name = "user" .. i, email = "e", age = 1 })
    s:commit()
    s:close()
  end
  timer_stop(t)
  engine:dispose()
  for _, f in ipairs(files) do os.remove(f) end
  return 1000, t
end

local WORKLOADS = {
  { "insert", w1_insert },
  { "load", w2_load },
  { "update", w3_update },
  { "get-by-pk", w4_get_by_pk },
  { "relationships-selectin", nil }, -- W5: needs relationships
  { "relationships-lazy", nil },     -- W6: needs relationships
  { "insert-cascade", nil },         -- W7: needs relationships
  { "delete", w8_delete },
  { "small-transactions", w9_small_transactions },
}

local selected = nil
if ONLY then
  selected = {}
  for w in ONLY:gmatch("[^,]+") do selected[w] = true end
end

for k, entry in ipairs(WORKLOADS) do
  local label, fn = entry[1], entry[2]
  if fn and (selected == nil or selected["W" .. k]) then
    collectgarbage()
    collectgarbage()
    local rows, t = fn()
    print(("W%d %s rows=%d seconds=%.4f rows_per_s=%.0f cpu_seconds=%.4f"):format(
      k, label, rows, t.wall, rows / math.max(t.wall, 1e-9), t.cpu))
    io.stdout:flush()
  end
end

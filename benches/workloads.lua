-- Reference workloads on lualchemy (see /work/shared/bench/README.md and benches/README.md).
--
-- usage: lualchemy benches/workloads.lua [scale] [W1,W2,...]
--
-- The same work as shared/bench/sqlalchemy_ref.py for all nine workloads, W1 (insert) to
-- W9 (small-transactions), defined in workload_defs.lua (which the criterion bench runs too).
-- Times are os.clock() (CPU seconds of the process) for both `seconds` and `cpu_seconds`:
-- standard Lua has no high-resolution wall clock (see benches/README.md).

local SCALE = tonumber(arg and arg[1]) or 1.0
local ONLY = arg and arg[2] or nil
local N = math.floor(100000 * SCALE)
local NQ = math.floor(10000 * SCALE)
local NA = math.floor(1000 * SCALE)
local W9_TXNS = 1000

local here = (arg and arg[0] or ""):match("^(.*)[/\\]") or "."
local defs = assert(loadfile(here .. "/workload_defs.lua"))
local W = defs(N, NQ, W9_TXNS, NA)

-- W9's database: a file in the temp directory. No getpid in standard Lua: time plus a random
-- suffix keep parallel runs apart.
local function temp_db()
  local tmp = os.getenv("TMPDIR")
  if tmp == nil or tmp == "" then tmp = "/tmp" end
  tmp = tmp:gsub("/+$", "")
  if tmp == "" then tmp = "/" end
  math.randomseed(os.time(), math.floor(os.clock() * 1e6))
  local path = ("%s/bench_w9_lua_%d_%d.db"):format(tmp, os.time(), math.random(1, 1073741824))
  local files = { path, path .. "-wal", path .. "-shm" }
  local function remove() for _, f in ipairs(files) do os.remove(f) end end
  remove()
  return path, remove
end

-- written in the Lua every version shares (the LuaJIT build runs it too: 5.1 has no
-- table.pack, and unpack is a global there)
local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local WORKLOADS = {
  "insert", "load", "update", "get-by-pk",
  "relationships-selectin", "relationships-lazy", "insert-cascade",
  "delete", "small-transactions",
}

local selected = nil
if ONLY then
  selected = {}
  for w in ONLY:gmatch("[^,]+") do selected[w] = true end
end

-- W1E (W1 with one no-op before_insert listener) runs only when named: W1E
local order = {}
for k, label in ipairs(WORKLOADS) do order[#order + 1] = { "W" .. k, label } end
if selected and selected.W1E then order[#order + 1] = { "W1E", "insert-with-listener" } end

for _, entry in ipairs(order) do
  local name, label = entry[1], entry[2]
  local w = W[name]
  if w and (selected == nil or selected[name]) then
    local path, remove
    if name == "W9" then path, remove = temp_db() end
    local state = pack(w.setup(path))
    -- Python frees the seed rows by reference counting as seeding returns; Lua leaves them to
    -- the collector, which would then spend part of the timed run collecting them
    collectgarbage()
    collectgarbage()
    local t0 = os.clock()
    local kept = pack(w.run(unpack(state, 1, state.n)))
    local dt = os.clock() - t0
    w.teardown(unpack(kept, 2, kept.n))
    if remove then remove() end
    local rows = kept[1]
    print(("%s %s rows=%d seconds=%.4f rows_per_s=%.0f cpu_seconds=%.4f"):format(
      name, label, rows, dt, rows / math.max(dt, 1e-9), dt))
    io.stdout:flush()
  end
end

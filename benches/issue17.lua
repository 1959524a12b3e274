-- Issue 17's two measured workloads, beside benches/issue17_sqlalchemy.py (same work):
--   U  upsert: 50,000 settings seeded (untimed); one session:execute of an
--      orm.sqlite.insert(Setting):on_conflict_do_update{...} with 100,000 rows (half update
--      an existing key, half insert a new one), then commit.
--   H  hierarchy load: 100,000 units of a single-table hierarchy (Unit, Archer, Knight in
--      turn) seeded (untimed); a new session loads them all through the base class,
--      scalars(select(Unit)):all(), and counts the archers by class (a method each
--      class answers; the Python counts type(u) is Archer).
-- usage: lualchemy benches/issue17.lua [scale] [U,H]
local orm = require("lualchemy")
local SCALE = tonumber(arg and arg[1]) or 1.0
local ONLY = arg and arg[2] or "U,H"
local N = math.floor(100000 * SCALE)

local function run(name, label, setup, body)
  if not ONLY:find(name, 1, true) then return end
  local state = setup()
  collectgarbage()
  collectgarbage()
  local t0 = os.clock()
  local rows = body(state)
  local dt = os.clock() - t0
  print(("%s %s rows=%d seconds=%.4f"):format(name, label, rows, dt))
end

run("U", "upsert", function()
  local Base = orm.declarative_base()
  local Setting = Base:model("Setting", {
    __tablename__ = "settings",
    id = orm.Column(orm.Integer, { primary_key = true }),
    key = orm.Column(orm.String(50), { unique = true, nullable = false }),
    value = orm.Column(orm.String(50)),
  })
  local engine = orm.create_engine("sqlite://")
  Base.metadata:create_all(engine)
  local seed = {}
  for i = 1, N // 2 do seed[i] = { key = "k" .. i, value = "old" } end
  local s = orm.Session(engine)
  s:execute(orm.insert(Setting), seed)
  s:commit()
  s:close()
  local rows = {}
  for i = 1, N do rows[i] = { key = "k" .. (N // 4 + i), value = "v" .. i } end
  return { engine = engine, Setting = Setting, rows = rows }
end, function(st)
  local s = orm.Session(st.engine)
  local stmt = orm.sqlite.insert(st.Setting)
  stmt = stmt:on_conflict_do_update{ index_elements = { "key" }, set_ = { value = stmt.excluded.value } }
  s:execute(stmt, st.rows)
  s:commit()
  local n = s:scalar(orm.select(orm.func.count()):select_from(st.Setting))
  s:close()
  assert(n == N // 4 + N, n)
  return #st.rows
end)

run("H", "hierarchy-load", function()
  local Base = orm.declarative_base()
  local Unit = Base:model("Unit", {
    __tablename__ = "units",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
    kind = orm.Column(orm.String(20), { nullable = false }),
    hp = orm.Column(orm.Integer),
    __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "unit" },
  })
  local Archer = Unit:model("Archer", {
    __mapper_args__ = { polymorphic_identity = "archer" },
    range = orm.Column(orm.Integer),
  })
  local Knight = Unit:model("Knight", {
    __mapper_args__ = { polymorphic_identity = "knight" },
    armor = orm.Column(orm.Integer),
  })
  -- the class of a row, as Lua code asks it: a method each class answers
  function Unit:is_archer() return false end
  function Archer:is_archer() return true end
  local engine = orm.create_engine("sqlite://")
  Base.metadata:create_all(engine)
  local kinds = { "unit", "archer", "knight" }
  local seed = {}
  for i = 1, N do
    local k = kinds[i % 3 + 1]
    seed[i] = { name = "u" .. i, kind = k, hp = i % 100,
      range = k == "archer" and i % 50 or nil, armor = k == "knight" and i % 7 or nil }
  end
  local s = orm.Session(engine)
  s:execute(orm.insert(Unit.__table__), seed)
  s:commit()
  s:close()
  return { engine = engine, Unit = Unit, Archer = Archer }
end, function(st)
  local s = orm.Session(st.engine)
  local all = s:scalars(orm.select(st.Unit)):all()
  local archers = 0
  for i = 1, #all do
    if all[i]:is_archer() then archers = archers + 1 end
  end
  assert(#all == N and archers == math.floor((N + 2) / 3), archers)
  s:close()
  return #all
end)

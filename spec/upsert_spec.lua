-- Upserts and row locks on whichever database the run is on (SPEC_DIALECT):
-- orm.sqlite.insert / orm.postgresql.insert with :on_conflict_do_nothing{} and
-- :on_conflict_do_update{ index_elements, set_, where } (stmt.excluded), and
-- orm.mysql.insert with :on_duplicate_key_update{} (stmt.inserted), through
-- session:execute and conn:execute; a dialect's insert on another database is refused
-- naming both; select(...):with_for_update{} renders FOR UPDATE / FOR SHARE / LOCK IN
-- SHARE MODE on the servers and nothing on SQLite.
local orm = require("lualchemy")

local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"
local generic = generic_sql or function(s) return s end

local function has(s, needle) return generic(s):find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

-- This database's insert module, and another database's.
local native = ON_MYSQL and orm.mysql or (SPEC_DIALECT == "postgresql" and orm.postgresql or orm.sqlite)
local foreign = SPEC_DIALECT == "postgresql" and orm.sqlite or orm.postgresql

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Setting = Base:model("Setting", {
    __tablename__ = "settings",
    id = orm.Column(orm.Integer, { primary_key = true }),
    key = orm.Column(orm.String(40), { nullable = false, unique = true }),
    value = orm.Column(orm.String(40)),
    hits = orm.Column(orm.Integer, { default = 0, nullable = false }),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  env.s:execute(orm.insert(env.Setting), {
    { key = "volume", value = "5" },
    { key = "lang", value = "en", hits = 3 },
  })
  env.s:commit()
  -- key -> { value, hits }, straight from the database
  function env.table()
    local out = {}
    local conn = env.engine:connect()
    local S = env.Setting
    for row in conn:execute(orm.select(S.key, S.value, S.hits)) do
      out[row.key] = { row.value, tonumber(row.hits) }
    end
    conn:close()
    return out
  end
  function env.last_sql(pattern)
    for i = #env.log, 1, -1 do
      if env.log[i]:find(pattern) then return env.log[i] end
    end
  end
  return env
end

-- The statement that inserts `rows` and, on a duplicate key, sets value to the proposed one
-- and counts a hit, on this database.
local function upsert_value(S)
  local stmt = native.insert(S)
  if ON_MYSQL then
    return stmt:on_duplicate_key_update{ value = stmt.inserted.value, hits = S.hits + 1 }
  end
  return stmt:on_conflict_do_update{
    index_elements = { S.key },
    set_ = { value = stmt.excluded.value, hits = S.hits + 1 },
  }
end

describe("dialect-specific insert", function()
  it("inserts new keys and updates existing ones through session:execute", function()
    local env = setup()
    local S = env.Setting
    env.s:execute(upsert_value(S), {
      { key = "volume", value = "9" },
      { key = "theme", value = "dark" },
    })
    env.s:commit()
    assert.same({ volume = { "9", 1 }, lang = { "en", 3 }, theme = { "dark", 0 } }, env.table())
    -- a single row from :values{}
    env.s:execute(upsert_value(S):values{ key = "lang", value = "fr" })
    env.s:commit()
    assert.same({ "fr", 4 }, env.table().lang)
    -- the session's objects read the new values once expired
    local lang = env.s:execute(orm.select(S):where(S.key:eq("lang"))):scalar_one()
    env.s:execute(upsert_value(S):values{ key = "lang", value = "de" })
    env.s:expire_all()
    assert.equal("de", lang.value)
    local sql = env.last_sql("^INSERT")
    if ON_MYSQL then
      assert.truthy(has(sql, "ON DUPLICATE KEY UPDATE value = VALUES(value), hits = settings.hits + ?"), sql)
    else
      assert.truthy(has(sql, 'ON CONFLICT ("key") DO UPDATE SET value = excluded.value, hits = settings.hits + ?'), sql)
    end
  end)

  it("skips duplicates with on_conflict_do_nothing, and updates only WHERE allows", function()
    if ON_MYSQL then return end -- ON CONFLICT is SQLite's and PostgreSQL's
    local env = setup()
    local S = env.Setting
    env.s:execute(native.insert(S):on_conflict_do_nothing{ index_elements = { "key" } }, {
      { key = "volume", value = "1" }, { key = "new", value = "x" },
    })
    -- any unique constraint, no target
    env.s:execute(native.insert(S):values{ key = "lang", value = "xx" }:on_conflict_do_nothing())
    env.s:commit()
    assert.same({ volume = { "5", 0 }, lang = { "en", 3 }, new = { "x", 0 } }, env.table())
    local stmt = native.insert(S)
    stmt = stmt:on_conflict_do_update{
      index_elements = { "key" },
      set_ = { value = stmt.excluded.value },
      where = S.hits:lt(2),
    }
    env.s:execute(stmt, { { key = "volume", value = "7" }, { key = "lang", value = "it" } })
    env.s:commit()
    local t = env.table()
    assert.equal("7", t.volume[1]) -- hits 0 < 2: updated
    assert.equal("en", t.lang[1]) -- hits 3: kept
    local sql = env.last_sql("^INSERT")
    assert.truthy(has(sql, 'ON CONFLICT ("key") DO UPDATE SET value = excluded.value WHERE settings.hits < ?'), sql)
  end)

  it("runs through conn:execute, returning the rows written", function()
    local env = setup()
    local S = env.Setting
    local conn = env.engine:connect()
    local r = conn:execute(upsert_value(S), { { key = "volume", value = "2" }, { key = "zoom", value = "1" } })
    assert.truthy(r.rowcount >= 2)
    conn:commit()
    conn:close()
    assert.same({ "2", 1 }, env.table().volume)
    assert.same({ "1", 0 }, env.table().zoom)
  end)

  it("refuses another database's insert, naming both", function()
    local env = setup()
    local S = env.Setting
    local err = pcall_err(function()
      env.s:execute(foreign.insert(S):on_conflict_do_nothing(), { { key = "a" } })
    end)
    assert.truthy(err:find("orm." .. (SPEC_DIALECT == "postgresql" and "sqlite" or "postgresql") .. ".insert(settings)", 1, true), err)
    assert.truthy(err:find("cannot run on " .. SPEC_DIALECT, 1, true), err)
    local my = ON_MYSQL and orm.sqlite or orm.mysql
    err = pcall_err(function()
      env.s:execute(my.insert(S):values{ key = "b" })
    end)
    assert.truthy(err:find("cannot run on", 1, true), err)
  end)

  it("renders each clause as its database does, and checks its arguments", function()
    local S = setup().Setting
    local pg = orm.postgresql.insert(S)
    assert.truthy(has(tostring(pg:on_conflict_do_nothing{ constraint = "uq_key" }), "ON CONFLICT ON CONSTRAINT uq_key DO NOTHING"))
    local my = orm.mysql.insert(S)
    assert.truthy(has(tostring(my:on_duplicate_key_update{ hits = my.inserted.hits + S.hits }),
      "ON DUPLICATE KEY UPDATE hits = VALUES(hits) + settings.hits"))
    local sq = orm.sqlite.insert(S)
    assert.truthy(pcall_err(function() sq:on_duplicate_key_update{ hits = 1 } end):find("belongs to orm.mysql.insert()", 1, true))
    assert.truthy(pcall_err(function() my:on_conflict_do_nothing() end):find("belongs to orm.sqlite/orm.postgresql.insert()", 1, true))
    assert.truthy(pcall_err(function() sq:on_conflict_do_update{ set_ = { hits = 1 } } end):find("needs index_elements", 1, true))
    assert.truthy(pcall_err(function() sq:on_conflict_do_update{ index_elements = { "key" } } end):find("needs set_", 1, true))
    assert.truthy(pcall_err(function() sq:on_conflict_do_nothing{ index_elements = { "nope" } } end):find("has no column 'nope'", 1, true))
    assert.truthy(pcall_err(function() sq:on_conflict_do_nothing{ constraint = "c" } end):find("PostgreSQL's", 1, true))
    assert.truthy(pcall_err(function() sq:on_conflict_do_nothing{ index = { "key" } } end):find("unknown option 'index'", 1, true))
    assert.truthy(pcall_err(function() return sq.excluded.nope end):find("has no column 'nope'", 1, true))
    assert.truthy(pcall_err(function() orm.sqlite.insert("x") end):find("expects a mapped class", 1, true))
  end)
end)

describe("select:with_for_update", function()
  it("locks rows with FOR UPDATE / FOR SHARE on the servers and renders nothing on SQLite", function()
    local env = setup()
    local S = env.Setting
    local function run(opts)
      env.s:execute(orm.select(S):where(S.hits:ge(0)):order_by(S.id):with_for_update(opts)):all()
      return env.last_sql("^SELECT")
    end
    local rows = env.s:execute(orm.select(S):order_by(S.id):with_for_update()):scalars():all()
    assert.equal(2, #rows)
    local plain, nowait, shared, skip = run(), run{ nowait = true, of = S }, run{ read = true }, run{ skip_locked = true }
    env.s:commit()
    if SPEC_DIALECT == "sqlite" then
      for _, sql in ipairs({ plain, nowait, shared, skip }) do
        assert.falsy(sql:find("FOR ", 1, true), sql)
      end
    elseif SPEC_DIALECT == "postgresql" then
      assert.truthy(has(plain, "ORDER BY settings.id FOR UPDATE"), plain)
      assert.truthy(has(nowait, "FOR UPDATE OF settings NOWAIT"), nowait)
      assert.truthy(has(shared, "FOR SHARE"), shared)
      assert.truthy(has(skip, "FOR UPDATE SKIP LOCKED"), skip)
    else
      assert.truthy(has(plain, "ORDER BY settings.id FOR UPDATE"), plain)
      assert.truthy(has(nowait, "FOR UPDATE NOWAIT"), nowait)
      assert.truthy(has(shared, "LOCK IN SHARE MODE"), shared)
      assert.truthy(has(skip, "FOR UPDATE SKIP LOCKED"), skip)
    end
    assert.truthy(pcall_err(function() orm.select(S):with_for_update{ nowait = true, skip_locked = true } end)
      :find("cannot be combined", 1, true))
    assert.truthy(pcall_err(function() orm.select(S):with_for_update{ wait = true } end)
      :find("unknown option 'wait'", 1, true))
  end)
end)

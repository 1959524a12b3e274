-- requires: Lua 5.4
-- To-be-closed variables (Lua 5.4): a session declared `<close>` is closed at the end of its
-- scope, as session:run(fn) does on every version (docs/LUA_VERSIONS.md).
local orm = require("lualchemy")

-- A fresh engine with a statement log, and a User model on its own Base.
local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql, params) env.log[#env.log + 1] = { sql = sql, params = params } end,
  })
  env.Base = orm.declarative_base()
  env.User = env.Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
    email = orm.Column(orm.String(100), { unique = true }),
    age = orm.Column(orm.Integer),
  })
  env.Base.metadata:create_all(env.engine)
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  function env.count(pattern)
    local n = 0
    for _, e in ipairs(env.log) do if e.sql:find(pattern) then n = n + 1 end end
    return n
  end
  function env.statements(pattern)
    local out = {}
    for _, e in ipairs(env.log) do if e.sql:find(pattern) then out[#out + 1] = e end end
    return out
  end
  -- Rows straight from the database, bypassing any session.
  function env.db_rows(sql)
    local conn = env.engine:connect()
    local rows = {}
    for row in conn:execute(orm.text(sql or "SELECT id, name, email, age FROM users ORDER BY id")) do
      -- _mapping: a query of fewer columns leaves the others nil (row.x would raise)
      local m = row._mapping
      rows[#rows + 1] = { id = m.id, name = m.name, email = m.email, age = m.age }
    end
    conn:close()
    return rows
  end
  function env.db_count()
    local conn = env.engine:connect()
    local n = conn:execute(orm.text("SELECT count(*) FROM users")):scalar()
    conn:close()
    return n
  end
  env.clear()
  return env
end

local function state(obj)
  local i = orm.inspect(obj)
  for _, k in ipairs({ "transient", "pending", "persistent", "deleted", "detached" }) do
    if i[k] then return k end
  end
  return "none"
end

describe("<close>", function()
  local env
  before_each(function() env = setup() end)

  it("<close> closes the session at the end of scope", function()
    local u
    do
      local ss <close> = orm.Session(env.engine)
      u = env.User{ name = "scoped" }
      ss:add(u)
      ss:commit()
      assert.equal("scoped", u.name)
    end
    assert.equal("detached", state(u))
    assert.equal(1, env.db_count())
  end)

  it("<close> rolls back uncommitted work", function()
    do
      local ss <close> = orm.Session(env.engine)
      ss:add(env.User{ name = "dropped" })
      ss:flush()
    end
    assert.equal(0, env.db_count())
  end)
end)

describe("a connection's transaction declared <close>", function()
  it("commits when the block ends normally and rolls back when it ends by an error", function()
    local engine = orm.create_engine("sqlite://")
    local conn = engine:connect()
    conn:execute(orm.text("CREATE TABLE t (x INTEGER)"))
    conn:commit()
    do
      local tx <close> = conn:begin()
      conn:execute(orm.text("INSERT INTO t VALUES (1)"))
    end
    assert.is_false(conn:in_transaction())
    assert.has_error(function()
      local tx <close> = conn:begin()
      conn:execute(orm.text("INSERT INTO t VALUES (2)"))
      error("boom")
    end, "boom")
    assert.is_false(conn:in_transaction())
    assert.equal(1, conn:execute(orm.text("SELECT count(*) FROM t")):scalar())
    conn:close()
  end)
end)

-- Session and unit of work: object states, identity map, autoflush, dirty tracking,
-- flush batching, expiry, transactions, savepoints, the failed-flush contract.
local orm = require("lualchemy")

-- SQL text is compared in SQLite's spelling: PostgreSQL's `$1` placeholders and MySQL's
-- backquotes read as `?` and double quotes.
local generic = generic_sql

local function has(s, needle) return generic(s):find(needle, 1, true) ~= nil end

-- Each database words a constraint violation its own way: every listed part, which names
-- the table, column or constraint, must be in the error's text.
local function assert_mentions(err, parts)
  for _, part in ipairs(for_dialect(parts)) do
    assert.truthy(has(tostring(err), part), tostring(err))
  end
end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

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

describe("object states", function()
  local env, s
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
  end)

  it("start transient with no identity", function()
    local u = env.User{ name = "ed" }
    local i = orm.inspect(u)
    assert.is_true(i.transient)
    assert.is_false(i.pending)
    assert.is_false(i.persistent)
    assert.is_false(i.deleted)
    assert.is_false(i.detached)
    assert.is_nil(i.identity)
  end)

  it("become pending on add", function()
    local u = env.User{ name = "ed" }
    s:add(u)
    assert.equal("pending", state(u))
    assert.is_nil(orm.inspect(u).identity)
  end)

  it("become persistent on flush with an identity", function()
    local u = env.User{ name = "ed" }
    s:add(u)
    s:flush()
    assert.equal("persistent", state(u))
    assert.same({ u.id }, orm.inspect(u).identity)
  end)

  it("become deleted on a flushed delete and detached after commit", function()
    local u = env.User{ name = "ed" }
    s:add(u)
    s:commit()
    s:delete(u)
    assert.equal("persistent", state(u)) -- marked, not yet flushed
    s:flush()
    assert.equal("deleted", state(u))
    s:commit()
    assert.equal("detached", state(u))
    assert.equal(0, env.db_count())
  end)

  it("become detached on close", function()
    local u = env.User{ name = "ed" }
    s:add(u)
    s:commit()
    s:close()
    assert.equal("detached", state(u))
  end)

  it("report the owning session", function()
    local u = env.User{ name = "ed" }
    assert.is_nil(orm.inspect(u).session)
    s:add(u)
    assert.truthy(orm.inspect(u).session)
  end)

  it("report modified and attribute history", function()
    local u = env.User{ name = "ed" }
    s:add(u)
    s:commit()
    assert.equal("ed", u.name)
    assert.is_false(orm.inspect(u).modified)
    u.name = "eddie"
    assert.is_true(orm.inspect(u).modified)
    local h = orm.inspect(u).attrs.name.history
    assert.same({ "eddie" }, h.added)
    assert.same({ "ed" }, h.deleted)
    assert.same({}, h.unchanged)
    local h2 = orm.inspect(u).attrs.email.history
    assert.same({}, h2.added)
    assert.same({}, h2.deleted)
  end)

  it("rejects adding a plain table with UnmappedInstanceError", function()
    local err = pcall_err(s.add, s, { name = "not a model" })
    assert.equal("UnmappedInstanceError", err.kind)
    assert.truthy(err:is("UnmappedInstanceError"))
  end)

  it("rejects inspect of a value that is not mapped", function()
    local ok = pcall(orm.inspect, { 1, 2 })
    assert.falsy(ok)
  end)
end)

describe("identity map", function()
  local env, s
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
    s:add_all({ env.User{ name = "a" }, env.User{ name = "b" } })
    s:commit()
    s:close()
    s = orm.Session(env.engine)
    env.clear()
  end)

  it("returns the same value for get twice, with one SELECT", function()
    local a = s:get(env.User, 1)
    local b = s:get(env.User, 1)
    assert.truthy(rawequal(a, b))
    assert.truthy(a == b)
    assert.equal(1, env.count("^SELECT"))
  end)

  it("returns the object already in the map from a query", function()
    local a = s:get(env.User, 1)
    local q = s:scalars(orm.select(env.User):where(env.User.name:eq("a"))):one()
    assert.truthy(rawequal(a, q))
    local all = s:scalars(orm.select(env.User):order_by(env.User.id)):all()
    assert.truthy(rawequal(a, all[1]))
  end)

  it("keeps unflushed local changes when a query returns the row again", function()
    local a = s:get(env.User, 1)
    a.age = 77
    s:no_autoflush(function()
      local again = s:scalars(orm.select(env.User):where(env.User.id:eq(1))):one()
      assert.truthy(rawequal(a, again))
      assert.equal(77, again.age)
    end)
  end)

  it("returns the same object from legacy query", function()
    local a = s:get(env.User, 1)
    assert.truthy(rawequal(a, s:query(env.User):filter_by{ name = "a" }:one()))
  end)

  it("returns nil from get for a missing key", function()
    assert.is_nil(s:get(env.User, 99))
  end)

  it("rejects get with a nil primary key", function()
    local err = pcall_err(s.get, s, env.User, nil)
    assert.truthy(has(tostring(err), "User"))
  end)

  it("get of a just-flushed object's key needs no SELECT", function()
    local c = env.User{ name = "c" }
    s:add(c)
    s:flush()
    env.clear()
    assert.truthy(rawequal(c, s:get(env.User, c.id)))
    assert.equal(0, env.count("^SELECT"))
  end)

  it("supports composite primary keys in get", function()
    local Base = orm.declarative_base()
    local Pair = Base:model("Pair", {
      __tablename__ = "pairs",
      a = orm.Column(orm.Integer, { primary_key = true }),
      b = orm.Column(orm.String(10), { primary_key = true }),
      v = orm.Column(orm.String(10)),
    })
    Base.metadata:create_all(env.engine)
    s:add_all({ Pair{ a = 1, b = "x", v = "1x" }, Pair{ a = 1, b = "y", v = "1y" } })
    s:commit()
    local p = s:get(Pair, { 1, "y" })
    assert.equal("1y", p.v)
    assert.same({ 1, "y" }, orm.inspect(p).identity)
    assert.truthy(rawequal(p, s:get(Pair, { 1, "y" })))
    assert.is_nil(s:get(Pair, { 2, "x" }))
  end)
end)

describe("autoflush", function()
  local env, s
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
  end)

  it("flushes pending objects before a query", function()
    s:add(env.User{ name = "pending-one" })
    local found = s:scalars(orm.select(env.User):where(env.User.name:eq("pending-one"))):all()
    assert.equal(1, #found)
    local ins, sel
    for i, e in ipairs(env.log) do
      if not ins and e.sql:find("^INSERT") then ins = i end
      if not sel and e.sql:find("^SELECT users") then sel = i end
    end
    assert.truthy(ins and sel and ins < sel)
  end)

  it("flushes dirty changes before a query", function()
    local u = env.User{ name = "old" }
    s:add(u)
    s:commit()
    u.name = "new"
    assert.equal(1, s:scalar(orm.select(orm.func.count(env.User.id)):where(env.User.name:eq("new"))))
  end)

  it("flushes before a legacy query count", function()
    s:add(env.User{ name = "x" })
    assert.equal(1, s:query(env.User):count())
  end)

  it("does not flush inside no_autoflush", function()
    s:add(env.User{ name = "held" })
    local n = s:no_autoflush(function()
      return s:scalar(orm.select(orm.func.count(env.User.id)))
    end)
    assert.equal(0, n)
    assert.equal(0, env.count("^INSERT"))
    assert.equal(1, s:scalar(orm.select(orm.func.count(env.User.id))))
  end)

  it("restores autoflush after no_autoflush raises", function()
    local boom = {}
    local ok, err = pcall(s.no_autoflush, s, function() error(boom) end)
    assert.falsy(ok)
    assert.truthy(rawequal(boom, err))
    s:add(env.User{ name = "x" })
    assert.equal(1, s:scalar(orm.select(orm.func.count(env.User.id))))
  end)
end)

describe("dirty tracking and UPDATE", function()
  local env, s, u
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
    u = env.User{ name = "ed", email = "ed@x", age = 30 }
    s:add(u)
    s:commit()
    assert.equal("ed", u.name) -- reload after commit's expiry
    env.clear()
  end)

  it("emits one UPDATE naming only the changed column", function()
    u.age = 31
    s:commit()
    local ups = env.statements("^UPDATE")
    assert.equal(1, #ups)
    assert.truthy(has(ups[1].sql, "SET age=?"), ups[1].sql)
    assert.falsy(has(ups[1].sql, "name="), ups[1].sql)
    assert.falsy(has(ups[1].sql, "email="), ups[1].sql)
    assert.same({ 31, u.id }, ups[1].params)
    assert.equal(31, env.db_rows()[1].age)
  end)

  it("names both columns when two change", function()
    u.age = 40
    u.name = "edward"
    s:flush()
    local ups = env.statements("^UPDATE")
    assert.equal(1, #ups)
    assert.truthy(has(ups[1].sql, "name=?"))
    assert.truthy(has(ups[1].sql, "age=?"))
    assert.falsy(has(ups[1].sql, "email="))
  end)

  it("emits nothing when a value is set back to its original", function()
    u.name = "changed"
    u.name = "ed"
    assert.is_false(s:is_modified(u))
    s:commit()
    assert.equal(0, env.count("^UPDATE"))
  end)

  it("emits nothing when a value is set to the same value", function()
    u.age = 30
    s:flush()
    assert.equal(0, env.count("^UPDATE"))
    assert.is_false(s:is_modified(u))
  end)

  it("updates several objects in one flush, batching identical UPDATEs", function()
    local v = env.User{ name = "v" }
    s:add(v)
    s:flush()
    env.clear()
    u.age = 1
    v.age = 2
    s:flush()
    local ups = env.statements("^UPDATE")
    -- SQLAlchemy runs UPDATEs of the same shape as one executemany; on the servers they are
    -- one UPDATE joined to the rows (PostgreSQL: a VALUES list; MySQL: a UNION ALL of
    -- SELECTs), its parameters the rows' one after another
    assert.equal(1, #ups)
    if SPEC_DIALECT ~= "sqlite" then
      assert.truthy(has(ups[1].sql, for_dialect({ postgresql = "FROM (VALUES", mysql = "UNION ALL SELECT" })),
        ups[1].sql)
      assert.same({ 1, u.id, 2, v.id }, ups[1].params)
    else
      assert.same({ { 1, u.id }, { 2, v.id } }, ups[1].params)
    end
    s:commit()
    local rows = env.db_rows()
    assert.equal(1, rows[1].age)
    assert.equal(2, rows[2].age)
  end)

  it("emits separate UPDATEs when different columns change", function()
    local v = env.User{ name = "v" }
    s:add(v)
    s:flush()
    env.clear()
    u.age = 1
    v.name = "vv"
    s:flush()
    local ups = env.statements("^UPDATE")
    assert.equal(2, #ups)
  end)

  it("lists changed objects in session.dirty", function()
    assert.equal(0, #s.dirty)
    u.age = 99
    assert.equal(1, #s.dirty)
    assert.truthy(s.dirty:contains(u))
    local seen = {}
    for o in s.dirty:iter() do seen[#seen + 1] = o end
    assert.equal(1, #seen)
    assert.truthy(rawequal(u, seen[1]))
    s:flush()
    assert.equal(0, #s.dirty)
  end)

  it("reports is_modified", function()
    assert.is_false(s:is_modified(u))
    u.email = "new@x"
    assert.is_true(s:is_modified(u))
    s:flush()
    assert.is_false(s:is_modified(u))
  end)

  it("can set a column to nil with an UPDATE", function()
    u.email = nil
    s:commit()
    assert.is_nil(env.db_rows()[1].email)
    local ups = env.statements("^UPDATE")
    assert.equal(1, #ups)
    assert.truthy(has(ups[1].sql, "email=?"))
  end)
end)

describe("flush and INSERT", function()
  local env, s
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
  end)

  it("batches INSERTs of one table into one reported statement", function()
    local users = {}
    for i = 1, 5 do users[i] = env.User{ name = "u" .. i } end
    s:add_all(users)
    s:flush()
    local ins = env.statements("^INSERT")
    assert.equal(1, #ins)
    if SPEC_DIALECT == "postgresql" or SPEC_DIALECT == "mariadb" then
      -- keys read back by RETURNING: one multi-row INSERT, the rows' values flattened into
      -- one list (SQLAlchemy's insertmanyvalues)
      assert.truthy(has(ins[1].sql, "VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?) RETURNING"), ins[1].sql)
      assert.same({ "u1", nil, nil, "u2", nil, nil, "u3", nil, nil, "u4", nil, nil, "u5" }, ins[1].params)
    else
      -- one executemany with a parameter set per row (MySQL: a last-insert id per row)
      assert.equal(5, #ins[1].params)
      assert.same({ "u3", nil, nil }, ins[1].params[3])
    end
  end)

  it("sets generated primary keys on every object of a batch", function()
    local users = {}
    for i = 1, 4 do users[i] = env.User{ name = "u" .. i } end
    s:add_all(users)
    s:flush()
    local ids = {}
    for i, u in ipairs(users) do ids[i] = u.id end
    assert.same({ 1, 2, 3, 4 }, ids)
    -- another connection sees the rows once they are committed
    s:commit()
    local rows = env.db_rows()
    assert.equal(4, #rows)
    for i, r in ipairs(rows) do assert.equal("u" .. i, r.name) end
  end)

  it("keeps an explicitly given primary key", function()
    local u = env.User{ id = 42, name = "answer" }
    s:add(u)
    s:commit()
    assert.equal(42, u.id)
    assert.equal(42, env.db_rows()[1].id)
  end)

  it("runs the flush in one transaction", function()
    s:add_all({ env.User{ name = "a" }, env.User{ name = "b" } })
    s:commit()
    assert.equal(1, env.count("^BEGIN"))
    assert.equal(1, env.count("^COMMIT"))
  end)

  it("inserts parents before children", function()
    local Base = orm.declarative_base()
    local Parent = Base:model("Parent", { __tablename__ = "parents", id = orm.Column(orm.Integer, { primary_key = true }) })
    local Child = Base:model("Child", {
      __tablename__ = "children",
      id = orm.Column(orm.Integer, { primary_key = true }),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("parents.id")),
    })
    Base.metadata:create_all(env.engine)
    env.clear()
    -- the child is added first; with explicit keys, the FK holds only if parents go first
    s:add(Child{ id = 1, parent_id = 7 })
    s:add(Parent{ id = 7 })
    s:commit()
    local p, c
    for i, e in ipairs(env.log) do
      if e.sql:find("^INSERT INTO parents") then p = i end
      if e.sql:find("^INSERT INTO children") then c = i end
    end
    assert.truthy(p and c and p < c)
  end)

  it("lists pending objects in session.new until flush", function()
    local a, b = env.User{ name = "a" }, env.User{ name = "b" }
    s:add_all({ a, b })
    assert.equal(2, #s.new)
    assert.truthy(s.new:contains(a))
    assert.truthy(s.new:contains(b))
    assert.falsy(s.new:contains(env.User{ name = "c" }))
    local n = 0
    for _ in s.new:iter() do n = n + 1 end
    assert.equal(2, n)
    s:flush()
    assert.equal(0, #s.new)
  end)

  it("adding the same object twice inserts it once", function()
    local a = env.User{ name = "a" }
    s:add(a)
    s:add(a)
    s:commit()
    assert.equal(1, env.db_count())
  end)

  it("rejects a duplicate primary key with IntegrityError", function()
    s:add(env.User{ id = 1, name = "first" })
    s:commit()
    s:close()
    local s2 = orm.Session(env.engine)
    s2:add(env.User{ id = 1, name = "second" })
    local err = pcall_err(s2.flush, s2)
    assert.equal("IntegrityError", err.kind)
    assert_mentions(err, {
      sqlite = { "UNIQUE constraint failed: users.id" },
      postgresql = { 'violates unique constraint "users_pkey"', "Key (id)=(1) already exists" },
      -- MySQL 8 says 'users.PRIMARY', MariaDB 'PRIMARY'
      mysql = { "Duplicate entry '1' for key '", "PRIMARY'" },
    })
    s2:rollback()
    assert.same({ { id = 1, name = "first" } }, env.db_rows("SELECT id, name FROM users"))
  end)
end)

describe("delete", function()
  local env, s, u
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
    u = env.User{ name = "doomed" }
    s:add_all({ u, env.User{ name = "stays" } })
    s:commit()
  end)

  it("deletes the row on commit", function()
    s:delete(u)
    assert.equal(1, #s.deleted)
    assert.truthy(s.deleted:contains(u))
    s:commit()
    assert.equal(1, env.db_count())
    assert.equal("stays", env.db_rows()[1].name)
    assert.is_nil(s:get(env.User, 1))
  end)

  it("iterates session.deleted", function()
    s:delete(u)
    local seen = {}
    for o in s.deleted:iter() do seen[#seen + 1] = o end
    assert.equal(1, #seen)
    assert.truthy(rawequal(u, seen[1]))
    s:flush()
    assert.equal(0, #s.deleted)
  end)

  it("emits a DELETE naming the primary key", function()
    s:delete(u)
    s:flush()
    local dels = env.statements("^DELETE FROM users")
    assert.equal(1, #dels)
    assert.same({ 1 }, dels[1].params)
  end)

  it("cancels the delete on rollback", function()
    s:delete(u)
    s:flush()
    s:rollback()
    assert.equal("persistent", state(u))
    assert.equal(2, env.db_count())
    assert.equal("doomed", u.name)
  end)

  it("rejects deleting a transient object", function()
    local err = pcall_err(s.delete, s, env.User{ name = "never" })
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("hides the deleted object from queries after flush", function()
    s:delete(u)
    local names = {}
    for x in s:scalars(orm.select(env.User)) do names[#names + 1] = x.name end
    assert.same({ "stays" }, names)
  end)
end)

describe("expiry", function()
  local env, s, u
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
    u = env.User{ name = "ed", age = 1 }
    s:add(u)
    s:commit()
    env.clear()
  end)

  it("expires attributes on commit and reloads them in a new transaction", function()
    assert.equal("ed", u.name)
    assert.equal(1, env.count("^BEGIN"))
    assert.equal(1, env.count("^SELECT users"))
  end)

  it("reloads a value changed in the database by another connection after commit", function()
    local conn = env.engine:connect()
    conn:execute(orm.text("UPDATE users SET name = 'outside' WHERE id = 1"))
    conn:commit()
    conn:close()
    assert.equal("outside", u.name)
  end)

  it("loads all expired attributes in one SELECT", function()
    local _ = u.name, u.age, u.email
    assert.equal(1, env.count("^SELECT"))
  end)

  it("does not expire on commit when expire_on_commit is false", function()
    local s2 = orm.Session(env.engine, { expire_on_commit = false })
    local v = env.User{ name = "kept" }
    s2:add(v)
    s2:commit()
    env.clear()
    assert.equal("kept", v.name)
    assert.equal(0, env.count("^SELECT"))
  end)

  it("raises DetachedInstanceError for an expired attribute after close", function()
    s:close()
    local err = pcall_err(function() return u.name end)
    assert.equal("DetachedInstanceError", err.kind)
    assert.truthy(has(tostring(err), "User.name"), tostring(err))
  end)

  it("keeps loaded values readable after close without commit", function()
    local s2 = orm.Session(env.engine)
    local v = s2:get(env.User, 1)
    s2:close()
    assert.equal("detached", state(v))
    assert.equal("ed", v.name)
    assert.equal(1, v.age)
  end)

  it("expire with names reloads only those attributes", function()
    assert.equal("ed", u.name)
    u.name = "local-name"
    u.age = 50
    s:expire(u, { "name" })
    assert.equal("ed", u.name)
    assert.equal(50, u.age)
  end)

  it("expire without names discards every pending change", function()
    assert.equal("ed", u.name)
    u.name = "local"
    s:expire(u)
    assert.equal("ed", u.name)
    assert.is_false(s:is_modified(u))
  end)

  it("expire_all expires every object", function()
    local s2 = orm.Session(env.engine, { expire_on_commit = false })
    local a = s2:get(env.User, 1)
    local b = env.User{ name = "b", age = 2 }
    s2:add(b)
    s2:commit() -- ends the transaction; nothing expired
    local conn = env.engine:connect()
    conn:execute(orm.text("UPDATE users SET age = 9"))
    conn:commit()
    conn:close()
    assert.equal(1, a.age)
    assert.equal(2, b.age)
    s2:expire_all()
    assert.equal(9, a.age)
    assert.equal(9, b.age)
  end)

  it("refresh reloads from the database, discarding local changes", function()
    assert.equal("ed", u.name)
    u.name = "local"
    s:refresh(u)
    assert.equal("ed", u.name)
    assert.is_false(s:is_modified(u))
  end)

  it("refresh of a transient object raises", function()
    local ok = pcall(s.refresh, s, env.User{ name = "t" })
    assert.falsy(ok)
  end)
end)

describe("transactions", function()
  local env, s
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
  end)

  it("begin(fn) commits on return and passes on the results", function()
    local a, b = s:begin(function()
      s:add(env.User{ name = "in-begin" })
      return 1, "two"
    end)
    assert.equal(1, a)
    assert.equal("two", b)
    assert.equal(1, env.db_count())
  end)

  it("begin(fn) rolls back and re-raises the very error value", function()
    local boom = { code = 42 }
    local u = env.User{ name = "rolled" }
    local ok, err = pcall(s.begin, s, function()
      s:add(u)
      s:flush()
      error(boom)
    end)
    assert.falsy(ok)
    assert.truthy(rawequal(boom, err))
    assert.equal(1, env.count("^ROLLBACK"))
    assert.equal(0, env.count("^COMMIT"))
    assert.equal(0, env.db_count())
    assert.equal("transient", state(u))
  end)

  it("begin(fn) re-raises a string error unchanged", function()
    local ok, err = pcall(s.begin, s, function() error("plain message", 0) end)
    assert.falsy(ok)
    assert.equal("plain message", err)
  end)

  it("begin(fn) while a transaction is open raises InvalidRequestError", function()
    s:add(env.User{ name = "x" })
    s:flush()
    local err = pcall_err(s.begin, s, function() end)
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("rollback discards unflushed and flushed work", function()
    local a = env.User{ name = "a" }
    s:add(a)
    s:flush()
    s:add(env.User{ name = "b" })
    s:rollback()
    assert.equal(0, env.db_count())
    assert.equal(0, #s.new)
  end)

  it("begin_nested rolls back to the savepoint and keeps the outer work", function()
    local outer = env.User{ name = "outer" }
    s:add(outer)
    local inner
    local boom = {}
    local ok, err = pcall(s.begin_nested, s, function()
      inner = env.User{ name = "inner" }
      s:add(inner)
      s:flush()
      error(boom)
    end)
    assert.falsy(ok)
    assert.truthy(rawequal(boom, err))
    assert.equal("transient", state(inner))
    assert.is_nil(inner.id)
    assert.equal("persistent", state(outer))
    s:commit()
    assert.same({ "outer" }, (function()
      local t = {}
      for _, r in ipairs(env.db_rows()) do t[#t + 1] = r.name end
      return t
    end)())
    assert.equal(1, env.count("^ROLLBACK TO SAVEPOINT"))
  end)

  it("begin_nested releases the savepoint on return and the work commits with the outer", function()
    s:add(env.User{ name = "outer" })
    s:begin_nested(function() s:add(env.User{ name = "inner" }) end)
    assert.equal(1, env.count("^SAVEPOINT"))
    assert.equal(1, env.count("^RELEASE SAVEPOINT"))
    s:commit()
    assert.equal(2, env.db_count())
  end)

  it("begin_nested confines a failed flush to the savepoint", function()
    local a = env.User{ name = "a", email = "a@x" }
    s:add(a)
    s:commit()
    local outer = env.User{ name = "outer", email = "o@x" }
    s:add(outer)
    local dup = env.User{ name = "dup", email = "a@x" }
    local err = pcall_err(s.begin_nested, s, function()
      s:add(dup)
      s:flush()
    end)
    assert.equal("IntegrityError", err.kind)
    assert.equal("transient", state(dup))
    assert.equal("persistent", state(outer))
    s:commit()
    assert.equal(2, env.db_count())
  end)

  it("begin_nested restores an object deleted inside the savepoint", function()
    local u = env.User{ name = "keep" }
    s:add(u)
    s:commit()
    local ok = pcall(s.begin_nested, s, function()
      s:delete(u)
      s:flush()
      error("undo")
    end)
    assert.falsy(ok)
    assert.equal("persistent", state(u))
    s:commit()
    assert.equal(1, env.db_count())
  end)

  it("run(fn) passes the session, returns results and closes without commit", function()
    local u
    local name = orm.Session(env.engine):run(function(ss)
      u = env.User{ name = "uncommitted" }
      ss:add(u)
      ss:flush()
      return u.name
    end)
    assert.equal("uncommitted", name)
    -- no longer in any session (SQLAlchemy's close leaves it detached)
    assert.is_nil(orm.inspect(u).session)
    assert.falsy(orm.inspect(u).persistent)
    assert.falsy(orm.inspect(u).pending)
    assert.equal(0, env.db_count())
  end)

  it("run(fn) closes the session even when fn raises", function()
    local boom = {}
    local ss = orm.Session(env.engine)
    local ok, err = pcall(ss.run, ss, function()
      ss:add(env.User{ name = "x" })
      ss:flush()
      error(boom)
    end)
    assert.falsy(ok)
    assert.truthy(rawequal(boom, err))
    assert.equal(0, env.db_count())
  end)

  -- `<close>` (Lua 5.4): spec/lua54_close_spec.lua

  it("close rolls back an open transaction and detaches objects", function()
    local u = env.User{ name = "x" }
    s:add(u)
    s:flush()
    s:close()
    assert.equal(0, env.db_count())
    assert.equal(0, #s.new)
    assert.falsy(orm.inspect(u).persistent)
  end)

  it("can be used again after close by default", function()
    s:add(env.User{ name = "one" })
    s:commit()
    s:close()
    assert.equal("one", s:get(env.User, 1).name)
  end)

  it("refuses use after close with close_resets_only = false", function()
    local ss = orm.Session(env.engine, { close_resets_only = false })
    ss:add(env.User{ name = "one" })
    ss:commit()
    ss:close()
    local e1 = pcall_err(ss.get, ss, env.User, 1)
    assert.equal("InvalidRequestError", e1.kind)
    assert.truthy(has(tostring(e1), "closed"))
    local e2 = pcall_err(ss.add, ss, env.User{ name = "two" })
    assert.equal("InvalidRequestError", e2.kind)
    local e3 = pcall_err(ss.execute, ss, orm.select(env.User))
    assert.equal("InvalidRequestError", e3.kind)
  end)
end)

describe("sessionmaker", function()
  local env
  before_each(function() env = setup() end)

  it("makes sessions bound to the engine", function()
    local Session = orm.sessionmaker{ bind = env.engine }
    local s = Session()
    s:add(env.User{ name = "made" })
    s:commit()
    local s2 = Session()
    assert.equal("made", s2:get(env.User, 1).name)
    assert.falsy(rawequal(s, s2))
  end)

  it("takes its bind from configure", function()
    local Session = orm.sessionmaker()
    Session:configure{ bind = env.engine }
    local s = Session()
    s:add(env.User{ name = "configured" })
    s:commit()
    assert.equal(1, env.db_count())
  end)

  it("passes options such as expire_on_commit", function()
    local Session = orm.sessionmaker{ bind = env.engine, expire_on_commit = false }
    local s = Session()
    local u = env.User{ name = "x" }
    s:add(u)
    s:commit()
    env.clear()
    assert.equal("x", u.name)
    assert.equal(0, env.count("^SELECT"))
  end)

  it("begin(fn) on the maker commits and closes", function()
    local Session = orm.sessionmaker{ bind = env.engine }
    local u
    Session:begin(function(s)
      u = env.User{ name = "auto" }
      s:add(u)
    end)
    assert.equal(1, env.db_count())
    assert.equal("detached", state(u))
  end)
end)

describe("merge, expunge and info", function()
  local env, s
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
    s:add(env.User{ name = "orig", email = "o@x" })
    s:commit()
    s:close()
    s = orm.Session(env.engine)
  end)

  it("merge copies a detached object's state onto the persistent one", function()
    local incoming = env.User{ id = 1, name = "merged" }
    local m = s:merge(incoming)
    assert.falsy(rawequal(m, incoming))
    assert.equal("persistent", state(m))
    assert.equal("transient", state(incoming))
    assert.equal("merged", m.name)
    assert.is_true(s:is_modified(m))
    s:commit()
    assert.equal("merged", env.db_rows()[1].name)
  end)

  it("merge returns the object already in the identity map", function()
    local existing = s:get(env.User, 1)
    local m = s:merge(env.User{ id = 1, name = "again" })
    assert.truthy(rawequal(existing, m))
    assert.equal("again", existing.name)
  end)

  it("merge of an object with an unknown key makes a new pending object", function()
    local m = s:merge(env.User{ id = 50, name = "new" })
    assert.equal("pending", state(m))
    s:commit()
    assert.equal(2, env.db_count())
  end)

  it("expunge detaches one object and discards its changes", function()
    local u = s:get(env.User, 1)
    u.name = "unsaved"
    s:expunge(u)
    assert.equal("detached", state(u))
    s:commit()
    assert.equal("orig", env.db_rows()[1].name)
    assert.falsy(rawequal(u, s:get(env.User, 1)))
  end)

  it("expunge of a pending object makes it transient", function()
    local u = env.User{ name = "p" }
    s:add(u)
    s:expunge(u)
    assert.equal("transient", state(u))
    s:commit()
    assert.equal(1, env.db_count())
  end)

  it("expunge_all detaches every object", function()
    local a = s:get(env.User, 1)
    local b = env.User{ name = "b" }
    s:add(b)
    s:expunge_all()
    assert.equal("detached", state(a))
    assert.equal("transient", state(b))
    assert.equal(0, #s.new)
  end)

  it("info is a plain table kept for the caller", function()
    assert.is_table(s.info)
    s.info.request_id = 7
    assert.equal(7, s.info.request_id)
  end)
end)

describe("failed flush", function()
  local env, s, kept, doomed, fresh
  before_each(function()
    env = setup()
    s = orm.Session(env.engine)
    kept = env.User{ name = "kept", email = "kept@x", age = 1 }
    doomed = env.User{ name = "doomed", email = "doomed@x" }
    s:add_all({ kept, doomed })
    s:commit()
    -- a new transaction: one good flush, then changes that will fail
    fresh = env.User{ name = "fresh", email = "fresh@x" }
    s:add(fresh)
    s:flush()
    assert.truthy(fresh.id)
    kept.age = 2
    s:delete(doomed)
    s:flush()
    env.clear()
  end)

  local function fail_unique()
    s:add(env.User{ name = "clash", email = "kept@x" })
    return pcall_err(s.flush, s)
  end

  it("raises IntegrityError for a UNIQUE violation with statement and params", function()
    local err = fail_unique()
    assert.equal("IntegrityError", err.kind)
    assert.truthy(err:is("IntegrityError"))
    assert.truthy(err:is("DBAPIError"))
    assert.truthy(has(err.statement, "INSERT INTO users"))
    assert_mentions(err, {
      sqlite = { "IntegrityError: UNIQUE constraint failed: users.email" },
      postgresql = {
        'IntegrityError: duplicate key value violates unique constraint "users_email_key"',
        "Key (email)=(kept@x) already exists",
      },
      -- MySQL 8 says 'users.email', MariaDB 'email'
      mysql = { "IntegrityError: (1062, \"Duplicate entry 'kept@x' for key '", "email'" },
    })
    assert.truthy(has(tostring(err), "[SQL: INSERT INTO users"))
    assert.truthy(has(tostring(err), "[parameters: "))
  end)

  it("raises IntegrityError for a NOT NULL violation", function()
    s:add(env.User{ email = "nameless@x" })
    local err = pcall_err(s.flush, s)
    assert.equal("IntegrityError", err.kind)
    assert_mentions(err, {
      sqlite = { "NOT NULL constraint failed: users.name" },
      postgresql = { 'null value in column "name" of relation "users" violates not-null constraint' },
      mysql = { "(1048, \"Column 'name' cannot be null\")" },
    })
  end)

  it("then raises PendingRollbackError from flush, query, commit and get", function()
    fail_unique()
    -- a flush with nothing to write returns at once, as SQLAlchemy's (checked on 2.0.58)
    s:flush()
    s:add(env.User{ name = "after" })
    local e1 = pcall_err(s.flush, s)
    assert.equal("PendingRollbackError", e1.kind)
    local e2 = pcall_err(s.scalars, s, orm.select(env.User))
    assert.equal("PendingRollbackError", e2.kind)
    local e3 = pcall_err(s.commit, s)
    assert.equal("PendingRollbackError", e3.kind)
    local e4 = pcall_err(function() return s:query(env.User):all() end)
    assert.equal("PendingRollbackError", e4.kind)
    assert.truthy(has(tostring(e1), "rollback"))
  end)

  it("leaves nothing of the failed transaction in the database", function()
    fail_unique()
    local rows = env.db_rows()
    assert.equal(2, #rows)
    assert.equal("kept", rows[1].name)
    assert.equal(1, rows[1].age)
    assert.equal("doomed", rows[2].name)
  end)

  it("makes pending objects transient with generated ids cleared after rollback", function()
    fail_unique()
    s:rollback()
    assert.equal("transient", state(fresh))
    assert.is_nil(fresh.id)
    assert.equal("fresh", fresh.name)
    assert.equal(0, #s.new)
  end)

  it("makes objects deleted in the transaction persistent again after rollback", function()
    fail_unique()
    s:rollback()
    assert.equal("persistent", state(doomed))
    assert.equal("doomed", doomed.name)
    assert.equal(0, #s.deleted)
  end)

  it("expires persistent objects so they reload from the database after rollback", function()
    fail_unique()
    s:rollback()
    env.clear()
    assert.equal(1, kept.age)
    assert.equal(1, env.count("^SELECT users"))
  end)

  it("lets the session work normally after rollback, re-adding a cleared object", function()
    fail_unique()
    s:rollback()
    s:add(fresh)
    s:commit()
    assert.truthy(fresh.id)
    local names = {}
    for _, r in ipairs(env.db_rows()) do names[#names + 1] = r.name end
    assert.same({ "kept", "doomed", "fresh" }, names)
  end)

  it("restores a persistent object's values after a failed UPDATE and rollback", function()
    s:rollback()
    env.clear()
    kept.email = "doomed@x"
    local err = pcall_err(s.flush, s)
    assert.equal("IntegrityError", err.kind)
    assert.truthy(has(err.statement, "UPDATE users"))
    s:rollback()
    assert.equal("kept@x", kept.email)
    assert.equal("persistent", state(kept))
  end)

  it("rolls back on a failed commit too", function()
    s:add(env.User{ name = "clash", email = "kept@x" })
    local err = pcall_err(s.commit, s)
    assert.equal("IntegrityError", err.kind)
    local e2 = pcall_err(s.commit, s)
    assert.equal("PendingRollbackError", e2.kind)
    s:rollback()
    assert.equal(2, env.db_count())
  end)
end)

describe("plain rollback", function()
  it("clears generated keys of objects added in the transaction", function()
    local env = setup()
    local s = orm.Session(env.engine)
    local u = env.User{ name = "temp" }
    s:add(u)
    s:flush()
    assert.equal(1, u.id)
    s:rollback()
    assert.is_nil(u.id)
    assert.equal("transient", state(u))
    s:add(u)
    s:commit()
    -- SQLite's rowid follows the rolled-back table; a server's sequence / AUTO_INCREMENT
    -- is not rolled back, so the re-added object gets the next key
    assert.equal(for_dialect({ sqlite = 1, postgresql = 2, mysql = 2 }), u.id)
    assert.equal(1, env.db_count())
  end)

  it("restores the original values of modified persistent objects", function()
    local env = setup()
    local s = orm.Session(env.engine)
    local u = env.User{ name = "orig" }
    s:add(u)
    s:commit()
    u.name = "changed"
    s:flush()
    s:rollback()
    assert.equal("orig", u.name)
  end)
end)

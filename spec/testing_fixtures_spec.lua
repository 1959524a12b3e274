-- Database fixtures: Connection:begin() / begin_nested() / in_transaction(), a session bound
-- to a connection with SQLAlchemy 2.0's join_transaction_mode, and require("lualchemy.testing")
-- (a session per test joined to a transaction rolled back after it, assert.queries).
-- Expected values were checked against SQLAlchemy 2.0.58 on a SQLite file database (with
-- the pysqlite recipe of SQLAlchemy's SQLite docs, without which pysqlite lets a SAVEPOINT
-- begin a transaction of its own).
local orm = require("lualchemy")
local testing = require("lualchemy.testing")

local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
})

local function new_engine()
  local engine = orm.create_engine("sqlite://")
  Base.metadata:create_all(engine)
  return engine
end

local function count(conn)
  return conn:execute(orm.text("SELECT count(*) FROM users")):scalar()
end

local function names(engine)
  local conn = engine:connect()
  local out = {}
  for _, row in ipairs(conn:execute(orm.text("SELECT name FROM users ORDER BY id")):all()) do
    out[#out + 1] = row[1]
  end
  conn:close()
  return out
end

describe("Connection transactions", function()
  it("begin() returns the transaction; commit() makes it durable and inactive", function()
    local engine = new_engine()
    local conn = engine:connect()
    assert.is_false(conn:in_transaction())
    local trans = conn:begin()
    assert.is_true(conn:in_transaction())
    assert.is_true(trans.is_active)
    conn:execute(orm.text("INSERT INTO users (name) VALUES ('a')"))
    trans:commit()
    assert.is_false(conn:in_transaction())
    assert.is_false(trans.is_active)
    assert.has_error(function() trans:commit() end, "InvalidRequestError: This transaction is inactive")
    trans:rollback() -- an ended transaction's rollback does nothing, as SQLAlchemy's
    conn:close()
    assert.same({ "a" }, names(engine))
  end)

  it("refuses begin() inside a transaction, begun or autobegun", function()
    local conn = new_engine():connect()
    conn:begin()
    assert.has_error(function() conn:begin() end)
    conn:rollback()
    conn:execute(orm.text("SELECT 1"))
    local ok, err = pcall(conn.begin, conn)
    assert.is_false(ok)
    assert.matches("already begun a transaction", tostring(err))
    conn:close()
    assert.has_error(function() conn:begin() end, "InvalidRequestError: This Connection is closed")
  end)

  it("begin_nested() is a SAVEPOINT: rollback undoes only it, commit releases it", function()
    local engine = new_engine()
    local conn = engine:connect()
    local trans = conn:begin()
    conn:execute(orm.text("INSERT INTO users (name) VALUES ('one')"))
    local sp = conn:begin_nested()
    assert.is_true(conn:in_nested_transaction())
    assert.is_true(sp.nested)
    conn:execute(orm.text("INSERT INTO users (name) VALUES ('two')"))
    sp:rollback()
    assert.is_false(conn:in_nested_transaction())
    assert.is_false(sp.is_active)
    assert.equal(1, count(conn))
    local sp2 = conn:begin_nested()
    conn:execute(orm.text("INSERT INTO users (name) VALUES ('three')"))
    sp2:commit()
    assert.equal(2, count(conn))
    assert.is_true(trans.is_active)
    trans:commit()
    conn:close()
    assert.same({ "one", "three" }, names(engine))
  end)

  it("begin_nested() without a transaction begins one; conn:rollback() ends both", function()
    local conn = new_engine():connect()
    local sp = conn:begin_nested()
    assert.is_true(conn:in_transaction())
    assert.is_true(conn:in_nested_transaction())
    conn:rollback()
    assert.is_false(conn:in_transaction())
    assert.is_false(sp.is_active)
    conn:close()
  end)

  it("a transaction of a rolled-back connection is inactive and its rollback does nothing", function()
    local conn = new_engine():connect()
    local trans = conn:begin()
    conn:rollback()
    assert.is_false(trans.is_active)
    trans:rollback()
    conn:close()
  end)
end)

-- The sequence SQLAlchemy was run with: the test's transaction (and, when nested, a
-- SAVEPOINT), one row on the connection, then a session in `mode` commits a user, flushes
-- and rolls back another, flushes and closes with a third. After each: in_transaction,
-- in_nested_transaction, the test's transaction still active, the rows it sees (counting
-- autobegins, as conn.execute does); then the names left once the test rolled back.
local function joined_run(mode, nested)
  local engine = new_engine()
  local conn = engine:connect()
  local trans = conn:begin()
  if nested then conn:begin_nested() end
  conn:execute(orm.text("INSERT INTO users (name) VALUES ('zero')"))
  local s = orm.Session(conn, { join_transaction_mode = mode })
  local function state()
    return { conn:in_transaction(), conn:in_nested_transaction(), trans.is_active, count(conn) }
  end
  s:add(User{ name = "a" })
  s:commit()
  local after_commit = state()
  s:add(User{ name = "b" })
  s:flush()
  s:rollback()
  local after_rollback = state()
  s:add(User{ name = "c" })
  s:flush()
  s:close()
  local after_close = state()
  trans:rollback()
  conn:close()
  return { after_commit, after_rollback, after_close }, names(engine)
end

describe("orm.Session(connection, { join_transaction_mode = ... })", function()
  local T, F = true, false

  it("conditional_savepoint (the default): rollback_only outside a SAVEPOINT", function()
    local steps, left = joined_run("conditional_savepoint", false)
    assert.same({ { T, F, T, 2 }, { F, F, F, 0 }, { T, F, F, 1 } }, steps)
    assert.same({}, left)
  end)

  it("conditional_savepoint: create_savepoint inside a SAVEPOINT", function()
    local steps, left = joined_run("conditional_savepoint", true)
    assert.same({ { T, T, T, 2 }, { T, T, T, 2 }, { T, T, T, 2 } }, steps)
    assert.same({}, left)
  end)

  it("create_savepoint never ends the test's transaction", function()
    for _, nested in ipairs({ false, true }) do
      local steps, left = joined_run("create_savepoint", nested)
      assert.same({ { T, nested, T, 2 }, { T, nested, T, 2 }, { T, nested, T, 2 } }, steps)
      assert.same({}, left)
    end
  end)

  it("rollback_only: rollback ends the joined transaction, commit never does", function()
    local steps, left = joined_run("rollback_only", false)
    assert.same({ { T, F, T, 2 }, { F, F, F, 0 }, { T, F, F, 1 } }, steps)
    assert.same({}, left)
    steps, left = joined_run("rollback_only", true)
    assert.same({ { T, T, T, 2 }, { T, F, T, 0 }, { T, F, T, 1 } }, steps)
    assert.same({}, left)
  end)

  it("control_fully: the session's commit commits the test's transaction", function()
    local steps, left = joined_run("control_fully", false)
    assert.same({ { F, F, F, 2 }, { F, F, F, 2 }, { F, F, F, 2 } }, steps)
    assert.same({ "zero", "a" }, left)
    steps, left = joined_run("control_fully", true)
    assert.same({ { T, F, T, 2 }, { F, F, F, 0 }, { F, F, F, 0 } }, steps)
    assert.same({}, left)
  end)

  it("the default mode is conditional_savepoint", function()
    local engine = new_engine()
    local conn = engine:connect()
    local trans = conn:begin()
    local s = orm.Session(conn)
    s:add(User{ name = "a" })
    s:commit()
    assert.is_true(trans.is_active)
    s:add(User{ name = "b" })
    s:flush()
    s:rollback()
    assert.is_false(trans.is_active) -- rollback_only: the test's transaction ended
    conn:close()
  end)

  it("a connection outside a transaction gets one the session owns", function()
    local engine = new_engine()
    local conn = engine:connect()
    local s = orm.Session(conn, { join_transaction_mode = "create_savepoint" })
    s:add(User{ name = "kept" })
    s:commit()
    assert.is_false(conn:in_transaction())
    conn:close()
    assert.same({ "kept" }, names(engine))
  end)

  it("accepts the connection as bind in the options", function()
    local engine = new_engine()
    local conn = engine:connect()
    local trans = conn:begin()
    local s = orm.Session{ bind = conn, join_transaction_mode = "create_savepoint" }
    s:add(User{ name = "a" })
    s:commit()
    assert.equal(1, s:scalar(orm.select(orm.func.count()):select_from(User)))
    trans:rollback()
    conn:close()
    assert.same({}, names(engine))
  end)

  it("refuses work once the connection is closed", function()
    local conn = new_engine():connect()
    local s = orm.Session(conn)
    conn:close()
    local ok, err = pcall(function() return s:get(User, 1) end)
    assert.is_false(ok)
    assert.matches("bound to a Connection that has been closed", tostring(err), 1, true)
  end)

  it("rejects an unknown mode, naming the valid ones", function()
    local conn = new_engine():connect()
    local ok, err = pcall(orm.Session, conn, { join_transaction_mode = "conservative_savepoint" })
    assert.is_false(ok)
    assert.matches('invalid selection for join_transaction_mode: "conservative_savepoint"', tostring(err), 1, true)
    assert.matches("create_savepoint", tostring(err), 1, true)
    assert.has_error(function() orm.Session(conn, { join_transaction_mode = 1 }) end)
    assert.has_error(function() orm.sessionmaker{ bind = conn } end)
    conn:close()
  end)
end)

describe("lualchemy.testing fixture", function()
  local db = testing.fixture{ metadata = Base.metadata }
  db:around_each()
  local seen = {}

  it("gives each test a session the code under test may commit", function()
    db.session:add(User{ name = "first" })
    db.session:commit()
    db.session:add(User{ name = "dropped" })
    db.session:rollback()
    assert.same({ "first" }, db.session:scalars(orm.select(User.name)):all())
    seen[#seen + 1] = db.session
  end)

  it("rolled the previous test back", function()
    assert.equal(0, db.session:scalar(orm.select(orm.func.count()):select_from(User)))
    assert.is_true(db.transaction.is_active)
    assert.are_not.equal(seen[1], db.session)
  end)

  it("shares the transaction with another session of the test", function()
    db.session:add(User{ name = "x" })
    db.session:commit()
    local other = db:new_session()
    assert.same({ "x" }, other:scalars(orm.select(User.name)):all())
  end)

  it("leaves the shared engine's database as it found it", function()
    assert.same({}, names(db.engine))
  end)

  it("counts queries with assert.queries", function()
    db.session:add(User{ name = "q" })
    assert.queries(1, function() db.session:flush() end)
    assert.is_not.queries(0, function()
      db.session:scalars(orm.select(User)):all()
    end)
    local ok, err = pcall(assert.queries, 2, function()
      db.session:scalars(orm.select(User.name)):all()
    end)
    assert.is_false(ok)
    assert.matches("Expected 2 statements to be executed, but 1 were:", tostring(err), 1, true)
    assert.matches("SELECT users.name", tostring(err), 1, true)
  end)

  it("answers a second get from the identity map (the TESTING.md example)", function()
    local user = User{ name = "sword" }
    db.session:add(user)
    assert.queries(1, function() db.session:flush() end)
    assert.queries(0, function() db.session:get(User, user.id) end)
  end)

  it("counts with a query counter and count_queries", function()
    local counter = testing.query_counter(db.engine)
    db.session:add(User{ name = "c" })
    db.session:flush()
    db.session:get(User, 999)
    assert.equal(2, counter.count)
    assert.matches("^INSERT INTO users", counter.statements[1])
    counter:reset()
    counter:stop()
    db.session:get(User, 998)
    assert.equal(0, counter.count)
    local n, statements = db:count_queries(function() db.session:get(User, 997) end)
    assert.equal(1, n)
    assert.matches("^SELECT", statements[1])
  end)

  it("refuses a second begin while a test is open", function()
    assert.has_error(function() db:begin() end)
  end)
end)

describe("lualchemy.testing without hooks", function()
  it("begin / rollback by hand, and option errors", function()
    local engine = new_engine()
    local db = testing.fixture{ engine = engine }
    local s = db:begin()
    s:add(User{ name = "gone" })
    s:commit()
    db:rollback()
    db:rollback() -- nothing open: nothing to do
    assert.same({}, names(engine))
    assert.has_error(function() testing.fixture{ urll = "sqlite://" } end)
    assert.has_error(function() testing.fixture{ url = "sqlite://", engine = engine } end)
    assert.has_error(function() assert.queries(1, function() end) end)
    assert.queries(0, function() end, engine)
  end)
end)

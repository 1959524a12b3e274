-- orm.create_engine's options: unknown ones refused, how SQLite transactions begin
-- (sqlite_begin), the busy timeout (connect_args.timeout), what "database is locked" says,
-- and a file database deleted or moved while open.
local orm = require("lualchemy")

local function notes(url, options)
  local engine = orm.create_engine(url, options)
  local Base = orm.declarative_base()
  local Note = Base:model("Note", {
    __tablename__ = "notes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    body = orm.Column(orm.String(50), { nullable = false }),
  })
  Base.metadata:create_all(engine)
  local count_stmt = orm.select(orm.func.count()):select_from(Note)
  return engine, Note, function(s) return s:scalar(count_stmt) end
end

local function arg_error(fn, ...)
  local err = assert.has_error(fn)
  assert.equal("ArgumentError", err.kind, tostring(err))
  for _, part in ipairs({ ... }) do
    assert.truthy(err.message:find(part, 1, true), err.message)
  end
  return err
end

describe("create_engine options", function()
  it("refuses an unknown option, naming it and the valid ones", function()
    arg_error(function() orm.create_engine("sqlite://", { ehco = true }) end,
      "unknown option 'ehco'", "connect_args, echo, future, pool_size, sqlite_begin")
    arg_error(function() orm.create_engine("sqlite://", { poolclass = "StaticPool" }) end,
      "unknown option 'poolclass'")
    arg_error(function() orm.create_engine("sqlite://", { [1] = true }) end, "valid options")
  end)

  it("refuses an unknown connect_args key, naming it and the known ones", function()
    arg_error(function() orm.create_engine("sqlite://", { connect_args = { timeuot = 1 } }) end,
      "unknown connect_args key 'timeuot'", "timeout", "connect_timeout")
    arg_error(function() orm.create_engine("sqlite://", { connect_args = 5 }) end,
      "connect_args must be a table")
  end)

  it("refuses bad values", function()
    arg_error(function() orm.create_engine("sqlite://", { pool_size = 0 }) end,
      "pool_size must be a positive integer, got 0")
    arg_error(function() orm.create_engine("sqlite://", { pool_size = "5" }) end,
      "pool_size must be a positive integer")
    arg_error(function() orm.create_engine("sqlite://", { future = false }) end,
      "'future' option may only be true")
    arg_error(function() orm.create_engine("sqlite://", { connect_args = { timeout = -1 } }) end,
      "connect_args.timeout must be a number of seconds (0 or more), got -1")
    arg_error(function() orm.create_engine("sqlite://", { connect_args = { timeout = "x" } }) end,
      "connect_args.timeout must be a number of seconds, got string")
    arg_error(function() orm.create_engine("sqlite://", { sqlite_begin = "later" }) end,
      'sqlite_begin must be "deferred", "immediate" or "exclusive", got \'later\'')
  end)

  it("takes the options it knows", function()
    local path = tmp_db_path()
    local engine = orm.create_engine("sqlite:///" .. path, {
      echo = false, future = true, pool_size = 2, sqlite_begin = "IMMEDIATE",
      connect_args = { timeout = 0.5, check_same_thread = false },
    })
    local conn = engine:connect()
    assert.equal(1, conn:execute(orm.text("SELECT 1")):scalar())
    conn:close()
    engine:dispose()
    remove_db(path)
  end)

  it("keeps SQLite's options to SQLite and a server's to servers", function()
    arg_error(function()
      orm.create_engine("postgresql://u@localhost/db", { sqlite_begin = "immediate" })
    end, "sqlite_begin applies to SQLite engines")
    arg_error(function()
      orm.create_engine("mysql://u@localhost/db", { connect_args = { timeout = 1 } })
    end, "connect_args.timeout is SQLite's busy timeout")
    arg_error(function()
      orm.create_engine("sqlite:///x.db", { connect_args = { connect_timeout = 1 } })
    end, "connect_timeout applies to server databases")
  end)
end)

describe("a SQLite file database", function()
  local path
  before_each(function() path = tmp_db_path() end)
  after_each(function() remove_db(path) end)

  it("says a read-then-write transaction meets a stale snapshot, and to retry", function()
    -- sqlite_begin = "deferred": the transaction begins at its first read, and another
    -- connection commits before it writes: SQLite refuses at once (waiting cannot help)
    local engine, Note, count = notes("sqlite:///" .. path, { sqlite_begin = "deferred" })
    local a = orm.Session(engine)
    assert.equal(0, count(a))
    local b = orm.Session(engine)
    b:add(Note{ body = "b" })
    b:commit()
    b:close()
    a:add(Note{ body = "a" })
    local err = assert.has_error(function() a:flush() end)
    assert.equal("OperationalError", err.kind)
    for _, part in ipairs({ "database is locked", "SQLITE_BUSY_SNAPSHOT", "retry the whole transaction",
                            'sqlite_begin = "immediate"' }) do
      assert.truthy(err.message:find(part, 1, true), err.message)
    end
    a:rollback()
    -- the retried transaction goes through
    a:add(Note{ body = "a" })
    a:commit()
    assert.equal(2, count(a))
    a:close()
    engine:dispose()
  end)

  it("writes after a read by default: the transaction begins at its first write", function()
    local engine, Note, count = notes("sqlite:///" .. path)
    local a = orm.Session(engine)
    assert.equal(0, count(a))
    local b = orm.Session(engine)
    b:add(Note{ body = "b" })
    b:commit()
    b:close()
    a:add(Note{ body = "a" })
    a:commit()
    assert.equal(2, count(a))
    a:close()
    engine:dispose()
  end)

  it("takes the write lock at the first statement with sqlite_begin = \"immediate\"", function()
    local engine, Note, count = notes("sqlite:///" .. path,
      { sqlite_begin = "immediate", connect_args = { timeout = 0.1 } })
    local a = orm.Session(engine)
    assert.equal(0, count(a)) -- BEGIN IMMEDIATE: a holds the write lock from here
    local b = orm.Session(engine)
    local err = assert.has_error(function() count(b) end)
    assert.equal("OperationalError", err.kind)
    assert.truthy(err.message:find("database is locked", 1, true), err.message)
    assert.truthy(err.message:find("busy timeout (0.1 s)", 1, true), err.message)
    assert.truthy(err.message:find("connect_args = { timeout = seconds }", 1, true), err.message)
    b:close()
    a:add(Note{ body = "a" })
    a:commit()
    a:close()
    local c = orm.Session(engine)
    assert.equal(1, count(c))
    c:close()
    engine:dispose()
  end)

  it("begins with BEGIN EXCLUSIVE under sqlite_begin = \"exclusive\"", function()
    local engine, Note, count = notes("sqlite:///" .. path,
      { sqlite_begin = "exclusive", connect_args = { timeout = 0 } })
    local a = orm.Session(engine)
    a:add(Note{ body = "a" })
    a:flush()
    local other = orm.Session(engine)
    assert.equal("OperationalError", assert.has_error(function() count(other) end).kind)
    other:close()
    a:commit()
    assert.equal(1, count(a))
    a:close()
    engine:dispose()
  end)

  it("refuses to commit to a file deleted while open, naming it", function()
    local engine, Note, count = notes("sqlite:///" .. path)
    local s = orm.Session(engine)
    s:add(Note{ body = "first" })
    s:commit()
    assert.equal(1, count(s))
    remove_db(path)
    s:add(Note{ body = "lost" })
    local err = assert.has_error(function() s:commit() end)
    assert.equal("OperationalError", err.kind)
    assert.truthy(err.message:find("'" .. path .. "' was deleted or moved while open", 1, true),
      err.message)
    s:rollback()
    s:close()
    engine:dispose()
  end)

  it("refuses to write to a file moved while open", function()
    local engine, Note = notes("sqlite:///" .. path)
    local conn = engine:connect()
    conn:execute(orm.text("INSERT INTO notes (body) VALUES ('first')"))
    conn:commit()
    assert.truthy(os.rename(path, path .. ".moved"))
    local err = assert.has_error(function()
      conn:execute(orm.text("INSERT INTO notes (body) VALUES ('lost')"))
    end)
    assert.equal("OperationalError", err.kind)
    assert.truthy(err.message:find("was deleted or moved while open", 1, true), err.message)
    conn:close()
    engine:dispose()
    remove_db(path .. ".moved")
    local _ = Note
  end)
end)

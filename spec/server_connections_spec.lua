-- Connections to a database server (`lualchemy test --db URL`; SQLite has no server, so on
-- SQLite this file declares nothing): a server that cannot be reached, an unknown database
-- or user, and a connection the server dropped while it sat in the pool.
local orm = require("lualchemy")

if SPEC_DIALECT == "sqlite" then return end

local function has(s, needle) return tostring(s):find(needle, 1, true) ~= nil end

-- The run's server URL with another user, database or port.
local function url_with(parts)
  local scheme, user, host, port = SPEC_DATABASE_URL:match("^(%w+)://([^@/]*)@([^:/?]+):?(%d*)")
  assert(scheme, "unexpected spec database URL " .. SPEC_DATABASE_URL)
  user = (user or ""):gsub(":.*$", "")
  return ("%s://%s@%s:%s/%s"):format(scheme, parts.user or user, host,
    parts.port or (port ~= "" and port or (scheme == "postgresql" and "5432" or "3306")),
    parts.database or "")
end

-- The error of the first statement an engine on `url` runs.
local function first_error(url)
  local engine = orm.create_engine(url)
  local ok, err = pcall(function()
    local s = orm.Session(engine)
    return s:scalar(orm.text("SELECT 1"))
  end)
  assert.falsy(ok, "the connection should have failed")
  return err
end

describe("connection failures on " .. SPEC_DIALECT, function()
  it("an unknown database is an OperationalError naming host and database", function()
    local err = first_error(url_with({ database = "lz_no_such_database" }))
    assert.equal("OperationalError", err.kind)
    assert.truthy(has(err.message, "127.0.0.1"), err.message)
    assert.truthy(has(err.message, "lz_no_such_database"), err.message)
  end)

  it("an unknown user is an OperationalError naming host and database", function()
    local err = first_error(url_with({ user = "lz_no_such_user", database = "lz_db" }))
    assert.equal("OperationalError", err.kind)
    assert.truthy(has(err.message, "127.0.0.1") and has(err.message, "lz_db"), err.message)
  end)

  it("a server that does not answer is an error within the connect timeout, not a hang", function()
    -- port 1 refuses at once; an address that drops packets waits out connect_timeout
    local started = os.time()
    local err = first_error(url_with({ port = "1", database = "x" }))
    assert.equal("OperationalError", err.kind)
    local scheme = SPEC_DATABASE_URL:match("^(%w+)://")
    local engine = orm.create_engine(scheme .. "://u@10.255.255.1:5/x?connect_timeout=1")
    local ok, err2 = pcall(function() return orm.Session(engine):scalar(orm.text("SELECT 1")) end)
    assert.falsy(ok)
    assert.equal("OperationalError", err2.kind)
    assert.truthy(has(err2.message, "10.255.255.1:5/x"), err2.message)
    assert.truthy(os.time() - started <= 5, "the connection attempts took too long")
  end)
end)

describe("the pool on " .. SPEC_DIALECT, function()
  it("replaces a connection the server dropped while it was idle", function()
    local engine = orm.create_engine("sqlite://")
    local pid_sql = SPEC_DIALECT == "postgresql" and "SELECT pg_backend_pid()" or "SELECT CONNECTION_ID()"
    local s = orm.Session(engine)
    local first = s:scalar(orm.text(pid_sql))
    s:close() -- back to the pool
    -- another connection kills it on the server
    local killer = orm.create_engine(SPEC_DATABASE_URL)
    local k = orm.Session(killer)
    if SPEC_DIALECT == "postgresql" then
      assert.truthy(k:scalar(orm.text("SELECT pg_terminate_backend(:p)"), { p = first }))
    else
      k:execute(orm.text("KILL " .. math.tointeger(first)))
    end
    k:close()
    -- the next checkout notices and opens a new connection: the statement just works
    local s2 = orm.Session(engine)
    local second = s2:scalar(orm.text(pid_sql))
    assert.is_not_nil(second)
    assert.not_equal(first, second)
    assert.equal(1, s2:scalar(orm.text("SELECT 1")))
    s2:close()
  end)
end)

-- PostgreSQL: a backend ended under a session (`pg_terminate_backend`, a server restart) is
-- an OperationalError naming the server (never its password); the session's rollback has
-- nothing to undo and the session goes on with a new connection, as after SQLAlchemy
-- invalidates one (psycopg: "terminating connection due to administrator command").
if SPEC_DIALECT == "postgresql" then
  -- the run's URL with a password in it (the server trusts local connections, so any works)
  local function with_password(url)
    return (url:gsub("^(%w+://)([^:@/]*)[^@/]*@", "%1%2:lz_secret_pw@"))
  end

  local function terminate(pid)
    local k = orm.Session(orm.create_engine(SPEC_DATABASE_URL))
    assert.truthy(k:scalar(orm.text("SELECT pg_terminate_backend(:p)"), { p = pid }))
    k:close()
  end

  describe("lost connections on postgresql", function()
    it("a terminated backend is an OperationalError naming host:port/database, and rollback recovers", function()
      local engine = orm.create_engine(with_password(SPEC_DATABASE_URL))
      local s = orm.Session(engine)
      local pid = s:scalar(orm.text("SELECT pg_backend_pid()"))
      local database = s:scalar(orm.text("SELECT current_database()"))
      terminate(pid)
      local ok, err = pcall(function() return s:scalar(orm.text("SELECT 1")) end)
      assert.falsy(ok)
      assert.equal("OperationalError", err.kind)
      assert.truthy(has(err.message, "lost the connection to PostgreSQL at 127.0.0.1:"), err.message)
      assert.truthy(has(err.message, "/" .. database .. ":"), err.message)
      assert.falsy(has(err.message, "lz_secret_pw"), "the password is in: " .. err.message)
      -- the same error again until the session rolls back, in words, not the crate's
      -- bare "connection closed"
      local ok2, err2 = pcall(function() return s:scalar(orm.text("SELECT 1")) end)
      assert.falsy(ok2)
      assert.equal("OperationalError", err2.kind)
      assert.truthy(has(err2.message, "lost the connection to PostgreSQL at 127.0.0.1:"), err2.message)
      assert.truthy(has(err2.message, "server closed the connection unexpectedly"), err2.message)
      assert.falsy(has(err2.message, "lz_secret_pw"), "the password is in: " .. err2.message)
      -- the rollback has nothing to undo; the session goes on with a new connection
      s:rollback()
      assert.equal(2, s:scalar(orm.text("SELECT 2")))
      assert.not_equal(pid, s:scalar(orm.text("SELECT pg_backend_pid()")))
      s:close()
    end)

    it("a flush lost with its connection is rolled back and the session commits afterwards", function()
      local Base = orm.declarative_base()
      local Note = Base:model("Note", {
        __tablename__ = "lost_notes",
        id = orm.Column(orm.Integer, { primary_key = true }),
        body = orm.Column(orm.String(50)),
      })
      local engine = orm.create_engine("sqlite://")
      Base.metadata:create_all(engine)
      local s = orm.Session(engine)
      s:add(Note({ body = "lost" }))
      s:flush()
      terminate(s:scalar(orm.text("SELECT pg_backend_pid()")))
      local ok, err = pcall(function() s:commit() end)
      assert.falsy(ok)
      assert.equal("OperationalError", err.kind)
      assert.truthy(has(err.message, "lost the connection to PostgreSQL"), err.message)
      s:rollback()
      assert.equal(0, s:scalar(orm.select(orm.func.count()):select_from(Note)))
      s:add(Note({ body = "kept" }))
      s:commit()
      local s2 = orm.Session(engine)
      assert.same({ "kept" }, s2:scalars(orm.select(Note.body)):all())
      s2:close()
      s:close()
    end)
  end)
  return
end

-- MySQL and MariaDB: a lost connection reads in words (never the driver crate's debug text
-- such as `CodecError { IO error: ... }`), names the server, and a rollback lets the session
-- go on with a new connection, as after SQLAlchemy invalidates one.
local function no_debug_text(msg)
  assert.falsy(msg:find("Error {", 1, true), "driver debug text in: " .. msg)
  assert.falsy(msg:find("os error", 1, true), "OS error code in: " .. msg)
end

describe("lost connections on " .. SPEC_DIALECT, function()
  it("a connection killed under a session is an OperationalError saying the server closed it", function()
    local engine = orm.create_engine("sqlite://")
    local s = orm.Session(engine)
    local id = s:scalar(orm.text("SELECT CONNECTION_ID()"))
    local database = s:scalar(orm.text("SELECT DATABASE()"))
    local k = orm.Session(orm.create_engine(SPEC_DATABASE_URL))
    k:execute(orm.text("KILL " .. math.tointeger(id)))
    k:close()
    local ok, err = pcall(function() return s:scalar(orm.text("SELECT 1")) end)
    assert.falsy(ok)
    assert.equal("OperationalError", err.kind)
    assert.truthy(has(err.message, "server closed the connection"), err.message)
    assert.truthy(has(err.message, "127.0.0.1"), err.message)
    assert.truthy(has(err.message, "/" .. database), err.message)
    no_debug_text(err.message)
    -- the same error again until the session rolls back
    local ok2, err2 = pcall(function() return s:scalar(orm.text("SELECT 1")) end)
    assert.falsy(ok2)
    assert.equal("OperationalError", err2.kind)
    -- the rollback has nothing to undo (the server ended the transaction with the
    -- connection); the session goes on with a new connection
    s:rollback()
    assert.equal(2, s:scalar(orm.text("SELECT 2")))
    assert.not_equal(id, s:scalar(orm.text("SELECT CONNECTION_ID()")))
    s:close()
  end)

  it("a port where no server listens is a refused connection, in words", function()
    local err = first_error(url_with({ port = "1", database = "lz_db" }))
    assert.equal("OperationalError", err.kind)
    assert.truthy(has(err.message, "connection refused"), err.message)
    assert.truthy(has(err.message, "127.0.0.1:1/lz_db"), err.message)
    no_debug_text(err.message)
  end)

  it("a server's refusal reads as PyMySQL's (code, \"message\")", function()
    local err = first_error(url_with({ database = "lz_no_such_database" }))
    assert.truthy(has(err.message, "(1049, \"Unknown database 'lz_no_such_database'\")"), err.message)
    no_debug_text(err.message)
  end)
end)

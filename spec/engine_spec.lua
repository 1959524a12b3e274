-- Engine: URLs, lazy connection, echo, pooling of in-memory databases,
-- Connection with text() statements, engine:begin, file databases (WAL, foreign keys).
local orm = require("lualchemy")

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- Records every statement the engine reports.
local function recording_engine(url)
  local log = {}
  local engine = orm.create_engine(url or "sqlite://", {
    echo = function(sql, params) log[#log + 1] = { sql = sql, params = params } end,
  })
  return engine, log
end

local function sqls(log)
  local out = {}
  for i, e in ipairs(log) do out[i] = e.sql end
  return out
end

local function count_matching(log, pattern)
  local n = 0
  for _, e in ipairs(log) do
    if e.sql:find(pattern) then n = n + 1 end
  end
  return n
end

-- A generated integer primary key in raw DDL: SQLite's INTEGER PRIMARY KEY is a rowid
-- alias, PostgreSQL needs SERIAL, MySQL / MariaDB AUTO_INCREMENT.
local AUTO_PK = for_dialect({
  sqlite = "INTEGER PRIMARY KEY",
  postgresql = "SERIAL PRIMARY KEY",
  mysql = "INTEGER AUTO_INCREMENT PRIMARY KEY",
})

-- The error a statement on a table that does not exist raises: its kind (as SQLAlchemy's
-- drivers give it) and a plain substring of its message.
local function missing_table_error(name)
  return for_dialect({
    sqlite = { kind = "OperationalError", text = "no such table: " .. name },
    postgresql = { kind = "ProgrammingError", text = 'relation "' .. name .. '" does not exist' },
    mysql = { kind = "ProgrammingError", text = "." .. name .. "' doesn't exist" },
  })
end

-- The query create_all runs to see whether a table exists (a plain substring).
local HAS_TABLE_CHECK = for_dialect({
  sqlite = "FROM sqlite_master WHERE type = 'table'",
  postgresql = "FROM pg_catalog.pg_class",
  mysql = "FROM information_schema.tables",
})

local function user_model(engine)
  local Base = orm.declarative_base()
  local User = Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
  })
  if engine then Base.metadata:create_all(engine) end
  return Base, User
end

describe("create_engine URLs", function()
  it("accepts sqlite:// as an in-memory database", function()
    local engine = orm.create_engine("sqlite://")
    local conn = engine:connect()
    assert.equal(1, conn:execute(orm.text("SELECT 1")):scalar())
    conn:close()
  end)

  it("accepts sqlite:///:memory: as an in-memory database", function()
    local engine = orm.create_engine("sqlite:///:memory:")
    local conn = engine:connect()
    if SPEC_DIALECT == "sqlite" then
      assert.equal("memory", conn:execute(orm.text("PRAGMA journal_mode")):scalar())
    else
      -- a server has no in-memory database: the spec run gives the engine a new schema
      -- (PostgreSQL) or database (MySQL), which must start as empty as one
      local tables = for_dialect({
        postgresql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        mysql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
      })
      assert.equal(0, conn:execute(orm.text(tables)):scalar())
    end
    conn:close()
  end)

  it("accepts sqlite:////absolute/path.db and stores data in that file", function()
    local path = tmp_db_path()
    local engine = orm.create_engine("sqlite:///" .. path) -- path starts with "/": four slashes
    engine:begin(function(conn)
      conn:execute(orm.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
      conn:execute(orm.text("INSERT INTO t (v) VALUES (:v)"), { v = "persisted" })
    end)
    engine:dispose()
    assert.truthy(file_exists(path))

    local again = orm.create_engine("sqlite:///" .. path)
    local conn = again:connect()
    assert.equal("persisted", conn:execute(orm.text("SELECT v FROM t")):scalar())
    conn:close()
    again:dispose()
    remove_db(path)
  end)

  it("accepts sqlite:///relative/path.db relative to the working directory", function()
    local pwd = os.getenv("PWD")
    if not pwd or pwd:sub(1, 1) ~= "/" then
      pending("PWD is not set; cannot build a relative path")
    end
    local path = tmp_db_path()
    -- climb from the working directory to the root, then down to the temp file
    local ups = {}
    for _ in pwd:gmatch("[^/]+") do ups[#ups + 1] = ".." end
    local rel = table.concat(ups, "/") .. path
    local engine = orm.create_engine("sqlite:///" .. rel)
    local conn = engine:connect()
    conn:execute(orm.text("CREATE TABLE r (x INTEGER)"))
    conn:commit()
    conn:close()
    engine:dispose()
    assert.truthy(file_exists(path), "database file should be created at " .. path)
    remove_db(path)
  end)

  it("rejects a string that is not a URL with an ArgumentError naming it", function()
    local ok, err = pcall(orm.create_engine, "nonsense")
    assert.falsy(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err:is("ArgumentError"))
    assert.truthy(tostring(err):find("nonsense", 1, true))
  end)

  it("rejects a dialect it has no driver for with an ArgumentError", function()
    local ok, err = pcall(orm.create_engine, "oracle://scott:tiger@localhost/test")
    assert.falsy(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("oracle", 1, true))
  end)

  it("takes server URLs without connecting, and names their dialect", function()
    local pg = orm.create_engine("postgresql://scott:tiger@127.0.0.1:1/test")
    assert.equal("postgresql", pg.dialect)
    assert.equal("postgresql", orm.create_engine("postgres://h/db").dialect)
    assert.equal("mysql", orm.create_engine("mysql://root@127.0.0.1/test").dialect)
    assert.equal("mariadb", orm.create_engine("mariadb://root@127.0.0.1/test").dialect)
  end)

  it("reports a server it cannot reach as an OperationalError naming host and database", function()
    -- port 1: nothing listens there, the connection is refused at once
    for _, url in ipairs({ "postgresql://scott:tiger@127.0.0.1:1/appdb",
                           "mysql://root@127.0.0.1:1/appdb" }) do
      local engine = orm.create_engine(url)
      local ok, err = pcall(function() return engine:connect():execute(orm.text("SELECT 1")) end)
      assert.falsy(ok)
      if err.kind == "ArgumentError" and err.message:find("not in this build", 1, true) then
        return pending(err.message) -- a build without that driver (its cargo feature)
      end
      assert.equal("OperationalError", err.kind)
      assert.truthy(err.message:find("127.0.0.1:1/appdb", 1, true), err.message)
      assert.falsy(err.message:find("tiger", 1, true))
    end
  end)

  it("reports errors as values that are also readable as strings", function()
    local ok, err = pcall(orm.create_engine, "nonsense")
    assert.falsy(ok)
    assert.is_string(err.message)
    assert.truthy(tostring(err):find("^ArgumentError: "))
  end)
end)

describe("lazy connection", function()
  it("does not create the database file before first use", function()
    local path = tmp_db_path()
    local engine = orm.create_engine("sqlite:///" .. path)
    assert.falsy(file_exists(path))
    local conn = engine:connect()
    conn:execute(orm.text("SELECT 1"))
    conn:close()
    assert.truthy(file_exists(path))
    engine:dispose()
    remove_db(path)
  end)

  it("creates an engine for an unreachable path without error and fails on first use", function()
    local engine = orm.create_engine("sqlite:////nonexistent_lualchemy_dir/sub/db.sqlite")
    local ok, err = pcall(function()
      local conn = engine:connect()
      conn:execute(orm.text("SELECT 1"))
    end)
    assert.falsy(ok)
    assert.equal("OperationalError", err.kind)
    assert.truthy(err:is("DBAPIError"))
  end)

  it("reports nothing to echo until a statement runs", function()
    local engine, log = recording_engine()
    assert.equal(0, #log)
    local conn = engine:connect()
    conn:close()
    local Base = user_model()
    assert.equal(0, #log)
    Base.metadata:create_all(engine)
    assert.truthy(#log > 0)
  end)
end)

describe("echo", function()
  it("accepts echo = true", function()
    local engine = orm.create_engine("sqlite://", { echo = true })
    local conn = engine:connect()
    assert.equal(1, conn:execute(orm.text("SELECT 1")):scalar())
    conn:close()
  end)

  it("passes BEGIN, INSERT with its parameters and COMMIT to an echo function, in order", function()
    local engine, log = recording_engine()
    local _, User = user_model(engine)
    for i = #log, 1, -1 do log[i] = nil end
    local s = orm.Session(engine)
    s:add(User{ name = "ed" })
    s:commit()
    local seq = sqls(log)
    assert.equal(3, #seq)
    assert.truthy(seq[1]:find("^BEGIN"))
    assert.truthy(seq[2]:find("^INSERT INTO users"))
    -- the value is sent as a bind: the dialect's placeholder, never the value itself
    assert.truthy(seq[2]:find(for_dialect({ sqlite = "?", postgresql = "$1", mysql = "?" }), 1, true), seq[2])
    assert.falsy(seq[2]:find("ed", 1, true))
    assert.same({ "ed" }, log[2].params)
    assert.equal("COMMIT", seq[3])
  end)

  it("reports a batched INSERT once with its list of parameter sets", function()
    local engine, log = recording_engine()
    local _, User = user_model(engine)
    for i = #log, 1, -1 do log[i] = nil end
    local s = orm.Session(engine)
    s:add_all({ User{ name = "a" }, User{ name = "b" }, User{ name = "c" } })
    s:commit()
    assert.equal(1, count_matching(log, "^INSERT"))
    local insert
    for _, e in ipairs(log) do if e.sql:find("^INSERT") then insert = e end end
    if SPEC_DIALECT == "postgresql" or SPEC_DIALECT == "mariadb" then
      -- keys read back through RETURNING: the batch is one multi-row VALUES statement,
      -- its parameters flat, as SQLAlchemy's insertmanyvalues sends it
      assert.equal("INSERT INTO users (name) VALUES (?), (?), (?) RETURNING users.id", insert.sql)
      assert.same({ "a", "b", "c" }, insert.params)
    else
      assert.same({ { "a" }, { "b" }, { "c" } }, insert.params)
    end
  end)

  it("reports ROLLBACK", function()
    local engine, log = recording_engine()
    local _, User = user_model(engine)
    local s = orm.Session(engine)
    s:add(User{ name = "x" })
    s:flush()
    s:rollback()
    assert.equal("ROLLBACK", log[#log].sql)
  end)

  it("reports SAVEPOINT and RELEASE SAVEPOINT", function()
    local engine, log = recording_engine()
    local _, User = user_model(engine)
    local s = orm.Session(engine)
    s:begin_nested(function() s:add(User{ name = "x" }) end)
    s:commit()
    assert.equal(1, count_matching(log, "^SAVEPOINT "))
    assert.equal(1, count_matching(log, "^RELEASE SAVEPOINT "))
  end)

  it("reports create_all's existence checks", function()
    local engine, log = recording_engine()
    user_model(engine)
    local check_index, create_index
    for i, e in ipairs(log) do
      if not check_index and e.sql:find(HAS_TABLE_CHECK, 1, true) then check_index = i end
      if e.sql:find("^CREATE TABLE") then create_index = i end
    end
    assert.truthy(check_index, "an existence check should be reported")
    assert.truthy(create_index, "CREATE TABLE should be reported")
    assert.truthy(check_index < create_index)
  end)

  it("does not report the PRAGMAs that set up a new connection", function()
    local engine, log = recording_engine()
    local conn = engine:connect()
    conn:execute(orm.text("SELECT 1"))
    conn:close()
    assert.equal(0, count_matching(log, "^PRAGMA"))
    assert.equal(1, count_matching(log, "^SELECT 1"))
  end)

  it("passes text() binds as parameters, not inlined", function()
    local engine, log = recording_engine()
    local conn = engine:connect()
    conn:execute(orm.text("SELECT :a || :b"), { a = "left", b = "right" })
    conn:close()
    local e
    for _, x in ipairs(log) do if x.sql:find("^SELECT") then e = x end end
    assert.truthy(e)
    assert.falsy(e.sql:find("left", 1, true))
    assert.same({ "left", "right" }, e.params)
  end)
end)

describe("in-memory database per engine", function()
  it("is shared by two sessions of one engine", function()
    local engine = orm.create_engine("sqlite://")
    local _, User = user_model(engine)
    local s1 = orm.Session(engine)
    s1:add(User{ name = "shared" })
    s1:commit()
    local s2 = orm.Session(engine)
    local names = {}
    for u in s2:scalars(orm.select(User)) do names[#names + 1] = u.name end
    assert.same({ "shared" }, names)
    s1:close()
    s2:close()
  end)

  it("is shared by two connections of one engine", function()
    local engine = orm.create_engine("sqlite:///:memory:")
    local c1 = engine:connect()
    c1:execute(orm.text("CREATE TABLE t (x INTEGER)"))
    c1:execute(orm.text("INSERT INTO t VALUES (42)"))
    c1:commit()
    c1:close()
    local c2 = engine:connect()
    assert.equal(42, c2:execute(orm.text("SELECT x FROM t")):scalar())
    c2:close()
  end)

  it("is not shared between two engines", function()
    local e1 = orm.create_engine("sqlite://")
    local e2 = orm.create_engine("sqlite://")
    e1:begin(function(conn) conn:execute(orm.text("CREATE TABLE only_here (x INTEGER)")) end)
    local conn = e2:connect()
    local ok, err = pcall(conn.execute, conn, orm.text("SELECT x FROM only_here"))
    assert.falsy(ok)
    local expected = missing_table_error("only_here")
    assert.equal(expected.kind, err.kind)
    assert.truthy(tostring(err):find(expected.text, 1, true), tostring(err))
    conn:close()
  end)

  it("shares tables created by create_all with every session", function()
    local engine = orm.create_engine("sqlite://")
    local _, User = user_model(engine)
    local s = orm.Session(engine)
    assert.equal(0, s:scalar(orm.select(orm.func.count(User.id))))
    s:close()
  end)
end)

describe("Connection", function()
  local engine
  before_each(function()
    engine = orm.create_engine("sqlite://")
    engine:begin(function(conn)
      conn:execute(orm.text("CREATE TABLE items (id " .. AUTO_PK .. ", name TEXT, qty INTEGER)"))
    end)
  end)

  it("executes text statements with named binds", function()
    local conn = engine:connect()
    conn:execute(orm.text("INSERT INTO items (name, qty) VALUES (:name, :qty)"), { name = "bolt", qty = 7 })
    conn:execute(orm.text("INSERT INTO items (name, qty) VALUES (:name, :qty)"), { name = "nut", qty = 3 })
    local rows = conn:execute(orm.text("SELECT name, qty FROM items WHERE qty > :min ORDER BY name"), { min = 2 }):all()
    assert.equal(2, #rows)
    assert.equal("bolt", rows[1].name)
    assert.equal(7, rows[1].qty)
    assert.equal("nut", rows[2][1])
    assert.equal(3, rows[2][2])
    conn:close()
  end)

  it("uses a bind repeated in the statement for every occurrence", function()
    local conn = engine:connect()
    local row = conn:execute(orm.text("SELECT :v AS a, :v AS b"), { v = 5 }):one()
    assert.equal(5, row.a)
    assert.equal(5, row.b)
    conn:close()
  end)

  it("iterates a result with for ... in", function()
    local conn = engine:connect()
    for i = 1, 3 do
      conn:execute(orm.text("INSERT INTO items (name, qty) VALUES (:n, :q)"), { n = "i" .. i, q = i })
    end
    local total, n = 0, 0
    for row in conn:execute(orm.text("SELECT qty FROM items")) do
      total = total + row.qty
      n = n + 1
    end
    assert.equal(3, n)
    assert.equal(6, total)
    conn:close()
  end)

  it("commits work so another connection sees it", function()
    local c1 = engine:connect()
    c1:execute(orm.text("INSERT INTO items (name, qty) VALUES ('a', 1)"))
    c1:commit()
    c1:close()
    local c2 = engine:connect()
    assert.equal(1, c2:execute(orm.text("SELECT count(*) FROM items")):scalar())
    c2:close()
  end)

  it("rolls back uncommitted work with conn:rollback()", function()
    local conn = engine:connect()
    conn:execute(orm.text("INSERT INTO items (name, qty) VALUES ('a', 1)"))
    conn:rollback()
    assert.equal(0, conn:execute(orm.text("SELECT count(*) FROM items")):scalar())
    conn:close()
  end)

  it("rolls back uncommitted work when closed", function()
    local conn = engine:connect()
    conn:execute(orm.text("INSERT INTO items (name, qty) VALUES ('a', 1)"))
    conn:close()
    local c2 = engine:connect()
    assert.equal(0, c2:execute(orm.text("SELECT count(*) FROM items")):scalar())
    c2:close()
  end)

  it("raises the database's error with the statement for bad SQL", function()
    local conn = engine:connect()
    local ok, err = pcall(conn.execute, conn, orm.text("SELECT nope FROM items"))
    assert.falsy(ok)
    -- SQLite reports an unknown column as OperationalError; the servers' SQLSTATE 42
    -- (42703, 42S22) is a ProgrammingError
    local expected = for_dialect({
      sqlite = { kind = "OperationalError", text = "no such column: nope" },
      postgresql = { kind = "ProgrammingError", text = 'column "nope" does not exist' },
      mysql = { kind = "ProgrammingError", text = "Unknown column 'nope'" },
    })
    assert.equal(expected.kind, err.kind)
    assert.truthy(err:is("DBAPIError"))
    assert.equal("SELECT nope FROM items", err.statement)
    assert.truthy(tostring(err):find(expected.text, 1, true), tostring(err))
    assert.truthy(tostring(err):find("[SQL: SELECT nope FROM items]", 1, true))
    conn:close()
  end)

  it("returns typed values: integers, floats, strings, NULL as nil", function()
    local conn = engine:connect()
    local row = conn:execute(orm.text("SELECT 3 AS i, 2.5 AS f, 'x' AS s, NULL AS n")):one()
    assert.equal(3, row.i)
    if LUA.integers then assert.equal("integer", math.type(row.i)) end
    assert.equal(2.5, row.f)
    assert.equal("x", row.s)
    assert.is_nil(row.n)
    assert.equal(4, #row)
    conn:close()
  end)
end)

describe("engine:begin", function()
  local engine
  before_each(function()
    engine = orm.create_engine("sqlite://")
    engine:begin(function(conn) conn:execute(orm.text("CREATE TABLE t (x INTEGER)")) end)
  end)

  local function count()
    local conn = engine:connect()
    local n = conn:execute(orm.text("SELECT count(*) FROM t")):scalar()
    conn:close()
    return n
  end

  it("commits when the function returns", function()
    engine:begin(function(conn) conn:execute(orm.text("INSERT INTO t VALUES (1)")) end)
    assert.equal(1, count())
  end)

  it("returns the function's results", function()
    local a, b = engine:begin(function(conn)
      return conn:execute(orm.text("SELECT 7")):scalar(), "second"
    end)
    assert.equal(7, a)
    assert.equal("second", b)
  end)

  it("rolls back when the function raises and re-raises the same error value", function()
    local boom = { reason = "boom" }
    local ok, err = pcall(engine.begin, engine, function(conn)
      conn:execute(orm.text("INSERT INTO t VALUES (1)"))
      error(boom)
    end)
    assert.falsy(ok)
    assert.truthy(rawequal(boom, err))
    assert.equal(0, count())
  end)

  it("rolls back when a statement fails and raises the database error", function()
    local ok, err = pcall(engine.begin, engine, function(conn)
      conn:execute(orm.text("INSERT INTO t VALUES (1)"))
      conn:execute(orm.text("INSERT INTO missing VALUES (1)"))
    end)
    assert.falsy(ok)
    local expected = missing_table_error("missing")
    assert.equal(expected.kind, err.kind)
    assert.truthy(tostring(err):find(expected.text, 1, true), tostring(err))
    assert.equal(0, count())
  end)
end)

describe("file database", function()
  local path, engine
  before_each(function()
    path = tmp_db_path()
    engine = orm.create_engine("sqlite:///" .. path)
  end)
  after_each(function()
    engine:dispose()
    remove_db(path)
  end)

  it("uses WAL journal mode", function()
    local conn = engine:connect()
    assert.equal("wal", conn:execute(orm.text("PRAGMA journal_mode")):scalar())
    conn:close()
  end)

  it("enforces foreign keys (PRAGMA foreign_keys = 1)", function()
    local conn = engine:connect()
    assert.equal(1, conn:execute(orm.text("PRAGMA foreign_keys")):scalar())
    conn:close()
  end)

  it("rejects a row that breaks a foreign key with IntegrityError", function()
    local conn = engine:connect()
    conn:execute(orm.text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
    conn:execute(orm.text("CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p(id))"))
    conn:commit()
    local ok, err = pcall(conn.execute, conn, orm.text("INSERT INTO c (p_id) VALUES (:p)"), { p = 99 })
    assert.falsy(ok)
    assert.equal("IntegrityError", err.kind)
    assert.truthy(err:is("DBAPIError"))
    assert.truthy(tostring(err):find("FOREIGN KEY constraint failed", 1, true))
    conn:close()
  end)

  it("keeps data across dispose and reconnect", function()
    local _, User = user_model(engine)
    local s = orm.Session(engine)
    s:add(User{ name = "durable" })
    s:commit()
    s:close()
    engine:dispose()
    local s2 = orm.Session(engine)
    assert.equal("durable", s2:scalars(orm.select(User)):one().name)
    s2:close()
  end)

  it("lets a second engine on the same file see committed rows", function()
    local _, User = user_model(engine)
    local s = orm.Session(engine)
    s:add(User{ name = "visible" })
    s:commit()
    s:close()
    local other = orm.create_engine("sqlite:///" .. path)
    local conn = other:connect()
    assert.equal("visible", conn:execute(orm.text("SELECT name FROM users")):scalar())
    conn:close()
    other:dispose()
  end)
end)

describe("in-memory foreign keys", function()
  it("are enforced too", function()
    local engine = orm.create_engine("sqlite://")
    local conn = engine:connect()
    if SPEC_DIALECT == "sqlite" then
      assert.equal(1, conn:execute(orm.text("PRAGMA foreign_keys")):scalar())
    else
      -- a server has no switch to read: a row breaking a foreign key must be refused
      conn:execute(orm.text("CREATE TABLE p (id INTEGER PRIMARY KEY)"))
      conn:execute(orm.text("CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER, " ..
                            "FOREIGN KEY (p_id) REFERENCES p (id))"))
      conn:commit()
      local ok, err = pcall(conn.execute, conn, orm.text("INSERT INTO c (id, p_id) VALUES (1, :p)"), { p = 99 })
      assert.falsy(ok)
      assert.equal("IntegrityError", err.kind)
      assert.truthy(tostring(err):find(for_dialect({
        postgresql = 'violates foreign key constraint "c_p_id_fkey"',
        mysql = "a foreign key constraint fails",
      }), 1, true), tostring(err))
    end
    conn:close()
  end)
end)

-- Dialect differences (docs/DIALECTS.md), proved on whichever database the run is on
-- (SPEC_DIALECT: "sqlite", "postgresql" or "mysql"; `lualchemy test --db URL`): how
-- generated keys are read back and how explicit keys move them on; the DDL of every type
-- and of `with_variant`; ilike, concatenation, case-sensitive comparison, IS, func.now(),
-- OFFSET and untyped binds; exact round trips of JSON, dates and times, 64-bit integers,
-- NUMERIC and bytes; savepoints (which PostgreSQL needs to survive a failed statement);
-- the mapping of the databases' errors onto orm.Error kinds, and the session's recovery.
-- Where the dialects differ, each one's expectation is written out.
local orm = require("lualchemy")

-- SQL text is compared in SQLite's spelling: PostgreSQL's `$1` placeholders and MySQL's
-- backquotes read as `?` and double quotes.
local generic = generic_sql

local function has(s, needle) return generic(s):find(needle, 1, true) ~= nil end

local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function state(obj)
  local i = orm.inspect(obj)
  for _, k in ipairs({ "transient", "pending", "persistent", "deleted", "detached" }) do
    if i[k] then return k end
  end
end

-- A fresh database (a new schema / database under --db) whose engine records every
-- statement it sends: { sql, params, many }.
local function new_env()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql, params, many)
      env.log[#env.log + 1] = { sql = sql, params = params, many = many }
    end,
  })
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  -- the logged statements whose SQL matches a Lua pattern
  function env.statements(pattern)
    local out = {}
    for _, e in ipairs(env.log) do
      if e.sql:find(pattern) then out[#out + 1] = e end
    end
    return out
  end
  -- rows straight from the database, bypassing any session, as plain tables
  function env.db_rows(sql, params)
    local conn = env.engine:connect()
    local out = {}
    for row in conn:execute(orm.text(sql), params) do
      local t = {}
      for k, v in pairs(row._mapping) do t[k] = v end
      out[#out + 1] = t
    end
    conn:close()
    return out
  end
  function env.db_column(sql, key)
    local out = {}
    for i, r in ipairs(env.db_rows(sql)) do out[i] = r[key] end
    return out
  end
  return env
end

-- Seconds since the epoch of a UTC "YYYY-MM-DD HH:MM:SS[.ffffff]" (no time zone of the
-- machine involved).
local function utc_seconds(s)
  local y, mo, d, h, mi, sec = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d) (%d%d):(%d%d):(%d%d)")
  assert(y, "not a datetime: " .. tostring(s))
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  -- days from civil (Howard Hinnant's algorithm)
  y = mo <= 2 and y - 1 or y
  local era = math.floor((y >= 0 and y or y - 399) / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (mo > 2 and mo - 3 or mo + 9) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
end

local DATETIME_PATTERN = "^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d"

-------------------------------------------------------------------------------------------
-- 1. Generated keys
-------------------------------------------------------------------------------------------

-- How a flush reads generated keys back: SQLite runs one prepared one-row INSERT per row
-- (an executemany) and reads each rowid; PostgreSQL sends multi-row INSERTs with
-- RETURNING; MySQL (`mysql://`) has no RETURNING and runs the one-row INSERT once per
-- row, reading the last-insert id after each; MariaDB (`mariadb://`) has RETURNING.
describe("generated keys: RETURNING vs last-insert id", function()
  local env, Item, s
  before_each(function()
    env = new_env()
    local Base = orm.declarative_base()
    Item = Base:model("Item", {
      __tablename__ = "items",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20), { nullable = false }),
    })
    Base.metadata:create_all(env.engine)
    s = orm.Session(env.engine)
    env.clear()
  end)
  after_each(function() s:close() end)

  -- The server's own count of the INSERT statements this session's connection ran.
  local function mysql_inserts()
    local row = s:execute(orm.text("SHOW SESSION STATUS LIKE 'Com_insert'")):first()
    return tonumber(row[2])
  end

  it("assigns distinct ids to objects flushed together, and the rows read back by them", function()
    local objs = { Item{ name = "a" }, Item{ name = "b" }, Item{ name = "c" } }
    s:add_all(objs)
    s:flush()
    local ids = {}
    for i, o in ipairs(objs) do
      if LUA.integers then assert.equal("integer", math.type(o.id)) end
      ids[i] = o.id
    end
    -- a fresh table's keys start at 1 on all three, in the order the objects were added
    assert.same({ 1, 2, 3 }, ids)
    s:commit()
    local s2 = orm.Session(env.engine)
    for _, o in ipairs(objs) do
      local got = s2:get(Item, o.id)
      assert.truthy(got ~= nil, "no row for id " .. tostring(o.id))
      assert.equal(o.name, got.name)
    end
    s2:close()
    assert.same({ "a", "b", "c" }, env.db_column("SELECT name FROM items ORDER BY id", "name"))
  end)

  it("reads the keys back as the dialect does", function()
    local before = ON_MYSQL and mysql_inserts()
    env.clear()
    s:add_all({ Item{ name = "a" }, Item{ name = "b" }, Item{ name = "c" } })
    s:flush()
    local inserts = env.statements("^INSERT")
    assert.equal(1, #inserts)
    local ins = inserts[1]
    assert.is_true(ins.many)
    local multi_row = { sql = "INSERT INTO items (name) VALUES (?), (?), (?) RETURNING items.id",
                        params = { "a", "b", "c" }, statements = 1 }
    local expected = for_dialect({
      -- one prepared one-row INSERT, run once per row (executemany)
      sqlite = { sql = "INSERT INTO items (name) VALUES (?)", params = { { "a" }, { "b" }, { "c" } } },
      -- one multi-row INSERT whose RETURNING hands the keys back in order
      postgresql = multi_row,
      -- no RETURNING: one INSERT per row and the last-insert id of each
      mysql = { sql = "INSERT INTO items (name) VALUES (?)", params = { { "a" }, { "b" }, { "c" } },
                statements = 3 },
      mariadb = multi_row,
    })
    assert.equal(expected.sql, ins.sql)
    assert.same(expected.params, ins.params)
    if SPEC_DIALECT == "postgresql" then
      assert.truthy(ins.sql:find("$3", 1, true), ins.sql)
    elseif SPEC_DIALECT ~= "mariadb" then
      assert.falsy(has(ins.sql, "RETURNING"), ins.sql)
    end
    if before then
      -- the server itself counted the INSERT statements it ran
      assert.equal(before + expected.statements, mysql_inserts())
    end
  end)

  it("keeps keys and objects paired across more rows than one batch", function()
    local objs = {}
    for i = 1, 1500 do objs[i] = Item{ name = "n" .. i } end
    local before = ON_MYSQL and mysql_inserts()
    env.clear()
    s:add_all(objs)
    s:flush()
    local inserts = env.statements("^INSERT")
    local rows_per_statement = {}
    for i, e in ipairs(inserts) do
      local n = 0
      for _ in e.sql:gmatch("%(%$?[%d?]*%)") do n = n + 1 end
      rows_per_statement[i] = n
    end
    assert.same(for_dialect({
      sqlite = { 1 },             -- one executemany of a one-row INSERT
      postgresql = { 1000, 500 }, -- RETURNING batches of at most 1,000 rows
      mysql = { 1 },              -- reported once, run per row
      mariadb = { 1000, 500 },
    }), rows_per_statement)
    if before then
      assert.equal(before + for_dialect({ mysql = 1500, mariadb = 2 }), mysql_inserts())
    end
    s:commit()
    local names = {}
    for _, r in ipairs(env.db_rows("SELECT id, name FROM items")) do names[r.id] = r.name end
    local seen = {}
    for i, o in ipairs(objs) do
      assert.falsy(seen[o.id], "id handed out twice: " .. tostring(o.id))
      seen[o.id] = true
      assert.equal("n" .. i, names[o.id])
    end
  end)

  it("follows explicit ids with the next generated one (PostgreSQL moves its sequence)", function()
    s:add_all({ Item{ id = 10, name = "ten" }, Item{ id = 20, name = "twenty" } })
    s:commit()
    local setvals = #env.statements("setval")
    -- PostgreSQL's SERIAL would hand out 1 next: the sequence is set past the explicit keys
    assert.equal(for_dialect({ sqlite = 0, postgresql = 1, mysql = 0 }), setvals)
    local nxt = Item{ name = "next" }
    s:add(nxt)
    s:commit()
    assert.equal(21, nxt.id)
    -- an explicit id in a single-row INSERT statement
    s:execute(orm.insert(Item):values{ id = 50, name = "fifty" })
    s:commit()
    local after = Item{ name = "after" }
    s:add(after)
    s:commit()
    assert.equal(51, after.id)
    assert.same({ 10, 20, 21, 50, 51 }, env.db_column("SELECT id FROM items ORDER BY id", "id"))
  end)

  it("keeps explicit and generated ids apart within one flush", function()
    s:add(Item{ id = 5, name = "five" })
    s:commit()
    local explicit = Item{ id = 30, name = "thirty" }
    local gen = Item{ name = "gen" }
    s:add_all({ explicit, gen })
    s:commit()
    assert.equal(30, explicit.id)
    if LUA.integers then assert.equal("integer", math.type(gen.id)) end
    assert.truthy(gen.id ~= 30 and gen.id ~= 5, tostring(gen.id))
    local later = Item{ name = "later" }
    s:add(later)
    s:commit()
    assert.truthy(later.id > 30, tostring(later.id))
    local names = {}
    for _, r in ipairs(env.db_rows("SELECT id, name FROM items")) do names[r.id] = r.name end
    assert.equal("thirty", names[30])
    assert.equal("gen", names[gen.id])
    assert.equal("later", names[later.id])
  end)

  it("inserts a bulk list of rows and generated ids continue after them", function()
    env.clear()
    s:execute(orm.insert(Item), { { name = "x" }, { name = "y" }, { name = "z" } })
    local inserts = env.statements("^INSERT")
    assert.equal(1, #inserts)
    assert.is_true(inserts[1].many)
    local multi_row = { sql = "INSERT INTO items (name) VALUES (?), (?), (?)", params = { "x", "y", "z" } }
    local expected = for_dialect({
      sqlite = { sql = "INSERT INTO items (name) VALUES (?)", params = { { "x" }, { "y" }, { "z" } } },
      -- no key to read back: one multi-row VALUES on the servers, no RETURNING
      postgresql = multi_row,
      mysql = multi_row,
    })
    assert.equal(expected.sql, inserts[1].sql)
    assert.same(expected.params, inserts[1].params)
    local o = Item{ name = "obj" }
    s:add(o)
    s:commit()
    assert.equal(4, o.id)
    assert.same({ "x", "y", "z", "obj" }, env.db_column("SELECT name FROM items ORDER BY id", "name"))
  end)

  it("moves the generated ids past explicit ids of a bulk INSERT", function()
    s:execute(orm.insert(Item), { { id = 100, name = "h1" }, { id = 101, name = "h2" } })
    s:commit()
    local o = Item{ name = "after" }
    s:add(o)
    s:commit()
    assert.equal(102, o.id)
    assert.same({ 100, 101, 102 }, env.db_column("SELECT id FROM items ORDER BY id", "id"))
  end)
end)

-------------------------------------------------------------------------------------------
-- 2. DDL types
-------------------------------------------------------------------------------------------

describe("DDL types", function()
  local env
  before_each(function() env = new_env() end)

  local function every_type_model(Base)
    return Base:model("Everything", {
      __tablename__ = "everything",
      id = orm.Column(orm.Integer, { primary_key = true }),
      big = orm.Column(orm.BigInteger),
      small = orm.Column(orm.SmallInteger),
      code = orm.Column(orm.String(20)),
      label = orm.Column(orm.String),
      body = orm.Column(orm.Text),
      ratio = orm.Column(orm.Float),
      price = orm.Column(orm.Numeric(10, 2)),
      flag = orm.Column(orm.Boolean),
      born = orm.Column(orm.Date),
      stamp = orm.Column(orm.DateTime),
      clock = orm.Column(orm.Time),
      data = orm.Column(orm.LargeBinary),
      doc = orm.Column(orm.JSON),
      color = orm.Column(orm.Enum("red", "green", "blue")),
    })
  end

  it("renders every type in CREATE TABLE as the dialect spells it", function()
    local T = every_type_model(orm.declarative_base())
    local expected = for_dialect({
      sqlite = "CREATE TABLE everything (\n" ..
        "\tid INTEGER NOT NULL, \n" ..   -- INTEGER PRIMARY KEY: an alias of the rowid
        "\tbig BIGINT, \n" ..
        "\tsmall SMALLINT, \n" ..
        "\tcode VARCHAR(20), \n" ..
        "\tlabel VARCHAR, \n" ..
        "\tbody TEXT, \n" ..
        "\tratio FLOAT, \n" ..
        "\tprice NUMERIC(10, 2), \n" ..
        "\tflag BOOLEAN, \n" ..
        "\tborn DATE, \n" ..
        "\tstamp DATETIME, \n" ..
        "\tclock TIME, \n" ..
        "\tdata BLOB, \n" ..
        "\tdoc JSON, \n" ..
        "\tcolor VARCHAR(5), \n" ..
        "\tPRIMARY KEY (id)\n" ..
        ")\n\n",
      postgresql = "CREATE TABLE everything (\n" ..
        "\tid SERIAL NOT NULL, \n" ..
        "\tbig BIGINT, \n" ..
        "\tsmall SMALLINT, \n" ..
        "\tcode VARCHAR(20), \n" ..
        "\tlabel VARCHAR, \n" ..
        "\tbody TEXT, \n" ..
        "\tratio FLOAT, \n" ..
        "\tprice NUMERIC(10, 2), \n" ..
        "\tflag BOOLEAN, \n" ..
        "\tborn DATE, \n" ..
        "\tstamp TIMESTAMP WITHOUT TIME ZONE, \n" ..
        "\tclock TIME WITHOUT TIME ZONE, \n" ..
        "\tdata BYTEA, \n" ..
        "\tdoc JSON, \n" ..            -- JSON, not JSONB: the text is kept as written
        "\tcolor VARCHAR(5), \n" ..    -- a non-native enum: no CREATE TYPE
        "\tPRIMARY KEY (id)\n" ..
        ")\n\n",
      mysql = "CREATE TABLE everything (\n" ..
        "\tid INTEGER NOT NULL AUTO_INCREMENT, \n" ..
        "\tbig BIGINT, \n" ..
        "\tsmall SMALLINT, \n" ..
        "\tcode VARCHAR(20), \n" ..
        "\tlabel VARCHAR(255), \n" ..  -- MySQL's VARCHAR needs a length
        "\tbody TEXT, \n" ..
        "\tratio DOUBLE, \n" ..        -- FLOAT is single precision there
        "\tprice NUMERIC(10, 2), \n" ..
        "\tflag BOOL, \n" ..
        "\tborn DATE, \n" ..
        "\tstamp DATETIME(6), \n" ..   -- DATETIME alone drops microseconds
        "\tclock TIME(6), \n" ..
        "\tdata BLOB, \n" ..
        "\tdoc JSON, \n" ..
        "\tcolor ENUM('red','green','blue'), \n" ..
        "\tPRIMARY KEY (id)\n" ..
        -- a binary collation: string comparison is case-sensitive as on the others
        ") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin\n\n",
    })
    assert.equal(expected, orm.CreateTable(T.__table__):compile(env.engine))
  end)

  it("creates that table and stores a row of it", function()
    local Base = orm.declarative_base()
    local T = every_type_model(Base)
    Base.metadata:create_all(env.engine)
    local s = orm.Session(env.engine)
    s:add(T{ big = 1, small = 2, code = "c", label = "l", body = "b", ratio = 0.5, price = 1.25,
             flag = true, born = "2020-01-02", stamp = "2020-01-02 03:04:05", clock = "03:04:05",
             data = "\1", doc = { k = "v" }, color = "blue" })
    s:commit()
    s:close()
    local s2 = orm.Session(env.engine)
    local t = s2:get(T, 1)
    assert.same({ 1, 2, "c", "l", "b", 0.5, 1.25, true, "2020-01-02", "2020-01-02 03:04:05", "03:04:05",
                  "\1", { k = "v" }, "blue" },
                { t.big, t.small, t.code, t.label, t.body, t.ratio, t.price, t.flag, t.born, t.stamp,
                  t.clock, t.data, t.doc, t.color })
    s2:close()
  end)

  it("compiles a type on its own for the engine's dialect", function()
    local e = env.engine
    local got = {
      orm.Integer:compile(e), orm.String():compile(e), orm.String(50):compile(e), orm.Float:compile(e),
      orm.Boolean:compile(e), orm.DateTime:compile(e), orm.Time:compile(e), orm.LargeBinary:compile(e),
      orm.Enum("a", "bb"):compile(e), orm.Numeric(10, 2):compile(e),
    }
    assert.same(for_dialect({
      sqlite = { "INTEGER", "VARCHAR", "VARCHAR(50)", "FLOAT", "BOOLEAN", "DATETIME", "TIME", "BLOB",
                 "VARCHAR(2)", "NUMERIC(10, 2)" },
      postgresql = { "INTEGER", "VARCHAR", "VARCHAR(50)", "FLOAT", "BOOLEAN", "TIMESTAMP WITHOUT TIME ZONE",
                     "TIME WITHOUT TIME ZONE", "BYTEA", "VARCHAR(2)", "NUMERIC(10, 2)" },
      mysql = { "INTEGER", "VARCHAR(255)", "VARCHAR(50)", "DOUBLE", "BOOL", "DATETIME(6)", "TIME(6)", "BLOB",
                "ENUM('a','bb')", "NUMERIC(10, 2)" },
    }), got)
    -- without an engine a type renders generically
    assert.equal("VARCHAR(50)", tostring(orm.String(50)))
  end)

  it("gives a BigInteger primary key the dialect's generated key", function()
    local Base = orm.declarative_base()
    local B = Base:model("B", {
      __tablename__ = "bigs",
      id = orm.Column(orm.BigInteger, { primary_key = true }),
      name = orm.Column(orm.String(10)),
    })
    local ddl = orm.CreateTable(B.__table__):compile(env.engine)
    assert.truthy(has(ddl, for_dialect({
      -- as in SQLAlchemy: only INTEGER PRIMARY KEY is SQLite's rowid alias
      sqlite = "id BIGINT NOT NULL, ",
      postgresql = "id BIGSERIAL NOT NULL, ",
      mysql = "id BIGINT NOT NULL AUTO_INCREMENT, ",
    })), ddl)
    Base.metadata:create_all(env.engine)
    local s = orm.Session(env.engine)
    local b = B{ name = "b" }
    s:add(b)
    if SPEC_DIALECT == "sqlite" then
      -- a BIGINT key is not generated there: the row needs an explicit one
      local err = pcall_err(s.flush, s)
      assert.equal("IntegrityError", err.kind)
      assert.truthy(has(tostring(err), "NOT NULL constraint failed: bigs.id"), tostring(err))
      s:rollback()
    else
      s:commit()
      assert.equal(1, b.id)
    end
    s:close()
  end)

  it("chooses a with_variant type per dialect on a column and in a type_annotation_map", function()
    local Base = orm.declarative_base{
      type_annotation_map = { str = orm.String():with_variant(orm.String(255), "mysql", "mariadb") },
    }
    local Note = Base:model("Note", {
      __tablename__ = "notes",
      id = orm.Mapped("int", { primary_key = true }),
      title = orm.Mapped("str"),
      remark = orm.Mapped("str?"),
      tag = orm.Column(orm.String():with_variant(orm.String(40), "mysql", "mariadb")),
      -- a variant for another dialect leaves this one's type alone
      memo = orm.Column(orm.String(10):with_variant(orm.Text(), "postgresql")),
    })
    local expected = for_dialect({
      sqlite = "CREATE TABLE notes (\n\tid INTEGER NOT NULL, \n\ttitle VARCHAR NOT NULL, \n" ..
        "\tremark VARCHAR, \n\ttag VARCHAR, \n\tmemo VARCHAR(10), \n\tPRIMARY KEY (id)\n)\n\n",
      postgresql = "CREATE TABLE notes (\n\tid SERIAL NOT NULL, \n\ttitle VARCHAR NOT NULL, \n" ..
        "\tremark VARCHAR, \n\ttag VARCHAR, \n\tmemo TEXT, \n\tPRIMARY KEY (id)\n)\n\n",
      mysql = "CREATE TABLE notes (\n\tid INTEGER NOT NULL AUTO_INCREMENT, \n\ttitle VARCHAR(255) NOT NULL, \n" ..
        "\tremark VARCHAR(255), \n\ttag VARCHAR(40), \n\tmemo VARCHAR(10), \n\tPRIMARY KEY (id)\n)" ..
        " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin\n\n",
    })
    assert.equal(expected, orm.CreateTable(Note.__table__):compile(env.engine))
    assert.equal(for_dialect({ sqlite = "VARCHAR", postgresql = "VARCHAR", mysql = "VARCHAR(255)" }),
      orm.String():with_variant(orm.String(255), "mysql", "mariadb"):compile(env.engine))

    Base.metadata:create_all(env.engine)
    local s = orm.Session(env.engine)
    local title = string.rep("é", 255) -- 255 characters, 510 bytes: fits VARCHAR(255)
    s:add(Note{ title = title, remark = "r", tag = string.rep("t", 40), memo = "m" })
    s:commit()
    s:close()
    local s2 = orm.Session(env.engine)
    local n = s2:get(Note, 1)
    assert.equal(title, n.title)
    assert.same({ "r", string.rep("t", 40), "m" }, { n.remark, n.tag, n.memo })
    s2:close()
    assert.same({ title }, env.db_column("SELECT title FROM notes", "title"))
  end)

  it("enforces a variant's length where the dialect has one (MySQL is strict)", function()
    local Base = orm.declarative_base()
    local Note = Base:model("Note", {
      __tablename__ = "notes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      tag = orm.Column(orm.String():with_variant(orm.String(5), "mysql", "mariadb")),
    })
    Base.metadata:create_all(env.engine)
    local s = orm.Session(env.engine)
    s:add(Note{ tag = "toolong" })
    if ON_MYSQL then
      -- sql_mode TRADITIONAL: a value that does not fit is an error, not a truncation
      local err = pcall_err(s.flush, s)
      assert.equal("DataError", err.kind)
      assert.truthy(has(tostring(err), "Data too long for column 'tag'"), tostring(err))
      s:rollback()
      assert.same({}, env.db_column("SELECT tag FROM notes", "tag"))
    else
      -- VARCHAR without a length holds it whole
      s:commit()
      assert.same({ "toolong" }, env.db_column("SELECT tag FROM notes", "tag"))
    end
    s:close()
  end)
end)

-------------------------------------------------------------------------------------------
-- 3. Operators that differ
-------------------------------------------------------------------------------------------

describe("ilike and other per-dialect operators", function()
  local env, P, s
  before_each(function()
    env = new_env()
    local Base = orm.declarative_base()
    P = Base:model("P", {
      __tablename__ = "people",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20), { unique = true }),
      nick = orm.Column(orm.String(20)),
    })
    Base.metadata:create_all(env.engine)
    s = orm.Session(env.engine)
    s:add_all({
      P{ name = "Abe", nick = "abe" }, P{ name = "abby", nick = "ab" }, P{ name = "ABC", nick = "abc" },
      P{ name = "Bob", nick = "bobby" }, P{ name = "bob" }, P{ name = "Xab", nick = "x" },
    })
    s:commit()
    env.clear()
  end)
  after_each(function() s:close() end)

  local function names(stmt) return s:scalars(stmt):all() end

  it("ilike matches case-insensitively everywhere, rendered as the dialect can", function()
    assert.same({ "Abe", "abby", "ABC" }, names(orm.select(P.name):where(P.name:ilike("AB%")):order_by(P.id)))
    assert.same({ "Abe", "abby", "ABC" }, names(orm.select(P.name):where(P.name:ilike("ab%")):order_by(P.id)))
    local sel = env.statements("^SELECT")
    assert.equal(2, #sel)
    assert.truthy(has(sel[1].sql, for_dialect({
      sqlite = "WHERE lower(people.name) LIKE lower(?)",
      postgresql = "WHERE people.name ILIKE ?", -- native
      mysql = "WHERE lower(people.name) LIKE lower(?)",
    })), sel[1].sql)
    assert.same({ "AB%" }, sel[1].params)
  end)

  it("like follows the database's own case rules", function()
    -- SQLite's LIKE ignores ASCII case; PostgreSQL's LIKE and MySQL's binary collation do not
    assert.same(for_dialect({
      sqlite = { "Abe", "abby", "ABC" },
      postgresql = { "Abe" },
      mysql = { "Abe" },
    }), names(orm.select(P.name):where(P.name:like("Ab%")):order_by(P.id)))
  end)

  it("compares strings case-sensitively with eq on all three", function()
    assert.same({ "bob" }, names(orm.select(P.name):where(P.name:eq("bob"))))
    assert.same({ "Bob" }, names(orm.select(P.name):where(P.name:eq("Bob"))))
    assert.same({}, names(orm.select(P.name):where(P.name:eq("BOB"))))
    assert.equal("bobby", s:scalar(orm.select(P.nick):where(P.name:eq("Bob"))))
    -- and the unique column took both "Bob" and "bob" (no case-folding collation)
    assert.equal(6, s:scalar(orm.select(orm.func.count()):select_from(P)))
  end)

  it("concatenates strings with .. the same everywhere (concat() on MySQL)", function()
    local expr = P.name .. "/" .. P.nick
    assert.equal("Bob/bobby", s:scalar(orm.select(expr):where(P.id:eq(4))))
    local sql = env.log[#env.log].sql
    -- Lua's .. is right-associative: a .. (b .. c)
    assert.truthy(has(sql, for_dialect({
      sqlite = "SELECT people.name || (? || people.nick)",
      postgresql = "SELECT people.name || (? || people.nick)",
      mysql = "SELECT concat(people.name, concat(?, people.nick))",
    })), sql)
    -- NULL anywhere gives NULL on all three
    assert.is_nil(s:scalar(orm.select(expr):where(P.name:eq("bob"))))
    -- in a WHERE clause
    assert.same({ "abby" }, names(orm.select(P.name):where((P.name .. "-" .. P.nick):eq("abby-ab"))))
    local all = names(orm.select(P.name .. "!"):where(P.nick:is_not(nil)):order_by(P.id))
    assert.same({ "Abe!", "abby!", "ABC!", "Bob!", "Xab!" }, all)
  end)

  it("concatenates with func.concat on all three", function()
    -- concat(text, unknown) is ambiguous to PostgreSQL unless the bound string is typed
    -- (SQLAlchemy's psycopg dialect renders $1::VARCHAR)
    local got = names(orm.select(orm.func.concat(P.name, "+", P.nick)):where(P.id:le(2)):order_by(P.id))
    assert.same({ "Abe+abe", "abby+ab" }, got)
  end)

  it("gives func.now() as a UTC datetime string", function()
    local now = s:scalar(orm.select(orm.func.now()))
    assert.equal("string", type(now))
    assert.truthy(now:match(DATETIME_PATTERN .. "$") or now:match(DATETIME_PATTERN .. "%.%d%d%d%d%d%d$"), now)
    -- the session time zone is UTC on all three
    assert.truthy(math.abs(utc_seconds(now) - os.time()) < 300, now .. " vs " .. os.date("!%Y-%m-%d %H:%M:%S"))
    assert.equal(for_dialect({
      sqlite = "SELECT CURRENT_TIMESTAMP",
      postgresql = "SELECT now()",
      mysql = "SELECT now()",
    }), env.log[#env.log].sql)
  end)

  it("fills a server_default of func.now() with a datetime", function()
    local Base = orm.declarative_base()
    local Ev = Base:model("Ev", {
      __tablename__ = "events",
      id = orm.Column(orm.Integer, { primary_key = true }),
      at = orm.Column(orm.DateTime, { server_default = orm.func.now() }),
    })
    Base.metadata:create_all(env.engine)
    local e = Ev{}
    s:add(e)
    s:commit()
    local at = e.at
    assert.equal("string", type(at))
    assert.truthy(at:match(DATETIME_PATTERN), at)
    assert.truthy(math.abs(utc_seconds(at) - os.time()) < 300, at)
  end)

  it("compares with IS true / IS NOT false on all three", function()
    local Base = orm.declarative_base()
    local F = Base:model("F", {
      __tablename__ = "flags",
      id = orm.Column(orm.Integer, { primary_key = true }),
      active = orm.Column(orm.Boolean),
    })
    Base.metadata:create_all(env.engine)
    s:add_all({ F{ id = 1, active = true }, F{ id = 2, active = false }, F{ id = 3 } })
    s:commit()
    -- IS NULL works everywhere
    assert.same({ 3 }, s:scalars(orm.select(F.id):where(F.active:is_(nil))):all())
    assert.same({ 1 }, s:scalars(orm.select(F.id):where(F.active:eq(true))):all())
    -- the right of IS is a literal (IS true; IS 1 on SQLite): PostgreSQL and MySQL take no
    -- parameter there
    assert.same({ 1 }, s:scalars(orm.select(F.id):where(F.active:is_(true)):order_by(F.id)):all())
    assert.same({ 1, 3 }, s:scalars(orm.select(F.id):where(F.active:is_not(false)):order_by(F.id)):all())
  end)

  it("renders OFFSET without LIMIT as the dialect requires", function()
    assert.same({ "bob", "Xab" }, names(orm.select(P.name):order_by(P.id):offset(4)))
    local sql = env.log[#env.log].sql
    assert.truthy(has(sql, for_dialect({
      sqlite = "ORDER BY people.id LIMIT -1 OFFSET ?",
      postgresql = "ORDER BY people.id OFFSET ?", -- OFFSET stands alone
      mysql = "ORDER BY people.id LIMIT 18446744073709551615 OFFSET ?",
    })), sql)
  end)

  it("types numbers bound without a SQL type where PostgreSQL needs it", function()
    assert.equal(7, s:scalar(orm.select(orm.literal(3) + orm.literal(4))))
    local sql = env.log[#env.log].sql
    assert.truthy(has(sql, for_dialect({
      sqlite = "SELECT ? + ?",
      -- PostgreSQL cannot infer the type of `$1 + $2`: the binds are cast
      postgresql = "SELECT ?::INTEGER + ?::INTEGER",
      mysql = "SELECT ? + ?",
    })), sql)
    assert.equal(3.0, s:scalar(orm.select(orm.literal(1.5) * orm.literal(2))))
    assert.truthy(has(env.log[#env.log].sql, for_dialect({
      sqlite = "SELECT ? * ?", postgresql = "SELECT ?::FLOAT * ?::INTEGER", mysql = "SELECT ? * ?",
    })), env.log[#env.log].sql)
    local big = s:scalar(orm.select(orm.literal(math.floor(2 ^ 40)) + orm.literal(1)))
    assert.equal(math.floor(2 ^ 40) + 1, big)
    if LUA.integers then assert.equal("integer", math.type(big)) end
    assert.truthy(has(env.log[#env.log].sql, for_dialect({
      sqlite = "SELECT ? + ?", postgresql = "SELECT ?::BIGINT + ?::INTEGER", mysql = "SELECT ? + ?",
    })), env.log[#env.log].sql)
  end)
end)

-------------------------------------------------------------------------------------------
-- 4. Exact round trips
-------------------------------------------------------------------------------------------

describe("JSON and datetime values round-trip exactly", function()
  local env, V
  before_each(function()
    env = new_env()
    local Base = orm.declarative_base()
    V = Base:model("V", {
      __tablename__ = "vals",
      id = orm.Column(orm.Integer, { primary_key = true }),
      doc = orm.Column(orm.JSON),
      stamp = orm.Column(orm.DateTime),
      day = orm.Column(orm.Date),
      clock = orm.Column(orm.Time),
      big = orm.Column(orm.BigInteger),
      price = orm.Column(orm.Numeric(10, 2)),
      bytes = orm.Column(orm.LargeBinary),
      ratio = orm.Column(orm.Float),
      flag = orm.Column(orm.Boolean),
      txt = orm.Column(orm.Text),
    })
    Base.metadata:create_all(env.engine)
  end)

  -- stores each row and reads it back through a new session (from the database, not the
  -- identity map); returns the objects read, in order, and that session
  local function round_trip(list)
    local s = orm.Session(env.engine)
    local objs = {}
    for i, fields in ipairs(list) do objs[i] = V(fields) end
    s:add_all(objs)
    s:commit()
    local ids = {}
    for i, o in ipairs(objs) do ids[i] = o.id end
    s:close()
    local s2 = orm.Session(env.engine)
    local out = {}
    for i, id in ipairs(ids) do out[i] = s2:get(V, id) end
    return out, s2
  end

  it("keeps nested JSON tables, arrays, unicode, numbers and booleans", function()
    local doc = {
      name = "héllo ✓ 日本 😀",
      nested = { a = { b = { c = { 1, 2, { d = "deep" } } } } },
      list = { 1, "two", 3.5, true, false, { x = 1 } },
      -- 64-bit integers where Lua has them (built by load(): every Lua parses this file)
      ints = LUA.integers and load("return { 0, -1, 1 << 53, math.maxinteger, math.mininteger }")()
        or { 0, -1, 2 ^ 53 },
      floats = { 0.1, -2.25e-10, 1e300, 1.0, 123456.789 },
      yes = true, no = false,
      quote = 'a "quoted" \\ back\nslash',
    }
    local got, s = round_trip({ { doc = doc } })
    assert.same(doc, got[1].doc)
    local d = got[1].doc
    if LUA.integers then
      assert.equal("integer", math.type(d.ints[4]))
      assert.equal(math.maxinteger, d.ints[4])
      assert.equal(math.mininteger, d.ints[5])
    end
    if LUA.integers then assert.equal("float", math.type(d.floats[4])) end -- 1.0 stays a float
    if LUA.integers then assert.equal("float", math.type(d.list[3])) end
    s:close()
  end)

  it("keeps empty JSON tables (stored as {}) and scalar documents", function()
    local got, s = round_trip({
      { doc = {} }, { doc = { inner = {}, arr = { {}, {} } } }, { doc = "just text" }, { doc = 42 },
      { doc = 2.5 }, { doc = true },
    })
    assert.same({}, got[1].doc)
    assert.equal("table", type(got[1].doc))
    assert.same({ inner = {}, arr = { {}, {} } }, got[2].doc)
    assert.equal("just text", got[3].doc)
    assert.equal(42, got[4].doc)
    if LUA.integers then assert.equal("integer", math.type(got[4].doc)) end
    assert.equal(2.5, got[5].doc)
    assert.equal(true, got[6].doc)
    s:close()
    -- an empty Lua table is an empty JSON object in the database
    assert.equal("{}", env.db_rows("SELECT doc FROM vals WHERE id = 1")[1].doc)
  end)

  it("keeps DateTime microseconds, Date and Time", function()
    local got, s = round_trip({
      { stamp = "2026-11-21 10:00:00.123456", day = "2024-02-29", clock = "10:11:12.654321" },
      { stamp = "2026-11-21 10:00:00", day = "1999-12-31", clock = "23:59:59" },
      { stamp = "1999-12-31 23:59:59.000001", day = "2000-01-01", clock = "00:00:00.000001" },
      { stamp = "2026-01-02 03:04:05.5" },
      { stamp = "2026-03-04 05:06:07.000000", clock = "05:06:07.250" },
    })
    assert.same({ "2026-11-21 10:00:00.123456", "2024-02-29", "10:11:12.654321" },
      { got[1].stamp, got[1].day, got[1].clock })
    -- no fraction digits when there are no microseconds
    assert.same({ "2026-11-21 10:00:00", "1999-12-31", "23:59:59" }, { got[2].stamp, got[2].day, got[2].clock })
    assert.same({ "1999-12-31 23:59:59.000001", "2000-01-01", "00:00:00.000001" },
      { got[3].stamp, got[3].day, got[3].clock })
    -- and a query by the exact value finds the row
    assert.equal(got[1].id, s:scalar(orm.select(V.id):where(V.stamp:eq("2026-11-21 10:00:00.123456"))))
    assert.equal(got[3].id, s:scalar(orm.select(V.id):where(V.clock:eq("00:00:00.000001"))))
    -- a fraction written with fewer (or zero) digits reads back in the one documented
    -- form, as the servers give it: six digits, or none when there are no microseconds
    assert.same({ "2026-01-02 03:04:05.500000", "2026-03-04 05:06:07", "05:06:07.250000" },
      { got[4].stamp, got[5].stamp, got[5].clock })
    assert.equal(got[4].id, s:scalar(orm.select(V.id):where(V.stamp:eq("2026-01-02 03:04:05.500000"))))
    s:close()
  end)

  it("keeps 64-bit integers exact in a BigInteger column", function()
    -- beyond 2^53 on Lua 5.1, 5.2, LuaJIT and Luau: an error naming the column, in
    -- spec/lua_versions_spec.lua; the values built by load() so that every Lua parses this file
    if not LUA.integers then return pending(LUA.skip("64-bit integers: Lua 5.3 and later")) end
    local values = load("return { math.maxinteger, math.mininteger + 1, (1 << 53) + 1, -((1 << 53) + 1), 0, -1 }")()
    local list = {}
    for i, v in ipairs(values) do list[i] = { big = v } end
    local got, s = round_trip(list)
    for i, v in ipairs(values) do
      if LUA.integers then assert.equal("integer", math.type(got[i].big)) end
      assert.equal(v, got[i].big)
    end
    -- and a comparison in SQL with such a value is exact
    assert.equal(got[3].id, s:scalar(orm.select(V.id):where(V.big:eq(values[3]))))
    assert.equal(got[1].id, s:scalar(orm.select(V.id):where(V.big:eq(math.maxinteger))))
    assert.equal(math.maxinteger, s:scalar(orm.select(orm.func.max(V.big))))
    s:close()
  end)

  it("keeps Numeric(10, 2) values", function()
    local got, s = round_trip({
      { price = 12345678.91 }, { price = 0.1 }, { price = -0.05 }, { price = 100 }, { price = 99999999.99 },
      { price = 2.5 },
    })
    assert.same({ 12345678.91, 0.1, -0.05, 100, 99999999.99, 2.5 },
      { got[1].price, got[2].price, got[3].price, got[4].price, got[5].price, got[6].price })
    -- a Numeric column reads as a float on all three (its values as a Float column's),
    -- whole values too, whatever the driver handed over
    if LUA.integers then assert.equal("float", math.type(got[4].price)) end
    if LUA.integers then assert.equal("float", math.type(got[1].price)) end
    s:close()
  end)

  it("keeps LargeBinary bytes including NUL and high bytes", function()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    local every_byte = table.concat(all)
    local values = { "\0", "\0\0\255\254", every_byte, "", "\255\254\0abc\0", string.rep("\0\128", 5000) }
    local list = {}
    for i, v in ipairs(values) do list[i] = { bytes = v } end
    local got, s = round_trip(list)
    for i, v in ipairs(values) do
      assert.equal(#v, #got[i].bytes)
      assert.equal(v, got[i].bytes)
    end
    s:close()
  end)

  it("keeps floats, booleans and unicode text", function()
    local got, s = round_trip({
      { ratio = math.pi, flag = true, txt = "héllo ✓ 日本 😀" },
      { ratio = 1e300, flag = false, txt = "" },
      { ratio = -1.5e-300, txt = string.rep("ü", 10000) },
      { ratio = 3 },
    })
    assert.same({ math.pi, true, "héllo ✓ 日本 😀" }, { got[1].ratio, got[1].flag, got[1].txt })
    assert.same({ 1e300, false, "" }, { got[2].ratio, got[2].flag, got[2].txt })
    assert.same({ -1.5e-300, string.rep("ü", 10000) }, { got[3].ratio, got[3].txt })
    assert.is_nil(got[3].flag)
    assert.equal(3.0, got[4].ratio)
    if LUA.integers then assert.equal("float", math.type(got[4].ratio)) end
    s:close()
  end)

  it("compares dates, times, booleans, bytes, numbers and big integers in SQL", function()
    local got, s = round_trip({
      { stamp = "2020-01-01 00:00:00", day = "2020-01-01", clock = "01:00:00", flag = true,
        bytes = "\0\1", price = 1.5, big = math.mininteger },
      { stamp = "2021-06-01 12:00:00.250000", day = "2021-06-01", clock = "13:00:00", flag = false,
        bytes = "\255", price = 100, big = 5 },
    })
    local a, b = got[1].id, got[2].id
    local function ids(cond) return s:scalars(orm.select(V.id):where(cond):order_by(V.id)):all() end
    assert.same({ a }, ids(V.flag:eq(true)))
    assert.same({ b }, ids(V.flag:eq(false)))
    assert.same({ a }, ids(V.flag))
    assert.same({ b }, ids(orm.not_(V.flag)))
    assert.same({ b }, ids(V.day:gt("2020-06-01")))
    assert.same({ a }, ids(V.day:between("2019-01-01", "2020-12-31")))
    assert.same({ a, b }, ids(V.day:in_({ "2020-01-01", "2021-06-01" })))
    assert.same({ a }, ids(V.stamp:lt(1577836800 + 60))) -- os.time() seconds: 2020-01-01 00:01:00
    assert.same({ b }, ids(V.stamp:ge("2021-06-01 12:00:00.250000")))
    assert.same({ b }, ids(V.clock:gt("12:00:00")))
    assert.same({ b }, ids(V.bytes:eq("\255")))
    assert.same({ b }, ids(V.price:gt(99.5)))
    assert.same({ a }, ids(V.big:eq(math.mininteger)))
    assert.equal(101.5, s:scalar(orm.select(orm.func.sum(V.price))))
    assert.equal("2021-06-01 12:00:00.250000", s:scalar(orm.select(orm.func.max(V.stamp))))
    s:close()
  end)

  it("stores text with a NUL byte except on PostgreSQL", function()
    local s = orm.Session(env.engine)
    s:add(V{ txt = "a\0b" })
    if SPEC_DIALECT == "postgresql" then
      -- PostgreSQL text cannot hold NUL
      local err = pcall_err(s.flush, s)
      assert.equal("DataError", err.kind)
      assert.truthy(err:is("DBAPIError"))
      s:rollback()
      assert.same({}, env.db_column("SELECT txt FROM vals", "txt"))
    else
      s:commit()
      assert.same({ "a\0b" }, env.db_column("SELECT txt FROM vals", "txt"))
    end
    s:close()
  end)
end)

-------------------------------------------------------------------------------------------
-- 5. Savepoints
-------------------------------------------------------------------------------------------

-- A failed statement aborts a PostgreSQL transaction until ROLLBACK; a savepoint rolled
-- back to is what lets the outer transaction go on there. SQLite and MySQL go on anyway.
describe("savepoints", function()
  local env, A, s
  before_each(function()
    env = new_env()
    local Base = orm.declarative_base()
    A = Base:model("A", {
      __tablename__ = "accounts",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20), { unique = true, nullable = false }),
    })
    Base.metadata:create_all(env.engine)
    s = orm.Session(env.engine)
    s:add(A{ name = "existing" })
    s:commit()
    env.clear()
  end)
  after_each(function() s:close() end)

  local function db_names() return env.db_column("SELECT name FROM accounts ORDER BY id", "name") end

  it("confines a failed flush to the savepoint; the outer rows survive and commit", function()
    local outer = A{ name = "outer" }
    s:add(outer)
    s:flush()
    local dup = A{ name = "existing" }
    local err = pcall_err(s.begin_nested, s, function()
      s:add(dup)
      s:flush()
    end)
    assert.equal("IntegrityError", err.kind)
    assert.equal("transient", state(dup))
    assert.equal("persistent", state(outer))
    assert.equal(1, #env.statements("^SAVEPOINT"))
    -- rolled back to once (by the failed flush), then released
    assert.equal(1, #env.statements("^ROLLBACK TO SAVEPOINT"))
    assert.equal(1, #env.statements("^RELEASE SAVEPOINT"))
    -- only the savepoint was rolled back, never the transaction
    assert.equal(0, #env.statements("^ROLLBACK$"))
    -- the outer transaction still runs statements (on PostgreSQL thanks to the savepoint)
    assert.equal(2, s:scalar(orm.select(orm.func.count()):select_from(A)))
    s:add(A{ name = "later" })
    s:commit()
    assert.same({ "existing", "outer", "later" }, db_names())
  end)

  it("confines a failed statement to the savepoint too", function()
    s:add(A{ name = "outer" })
    s:flush()
    local err = pcall_err(s.begin_nested, s, function()
      s:execute(orm.text("INSERT INTO accounts (name) VALUES (:n)"), { n = "existing" })
    end)
    assert.equal("IntegrityError", err.kind)
    s:execute(orm.text("INSERT INTO accounts (name) VALUES (:n)"), { n = "raw" })
    s:commit()
    assert.same({ "existing", "outer", "raw" }, db_names())
  end)

  it("rolls back a savepoint whose work succeeded when its function raises", function()
    s:add(A{ name = "outer" })
    local inner = A{ name = "inner" }
    local boom = {}
    local err = pcall_err(s.begin_nested, s, function()
      s:add(inner)
      s:flush()
      -- visible inside the savepoint
      assert.equal(3, s:scalar(orm.select(orm.func.count()):select_from(A)))
      error(boom)
    end)
    assert.truthy(rawequal(boom, err))
    assert.equal("transient", state(inner))
    assert.is_nil(inner.id)
    assert.equal(2, s:scalar(orm.select(orm.func.count()):select_from(A)))
    s:commit()
    assert.same({ "existing", "outer" }, db_names())
  end)

  it("releases a successful savepoint and commits its work with the outer transaction", function()
    s:add(A{ name = "outer" })
    s:begin_nested(function() s:add(A{ name = "inner" }) end)
    assert.equal(1, #env.statements("^SAVEPOINT"))
    assert.equal(1, #env.statements("^RELEASE SAVEPOINT"))
    s:commit()
    assert.same({ "existing", "outer", "inner" }, db_names())
  end)

  it("rolls back an inner released savepoint with the outer one that fails", function()
    local b, c = A{ name = "b" }, A{ name = "c" }
    local ok = pcall(s.begin_nested, s, function()
      s:add(b)
      s:begin_nested(function() s:add(c) end)
      assert.equal("persistent", state(c))
      s:flush()
      error("undo the outer savepoint")
    end)
    assert.falsy(ok)
    assert.equal("transient", state(b))
    assert.equal("transient", state(c))
    s:add(A{ name = "d" })
    s:commit()
    assert.same({ "existing", "d" }, db_names())
  end)

  it("lets a later savepoint succeed after one failed", function()
    pcall_err(s.begin_nested, s, function()
      s:add(A{ name = "existing" })
      s:flush()
    end)
    s:begin_nested(function()
      s:add(A{ name = "second" })
      s:flush()
    end)
    s:commit()
    assert.same({ "existing", "second" }, db_names())
  end)

  it("without a savepoint, a session's failed statement blocks only PostgreSQL until rollback", function()
    s:add(A{ name = "outer" })
    s:flush()
    local err = pcall_err(s.execute, s, orm.text("INSERT INTO accounts (name) VALUES (:n)"), { n = "existing" })
    assert.equal("IntegrityError", err.kind)
    if SPEC_DIALECT == "postgresql" then
      local err2 = pcall_err(s.scalar, s, orm.select(orm.func.count()):select_from(A))
      -- SQLAlchemy's InternalError (psycopg's InFailedSqlTransaction), a DBAPIError
      assert.equal("InternalError", err2.kind)
      assert.truthy(err2:is("DBAPIError"))
      assert.truthy(has(tostring(err2), "current transaction is aborted"), tostring(err2))
      s:rollback()
      assert.same({ "existing" }, db_names())
    else
      assert.equal(2, s:scalar(orm.select(orm.func.count()):select_from(A)))
      s:commit()
      assert.same({ "existing", "outer" }, db_names())
    end
    -- the session goes on after that
    s:add(A{ name = "again" })
    s:commit()
    assert.equal("again", db_names()[#db_names()])
  end)

  it("without a savepoint, a failed statement aborts only a PostgreSQL transaction", function()
    local conn = env.engine:connect()
    conn:execute(orm.text("INSERT INTO accounts (name) VALUES ('good')"))
    local err = pcall_err(conn.execute, conn, orm.text("INSERT INTO accounts (name) VALUES ('existing')"))
    assert.equal("IntegrityError", err.kind)
    if SPEC_DIALECT == "postgresql" then
      local err2 = pcall_err(conn.execute, conn, orm.text("SELECT count(*) FROM accounts"))
      assert.equal("InternalError", err2.kind)
      assert.truthy(err2:is("DBAPIError"))
      assert.truthy(has(tostring(err2), "current transaction is aborted"), tostring(err2))
      conn:rollback()
      assert.equal(1, conn:execute(orm.text("SELECT count(*) FROM accounts")):scalar())
    else
      assert.equal(2, conn:execute(orm.text("SELECT count(*) FROM accounts")):scalar())
      conn:commit()
    end
    conn:close()
    assert.same(for_dialect({
      sqlite = { "existing", "good" },
      postgresql = { "existing" },
      mysql = { "existing", "good" },
    }), db_names())
  end)
end)

-------------------------------------------------------------------------------------------
-- 6. Error mapping
-------------------------------------------------------------------------------------------

describe("error mapping", function()
  local env, Parent, Child, s
  before_each(function()
    env = new_env()
    local Base = orm.declarative_base()
    Parent = Base:model("Parent", {
      __tablename__ = "parents",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20), { unique = true, nullable = false }),
    })
    -- no relationship: the ORM leaves the foreign key to the database
    Child = Base:model("Child", {
      __tablename__ = "children",
      id = orm.Column(orm.Integer, { primary_key = true }),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("parents.id"), { nullable = false }),
      name = orm.Column(orm.String(20)),
    })
    Base.metadata:create_all(env.engine)
    s = orm.Session(env.engine)
    s:add(Parent{ id = 1, name = "p1" })
    s:commit()
    s:add(Child{ id = 1, parent_id = 1, name = "c1" })
    s:commit()
    env.clear()
  end)
  after_each(function() s:close() end)

  local function db_state()
    return {
      parents = env.db_column("SELECT name FROM parents ORDER BY id", "name"),
      children = env.db_column("SELECT name FROM children ORDER BY id", "name"),
    }
  end
  local INITIAL = { parents = { "p1" }, children = { "c1" } }

  local function assert_db_error(err, kind, sql_prefix, param)
    assert.equal(kind, err.kind)
    assert.truthy(err:is(kind))
    assert.truthy(err:is("DBAPIError"))
    assert.truthy(has(err.statement, sql_prefix), err.statement)
    local text = tostring(err)
    assert.truthy(has(text, "[SQL: " .. sql_prefix), text)
    -- the database's own message
    assert.equal("string", type(err.orig))
    assert.truthy(#err.orig > 0 and text:find(err.orig, 1, true), err.orig)
    if param ~= nil then
      assert.truthy(has(text, "[parameters: "), text)
      local found = false
      for _, v in ipairs(err.params) do if v == param then found = true end end
      assert.truthy(found, "parameter " .. tostring(param) .. " missing from err.params")
    end
  end

  it("maps a unique violation to IntegrityError with the statement and parameters", function()
    s:add(Parent{ name = "p1" })
    local err = pcall_err(s.flush, s)
    assert_db_error(err, "IntegrityError", "INSERT INTO parents", "p1")
    assert.truthy(has(tostring(err), for_dialect({
      sqlite = "UNIQUE constraint failed: parents.name",
      postgresql = "duplicate key value violates unique constraint",
      mysql = "(1062, \"Duplicate entry 'p1' for key",
    })), tostring(err))
    s:rollback()
    assert.same(INITIAL, db_state())
  end)

  it("maps a child row without its parent to IntegrityError", function()
    s:add(Child{ parent_id = 99, name = "orphan" })
    local err = pcall_err(s.flush, s)
    assert_db_error(err, "IntegrityError", "INSERT INTO children", 99)
    assert.truthy(has(tostring(err), for_dialect({
      sqlite = "FOREIGN KEY constraint failed",
      postgresql = "violates foreign key constraint",
      mysql = "(1452, \"Cannot add or update a child row",
    })), tostring(err))
    s:rollback()
    assert.same(INITIAL, db_state())
  end)

  it("maps deleting a parent that has children to IntegrityError", function()
    s:delete(s:get(Parent, 1))
    local err = pcall_err(s.flush, s)
    assert_db_error(err, "IntegrityError", "DELETE FROM parents", 1)
    assert.truthy(has(tostring(err), for_dialect({
      sqlite = "FOREIGN KEY constraint failed",
      postgresql = "violates foreign key constraint",
      mysql = "(1451, \"Cannot delete or update a parent row",
    })), tostring(err))
    s:rollback()
    assert.same(INITIAL, db_state())
    -- the same through a bulk DELETE
    local err2 = pcall_err(s.execute, s, orm.delete(Parent):where(Parent.id:eq(1)))
    assert_db_error(err2, "IntegrityError", "DELETE FROM parents", 1)
    s:rollback()
    assert.same(INITIAL, db_state())
  end)

  it("maps a NOT NULL violation to IntegrityError", function()
    s:add(Parent{ id = 7 })
    local err = pcall_err(s.flush, s)
    assert_db_error(err, "IntegrityError", "INSERT INTO parents", 7)
    assert.truthy(has(tostring(err), for_dialect({
      sqlite = "NOT NULL constraint failed: parents.name",
      postgresql = 'null value in column "name" of relation "parents" violates not-null constraint',
      mysql = "(1048, \"Column 'name' cannot be null\")",
    })), tostring(err))
    s:rollback()
    -- and through a bulk INSERT with an explicit NULL
    local err2 = pcall_err(s.execute, s, orm.insert(Parent), { { id = 8, name = orm.null() } })
    assert_db_error(err2, "IntegrityError", "INSERT INTO parents", 8)
    s:rollback()
    assert.same(INITIAL, db_state())
  end)

  it("maps a syntax error in text() as SQLAlchemy's drivers do", function()
    local err = pcall_err(s.execute, s, orm.text("SELEC name FROM parents"))
    local expected = for_dialect({
      sqlite = { kind = "OperationalError", text = 'near "SELEC": syntax error' },
      postgresql = { kind = "ProgrammingError", text = 'syntax error at or near "SELEC"' },
      mysql = { kind = "ProgrammingError", text = "(1064, \"You have an error in your SQL syntax" },
    })
    assert_db_error(err, expected.kind, "SELEC name FROM parents")
    assert.truthy(has(tostring(err), expected.text), tostring(err))
    s:rollback()
    assert.equal("p1", s:scalar(orm.select(Parent.name)))
  end)

  it("maps a missing table as SQLAlchemy's drivers do", function()
    local err = pcall_err(s.execute, s, orm.text("SELECT * FROM nowhere"))
    local expected = for_dialect({
      sqlite = { kind = "OperationalError", text = "no such table: nowhere" },
      postgresql = { kind = "ProgrammingError", text = 'relation "nowhere" does not exist' },
      mysql = { kind = "ProgrammingError", text = ".nowhere' doesn't exist" },
    })
    assert_db_error(err, expected.kind, "SELECT * FROM nowhere")
    assert.truthy(has(tostring(err), expected.text), tostring(err))
    s:rollback()
    assert.equal("p1", s:scalar(orm.select(Parent.name)))
  end)

  it("maps a value that does not fit to DataError on the servers", function()
    s:add(Parent{ name = string.rep("x", 30) }) -- String(20)
    if SPEC_DIALECT == "sqlite" then
      -- SQLite does not enforce a VARCHAR length
      s:commit()
      assert.same({ "p1", string.rep("x", 30) }, db_state().parents)
    else
      local err = pcall_err(s.flush, s)
      assert_db_error(err, "DataError", "INSERT INTO parents", string.rep("x", 30))
      assert.truthy(has(tostring(err), for_dialect({
        postgresql = "value too long for type character varying(20)",
        mysql = "(1406, \"Data too long for column 'name'",
      })), tostring(err))
      s:rollback()
      assert.same(INITIAL, db_state())
    end
  end)

  it("needs a rollback after a failed flush, then works again with the database unchanged", function()
    local fresh = Parent{ name = "fresh" }
    s:add(fresh)
    s:flush()
    local p1 = s:get(Parent, 1)
    p1.name = "renamed"
    s:add(Child{ parent_id = 99, name = "orphan" })
    local err = pcall_err(s.flush, s)
    assert.equal("IntegrityError", err.kind)
    -- nothing of the failed transaction reached the database
    assert.same(INITIAL, db_state())
    s:flush() -- nothing left to write (the failure expired p1): returns, as SQLAlchemy's
    s:add(Parent{ name = "later" })
    local e1 = pcall_err(s.flush, s)
    assert.equal("PendingRollbackError", e1.kind)
    local e2 = pcall_err(s.scalars, s, orm.select(Parent))
    assert.equal("PendingRollbackError", e2.kind)
    local e3 = pcall_err(s.commit, s)
    assert.equal("PendingRollbackError", e3.kind)
    s:rollback()
    assert.equal("p1", p1.name)
    assert.equal("transient", state(fresh))
    assert.is_nil(fresh.id)
    -- the session works again on the same database
    s:add(Parent{ name = "p2" })
    s:add(Child{ parent_id = 1, name = "c2" })
    s:commit()
    assert.same({ parents = { "p1", "p2" }, children = { "c1", "c2" } }, db_state())
    assert.same({ "p1", "p2" }, s:scalars(orm.select(Parent.name):order_by(Parent.id)):all())
  end)
end)

describe("orm.text binds", function()
  it("take numbers and booleans the server could not type from the SQL alone", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Flag = Base:model("Flag", {
      __tablename__ = "text_flags",
      id = orm.Column(orm.Integer, { primary_key = true }),
      active = orm.Column(orm.Boolean),
      n = orm.Column(orm.Integer),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Flag{ active = true, n = 1 }, Flag{ active = false, n = 2 } })
    s:commit()
    -- a bare sum: PostgreSQL needs the parameters' types (sent as BIGINT / FLOAT8)
    assert.equal(3, s:scalar(orm.text("SELECT :a + :b"), { a = 1, b = 2 }))
    assert.equal(3.0, s:scalar(orm.text("SELECT :x * 2"), { x = 1.5 }))
    -- a boolean compared with a BOOLEAN column, a number with an INTEGER one
    assert.same({ 1 }, s:scalars(orm.text("SELECT id FROM text_flags WHERE active = :a"), { a = true }):all())
    assert.same({ 2 }, s:scalars(orm.text("SELECT id FROM text_flags WHERE n = :n"), { n = 2 }):all())
    -- strings stay untyped: the server reads them as the column they meet needs
    s:execute(orm.text("UPDATE text_flags SET n = :n WHERE id = :id"), { n = 5, id = 1 })
    assert.equal(5, s:scalar(orm.text("SELECT n FROM text_flags WHERE id = 1")))
    s:close()
  end)
end)

describe("a raw orm.text statement with RETURNING", function()
  it("returns its rows where the server has RETURNING (SQLite, PostgreSQL, MariaDB)", function()
    local engine = orm.create_engine("sqlite://")
    local conn = engine:connect()
    local version = SPEC_DIALECT == "sqlite" and "" or conn:execute(orm.text("SELECT VERSION()")):scalar()
    -- MySQL itself has no RETURNING; a MariaDB server has it on INSERT and DELETE, also
    -- reached as mysql://, and describes the columns only once the statement has run
    if SPEC_DIALECT == "sqlite" or SPEC_DIALECT == "postgresql" or version:find("MariaDB", 1, true) then
      conn:execute(orm.text("CREATE TABLE raw_ret (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
      local inserted = conn:execute(orm.text(
        "INSERT INTO raw_ret (id, name) VALUES (1, 'a'), (2, 'b') RETURNING id, name")):all()
      assert.same({ { 1, "a" }, { 2, "b" } }, { { inserted[1].id, inserted[1].name }, { inserted[2].id, inserted[2].name } })
      assert.equal("b", conn:execute(orm.text("DELETE FROM raw_ret WHERE id = :i RETURNING name"), { i = 2 }):scalar())
      -- without RETURNING: the rows changed
      assert.equal(1, conn:execute(orm.text("UPDATE raw_ret SET name = 'z'")).rowcount)
      conn:commit()
    else
      local ok, err = pcall(function()
        return conn:execute(orm.text("DELETE FROM nothing_here RETURNING id")):all()
      end)
      assert.falsy(ok)
      assert.equal("ProgrammingError", err.kind)
    end
    conn:close()
  end)
end)

-- Sessions and connections of one engine: each has its own connection and transaction, a
-- commit is durable for every later session, a rollback undoes only its own work. An
-- in-memory engine behaves as a file database does (SQLAlchemy 2.0 on a SQLite file is the
-- reference: reads begin no transaction, the BEGIN waits for the first write).
local orm = require("lualchemy")

local function notes(url, options)
  local engine = orm.create_engine(url or "sqlite://", options)
  local Base = orm.declarative_base()
  local Note = Base:model("Note", {
    __tablename__ = "notes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    body = orm.Column(orm.String(50), { nullable = false }),
  })
  Base.metadata:create_all(engine)
  local function S() return orm.Session(engine) end
  local count_stmt = orm.select(orm.func.count()):select_from(Note)
  local function count(s) return s:scalar(count_stmt) end
  local function fresh_count()
    local s = S()
    local n = count(s)
    s:close()
    return n
  end
  return engine, Note, S, count, fresh_count
end

-- Every database here lets a transaction see commits made since its first read: SQLite's
-- reads begin no transaction (as with pysqlite); PostgreSQL and MySQL / MariaDB connections
-- run at READ COMMITTED (docs/DIALECTS.md), so these specs expect the same on each.

-- The same behaviours on an in-memory engine and on a file (the file only on SQLite: the
-- spec runner maps "sqlite://" to a fresh server schema under --db).
local kinds = { { name = "in-memory engine", url = function() return "sqlite://" end } }
if SPEC_DIALECT == "sqlite" then
  kinds[2] = { name = "file engine", url = function() return "sqlite:///" .. tmp_db_path() end }
end

for _, kind in ipairs(kinds) do
  describe("sessions of one " .. kind.name, function()
    local url, engine, Note, S, count, fresh_count
    before_each(function()
      url = kind.url()
      engine, Note, S, count, fresh_count = notes(url)
    end)
    after_each(function()
      engine:dispose()
      local path = url:match("^sqlite:///(.+)$")
      if path then remove_db(path) end
    end)

    it("keep a commit made while another session has read (issue example)", function()
      local reader = S()
      assert.equal(0, count(reader))
      local writer = S()
      writer:add(Note{ body = "saved" })
      writer:commit()
      writer:close()
      reader:close()
      assert.equal(1, fresh_count())
    end)

    it("let a session see commits made after its first read", function()
      local reader = S()
      assert.equal(0, count(reader))
      local writer = S()
      writer:add(Note{ body = "later" })
      writer:commit()
      writer:close()
      assert.equal(1, count(reader))
      reader:close()
    end)

    it("roll back only their own flush", function()
      local a = S()
      assert.equal(0, count(a))
      local b = S()
      b:add(Note{ body = "undone" })
      b:flush()
      assert.equal(1, count(b))
      b:rollback()
      assert.equal(0, count(b))
      assert.equal(0, count(a))
      a:add(Note{ body = "kept" })
      a:commit()
      b:close()
      a:close()
      assert.equal(1, fresh_count())
    end)

    it("write after a read while another session committed in between", function()
      local a = S()
      assert.equal(0, count(a))
      local b = S()
      b:add(Note{ body = "b" })
      b:commit()
      b:close()
      a:add(Note{ body = "a" })
      a:commit()
      a:close()
      assert.equal(2, fresh_count())
    end)

    it("commit durably through any number of sessions opened one after another", function()
      for i = 1, 12 do
        local s = S()
        s:add(Note{ body = "n" .. i })
        if i % 3 == 0 then s:rollback() else s:commit() end
        s:close()
      end
      assert.equal(8, fresh_count())
    end)

    it("keep a connection's transaction apart from a session's", function()
      local conn = engine:connect()
      assert.equal(0, conn:execute(orm.text("SELECT count(*) FROM notes")):scalar())
      local s = S()
      s:add(Note{ body = "from the session" })
      s:commit()
      s:close()
      assert.equal(1,
        conn:execute(orm.text("SELECT count(*) FROM notes")):scalar())
      conn:execute(orm.text("INSERT INTO notes (body) VALUES ('rolled back')"))
      conn:rollback()
      assert.equal(1, fresh_count())
      conn:execute(orm.text("INSERT INTO notes (body) VALUES ('committed')"))
      conn:commit()
      conn:close()
      assert.equal(2, fresh_count())
    end)

    it("interleave in coroutines: each commit is seen by the later reads of the other", function()
      local N = 5
      local seen = {}
      local writer = coroutine.wrap(function()
        for i = 1, N do
          local s = S()
          s:add(Note{ body = "w" .. i })
          if i == 3 then s:rollback() else s:commit() end
          s:close()
          coroutine.yield()
        end
      end)
      local reader = coroutine.wrap(function()
        local s = S()
        for _ = 1, N do
          seen[#seen + 1] = count(s)
          s:commit()
          coroutine.yield()
        end
        s:close()
      end)
      for _ = 1, N do
        writer()
        reader()
      end
      assert.same({ 1, 2, 2, 3, 4 }, seen)
      assert.equal(4, fresh_count())
    end)

    it("interleave a flush and its rollback in one coroutine with commits in another", function()
      local flow = {}
      local undoing = coroutine.wrap(function()
        local s = S()
        s:add(Note{ body = "undone" })
        s:flush()
        flow[#flow + 1] = count(s)
        s:rollback()
        coroutine.yield()
        flow[#flow + 1] = count(s)
        s:close()
      end)
      local committing = coroutine.wrap(function()
        local s = S()
        s:add(Note{ body = "kept" })
        s:commit()
        s:close()
      end)
      undoing()
      committing()
      undoing()
      assert.same({ 1, 1 }, flow)
      assert.equal(1, fresh_count())
    end)

    it("undo a released savepoint that began the transaction when it rolls back", function()
      -- (pysqlite would have committed at the RELEASE: a SAVEPOINT outside BEGIN begins a
      -- transaction its RELEASE ends; lualchemy sends the BEGIN first)
      local s = S()
      s:begin_nested(function() s:add(Note{ body = "inner" }) end)
      s:rollback()
      s:close()
      assert.equal(0, fresh_count())
    end)
  end)
end

describe("an in-memory engine", function()
  if SPEC_DIALECT ~= "sqlite" then return end

  it("lets no other session read while one has an open write transaction, and says so", function()
    local _, Note, S, count = notes()
    local writer = S()
    writer:add(Note{ body = "pending" })
    writer:flush()
    local reader = S()
    local err = assert.has_error(function() count(reader) end)
    assert.equal("OperationalError", err.kind)
    assert.truthy(err.message:find("database is locked", 1, true), err.message)
    assert.truthy(err.message:find("in-memory engine", 1, true), err.message)
    assert.truthy(err.message:find("Commit or roll back", 1, true), err.message)
    writer:commit()
    assert.equal(1, count(reader))
    reader:close()
    writer:close()
  end)

  it("is a database of its own per engine, discarded by dispose()", function()
    local engine, Note, S, _, fresh_count = notes()
    local other = notes()
    local s = S()
    s:add(Note{ body = "here" })
    s:commit()
    s:close()
    assert.equal(1, fresh_count())
    assert.is_nil(other:connect():execute(orm.text("SELECT * FROM notes")):first())
    engine:dispose()
    local conn = engine:connect()
    local err = assert.has_error(function() conn:execute(orm.text("SELECT * FROM notes")) end)
    assert.truthy(tostring(err):find("no such table: notes", 1, true), tostring(err))
    conn:close()
  end)

  it("keeps its database while a session of the engine holds it across dispose()", function()
    local engine, Note, S = notes()
    local s = S()
    s:add(Note{ body = "kept" })
    s:flush()
    engine:dispose()
    assert.equal(1, s:scalar(orm.select(orm.func.count()):select_from(Note)))
    s:close()
  end)
end)

describe("a file engine", function()
  if SPEC_DIALECT ~= "sqlite" then return end

  it("lets another session read the last commit while one has an open write transaction", function()
    local path = tmp_db_path()
    local engine, Note, S, count = notes("sqlite:///" .. path)
    local writer = S()
    writer:add(Note{ body = "pending" })
    writer:flush()
    local reader = S()
    assert.equal(0, count(reader))
    writer:commit()
    assert.equal(1, count(reader))
    reader:close()
    writer:close()
    engine:dispose()
    remove_db(path)
  end)
end)

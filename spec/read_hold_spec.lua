-- An in-memory engine keeps a session's read transaction open across its reads while no other
-- connection of the engine is checked out (docs/PERFORMANCE.md, 2026-12-06; engine/read_hold.rs).
-- That must not show: these interleave sessions, connections and coroutines so that a read
-- kept on an old snapshot (a stale read), a write refused because a reader held the database,
-- or a commit that did not last (a lost commit) would fail them. The same on a file engine and
-- on the servers (the spec runner maps "sqlite://" to a fresh schema under --db).
local orm = require("lualchemy")

local function notes(url)
  local engine = orm.create_engine(url)
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
  -- a committed note's id, from a session of its own
  local function committed(body)
    local s = S()
    local n = Note{ body = body }
    s:add(n)
    s:commit()
    local id = n.id
    s:close()
    return id
  end
  return engine, Note, S, count, fresh_count, committed
end

local kinds = { { name = "in-memory engine", url = function() return "sqlite://" end } }
if SPEC_DIALECT == "sqlite" then
  kinds[2] = { name = "file engine", url = function() return "sqlite:///" .. tmp_db_path() end }
end

for _, kind in ipairs(kinds) do
  describe("reads held across a session's gets on an " .. kind.name, function()
    local url, engine, Note, S, count, fresh_count, committed
    before_each(function()
      url = kind.url()
      engine, Note, S, count, fresh_count, committed = notes(url)
    end)
    after_each(function()
      engine:dispose()
      local path = url:match("^sqlite:///(.+)$")
      if path then remove_db(path) end
    end)

    it("see a commit another session made between two reads, without a commit of their own", function()
      local first = committed("first")
      local reader = S()
      assert.equal("first", reader:get(Note, first).body)
      assert.equal(1, count(reader))
      local second = committed("second")
      assert.equal(2, count(reader))
      assert.equal("second", reader:get(Note, second).body)
      reader:close()
    end)

    it("let a session created before the reader's first read write and commit after it", function()
      local first = committed("first")
      local writer = S() -- no connection yet
      local reader = S()
      assert.equal("first", reader:get(Note, first).body)
      writer:add(Note{ body = "late" })
      writer:commit()
      writer:close()
      assert.equal(2, count(reader))
      reader:add(Note{ body = "reader's" })
      reader:commit()
      reader:close()
      assert.equal(3, fresh_count())
    end)

    it("see what a connection commits while the session stays open, and after it closes", function()
      local first = committed("first")
      local s = S()
      assert.equal("first", s:get(Note, first).body)
      local conn = engine:connect()
      conn:execute(orm.text("INSERT INTO notes (body) VALUES ('from the connection')"))
      conn:commit()
      assert.equal(2, count(s))
      conn:close()
      assert.equal(2, count(s))
      conn = engine:connect()
      conn:execute(orm.text("INSERT INTO notes (body) VALUES ('rolled back')"))
      conn:rollback()
      conn:close()
      assert.equal(2, count(s))
      s:close()
      assert.equal(2, fresh_count())
    end)

    it("keep a write made after reads in the same session, and the reads after it", function()
      local first = committed("first")
      local s = S()
      assert.equal(1, count(s))
      assert.equal("first", s:get(Note, first).body)
      local n = Note{ body = "written" }
      s:add(n)
      s:flush()
      assert.equal(2, count(s))
      s:commit()
      assert.equal(2, count(s))
      assert.equal("written", s:get(Note, n.id).body)
      local other = committed("other")
      assert.equal(3, count(s))
      assert.equal("other", s:get(Note, other).body)
      s:rollback()
      s:close()
      assert.equal(3, fresh_count())
    end)

    it("undo a flush after reads on rollback, and keep a savepoint's commit", function()
      local s = S()
      assert.equal(0, count(s))
      s:add(Note{ body = "undone" })
      s:flush()
      s:rollback()
      assert.equal(0, count(s))
      s:begin_nested(function() s:add(Note{ body = "nested" }) end)
      s:commit()
      assert.equal(1, count(s))
      s:close()
      assert.equal(1, fresh_count())
    end)

    it("interleave in coroutines: a reader that never commits sees every commit of the writer", function()
      local N = 6
      local seen, got = {}, {}
      local ids = {}
      local writer = coroutine.wrap(function()
        for i = 1, N do
          local s = S()
          local n = Note{ body = "w" .. i }
          s:add(n)
          if i == 4 then
            s:rollback()
          else
            s:commit()
            ids[#ids + 1] = n.id
          end
          s:close()
          coroutine.yield()
        end
      end)
      local reader = coroutine.wrap(function()
        local s = S()
        for _ = 1, N do
          seen[#seen + 1] = count(s)
          local id = ids[#ids]
          got[#got + 1] = s:get(Note, id).body
          coroutine.yield()
        end
        s:close()
      end)
      for _ = 1, N do
        writer()
        reader()
      end
      assert.same({ 1, 2, 3, 3, 4, 5 }, seen)
      assert.same({ "w1", "w2", "w3", "w3", "w5", "w6" }, got)
      assert.equal(5, fresh_count())
    end)

    it("interleave two sessions that each read then write, in coroutines, without losing a commit", function()
      local N = 4
      local function worker(tag, flow)
        return coroutine.wrap(function()
          local s = S()
          for i = 1, N do
            flow[#flow + 1] = count(s)
            coroutine.yield()
            s:add(Note{ body = tag .. i })
            s:commit()
            coroutine.yield()
          end
          s:close()
        end)
      end
      local fa, fb = {}, {}
      local a, b = worker("a", fa), worker("b", fb)
      for _ = 1, 2 * N do
        a()
        b()
      end
      assert.same({ 0, 2, 4, 6 }, fa)
      assert.same({ 0, 2, 4, 6 }, fb)
      assert.equal(2 * N, fresh_count())
    end)

    it("let a load listener commit through another session in the middle of the reader's loads", function()
      for i = 1, 3 do committed("n" .. i) end
      local writes = 0
      orm.event.listen(Note, "load", function()
        local w = S()
        w:add(Note{ body = "from load" })
        w:commit()
        w:close()
        writes = writes + 1
      end)
      local s = S()
      local all = s:scalars(orm.select(Note):order_by(Note.id)):all()
      assert.equal(3, #all)
      assert.equal(3, writes)
      assert.equal(6, count(s))
      s:close()
      assert.equal(6, fresh_count())
    end)

    it("run VACUUM after reads in the same session", function()
      if SPEC_DIALECT ~= "sqlite" then return pending("VACUUM is SQLite's") end
      committed("first")
      local s = S()
      assert.equal(1, count(s))
      s:execute(orm.text("VACUUM"))
      assert.equal(1, count(s))
      s:close()
      assert.equal(1, fresh_count())
    end)
  end)
end

-- Events (issue 6): mapper events on models and bases, session events on sessions and
-- sessionmakers, engine events; listen / listens_for / remove / contains, once; the order
-- of mapper and session events within one commit; and an error raised in a listener, which
-- reaches the caller as the very value raised and leaves the session recoverable.
local orm = require("lualchemy")

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  env.Base = Base
  env.Note = Base:model("Note", {
    __tablename__ = "ev_notes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    body = orm.Column(orm.String(50)),
    stamp = orm.Column(orm.String(20)),
    version = orm.Column(orm.Integer, { default = 0 }),
  })
  env.Audit = Base:model("Audit", {
    __tablename__ = "ev_audit",
    id = orm.Column(orm.Integer, { primary_key = true }),
    what = orm.Column(orm.String(80)),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.rows(sql)
    local out = {}
    for _, r in ipairs(env.s:execute(orm.text(sql)):all()) do out[#out + 1] = r[1] end
    return out
  end
  return env
end

describe("mapper events", function()
  local env, Note, s
  before_each(function() env = setup(); Note, s = env.Note, env.s end)

  it("before_insert changes reach the INSERT; after_insert sees the key and writes on the connection", function()
    orm.event.listen(Note, "before_insert", function(mapper, connection, target)
      assert.equal("Note", mapper.class_name)
      target.stamp = "created"
    end)
    orm.event.listen(Note, "after_insert", function(mapper, connection, target)
      connection:execute(orm.text("INSERT INTO ev_audit (what) VALUES (:w)"), { w = "insert " .. target.id })
    end)
    local n = Note{ body = "hi" }
    s:add(n)
    s:commit()
    assert.same({ "created" }, env.rows("SELECT stamp FROM ev_notes"))
    assert.same({ "insert " .. n.id }, env.rows("SELECT what FROM ev_audit"))
  end)

  it("the listener's connection cannot end the flush's transaction", function()
    local refused
    orm.event.listen(Note, "after_insert", function(mapper, connection, target)
      local ok, err = pcall(function() connection:commit() end)
      refused = not ok and err.message
    end)
    s:add(Note{ body = "x" })
    s:flush()
    assert.truthy(refused and refused:find("session", 1, true), tostring(refused))
    s:rollback()
    assert.same({}, env.rows("SELECT id FROM ev_notes"))
  end)

  it("before_update / after_update on a changed object, before_delete / after_delete", function()
    local seen = {}
    for _, name in ipairs({ "before_update", "after_update", "before_delete", "after_delete" }) do
      orm.event.listen(Note, name, function(_, _, target)
        seen[#seen + 1] = name .. ":" .. tostring(target.body)
        if name == "before_update" then target.version = target.version + 1 end
      end)
    end
    local n = Note{ body = "a" }
    s:add(n)
    s:commit()
    n.body = "b"
    s:commit()
    assert.same({ 1 }, env.rows("SELECT version FROM ev_notes"))
    s:delete(n)
    s:commit()
    assert.same({ "before_update:b", "after_update:b", "before_delete:b", "after_delete:b" }, seen)
  end)

  it("load runs for objects built from rows, refresh when expired attributes load", function()
    s:add(Note{ id = 1, body = "x" })
    s:commit()
    s:close()
    local loads, refreshes = {}, 0
    orm.event.listen(Note, "load", function(target, context) loads[#loads + 1] = target.body end)
    orm.event.listen(Note, "refresh", function(target, context, attrs) refreshes = refreshes + 1 end)
    local n = s:get(Note, 1)
    assert.same({ "x" }, loads)
    s:get(Note, 1) -- from the identity map: no load
    assert.same({ "x" }, loads)
    s:expire(n)
    assert.equal("x", n.body)
    assert.equal(1, refreshes)
  end)

  it("a listener on the declarative base reaches its models, also those declared later", function()
    local seen = {}
    orm.event.listen(env.Base, "before_insert", function(_, _, target) seen[#seen + 1] = tostring(target.id == nil) end)
    local Later = env.Base:model("Later", {
      __tablename__ = "ev_later",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    env.Base.metadata:create_all(env.engine)
    s:add_all({ Note{ body = "n" }, Later{} })
    s:commit()
    assert.equal(2, #seen)
  end)

  it("a listener on an abstract base reaches the models built from it", function()
    local Stamped = env.Base:model("Stamped", {
      __abstract__ = true,
      stamp = orm.Column(orm.String(20)),
    })
    orm.event.listen(Stamped, "before_insert", function(_, _, target) target.stamp = "auto" end)
    local Doc = Stamped:model("Doc", {
      __tablename__ = "ev_docs",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    env.Base.metadata:create_all(env.engine)
    s:add(Doc{})
    s:add(Note{ body = "not stamped" })
    s:commit()
    assert.same({ "auto" }, env.rows("SELECT stamp FROM ev_docs"))
    local stamp = env.rows("SELECT stamp FROM ev_notes")[1]
    assert.is_nil(stamp)
  end)
end)

describe("listen, listens_for, remove, contains, once", function()
  local env, Note, s
  before_each(function() env = setup(); Note, s = env.Note, env.s end)

  it("remove stops a listener; contains tells", function()
    local n = 0
    local function count() n = n + 1 end
    orm.event.listen(Note, "before_insert", count)
    assert.truthy(orm.event.contains(Note, "before_insert", count))
    assert.falsy(orm.event.contains(Note, "after_insert", count))
    s:add(Note{ body = "1" })
    s:flush()
    orm.event.remove(Note, "before_insert", count)
    assert.falsy(orm.event.contains(Note, "before_insert", count))
    s:add(Note{ body = "2" })
    s:flush()
    assert.equal(1, n)
    local ok, err = pcall(orm.event.remove, Note, "before_insert", count)
    assert.falsy(ok)
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("once runs a listener one time", function()
    local n = 0
    orm.event.listen(s, "before_flush", function() n = n + 1 end, { once = true })
    s:add(Note{ body = "1" })
    s:flush()
    s:add(Note{ body = "2" })
    s:flush()
    assert.equal(1, n)
  end)

  it("listens_for with a function, or as a decorator", function()
    local got = {}
    orm.event.listens_for(s, "after_commit", function(session) got[#got + 1] = session == s end)
    local deco = orm.event.listens_for(s, "before_commit")
    local f = deco(function() got[#got + 1] = "before" end)
    assert.equal("function", type(f))
    s:commit()
    assert.same({ "before", true }, got)
  end)

  it("bad targets, names and options are refused", function()
    local ok, err = pcall(orm.event.listen, Note, "before_sinsert", function() end)
    assert.falsy(ok)
    assert.truthy(has(err.message, "before_sinsert") and has(err.message, "before_insert"), err.message)
    ok, err = pcall(orm.event.listen, 42, "before_insert", function() end)
    assert.falsy(ok)
    assert.equal("ArgumentError", err.kind)
    ok, err = pcall(orm.event.listen, s, "before_flush", function() end, { twice = true })
    assert.falsy(ok)
    assert.truthy(has(err.message, "twice"), err.message)
  end)
end)

describe("session events", function()
  local env, Note, s
  before_each(function() env = setup(); Note, s = env.Note, env.s end)

  it("run in SQLAlchemy's order within one commit, interleaved with mapper events", function()
    local log = {}
    for _, name in ipairs({ "before_commit", "before_flush", "after_flush", "after_flush_postexec",
      "after_commit", "after_begin", "transient_to_pending", "pending_to_persistent" }) do
      orm.event.listen(s, name, function() log[#log + 1] = name end)
    end
    orm.event.listen(Note, "before_insert", function() log[#log + 1] = "before_insert" end)
    orm.event.listen(Note, "after_insert", function() log[#log + 1] = "after_insert" end)
    s:add(Note{ body = "x" })
    s:commit()
    assert.same({ "transient_to_pending", "before_commit", "before_flush", "after_begin", "before_insert",
      "after_insert", "after_flush", "pending_to_persistent", "after_flush_postexec", "after_commit" }, log)
  end)

  it("the state events get the session and the object; before_flush may add objects", function()
    local got = {}
    orm.event.listen(s, "transient_to_pending", function(session, obj) got[#got + 1] = { session, obj } end)
    orm.event.listen(s, "before_flush", function(session)
      if #session.new == 1 then session:add(Note{ body = "added by before_flush" }) end
    end)
    local n = Note{ body = "x" }
    s:add(n)
    assert.equal(s, got[1][1])
    assert.equal(n, got[1][2])
    s:commit()
    assert.equal(2, #env.rows("SELECT id FROM ev_notes"))
  end)

  it("after_rollback runs when a transaction was open; persistent_to_detached on close", function()
    local log = {}
    orm.event.listen(s, "after_rollback", function(session) log[#log + 1] = "rollback" end)
    local detached
    orm.event.listen(s, "persistent_to_detached", function(session, obj)
      log[#log + 1] = "detached"
      detached = obj
    end)
    s:add(Note{ body = "x" })
    s:commit()
    local n = s:scalars(orm.select(Note)):one()
    s:rollback()
    s:close()
    assert.same({ "rollback", "detached" }, log)
    assert.equal(n, detached)
    assert.truthy(orm.inspect(n).detached)
  end)

  it("a sessionmaker's listeners reach every session it makes", function()
    local Maker = orm.sessionmaker{ bind = env.engine }
    local n = 0
    orm.event.listen(Maker, "before_commit", function() n = n + 1 end)
    local a, b = Maker(), Maker()
    a:commit()
    b:commit()
    assert.equal(2, n)
  end)
end)

describe("engine events", function()
  it("before / after_cursor_execute see every statement: a profiler in a few lines", function()
    local env = setup()
    local stats = {}
    local started
    orm.event.listen(env.engine, "before_cursor_execute", function(conn, cursor, statement, params, context, many)
      started = os.clock()
    end)
    orm.event.listen(env.engine, "after_cursor_execute", function(conn, cursor, statement, params, context, many)
      stats[#stats + 1] = { sql = statement, seconds = os.clock() - started, many = many, params = params }
    end)
    env.s:add_all({ env.Note{ body = "a" }, env.Note{ body = "b" } })
    env.s:commit()
    env.s:scalars(orm.select(env.Note):where(env.Note.body:eq("a"))):all()
    local insert, select
    for _, st in ipairs(stats) do
      if st.sql:find("^INSERT INTO ev_notes") then insert = st end
      if st.sql:find("^SELECT") and st.sql:find("ev_notes") then select = st end
    end
    assert.truthy(insert and insert.many, "the batched INSERT is an executemany")
    if SPEC_DIALECT == "postgresql" or SPEC_DIALECT == "mariadb" then
      -- one multi-row INSERT (insertmanyvalues): the rows' values one after another
      assert.truthy(insert.sql:find("VALUES %(.-%), %(.-%)"), insert.sql)
      -- two rows of (body, stamp, version); stamp is nil, so no ipairs over the list
      local bodies = {}
      for i = 1, 6 do
        local v = insert.params[i]
        if v == "a" or v == "b" then bodies[#bodies + 1] = v end
      end
      assert.same({ "a", "b" }, bodies, insert.sql)
    else
      assert.equal(2, #insert.params)
    end
    assert.truthy(select and select.seconds >= 0)
    assert.same({ "a" }, select.params)
  end)

  it("connect runs when the engine opens a database connection", function()
    local engine = orm.create_engine("sqlite://")
    local n = 0
    orm.event.listen(engine, "connect", function() n = n + 1 end)
    engine:connect():close()
    assert.equal(1, n)
  end)
end)

describe("errors raised in listeners", function()
  local env, Note, s
  before_each(function() env = setup(); Note, s = env.Note, env.s end)

  it("reach the caller as the very value raised, and nothing is stored", function()
    local boom = { reason = "no notes today" }
    orm.event.listen(Note, "before_insert", function() error(boom) end)
    s:add(Note{ body = "x" })
    local ok, err = pcall(s.commit, s)
    assert.falsy(ok)
    assert.equal(boom, err)
    s:rollback()
    assert.same({}, env.rows("SELECT id FROM ev_notes"))
  end)

  it("a string raised in a session listener comes back as that string; the session recovers", function()
    local function refuse() error("refused by before_flush", 0) end
    orm.event.listen(s, "before_flush", refuse)
    s:add(Note{ body = "x" })
    local ok, err = pcall(function() s:flush() end)
    assert.falsy(ok)
    assert.equal("refused by before_flush", err)
    orm.event.remove(s, "before_flush", refuse)
    s:flush()
    s:commit()
    assert.equal(1, #env.rows("SELECT id FROM ev_notes"))
  end)

  it("a value raised while an attribute access loads (refresh) comes back unchanged too", function()
    local n = Note{ body = "x" }
    s:add(n)
    s:commit() -- expires n
    local E = {}
    local function fail() error(E) end
    orm.event.listen(Note, "refresh", fail)
    local ok, err = pcall(function() return n.body end)
    assert.falsy(ok)
    assert.equal(E, err)
    orm.event.remove(Note, "refresh", fail)
    assert.equal("x", n.body)
  end)

  it("an error in after_insert rolls the flush back and makes the new objects transient", function()
    local e = setmetatable({}, { __tostring = function() return "after_insert failed" end })
    local function fail() error(e) end
    orm.event.listen(Note, "after_insert", fail)
    local n = Note{ body = "x" }
    s:add(n)
    local ok, err = pcall(s.flush, s)
    assert.falsy(ok)
    assert.equal(e, err)
    assert.is_nil(n.id)
    assert.truthy(orm.inspect(n).transient) -- as SQLAlchemy: rolled back at the failure
    s:rollback()
    orm.event.remove(Note, "after_insert", fail)
    s:add(n)
    s:commit()
    assert.truthy(n.id)
  end)
end)

describe("attribute events", function()
  local env, Note, s
  before_each(function() env = setup(); Note, s = env.Note, env.s end)

  it("set on a column gets (target, value, oldvalue, initiator); retval replaces the value", function()
    local seen = {}
    orm.event.listen(Note.body, "set", function(target, value, old, initiator)
      seen[#seen + 1] = { target, value, old, initiator.key }
    end)
    orm.event.listen(Note.body, "set", function(target, value) return value:upper() end, { retval = true })
    local n = Note{ body = "hi" } -- the constructor's keywords are sets too
    n.body = "there"
    assert.equal("THERE", n.body)
    assert.equal(n, seen[1][1])
    assert.same({ "hi", "there" }, { seen[1][2], seen[2][2] })
    assert.is_nil(seen[1][3])
    assert.equal("HI", seen[2][3]) -- the value the first set stored
    assert.equal("body", seen[1][4])
    s:add(n)
    s:commit()
    assert.same({ "THERE" }, env.rows("SELECT body FROM ev_notes"))
  end)

  it("runs after a validator, and an error in it keeps the old value and is the very value", function()
    Note:validates("stamp", function(self, key, value) return "v:" .. value end)
    local E = {}
    local function refuse(target, value) if value == "v:bad" then error(E) end end
    orm.event.listen(Note.stamp, "set", refuse)
    local n = Note{ stamp = "ok" }
    assert.equal("v:ok", n.stamp)
    local ok, err = pcall(function() n.stamp = "bad" end)
    assert.falsy(ok)
    assert.equal(E, err)
    assert.equal("v:ok", n.stamp)
    assert.truthy(orm.event.contains(Note.stamp, "set", refuse))
    orm.event.remove(Note.stamp, "set", refuse)
    n.stamp = "bad"
    assert.equal("v:bad", n.stamp)
  end)

  it("append / remove on a collection and set on a reference, with retval and the very error value", function()
    local Base = orm.declarative_base()
    local Team = Base:model("EvTeam", {
      __tablename__ = "ev_teams",
      id = orm.Column(orm.Integer, { primary_key = true }),
      members = orm.relationship("EvMember", { back_populates = "team" }),
    })
    local Member = Base:model("EvMember", {
      __tablename__ = "ev_members",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      team_id = orm.Column(orm.Integer, orm.ForeignKey("ev_teams.id")),
      team = orm.relationship("EvTeam", { back_populates = "members" }),
    })
    Base.metadata:create_all(env.engine)
    local log = {}
    orm.event.listen(Team.members, "append", function(t, v, initiator) log[#log + 1] = "append " .. v.name end)
    orm.event.listen(Team.members, "remove", function(t, v) log[#log + 1] = "remove " .. v.name end)
    orm.event.listen(Member.team, "set", function(t, v, old) log[#log + 1] = "set team" end)
    -- a retval listener may swap the object appended
    local sub = Member{ name = "substitute" }
    orm.event.listen(Team.members, "append", function(t, v)
      if v.name == "injured" then return sub end
      return v
    end, { retval = true })
    local t = Team{}
    local a = Member{ name = "a" }
    t.members:append(a)
    t.members:append(Member{ name = "injured" })
    t.members:remove(a)
    a.team = t
    -- each change fires the other side's event too (back_populates), as SQLAlchemy's
    assert.same({ "append a", "set team", "append injured", "set team", "remove a", "set team",
      "set team", "append a" }, log)
    assert.equal(sub, t.members[1])
    local E = {}
    orm.event.listen(Team.members, "append", function() error(E) end)
    local ok, err = pcall(function() t.members:append(Member{ name = "x" }) end)
    assert.falsy(ok)
    assert.equal(E, err)
    local ok2, err2 = pcall(orm.event.listen, Team.members, "set", function() end)
    assert.falsy(ok2)
    assert.truthy(has(err2.message, "EvTeam.members"), err2.message)
  end)

  it("init runs before the keyword arguments are set, and once removes itself", function()
    local got = {}
    local function on_init(target, args) got[#got + 1] = { target.body, args and args.body } end
    orm.event.listen(Note, "init", on_init, { once = true })
    Note{ body = "first" }
    Note{ body = "second" }
    assert.equal(1, #got)
    assert.is_nil(got[1][1]) -- not yet set
    assert.equal("first", got[1][2])
    local E = {}
    orm.event.listen(Note, "init", function() error(E) end)
    local ok, err = pcall(function() return Note{ body = "x" } end)
    assert.falsy(ok)
    assert.equal(E, err)
  end)
end)

describe("session events of a savepoint", function()
  it("a released savepoint is a commit: before_commit, its flushes, after_commit (SQLAlchemy's order)", function()
    local env = setup()
    local s = env.s
    s:execute(orm.text("SELECT 1")) -- the outer transaction has begun
    local log = {}
    for _, name in ipairs({ "before_commit", "before_flush", "after_flush", "after_commit" }) do
      orm.event.listen(s, name, function() log[#log + 1] = name end)
    end
    s:begin_nested(function() s:add(env.Note{ body = "x" }) end)
    assert.same({ "before_commit", "before_flush", "after_flush", "after_commit" }, log)
    log = {}
    assert.has_error(function()
      s:begin_nested(function()
        s:add(env.Note{ body = "y" })
        error("undo")
      end)
    end)
    assert.same({}, log) -- a savepoint rolled back commits nothing
  end)
end)

describe("a commit or rollback inside a begin / begin_nested block", function()
  it("commits each open savepoint first, innermost first, each with its own before_commit and after_commit", function()
    local env = setup()
    local s = env.s
    local log = {}
    for _, name in ipairs({ "before_commit", "after_commit" }) do
      orm.event.listen(s, name, function() log[#log + 1] = name end)
    end
    s:begin_nested(function()
      s:add(env.Note{ body = "a" })
      s:begin_nested(function()
        s:add(env.Note{ body = "b" })
        s:commit() -- SQLAlchemy: the root's before_commit, then each savepoint's commit
      end)
      assert.is_false(s:in_transaction())
    end)
    assert.same({ "before_commit", "before_commit", "after_commit", "before_commit", "after_commit",
      "after_commit" }, log)
    assert.same({ "a", "b" }, env.rows("SELECT body FROM ev_notes ORDER BY id"))
  end)

  it("leaves a block whose body ended the transaction alone, raising the body's error unchanged", function()
    local env = setup()
    local s = env.s
    local E = setmetatable({}, { __name = "E" })
    local ok, err = pcall(s.begin_nested, s, function()
      s:add(env.Note{ body = "kept" })
      s:commit()
      error(E)
    end)
    assert.is_false(ok)
    assert.equal(E, err) -- no "no savepoint is open": the commit above ended the savepoint
    assert.same({ "kept" }, env.rows("SELECT body FROM ev_notes"))
    s:begin_nested(function()
      s:add(env.Note{ body = "gone" })
      s:rollback() -- the whole transaction
    end)
    assert.same({ "kept" }, env.rows("SELECT body FROM ev_notes"))
    local commits = 0
    orm.event.listen(s, "after_commit", function() commits = commits + 1 end)
    s:close()
    s:begin(function()
      s:add(env.Note{ body = "once" })
      s:commit()
    end)
    assert.equal(1, commits) -- the block does not commit a second time
    assert.same({ "kept", "once" }, env.rows("SELECT body FROM ev_notes ORDER BY id"))
  end)
end)

describe("a savepoint takes the connection when first used", function()
  it("fires after_begin for the transaction and for the savepoint when they take the connection; an unused savepoint sends nothing", function()
    local env = setup()
    local s = env.s
    local log = {}
    orm.event.listen(s, "after_begin", function() log[#log + 1] = "after_begin" end)
    orm.event.listen(env.engine, "before_cursor_execute", function(_, _, sql)
      if sql:find("SAVEPOINT", 1, true) then log[#log + 1] = sql:match("^%a+") end
    end)
    -- SQLAlchemy 2.0.58: begin_nested() alone takes no connection
    assert.has_error(function() s:begin_nested(function() error("nothing done") end) end)
    s:begin_nested(function() end)
    assert.same({}, log)
    s:begin_nested(function()
      assert.same({}, log)
      s:add(env.Note{ body = "x" })
      s:flush() -- the transaction's connection, then the savepoint's
      -- the savepoint's after_begin follows its SAVEPOINT, as SQLAlchemy's begin_nested()
      -- on the connection does
      assert.same({ "after_begin", "SAVEPOINT", "after_begin" }, log)
    end)
    assert.same({ "after_begin", "SAVEPOINT", "after_begin", "RELEASE" }, log)
    s:commit()
    assert.same({ "x" }, env.rows("SELECT body FROM ev_notes"))
  end)
end)

describe("session events where SQLAlchemy fires them (differential test --events)", function()
  it("a savepoint's rollback fires after_rollback; a failed flush inside it fires it once", function()
    local env = setup()
    local s = env.s
    local log = {}
    orm.event.listen(s, "after_rollback", function() log[#log + 1] = "after_rollback" end)
    assert.has_error(function() s:begin_nested(function() error("undo") end) end)
    assert.same({ "after_rollback" }, log)
  end)

  it("a session awaiting its rollback fires before_flush, then raises; begin_nested refuses before its flush", function()
    local env = setup()
    local s = env.s
    local Note = env.Note
    s:add(Note{ id = 1, body = "a" })
    s:commit()
    s:add(Note{ id = 1, body = "dup" })
    assert.has_error(function() s:flush() end) -- the transaction is rolled back
    s:add(Note{ body = "pending" })
    local log = {}
    orm.event.listen(s, "before_flush", function() log[#log + 1] = "before_flush" end)
    local ok, err = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("PendingRollbackError", err.kind)
    assert.same({ "before_flush" }, log)
    ok, err = pcall(s.begin_nested, s, function() end)
    assert.equal("PendingRollbackError", err.kind)
    assert.same({ "before_flush" }, log) -- no second before_flush
  end)
end)

-- A self-referential model (a row may point at itself: a cycle for the flush).
local function node_model(Base)
  return Base:model("Node", {
    __tablename__ = "ev_nodes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("ev_nodes.id")),
    parent = orm.relationship("Node", { remote_side = "id", back_populates = "children" }),
    children = orm.relationship("Node", { back_populates = "parent" }),
  })
end

-- An in-memory engine with the Node model's table, and a session of it.
local function node_session()
  local engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local Node = node_model(Base)
  Base.metadata:create_all(engine)
  return engine, Node, orm.Session(engine)
end

-- The names of the session events fired, in order, from now on.
local function log_of(s, names)
  local log = {}
  for _, name in ipairs(names) do
    orm.event.listen(s, name, function() log[#log + 1] = name end)
  end
  return log
end

describe("where a flush or an add begins nothing", function()
  it("a flush whose rows are all held up by a cycle takes no connection (no after_begin)", function()
    local engine, Node, s = node_session()
    local log = log_of(s, { "after_begin", "after_rollback" })
    local n = Node{}
    n.children:append(n) -- a row pointing at itself, not yet inserted
    s:add(n)
    local ok, err = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("CircularDependencyError", err.kind)
    assert.same({ "after_rollback" }, log) -- SQLAlchemy 2.0.58: no statement, no after_begin
  end)

  it("a flush with a cycle takes no connection for a changed object whose deletion was committed (seed 1616)", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Note = Base:model("Note", {
      __tablename__ = "ev_notes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      body = orm.Column(orm.String(50)),
    })
    local Node = node_model(Base)
    Base.metadata:create_all(engine)
    local s2 = orm.Session(engine)
    local note = Note{ body = "x" }
    s2:add(note)
    s2:commit()
    s2:close()
    local s = orm.Session(engine, { expire_on_commit = false })
    s:delete(note)
    s:execute(orm.delete(Note):where(Note.body:eq("none")), { synchronize_session = false })
    note.body = "x" -- changed, to the value it has
    s:commit()
    local log = log_of(s, { "after_begin", "after_rollback" })
    local n = Node{}
    n.children:append(n) -- a row pointing at itself
    s:add(n)
    local ok, err = pcall(s.get, s, Node, 2)
    assert.is_false(ok)
    assert.equal("CircularDependencyError", err.kind)
    assert.same({ "after_rollback" }, log) -- SQLAlchemy 2.0.58: no statement, no after_begin
  end)

  it("a flush refusing an object whose key a rollback left expired takes the connection first (seed 18)", function()
    local env = setup()
    local s = env.s
    local log = {}
    for _, name in ipairs({ "after_begin", "before_commit", "before_flush", "after_rollback" }) do
      orm.event.listen(s, name, function() log[#log + 1] = name end)
    end
    local note = env.Note{ body = "a" }
    s:add(note)
    s:flush()
    s:expire(note)
    s:rollback() -- note is transient again, its attributes (its key too) expired
    log = {}
    s:add(note)
    local ok, err = pcall(s.commit, s)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    -- SQLAlchemy 2.0.58: its save_obj takes the connection, then reads the key
    assert.same({ "before_commit", "before_flush", "after_begin", "after_rollback" }, log)
  end)

  it("adding an object whose deletion was committed is refused before the transaction begins", function()
    local env = setup()
    local s = env.s
    local note = env.Note{ body = "gone" }
    s:add(note)
    s:commit()
    s:delete(note)
    s:commit()
    assert.is_false(s:in_transaction())
    assert.has_error(function() s:add(note) end)
    assert.is_false(s:in_transaction())
  end)

  it("an object changed while detached is dirty when added again, with no net change too (seed 2149)", function()
    local engine, Node, s = node_session()
    local node = Node{}
    s:add(node)
    s:commit()
    assert.is_nil(node.parent)
    s:close()
    node.parent = nil -- the value it has, while detached
    local function flush_log(session)
      local log = log_of(session, { "before_flush", "after_begin", "after_flush" })
      session:add(node)
      assert.is_true(session.dirty:contains(node))
      session:flush()
      return log
    end
    local s2 = orm.Session(engine)
    -- SQLAlchemy 2.0.58: its modified flag makes the flush run, and take the connection
    assert.same({ "before_flush", "after_begin", "after_flush" }, flush_log(s2))
    s2:commit()
    assert.is_nil(node.parent)
    node.parent = nil -- set to the value it has in the session, which then closes
    s2:close()
    assert.same({ "before_flush", "after_begin", "after_flush" }, flush_log(orm.Session(engine)))
  end)
end)

describe("a listener of the SAVEPOINT statement", function()
  it("may ask the session about its transaction while the savepoint is taken", function()
    local env = setup()
    local s = env.s
    local seen = {}
    orm.event.listen(env.engine, "before_cursor_execute", function(_, _, sql)
      if sql:find("^SAVEPOINT") then seen[#seen + 1] = s:in_nested_transaction() end
    end)
    s:begin_nested(function()
      s:add(env.Note{ body = "x" })
      s:flush()
    end)
    assert.same({ true }, seen)
  end)
end)

describe("a backref setting the reference an object holds", function()
  it("fires its set event and marks it modified: the next flush runs (seed 2750)", function()
    local engine, Node, s = node_session()
    local a = Node{}
    s:add(a)
    local b = Node{}
    b.parent = a
    s:add(b)
    local c
    s:begin_nested(function()
      c = Node{}
      c.parent = b
      s:add(c)
    end)
    s:delete(b)
    local sets = {}
    orm.event.listen(Node.parent, "set", function(target, value, old)
      sets[#sets + 1] = rawequal(value, old)
    end)
    -- the load of b.children autoflushes (b's DELETE, c's key cleared); the append's backref
    -- sets c.parent to b, the object it holds
    b.children:append(c)
    assert.same({ true }, sets)
    assert.is_true(s.dirty:contains(c))
    local log = log_of(s, { "before_flush", "after_flush" })
    s:commit()
    -- SQLAlchemy 2.0.58: c is modified, so the commit's flush runs (and sends nothing)
    assert.same({ "before_flush", "after_flush" }, log)
  end)
end)

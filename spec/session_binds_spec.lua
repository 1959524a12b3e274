-- Per-mapper binds: orm.Session(engine, { binds = { [Model] = e1, [Base] = e2, [table] = e3 } })
-- routes each mapper's statements as SQLAlchemy's Session.get_bind finds their engine (the
-- class, the classes it is built on — abstract models, the declarative base — then its
-- table, then the session's bind). A flush writes each object on its own engine, queries
-- run on their first entity's (or first column's model's) engine, and commit / rollback end
-- every engine's transaction.
local orm = require("lualchemy")

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function setup()
  local env = {}
  env.e1 = orm.create_engine("sqlite://")
  env.e2 = orm.create_engine("sqlite://")
  env.e3 = orm.create_engine("sqlite://")
  env.Base = orm.declarative_base()
  env.User = env.Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50)),
  })
  env.Account = env.Base:model("Account", {
    __tablename__ = "accounts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    balance = orm.Column(orm.Integer),
  })
  env.Common = env.Base:model("Common", { __abstract__ = true,
    id = orm.Column(orm.Integer, { primary_key = true }) })
  env.Item = env.Common:model("Item", { __tablename__ = "items", label = orm.Column(orm.String(20)) })
  env.Tag = env.Base:model("Tag", { __tablename__ = "tags",
    id = orm.Column(orm.Integer, { primary_key = true }), word = orm.Column(orm.String(20)) })
  for _, e in ipairs({ env.e1, env.e2, env.e3 }) do env.Base.metadata:create_all(e) end
  -- the rows of a table on one engine, bypassing every session
  function env.count(engine, table)
    local conn = engine:connect()
    local n = conn:execute(orm.text("SELECT count(*) AS n FROM " .. table)):scalar()
    conn:close()
    return n
  end
  return env
end

describe("session binds", function()
  it("get_bind finds the class, then its abstract model and base, then its table, then the bind", function()
    local env = setup()
    local s = orm.Session(env.e3, { binds = {
      [env.User] = env.e1,
      [env.Base] = env.e2,
      [env.Common] = env.e3,
    } })
    assert.is_true(s:get_bind(env.User) == env.e1)
    assert.is_true(s:get_bind(env.Account) == env.e2)   -- through the declarative base
    assert.is_true(s:get_bind(env.Item) == env.e3)      -- its abstract model is nearer than the base
    assert.is_true(s:get_bind() == env.e3)              -- the session's bind
    local by_table = orm.Session(env.e1, { binds = { [env.Tag.__table__] = env.e2 } })
    assert.is_true(by_table:get_bind(env.Tag) == env.e2)
    assert.is_true(by_table:get_bind(env.User) == env.e1)
    local unbound = orm.Session{ binds = { [env.User] = env.e1 } }
    assert.is_true(unbound:get_bind(env.User) == env.e1)
    local err = pcall_err(unbound.get_bind, unbound, env.Account)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("Could not locate a bind configured on mapper Account", 1, true))
  end)

  it("flushes each object on its own engine and commits both", function()
    local env = setup()
    local s = orm.Session{ binds = { [env.User] = env.e1, [env.Account] = env.e2 } }
    s:add(env.User{ name = "ann" })
    s:add(env.Account{ balance = 10 })
    s:add(env.User{ name = "bob" })
    s:commit()
    assert.equal(2, env.count(env.e1, "users"))
    assert.equal(0, env.count(env.e2, "users"))
    assert.equal(1, env.count(env.e2, "accounts"))
    assert.equal(0, env.count(env.e1, "accounts"))
  end)

  it("runs queries, get and attribute loads on the first entity's engine", function()
    local env = setup()
    local seed1, seed2 = orm.Session(env.e1), orm.Session(env.e2)
    seed1:add(env.User{ id = 1, name = "on e1" })
    seed2:add(env.User{ id = 1, name = "on e2" })
    seed2:add(env.Account{ id = 1, balance = 5 })
    seed1:commit()
    seed2:commit()
    local s = orm.Session(env.e1, { binds = { [env.Account] = env.e2 } })
    local users = s:scalars(orm.select(env.User)):all()
    assert.equal("on e1", users[1].name)
    local acct = s:get(env.Account, 1)
    assert.equal(5, acct.balance)
    assert.equal(5, s:scalars(orm.select(env.Account)):one().balance)
    -- a select of columns runs on its first column's model's engine
    assert.equal(5, s:scalar(orm.select(env.Account.balance)))
    assert.equal(5, s:query(env.Account.balance):scalar())
    assert.equal("on e1", s:scalar(orm.select(env.User.name)))
    assert.equal(1, s:scalar(orm.select(orm.func.count()):select_from(env.Account)))
    -- after commit (expire_on_commit) each object reloads from its own engine
    acct.balance = 6
    s:commit()
    assert.equal(6, acct.balance)
    assert.equal("on e1", users[1].name)
    -- bulk statements too
    s:execute(orm.update(env.Account):where(env.Account.id:eq(1)):values{ balance = 7 })
    s:execute(orm.update(env.Account), { { id = 1, balance = 8 } })
    s:commit()
    local check = orm.Session(env.e2)
    assert.equal(8, check:get(env.Account, 1).balance)
  end)

  it("rolls back every engine's transaction", function()
    local env = setup()
    local s = orm.Session(env.e1, { binds = { [env.Account] = env.e2 } })
    s:add(env.User{ name = "x" })
    s:add(env.Account{ balance = 1 })
    s:flush()
    assert.is_true(s:in_transaction())
    s:rollback()
    assert.equal(0, env.count(env.e1, "users"))
    assert.equal(0, env.count(env.e2, "accounts"))
    s:add(env.Account{ balance = 2 })
    s:flush()
    s:close()
    assert.equal(0, env.count(env.e2, "accounts"))
  end)

  it("takes SAVEPOINTs on every engine: rolling one back undoes the writes on both", function()
    local env = setup()
    local s = orm.Session(env.e1, { binds = { [env.Account] = env.e2 } })
    s:add(env.User{ name = "kept" })
    s:add(env.Account{ balance = 1 })
    s:flush()
    local ok = pcall(s.begin_nested, s, function()
      s:add(env.User{ name = "undone" })
      s:add(env.Account{ balance = 2 })
      s:flush()
      error("undo")
    end)
    assert.is_false(ok)
    s:commit()
    -- a connection begun inside the SAVEPOINT takes it too
    local s2 = orm.Session(env.e1, { binds = { [env.Tag] = env.e3 } })
    s2:add(env.User{ name = "outer" })
    s2:flush()
    s2:begin_nested(function()
      s2:add(env.Tag{ word = "inner" })
      s2:flush()
    end)
    pcall(s2.begin_nested, s2, function()
      s2:add(env.Tag{ word = "gone" })
      s2:flush()
      error("undo")
    end)
    s2:commit()
    assert.equal(2, env.count(env.e1, "users"))
    assert.equal(1, env.count(env.e2, "accounts"))
    assert.equal(1, env.count(env.e3, "tags"))
  end)

  it("flushes the engine of parent rows before the engine of the rows that refer to them", function()
    local e1, e2 = orm.create_engine("sqlite://"), orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Author = Base:model("Author", {
      __tablename__ = "authors",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      notes = orm.relationship("Note", { back_populates = "author" }),
    })
    local Note = Base:model("Note", {
      __tablename__ = "notes",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      body = orm.Column(orm.String(20)),
      author_id = orm.Column(orm.Integer, orm.ForeignKey("authors.id")),
      author = orm.relationship("Author", { back_populates = "notes" }),
    })
    Base.metadata:create_all(e1)
    -- the notes' own database has no authors table to enforce the key against
    local conn = e2:connect()
    conn:execute(orm.text("CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, body VARCHAR(20), author_id INTEGER)"))
    conn:commit()
    conn:close()
    local s = orm.Session(e1, { binds = { [Note] = e2 } })
    local note = Note{ id = 1, body = "hi" }
    s:add(note)                      -- the child first
    note.author = Author{ name = "ann" }
    s:commit()
    local check = e2:connect()
    local row = check:execute(orm.text("SELECT author_id FROM notes")):first()
    check:close()
    assert.equal(note.author.id, row.author_id)
    assert.equal(0, (function()
      local c = e1:connect()
      local n = c:execute(orm.text("SELECT count(*) AS n FROM notes")):scalar()
      c:close()
      return n
    end)())
  end)

  it("takes binds from a sessionmaker", function()
    local env = setup()
    local Session = orm.sessionmaker{ bind = env.e1, binds = { [env.Tag] = env.e3 } }
    local s = Session()
    s:add(env.Tag{ word = "w" })
    s:add(env.User{ name = "u" })
    s:commit()
    assert.equal(1, env.count(env.e3, "tags"))
    assert.equal(0, env.count(env.e1, "tags"))
    assert.equal(1, env.count(env.e1, "users"))
    Session:configure{ binds = { [env.Tag] = env.e2 } }
    local s2 = Session()
    assert.is_true(s2:get_bind(env.Tag) == env.e2)
  end)

  it("refuses binds keys and values that are not models, bases, tables and engines", function()
    local env = setup()
    local err = pcall_err(orm.Session, env.e1, { binds = { users = env.e2 } })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("binds key", 1, true))
    err = pcall_err(orm.Session, env.e1, { binds = { [env.User] = "sqlite://" } })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("Engine", 1, true))
    err = pcall_err(orm.Session, env.e1, { binds = 5 })
    assert.equal("ArgumentError", err.kind)
  end)
end)

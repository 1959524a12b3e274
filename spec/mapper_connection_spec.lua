-- The connection mapper listeners receive (before_insert / after_insert / before_update /
-- after_update / before_delete / after_delete): the flush's own connection, inside its
-- transaction. Any statement runs on it, as on SQLAlchemy's: orm.insert (with rows,
-- :values{} or :returning()), orm.update, orm.delete, orm.select, orm.text; what it writes
-- commits or rolls back with the session, and what the flush wrote before is visible.
local orm = require("lualchemy")

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function setup()
  local env = {}
  env.engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  env.User = Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50)),
    edits = orm.Column(orm.Integer, { default = 0 }),
  })
  env.Log = Base:model("Log", {
    __tablename__ = "logs",
    id = orm.Column(orm.Integer, { primary_key = true }),
    msg = orm.Column(orm.String(80)),
    stamp = orm.Column(orm.String(20), { default = function() return "now" end }),
  })
  Base.metadata:create_all(env.engine)
  env.session = orm.Session(env.engine)
  function env.logs()
    local conn = env.engine:connect()
    local out = {}
    for row in conn:execute(orm.text("SELECT msg, stamp FROM logs ORDER BY id")) do
      out[#out + 1] = row.msg .. "/" .. row.stamp
    end
    conn:close()
    return out
  end
  function env.edits(id)
    local conn = env.engine:connect()
    local n = conn:execute(orm.text("SELECT edits FROM users WHERE id = :id"), { id = id }):scalar()
    conn:close()
    return n
  end
  return env
end

describe("the connection of mapper listeners", function()
  it("runs orm.insert, orm.select, orm.update, orm.text and orm.delete inside the flush", function()
    local env = setup()
    local User, Log, s = env.User, env.Log, env.session
    local seen = {}
    orm.event.listen(User, "after_insert", function(mapper, connection, target)
      assert.equal(User, mapper.class)
      assert.is_true(connection:in_transaction())
      connection:execute(orm.insert(Log), { { msg = "insert " .. target.name }, { msg = "extra" } })
      connection:execute(orm.insert(Log):values{ msg = "values" })
      -- the row this flush just inserted is visible on this connection
      seen.count = connection:execute(orm.select(orm.func.count()):select_from(User)):scalar()
      seen.msgs = connection:execute(orm.select(Log.msg):order_by(Log.id)):scalars():all()
      connection:execute(orm.update(User):where(User.id:eq(target.id)):values{ edits = 10 })
      connection:execute(orm.text("UPDATE users SET edits = edits + 1 WHERE id = :id"), { id = target.id })
      connection:execute(orm.delete(Log):where(Log.msg:eq("extra")))
    end)
    s:add(User{ name = "ann" })
    s:commit()
    assert.equal(1, seen.count)
    assert.same({ "insert ann", "extra", "values" }, seen.msgs)
    assert.same({ "insert ann/now", "values/now" }, env.logs())
    assert.equal(11, env.edits(1))
  end)

  it("returns RETURNING rows of an orm.insert", function()
    if SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb" then return end
    local env = setup()
    local User, Log, s = env.User, env.Log, env.session
    local ids
    orm.event.listen(User, "before_insert", function(_, connection, target)
      local r = connection:execute(orm.insert(Log):returning(Log.id, Log.msg), { { msg = "a" }, { msg = "b" } })
      ids = {}
      for row in r do ids[#ids + 1] = row.id .. row.msg end
      target.name = "logged " .. #ids
    end)
    local u = User{ name = "x" }
    s:add(u)
    s:flush()
    assert.same({ "1a", "2b" }, ids)
    assert.equal("logged 2", u.name)
  end)

  it("writes in the session's transaction: a rollback takes them back", function()
    local env = setup()
    local User, Log, s = env.User, env.Log, env.session
    orm.event.listen(User, "after_update", function(_, connection, target)
      connection:execute(orm.insert(Log), { { msg = "update " .. target.name } })
    end)
    orm.event.listen(User, "before_delete", function(_, connection, target)
      connection:execute(orm.insert(Log), { { msg = "delete " .. target.id } })
    end)
    local u = User{ name = "bob" }
    s:add(u)
    s:commit()
    u.name = "bobby"
    s:flush()
    s:rollback()
    assert.same({}, env.logs())
    u.name = "robert"
    s:commit()
    s:delete(u)
    s:commit()
    assert.same({ "update robert/now", "delete 1/now" }, env.logs())
  end)

  it("sees the database before the statement in before_update, after it in after_update", function()
    local env = setup()
    local User, s = env.User, env.session
    local u = User{ name = "carl" }
    s:add(u)
    s:commit()
    local seen = {}
    local function count(connection)
      return connection:execute(orm.select(orm.func.count()):select_from(User):where(User.name:eq("carla"))):scalar()
    end
    orm.event.listen(User, "before_update", function(_, connection) seen.before = count(connection) end)
    orm.event.listen(User, "after_update", function(_, connection) seen.after = count(connection) end)
    u.name = "carla"
    s:flush()
    assert.equal(0, seen.before)
    assert.equal(1, seen.after)
    s:rollback()
  end)

  it("refuses to end the flush's transaction", function()
    local env = setup()
    local User, s = env.User, env.session
    orm.event.listen(User, "before_insert", function(_, connection)
      connection:commit()
    end)
    s:add(User{ name = "dan" })
    local err = pcall_err(s.flush, s)
    assert.truthy(tostring(err):find("commit", 1, true), tostring(err))
  end)
end)

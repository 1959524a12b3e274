-- orm.scoped_session: one session per scope, SQLAlchemy's scoped_session. The default
-- scope is the running coroutine (the main thread included); a host passes its own
-- scopefunc. The registry proxies the session's methods and attributes to the current
-- scope's session; Session() returns it, Session:remove() closes and forgets it, and a
-- finished coroutine's session is collected with it (its finalizer rolls back and
-- detaches its objects).
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
  })
  Base.metadata:create_all(env.engine)
  env.factory = orm.sessionmaker{ bind = env.engine }
  function env.names()
    local conn = env.engine:connect()
    local out = {}
    for row in conn:execute(orm.text("SELECT name FROM users ORDER BY id")) do out[#out + 1] = row.name end
    conn:close()
    return out
  end
  return env
end

describe("orm.scoped_session", function()
  it("returns the same session within a scope and proxies its methods", function()
    local env = setup()
    local Session = orm.scoped_session(env.factory)
    local s = Session()
    assert.equal(s, Session())
    assert.equal(s, Session.registry())
    assert.is_true(Session.registry:has())
    Session:add(env.User{ name = "ann" })
    assert.equal(1, #Session.new)
    assert.equal(1, #s.new)
    Session:commit()
    assert.same({ "ann" }, env.names())
    local u = Session:scalars(orm.select(env.User)):one()
    assert.equal("ann", u.name)
    assert.equal(u, Session:get(env.User, u.id))
    assert.equal(s, orm.inspect(u).session)
    assert.equal(env.engine.url, Session.bind.url)
    assert.is_true(Session.autoflush)
    Session.autoflush = false
    assert.is_false(s.autoflush)
    assert.equal(env.factory, Session.session_factory)
  end)

  it("remove() closes the current session and the next call makes a new one", function()
    local env = setup()
    local Session = orm.scoped_session(env.factory)
    local s = Session()
    local u = env.User{ name = "bob" }
    Session:add(u)
    Session:flush()
    assert.is_true(s:in_transaction())
    Session:remove()
    assert.is_false(Session.registry:has())
    -- closed: the flushed row was rolled back and the object detached
    assert.is_true(orm.inspect(u).detached)
    assert.same({}, env.names())
    local s2 = Session()
    assert.are_not.equal(s, s2)
    -- remove() with no session is a no-op
    Session:remove()
    Session:remove()
    assert.is_false(Session.registry:has())
  end)

  it("gives each coroutine its own session, the main thread included", function()
    local env = setup()
    local Session = orm.scoped_session(env.factory)
    local main = Session()
    local inner, inner_again
    local co = coroutine.create(function()
      inner = Session()
      coroutine.yield()
      inner_again = Session()
    end)
    assert(coroutine.resume(co))
    assert(coroutine.resume(co))
    assert.truthy(inner)
    assert.equal(inner, inner_again)
    assert.are_not.equal(main, inner)
    assert.equal(main, Session())
  end)

  it("lets a finished coroutine's session be collected, rolling back and detaching", function()
    local env = setup()
    local Session = orm.scoped_session(env.factory)
    local seen = setmetatable({}, { __mode = "v" })
    local obj
    local co = coroutine.create(function()
      local s = Session()
      seen[1] = s
      obj = env.User{ name = "carl" }
      Session:add(obj)
      Session:flush()      -- a row inside the coroutine session's open transaction
    end)
    assert(coroutine.resume(co))
    assert.equal("dead", coroutine.status(co))
    assert.truthy(seen[1])
    co = nil
    collectgarbage()
    collectgarbage()
    assert.is_nil(seen[1])
    assert.is_true(orm.inspect(obj).detached)
    -- its transaction was rolled back: nothing reached the database, and the in-memory
    -- database is not locked by it
    assert.same({}, env.names())
    local s = Session()
    s:add(env.User{ name = "dan" })
    s:commit()
    assert.same({ "dan" }, env.names())
  end)

  it("takes a host's scopefunc", function()
    local env = setup()
    local current = "request-1"
    local Session = orm.scoped_session(env.factory, { scopefunc = function() return current end })
    local a = Session()
    current = "request-2"
    local b = Session()
    assert.are_not.equal(a, b)
    current = "request-1"
    assert.equal(a, Session())
    -- and a coroutine sees the scope the host says, not its own
    local from_co
    local co = coroutine.create(function() from_co = Session() end)
    assert(coroutine.resume(co))
    assert.equal(a, from_co)
    Session:remove()
    assert.is_false(Session.registry:has())
    current = "request-2"
    assert.is_true(Session.registry:has())
  end)

  it("takes a plain function as factory, and registry:set / clear", function()
    local env = setup()
    local made = 0
    local Session = orm.scoped_session(function()
      made = made + 1
      return orm.Session(env.engine)
    end)
    Session()
    Session()
    assert.equal(1, made)
    local mine = orm.Session(env.engine)
    Session.registry:set(mine)
    assert.equal(mine, Session())
    Session.registry:clear()
    assert.are_not.equal(mine, Session())
    assert.equal(2, made)
  end)

  it("passes arguments to the factory only when the scope has no session", function()
    local env = setup()
    local Session = orm.scoped_session(env.factory)
    local s = Session{ autoflush = false }
    assert.is_false(s.autoflush)
    local err = pcall_err(Session, { autoflush = true })
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("Scoped session already present", 1, true))
  end)

  it("configure() reconfigures the sessionmaker for new sessions", function()
    local env = setup()
    local Session = orm.scoped_session(orm.sessionmaker())
    Session:configure{ bind = env.engine }
    Session:add(env.User{ name = "eve" })
    Session:commit()
    assert.same({ "eve" }, env.names())
  end)

  it("raises clear errors for bad input", function()
    local env = setup()
    local err = pcall_err(orm.scoped_session, env.factory, { scope = function() end })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("unknown option 'scope'", 1, true))
    assert.truthy(tostring(err):find("scopefunc", 1, true))
    err = pcall_err(orm.scoped_session, nil)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(orm.scoped_session, env.factory, { scopefunc = 5 })
    assert.equal("ArgumentError", err.kind)
    local Session = orm.scoped_session(env.factory)
    err = pcall_err(function() Session.add(env.User{ name = "x" }) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("':'", 1, true))
    local nil_scope = orm.scoped_session(env.factory, { scopefunc = function() return nil end })
    err = pcall_err(nil_scope)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() Session.bogus = 1 end)
    assert.equal("AttributeError", err.kind)
  end)
end)

-- Cases the differential test (difftest/) found where lualchemy and SQLAlchemy 2.0.58
-- disagreed, each shrunk to its minimal sequence and fixed; the expected values are what
-- SQLAlchemy 2.0.58 does with the same models (difftest/sa_runner.py's schema).
local orm = require("lualchemy")

local function setup(session_opts)
  local env = {}
  env.engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  env.Parent = Base:model("Parent", {
    __tablename__ = "dc_parents",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30), { unique = true, nullable = false }),
    children = orm.relationship("Child", { back_populates = "parent", cascade = "all, delete-orphan",
      order_by = "id" }),
  })
  env.Child = Base:model("Child", {
    __tablename__ = "dc_children",
    id = orm.Column(orm.Integer, { primary_key = true }),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("dc_parents.id")),
    label = orm.Column(orm.String(30), { nullable = false }),
    parent = orm.relationship("Parent", { back_populates = "children" }),
  })
  env.Node = Base:model("Node", {
    __tablename__ = "dc_nodes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("dc_nodes.id")),
    parent = orm.relationship("Node", { remote_side = "id", back_populates = "children" }),
    children = orm.relationship("Node", { back_populates = "parent", order_by = "id" }),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine, session_opts)
  -- read through the session (an in-memory engine's writer locks other connections out)
  function env.scalar(sql)
    return env.s:execute(orm.text(sql)):scalar()
  end
  return env
end

local function state(o)
  local i = orm.inspect(o)
  return i.transient and "transient" or i.pending and "pending" or i.persistent and "persistent"
    or i.deleted and "deleted" or "detached"
end

describe("save-update cascade", function()
  it("does not follow a backref: a transient parent stays out of the flush", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:rollback() -- p is transient again
    local c = env.Child{ label = "c" }
    s:add(c)
    p.children:append(c) -- p is not in the session; the backref sets c.parent
    s:flush()
    assert.equal("transient", state(p))
    assert.equal("persistent", state(c))
    assert.is_nil(c.parent_id) -- not synced: SQLAlchemy warns "not in session"
    assert.equal(0, env.scalar("SELECT count(*) FROM dc_parents"))
    assert.equal(c.parent, p)
  end)

  it("still follows the attribute the program set", function()
    local env = setup()
    local c = env.Child{ label = "c" }
    env.s:add(c)
    local p = env.Parent{ name = "p" }
    c.parent = p
    env.s:flush()
    assert.equal("persistent", state(p))
    assert.equal(p.id, c.parent_id)
  end)
end)

describe("expire", function()
  it("takes the expired objects out of the flush: nothing is loaded or written", function()
    local env = setup({ expire_on_commit = false, autoflush = false })
    local s = env.s
    local c = env.Child{ label = "a" }
    local p = env.Parent{ name = "p" }
    s:add(c); s:add(p)
    s:commit()
    p.children:append(c) -- c.parent changes through the backref
    s:expire(p) -- the refresh-expire cascade expires c too, discarding its change
    local loads = 0
    orm.event.listen(env.engine, "before_cursor_execute", function(_, _, sql)
      if sql:find("^SELECT") then loads = loads + 1 end
    end)
    s:flush()
    assert.equal(0, loads)
    assert.equal(0, #s.dirty)
    local unloaded = table.concat(orm.inspect(c).unloaded, ",")
    assert.truthy(unloaded:find("label", 1, true), unloaded)
    assert.is_nil(env.scalar("SELECT parent_id FROM dc_children"))
  end)
end)

describe("self-referential rows", function()
  it("a row pointing at itself raises CircularDependencyError and rolls back", function()
    local env = setup({ autoflush = false })
    local s = env.s
    local n = env.Node{ name = "n" }
    s:add(n)
    n.parent = n
    local ok, err = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("CircularDependencyError", err.kind)
    assert.truthy(err.message:find("Node.parent", 1, true), err.message)
    assert.equal("transient", state(n))
    s:rollback()
    assert.equal(0, env.scalar("SELECT count(*) FROM dc_nodes"))
  end)

  it("two rows pointing at each other raise CircularDependencyError", function()
    local env = setup()
    local s = env.s
    local a = env.Node{ name = "a" }
    local b = env.Node{ name = "b" }
    b.parent = a
    s:add(b)
    s:flush()
    a.parent = b -- b.children (not loaded) gets a pending append: b joins the flush
    assert.equal(2, #s.dirty)
    local ok, err = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("CircularDependencyError", err.kind)
    s:rollback()
    assert.is_nil(env.scalar("SELECT parent_id FROM dc_nodes WHERE name = 'a'"))
  end)

  it("a chain of rows flushes in order", function()
    local env = setup()
    local s = env.s
    local root = env.Node{ name = "root" }
    local mid = env.Node{ name = "mid", parent = root }
    local leaf = env.Node{ name = "leaf", parent = mid }
    s:add(leaf)
    s:commit()
    assert.equal(3, env.scalar("SELECT count(*) FROM dc_nodes"))
    assert.equal(mid.id, leaf.parent_id)
  end)
end)

describe("rollback", function()
  it("without a transaction expires nothing", function()
    local env = setup({ expire_on_commit = false })
    local s = env.s
    local n = env.Node{ name = "n" }
    s:add(n)
    s:commit()
    local _ = n.parent -- NULL key: no SQL, no transaction
    assert.is_false(s:in_transaction())
    s:rollback()
    assert.equal(0, #orm.inspect(n).unloaded - 1) -- only Node.children is unloaded
  end)

  it("a reference set to what it holds begins the transaction the rollback expires", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c", parent = p }
    s:add(c)
    s:commit()
    c.parent = p
    assert.is_true(s:in_transaction())
    s:rollback()
    assert.is_true(orm.inspect(c).expired)
  end)

  it("makes an inserted object transient; an attribute it expired raises DetachedInstanceError", function()
    local env = setup()
    local s = env.s
    local c = env.Child{ label = "d" }
    s:add(c)
    s:flush()
    s:expire_all()
    s:rollback()
    assert.equal("transient", state(c))
    assert.is_nil(c.id) -- the generated key is cleared (deliberate difference 1)
    local ok, err = pcall(function() return c.label end)
    assert.is_false(ok)
    assert.equal("DetachedInstanceError", err.kind)
    c.label = "again" -- set, it reads as any new value
    assert.equal("again", c.label)
  end)
end)

describe("deleted objects", function()
  it("load the collections and the many-to-one the identity map holds, at the flush", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c", parent = p }
    local root = env.Node{ name = "root" }
    local leaf = env.Node{ name = "leaf", parent = root }
    s:add_all({ c, leaf })
    s:commit()
    local _ = p.name
    s:delete(c)
    s:delete(root)
    s:flush()
    local unloaded = table.concat(orm.inspect(c).unloaded, ",")
    assert.equal("", unloaded) -- parent from the identity map
    assert.equal(p, c.parent)
    assert.equal(1, #root.children)
    assert.is_nil(leaf.parent_id) -- its key set to NULL by the flush
  end)

  it("stay deleted after a commit without expiry, and cannot be added again", function()
    local env = setup({ expire_on_commit = false })
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    s:delete(p)
    s:commit()
    assert.equal("deleted", state(p))
    assert.is_true(orm.inspect(p).was_deleted)
    local ok, err = pcall(s.add, s, p)
    assert.is_false(ok)
    assert.truthy(err.message:find("has been deleted", 1, true), err.message)
    s:close()
    assert.equal("detached", state(p))
    local s2 = orm.Session(env.engine)
    ok, err = pcall(s2.add, s2, p)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
  end)
end)

describe("a failed flush", function()
  it("leaves the foreign keys it copied into the objects it makes transient", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    local c = env.Child{ label = nil, parent = p } -- NOT NULL violation, after the key copy
    s:add(c)
    local ok, err = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("IntegrityError", err.kind)
    s:rollback()
    assert.equal("transient", state(c))
    assert.equal(p.id, c.parent_id) -- as SQLAlchemy leaves it
    assert.equal(p, c.parent)
  end)
end)

describe("linking objects", function()
  it("refuses a deleted object before anything changes", function()
    local env = setup()
    local s = env.s
    local c = env.Child{ label = "c" }
    s:add(c)
    s:flush()
    s:delete(c)
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:flush()
    local ok, err = pcall(function() p.children:append(c) end)
    assert.is_false(ok)
    assert.truthy(err.message:find("has been deleted", 1, true), err.message)
    assert.equal(0, #p.children)
    assert.is_nil(c.parent)
  end)

  it("refuses a detached object whose deletion was committed, before anything changes", function()
    local env = setup()
    local s = env.s
    local c = env.Child{ label = "c" }
    s:add(c)
    s:commit()
    s:delete(c)
    s:commit()
    s:close()
    assert.equal("detached", state(c))
    local s2 = orm.Session(env.engine)
    local p = env.Parent{ name = "p" }
    s2:add(p)
    local ok, err = pcall(function() p.children:append(c) end)
    assert.is_false(ok)
    assert.truthy(err.message:find("has been deleted", 1, true), err.message)
    assert.equal(0, #p.children)
  end)

  it("expunges a pending child the other side made an orphan", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c", parent = p }
    s:add(c)
    assert.equal("pending", state(p))
    c.parent = nil -- leaves p.children: a pending orphan of a delete-orphan collection
    assert.equal("transient", state(c))
    assert.equal("pending", state(p))
  end)
end)

describe("a member outside the session", function()
  it("gets its parent's key in memory from the flush, as SQLAlchemy's sync writes it", function()
    local env = setup()
    local s = env.s
    local c = env.Child{ label = "c" }
    s:add(c)
    s:close() -- c transient again
    local s2 = orm.Session(env.engine)
    local p = env.Parent{ name = "p" }
    s2:add(p)
    s2:flush()
    c.parent = p -- a backref append to p.children (not loaded): no cascade, c stays out
    assert.equal("transient", state(c))
    s2:flush()
    assert.equal(p.id, c.parent_id)
    assert.equal("transient", state(c))
    assert.equal(0, #p.children) -- the collection loads from the rows after the flush
  end)
end)

describe("attaching for a delete", function()
  it("brings no related object along (no save-update cascade)", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c", parent = p }
    s:add(c)
    s:flush()
    s:close() -- both detached
    local s2 = orm.Session(env.engine)
    s2:delete(c)
    assert.equal("detached", state(p))
    assert.equal(1, #s2.deleted)
  end)

  it("a pending child removed from a detached owner's collection stays pending", function()
    local env = setup({ expire_on_commit = false })
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    local _ = #p.children -- loaded (empty)
    s:close() -- p detached
    local s2 = orm.Session(env.engine)
    local c = env.Child{ label = "c" }
    s2:add(c)
    p.children:append(c) -- p is not in s2: no cascade
    p.children:remove(c)
    assert.equal("pending", state(c))
  end)
end)

describe("a bulk DELETE with synchronize_session \"auto\" (the default)", function()
  it("leaves an object expired as a whole alone; its next load finds the row gone", function()
    local env = setup()
    local s = env.s
    local c = env.Child{ label = "c" }
    local d = env.Child{ label = "d" }
    s:add_all({ c, d })
    s:commit()
    local _ = d.label -- d loaded, c expired
    s:execute(orm.delete(env.Child):where(env.Child.label:in_({ "c", "d" })))
    assert.equal("persistent", state(c))
    assert.equal("deleted", state(d))
    local ok, err = pcall(function() return c.label end)
    assert.is_false(ok)
    assert.equal("ObjectDeletedError", err.kind)
  end)
end)

describe("session:expire with names", function()
  it("changes nothing when the object is not persistent", function()
    local env = setup({ autoflush = false })
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    local _ = p.children
    s:delete(p)
    s:flush()
    local ok, err = pcall(s.expire, s, p, { "children", "name" })
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    local unloaded = table.concat(orm.inspect(p).unloaded, ",")
    assert.equal("", unloaded)
  end)
end)

describe("flush order within a table", function()
  it("sends a row's UPDATE after the parent it waits for and before the table's INSERTs", function()
    local env = setup()
    local s = env.s
    local c = env.Child{ label = "c" }
    s:add(c)
    s:commit()
    local _ = c.label -- loaded before the listener
    local p = env.Parent{ name = "p" }
    c.parent = p
    s:add(env.Child{ label = "d" })
    local statements = {}
    orm.event.listen(env.engine, "before_cursor_execute", function(_, _, sql)
      statements[#statements + 1] = sql:match("^(%u+ %u* ?[%w_]+)")
    end)
    s:flush()
    assert.same({ "INSERT INTO dc_parents", "UPDATE dc_children", "INSERT INTO dc_children" }, statements)
  end)

  it("an UPDATE of a row whose transaction was rolled back matches nothing, not a new row", function()
    local env = setup({ expire_on_commit = false })
    local s3 = env.s
    local c = env.Child{ label = "e" }
    s3:add(c)
    s3:flush()
    local p = env.Parent{ name = "p6" }
    p.children:append(c) -- the backref changes c; p stays outside the session
    s3:close() -- c is detached with its key, its row rolled back, its change kept
    local s4 = orm.Session(env.engine)
    local d = env.Child{ label = "a" }
    d.parent = p
    s4:add(d) -- cascades p, and p's children bring c (persistent in s4)
    -- SQLite gives d the rolled-back id 1: c's UPDATE must run before d's INSERT
    local ok, err = pcall(s4.commit, s4)
    assert.is_false(ok)
    assert.equal("StaleDataError", err.kind)
    assert.equal(0, orm.Session(env.engine):scalar(orm.select(orm.func.count()):select_from(env.Child)))
  end)
end)

describe("the save-update cascade and another session", function()
  it("refuses an object of another session before the reference or the collection changes", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    local other = orm.Session(env.engine)
    local q = other:get(env.Parent, p.id)
    local c = env.Child{ label = "c" }
    s:add(c)
    local ok, err = pcall(function() c.parent = q end)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    assert.is_nil(c.parent)
    local d = env.Child{ label = "d" }
    other:add(d)
    ok, err = pcall(function() p.children:append(d) end)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    assert.equal(0, #p.children)
    assert.is_nil(d.parent)
    other:close()
  end)

  it("add() raises when the cascade reaches an object of another session, the object itself added", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local other = orm.Session(env.engine)
    other:add(p)
    local c = env.Child{ label = "c" }
    c.parent = p -- c is transient: no cascade yet
    local ok, err = pcall(s.add, s, c)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    assert.equal("pending", state(c))
    assert.is_true(other.new:contains(p))
  end)
end)

describe("a pending orphan made by a backref", function()
  it("is expunged when a transient parent's append moves it out of a delete-orphan collection", function()
    local env = setup()
    local s = env.s
    local x = env.Parent{ name = "x" }
    s:add(x)
    local c = env.Child{ label = "c" }
    c.parent = x
    s:add(c)
    local y = env.Parent{ name = "y" } -- not in the session
    y.children:append(c)
    assert.equal("transient", state(c))
    assert.equal(y, c.parent)
  end)

  it("stays out when the new parent is in the session: the cascade runs before the backref", function()
    local env = setup()
    local s = env.s
    local x = env.Parent{ name = "x" }
    local c = env.Child{ label = "c" }
    x.children:append(c)
    s:add(x)
    local y = env.Parent{ name = "y" }
    s:add(y)
    y.children:append(c)
    assert.equal("transient", state(c))
    s:flush()
    assert.equal(0, env.scalar("SELECT count(*) FROM dc_children"))
  end)
end)

describe("deleting a detached parent", function()
  it("copies no key into a transient child appended while it was detached", function()
    local env = setup({ expire_on_commit = false, autoflush = false })
    local s = env.s
    local n = env.Node{ name = "n3" }
    s:add(n)
    s:commit()
    local m = env.Node{ name = "n87" }
    m.parent = n
    s:add(m)
    s:close() -- m was never flushed: transient again; n detached
    local s4 = orm.Session(env.engine)
    s4:delete(n)
    s4:flush()
    assert.equal("transient", state(m))
    assert.is_nil(m.parent_id)
  end)
end)

describe("keys a one-to-many copies", function()
  it("load an expired owner first, also for a member outside the session appended while unloaded", function()
    local env = setup({ expire_on_commit = false })
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    s:rollback() -- nothing open: nothing expires
    s:expire(p)
    local c = env.Child{ label = "a" } -- not in the session
    c.parent = p -- p's collection is not loaded: a pending append
    s:flush()
    assert.equal("transient", state(c))
    assert.equal(p.id, c.parent_id)
  end)
end)

describe("a flush that inserts a row whose key an object of the session still holds", function()
  it("detaches that object, so that its changes never reach the new row", function()
    local env = setup({ autoflush = false })
    -- SQLite gives a rolled-back id again; PostgreSQL's sequences and MySQL's counters do not
    if env.engine.dialect ~= "sqlite" then return pending("SQLite reuses a rolled-back id") end
    local s1 = env.s
    local t = env.Node{ name = "old" }
    s1:add(t)
    s1:flush()
    s1:close() -- t is detached with key 1, its row rolled back
    local s2 = orm.Session(env.engine)
    s2:delete(t) -- attached again (for its deletion)
    s2:rollback() -- the deletion is undone: t is persistent in s2, expired
    local n = env.Node{ name = "new" }
    s2:add(n)
    s2:flush() -- SQLite gives n the id 1 again
    assert.equal(1, n.id)
    assert.equal("detached", state(t))
    t.name = "changed"
    s2:commit()
    assert.equal("new", env.scalar("SELECT name FROM dc_nodes WHERE id = 1"))
  end)
end)

describe("setting a reference to the object it holds", function()
  it("marks the object modified: in session.dirty, expired whole when a savepoint rolls back", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c" }
    p.children:append(c)
    s:add(p)
    s:commit()
    local _ = c.label, c.parent
    c.parent = p
    assert.equal(1, #s.dirty)
    assert.is_false(s:is_modified(c))
    s:commit()
    _ = c.label, c.parent
    pcall(s.begin_nested, s, function()
      c.parent = c.parent
      error("undo")
    end)
    assert.same({ "id", "parent_id", "label", "parent" }, orm.inspect(c).unloaded)
  end)
end)

describe("add() reaching an object whose deletion was flushed", function()
  it("raises, the walk does not stop at it as at an object the session holds", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:commit()
    s:delete(p)
    s:flush()
    assert.equal("deleted", state(p))
    local c = env.Child{ label = "c" }
    c.parent = p -- c is transient: nothing cascades yet
    local ok, err = pcall(s.add, s, c)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
  end)
end)

describe("a backref removing from an object without a key", function()
  it("initializes its unloaded collection empty, as SQLAlchemy's backref does", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:flush()
    local c = env.Child{ label = "c" }
    c.parent = p -- p's collection is not loaded: a pending append
    s:rollback() -- p is transient again
    assert.equal("transient", state(p))
    c.parent = nil
    local unloaded = table.concat(orm.inspect(p).unloaded, ",")
    assert.equal("id", unloaded) -- children is loaded (empty); the key was cleared
    assert.equal(0, #p.children)
  end)
end)

describe("a self-referential one-to-many not loaded", function()
  it("copies no key into a member outside the session appended through the backref", function()
    local env = setup()
    local s = env.s
    local root = env.Node{ name = "root" }
    s:add(root)
    s:commit()
    local leaf = env.Node{ name = "leaf" } -- never in the session
    leaf.parent = root -- root.children is not loaded: a pending append
    s:flush()
    assert.is_nil(leaf.parent_id)
    -- loaded, the collection's history copies it (as for any one-to-many)
    local _ = root.children
    local other = env.Node{ name = "other" }
    other.parent = root
    s:flush()
    assert.equal(root.id, other.parent_id)
  end)
end)

describe("rows of a self-referential table in one flush", function()
  it("are saved in the levels of SQLAlchemy's per-state sort: a row that references one waits", function()
    local env = setup()
    local s = env.s
    local a = env.Node{ name = "a" }
    s:add(a)
    s:commit()
    local b = env.Node{ name = "b" }
    b.parent = a
    s:add(b)
    local c = env.Node{ name = "c" }
    s:add(c)
    s:flush()
    assert.same({ 3, 2 }, { b.id, c.id })
    local d = env.Node{ name = "d" }
    s:add(d)
    d.parent = b
    local e = env.Node{ name = "e" }
    s:add(e)
    local f = env.Node{ name = "f" }
    s:add(f)
    f.parent = d
    s:flush()
    assert.same({ 5, 4, 6 }, { d.id, e.id, f.id })
  end)
end)

describe("a bulk UPDATE's new values for the objects of the session", function()
  local function score_env()
    local env = { engine = orm.create_engine("sqlite://") }
    local Base = orm.declarative_base()
    env.Player = Base:model("Player", {
      __tablename__ = "dc_players",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(30)),
      score = orm.Column(orm.Integer),
    })
    Base.metadata:create_all(env.engine)
    env.s = orm.Session(env.engine, { expire_on_commit = false })
    return env
  end

  it("are worked out in memory for loaded, unchanged attributes (SQLAlchemy's evaluator)", function()
    local env = score_env()
    local s, Player = env.s, env.Player
    local a, b = Player{ name = "a", score = 6 }, Player{ name = "b", score = 1 }
    s:add_all({ a, b })
    s:commit()
    s:execute(orm.update(Player):where(Player.score:gt(2)):values{ score = Player.score + 1 })
    assert.equal(7, a.score)
    assert.same({}, orm.inspect(a).unloaded)
    assert.equal(1, b.score)
    -- a value that cannot be worked out in memory expires the attribute
    s:execute(orm.update(Player):where(Player.name:eq("a")):values{ score = orm.func.abs(-3) })
    assert.same({ "score" }, orm.inspect(a).unloaded)
    assert.equal(3, a.score)
  end)

  it("stay on an object the rollback makes transient again", function()
    local env = score_env()
    local s, Player = env.s, env.Player
    local p = Player{ name = "p", score = 6 }
    s:add(p)
    s:execute(orm.update(Player):where(Player.name:eq("p")):values{ score = Player.score + 1 })
    s:rollback()
    assert.equal("transient", state(p))
    assert.equal(7, p.score)
  end)
end)

describe("an object whose deletion an earlier flush sent", function()
  it("gets the key of the parent whose collection it joined, in memory only", function()
    local env = setup()
    local s = env.s
    local a = env.Parent{ name = "a" }
    local b = env.Parent{ name = "b" }
    s:add_all({ a, b })
    local c = env.Child{ label = "c" }
    c.parent = a
    s:add(c)
    s:flush()
    s:delete(c)
    s:flush()
    assert.equal("deleted", state(c))
    c.parent = b -- b's collection gains it (a backref)
    s:commit()
    assert.equal("detached", state(c))
    assert.equal(b.id, c.parent_id)
    assert.equal(0, env.scalar("SELECT count(*) FROM dc_children"))
  end)
end)

describe("a pending object that leaves a delete-orphan collection of an owner outside its session", function()
  it("is expunged by the next flush, unless added again first", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" } -- never in the session
    local c = env.Child{ label = "c" }
    s:add(c)
    p.children:append(c)
    p.children:remove(c)
    assert.equal("pending", state(c))
    s:flush()
    assert.equal("transient", state(c))
    assert.equal(0, env.scalar("SELECT count(*) FROM dc_children"))
    local d = env.Child{ label = "d" }
    s:add(d)
    p.children:append(d)
    p.children:remove(d)
    s:add(d)
    s:flush()
    assert.equal("persistent", state(d))
  end)
end)

describe("references to objects whose deletion was flushed", function()
  it("setting the object a reference holds already refuses nothing", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    local c = env.Child{ label = "c" }
    c.parent = p
    s:add(c)
    s:begin_nested(function() s:delete(p) end) -- the delete cascade takes c along
    assert.equal("deleted", state(c))
    c.parent = p
    assert.equal(p, c.parent)
  end)

  it("a new object pointing at one is inserted without its key", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:flush()
    s:begin_nested(function() s:delete(p) end)
    local c = env.Child{ label = "c" }
    c.parent = p
    local ok, err = pcall(s.add, s, c) -- the cascade reaches the deleted p
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    s:flush()
    assert.equal("persistent", state(c))
    assert.is_nil(c.parent_id)
    assert.equal(p, c.parent)
  end)
end)

describe("expiring an object whole", function()
  it("forgets that it left its parent's collection: no orphan at the next flush", function()
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c" }
    c.parent = p
    s:add(p)
    s:commit()
    c.parent = nil
    s:rollback() -- expires c
    c.label = "e"
    s:commit()
    assert.equal("persistent", state(c))
    assert.equal(1, env.scalar("SELECT count(*) FROM dc_children"))
  end)
end)

describe("the save-update cascade of add()", function()
  it("walks a collection's members appended since the last flush first (their INSERT order)", function()
    local env = setup()
    -- a's foreign key from the rolled-back flush stays (only generated keys are cleared):
    -- it holds where the parent gets the same id again, as on SQLite
    if env.engine.dialect ~= "sqlite" then return pending("SQLite reuses a rolled-back id") end
    local s = env.s
    local p = env.Parent{ name = "p" }
    local a = env.Child{ label = "a" }
    a.parent = p
    s:add(p)
    s:flush()
    local b = env.Child{ label = "b" }
    b.parent = p -- b is not in the session: a backref append
    s:rollback() -- p and a are transient again
    local s2 = orm.Session(env.engine)
    local c = env.Child{ label = "c" }
    c.parent = p
    s2:add(c)
    s2:flush()
    assert.same({ 1, 2, 3 }, { c.id, b.id, a.id })
  end)
end)

describe("a collection of an object a rollback made transient", function()
  it("starts empty when first used: changes recorded while it had a key are dropped", function()
    local env = setup()
    local s = env.s
    local p
    s:begin_nested(function()
      p = env.Parent{ name = "p" }
      s:add(p)
    end)
    local c = env.Child{ label = "c" }
    c.parent = p -- p's collection is not loaded: a pending append
    s:add(c)
    s:rollback()
    assert.equal("transient", state(p))
    local d = env.Child{ label = "d" }
    p.children:append(d)
    assert.equal(1, #p.children)
    assert.equal(d, p.children[1])
  end)
end)

describe("an object marked for deletion that a saved parent's collection gained", function()
  it("is saved by the next flush and deleted by the one after (SQLAlchemy's cancel_delete)", function()
    local env = setup({ expire_on_commit = false, autoflush = false })
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c = env.Child{ label = "c" }
    s:add_all({ p, c })
    s:flush()
    p.children:append(c)
    s:delete(c)
    s:flush()
    assert.equal("persistent", state(c))
    assert.equal(p.id, env.scalar("SELECT parent_id FROM dc_children"))
    assert.is_true(s.deleted:contains(c))
    s:flush()
    assert.equal("deleted", state(c))
    assert.equal(0, env.scalar("SELECT count(*) FROM dc_children"))
  end)
end)

describe("add()'s cascade along a many-to-one changed since the last flush", function()
  it("reaches the object it replaced too (SQLAlchemy's get_all_pending)", function()
    local env = setup({ autoflush = false })
    local s = env.s
    local a, b = env.Parent{ name = "a" }, env.Parent{ name = "b" }
    local c = env.Child{ label = "c" }
    c.parent = a
    s:add_all({ a, b, c })
    s:commit()
    local _ = c.parent, a.children, b.children
    s:close() -- all detached
    c.parent = b -- c is detached: nothing cascades yet
    local s2 = orm.Session(env.engine)
    s2:add(c)
    assert.equal("persistent", state(a))
    assert.equal("persistent", state(b))
  end)
end)

describe("query", function()
  it("a pending object that cannot be inserted is refused before a per-row cycle is reported", function()
    -- SQLAlchemy sorts a flush's actions lazily: the INSERT of the expired transient Parent
    -- runs (and is refused) before the sort gets stuck on the Node that is its own parent
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    s:add(p)
    s:flush()
    s:expire_all()
    local n = env.Node{ name = "n" }
    n.children:append(n)
    s:add(n)
    local ok, e = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("CircularDependencyError", e.kind)
    s:rollback()
    assert.equal("transient", state(p))
    local s2 = orm.Session(env.engine)
    s2:add(p)
    local m = env.Node{ name = "m" }
    m.children:append(m)
    s2:add(m)
    ok, e = pcall(s2.flush, s2)
    assert.is_false(ok)
    assert.equal("InvalidRequestError", e.kind)
  end)

  it("a flush loads an expired child whose foreign key it sets", function()
    local env = setup()
    local s = env.s
    local c2, c7 = env.Child{ label = "d" }, env.Child{ label = "a" }
    s:add_all({ c2, c7 })
    local p = env.Parent{ name = "p" }
    p.children:append(c2) -- p is not in the session: not flushed by the commit
    s:commit()
    c7.parent = p -- p and, through its collection, c2 join the session
    s:flush()
    local a = orm.inspect(c2).attrs
    assert.is_true(a.label.loaded)
    assert.equal("d", a.label.loaded_value)
    assert.equal(p.id, a.parent_id.loaded_value)
  end)

  it("a flush loads an expired object of a many-to-many whose collection changed", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local link = orm.Table("dq_link", Base.metadata,
      orm.Column("item_id", orm.Integer, orm.ForeignKey("dq_items.id"), { primary_key = true }),
      orm.Column("tag_id", orm.Integer, orm.ForeignKey("dq_tags.id"), { primary_key = true }))
    local Item = Base:model("Item", {
      __tablename__ = "dq_items",
      id = orm.Column(orm.Integer, { primary_key = true }),
      label = orm.Column(orm.String(30)),
      tags = orm.relationship("Tag", { secondary = link, back_populates = "items" }),
    })
    local Tag = Base:model("Tag", {
      __tablename__ = "dq_tags",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(30)),
      items = orm.relationship("Item", { secondary = link, back_populates = "tags" }),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    local t = Tag{ name = "t" }
    s:add(t)
    s:commit()
    local it = Item{ label = "x" }
    it.tags:append(t) -- it stays out of the session; t's unloaded collection records it
    assert.is_false(orm.inspect(t).attrs.name.loaded)
    s:flush()
    assert.is_true(orm.inspect(t).attrs.name.loaded)
    assert.equal("t", orm.inspect(t).attrs.name.loaded_value)
    assert.equal("transient", state(it))
  end)

  it("an append whose backref replaces an expired old parent leaves that parent clean", function()
    -- SQLAlchemy's identity-map lookup of the old many-to-one value returns no result for an
    -- expired object (no SQL allowed): the old parent's collection hears nothing
    local env = setup()
    local s = env.s
    local n1 = env.Node{ name = "n1" }
    local n2 = env.Node{ name = "n2" }
    n2.parent = n1
    s:add_all({ n1, n2 })
    s:commit()
    local _ = n2.name -- n2 loaded, n1 still expired
    n2.children:append(n2)
    assert.is_false(s.dirty:contains(n1))
    assert.is_true(s.dirty:contains(n2))
  end)

  it("a child appended to a deleted parent after delete() is saved, not deleted by the flush", function()
    -- SQLAlchemy cascades the delete when delete() is called; the flush INSERTs (or
    -- UPDATEs) a child appended since with the deleted parent's key: the foreign key fails
    local env = setup()
    local s = env.s
    local p = env.Parent{ name = "p" }
    local c0 = env.Child{ label = "c0" }
    s:add_all({ p, c0 })
    s:commit()
    s:delete(p)
    local c = env.Child{ label = "a" }
    c.parent = p
    s:add(c)
    c0.parent = p
    local ok, e = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal("IntegrityError", e.kind)
    assert.equal("transient", state(c))
    assert.equal("persistent", state(p))
    assert.equal("persistent", state(c0))
  end)

  it("reading a collection of an object a rollback made transient leaves it unloaded", function()
    -- SQLAlchemy answers an empty collection it does not store (nothing to load), also
    -- when changes were recorded while the object had a key
    local env = setup()
    local s = env.s
    local q
    s:begin_nested(function()
      q = env.Parent{ name = "q" }
      s:add(q)
    end)
    local c = env.Child{ label = "c" }
    c.parent = q
    s:add(c)
    s:rollback()
    assert.equal("transient", state(q))
    assert.equal(0, #q.children)
    assert.is_false(orm.inspect(q).attrs.children.loaded)
  end)
end)

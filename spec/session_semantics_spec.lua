-- The unit of work as SQLAlchemy 2.0 runs it, each case checked against SQLAlchemy 2.0.58:
-- what a rolled-back savepoint expires (relationships included), the autoflush before an
-- expired attribute loads, the identity map after a rollback that undoes a key's reuse,
-- and the delete cascade marking children at `session:delete()` time.
local orm = require("lualchemy")

-- Parents with children (delete-orphan) and tags (many-to-many), on a fresh engine with a
-- statement log.
local function setup(opts)
  opts = opts or {}
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic_sql(sql) end,
  })
  local Base = orm.declarative_base()
  local links = orm.Table("ss_links", Base.metadata,
    orm.Column("parent_id", orm.Integer, orm.ForeignKey("ss_parents.id"), { primary_key = true }),
    orm.Column("tag_id", orm.Integer, orm.ForeignKey("ss_tags.id"), { primary_key = true }))
  env.Parent = Base:model("Parent", {
    __tablename__ = "ss_parents",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50)),
    children = orm.relationship("Child", {
      back_populates = "parent", cascade = opts.cascade or "all, delete-orphan", order_by = "Child.id",
    }),
    tags = orm.relationship("Tag", { secondary = links, back_populates = "parents", order_by = "Tag.id" }),
  })
  env.Child = Base:model("Child", {
    __tablename__ = "ss_children",
    id = orm.Column(orm.Integer, { primary_key = true }),
    label = orm.Column(orm.String(50)),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("ss_parents.id")),
    parent = orm.relationship("Parent", { back_populates = "children" }),
  })
  env.Tag = Base:model("Tag", {
    __tablename__ = "ss_tags",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50)),
    parents = orm.relationship("Parent", { secondary = links, back_populates = "tags" }),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine, opts.session)
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  function env.count(prefix)
    local n = 0
    for _, q in ipairs(env.log) do if q:sub(1, #prefix) == prefix then n = n + 1 end end
    return n
  end
  function env.first(prefix)
    for n, q in ipairs(env.log) do if q:sub(1, #prefix) == prefix then return n end end
  end
  -- "label:parent_id" of every child row, and "parent-tag" of every link row, read
  -- outside the session
  function env.rows()
    local conn = env.engine:connect()
    local children, tags = {}, {}
    for r in conn:execute(orm.text("SELECT label, parent_id FROM ss_children ORDER BY id")) do
      children[#children + 1] = r.label .. ":" .. tostring(r.parent_id)
    end
    for r in conn:execute(orm.text("SELECT parent_id, tag_id FROM ss_links ORDER BY parent_id, tag_id")) do
      tags[#tags + 1] = r.parent_id .. "-" .. r.tag_id
    end
    conn:close()
    return children, tags
  end
  return env
end

-- p (id 1) with children a, b and tag t2; p2 (id 2) and t (tag 1) alone; committed, then
-- every attribute and relationship loaded again.
local function graph(opts)
  local env = setup(opts)
  local s, Parent, Child, Tag = env.s, env.Parent, env.Child, env.Tag
  local o = {}
  o.p = Parent{ id = 1, name = "p", children = { Child{ id = 1, label = "a" }, Child{ id = 2, label = "b" } } }
  o.p2 = Parent{ id = 2, name = "p2" }
  o.t, o.t2 = Tag{ id = 1, name = "t" }, Tag{ id = 2, name = "t2" }
  o.p.tags:append(o.t2)
  s:add_all({ o.p, o.p2, o.t, o.t2 })
  s:commit()
  o.a, o.b = o.p.children[1], o.p.children[2]
  for _, k in ipairs({ "p", "p2" }) do local _ = o[k].name, #o[k].children, #o[k].tags end
  for _, k in ipairs({ "t", "t2" }) do local _ = o[k].name, #o[k].parents end
  for _, k in ipairs({ "a", "b" }) do local _ = o[k].label, o[k].parent end
  env.clear()
  return env, o
end

local function labels(list)
  local out = {}
  for i = 1, #list do local x = list[i]; out[#out + 1] = x.label or x.name end -- a collection too, on every Lua
  return out
end

-- The objects (by name) whose columns were expired, in a fixed order.
local function expired(o)
  local out = {}
  for _, k in ipairs({ "p", "p2", "t", "t2", "a", "b" }) do
    if orm.inspect(o[k]).expired then out[#out + 1] = k end
  end
  return table.concat(out, " ")
end

-- Runs `fn` in a savepoint that is rolled back (fn's error is swallowed).
local function undone(s, fn)
  local ok = pcall(s.begin_nested, s, function() fn(); error("undo") end)
  assert.falsy(ok)
end

local function state(obj)
  local i = orm.inspect(obj)
  for _, k in ipairs({ "transient", "pending", "persistent", "deleted", "detached" }) do
    if i[k] then return k end
  end
end

describe("a savepoint rolled back", function()
  it("takes back a child appended inside it (the issue's case)", function()
    local env, o = graph()
    local s, Child = env.s, env.Child
    local u = Child{ id = 10, label = "undone" }
    undone(s, function() o.p.children:append(u) end)
    assert.equal("p", expired(o))
    assert.equal("transient", state(u))
    assert.same({ "a", "b" }, labels(o.p.children))
    o.p.children:append(Child{ id = 11, label = "later" })
    s:commit()
    assert.same({ "a:1", "b:1", "later:1" }, (env.rows()))
  end)

  it("takes back a child appended and flushed inside it", function()
    local env, o = graph()
    local s, Child = env.s, env.Child
    local u = Child{ id = 10, label = "undone" }
    undone(s, function() o.p.children:append(u); s:flush() end)
    assert.equal("p", expired(o))
    assert.equal("transient", state(u))
    assert.equal(0, #s.new)
    assert.same({ "a", "b" }, labels(o.p.children))
    s:commit()
    assert.same({ "a:1", "b:1" }, (env.rows()))
  end)

  it("keeps a child removed inside it (no delete of the orphan later: no data loss)", function()
    for _, flush in ipairs({ false, true }) do
      local env, o = graph()
      local s = env.s
      undone(s, function()
        o.p.children:remove(o.a)
        if flush then s:flush() end
      end)
      -- the parent and the child whose `parent` changed are expired, relationships too
      assert.equal("p a", expired(o))
      assert.equal("persistent", state(o.a))
      assert.equal(0, #s.deleted)
      assert.same({ "a", "b" }, labels(o.p.children))
      assert.equal(o.p, o.a.parent)
      o.p.name = "renamed"
      s:commit()
      assert.same({ "a:1", "b:1" }, (env.rows()))
    end
  end)

  it("takes back a move between parents", function()
    for _, flush in ipairs({ false, true }) do
      local env, o = graph()
      local s = env.s
      undone(s, function()
        o.p2.children:append(o.a)
        if flush then s:flush() end
      end)
      assert.equal("p p2 a", expired(o))
      assert.same({ "a", "b" }, labels(o.p.children))
      assert.same({}, labels(o.p2.children))
      assert.equal(o.p, o.a.parent)
      s:commit()
      assert.same({ "a:1", "b:1" }, (env.rows()))
    end
  end)

  it("takes back a many-to-one set inside it", function()
    local env, o = graph()
    local s = env.s
    undone(s, function() o.a.parent = o.p2; s:flush() end)
    assert.equal("p p2 a", expired(o))
    assert.equal(o.p, o.a.parent)
    assert.same({}, labels(o.p2.children))
    s:commit()
    assert.same({ "a:1", "b:1" }, (env.rows()))
  end)

  it("takes back many-to-many links and unlinks, on both sides", function()
    for _, flush in ipairs({ false, true }) do
      local env, o = graph()
      local s = env.s
      undone(s, function()
        o.p.tags:append(o.t)
        o.p.tags:remove(o.t2)
        if flush then s:flush() end
      end)
      assert.equal("p t t2", expired(o))
      assert.same({ "t2" }, labels(o.p.tags))
      assert.same({}, labels(o.t.parents))
      assert.same({ "p" }, labels(o.t2.parents))
      o.p.name = "renamed"
      s:commit()
      assert.same({ "1-2" }, select(2, env.rows()))
    end
  end)

  it("expires only what it changed: a column flushed in it expires that object alone", function()
    local env, o = graph()
    local s = env.s
    undone(s, function() o.a.label = "zz"; s:flush() end)
    assert.equal("a", expired(o))
    assert.equal("a", o.a.label)
  end)

  it("restores a deleted object without expiring it, unless it had changes", function()
    local env, o = graph()
    local s = env.s
    undone(s, function() s:delete(o.p2); s:flush() end)
    assert.equal("", expired(o))
    assert.equal("persistent", state(o.p2))
    undone(s, function() o.p2.name = "changed"; s:delete(o.p2); s:flush() end)
    assert.equal("p2", expired(o))
    assert.equal("p2", o.p2.name)
    -- a cascade: the parent and its children come back as they were
    undone(s, function()
      s:delete(o.p); s:flush()
      assert.equal("deleted", state(o.a))
    end)
    assert.equal("persistent", state(o.a))
    assert.same({ "a", "b" }, labels(o.p.children))
  end)

  it("makes what was added in it transient, and keeps the outer work", function()
    local env, o = graph()
    local s, Parent = env.s, env.Parent
    local outer = Parent{ id = 10, name = "outer" }
    s:add(outer)
    local inner = Parent{ id = 11, name = "inner" }
    undone(s, function() s:add(inner) end)
    assert.equal("transient", state(inner))
    assert.equal("persistent", state(outer))
    assert.equal("", expired(o))
    s:commit()
    assert.equal(3, s:scalar(orm.select(orm.func.count()):select_from(Parent)))
  end)

  it("undoes what a savepoint released inside it changed", function()
    local env, o = graph()
    local s, Child = env.s, env.Child
    undone(s, function()
      s:begin_nested(function()
        o.p.children:append(Child{ id = 12, label = "inner" })
        o.p2.children:append(o.b)
      end)
    end)
    assert.equal("p p2 b", expired(o))
    assert.same({ "a", "b" }, labels(o.p.children))
    s:commit()
    assert.same({ "a:1", "b:1" }, (env.rows()))
  end)
end)

describe("loading an expired attribute", function()
  -- a committed parent (id 1) with child a (id 1), everything expired by the commit
  local function fresh(session_opts)
    local env = setup({ session = session_opts })
    local s = env.s
    local p = env.Parent{ id = 1, name = "p", children = { env.Child{ id = 1, label = "a" } } }
    s:add(p)
    s:commit()
    env.clear()
    return env, s, p
  end

  it("autoflushes first (SQLAlchemy's load_on_ident): the issue's case", function()
    local env, s, p = fresh()
    s:add(env.Parent{ id = 10, name = "pending" })
    assert.equal("p", p.name)
    assert.equal(0, #s.new)
    -- the INSERT went before the SELECT that reloaded p
    local insert, select_ = env.first("INSERT INTO ss_parents"), env.first("SELECT")
    assert.truthy(insert and select_ and insert < select_, table.concat(env.log, "\n"))
  end)

  it("flushes a dirty object too, and raises what the flush raises", function()
    local env, s, p = fresh()
    local a = s:get(env.Child, 1)
    s:expire(p, { "name" })
    a.label = "changed"
    assert.equal("p", p.name)
    assert.equal(0, #s.dirty)
    -- a flush that fails reaches the reader
    s:expire(p)
    s:add(env.Parent{ id = 1, name = "duplicate" })
    local ok, err = pcall(function() return p.name end)
    assert.falsy(ok)
    assert.truthy(err:is("IntegrityError"), tostring(err))
    s:rollback()
  end)

  it("does not flush when the attribute is loaded", function()
    local env, s, p = fresh()
    local _ = p.name
    s:add(env.Parent{ id = 10, name = "pending" })
    assert.equal("p", p.name)
    assert.equal(1, #s.new)
  end)

  it("autoflushes when session:get finds the object expired, not when it is loaded", function()
    local env, s, p = fresh()
    s:add(env.Parent{ id = 10, name = "pending" })
    assert.equal(p, s:get(env.Parent, 1))
    assert.equal(0, #s.new)
    s:add(env.Parent{ id = 11, name = "pending2" })
    assert.equal(p, s:get(env.Parent, 1))
    assert.equal(1, #s.new)
  end)

  it("autoflushes before session:refresh", function()
    local env, s, p = fresh()
    local _ = p.name
    s:add(env.Parent{ id = 10, name = "pending" })
    s:refresh(p)
    assert.equal(0, #s.new)
  end)

  it("autoflushes before a lazy load that needs an expired foreign key", function()
    local env, s, p = fresh()
    local a = p.children[1]
    s:expire(a)
    s:add(env.Parent{ id = 10, name = "pending" })
    assert.equal(p, a.parent)
    assert.equal(0, #s.new)
  end)

  it("loads an expired many-to-one target found in the identity map (autoflushing)", function()
    local env, s, p = fresh()
    local a = s:get(env.Child, 1)
    local _ = a.label
    s:expire(p)
    s:add(env.Parent{ id = 10, name = "pending" })
    assert.equal(1, #s.new)
    assert.equal(p, a.parent)
    assert.equal(0, #s.new)
    assert.falsy(orm.inspect(p).expired)
  end)

  it("does not autoflush under no_autoflush or with autoflush = false", function()
    local env, s, p = fresh()
    s:no_autoflush(function()
      s:add(env.Parent{ id = 10, name = "pending" })
      assert.equal("p", p.name)
      assert.equal(1, #s.new)
    end)
    local env2, s2, p2 = fresh({ autoflush = false })
    s2:add(env2.Parent{ id = 10, name = "pending" })
    assert.equal("p", p2.name)
    assert.equal(1, #s2.new)
    assert.equal(p2, s2:get(env2.Parent, 1))
    assert.equal(1, #s2.new)
  end)
end)

describe("the autoflush before a statement session:execute runs", function()
  -- SQLAlchemy flushes before ORM-enabled statements only: a mapped class, an alias of one
  -- or one of its attributes anywhere in the statement. A Core statement of plain Tables
  -- (Model.__table__, orm.Table) runs with the session's changes still pending. Each case
  -- is SQLAlchemy 2.0.58's answer.
  local function flushes(make, params)
    local env = setup()
    local s = env.s
    s:add(env.Parent{ name = "pending" })
    s:execute(make(env, env.Parent.__table__, env.Child.__table__), params)
    local flushed = #s.new == 0
    s:rollback()
    return flushed
  end
  local f = orm.func

  it("does not autoflush a SELECT of plain Tables' columns", function()
    assert.is_false(flushes(function(_, t) return orm.select(t.c.id) end))
    assert.is_false(flushes(function(_, t) return orm.select(t) end))
    assert.is_false(flushes(function(_, t) return orm.select(t.c.id):where(t.c.name:eq("x")) end))
    assert.is_false(flushes(function(_, t) return orm.select(f.count()):select_from(t) end))
    assert.is_false(flushes(function(_, t) return orm.select(f.count(t.c.id)):limit(1) end))
    assert.is_false(flushes(function(_, t, c) return orm.select(t.c.id):join(c) end))
    assert.is_false(flushes(function(_, t) return orm.select(t.c.id):where(t.c.id:in_(orm.select(t.c.id))) end))
    assert.is_false(flushes(function(_, t) return orm.select(orm.select(t.c.id):subquery().c.id) end))
    assert.is_false(flushes(function(_, t) return orm.select(orm.select(t.c.id):cte().c.id) end))
    assert.is_false(flushes(function(_, t) return orm.select(t.c.id):union(orm.select(t.c.id)) end))
    assert.is_false(flushes(function() return orm.select(orm.literal(1)) end))
  end)

  it("autoflushes a SELECT naming a mapped class or attribute anywhere", function()
    assert.is_true(flushes(function(env) return orm.select(env.Parent) end))
    assert.is_true(flushes(function(env) return orm.select(env.Parent.id) end))
    assert.is_true(flushes(function(env, t) return orm.select(t.c.id):where(env.Parent.name:eq("x")) end))
    assert.is_true(flushes(function(env) return orm.select(f.count()):select_from(env.Parent) end))
    assert.is_true(flushes(function(env, _, c) return orm.select(c.c.id):join(env.Parent) end))
    assert.is_true(flushes(function(env, t) return orm.select(t.c.id):order_by(env.Parent.name) end))
    assert.is_true(flushes(function(env, t) return orm.select(f.count()):select_from(t):group_by(env.Parent.name) end))
    assert.is_true(flushes(function(env, t)
      return orm.select(t.c.id):where(t.c.id:in_(orm.select(env.Parent.id)))
    end))
    assert.is_true(flushes(function(env)
      return orm.select(f.count()):select_from(orm.select(env.Parent.id):subquery())
    end))
    assert.is_true(flushes(function(env) return orm.select(orm.aliased(env.Parent).id) end))
    assert.is_true(flushes(function(env, t) return orm.select(t.c.id):union(orm.select(env.Parent.id)) end))
  end)

  it("autoflushes an INSERT, UPDATE or DELETE of a mapped class, not of a plain Table", function()
    assert.is_false(flushes(function(_, t) return orm.insert(t) end, { { name = "a" } }))
    assert.is_false(flushes(function(_, t) return orm.insert(t):values{ name = "a" } end))
    if SPEC_DIALECT ~= "mysql" and SPEC_DIALECT ~= "mariadb" then -- (no RETURNING there)
      assert.is_false(flushes(function(env, t)
        return orm.insert(t):values{ name = "a" }:returning(env.Parent.id)
      end))
    end
    assert.is_true(flushes(function(env) return orm.insert(env.Parent) end, { { name = "a" } }))
    assert.is_false(flushes(function(_, t) return orm.update(t):values{ name = "z" } end))
    assert.is_false(flushes(function(_, t) return orm.delete(t):where(t.c.id:eq(1)) end))
    assert.is_true(flushes(function(env) return orm.update(env.Parent):values{ name = "z" } end))
    assert.is_true(flushes(function(env) return orm.delete(env.Parent) end))
    -- a mapped attribute in the WHERE clause makes it an ORM statement
    assert.is_true(flushes(function(env, t) return orm.update(t):where(env.Parent.id:eq(1)):values{ name = "z" } end))
    assert.is_true(flushes(function(env, t) return orm.delete(t):where(env.Parent.id:eq(1)) end))
  end)

  it("leaves the pending object out of what a Core SELECT reads, and in what an ORM one does", function()
    local env = setup()
    local s, t = env.s, env.Parent.__table__
    s:add(env.Parent{ name = "pending" })
    assert.equal(0, s:scalar(orm.select(f.count()):select_from(t)))
    assert.equal(1, #s.new)
    assert.equal(1, s:scalar(orm.select(f.count(env.Parent.id))))
    assert.equal(0, #s.new)
  end)

  it("autoflushes a SELECT of a column_property written with a plain Table's columns", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local items = orm.Table("ss_cp_items", Base.metadata,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("owner_id", orm.Integer, orm.ForeignKey("ss_cp_owners.id")))
    local id = orm.Column(orm.Integer, { primary_key = true })
    local Owner = Base:model("Owner", {
      __tablename__ = "ss_cp_owners",
      id = id,
      name = orm.Column(orm.String(20)),
      n_items = orm.column_property(orm.select(f.count(items.c.id)):where(items.c.owner_id:eq(id))
        :correlate_except(items):scalar_subquery()),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add(Owner{ name = "pending" })
    s:execute(orm.select(Owner.__table__.c.id):where(Owner.n_items:eq(0)))
    assert.equal(0, #s.new)
    s:add(Owner{ name = "pending2" })
    assert.same({ 0 }, s:scalars(orm.select(Owner.n_items):where(Owner.name:eq("pending2"))):all())
    assert.equal(0, #s.new)
  end)
end)

describe("a rollback undoing a deletion whose key a new object took", function()
  -- five committed parents; the last one (id 5) loaded, deleted and flushed, then a new
  -- parent flushed with the same key (SQLite reuses the highest id; servers are told it)
  local function reuse(s, Parent)
    for i = 1, 5 do s:add(Parent{ id = i, name = "p" .. i }) end
    s:commit()
    local p5 = s:get(Parent, 5)
    local _ = p5.name
    s:delete(p5)
    s:flush()
    local n = Parent{ id = 5, name = "new" }
    s:add(n)
    s:flush()
    assert.equal("deleted", state(p5))
    assert.equal("persistent", state(n))
    return p5, n
  end

  it("gives the key back to the original object", function()
    local env = setup()
    local s, Parent = env.s, env.Parent
    local p5, n = reuse(s, Parent)
    s:rollback()
    assert.equal("persistent", state(p5))
    assert.equal("transient", state(n))
    assert.equal(p5, s:get(Parent, 5))
    assert.equal("p5", p5.name)
    -- it is the session's: later commits expire it, close() detaches it
    s:commit()
    assert.truthy(orm.inspect(p5).expired)
    assert.equal("p5", p5.name)
    s:close()
    assert.equal("detached", state(p5))
  end)

  it("inside a savepoint too, without expiring it", function()
    local env = setup()
    local s, Parent = env.s, env.Parent
    for i = 1, 5 do s:add(Parent{ id = i, name = "p" .. i }) end
    s:commit()
    local p5 = s:get(Parent, 5)
    local _ = p5.name
    local n = Parent{ id = 5, name = "new" }
    undone(s, function()
      s:delete(p5)
      s:flush()
      s:add(n)
      s:flush()
    end)
    assert.equal("persistent", state(p5))
    assert.equal("transient", state(n))
    assert.equal(p5, s:get(Parent, 5))
    assert.falsy(orm.inspect(p5).expired)
    s:commit()
    assert.truthy(orm.inspect(p5).expired)
    assert.equal("p5", s:scalar(orm.select(Parent.name):where(Parent.id:eq(5))))
  end)

  it("with a key SQLite generated again", function()
    if SPEC_DIALECT ~= "sqlite" then return end -- servers' sequences do not reuse keys
    local env = setup()
    local s, Parent = env.s, env.Parent
    for i = 1, 5 do s:add(Parent{ name = "p" .. i }) end
    s:commit()
    local p5 = s:get(Parent, 5)
    s:delete(p5)
    s:flush()
    local n = Parent{ name = "new" }
    s:add(n)
    s:flush()
    assert.equal(5, n.id)
    s:rollback()
    assert.equal(p5, s:get(Parent, 5))
    s:close()
    assert.equal("detached", state(p5))
  end)
end)

describe("session:delete with a delete cascade", function()
  -- p (id 1) with children a, b, committed; a new session that has loaded p only
  local function loaded_parent(opts)
    local env = setup(opts)
    local s = env.s
    s:add(env.Parent{ id = 1, name = "p", children = { env.Child{ id = 1, label = "a" }, env.Child{ id = 2, label = "b" } } })
    s:commit()
    s:close()
    local p = s:get(env.Parent, 1)
    env.clear()
    return env, s, p
  end

  it("marks the children deleted at once, loading the unloaded collection", function()
    local env, s, p = loaded_parent()
    s:delete(p)
    assert.equal(1, env.count("SELECT"))
    assert.equal(3, #s.deleted)
    local a, b = p.children[1], p.children[2]
    assert.truthy(s.deleted:contains(p))
    assert.truthy(s.deleted:contains(a))
    assert.truthy(s.deleted:contains(b))
    -- still persistent until the flush
    assert.equal("persistent", state(a))
    s:flush()
    assert.equal("deleted", state(a))
    assert.equal(0, #s.deleted)
  end)

  it("autoflushes before loading the collection, as the lazy load does", function()
    local env, s, p = loaded_parent()
    s:add(env.Parent{ id = 9, name = "pending" })
    s:delete(p)
    assert.equal(0, #s.new)
    assert.equal(3, #s.deleted)
    local insert, select_ = env.first("INSERT"), env.first("SELECT")
    assert.truthy(insert and select_ and insert < select_, table.concat(env.log, "\n"))
  end)

  it("leaves pending children unmarked, and a rollback unmarks the children", function()
    local env, s, p = loaded_parent()
    local c = env.Child{ id = 3, label = "pending" }
    p.children:append(c)
    s:delete(p)
    assert.equal(3, #s.deleted)
    assert.falsy(s.deleted:contains(c))
    assert.equal("pending", state(c))
    s:rollback()
    assert.equal(0, #s.deleted)
    assert.equal("persistent", state(p.children[1]))
  end)

  it("does not load a passive_deletes collection, and marks only what is loaded", function()
    local Base = orm.declarative_base()
    local engine = orm.create_engine("sqlite://")
    local Owner = Base:model("Owner", {
      __tablename__ = "ss_owners",
      id = orm.Column(orm.Integer, { primary_key = true }),
      items = orm.relationship("Item", { cascade = "all, delete-orphan", passive_deletes = true }),
    })
    local Item = Base:model("Item", {
      __tablename__ = "ss_items",
      id = orm.Column(orm.Integer, { primary_key = true }),
      owner_id = orm.Column(orm.Integer, orm.ForeignKey("ss_owners.id", { ondelete = "CASCADE" })),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Owner{ id = 1, items = { Item{ id = 1 } } }, Owner{ id = 2, items = { Item{ id = 2 } } } })
    s:commit()
    s:close()
    local o1, o2 = s:get(Owner, 1), s:get(Owner, 2)
    local _ = #o2.items
    s:delete(o1)
    assert.equal(1, #s.deleted)
    s:delete(o2)
    assert.equal(3, #s.deleted)
    assert.truthy(s.deleted:contains(o2.items[1]))
  end)

  it("follows the cascade through every level and every kind of relationship", function()
    local Base = orm.declarative_base()
    local engine = orm.create_engine("sqlite://")
    local links = orm.Table("ss_node_tags", Base.metadata,
      orm.Column("node_id", orm.Integer, orm.ForeignKey("ss_nodes.id"), { primary_key = true }),
      orm.Column("tag_id", orm.Integer, orm.ForeignKey("ss_node_tag.id"), { primary_key = true }))
    local Node = Base:model("Node", {
      __tablename__ = "ss_nodes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("ss_nodes.id")),
      owner_id = orm.Column(orm.Integer, orm.ForeignKey("ss_node_owner.id")),
      kids = orm.relationship("Node", {
        cascade = "all, delete-orphan", backref = orm.backref("up", { remote_side = "id" }), order_by = "Node.id",
      }),
      tags = orm.relationship("NodeTag", { secondary = links, cascade = "all, delete" }),
      owner = orm.relationship("NodeOwner", { cascade = "all" }),
    })
    local NodeTag = Base:model("NodeTag", {
      __tablename__ = "ss_node_tag",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
    })
    local NodeOwner = Base:model("NodeOwner", {
      __tablename__ = "ss_node_owner",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add(Node{ id = 1, name = "root",
      kids = { Node{ id = 2, name = "k1", kids = { Node{ id = 4, name = "g1" } } }, Node{ id = 3, name = "k2" } },
      tags = { NodeTag{ id = 1, name = "t1" } }, owner = NodeOwner{ id = 1, name = "o" } })
    s:commit()
    s:close()
    s:delete(s:get(Node, 1))
    local names = {}
    for x in s.deleted:iter() do names[#names + 1] = x.name end
    -- the parent first, each object before what it reaches (the order of the
    -- relationships themselves is the model's)
    assert.equal("root", names[1])
    assert.same({ "k1", "g1", "k2" }, { names[2], names[3], names[4] })
    table.sort(names)
    assert.same({ "g1", "k1", "k2", "o", "root", "t1" }, names)
    s:commit()
    for _, M in ipairs({ Node, NodeTag, NodeOwner }) do
      assert.equal(0, s:scalar(orm.select(orm.func.count()):select_from(M)))
    end
  end)

  it("leaves a deleted child's loaded attributes readable after the commit (detached)", function()
    local env, s, p = loaded_parent()
    local a = p.children[1]
    s:delete(p)
    s:commit()
    assert.equal("detached", state(a))
    assert.equal("detached", state(p))
    assert.falsy(orm.inspect(a).expired)
    assert.equal("a", a.label)
    assert.equal(1, a.parent_id)
    assert.equal("p", p.name)
    assert.equal(2, #p.children)
    -- the flush that deleted it read its many-to-one from the identity map (SQLAlchemy's
    -- dependency processors do), so it is loaded; checked against SQLAlchemy 2.0.58
    assert.equal(p, a.parent)
  end)
end)

describe("the identity map lookups of get and a many-to-one", function()
  it("find an object marked for deletion until the flush, as SQLAlchemy's", function()
    local env = setup()
    local s, Parent, Child = env.s, env.Parent, env.Child
    local p = Parent{ id = 1, name = "p" }
    s:add_all({ p, Child{ id = 1, label = "a", parent = p } })
    s:commit()
    local _ = p.name
    local a = s:get(Child, 1)
    _ = a.label
    s:expire(a, { "parent" })
    s:delete(p)
    assert.equal(2, #s.deleted)
    assert.equal(p, s:get(Parent, 1))
    assert.equal(p, a.parent)
    assert.equal(2, #s.deleted)
    s:flush()
    assert.is_nil(s:get(Parent, 1))
  end)

  it("make an expired object whose row is gone deleted in the session", function()
    for _, ending in ipairs({ "commit", "rollback" }) do
      local env = setup()
      local s, Parent = env.s, env.Parent
      local p = Parent{ id = 1, name = "p" }
      s:add(p)
      s:commit()
      local conn = env.engine:connect()
      conn:execute(orm.text("DELETE FROM ss_parents"))
      conn:commit()
      conn:close()
      assert.is_nil(s:get(Parent, 1))
      assert.equal("deleted", state(p))
      assert.equal(0, #s.deleted)
      s[ending](s)
      assert.equal(ending == "commit" and "detached" or "persistent", state(p))
    end
  end)
end)

describe("a failed flush", function()
  -- p (id 1, persistent, loaded) and a flushed q in the transaction; then a new r and a
  -- duplicate of p's key: the flush fails.
  local function failing(opts)
    local env = setup(opts)
    local s, Parent = env.s, env.Parent
    local p = Parent{ id = 1, name = "p" }
    s:add(p)
    s:commit()
    local _ = p.name
    local q = Parent{ name = "q" }
    s:add(q)
    s:flush()
    return env, p, q
  end

  it("rolls the session back at once: added objects transient, keys cleared, the rest expired", function()
    local env, p, q = failing()
    local s, Parent = env.s, env.Parent
    local log = {}
    orm.event.listen(s, "after_rollback", function() log[#log + 1] = "rollback" end)
    local r = Parent{ name = "r" }
    s:add(r)
    s:add(Parent{ id = 1, name = "dup" })
    local ok, err = pcall(s.flush, s)
    assert.falsy(ok)
    assert.equal("IntegrityError", err.kind)
    assert.same({ "rollback" }, log)
    assert.equal("transient", state(q))
    assert.equal("transient", state(r))
    assert.is_nil(q.id)                       -- generated key cleared (API.md)
    assert.equal("q", q.name)                 -- loaded values stay readable
    assert.equal(0, #s.new)
    assert.equal("persistent", state(p))
    assert.truthy(orm.inspect(p).expired)
    -- reading an expired attribute needs the transaction: refused until rollback()
    local ok2, e2 = pcall(function() return p.name end)
    assert.falsy(ok2)
    assert.equal("PendingRollbackError", e2.kind)
    local ok3, e3 = pcall(s.get, s, Parent, 1)
    assert.falsy(ok3)
    assert.equal("PendingRollbackError", e3.kind)
    s:rollback()
    assert.same({ "rollback" }, log)          -- after_rollback ran once, at the failure
    assert.equal("p", p.name)
    assert.equal(1, s:scalar(orm.select(orm.func.count()):select_from(Parent)))
  end)

  it("inside a savepoint rolls back to it alone, expiring what it changed", function()
    local env, p, q = failing()
    local s, Parent, Child = env.s, env.Parent, env.Child
    local p2 = Parent{ id = 5, name = "p2" }
    s:add(p2)
    s:flush()
    local _ = p2.name
    local r
    local ok, err = pcall(s.begin_nested, s, function()
      q.name = "q!"
      r = Child{ label = "r" }
      s:add(r)
      s:add(Parent{ id = 1, name = "dup" })
      local ok1, e1 = pcall(s.flush, s)
      assert.falsy(ok1)
      assert.equal("IntegrityError", e1.kind)
      -- at once: r transient, q (changed in the savepoint) expired, p2 and p not
      assert.equal("transient", state(r))
      assert.equal("persistent", state(q))
      assert.truthy(orm.inspect(q).expired)
      assert.falsy(orm.inspect(p2).expired)
      assert.equal("p2", p2.name)
      local ok2, e2 = pcall(function() return q.name end)
      assert.falsy(ok2)
      assert.equal("PendingRollbackError", e2.kind)
      error(e1)
    end)
    assert.falsy(ok)
    assert.equal("IntegrityError", err.kind)
    -- the outer transaction goes on with its work
    assert.equal("q", q.name)
    assert.equal("persistent", state(q))
    s:commit()
    assert.equal(3, s:scalar(orm.select(orm.func.count()):select_from(Parent)))
  end)
end)

describe("the flush of an UPDATE for an expired object", function()
  it("loads its expired attributes first (one SELECT), as SQLAlchemy's", function()
    local env = setup()
    local s, Parent = env.s, env.Parent
    local p = Parent{ id = 1, name = "p" }
    s:add(p)
    s:commit()                                -- p expired
    env.clear()
    p.name = "q"
    s:flush()
    assert.equal(1, env.count("SELECT"))
    assert.truthy(env.first("SELECT") < env.first("UPDATE"))
    assert.same({ "children", "tags" }, orm.inspect(p).unloaded)  -- every column loaded
    env.clear()
    assert.equal("q", p.name)
    assert.equal(1, p.id)
    assert.equal(0, #env.log)
  end)

  it("costs nothing when the object is loaded, or only some columns are expired", function()
    local env = setup()
    local s, Parent = env.s, env.Parent
    local p = Parent{ id = 1, name = "p" }
    s:add(p)
    s:commit()
    local _ = p.name
    env.clear()
    p.name = "q"
    s:flush()
    assert.equal(0, env.count("SELECT"))
    s:expire(p, { "name" })
    env.clear()
    p.name = "r"
    s:flush()
    assert.equal(0, env.count("SELECT"))
    assert.equal(1, env.count("UPDATE"))
  end)

  it("raises ObjectDeletedError when another connection deleted the row", function()
    local env = setup()
    local s, Parent = env.s, env.Parent
    local p = Parent{ id = 1, name = "p" }
    s:add(p)
    s:commit()
    local conn = env.engine:connect()
    conn:execute(orm.text("DELETE FROM ss_parents"))
    conn:commit()
    conn:close()
    p.name = "q"
    local ok, err = pcall(s.flush, s)
    assert.falsy(ok)
    assert.equal("ObjectDeletedError", err.kind)
    assert.is_true(pcall(s.flush, s)) -- nothing left to write, as SQLAlchemy's
    local ok2, e2 = pcall(s.commit, s)
    assert.falsy(ok2)
    assert.equal("PendingRollbackError", e2.kind)
    s:rollback()
  end)
end)

describe("an object deleted and flushed", function()
  it("cannot be set as a many-to-one, appended or added again, as SQLAlchemy's", function()
    for _, how in ipairs({ "setref", "append", "add" }) do
      local env = setup()
      local s, Parent, Child = env.s, env.Parent, env.Child
      local p, c = Parent{ id = 1, name = "p" }, Child{ id = 1, label = "c" }
      s:add_all({ p, c })
      s:flush()
      local victim = how == "setref" and p or c
      s:delete(victim)
      s:flush()
      local ok, err = pcall(function()
        if how == "setref" then c.parent = p
        elseif how == "append" then p.children:append(c)
        else s:add(c) end
      end)
      assert.falsy(ok)
      assert.equal("InvalidRequestError", err.kind)
      assert.truthy(err.message:find("has been deleted", 1, true), err.message)
      s:rollback()
    end
  end)

  it("is still found by a many-to-one while only marked for deletion", function()
    local env = setup()
    local s, Parent, Child = env.s, env.Parent, env.Child
    local p, p2 = Parent{ id = 1, name = "p" }, Parent{ id = 2, name = "p2" }
    s:add_all({ p, p2, Child{ id = 1, label = "c", parent = p } })
    s:commit()
    local c = s:get(Child, 1)
    local _ = c.label, #p.children
    s:delete(p)
    c.parent = p2                  -- c leaves p's collection, found in the identity map
    assert.equal(0, #p.children)
  end)
end)

describe("orm.inspect(obj).expired", function()
  it("is SQLAlchemy's flag: expired as a whole and not loaded since", function()
    local env = setup()
    local s = orm.Session(env.engine)
    local p = env.Parent{ name = "p" }
    s:add(p)
    assert.is_false(orm.inspect(p).expired) -- pending
    s:commit()
    assert.is_true(orm.inspect(p).expired)
    local _ = p.name
    assert.is_false(orm.inspect(p).expired)
    s:expire(p, { "name" })
    assert.is_false(orm.inspect(p).expired) -- attributes expired by name
    s:expire(p, { "id", "name" })
    assert.is_false(orm.inspect(p).expired) -- the key too, by name
    _ = p.name
    s:expire(p)
    assert.is_true(orm.inspect(p).expired)
    s:execute(orm.update(env.Parent):values({ name = "q" }), nil, { synchronize_session = "fetch" })
    assert.is_false(orm.inspect(p).expired) -- synchronized by the bulk UPDATE, still unloaded
  end)
end)

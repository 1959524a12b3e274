-- Computed attributes (issue 6): hybrid properties and methods on instances and in SQL,
-- column properties loaded with the row, synonyms, validators (transforming and rejecting,
-- the error raised reaching the caller unchanged) and orm.inspect's attribute states and
-- history. Every test reads real rows back; tables are prefixed ca_.
local orm = require("lualchemy")

-- SQL text is compared in SQLite's spelling: PostgreSQL's `$1` placeholders and MySQL's
-- backquotes read as `?` and double quotes.
local generic = generic_sql

local function has(s, needle) return generic(s):find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function count(log, pattern)
  local n = 0
  for _, sql in ipairs(log) do
    if sql:find(pattern) then n = n + 1 end
  end
  return n
end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Base = Base
  -- columns declared as locals, used as attributes and in expressions (a class body)
  local id = orm.Column(orm.Integer, { primary_key = true })
  local first = orm.Column(orm.String(50))
  local last = orm.Column(orm.String(50))
  env.Post = Base:model("Post", {
    __tablename__ = "ca_posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(50)),
    author_id = orm.Column(orm.Integer, orm.ForeignKey("ca_users.id")),
    author = orm.relationship("User", { back_populates = "posts" }),
  })
  local Post = env.Post
  env.User = Base:model("User", {
    __tablename__ = "ca_users",
    id = id,
    first_name = first,
    last_name = last,
    cents = orm.Column(orm.Integer, { default = 0 }),
    posts = orm.relationship("Post", { back_populates = "author", order_by = "id" }),
    -- loaded with the row
    full = orm.column_property(first .. " " .. last),
    -- correlate_except keeps ca_posts in the subquery when the enclosing query reads it
    post_count = orm.column_property(
      orm.select(orm.func.count(Post.id)):where(Post.author_id:eq(id))
        :correlate_except(Post):scalar_subquery()),
    -- the same function on instances and on the class
    full_name = orm.hybrid_property(function(self)
      return self.first_name .. " " .. self.last_name
    end),
    -- a separate SQL side, and a setter
    dollars = orm.hybrid_property(function(self) return self.cents / 100 end)
      :expression(function(cls) return cls.cents / 100.0 end)
      :setter(function(self, v) self.cents = math.floor(v * 100 + 0.5) end),
    -- a comparison needs an :expression (Lua turns > into a boolean)
    richer_than = orm.hybrid_method(function(self, k) return self.cents > k end)
      :expression(function(cls, k) return cls.cents:gt(k) end),
    scaled = orm.hybrid_method(function(self, n) return self.cents * n end),
    given_name = orm.synonym("first_name"),
    greet = function(self) return "hi " .. self.first_name end,
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  local User = env.User
  env.s:add_all({
    User{ first_name = "Ada", last_name = "Lovelace", cents = 1500 },
    User{ first_name = "Alan", last_name = "Turing", cents = 250 },
    User{ first_name = "Grace", last_name = "Hopper", cents = 9900 },
  })
  env.s:commit()
  env.log = {}
  return env
end

local function by_first(env, name)
  return env.s:scalars(orm.select(env.User):where(env.User.first_name:eq(name))):one()
end

describe("hybrid_property", function()
  local env, User, s
  before_each(function()
    env = setup(); User, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  it("runs the getter on instances", function()
    local u = by_first(env, "Ada")
    assert.equal("Ada Lovelace", u.full_name)
    assert.equal(15.0, u.dollars)
    local t = User{ first_name = "Tim", last_name = "Lee" }
    assert.equal("Tim Lee", t.full_name)
  end)

  it("runs the same function on the class, giving SQL for where, order_by and select", function()
    local e = User.full_name
    assert.truthy(has(tostring(e), "ca_users.first_name || "))
    local u = s:scalars(orm.select(User):where(User.full_name:eq("Alan Turing"))):one()
    assert.equal("Turing", u.last_name)
    local names = {}
    for x in s:scalars(orm.select(User):order_by(User.full_name:desc())) do names[#names + 1] = x.first_name end
    assert.same({ "Grace", "Alan", "Ada" }, names)
    -- selected, it is named by the hybrid's key
    local rows = s:execute(orm.select(User.id, User.full_name):order_by(User.id)):all()
    assert.equal("Ada Lovelace", rows[1].full_name)
    assert.equal("Grace Hopper", rows[3].full_name)
    assert.equal("Alan Turing", s:scalar(orm.select(User.full_name):where(User.cents:eq(250))))
  end)

  it("uses :expression on the class side", function()
    local rows = s:scalars(orm.select(User):where(User.dollars:gt(10)):order_by(User.dollars)):all()
    assert.equal(2, #rows)
    assert.equal("Ada", rows[1].first_name)
    assert.equal(99.0, s:scalar(orm.select(User.dollars):where(User.first_name:eq("Grace"))))
  end)

  it("writes through :setter on instances and in the constructor", function()
    local u = by_first(env, "Alan")
    u.dollars = 12.34
    assert.equal(1234, u.cents)
    local n = User{ first_name = "New", last_name = "Comer", dollars = 3 }
    assert.equal(300, n.cents)
    s:add(n)
    s:commit()
    assert.equal(1234, s:scalar(orm.select(User.cents):where(User.first_name:eq("Alan"))))
    assert.equal(300, s:scalar(orm.select(User.cents):where(User.first_name:eq("New"))))
  end)

  it("raises AttributeError naming Model.attr when set without a setter", function()
    local u = by_first(env, "Ada")
    local err = pcall_err(function() u.full_name = "x y" end)
    assert.equal("AttributeError", err.kind)
    assert.truthy(has(err.message, "User.full_name"))
    assert.equal("Ada Lovelace", u.full_name)
    local err2 = pcall_err(function() return User{ full_name = "x" } end)
    assert.equal("AttributeError", err2.kind)
    assert.truthy(has(tostring(err2), "User.full_name"))
  end)

  it("lets an error raised in the getter or setter reach the caller as the very value", function()
    local Base = orm.declarative_base()
    local E = { "boom" }
    local M = Base:model("M", {
      __tablename__ = "ca_m",
      id = orm.Column(orm.Integer, { primary_key = true }),
      x = orm.Column(orm.Integer),
      bad = orm.hybrid_property(function() error(E) end):setter(function() error(E) end),
    })
    local m = M{ x = 1 }
    local ok, err = pcall(function() return m.bad end)
    assert.falsy(ok)
    assert.equal(E, err)
    ok, err = pcall(function() m.bad = 2 end)
    assert.equal(E, err)
    assert.equal(1, m.x)
  end)

  it("works on an aliased class", function()
    local A = orm.aliased(User, "u2")
    local rows = s:execute(orm.select(A.full_name):where(A.dollars:lt(5))):all()
    assert.equal(1, #rows)
    assert.equal("Alan Turing", rows[1].full_name)
    assert.truthy(has(tostring(orm.select(A.id):where(A.full_name:eq("x"))), "u2.first_name"))
  end)

  it("is usable in filter_by", function()
    local u = s:scalars(orm.select(User):filter_by{ full_name = "Grace Hopper" }):one()
    assert.equal(9900, u.cents)
  end)
end)

describe("hybrid_method", function()
  local env, User, s
  before_each(function()
    env = setup(); User, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  it("runs the function on instances: obj:method(args)", function()
    local u = by_first(env, "Ada")
    assert.is_true(u:richer_than(1000))
    assert.is_false(u:richer_than(2000))
    assert.equal(3000, u:scaled(2))
  end)

  it("gives SQL on the class: Model:method(args), with :expression or the same function", function()
    local names = {}
    for x in s:scalars(orm.select(User):where(User:richer_than(1000)):order_by(User.id)) do
      names[#names + 1] = x.first_name
    end
    assert.same({ "Ada", "Grace" }, names)
    assert.equal(500, s:scalar(orm.select(User:scaled(2)):where(User.first_name:eq("Alan"))))
    local rows = s:scalars(orm.select(User):where(User:scaled(10):gt(20000))):all()
    assert.equal(1, #rows)
    assert.equal("Grace", rows[1].first_name)
  end)
end)

describe("column_property", function()
  local env, User, Post, s
  before_each(function()
    env = setup(); User, Post, s = env.User, env.Post, env.s
  end)
  after_each(function() s:close() end)

  it("is loaded with the row, in the entity's SELECT", function()
    local u = by_first(env, "Ada")
    assert.equal(1, count(env.log, "^SELECT"))
    assert.truthy(has(env.log[#env.log], "AS \"full\""))
    local n = #env.log
    assert.equal("Ada Lovelace", u.full)
    assert.equal(0, u.post_count)
    assert.equal(n, #env.log, "no further SQL to read it")
    local g = s:get(User, 3)
    assert.equal("Grace Hopper", g.full)
  end)

  it("is usable in where, order_by and select", function()
    local u = s:scalars(orm.select(User):where(User.full:eq("Alan Turing"))):one()
    assert.equal("Alan", u.first_name)
    local rows = s:execute(orm.select(User.full):order_by(User.full:desc())):all()
    assert.equal("Grace Hopper", rows[1].full)
    assert.equal("Ada Lovelace", rows[3].full)
    assert.equal("Grace", s:scalars(orm.select(User):filter_by{ full = "Grace Hopper" }):one().first_name)
  end)

  it("session:expire(obj, { 'full' }) reloads it; the legacy query names it", function()
    local u = by_first(env, "Ada")
    assert.equal("Ada Lovelace", u.full)
    s:execute(orm.text("UPDATE ca_users SET last_name = 'King' WHERE first_name = 'Ada'"))
    assert.equal("Ada Lovelace", u.full)
    s:expire(u, { "full" })
    assert.equal("Ada King", u.full)
    local row = s:query(User.full, User.id):filter(User.first_name:eq("Ada")):one()
    assert.equal("Ada King", row.full)
  end)

  it("reads a correlated subquery per row", function()
    local ada, alan = by_first(env, "Ada"), by_first(env, "Alan")
    ada.posts:append(Post{ title = "notes" })
    ada.posts:append(Post{ title = "engine" })
    alan.posts:append(Post{ title = "machines" })
    s:commit()
    assert.equal(2, ada.post_count)
    assert.equal(1, alan.post_count)
    local rows = s:scalars(orm.select(User):where(User.post_count:ge(1)):order_by(User.post_count:desc())):all()
    assert.equal(2, #rows)
    assert.equal("Ada", rows[1].first_name)
  end)

  it("is never written by INSERT or UPDATE", function()
    local u = User{ first_name = "Kay", last_name = "Nine" }
    s:add(u)
    s:flush()
    local insert = env.log[#env.log]
    for _, sql in ipairs(env.log) do
      if sql:find("^INSERT") then insert = sql end
    end
    assert.truthy(has(insert, "INSERT INTO ca_users"))
    assert.falsy(has(insert, "full"))
    u.last_name = "Ten"
    s:flush()
    for _, sql in ipairs(env.log) do
      if sql:find("^UPDATE") then
        assert.falsy(has(sql, "full"), sql)
        assert.falsy(has(sql, "post_count"), sql)
      end
    end
    s:commit()
    assert.equal("Kay Ten", u.full)
  end)

  it("is read-only, raising AttributeError naming Model.attr", function()
    local u = by_first(env, "Ada")
    local err = pcall_err(function() u.full = "x" end)
    assert.equal("AttributeError", err.kind)
    assert.truthy(has(err.message, "User.full"))
    assert.equal("Ada Lovelace", u.full)
    err = pcall_err(function() return User{ full = "x" } end)
    assert.truthy(has(err.message, "User.full"))
  end)

  it("is reloaded after expiry, and once a flushed change made it stale", function()
    local u = by_first(env, "Ada")
    assert.equal("Ada Lovelace", u.full)
    s:execute(orm.update(User):where(User.id:eq(u.id)):values{ last_name = "Byron" },
      nil, { synchronize_session = false })
    s:expire(u)
    assert.equal("Ada Byron", u.full)
    -- an unflushed change leaves the loaded value, as in SQLAlchemy
    u.first_name = "Augusta"
    assert.equal("Ada Byron", u.full)
    s:flush()
    assert.equal("Augusta Byron", u.full)
    -- a commit expires it with everything else
    u.last_name = "King"
    s:commit()
    assert.equal("Augusta King", u.full)
    -- refresh
    s:execute(orm.update(User):where(User.id:eq(u.id)):values{ last_name = "Lovelace" },
      nil, { synchronize_session = false })
    s:refresh(u)
    assert.equal("Augusta Lovelace", u.full)
  end)

  it("takes a stale value's replacement from the next query's row", function()
    local u = by_first(env, "Alan")
    assert.equal("Alan Turing", u.full)
    u.last_name = "Mathison"
    s:flush()
    env.log = {}
    local again = s:scalars(orm.select(User):where(User.id:eq(u.id))):one()
    assert.equal(u, again)
    assert.equal("Alan Mathison", u.full)
    assert.equal(1, #env.log, "the query's row held it")
  end)

  it("is nil on a new object until its row exists", function()
    local u = User{ first_name = "Kay", last_name = "Nine" }
    assert.is_nil(u.full)
    s:add(u)
    assert.is_nil(u.full)
    s:flush()
    assert.equal("Kay Nine", u.full)
    assert.equal(0, u.post_count)
  end)

  it("loads on an aliased entity and on eagerly loaded relationships", function()
    local A = orm.aliased(User, "au")
    local a = s:scalars(orm.select(A):where(A.full:eq("Grace Hopper"))):one()
    assert.equal(9900, a.cents)
    local ada = by_first(env, "Ada")
    ada.posts:append(Post{ title = "p1" })
    s:commit()
    s:close()
    env.log = {}
    local p = s:scalars(orm.select(Post):options(orm.joinedload(Post.author))):one()
    local n = #env.log
    assert.equal("Ada Lovelace", p.author.full)
    assert.equal(1, p.author.post_count)
    assert.equal(n, #env.log, "joined load read the column properties too")
    s:close()
    local p2 = s:scalars(orm.select(Post):options(orm.selectinload(Post.author))):one()
    n = #env.log
    assert.equal("Ada Lovelace", p2.author.full)
    assert.equal(n, #env.log, "selectin load read the column properties too")
  end)

  it("must read columns of its own model", function()
    local Base = orm.declarative_base()
    local stray = orm.Column(orm.String(10))
    local err = pcall_err(function()
      Base:model("Bad", {
        __tablename__ = "ca_bad",
        id = orm.Column(orm.Integer, { primary_key = true }),
        name = orm.Column(orm.String(10)),
        shout = orm.column_property(stray .. "!"),
      })
    end)
    assert.truthy(has(err.message, "Bad.shout"))
    err = pcall_err(function() orm.column_property("text") end)
    assert.equal("ArgumentError", err.kind)
  end)
end)

describe("synonym", function()
  local env, User, s
  before_each(function()
    env = setup(); User, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  it("reads and writes the attribute it stands for", function()
    local u = by_first(env, "Ada")
    assert.equal("Ada", u.given_name)
    u.given_name = "Augusta"
    assert.equal("Augusta", u.first_name)
    local n = User{ given_name = "Kay", last_name = "Nine" }
    assert.equal("Kay", n.first_name)
    s:add(n)
    s:commit()
    assert.equal("Augusta", s:scalar(orm.select(User.first_name):where(User.id:eq(u.id))))
  end)

  it("works in SQL and in filter_by", function()
    assert.equal("Turing", s:scalars(orm.select(User):where(User.given_name:eq("Alan"))):one().last_name)
    assert.equal("Hopper", s:scalars(orm.select(User):filter_by{ given_name = "Grace" }):one().last_name)
    local rows = s:execute(orm.select(User.given_name):order_by(User.given_name)):all()
    assert.equal("Ada", rows[1][1])
  end)

  it("must name an attribute of the model", function()
    local Base = orm.declarative_base()
    local err = pcall_err(function()
      Base:model("Syn", {
        __tablename__ = "ca_syn",
        id = orm.Column(orm.Integer, { primary_key = true }),
        alias = orm.synonym("nope"),
      })
    end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "Syn.alias"))
    assert.truthy(has(err.message, "nope"))
  end)
end)

describe("validates", function()
  local env, User, s
  before_each(function()
    env = setup(); User, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  it("runs on every set and may transform the value", function()
    local seen = {}
    User:validates("last_name", function(self, key, value)
      seen[#seen + 1] = key
      return value:upper()
    end)
    local u = by_first(env, "Ada")
    u.last_name = "byron"
    assert.equal("BYRON", u.last_name)
    assert.same({ "last_name" }, seen)
    s:commit()
    assert.equal("BYRON", s:scalar(orm.select(User.last_name):where(User.id:eq(u.id))))
  end)

  it("runs on the constructor's keyword arguments", function()
    User:validates("first_name", "last_name", function(_, key, value)
      return key == "first_name" and value:lower() or value:upper()
    end)
    local u = User{ first_name = "KAY", last_name = "nine", cents = 5 }
    assert.equal("kay", u.first_name)
    assert.equal("NINE", u.last_name)
    assert.equal(5, u.cents)
    -- a synonym writes through the validated column
    u.given_name = "JO"
    assert.equal("jo", u.first_name)
  end)

  it("rejects a value by raising: the old value stays and the caller gets the very value raised", function()
    local E = {}
    User:validates("cents", function(_, _, value)
      if value < 0 then error(E) end
      return value
    end)
    local u = by_first(env, "Ada")
    local ok, err = pcall(function() u.cents = -5 end)
    assert.falsy(ok)
    assert.equal(E, err)
    assert.equal(1500, u.cents)
    assert.falsy(orm.inspect(u).modified)
    s:commit()
    assert.equal(1500, s:scalar(orm.select(User.cents):where(User.id:eq(u.id))))
    -- in the constructor too; a string error keeps its text
    ok, err = pcall(function() return User{ first_name = "Neg", cents = -1 } end)
    assert.falsy(ok)
    assert.equal(E, err)
    User:validates("first_name", function() error("no names today", 0) end)
    ok, err = pcall(function() u.first_name = "x" end)
    assert.equal("no names today", err)
    assert.equal("Ada", u.first_name)
  end)

  it("validates values of rich types on the slow path", function()
    local Base = orm.declarative_base()
    local Doc = Base:model("Doc", {
      __tablename__ = "ca_docs",
      id = orm.Column(orm.Integer, { primary_key = true }),
      data = orm.Column(orm.JSON),
      day = orm.Column(orm.Date),
    })
    Doc:validates("data", function(_, _, v) v.checked = true; return v end)
    Doc:validates("day", function(_, _, v)
      assert(type(v) == "string")
      return v
    end)
    local d = Doc{ data = { a = 1 }, day = "2024-02-03" }
    assert.is_true(d.data.checked)
    assert.equal("2024-02-03", tostring(d.day))
  end)

  it("can be declared before the models a relationship names exist", function()
    local Base = orm.declarative_base()
    local Owner = Base:model("CaOwner", {
      __tablename__ = "ca_owners",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      pets = orm.relationship("CaPet", { back_populates = "owner" }),
    })
    Owner:validates("name", function(_, _, v) return v .. "!" end)
    local err = pcall_err(function() Owner:validates("pets", function() end) end)
    assert.truthy(has(err.message, "relationships"))
    local Pet = Base:model("CaPet", {
      __tablename__ = "ca_pets",
      id = orm.Column(orm.Integer, { primary_key = true }),
      owner_id = orm.Column(orm.Integer, orm.ForeignKey("ca_owners.id")),
      owner = orm.relationship("CaOwner", { back_populates = "pets" }),
    })
    local o = Owner{ name = "Sam", pets = { Pet{} } }
    assert.equal("Sam!", o.name)
    assert.equal(o, o.pets[1].owner)
  end)

  it("rejects bad declarations, naming the model and attribute", function()
    local err = pcall_err(function() User:validates("nope", function() end) end)
    assert.truthy(has(err.message, "User:validates('nope')"))
    err = pcall_err(function() User:validates("posts", function() end) end)
    assert.truthy(has(err.message, "relationships"))
    err = pcall_err(function() User:validates("full", function() end) end)
    assert.truthy(has(err.message, "read-only"))
    err = pcall_err(function() User:validates("cents") end)
    assert.truthy(has(err.message, "User:validates"))
    User:validates("cents", function(_, _, v) return v end)
    err = pcall_err(function() User:validates("cents", function(_, _, v) return v end) end)
    assert.truthy(has(err.message, "already exists"))
  end)
end)

describe("orm.inspect", function()
  local env, User, Post, s
  before_each(function()
    env = setup(); User, Post, s = env.User, env.Post, env.s
  end)
  after_each(function() s:close() end)

  it("tells identity, session and modified", function()
    local u = User{ first_name = "Kay", last_name = "Nine" }
    local i = orm.inspect(u)
    assert.is_nil(i.identity)
    assert.is_nil(i.session)
    assert.is_true(i.transient)
    assert.is_true(i.modified)
    s:add(u)
    assert.is_nil(orm.inspect(u).identity)
    assert.equal(s, orm.inspect(u).session)
    s:flush()
    local key = u.id
    i = orm.inspect(u)
    assert.same({ key }, i.identity)
    assert.is_false(i.modified)
    u.cents = 7
    assert.is_true(orm.inspect(u).modified)
    s:commit()
    assert.is_false(orm.inspect(u).modified)
    s:close()
    assert.is_nil(orm.inspect(u).session)
    assert.is_true(orm.inspect(u).detached)
    assert.same({ key }, orm.inspect(u).identity)
    assert.is_false(orm.inspect(User{}).modified)
  end)

  it("gives a column's history: added, deleted, unchanged", function()
    local u = by_first(env, "Ada")
    local h = orm.inspect(u).attrs.last_name.history
    assert.same({}, h.added)
    assert.same({ "Lovelace" }, h.unchanged)
    assert.same({}, h.deleted)
    u.last_name = "Byron"
    h = orm.inspect(u).attrs.last_name.history
    assert.same({ "Byron" }, h.added)
    assert.same({}, h.unchanged)
    assert.same({ "Lovelace" }, h.deleted)
    -- a synonym reads the state of its attribute
    assert.same({ "Ada" }, orm.inspect(u).attrs.given_name.history.unchanged)
    s:flush()
    h = orm.inspect(u).attrs.last_name.history
    assert.same({ "Byron" }, h.unchanged)
    assert.same({}, h.added)
    local n = User{ first_name = "Kay" }
    assert.same({ "Kay" }, orm.inspect(n).attrs.first_name.history.added)
    assert.same({}, orm.inspect(n).attrs.last_name.history.added)
    -- a column property: the flush of a change expired it (no history until read again)
    assert.same({ added = {}, unchanged = {}, deleted = {} }, orm.inspect(u).attrs.full.history)
    assert.equal("Ada Byron", u.full)
    assert.same({ "Ada Byron" }, orm.inspect(u).attrs.full.history.unchanged)
  end)

  it("gives a collection's history: members added and removed since the last flush", function()
    local ada = by_first(env, "Ada")
    local p1, p2 = Post{ title = "a" }, Post{ title = "b" }
    ada.posts:append(p1)
    ada.posts:append(p2)
    local h = orm.inspect(ada).attrs.posts.history
    assert.equal(2, #h.added)
    assert.equal(p1, h.added[1])
    assert.same({}, h.deleted)
    s:flush()
    h = orm.inspect(ada).attrs.posts.history
    assert.same({}, h.added)
    assert.equal(2, #h.unchanged)
    ada.posts:remove(p1)
    local p3 = Post{ title = "c" }
    ada.posts:append(p3)
    h = orm.inspect(ada).attrs.posts.history
    assert.equal(p3, h.added[1])
    assert.equal(p2, h.unchanged[1])
    assert.equal(p1, h.deleted[1])
    -- a scalar relationship
    local alan = by_first(env, "Alan")
    p2.author = alan
    h = orm.inspect(p2).attrs.author.history
    assert.equal(alan, h.added[1])
    assert.equal(ada, h.deleted[1])
    -- an unloaded relationship has no history (and inspecting loads nothing)
    s:commit()
    local n = #env.log
    h = orm.inspect(alan).attrs.posts.history
    assert.same({ added = {}, unchanged = {}, deleted = {} }, h)
    assert.equal(n, #env.log)
  end)

  it("gives attribute values, loaded values and unloaded keys", function()
    local u = by_first(env, "Grace")
    local a = orm.inspect(u).attrs
    assert.equal("Grace", a.first_name.value)
    assert.equal("Grace Hopper", a.full.loaded_value)
    assert.equal("first_name", a.first_name.key)
    s:expire(u)
    assert.is_nil(orm.inspect(u).attrs.first_name.loaded_value)
    local unloaded = orm.inspect(u).unloaded
    table.sort(unloaded)
    assert.same({ "cents", "first_name", "full", "id", "last_name", "post_count", "posts" }, unloaded)
    assert.equal("Grace", orm.inspect(u).attrs.first_name.value)
  end)

  it("lists every kind of attribute of a model", function()
    local m = orm.inspect(User)
    local kinds = {}
    for k, a in pairs(m.attrs) do kinds[k] = a.kind end
    assert.same({
      id = "column", first_name = "column", last_name = "column", cents = "column",
      full = "column_property", post_count = "column_property",
      posts = "relationship",
      full_name = "hybrid_property", dollars = "hybrid_property",
      richer_than = "hybrid_method", scaled = "hybrid_method",
      given_name = "synonym",
    }, kinds)
    assert.equal("first_name", m.attrs.given_name.name)
    assert.is_true(m.attrs.dollars.writable)
    assert.is_false(m.attrs.full_name.writable)
    assert.equal("ONETOMANY", m.attrs.posts.direction)
    local cols = {}
    for k in pairs(m.column_attrs) do cols[#cols + 1] = k end
    table.sort(cols)
    assert.same({ "cents", "first_name", "full", "id", "last_name", "post_count" }, cols)
    assert.equal("first_name", next(m.synonyms) and m.synonyms.given_name.name)
    -- columns keep their own list, without the computed attributes
    assert.equal(4, #m.columns)
  end)
end)

describe("computed attributes: bad input", function()
  it("names the constructor and what it expected", function()
    local err = pcall_err(function() orm.hybrid_property(1) end)
    assert.truthy(has(err.message, "orm.hybrid_property() expects a function"))
    err = pcall_err(function() orm.hybrid_method(function() end):setter(function() end) end)
    assert.truthy(has(err.message, "hybrid_method has no setter"))
    err = pcall_err(function() orm.hybrid_property(function() end):expression("x") end)
    assert.truthy(has(err.message, ":expression() expects a function"))
    err = pcall_err(function() orm.synonym() end)
    assert.truthy(has(err.message, "orm.synonym()"))
    err = pcall_err(function() orm.hybrid_property(function() end, function() end) end)
    assert.truthy(has(err.message, ":setter(fn)"))
  end)

  it("refuses computed attributes assigned to a class after declaration", function()
    local env = setup()
    local err = pcall_err(function()
      env.User.late = orm.hybrid_property(function(self) return self.id end)
    end)
    assert.truthy(has(err.message, "User.late"))
    err = pcall_err(function() env.User.full_name = function() end end)
    assert.truthy(has(err.message, "User.full_name"))
    env.s:close()
  end)

  it("inherits hybrids and column properties from abstract bases and mixins", function()
    local Base = orm.declarative_base()
    local Named = {
      label = orm.hybrid_property(function(self) return "#" .. self.id end)
        :expression(function(cls) return orm.literal("#") .. cls.id end),
    }
    local Common = Base:model("CaCommon", {
      __abstract__ = true,
      id = orm.Column(orm.Integer, { primary_key = true }),
      twice = orm.hybrid_method(function(self) return self.id * 2 end),
    })
    local Item = Common:model("CaItem", {
      __tablename__ = "ca_items",
      __mixins__ = { Named },
      name = orm.Column(orm.String(10)),
    })
    local engine = orm.create_engine("sqlite://")
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add(Item{ id = 4, name = "x" })
    s:commit()
    local it_ = s:scalars(orm.select(Item):where(Item:twice():eq(8))):one()
    assert.equal("#4", it_.label)
    assert.equal(8, it_:twice())
    assert.equal("#4", s:scalar(orm.select(Item.label)))
    s:close()
  end)
end)

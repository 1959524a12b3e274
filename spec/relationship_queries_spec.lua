-- Relationships in queries: joins along a relationship (:join(User.posts), :outerjoin,
-- :join(alias, User.posts), many-to-many through the secondary table), the correlated
-- EXISTS of :any() / :has(), comparing a relationship with an object (:eq, :ne,
-- :contains) and orm.with_parent. Every test compares real rows.
local orm = require("lualchemy")

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

-- users: ann (posts a1 "lua", a2 "sql"), bob (post b1 "lua"), cy (none)
-- tags:  post a1 -> lua, orm; b1 -> lua
-- staff: boss <- (mid <- low)
local function setup()
  local env = {}
  env.engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local post_tags = orm.Table("rq_post_tags", Base.metadata,
    orm.Column("post_id", orm.Integer, orm.ForeignKey("rq_posts.id"), { primary_key = true }),
    orm.Column("tag_id", orm.Integer, orm.ForeignKey("rq_tags.id"), { primary_key = true }))
  env.User = Base:model("User", {
    __tablename__ = "rq_users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    posts = orm.relationship("Post", { back_populates = "author", order_by = "Post.id" }),
  })
  env.Post = Base:model("Post", {
    __tablename__ = "rq_posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(30)),
    topic = orm.Column(orm.String(30)),
    author_id = orm.Column(orm.Integer, orm.ForeignKey("rq_users.id")),
    author = orm.relationship("User", { back_populates = "posts" }),
    tags = orm.relationship("Tag", { secondary = post_tags, back_populates = "posts" }),
  })
  env.Tag = Base:model("Tag", {
    __tablename__ = "rq_tags",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    posts = orm.relationship("Post", { secondary = "rq_post_tags", back_populates = "tags" }),
  })
  env.Staff = Base:model("Staff", {
    __tablename__ = "rq_staff",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    boss_id = orm.Column(orm.Integer, orm.ForeignKey("rq_staff.id")),
    boss = orm.relationship("Staff", { remote_side = "id", backref = "reports" }),
  })
  Base.metadata:create_all(env.engine)
  local s = orm.Session(env.engine)
  env.s = s
  local User, Post, Tag, Staff = env.User, env.Post, env.Tag, env.Staff
  local lua, o = Tag{ name = "lua" }, Tag{ name = "orm" }
  local ann = User{ name = "ann", posts = {
    Post{ title = "a1", topic = "lua", tags = { lua, o } },
    Post{ title = "a2", topic = "sql" } } }
  local bob = User{ name = "bob", posts = { Post{ title = "b1", topic = "lua", tags = { lua } } } }
  local boss = Staff{ name = "boss" }
  local mid = Staff{ name = "mid", boss = boss }
  Staff{ name = "low", boss = mid }
  s:add_all({ ann, bob, User{ name = "cy" }, boss })
  s:commit()
  function env.names(stmt)
    local out = {}
    for _, x in ipairs(s:scalars(stmt):all()) do out[#out + 1] = x.name or x.title end
    return out
  end
  function env.one(M, name)
    local col = M == env.Post and M.title or M.name
    return s:scalars(orm.select(M):where(col:eq(name))):one()
  end
  return env
end

describe("joins along a relationship", function()
  local env, User, Post, Tag
  before_each(function() env = setup(); User, Post, Tag = env.User, env.Post, env.Tag end)

  it(":join(User.posts) joins on the relationship's foreign key", function()
    local stmt = orm.select(User):join(User.posts):where(Post.topic:eq("lua")):order_by(User.id)
    assert.truthy(has(tostring(stmt), "JOIN rq_posts ON rq_users.id = rq_posts.author_id"), tostring(stmt))
    assert.same({ "ann", "bob" }, env.names(stmt))
  end)
  it(":join(Post.author) goes the other way", function()
    local stmt = orm.select(Post):join(Post.author):where(User.name:eq("ann")):order_by(Post.id)
    assert.same({ "a1", "a2" }, env.names(stmt))
  end)
  it(":outerjoin keeps parents without children", function()
    local stmt = orm.select(User.name, orm.func.count(Post.id)):outerjoin(User.posts)
      :group_by(User.id):order_by(User.id)
    local got = {}
    for _, r in ipairs(env.s:execute(stmt):all()) do got[#got + 1] = r[1] .. "=" .. r[2] end
    assert.same({ "ann=2", "bob=1", "cy=0" }, got)
  end)
  it("many-to-many joins through the secondary table", function()
    local stmt = orm.select(Post):join(Post.tags):where(Tag.name:eq("lua")):order_by(Post.id)
    assert.truthy(has(tostring(stmt), "JOIN rq_post_tags ON"), tostring(stmt))
    assert.same({ "a1", "b1" }, env.names(stmt))
  end)
  it(":join(alias, User.posts) joins the relationship to an alias", function()
    local p = orm.aliased(Post, "p")
    local stmt = orm.select(User):join(p, User.posts):where(p.title:eq("b1"))
    assert.truthy(has(tostring(stmt), "JOIN rq_posts AS p ON rq_users.id = p.author_id"), tostring(stmt))
    assert.same({ "bob" }, env.names(stmt))
    local err = pcall_err(function() return orm.select(User):join(Tag, User.posts) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "User.posts"), err.message)
  end)
  it("the legacy query joins along a relationship too", function()
    local got = env.s:query(User):join(User.posts):filter(Post.title:eq("a2")):all()
    assert.equal(1, #got)
    assert.equal("ann", got[1].name)
  end)
end)

describe("any / has", function()
  local env, User, Post, Tag, Staff
  before_each(function() env = setup(); User, Post, Tag, Staff = env.User, env.Post, env.Tag, env.Staff end)

  it("User.posts:any() without criterion: parents with any child", function()
    assert.same({ "ann", "bob" }, env.names(orm.select(User):where(User.posts:any()):order_by(User.id)))
    assert.same({ "cy" }, env.names(orm.select(User):where(orm.not_(User.posts:any()))))
  end)
  it("User.posts:any(cond) is a correlated EXISTS", function()
    local stmt = orm.select(User):where(User.posts:any(Post.topic:eq("sql")))
    local sql = tostring(stmt)
    assert.truthy(has(sql, "EXISTS (SELECT"), sql)
    assert.truthy(has(sql, "FROM rq_posts \nWHERE"), sql) -- the users table is correlated
    assert.same({ "ann" }, env.names(stmt))
  end)
  it("Post.author:has(cond)", function()
    assert.same({ "b1" }, env.names(orm.select(Post):where(Post.author:has(User.name:eq("bob")))))
  end)
  it("many-to-many any goes through the secondary table", function()
    assert.same({ "a1" }, env.names(orm.select(Post):where(Post.tags:any(Tag.name:eq("orm")))))
    assert.same({ "lua" }, env.names(orm.select(Tag):where(Tag.posts:any(Post.title:eq("b1")))))
  end)
  it("self-referential any reads the related rows through an alias", function()
    assert.same({ "boss", "mid" }, env.names(orm.select(Staff):where(Staff.reports:any()):order_by(Staff.id)))
    assert.same({ "mid" }, env.names(orm.select(Staff):where(Staff.reports:any(Staff.name:eq("low")))))
    assert.same({ "low" }, env.names(orm.select(Staff):where(Staff.boss:has(Staff.name:eq("mid")))))
  end)
  it("refuses any() on a scalar and has() on a collection", function()
    local err = pcall_err(function() return Post.author:any() end)
    assert.truthy(has(err.message, "Post.author"), err.message)
    err = pcall_err(function() return User.posts:has() end)
    assert.truthy(has(err.message, "User.posts"), err.message)
  end)
end)

describe("comparing with objects", function()
  local env, User, Post, Tag
  before_each(function() env = setup(); User, Post, Tag = env.User, env.Post, env.Tag end)

  it("Post.author:eq(user) compares the foreign key with the user's key", function()
    local ann = env.one(User, "ann")
    local stmt = orm.select(Post):where(Post.author:eq(ann)):order_by(Post.id)
    assert.truthy(has(tostring(stmt), "rq_posts.author_id = ?"), tostring(stmt))
    assert.same({ "a1", "a2" }, env.names(stmt))
  end)
  it(":eq(nil) is IS NULL, :ne(obj) also matches NULL keys", function()
    env.s:add(Post{ title = "orphan" })
    env.s:flush()
    assert.same({ "orphan" }, env.names(orm.select(Post):where(Post.author:eq(nil))))
    local ann = env.one(User, "ann")
    assert.same({ "b1", "orphan" }, env.names(orm.select(Post):where(Post.author:ne(ann)):order_by(Post.id)))
  end)
  it("a pending object is flushed first so it has a key", function()
    local dan = User{ name = "dan" }
    env.s:add(dan)
    local p = Post{ title = "d1", author = dan }
    env.s:add(p)
    assert.same({ "d1" }, env.names(orm.select(Post):where(Post.author:eq(dan))))
  end)
  it("User.posts:contains(post) and many-to-many contains", function()
    local b1 = env.one(Post, "b1")
    assert.same({ "bob" }, env.names(orm.select(User):where(User.posts:contains(b1))))
    local lua = env.one(Tag, "lua")
    assert.same({ "a1", "b1" }, env.names(orm.select(Post):where(Post.tags:contains(lua)):order_by(Post.id)))
  end)
  it("refuses objects of the wrong model and non-objects", function()
    local lua = env.one(Tag, "lua")
    local err = pcall_err(function() return Post.author:eq(lua) end)
    assert.truthy(has(err.message, "Post.author") and has(err.message, "User"), err.message)
    err = pcall_err(function() return Post.author:eq(5) end)
    assert.truthy(has(err.message, "Post.author"), err.message)
    err = pcall_err(function() return User.posts:eq(lua) end)
    assert.truthy(has(err.message, "contains"), err.message)
  end)
end)

describe("with_parent", function()
  local env, User, Post, Tag
  before_each(function() env = setup(); User, Post, Tag = env.User, env.Post, env.Tag end)

  it("selects a parent's related rows", function()
    local ann = env.one(User, "ann")
    local stmt = orm.select(Post):where(orm.with_parent(ann, User.posts)):order_by(Post.id)
    assert.same({ "a1", "a2" }, env.names(stmt))
    assert.same({ "a2" }, env.names(stmt:where(Post.topic:eq("sql"))))
  end)
  it("works through a secondary table and for a many-to-one", function()
    local a1 = env.one(Post, "a1")
    assert.same({ "lua", "orm" }, env.names(orm.select(Tag):where(orm.with_parent(a1, Post.tags)):order_by(Tag.id)))
    assert.same({ "ann" }, env.names(orm.select(User):where(orm.with_parent(a1, Post.author))))
  end)
  it("checks its arguments", function()
    local a1 = env.one(Post, "a1")
    local err = pcall_err(function() return orm.with_parent(a1, User.posts) end)
    assert.truthy(has(err.message, "User.posts") and has(err.message, "Post"), err.message)
    err = pcall_err(function() return orm.with_parent(a1, User.name) end)
    assert.truthy(has(err.message, "relationship"), err.message)
  end)
end)

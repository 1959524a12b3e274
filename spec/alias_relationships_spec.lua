-- Relationship attributes on an alias (orm.aliased(User).posts), and :of_type(alias) aiming
-- a relationship at an alias of its target, as SQLAlchemy 2.0's (checked against it): joins
-- from the alias's rows, :any() / :has() correlated to the alias (the related rows read
-- from the target's own table, self-referential ones included), comparisons with an
-- object, orm.with_parent, and loader options along them. Every test compares real rows.
local orm = require("lualchemy")

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

-- nodes: root <- a <- b ; root <- c
-- users: ann (posts p1 [t1, t2], p2 []), bob (post p3 [t1]), cy (none)
local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  local post_tags = orm.Table("ar_post_tags", Base.metadata,
    orm.Column("post_id", orm.Integer, orm.ForeignKey("ar_posts.id"), { primary_key = true }),
    orm.Column("tag_id", orm.Integer, orm.ForeignKey("ar_tags.id"), { primary_key = true }))
  env.Node = Base:model("Node", {
    __tablename__ = "ar_nodes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("ar_nodes.id")),
    parent = orm.relationship("Node", { remote_side = "id", back_populates = "children" }),
    children = orm.relationship("Node", { back_populates = "parent", order_by = "Node.id" }),
  })
  env.User = Base:model("User", {
    __tablename__ = "ar_users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    posts = orm.relationship("Post", { back_populates = "author", order_by = "Post.id" }),
  })
  env.Post = Base:model("Post", {
    __tablename__ = "ar_posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(30)),
    user_id = orm.Column(orm.Integer, orm.ForeignKey("ar_users.id")),
    author = orm.relationship("User", { back_populates = "posts" }),
    tags = orm.relationship("Tag", { secondary = post_tags, order_by = "Tag.id" }),
  })
  env.Tag = Base:model("Tag", {
    __tablename__ = "ar_tags",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
  })
  Base.metadata:create_all(env.engine)
  local s = orm.Session(env.engine)
  env.s = s
  local Node, User, Post, Tag = env.Node, env.User, env.Post, env.Tag
  local root = Node{ name = "root" }
  local a = Node{ name = "a", parent = root }
  Node{ name = "b", parent = a }
  Node{ name = "c", parent = root }
  local t1, t2 = Tag{ name = "t1" }, Tag{ name = "t2" }
  s:add_all({ root,
    User{ name = "ann", posts = { Post{ title = "p1", tags = { t1, t2 } }, Post{ title = "p2" } } },
    User{ name = "bob", posts = { Post{ title = "p3", tags = { t1 } } } },
    User{ name = "cy" } })
  s:commit()
  function env.node(name) return s:scalars(orm.select(Node):where(Node.name:eq(name))):one() end
  function env.names(stmt)
    local out = {}
    for _, x in ipairs(s:scalars(stmt):all()) do out[#out + 1] = x.name or x.title end
    return out
  end
  function env.rows(n, stmt)
    local out = {}
    for _, r in ipairs(s:execute(stmt):all()) do
      local t = {}
      for i = 1, n do t[i] = r[i] == nil and "" or tostring(r[i]) end
      out[#out + 1] = table.concat(t, "/")
    end
    return out
  end
  function env.selects()
    local n = 0
    for _, sql in ipairs(env.log) do if sql:find("^%s*SELECT") then n = n + 1 end end
    return n
  end
  return env
end

describe("relationship attributes on an alias: joins", function()
  local env, Node, User, Post, Tag
  before_each(function()
    env = setup()
    Node, User, Post, Tag = env.Node, env.User, env.Post, env.Tag
  end)

  it("joins from the alias's rows (:join(A.posts), :outerjoin)", function()
    local A = orm.aliased(User, "a")
    assert.same({ "ann/p1", "ann/p2", "bob/p3" },
      env.rows(2, orm.select(A.name, Post.title):join(A.posts):order_by(Post.id)))
    assert.same({ "ann/p1", "ann/p2", "bob/p3", "cy/" },
      env.rows(2, orm.select(A.name, Post.title):outerjoin(A.posts):order_by(A.id, Post.id)))
    -- the entities are the alias's
    assert.same({ "ann", "ann", "bob" }, env.names(orm.select(A):join(A.posts):order_by(Post.id)))
  end)

  it("joins a self-referential relationship to an alias with :of_type", function()
    local P = orm.aliased(Node, "p")
    local N2 = orm.aliased(Node, "n2")
    assert.same({ "a/root", "b/a", "c/root" },
      env.rows(2, orm.select(Node.name, P.name):join(Node.parent:of_type(P)):order_by(Node.name)))
    assert.same({ "b/a/root" },
      env.rows(3, orm.select(Node.name, P.name, N2.name)
        :join(Node.parent:of_type(P)):join(P.parent:of_type(N2))))
    -- the other direction: a parent alias's children as a second alias
    local C = orm.aliased(Node, "c")
    assert.same({ "a/root/a", "a/root/c", "b/a/b", "c/root/a", "c/root/c" },
      env.rows(3, orm.select(Node.name, P.name, C.name)
        :join(P, Node.parent_id:eq(P.id)):join(P.children:of_type(C)):order_by(Node.name, C.name)))
    -- an outer join to the alias keeps the root
    assert.same({ "a/root", "b/a", "c/root", "root/" },
      env.rows(2, orm.select(Node.name, P.name):outerjoin(Node.parent:of_type(P)):order_by(Node.name)))
  end)

  it("joins two aliases of one class along their relationships in one statement", function()
    local U1, U2 = orm.aliased(User, "u1"), orm.aliased(User, "u2")
    local P1, P2 = orm.aliased(Post, "p1"), orm.aliased(Post, "p2")
    assert.same({ "ann/bob/p1/p3" },
      env.rows(4, orm.select(U1.name, U2.name, P1.title, P2.title)
        :join(U1.posts:of_type(P1)):join(U2, U2.id:ne(U1.id))
        :join(U2.posts:of_type(P2)):where(P1.title:eq("p1")):order_by(U2.id)))
    -- many-to-many from two aliases: the secondary table joins in once for each
    local T1, T2 = orm.aliased(Tag, "x1"), orm.aliased(Tag, "x2")
    assert.same({ "p1/p3/t1" },
      env.rows(3, orm.select(P1.title, P2.title, T1.name)
        :join(P1.tags:of_type(T1)):join(P2, P2.id:ne(P1.id)):join(P2.tags:of_type(T2))
        :where(T1.id:eq(T2.id)):where(P1.title:eq("p1"))))
  end)

  it("joins to a given alias along an alias's relationship (:join(target, A.posts))", function()
    local A, PA = orm.aliased(User, "a"), orm.aliased(Post, "pa")
    assert.same({ "ann/p1", "ann/p2", "bob/p3" },
      env.rows(2, orm.select(A.name, PA.title):join(PA, A.posts):order_by(PA.id)))
  end)

  it("refuses :of_type with an alias of another class, naming both", function()
    local err = pcall_err(function() return Node.parent:of_type(orm.aliased(User, "u")) end)
    assert.truthy(err:find("Node.parent:of_type(): expected an orm.aliased() of Node, got aliased(User, name='u')", 1, true), err)
    local A = orm.aliased(User, "a")
    err = pcall_err(function() return A.nope end)
    assert.truthy(err:find("aliased(User, name='a') has no attribute 'nope'", 1, true), err)
    assert.equal("aliased(User, name='a').posts", tostring(A.posts))
  end)
end)

describe("relationship attributes on an alias: criteria", function()
  local env, Node, User, Post, Tag
  before_each(function()
    env = setup()
    Node, User, Post, Tag = env.Node, env.User, env.Post, env.Tag
  end)

  it(":any() and :has() correlate to the alias", function()
    local A = orm.aliased(User, "a")
    assert.same({ "ann" }, env.names(orm.select(A):where(A.posts:any(Post.title:eq("p2")))))
    assert.same({ "ann", "bob" }, env.names(orm.select(A):where(A.posts:any()):order_by(A.id)))
    assert.same({ "cy" }, env.names(orm.select(A):where(orm.not_(A.posts:any()))))
    local PA = orm.aliased(Post, "pa")
    assert.same({ "p3" }, env.names(orm.select(PA):where(PA.author:has(User.name:eq("bob")))))
    assert.same({ "p1", "p3" }, env.names(orm.select(PA):where(PA.tags:any(Tag.name:eq("t1"))):order_by(PA.id)))
  end)

  it("self-referential :any() / :has() on an alias read the related rows from the table", function()
    local P = orm.aliased(Node, "p")
    assert.same({ "a" }, env.names(orm.select(P):where(P.children:any(Node.name:eq("b")))))
    -- a criterion on the alias itself stays on the alias's row
    assert.same({ "root" }, env.names(orm.select(P):where(P.children:any(P.name:eq("root")))))
    assert.same({ "a", "c" }, env.names(orm.select(P):where(P.parent:has(Node.name:eq("root"))):order_by(P.name)))
    -- the alias beside its class: nodes whose parent has a child named c
    assert.same({ "a", "c" }, env.names(orm.select(Node):join(Node.parent:of_type(P))
      :where(P.children:any(Node.name:eq("c"))):order_by(Node.name)))
  end)

  it("compares a scalar relationship and a collection with an object", function()
    local P = orm.aliased(Node, "p")
    local root, a = env.node("root"), env.node("a")
    assert.same({ "a", "c" }, env.names(orm.select(P):where(P.parent:eq(root)):order_by(P.name)))
    assert.same({ "b", "root" }, env.names(orm.select(P):where(P.parent:ne(root)):order_by(P.name)))
    assert.same({ "root" }, env.names(orm.select(P):where(P.parent:eq(nil))))
    assert.same({ "root" }, env.names(orm.select(P):where(P.children:contains(a))))
    local PA = orm.aliased(Post, "pa")
    local t2 = env.s:scalars(orm.select(Tag):where(Tag.name:eq("t2"))):one()
    assert.same({ "p1" }, env.names(orm.select(PA):where(PA.tags:contains(t2))))
  end)

  it("orm.with_parent along an alias's relationship, and :of_type aims it at an alias", function()
    local P = orm.aliased(Node, "p")
    local root = env.node("root")
    -- the criterion is on the target's rows; the alias the attribute is read on takes no part
    assert.same({ "a", "c" }, env.names(orm.select(Node):where(orm.with_parent(root, P.children)):order_by(Node.name)))
    assert.same({ "a", "c" }, env.names(orm.select(P):where(orm.with_parent(root, Node.children:of_type(P))):order_by(P.name)))
  end)
end)

describe("relationship attributes on an alias: loader options", function()
  local env, Node, User, Post
  before_each(function()
    env = setup()
    Node, User, Post = env.Node, env.User, env.Post
  end)

  local function titles(u)
    local out = {}
    for _, p in ipairs(u.posts:all()) do out[#out + 1] = p.title end
    return table.concat(out, ",")
  end

  for _, loader in ipairs({ "joinedload", "selectinload" }) do
    it(loader .. "(A.posts) on a query of the alias", function()
      local A = orm.aliased(User, "a")
      env.log = {}
      local users = env.s:scalars(orm.select(A):options(orm[loader](A.posts)):order_by(A.id)):unique():all()
      local before = env.selects()
      assert.same({ "p1,p2", "p3", "" }, { titles(users[1]), titles(users[2]), titles(users[3]) })
      assert.equal(before, env.selects())
    end)
  end

  it("contains_eager(A.posts) fills the collection from the statement's join", function()
    local A = orm.aliased(User, "a")
    env.log = {}
    local users = env.s:scalars(orm.select(A):join(A.posts):where(Post.title:ne("p2"))
      :options(orm.contains_eager(A.posts)):order_by(A.id)):unique():all()
    assert.same({ "p1", "p3" }, { titles(users[1]), titles(users[2]) })
    assert.equal(1, env.selects())
  end)

  it("contains_eager(Node.parent:of_type(P)) fills a self-referential many-to-one from the alias", function()
    local P = orm.aliased(Node, "p")
    env.log = {}
    local nodes = env.s:scalars(orm.select(Node):join(Node.parent:of_type(P)):where(P.name:eq("a"))
      :options(orm.contains_eager(Node.parent:of_type(P)))):all()
    assert.equal(1, #nodes)
    assert.equal("b", nodes[1].name)
    assert.equal("a", nodes[1].parent.name)
    assert.equal(1, env.selects())
  end)
end)

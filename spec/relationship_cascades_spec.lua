-- The merge, expunge and refresh-expire cascades (save-update, delete and delete-orphan
-- are in relationships_spec.lua and relationship_graphs_spec.lua), and what expiry does to
-- relationships: they load again on next access.
local orm = require("lualchemy")

local function setup(cascade)
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.User = Base:model("User", {
    __tablename__ = "ca_users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    posts = orm.relationship("Post", { back_populates = "author", cascade = cascade, order_by = "Post.id" }),
  })
  env.Post = Base:model("Post", {
    __tablename__ = "ca_posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(30)),
    user_id = orm.Column(orm.Integer, orm.ForeignKey("ca_users.id")),
    author = orm.relationship("User", { back_populates = "posts" }),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  local s = env.s
  s:add(env.User{ id = 1, name = "ann", posts = { env.Post{ id = 1, title = "a1" }, env.Post{ id = 2, title = "a2" } } })
  s:commit()
  function env.selects()
    local n = 0
    for _, q in ipairs(env.log) do if q:find("^SELECT") then n = n + 1 end end
    return n
  end
  function env.titles(list)
    local out = {}
    for i = 1, #list do out[#out + 1] = list[i].title end -- a collection too, on every Lua
    return out
  end
  return env
end

describe("merge cascade", function()
  it("merges the related objects a detached graph has loaded (the default cascade)", function()
    local env = setup()
    local s, User, Post = env.s, env.User, env.Post
    local u = s:get(User, 1)
    assert.equal(2, #u.posts)
    s:expunge_all()
    -- edit the detached graph, then merge it into a new session
    u.name = "ann2"
    u.posts[1].title = "a1-edited"
    u.posts:append(Post{ id = 3, title = "a3" })
    local s2 = orm.Session(env.engine)
    local m = s2:merge(u)
    assert.are_not.equal(u, m)
    assert.equal("ann2", m.name)
    assert.same({ "a1-edited", "a2", "a3" }, env.titles(m.posts))
    assert.equal(m, m.posts[3].author)
    assert.truthy(orm.inspect(m.posts[3]).pending)
    s2:commit()
    local rows = s2:execute(orm.text("SELECT id, title, user_id FROM ca_posts ORDER BY id")):all()
    assert.equal(3, #rows)
    assert.equal("a1-edited", rows[1][2])
    assert.equal(1, rows[3][3])
    -- the detached originals are untouched by the merge
    assert.truthy(orm.inspect(u).detached)
  end)

  it("a graph that loops back merges each object once", function()
    local env = setup()
    local s, User = env.s, env.User
    local u = s:get(User, 1)
    local p = u.posts[1]
    assert.equal(u, p.author)
    s:expunge_all()
    local s2 = orm.Session(env.engine)
    local mp = s2:merge(p)
    assert.equal(mp.author, s2:get(User, 1))
    assert.equal(mp, mp.author.posts[1])
    assert.equal(2, #mp.author.posts)
  end)

  it("cascade = 'save-update' alone does not merge the children", function()
    local env = setup("save-update")
    local s, User = env.s, env.User
    local u = s:get(User, 1)
    assert.equal(2, #u.posts)
    s:expunge_all()
    u.posts[1].title = "changed"
    local s2 = orm.Session(env.engine)
    local m = s2:merge(u)
    assert.equal("a1", m.posts[1].title) -- loaded from the database, not merged
  end)
end)

describe("expunge cascade", function()
  it("'all' takes the loaded children out of the session with the parent", function()
    local env = setup("all")
    local s, User = env.s, env.User
    local u = s:get(User, 1)
    local p1, p2 = u.posts[1], u.posts[2]
    s:expunge(u)
    assert.truthy(orm.inspect(u).detached)
    assert.truthy(orm.inspect(p1).detached)
    assert.truthy(orm.inspect(p2).detached)
    p1.title = "changed"
    assert.falsy(s.dirty:contains(p1)) -- no longer the session's
  end)
  it("the default cascade leaves them", function()
    local env = setup()
    local s, User = env.s, env.User
    local u = s:get(User, 1)
    local p1 = u.posts[1]
    s:expunge(u)
    assert.truthy(orm.inspect(u).detached)
    assert.truthy(orm.inspect(p1).persistent)
    p1.title = "changed"
    assert.truthy(s.dirty:contains(p1)) -- still the session's
  end)
end)

describe("refresh-expire cascade and expiry of relationships", function()
  it("expire resets a relationship: it loads again, seeing other sessions' rows", function()
    local env = setup()
    local s, User, Post = env.s, env.User, env.Post
    local u = s:get(User, 1)
    assert.equal(2, #u.posts)
    local other = orm.Session(env.engine)
    other:add(Post{ id = 9, title = "from-other", user_id = 1 })
    other:commit()
    assert.equal(2, #u.posts) -- still the loaded collection
    s:expire(u)
    assert.same({ "a1", "a2", "from-other" }, env.titles(u.posts))
  end)
  it("session:expire(obj, { 'posts' }) expires that relationship only", function()
    local env = setup()
    local s, User, Post = env.s, env.User, env.Post
    local u = s:get(User, 1)
    assert.equal(2, #u.posts)
    local other = orm.Session(env.engine)
    other:add(Post{ id = 9, title = "from-other", user_id = 1 })
    other:commit()
    s:expire(u, { "posts" })
    assert.equal(3, #u.posts)
    local ok, err = pcall(function() s:expire(u, { "nope" }) end)
    assert.falsy(ok)
    assert.truthy(err.message:find("nope", 1, true), err.message)
  end)
  it("commit expires relationships too", function()
    local env = setup()
    local s, User, Post = env.s, env.User, env.Post
    local u = s:get(User, 1)
    assert.equal(2, #u.posts)
    local other = orm.Session(env.engine)
    other:add(Post{ id = 9, title = "from-other", user_id = 1 })
    other:commit()
    s:commit()
    assert.equal(3, #u.posts)
  end)
  it("'all' expires and refreshes the loaded children with the parent", function()
    local env = setup("all")
    local s, User = env.s, env.User
    local u = s:get(User, 1)
    local p1 = u.posts[1]
    p1.title = "unsaved"
    s:refresh(u)
    -- the child's unflushed change is gone: it reloads from its row
    assert.equal("a1", p1.title)
  end)
  it("without it, refreshing the parent leaves the children", function()
    local env = setup()
    local s, User = env.s, env.User
    local u = s:get(User, 1)
    local p1 = u.posts[1]
    p1.title = "unsaved"
    s:refresh(u)
    assert.equal("unsaved", p1.title)
  end)
end)

describe("orm.inspect(Model).relationships", function()
  it("lists each relationship in order and by key, with its configuration", function()
    local env = setup("all, delete-orphan")
    local rels = orm.inspect(env.User).relationships
    assert.equal(1, #rels)
    local posts = rels.posts
    assert.equal(rels[1], posts)
    assert.equal("posts", posts.key)
    assert.equal(env.Post, posts.target)
    assert.equal("ONETOMANY", posts.direction)
    assert.truthy(posts.uselist)
    assert.equal("author", posts.back_populates)
    assert.equal("select", posts.lazy)
    assert.truthy(posts.cascade["delete-orphan"] and posts.cascade.delete and posts.cascade.merge)
    local author = orm.inspect(env.Post).relationships.author
    assert.equal("MANYTOONE", author.direction)
    assert.falsy(author.uselist)
    assert.equal(env.User, author.target)
    assert.falsy(author.cascade.delete)
    assert.truthy(author.cascade["save-update"])
  end)
end)

-- Relationship loading strategies and loader options: the relationship defaults (lazy
-- "select", "joined", "selectin", "raise", "noload") and the per-statement options
-- (joinedload, selectinload and their chains, lazyload, raiseload, noload, contains_eager,
-- load_only, defer, undefer), on one-to-many, many-to-one, one-to-one, many-to-many and
-- self-referential relationships; selectin batching; LIMIT with joined collections; the
-- legacy Query; objects already in the identity map; detached objects; bad input.
-- Every test compares the objects really loaded and, where a strategy promises a number
-- of statements, counts the SELECTs the engine ran (through the echo callback; BEGIN and
-- other statements are not counted). SQLAlchemy 2.0's documented behaviour is the reference.
local orm = require("lualchemy")

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

-- `field` of every object of a collection, in order
local function fields(coll, field)
  local out = {}
  for x in coll:iter() do out[#out + 1] = x[field] end
  return out
end

-- `field` of every object of a plain Lua array
local function fields_of(list, field)
  local out = {}
  for i = 1, #list do out[i] = list[i][field] end -- a collection too, on every Lua
  return out
end

local function titles(coll) return fields(coll, "title") end
local unpack = table.unpack or unpack

-- The data every test starts from (ids fixed):
--   users    1 ann "ann bio" (profile "hi"), 2 bob "bob bio", 3 cy "cy bio"
--   posts    1 "a2" ann, 2 "a1" ann, 3 "b1" bob, 4 "o1" (no author)
--            (User.posts is ordered by title: ann's are a1, a2, against their ids)
--   comments 1 "c1" a1, 2 "c2" a1, 3 "c3" b1
--   tags     1 "tech", 2 "news"; a1 has tech and news (ordered by name: news, tech),
--            b1 has tech
-- `lazy` sets relationship defaults: { posts =, author =, comments =, tags =, profile = }.
local function setup(lazy)
  lazy = lazy or {}
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  local post_tags = orm.Table("post_tags", Base.metadata,
    orm.Column("post_id", orm.Integer, orm.ForeignKey("posts.id"), { primary_key = true }),
    orm.Column("tag_id", orm.Integer, orm.ForeignKey("tags.id"), { primary_key = true }))
  env.User = Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    bio = orm.Column(orm.String(100)),
    posts = orm.relationship("Post", { back_populates = "author", order_by = "title", lazy = lazy.posts }),
    profile = orm.relationship("Profile", { uselist = false, back_populates = "user", lazy = lazy.profile }),
  })
  env.Post = Base:model("Post", {
    __tablename__ = "posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(30)),
    user_id = orm.Column(orm.Integer, orm.ForeignKey("users.id")),
    author = orm.relationship("User", { back_populates = "posts", lazy = lazy.author }),
    comments = orm.relationship("Comment", { back_populates = "post", order_by = "id", lazy = lazy.comments }),
    tags = orm.relationship("Tag", { secondary = post_tags, order_by = "name", lazy = lazy.tags }),
  })
  env.Comment = Base:model("Comment", {
    __tablename__ = "comments",
    id = orm.Column(orm.Integer, { primary_key = true }),
    body = orm.Column(orm.String(30)),
    post_id = orm.Column(orm.Integer, orm.ForeignKey("posts.id")),
    post = orm.relationship("Post", { back_populates = "comments" }),
  })
  env.Tag = Base:model("Tag", {
    __tablename__ = "tags",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
  })
  env.Profile = Base:model("Profile", {
    __tablename__ = "profiles",
    id = orm.Column(orm.Integer, { primary_key = true }),
    about = orm.Column(orm.String(30)),
    user_id = orm.Column(orm.Integer, orm.ForeignKey("users.id")),
    user = orm.relationship("User", { back_populates = "profile" }),
  })
  Base.metadata:create_all(env.engine)

  local User, Post, Comment, Tag = env.User, env.Post, env.Comment, env.Tag
  local seed = orm.Session(env.engine)
  local ann = User{ id = 1, name = "ann", bio = "ann bio" }
  local bob = User{ id = 2, name = "bob", bio = "bob bio" }
  local cy = User{ id = 3, name = "cy", bio = "cy bio" }
  local tech, news = Tag{ id = 1, name = "tech" }, Tag{ id = 2, name = "news" }
  seed:add_all({ ann, bob, cy, tech, news })
  seed:flush()
  seed:add_all({
    Post{ id = 1, title = "a2", user_id = 1 },
    Post{ id = 2, title = "a1", user_id = 1, tags = { tech, news } },
    Post{ id = 3, title = "b1", user_id = 2, tags = { tech } },
    Post{ id = 4, title = "o1" },
    env.Profile{ id = 1, about = "hi", user_id = 1 },
  })
  seed:flush()
  seed:add_all({
    Comment{ id = 1, body = "c1", post_id = 2 },
    Comment{ id = 2, body = "c2", post_id = 2 },
    Comment{ id = 3, body = "c3", post_id = 3 },
  })
  seed:commit()
  seed:close()

  env.s = orm.Session(env.engine)
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  -- the SELECTs run since the last clear()
  function env.select_sqls()
    local out = {}
    for _, sql in ipairs(env.log) do
      if sql:match("^%s*SELECT") then out[#out + 1] = sql end
    end
    return out
  end
  function env.selects() return #env.select_sqls() end
  env.clear()
  return env
end

-- users 1..3 in id order under `options`, uniqued (required by joined collections)
local function users_with(env, ...)
  local stmt = orm.select(env.User):order_by(env.User.id)
  if select("#", ...) > 0 then stmt = stmt:options(...) end
  return env.s:scalars(stmt):unique():all()
end

local function posts_with(env, ...)
  local stmt = orm.select(env.Post):order_by(env.Post.id)
  if select("#", ...) > 0 then stmt = stmt:options(...) end
  return env.s:scalars(stmt):unique():all()
end

-- the posts of each user as titles
local function user_titles(users)
  local out = {}
  for i, u in ipairs(users) do out[i] = titles(u.posts) end
  return out
end

local ALL_TITLES = { { "a1", "a2" }, { "b1" }, {} }

-- Relationship defaults ----------------------------------------------------------------

describe("relationship lazy defaults", function()
  it("lazy 'select' (the default) is 1 + N SELECTs, each collection in its order", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)):all()
    assert.equal(1, env.selects())
    assert.same({ "ann", "bob", "cy" }, fields_of(users, "name"))
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(1 + 3, env.selects())
    -- once loaded, no more SQL
    env.clear()
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(0, env.selects())
  end)

  it("lazy 'select' on a many-to-one finds an object already in the identity map without SQL", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)):all()
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id)):all()
    env.clear()
    assert.equal(users[1], posts[1].author)
    assert.equal(users[2], posts[3].author)
    assert.is_nil(posts[4].author)
    assert.equal(0, env.selects())
  end)

  it("lazy 'joined' loads the collection in the same SELECT (a LEFT OUTER JOIN)", function()
    local env = setup({ posts = "joined" })
    local users = users_with(env)
    assert.equal(1, env.selects())
    assert.truthy(has(env.select_sqls()[1], "LEFT OUTER JOIN"), env.select_sqls()[1])
    assert.equal(3, #users)
    assert.same({ "ann", "bob", "cy" }, fields_of(users, "name"))
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(1, env.selects())
  end)

  it("lazy 'joined' on a collection requires unique() on a 2.0 result", function()
    local env = setup({ posts = "joined" })
    local err = pcall_err(function() return env.s:scalars(orm.select(env.User)):all() end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "unique()"), err.message)
  end)

  it("lazy 'joined' on a many-to-one needs no unique() and loads in one SELECT", function()
    local env = setup({ author = "joined" })
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id)):all()
    assert.equal(4, #posts)
    assert.equal("ann", posts[1].author.name)
    assert.equal("ann", posts[2].author.name)
    assert.equal("bob", posts[3].author.name)
    assert.is_nil(posts[4].author)
    assert.equal(posts[1].author, posts[2].author)
    assert.equal(1, env.selects())
  end)

  it("lazy 'joined' applies to session:get as well: one SELECT", function()
    local env = setup({ posts = "joined" })
    local ann = env.s:get(env.User, 1)
    assert.equal(1, env.selects())
    assert.same({ "a1", "a2" }, titles(ann.posts))
    assert.equal(1, env.selects())
  end)

  it("lazy 'selectin' loads every collection with one more SELECT (an IN list)", function()
    local env = setup({ posts = "selectin" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)):all()
    assert.equal(2, env.selects())
    assert.truthy(has(env.select_sqls()[2], " IN ("), env.select_sqls()[2])
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(2, env.selects())
  end)

  it("lazy 'selectin' applies to session:get as well", function()
    local env = setup({ posts = "selectin" })
    local ann = env.s:get(env.User, 1)
    assert.equal(2, env.selects())
    assert.same({ "a1", "a2" }, titles(ann.posts))
    assert.equal(2, env.selects())
  end)

  it("session:refresh() loads a joined default again with the row", function()
    local env = setup({ posts = "joined" })
    local ann = env.s:get(env.User, 1)
    env.s:execute(orm.text("INSERT INTO posts (id, title, user_id) VALUES (9, 'a0', 1)"))
    env.clear()
    env.s:refresh(ann)
    assert.equal(1, env.selects())
    assert.same({ "a0", "a1", "a2" }, titles(ann.posts))
    assert.equal(1, env.selects())
  end)

  it("lazy 'selectin' on a many-to-one and a many-to-many", function()
    local env = setup({ author = "selectin", tags = "selectin" })
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id)):all()
    assert.equal(3, env.selects())
    assert.equal("ann", posts[1].author.name)
    assert.equal(posts[1].author, posts[2].author)
    assert.equal("bob", posts[3].author.name)
    assert.is_nil(posts[4].author)
    assert.same({ {}, { "news", "tech" }, { "tech" }, {} },
      { fields(posts[1].tags, "name"), fields(posts[2].tags, "name"), fields(posts[3].tags, "name"),
        fields(posts[4].tags, "name") })
    assert.equal(posts[2].tags[2], posts[3].tags[1])
    assert.equal(3, env.selects())
  end)

  it("a lazily loaded collection brings its members' own eager defaults along", function()
    local env = setup({ comments = "selectin" })
    local ann = env.s:get(env.User, 1)
    env.clear()
    local posts = ann.posts
    assert.equal(2, env.selects()) -- the posts, then their comments
    assert.same({ "c1", "c2" }, fields(posts[1].comments, "body"))
    assert.same({}, fields(posts[2].comments, "body"))
    assert.equal(2, env.selects())
  end)

  it("a lazily loaded collection whose members join a collection eagerly lists each member once", function()
    local env = setup({ comments = "joined" })
    local ann = env.s:get(env.User, 1)
    env.clear()
    assert.same({ "a1", "a2" }, titles(ann.posts))
    assert.equal(2, #ann.posts)
    assert.equal(1, env.selects())
    assert.same({ "c1", "c2" }, fields(ann.posts[1].comments, "body"))
    assert.equal(1, env.selects())
  end)

  it("mutually eager defaults (User.posts and Post.author joined) load once and stop", function()
    local env = setup({ posts = "joined", author = "joined" })
    local users = users_with(env)
    assert.equal(1, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(users[1], users[1].posts[1].author)
    assert.equal(users[2], users[2].posts[1].author)
    assert.equal(1, env.selects())
  end)

  it("lazy 'raise' raises InvalidRequestError naming the attribute", function()
    local env = setup({ posts = "raise" })
    local ann = env.s:get(env.User, 1)
    local err = pcall_err(function() return #ann.posts end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "User.posts"), err.message)
    -- the columns still load
    assert.equal("ann", ann.name)
  end)

  it("lazy 'raise' on a many-to-one raises even when the object is in the identity map", function()
    local env = setup({ author = "raise" })
    local ann = env.s:get(env.User, 1)
    local p = env.s:get(env.Post, 1)
    assert.equal(1, p.user_id)
    assert.truthy(ann)
    local err = pcall_err(function() return p.author end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "Post.author"), err.message)
  end)

  it("lazy 'noload' gives an empty collection and nil without SQL", function()
    local env = setup({ posts = "noload", author = "noload" })
    local ann = env.s:get(env.User, 1)
    local p = env.s:get(env.Post, 1)
    env.clear()
    assert.equal(0, #ann.posts)
    assert.is_nil(p.author)
    assert.equal(1, p.user_id)
    assert.equal(0, env.selects())
  end)

  it("lazy 'raise' does not stop the unit of work: deleting the parent still nulls its children's keys", function()
    local env = setup({ posts = "raise" })
    local ann = env.s:get(env.User, 1)
    env.s:delete(ann)
    env.s:commit()
    assert.equal(3, env.s:scalar(orm.text("SELECT count(*) FROM posts WHERE user_id IS NULL")))
    assert.equal(2, env.s:scalar(orm.text("SELECT count(*) FROM users")))
  end)
end)

-- joinedload -------------------------------------------------------------------------

describe("orm.joinedload", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  it("of a collection, without unique(), raises InvalidRequestError when rows are fetched", function()
    local stmt = orm.select(User):options(orm.joinedload(User.posts))
    local err = pcall_err(function() return env.s:scalars(stmt):all() end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "unique()"), err.message)
    err = pcall_err(function() for _ in env.s:scalars(stmt) do end end)
    assert.equal("InvalidRequestError", err.kind)
    err = pcall_err(function() return env.s:execute(stmt):all() end)
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("of a collection, with unique(): each parent once, full collections, one SELECT", function()
    local users = users_with(env, orm.joinedload(User.posts))
    assert.equal(1, env.selects())
    assert.same({ "ann", "bob", "cy" }, fields_of(users, "name"))
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(users[1], users[1].posts[1].author)
    assert.equal(1, env.selects())
  end)

  it("unique():one() and unique():first() see one parent with its full collection", function()
    local stmt = orm.select(User):where(User.id:eq(1)):options(orm.joinedload(User.posts))
    local u = env.s:scalars(stmt):unique():one()
    assert.equal("ann", u.name)
    assert.same({ "a1", "a2" }, titles(u.posts))
    env.s:close()
    u = env.s:scalars(orm.select(User):order_by(User.id):options(orm.joinedload(User.posts))):unique():first()
    assert.equal("ann", u.name)
    assert.same({ "a1", "a2" }, titles(u.posts))
  end)

  it("joins its own alias: a statement's filtering join does not cut the collection", function()
    local users = env.s:scalars(orm.select(User):join(User.posts):where(Post.title:eq("a1"))
      :options(orm.joinedload(User.posts))):unique():all()
    assert.equal(1, #users)
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    assert.equal(1, env.selects())
  end)

  it("applies to each entity of a statement of several entities", function()
    local rows = env.s:execute(orm.select(User, Post):join(Post, Post.user_id:eq(User.id)):order_by(Post.id)
      :options(orm.joinedload(User.profile), orm.joinedload(Post.comments))):unique():all()
    assert.equal(3, #rows)
    assert.equal("hi", rows[2].User.profile.about)
    assert.same({ "c1", "c2" }, fields(rows[2].Post.comments, "body"))
    assert.same({}, fields(rows[1].Post.comments, "body"))
    assert.is_nil(rows[3].User.profile)
    assert.equal(1, env.selects())
  end)

  it("a chain through a many-to-one to a collection still requires unique()", function()
    local stmt = orm.select(env.Comment):order_by(env.Comment.id)
      :options(orm.joinedload(env.Comment.post):joinedload(Post.tags))
    local err = pcall_err(function() return env.s:scalars(stmt):all() end)
    assert.equal("InvalidRequestError", err.kind)
    local cs = env.s:scalars(stmt):unique():all()
    assert.equal(3, #cs)
    assert.same({ "news", "tech" }, fields(cs[1].post.tags, "name"))
    assert.equal(cs[1].post, cs[2].post)
  end)

  it("rows of execute(...):unique() hold each parent once", function()
    local rows = env.s:execute(orm.select(User):order_by(User.id):options(orm.joinedload(User.posts)))
      :unique():all()
    assert.equal(3, #rows)
    assert.equal("ann", rows[1].User.name)
    assert.same({ "a1", "a2" }, titles(rows[1][1].posts))
    assert.equal(1, env.selects())
  end)

  it("of a collection with limit(2) returns 2 parents with their full collections", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):limit(2)
      :options(orm.joinedload(User.posts))):unique():all()
    assert.equal(2, #users)
    assert.same({ "ann", "bob" }, fields_of(users, "name"))
    assert.same({ { "a1", "a2" }, { "b1" } }, user_titles(users))
    assert.equal(1, env.selects())
  end)

  it("with limit / offset and a descending order, the window counts parents", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id:desc()):limit(2)
      :options(orm.joinedload(User.posts))):unique():all()
    assert.same({ "cy", "bob" }, fields_of(users, "name"))
    assert.same({ {}, { "b1" } }, user_titles(users))
    env.s:close()
    users = env.s:scalars(orm.select(User):order_by(User.id):offset(0):limit(1)
      :options(orm.joinedload(User.posts))):unique():all()
    assert.same({ "ann" }, fields_of(users, "name"))
    assert.same({ { "a1", "a2" } }, user_titles(users))
  end)

  it("with limit, ordered by a function or a labeled expression", function()
    local users = env.s:scalars(orm.select(User):order_by(orm.func.upper(User.name):desc()):limit(2)
      :options(orm.joinedload(User.posts))):unique():all()
    assert.same({ "cy", "bob" }, fields_of(users, "name"))
    assert.same({ {}, { "b1" } }, user_titles(users))
    env.s:close()
    users = env.s:scalars(orm.select(User):order_by(User.name:label("nm")):limit(2)
      :options(orm.joinedload(User.posts))):unique():all()
    assert.same({ "ann", "bob" }, fields_of(users, "name"))
    assert.same({ { "a1", "a2" }, { "b1" } }, user_titles(users))
  end)

  it("with offset alone", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):offset(1)
      :options(orm.joinedload(User.posts))):unique():all()
    assert.same({ "bob", "cy" }, fields_of(users, "name"))
    assert.same({ { "b1" }, {} }, user_titles(users))
  end)

  it("with a WHERE on the parent keeps the whole collection", function()
    local users = env.s:scalars(orm.select(User):where(User.name:eq("ann"))
      :options(orm.joinedload(User.posts))):unique():all()
    assert.equal(1, #users)
    assert.same({ "a1", "a2" }, titles(users[1].posts))
  end)

  it("of a many-to-one needs no unique() and loads in one SELECT; a NULL key gives nil", function()
    local posts = env.s:scalars(orm.select(Post):order_by(Post.id):options(orm.joinedload(Post.author))):all()
    assert.equal(4, #posts)
    assert.same({ "ann", "ann", "bob" }, { posts[1].author.name, posts[2].author.name, posts[3].author.name })
    assert.equal(posts[1].author, posts[2].author)
    assert.is_nil(posts[4].author)
    assert.equal(1, env.selects())
  end)

  it("of a one-to-one (uselist = false) needs no unique()", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(orm.joinedload(User.profile))):all()
    assert.equal(3, #users)
    assert.equal("hi", users[1].profile.about)
    assert.equal(users[1], users[1].profile.user)
    assert.is_nil(users[2].profile)
    assert.is_nil(users[3].profile)
    assert.equal(1, env.selects())
  end)

  it("of a many-to-many (secondary) in one SELECT, in the relationship's order", function()
    local posts = posts_with(env, orm.joinedload(Post.tags))
    assert.equal(1, env.selects())
    assert.equal(4, #posts)
    assert.same({ {}, { "news", "tech" }, { "tech" }, {} },
      { fields(posts[1].tags, "name"), fields(posts[2].tags, "name"), fields(posts[3].tags, "name"),
        fields(posts[4].tags, "name") })
    -- one object per row
    assert.equal(posts[2].tags[2], posts[3].tags[1])
    assert.equal(1, env.selects())
  end)

  it("of a collection of a collection, chained: one SELECT", function()
    local users = users_with(env, orm.joinedload(User.posts):joinedload(Post.comments))
    assert.same(ALL_TITLES, user_titles(users))
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.same({}, fields(users[1].posts[2].comments, "body"))
    assert.same({ "c3" }, fields(users[2].posts[1].comments, "body"))
    assert.equal(1, env.selects())
  end)

  it("chained with selectinload: joinedload(User.posts):selectinload(Post.comments) is 2 SELECTs", function()
    local users = users_with(env, orm.joinedload(User.posts):selectinload(Post.comments))
    assert.equal(2, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.same({}, fields(users[1].posts[2].comments, "body"))
    assert.same({ "c3" }, fields(users[2].posts[1].comments, "body"))
    assert.equal(2, env.selects())
  end)

  it("eagerly loaded collections stay readable after the session closes", function()
    local users = users_with(env, orm.joinedload(User.posts))
    env.s:close()
    assert.same(ALL_TITLES, user_titles(users))
  end)
end)

-- selectinload -------------------------------------------------------------------------

describe("orm.selectinload", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  it("of a collection: 2 SELECTs, every collection right (empty ones too)", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(orm.selectinload(User.posts))):all()
    assert.equal(2, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(users[2], users[2].posts[1].author)
    assert.equal(2, env.selects())
  end)

  it("options given in several :options() calls add up", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(orm.selectinload(User.posts))
      :options(orm.joinedload(User.profile))):all()
    assert.equal(2, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal("hi", users[1].profile.about)
    assert.equal(2, env.selects())
  end)

  it("a chained option leaves the option it continues unchanged", function()
    local base = orm.selectinload(User.posts)
    local deeper = base:joinedload(Post.comments)
    assert.truthy(deeper)
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(base)):all()
    assert.equal(2, env.selects())
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.equal(3, env.selects()) -- the comments were not part of `base`
  end)

  it("of a many-to-one: 2 SELECTs, a NULL key gives nil", function()
    local posts = env.s:scalars(orm.select(Post):order_by(Post.id):options(orm.selectinload(Post.author))):all()
    assert.equal(2, env.selects())
    assert.same({ "ann", "ann", "bob" }, { posts[1].author.name, posts[2].author.name, posts[3].author.name })
    assert.is_nil(posts[4].author)
    assert.equal(2, env.selects())
  end)

  it("of a many-to-many: 2 SELECTs, shared objects shared", function()
    local posts = env.s:scalars(orm.select(Post):order_by(Post.id):options(orm.selectinload(Post.tags))):all()
    assert.equal(2, env.selects())
    assert.same({ {}, { "news", "tech" }, { "tech" }, {} },
      { fields(posts[1].tags, "name"), fields(posts[2].tags, "name"), fields(posts[3].tags, "name"),
        fields(posts[4].tags, "name") })
    assert.equal(posts[2].tags[2], posts[3].tags[1])
    assert.equal(2, env.selects())
  end)

  it("chained with joinedload: selectinload(User.posts):joinedload(Post.comments) is 2 SELECTs, no unique() needed", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id)
      :options(orm.selectinload(User.posts):joinedload(Post.comments))):all()
    assert.equal(3, #users)
    assert.equal(2, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.same({}, fields(users[1].posts[2].comments, "body"))
    assert.same({ "c3" }, fields(users[2].posts[1].comments, "body"))
    assert.equal(2, env.selects())
  end)

  it("chained with joinedload of a many-to-many: each member once", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id)
      :options(orm.selectinload(User.posts):joinedload(Post.tags))):all()
    assert.equal(2, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.same({ "news", "tech" }, fields(users[1].posts[1].tags, "name"))
    assert.same({ "tech" }, fields(users[2].posts[1].tags, "name"))
  end)

  it("chained twice: selectinload(User.posts):selectinload(Post.comments) is 3 SELECTs", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id)
      :options(orm.selectinload(User.posts):selectinload(Post.comments))):all()
    assert.equal(3, env.selects())
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.same({ "c3" }, fields(users[2].posts[1].comments, "body"))
    assert.equal(3, env.selects())
  end)

  it("with no parent rows runs no second SELECT", function()
    local users = env.s:scalars(orm.select(User):where(User.id:gt(10)):options(orm.selectinload(User.posts))):all()
    assert.equal(0, #users)
    assert.equal(1, env.selects())
  end)

  it("skips parents whose collection is already loaded", function()
    local ann = env.s:get(User, 1)
    assert.equal(2, #ann.posts)
    env.clear()
    local users = env.s:scalars(orm.select(User):where(User.id:eq(1)):options(orm.selectinload(User.posts))):all()
    assert.equal(ann, users[1])
    assert.equal(1, env.selects())
    assert.same({ "a1", "a2" }, titles(ann.posts))
  end)

  it("batches a many-to-many too: 1,100 parents are 1 + 3 SELECTs", function()
    local rows, values = {}, {}
    for i = 1, 1100 do
      rows[i] = { id = 100 + i, title = "t" .. i }
      values[i] = ("(%d, %d)"):format(100 + i, 1 + i % 2)
    end
    env.s:execute(orm.insert(Post), rows)
    env.s:execute(orm.text("INSERT INTO post_tags (post_id, tag_id) VALUES " .. table.concat(values, ",")))
    env.s:commit()
    env.s:close()
    env.clear()
    local posts = env.s:scalars(orm.select(Post):where(Post.id:gt(100)):order_by(Post.id)
      :options(orm.selectinload(Post.tags))):all()
    assert.equal(1100, #posts)
    assert.equal(1 + 3, env.selects())
    local bad
    for i, p in ipairs(posts) do
      local want = i % 2 == 0 and "tech" or "news"
      local got = fields(p.tags, "name")
      if #got ~= 1 or got[1] ~= want then bad = bad or ("post " .. i .. ": " .. table.concat(got, ",")) end
    end
    assert.is_nil(bad)
  end)

  it("of a many-to-one whose foreign key is not loaded (load_only) is still one more SELECT", function()
    local posts = env.s:scalars(orm.select(Post):order_by(Post.id)
      :options(orm.load_only(Post.title), orm.selectinload(Post.author))):all()
    assert.equal(2, env.selects())
    assert.same({ "ann", "ann", "bob" }, { posts[1].author.name, posts[2].author.name, posts[3].author.name })
    assert.is_nil(posts[4].author)
    assert.equal(2, env.selects())
  end)

  it("batches parents 500 to a SELECT: 1,200 parents are 1 + 3 SELECTs, every collection right", function()
    local e = setup()
    local rows, prows = {}, {}
    for i = 1, 1200 do
      rows[i] = { id = 100 + i, name = "u" .. i }
      prows[#prows + 1] = { id = 100 + 2 * i, title = "p" .. i .. "a", user_id = 100 + i }
      if i % 3 == 0 then
        prows[#prows + 1] = { id = 101 + 2 * i, title = "p" .. i .. "b", user_id = 100 + i }
      end
    end
    e.s:execute(orm.insert(e.User), rows)
    e.s:execute(orm.insert(e.Post), prows)
    e.s:commit()
    e.s:close()
    e.clear()
    local users = e.s:scalars(orm.select(e.User):where(e.User.id:gt(100)):order_by(e.User.id)
      :options(orm.selectinload(e.User.posts))):all()
    assert.equal(1200, #users)
    assert.equal(1 + 3, e.selects())
    local bad
    for i, u in ipairs(users) do
      local want = { "p" .. i .. "a" }
      if i % 3 == 0 then want[2] = "p" .. i .. "b" end
      local got = titles(u.posts)
      if u.name ~= "u" .. i or #got ~= #want or got[1] ~= want[1] or got[2] ~= want[2] then
        bad = bad or ("user " .. i .. ": " .. table.concat(got, ","))
      end
    end
    assert.is_nil(bad)
    assert.equal(1 + 3, e.selects())
  end)
end)

-- lazyload / raiseload / noload --------------------------------------------------------

describe("orm.lazyload, orm.raiseload, orm.noload", function()
  it("lazyload overrides a joined default: no unique() needed, 1 + N SELECTs", function()
    local env = setup({ posts = "joined" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts))):all()
    assert.equal(3, #users)
    assert.equal(1, env.selects())
    assert.falsy(has(env.select_sqls()[1], "JOIN"), env.select_sqls()[1])
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(1 + 3, env.selects())
  end)

  it("lazyload overrides a selectin default", function()
    local env = setup({ posts = "selectin" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts))):all()
    assert.equal(1, env.selects())
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    assert.equal(2, env.selects())
  end)

  it("lazyload overrides a raise default", function()
    local env = setup({ posts = "raise" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts))):all()
    assert.same(ALL_TITLES, user_titles(users))
  end)

  it("options chained under lazyload apply when the collection lazy loads (joinedload)", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts):joinedload(env.Post.comments))):all()
    assert.equal(1, env.selects())
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    assert.equal(2, env.selects())
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.same({}, fields(users[1].posts[2].comments, "body"))
    assert.equal(2, env.selects())
  end)

  it("options chained under lazyload apply when the collection lazy loads (raiseload)", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts):raiseload(env.Post.comments))):all()
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    local err = pcall_err(function() return #users[1].posts[1].comments end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "Post.comments"), err.message)
  end)

  it("options chained under lazyload apply when the collection lazy loads (load_only, raiseload('*'))", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts):load_only(env.Post.title))):all()
    env.clear()
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    local cols = env.select_sqls()[1]:match("^%s*SELECT(.-)FROM")
    assert.falsy(has(cols, "user_id"), env.select_sqls()[1])
    assert.equal(1, users[1].posts[1].user_id)
    assert.equal(2, env.selects())
    env.s:close()
    users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.lazyload(env.User.posts):raiseload("*"))):all()
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    local err = pcall_err(function() return #users[1].posts[1].comments end)
    assert.equal("InvalidRequestError", err.kind)
    -- the root's own relationships are not under the wildcard
    assert.equal("hi", users[1].profile.about)
  end)

  it("options chained under a lazy many-to-one apply when it loads", function()
    local env = setup()
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id)
      :options(orm.lazyload(env.Post.author):selectinload(env.User.posts))):all()
    env.clear()
    local bob = posts[3].author
    assert.equal("bob", bob.name)
    assert.equal(2, env.selects())
    assert.same({ "b1" }, titles(bob.posts))
    assert.equal(2, env.selects())
  end)

  it("raiseload(User.posts) raises naming the attribute; other relationships load", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.raiseload(env.User.posts))):all()
    local err = pcall_err(function() return #users[1].posts end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "User.posts"), err.message)
    assert.equal("hi", users[1].profile.about)
    assert.equal("ann", users[1].name)
  end)

  it("raiseload overrides an eager default", function()
    local env = setup({ posts = "selectin" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.raiseload(env.User.posts))):all()
    assert.equal(1, env.selects())
    local err = pcall_err(function() return #users[2].posts end)
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("raiseload('*') makes every relationship of the entity raise; columns still load", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id):options(orm.raiseload("*"))):all()
    local err = pcall_err(function() return #users[1].posts end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "User.posts"), err.message)
    err = pcall_err(function() return users[1].profile end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "User.profile"), err.message)
    assert.equal("ann bio", users[1].bio)
    env.s:close()
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id):options(orm.raiseload("*"))):all()
    err = pcall_err(function() return posts[1].author end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "Post.author"), err.message)
    err = pcall_err(function() return #posts[2].tags end)
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("raiseload('*') also overrides eager defaults", function()
    local env = setup({ posts = "joined" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id):options(orm.raiseload("*"))):all()
    assert.equal(3, #users)
    assert.equal(1, env.selects())
    local err = pcall_err(function() return #users[1].posts end)
    assert.equal("InvalidRequestError", err.kind)
  end)

  it("a specific option wins over raiseload('*') in either order; '*' covers only its own level", function()
    local env = setup()
    for _, opts in ipairs({
      { orm.joinedload(env.User.posts), orm.raiseload("*") },
      { orm.raiseload("*"), orm.joinedload(env.User.posts) },
    }) do
      env.s:close()
      env.clear()
      local users = users_with(env, unpack(opts))
      assert.equal(1, env.selects())
      assert.same(ALL_TITLES, user_titles(users))
      local err = pcall_err(function() return users[1].profile end)
      assert.equal("InvalidRequestError", err.kind)
      -- the posts' own relationships are not covered by a wildcard at the root
      assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    end
  end)

  it("selectinload(User.posts):raiseload('*') makes the posts' relationships raise", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.selectinload(env.User.posts):raiseload("*"))):all()
    assert.same(ALL_TITLES, user_titles(users))
    local err = pcall_err(function() return #users[1].posts[1].comments end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "Post.comments"), err.message)
    -- the root's other relationships still load lazily
    assert.equal("hi", users[1].profile.about)
  end)

  it("raiseload leaves a collection that was already loaded readable", function()
    local env = setup()
    local ann = env.s:get(env.User, 1)
    assert.equal(2, #ann.posts)
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.raiseload(env.User.posts))):all()
    assert.equal(ann, users[1])
    assert.same({ "a1", "a2" }, titles(ann.posts))
    assert.truthy(pcall_err(function() return #users[2].posts end))
  end)

  it("raiseload does not stop a backref from appending to the collection", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.raiseload(env.User.posts))):all()
    local p = env.Post{ title = "new", author = users[2] }
    env.s:add(p)
    env.s:commit()
    assert.equal(2, p.user_id)
    env.s:close()
    assert.same({ "b1", "new" }, titles(env.s:get(env.User, 2).posts))
  end)

  it("raiseload does not stop the unit of work from deleting the parent", function()
    local env = setup()
    local bob = env.s:scalars(orm.select(env.User):where(env.User.id:eq(2)):options(orm.raiseload("*"))):one()
    env.s:delete(bob)
    env.s:commit()
    assert.equal(2, env.s:scalar(orm.text("SELECT count(*) FROM posts WHERE user_id IS NULL")))
  end)

  it("assigning a many-to-one under lazy 'raise' or raiseload does not raise", function()
    local env = setup({ author = "raise" })
    local p = env.s:get(env.Post, 1)
    p.author = env.s:get(env.User, 2)
    env.s:commit()
    assert.equal(2, p.user_id)
    local q = env.s:get(env.Post, 3)
    q.author = nil
    env.s:commit()
    assert.is_nil(q.user_id)
    local env2 = setup()
    local p2 = env2.s:scalars(orm.select(env2.Post):where(env2.Post.id:eq(1))
      :options(orm.raiseload(env2.Post.author))):one()
    p2.author = env2.s:get(env2.User, 2)
    env2.s:commit()
    assert.equal(2, p2.user_id)
    env2.s:close()
    assert.same({ "a2", "b1" }, titles(env2.s:get(env2.User, 2).posts))
  end)

  it("a noload collection still takes new members, and they are saved", function()
    local env = setup()
    local cy = env.s:scalars(orm.select(env.User):where(env.User.id:eq(3)):options(orm.noload(env.User.posts))):one()
    cy.posts:append(env.Post{ title = "cy1" })
    env.s:commit()
    env.s:close()
    assert.same({ "cy1" }, titles(env.s:get(env.User, 3).posts))
  end)

  it("noload gives an empty collection and nil without SQL", function()
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.noload(env.User.posts))):all()
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id)
      :options(orm.noload(env.Post.author))):all()
    env.clear()
    assert.equal(0, #users[1].posts)
    assert.is_nil(posts[1].author)
    assert.equal(1, posts[1].user_id)
    assert.equal(0, env.selects())
  end)

  it("noload overrides a joined default", function()
    local env = setup({ posts = "joined" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.noload(env.User.posts))):all()
    assert.equal(3, #users)
    assert.equal(0, #users[1].posts)
    assert.equal(1, env.selects())
  end)

  it("lazyload('*') turns every eager default back to lazy loading", function()
    local env = setup({ posts = "joined", profile = "selectin" })
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id):options(orm.lazyload("*"))):all()
    assert.equal(3, #users)
    assert.equal(1, env.selects())
    assert.falsy(has(env.select_sqls()[1], "JOIN"), env.select_sqls()[1])
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    assert.equal("hi", users[1].profile.about)
    assert.equal(3, env.selects())
  end)

  it("several relationships in one call: only the last gets the strategy, those before keep theirs", function()
    -- joinedload(User.posts, Post.comments) is defaultload(User.posts):joinedload(Post.comments)
    local env = setup()
    local users = env.s:scalars(orm.select(env.User):order_by(env.User.id)
      :options(orm.joinedload(env.User.posts, env.Post.comments))):all()
    assert.equal(3, #users)
    assert.equal(1, env.selects())
    assert.same({ "a1", "a2" }, titles(users[1].posts))
    assert.equal(2, env.selects())
    assert.same({ "c1", "c2" }, fields(users[1].posts[1].comments, "body"))
    assert.equal(2, env.selects())
  end)
end)

-- contains_eager -------------------------------------------------------------------------

describe("orm.contains_eager", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  it("fills a many-to-one from the statement's own join: one SELECT", function()
    local posts = env.s:scalars(orm.select(Post):join(User, Post.user_id:eq(User.id))
      :where(User.name:eq("ann")):order_by(Post.id):options(orm.contains_eager(Post.author))):all()
    assert.same({ "a2", "a1" }, fields_of(posts, "title"))
    assert.equal("ann", posts[1].author.name)
    assert.equal("ann bio", posts[1].author.bio)
    assert.equal(posts[1].author, posts[2].author)
    assert.equal(1, env.selects())
  end)

  it("fills a many-to-one from an aliased entity", function()
    local UA = orm.aliased(User)
    local posts = env.s:scalars(orm.select(Post):join(UA, Post.user_id:eq(UA.id))
      :where(UA.name:eq("bob")):options(orm.contains_eager(Post.author, UA))):all()
    assert.equal(1, #posts)
    assert.equal("b1", posts[1].title)
    assert.equal("bob", posts[1].author.name)
    assert.equal(1, env.selects())
  end)

  it("fills a collection with only the rows the statement selects", function()
    local users = env.s:scalars(orm.select(User):join(User.posts):where(Post.title:eq("a1"))
      :options(orm.contains_eager(User.posts))):unique():all()
    assert.equal(1, #users)
    assert.same({ "a1" }, titles(users[1].posts))
    assert.equal(1, env.selects())
  end)

  it("fills a collection from an aliased entity", function()
    local PA = orm.aliased(Post)
    local users = env.s:scalars(orm.select(User):join(PA, PA.user_id:eq(User.id)):order_by(User.id, PA.title)
      :options(orm.contains_eager(User.posts, PA))):unique():all()
    assert.same({ "ann", "bob" }, fields_of(users, "name"))
    assert.same({ { "a1", "a2" }, { "b1" } }, user_titles(users))
    assert.equal(1, env.selects())
  end)

  it("over an outer join: a parent without rows gets an empty collection, a NULL key nil", function()
    local users = env.s:scalars(orm.select(User):outerjoin(User.posts):order_by(User.id, Post.title)
      :options(orm.contains_eager(User.posts))):unique():all()
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(1, env.selects())
    env.s:close()
    env.clear()
    local posts = env.s:scalars(orm.select(Post):outerjoin(Post.author):order_by(Post.id)
      :options(orm.contains_eager(Post.author))):all()
    assert.equal(4, #posts)
    assert.equal("ann", posts[1].author.name)
    assert.is_nil(posts[4].author)
    assert.equal(1, env.selects())
  end)

  it("chained: contains_eager(Comment.post):contains_eager(Post.author) over two joins", function()
    local C = env.Comment
    local cs = env.s:scalars(orm.select(C):join(C.post):join(Post.author):order_by(C.id)
      :options(orm.contains_eager(C.post):contains_eager(Post.author))):all()
    assert.equal(3, #cs)
    assert.same({ "a1", "a1", "b1" }, { cs[1].post.title, cs[2].post.title, cs[3].post.title })
    assert.equal("ann", cs[1].post.author.name)
    assert.equal("bob", cs[3].post.author.name)
    assert.equal(1, env.selects())
  end)
end)

-- Column options ------------------------------------------------------------------------

describe("orm.load_only, orm.defer, orm.undefer", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  it("load_only(User.name) reads the name and the key; another column loads on access with one SELECT", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(orm.load_only(User.name))):all()
    local sql = env.select_sqls()[1]
    assert.falsy(has(sql, "bio"), sql)
    assert.truthy(has(sql, "name"), sql)
    assert.same({ "ann", "bob", "cy" }, fields_of(users, "name"))
    assert.same({ 1, 2, 3 }, fields_of(users, "id"))
    assert.equal(1, env.selects())
    assert.equal("ann bio", users[1].bio)
    assert.equal(2, env.selects())
    assert.equal("bob bio", users[2].bio)
    assert.equal(3, env.selects())
  end)

  it("defer(User.bio) leaves only bio out", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(orm.defer(User.bio))):all()
    assert.falsy(has(env.select_sqls()[1], "bio"), env.select_sqls()[1])
    assert.equal("ann", users[1].name)
    assert.equal(1, env.selects())
    assert.equal("ann bio", users[1].bio)
    assert.equal(2, env.selects())
  end)

  it("undefer after defer loads the column with the row", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id)
      :options(orm.defer(User.bio), orm.undefer(User.bio))):all()
    assert.truthy(has(env.select_sqls()[1], "bio"), env.select_sqls()[1])
    assert.equal("ann bio", users[1].bio)
    assert.equal("cy bio", users[3].bio)
    assert.equal(1, env.selects())
  end)

  it("an explicit undefer wins over load_only whatever the order", function()
    for _, opts in ipairs({
      { "load_only, undefer", orm.load_only(User.name), orm.undefer(User.bio) },
      { "undefer, load_only", orm.undefer(User.bio), orm.load_only(User.name) },
    }) do
      env.s:close()
      env.clear()
      local users = env.s:scalars(orm.select(User):order_by(User.id):options(opts[2], opts[3])):all()
      local order = opts[1]
      assert.equal("ann bio", users[1].bio, order)
      assert.equal("ann", users[1].name, order)
      assert.equal(1, env.selects(), order)
    end
  end)

  it("defer along a relationship path: joinedload(Post.author):defer(User.bio)", function()
    local posts = env.s:scalars(orm.select(Post):order_by(Post.id)
      :options(orm.joinedload(Post.author):defer(User.bio))):all()
    assert.equal(1, env.selects())
    assert.equal("ann", posts[1].author.name)
    assert.equal(1, env.selects())
    assert.equal("ann bio", posts[1].author.bio)
    assert.equal(2, env.selects())
  end)

  it("a deferred column can be set without loading it, and the change is saved", function()
    local u = env.s:scalars(orm.select(User):where(User.id:eq(1)):options(orm.defer(User.bio))):one()
    u.bio = "new bio"
    env.s:commit()
    env.s:close()
    assert.equal("new bio", env.s:get(User, 1).bio)
  end)

  it("load_only along a relationship path: joinedload(User.posts):load_only(Post.title)", function()
    local users = users_with(env, orm.joinedload(User.posts):load_only(Post.title))
    assert.equal(1, env.selects())
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal("ann bio", users[1].bio) -- the root entity is not affected
    assert.equal(1, env.selects())
    assert.equal(1, users[1].posts[1].user_id)
    assert.equal(2, env.selects())
  end)

  it("load_only with a joined many-to-one keeps the foreign key it joins on", function()
    local posts = env.s:scalars(orm.select(Post):order_by(Post.id)
      :options(orm.load_only(Post.title), orm.joinedload(Post.author))):all()
    assert.equal("ann", posts[1].author.name)
    assert.equal("bob", posts[3].author.name)
    assert.is_nil(posts[4].author)
    assert.equal(1, env.selects())
  end)

  it("a deferred column of a detached object raises DetachedInstanceError", function()
    local users = env.s:scalars(orm.select(User):order_by(User.id):options(orm.defer(User.bio))):all()
    env.s:close()
    assert.equal("ann", users[1].name)
    local err = pcall_err(function() return users[1].bio end)
    assert.equal("DetachedInstanceError", err.kind)
    assert.truthy(has(err.message, "bio"), err.message)
  end)
end)

-- Self-referential ------------------------------------------------------------------------

describe("self-referential (remote_side) loading", function()
  local s, Node, log
  local function selects()
    local n = 0
    for _, sql in ipairs(log) do if sql:match("^%s*SELECT") then n = n + 1 end end
    return n
  end
  before_each(function()
    log = {}
    local e = orm.create_engine("sqlite://", { echo = function(sql) log[#log + 1] = sql end })
    local Base = orm.declarative_base()
    Node = Base:model("Node", {
      __tablename__ = "nodes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("nodes.id")),
      children = orm.relationship("Node", { order_by = "name",
        backref = orm.backref("parent", { remote_side = "id" }) }),
    })
    Base.metadata:create_all(e)
    local seed = orm.Session(e)
    -- r1 ─ c1 ─ g1, g2
    --    └ c2
    -- r2
    local r1 = Node{ name = "r1" }
    local c1, c2 = Node{ name = "c1", parent = r1 }, Node{ name = "c2", parent = r1 }
    Node{ name = "g1", parent = c1 }
    Node{ name = "g2", parent = c1 }
    seed:add_all({ r1, Node{ name = "r2" } })
    seed:commit()
    seed:close()
    s = orm.Session(e)
    for i = #log, 1, -1 do log[i] = nil end
  end)

  it("selectinload(Node.children): 2 SELECTs", function()
    local roots = s:scalars(orm.select(Node):where(Node.parent_id:is_(nil)):order_by(Node.name)
      :options(orm.selectinload(Node.children))):all()
    assert.equal(2, selects())
    assert.same({ "r1", "r2" }, fields_of(roots, "name"))
    assert.same({ "c1", "c2" }, fields(roots[1].children, "name"))
    assert.same({}, fields(roots[2].children, "name"))
    assert.equal(roots[1], roots[1].children[1].parent)
    assert.equal(2, selects())
  end)

  it("selectinload(Node.children):selectinload(Node.children): 3 SELECTs for three levels", function()
    local roots = s:scalars(orm.select(Node):where(Node.parent_id:is_(nil)):order_by(Node.name)
      :options(orm.selectinload(Node.children):selectinload(Node.children))):all()
    assert.equal(3, selects())
    local c1, c2 = roots[1].children[1], roots[1].children[2]
    assert.same({ "g1", "g2" }, fields(c1.children, "name"))
    assert.same({}, fields(c2.children, "name"))
    assert.equal(3, selects())
  end)

  it("joinedload(Node.parent) (many-to-one to the same table) in one SELECT", function()
    local nodes = s:scalars(orm.select(Node):where(Node.name:startswith("g")):order_by(Node.name)
      :options(orm.joinedload(Node.parent):joinedload(Node.parent))):all()
    assert.equal(2, #nodes)
    assert.equal("c1", nodes[1].parent.name)
    assert.equal(nodes[1].parent, nodes[2].parent)
    assert.equal("r1", nodes[1].parent.parent.name)
    assert.equal(1, selects())
  end)

  it("joinedload(Node.children) with unique()", function()
    local roots = s:scalars(orm.select(Node):where(Node.parent_id:is_(nil)):order_by(Node.name)
      :options(orm.joinedload(Node.children))):unique():all()
    assert.same({ "r1", "r2" }, fields_of(roots, "name"))
    assert.same({ "c1", "c2" }, fields(roots[1].children, "name"))
    assert.equal(1, selects())
  end)

  it("an eager collection of every node, where children are also rows of the result", function()
    for _, opt in ipairs({ orm.joinedload(Node.children), orm.selectinload(Node.children) }) do
      s:close()
      local all = s:scalars(orm.select(Node):order_by(Node.id):options(opt)):unique():all()
      local got = {}
      for _, n in ipairs(all) do got[n.name] = fields(n.children, "name") end
      assert.same({ r1 = { "c1", "c2" }, c1 = { "g1", "g2" }, c2 = {}, g1 = {}, g2 = {}, r2 = {} }, got)
    end
  end)

  it("self-referential eager defaults load the whole tree without recursing forever", function()
    for _, lazy in ipairs({ "selectin", "joined" }) do
      local e = orm.create_engine("sqlite://")
      local Base = orm.declarative_base()
      local N = Base:model("Node", {
        __tablename__ = "nodes",
        id = orm.Column(orm.Integer, { primary_key = true }),
        name = orm.Column(orm.String(20)),
        parent_id = orm.Column(orm.Integer, orm.ForeignKey("nodes.id")),
        children = orm.relationship("Node", { lazy = lazy, order_by = "name",
          backref = orm.backref("parent", { remote_side = "id" }) }),
      })
      Base.metadata:create_all(e)
      local s2 = orm.Session(e)
      local r = N{ name = "r" }
      local c = N{ name = "c", parent = r }
      N{ name = "g", parent = c }
      N{ name = "h", parent = r }
      s2:add(r); s2:commit(); s2:close()
      local roots = s2:scalars(orm.select(N):where(N.parent_id:is_(nil))):unique():all()
      assert.equal(1, #roots, lazy)
      assert.same({ "c", "h" }, fields(roots[1].children, "name"), lazy)
      assert.same({ "g" }, fields(roots[1].children[1].children, "name"), lazy)
      assert.equal(0, #roots[1].children[1].children[1].children, lazy)
    end
  end)
end)

-- Legacy Query --------------------------------------------------------------------------

describe("legacy session:query with loader options", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  it("joinedload of a collection returns each parent once without unique()", function()
    local users = env.s:query(User):options(orm.joinedload(User.posts)):order_by(User.id):all()
    assert.equal(3, #users)
    assert.same({ "ann", "bob", "cy" }, fields_of(users, "name"))
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(1, env.selects())
  end)

  it(":first() returns the first parent with its full collection", function()
    local u = env.s:query(User):options(orm.joinedload(User.posts)):order_by(User.id):first()
    assert.equal("ann", u.name)
    assert.same({ "a1", "a2" }, titles(u.posts))
    assert.equal(1, env.selects())
  end)

  it(":one() with a joined collection is one parent, not MultipleResultsFound", function()
    local u = env.s:query(User):filter(User.id:eq(1)):options(orm.joinedload(User.posts)):one()
    assert.equal("ann", u.name)
    assert.same({ "a1", "a2" }, titles(u.posts))
  end)

  it("contains_eager of a collection returns each parent once without unique()", function()
    local users = env.s:query(User):join(User.posts):options(orm.contains_eager(User.posts))
      :order_by(User.id, Post.title):all()
    assert.same({ "ann", "bob" }, fields_of(users, "name"))
    assert.same({ { "a1", "a2" }, { "b1" } }, user_titles(users))
    assert.equal(1, env.selects())
  end)

  it(":count() counts parents, not joined rows", function()
    assert.equal(3, env.s:query(User):options(orm.joinedload(User.posts)):count())
  end)

  it("selectinload: 2 SELECTs", function()
    local users = env.s:query(User):options(orm.selectinload(User.posts)):order_by(User.id):all()
    assert.same(ALL_TITLES, user_titles(users))
    assert.equal(2, env.selects())
  end)

  it(":first() with selectinload: 2 SELECTs", function()
    local u = env.s:query(User):options(orm.selectinload(User.posts)):order_by(User.id):first()
    assert.same({ "a1", "a2" }, titles(u.posts))
    assert.equal(2, env.selects())
  end)

  it(":get() applies the query's options", function()
    local u = env.s:query(User):options(orm.joinedload(User.posts)):get(1)
    assert.equal("ann", u.name)
    assert.equal(1, env.selects())
    assert.same({ "a1", "a2" }, titles(u.posts))
    assert.equal(1, env.selects())
  end)
end)

-- Objects already in the session ---------------------------------------------------------

describe("eager loads and objects already loaded", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  for _, case in ipairs({
    { "joinedload", function(e) return orm.joinedload(e.User.posts) end },
    { "selectinload", function(e) return orm.selectinload(e.User.posts) end },
  }) do
    it(case[1] .. " does not overwrite a loaded, modified collection", function()
      local ann = env.s:get(User, 1)
      local a1 = ann.posts[1]
      assert.equal("a1", a1.title)
      ann.posts:remove(a1)
      local users
      env.s:no_autoflush(function()
        users = users_with(env, case[2](env))
      end)
      assert.equal(ann, users[1])
      assert.same({ "a2" }, titles(ann.posts))
      assert.same({ "b1" }, titles(users[2].posts))
      assert.same({}, titles(users[3].posts))
      -- the change is still pending for the flush
      env.s:commit()
      env.s:close()
      assert.same({ "a2" }, titles(env.s:get(User, 1).posts))
    end)
  end

  it("an eager load fills a collection the object had not loaded yet", function()
    local ann = env.s:get(User, 1)
    local users = users_with(env, orm.selectinload(User.posts))
    assert.equal(ann, users[1])
    env.clear()
    assert.same({ "a1", "a2" }, titles(ann.posts))
    assert.equal(0, env.selects())
  end)

  it("an eager load does not overwrite a loaded object's changed column", function()
    local a1 = env.s:get(Post, 2)
    a1.title = "changed"
    local users
    env.s:no_autoflush(function() users = users_with(env, orm.joinedload(User.posts)) end)
    assert.equal(a1, users[1].posts[1])
    assert.equal("changed", a1.title)
    assert.truthy(env.s:is_modified(a1))
  end)

  it("an expired collection is filled again by an eager load, with the database's rows", function()
    local ann = env.s:get(User, 1)
    assert.equal(2, #ann.posts)
    env.s:commit() -- expires everything
    env.s:execute(orm.text("INSERT INTO posts (id, title, user_id) VALUES (9, 'a0', 1)"))
    env.s:commit()
    env.clear()
    local users = users_with(env, orm.joinedload(User.posts))
    assert.equal(ann, users[1])
    assert.same({ "a0", "a1", "a2" }, titles(ann.posts))
    assert.equal(1, env.selects())
  end)

  it("an object met twice in one joined result appears once in each collection", function()
    -- every post row of ann repeats ann; a many-to-many repeats the tag
    local posts = posts_with(env, orm.joinedload(Post.tags), orm.joinedload(Post.author):joinedload(User.posts))
    assert.same({ "a1", "a2" }, titles(posts[1].author.posts))
    assert.same({ "b1" }, titles(posts[3].author.posts))
    assert.equal(2, #posts[2].tags)
    assert.equal(1, env.selects())
  end)
end)

-- Detached objects --------------------------------------------------------------------------

describe("detached objects", function()
  it("a lazy load of a detached object raises DetachedInstanceError", function()
    local env = setup()
    local ann = env.s:get(env.User, 1)
    env.s:expunge(ann)
    local err = pcall_err(function() return #ann.posts end)
    assert.equal("DetachedInstanceError", err.kind)
    assert.truthy(has(err.message, "posts"), err.message)
    local p = env.s:get(env.Post, 3)
    env.s:close()
    err = pcall_err(function() return p.author end)
    assert.equal("DetachedInstanceError", err.kind)
    assert.truthy(has(err.message, "author"), err.message)
  end)

  it("an eagerly loaded many-to-one stays readable after close", function()
    local env = setup()
    local posts = env.s:scalars(orm.select(env.Post):order_by(env.Post.id)
      :options(orm.selectinload(env.Post.author))):all()
    env.s:close()
    assert.equal("bob", posts[3].author.name)
    assert.is_nil(posts[4].author)
  end)
end)

-- Bad input --------------------------------------------------------------------------------

describe("bad loader options", function()
  local env, User, Post
  before_each(function() env = setup(); User, Post = env.User, env.Post end)

  it(":options() with a value that is not a loader option", function()
    for _, v in ipairs({ 5, "posts", {}, true }) do
      local err = pcall_err(function() return orm.select(User):options(v) end)
      assert.equal("ArgumentError", err.kind)
      assert.truthy(has(err.message, "options"), err.message)
    end
    local err = pcall_err(function() return orm.select(User):options(User.posts) end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.select(User):options(orm.joinedload(User.posts), nil) end)
    assert.equal("ArgumentError", err.kind)
    -- no options at all is allowed
    assert.equal(3, #env.s:scalars(orm.select(User):options()):all())
    err = pcall_err(function() return env.s:query(User):options(User.name) end)
    assert.equal("ArgumentError", err.kind)
  end)

  it("an option rooted at a model not in the statement", function()
    local err = pcall_err(function()
      return env.s:scalars(orm.select(Post):options(orm.joinedload(User.posts))):all()
    end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "User"), err.message)
    err = pcall_err(function()
      return env.s:scalars(orm.select(Post):options(orm.load_only(User.name))):all()
    end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function()
      return env.s:query(Post):options(orm.selectinload(User.posts)):all()
    end)
    assert.equal("ArgumentError", err.kind)
    -- a statement of columns only has no entity to apply options to
    err = pcall_err(function()
      return env.s:execute(orm.select(User.name):options(orm.joinedload(User.posts))):all()
    end)
    assert.equal("ArgumentError", err.kind)
  end)

  it("an option rooted at one of several entities of the statement is accepted", function()
    local rows = env.s:execute(orm.select(Post, User):join(User, Post.user_id:eq(User.id))
      :order_by(Post.id):options(orm.selectinload(User.posts))):all()
    assert.equal(3, #rows)
    assert.same({ "a1", "a2" }, titles(rows[1].User.posts))
    assert.equal(2, env.selects())
  end)

  it("chaining a relationship that does not continue the path", function()
    local err = pcall_err(function() return orm.joinedload(User.posts):joinedload(User.profile) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "User.profile"), err.message)
    err = pcall_err(function() return orm.selectinload(User.posts):selectinload(env.Comment.post) end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.selectinload(User.posts):load_only(User.name) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "User.name"), err.message)
  end)

  it("a relationship loader given a column, a string or nothing", function()
    local err = pcall_err(function() return orm.joinedload(User.name) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "relationship"), err.message)
    err = pcall_err(function() return orm.selectinload(User.id) end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.joinedload("posts") end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.joinedload() end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.contains_eager(User.name) end)
    assert.equal("ArgumentError", err.kind)
  end)

  it("a column option given a relationship, a string or nothing", function()
    local err = pcall_err(function() return orm.load_only(User.posts) end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.load_only("name") end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.defer() end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.load_only(User.name, Post.title) end)
    assert.equal("ArgumentError", err.kind)
  end)

  it("defer of a primary key column", function()
    local err = pcall_err(function() return orm.defer(User.id) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "User.id"), err.message)
  end)

  it("contains_eager with an alias of another entity", function()
    local err = pcall_err(function() return orm.contains_eager(Post.author, orm.aliased(Post)) end)
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(function() return orm.contains_eager(Post.author, 5) end)
    assert.equal("ArgumentError", err.kind)
  end)
end)

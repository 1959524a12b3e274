-- Join conditions spelled out (issue 17): orm.foreign() and orm.remote() in a primaryjoin,
-- and foreign_keys given as a column attribute or a list of them, as SQLAlchemy 2.0 takes
-- foreign(), remote() and foreign_keys=[...].
local orm = require("lualchemy")

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

-- the generic foreign key: comments of posts and of photos in one table, told apart by
-- target_type, with no foreign key constraint in the database
local function generic()
  local env = {}
  local Base = orm.declarative_base()
  local Post, Photo, Comment
  Post = Base:model("Post", {
    __tablename__ = "ra_posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    comments = orm.relationship("Comment", { order_by = "Comment.id", primaryjoin = function()
      return orm.and_(orm.foreign(Comment.target_id):eq(Post.id), Comment.target_type:eq("post"))
    end }),
  })
  Photo = Base:model("Photo", {
    __tablename__ = "ra_photos",
    id = orm.Column(orm.Integer, { primary_key = true }),
    comments = orm.relationship("Comment", { order_by = "Comment.id", foreign_keys = function() return { Comment.target_id } end,
      primaryjoin = function()
        return orm.and_(Comment.target_id:eq(Photo.id), Comment.target_type:eq("photo"))
      end }),
  })
  Comment = Base:model("Comment", {
    __tablename__ = "ra_comments",
    id = orm.Column(orm.Integer, { primary_key = true }),
    target_id = orm.Column(orm.Integer),
    target_type = orm.Column(orm.String(10)),
    body = orm.Column(orm.String(20)),
  })
  env.Post, env.Photo, env.Comment = Post, Photo, Comment
  env.engine = orm.create_engine("sqlite://")
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  return env
end

describe("orm.foreign() in a primaryjoin", function()
  it("names the foreign key where the database has none: sync, lazy load, any(), selectinload", function()
    local env = generic()
    local s, Post, Photo, Comment = env.s, env.Post, env.Photo, env.Comment
    local post, photo = Post{ id = 1 }, Photo{ id = 1 }
    post.comments:append(Comment{ body = "on post", target_type = "post" })
    photo.comments:append(Comment{ body = "on photo", target_type = "photo" })
    s:add_all({ post, photo })
    s:commit()
    local rows = s:execute(orm.text("SELECT target_id, target_type FROM ra_comments ORDER BY id")):all()
    assert.same({ 1, "post" }, { rows[1][1], rows[1][2] })
    assert.same({ 1, "photo" }, { rows[2][1], rows[2][2] })
    s:expunge_all()
    local p = s:get(Post, 1)
    assert.equal(1, #p.comments)
    assert.equal("on post", p.comments[1].body)
    assert.equal(1, #s:scalars(orm.select(Post):where(Post.comments:any(Comment.body:like("on%")))):all())
    s:expunge_all()
    local ph = s:scalars(orm.select(Photo):options(orm.selectinload(Photo.comments))):one()
    assert.equal("on photo", ph.comments[1].body)
  end)

  it("is SQL's column itself outside a relationship", function()
    local env = generic()
    local sql = tostring(orm.select(env.Comment.id):where(orm.foreign(env.Comment.target_id):eq(3)))
    assert.truthy(has(sql, "WHERE ra_comments.target_id = ?"), sql)
  end)
end)

describe("orm.remote() in a self-referential primaryjoin", function()
  local function tree()
    local Base = orm.declarative_base()
    local Node
    Node = Base:model("Node", {
      __tablename__ = "ra_nodes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("ra_nodes.id")),
      parent = orm.relationship("Node", { back_populates = "children",
        primaryjoin = function() return orm.remote(Node.id):eq(orm.foreign(Node.parent_id)) end }),
      children = orm.relationship("Node", { back_populates = "parent", order_by = "Node.id",
        primaryjoin = function() return orm.remote(orm.foreign(Node.parent_id)):eq(Node.id) end }),
    })
    local engine = orm.create_engine("sqlite://")
    Base.metadata:create_all(engine)
    return Node, orm.Session(engine)
  end

  it("tells the many-to-one from the one-to-many", function()
    local Node, s = tree()
    local root, kid = Node{ id = 1 }, Node{ id = 2 }
    kid.parent = root
    s:add(root)
    s:commit()
    s:expunge_all()
    local r = s:get(Node, 1)
    assert.equal(1, #r.children)
    assert.equal(2, r.children[1].id)
    assert.equal(r, r.children[1].parent)
    assert.equal(1, s:get(Node, 2).parent_id)
    local m = orm.inspect(Node)
    assert.equal("MANYTOONE", m.relationships.parent.direction)
    assert.equal("ONETOMANY", m.relationships.children.direction)
  end)

  it("without remote() is refused, naming the relationship", function()
    local Base = orm.declarative_base()
    local Node
    Node = Base:model("Node", {
      __tablename__ = "ra_nodes2",
      id = orm.Column(orm.Integer, { primary_key = true }),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("ra_nodes2.id")),
      parent = orm.relationship("Node", {
        primaryjoin = function() return Node.id:eq(Node.parent_id) end }),
    })
    local ok, err = pcall(function() return Node.parent end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "Node.parent"), tostring(err))
    assert.truthy(has(tostring(err), "remote()"), tostring(err))
  end)
end)

describe("foreign_keys", function()
  it("takes a column attribute or a list of them", function()
    local Base = orm.declarative_base()
    local User, Msg
    User = Base:model("User", {
      __tablename__ = "ra_users",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    Msg = Base:model("Msg", {
      __tablename__ = "ra_msgs",
      id = orm.Column(orm.Integer, { primary_key = true }),
      from_id = orm.Column(orm.Integer, orm.ForeignKey("ra_users.id")),
      to_id = orm.Column(orm.Integer, orm.ForeignKey("ra_users.id")),
      sender = orm.relationship("User", { foreign_keys = function() return Msg.from_id end }),
      receiver = orm.relationship("User", { foreign_keys = function() return { Msg.to_id } end }),
    })
    local engine = orm.create_engine("sqlite://")
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    local a, b = User{ id = 1 }, User{ id = 2 }
    s:add(Msg{ id = 1, sender = a, receiver = b })
    s:commit()
    local row = s:execute(orm.text("SELECT from_id, to_id FROM ra_msgs")):one()
    assert.same({ 1, 2 }, { row[1], row[2] })
  end)
end)

-- a materialized path: each node's path holds its ancestors' ("1", "1.2", "1.2.3"); the
-- descendants and ancestors are viewonly relationships on a LIKE, as SQLAlchemy's own
-- example declares them (remote(foreign(path)) on the target's side)
local function paths()
  local env = { log = {} }
  local Base = orm.declarative_base()
  local Node
  Node = Base:model("Node", {
    __tablename__ = "mp_nodes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    path = orm.Column(orm.String(100), { nullable = false }),
    descendants = orm.relationship("Node", { viewonly = true, order_by = "Node.path",
      primaryjoin = function() return orm.remote(orm.foreign(Node.path)):like(Node.path .. ".%") end }),
    ancestors = orm.relationship("Node", { viewonly = true, order_by = "Node.path",
      primaryjoin = function() return Node.path:like(orm.remote(orm.foreign(Node.path)) .. ".%") end }),
  })
  env.Node = Node
  env.engine = orm.create_engine("sqlite://", { echo = function(sql) env.log[#env.log + 1] = sql end })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  for _, p in ipairs({ "1", "1.2", "1.2.3", "1.4", "5" }) do env.s:add(Node{ path = p }) end
  env.s:commit()
  return env
end

local function path_list(objs)
  local out = {}
  -- a collection or a list (ipairs does not reach a collection's __index on 5.1 / LuaJIT)
  for i = 1, #objs do out[#out + 1] = objs[i].path end
  return out
end

describe("a viewonly relationship on a condition other than equality (materialized path)", function()
  it("lazy loads by the LIKE with the parent's path bound", function()
    local env = paths()
    local s, Node = env.s, env.Node
    local n = s:scalars(orm.select(Node):where(Node.path:eq("1.2"))):one()
    env.log = {}
    assert.same({ "1.2.3" }, path_list(n.descendants))
    assert.same({ "1" }, path_list(n.ancestors))
    local top = s:scalars(orm.select(Node):where(Node.path:eq("1"))):one()
    assert.same({ "1.2", "1.2.3", "1.4" }, path_list(top.descendants))
    assert.same({}, path_list(top.ancestors))
    assert.truthy(has(env.log[1], "LIKE"))
  end)

  it("works in any(), joins, with_parent, selectinload and joinedload as in SQLAlchemy", function()
    local env = paths()
    local s, Node = env.s, env.Node
    -- nodes with a descendant whose path ends in .3
    assert.same({ "1", "1.2" }, path_list(s:scalars(orm.select(Node)
      :where(Node.descendants:any(Node.path:like("%.3"))):order_by(Node.path)):all()))
    local a = orm.aliased(Node)
    local rows = s:execute(orm.select(Node.path, a.path):join(a, Node.descendants)
      :order_by(Node.path, a.path)):all()
    local got = {}
    for i = 1, #rows do got[#got + 1] = rows[i][1] .. ">" .. rows[i][2] end
    assert.same({ "1>1.2", "1>1.2.3", "1>1.4", "1.2>1.2.3" }, got)
    local n = s:scalars(orm.select(Node):where(Node.path:eq("1.2"))):one()
    assert.same({ "1.2.3" }, path_list(s:scalars(orm.select(Node):where(orm.with_parent(n, Node.descendants))):all()))
    for _, opt in ipairs({ orm.selectinload(Node.descendants), orm.joinedload(Node.descendants) }) do
      s:expire_all()
      local all = s:scalars(orm.select(Node):options(opt):order_by(Node.path)):unique():all()
      local loaded = {}
      for i = 1, #all do loaded[#loaded + 1] = all[i].path .. ":" .. table.concat(path_list(all[i].descendants), ",") end
      assert.same({ "1:1.2,1.2.3,1.4", "1.2:1.2.3", "1.2.3:", "1.4:", "5:" }, loaded)
    end
  end)

  it("is refused unless viewonly, and cannot be changed", function()
    local Base = orm.declarative_base()
    local B
    B = Base:model("B", {
      __tablename__ = "mp_b",
      id = orm.Column(orm.Integer, { primary_key = true }),
      path = orm.Column(orm.String(100)),
      sub = orm.relationship("B", { primaryjoin = function() return orm.remote(orm.foreign(B.path)):like(B.path .. ".%") end }),
    })
    local ok, err = pcall(function() return B.sub end)
    assert.falsy(ok)
    assert.truthy(has(tostring(err), "B.sub"))
    assert.truthy(has(tostring(err), "viewonly"))
    local env = paths()
    local n = env.s:scalars(orm.select(env.Node):where(env.Node.path:eq("1"))):one()
    assert.has_error(function() n.descendants:append(env.Node{ path = "1.9" }) end)
  end)
end)

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

  it("without remote(), or with another condition, is refused, naming the relationship", function()
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

    local Base2 = orm.declarative_base()
    local Tree
    Tree = Base2:model("Tree", {
      __tablename__ = "ra_trees",
      id = orm.Column(orm.Integer, { primary_key = true }),
      path = orm.Column(orm.String(100)),
      descendants = orm.relationship("Tree", { viewonly = true,
        primaryjoin = function() return orm.remote(orm.foreign(Tree.path)):like(Tree.path .. "/%") end }),
    })
    ok, err = pcall(function() return Tree.descendants end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "Tree.descendants"), tostring(err))
    assert.truthy(has(tostring(err), "column equalities"), tostring(err))
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

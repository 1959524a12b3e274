-- Relationship semantics checked against SQLAlchemy 2.0 (issue 15): a primaryjoin with more
-- than the column equality keeps every term wherever the relationship becomes SQL (lazy
-- loads, joins, joined and selectin eager loads, any / has, object comparisons,
-- with_parent), and the unit of work syncs only the foreign key column; attribute events
-- fire on every path that changes a relationship (constructor, assignment, both sides of
-- back_populates / backref) with SQLAlchemy's initiator rules. Tables are prefixed rs_.
local orm = require("lualchemy")

local generic = generic_sql

local function has(s, needle) return generic(s):find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function sorted(list)
  table.sort(list)
  return list
end

local function names(objs, attr)
  local out = {}
  for i = 1, #objs do out[#out + 1] = objs[i][attr or "body"] end -- a collection too, on every Lua
  return sorted(out)
end

-- the generic foreign key: comments of posts and of photos in one table, told apart by
-- target_type; comments.target_id has no ForeignKey, foreign_keys names it
local function generic_fk(opts)
  opts = opts or {}
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  local Post, Photo, Comment
  local function post_join() return orm.and_(Comment.target_id:eq(Post.id), Comment.target_type:eq("post")) end
  Post = Base:model("Post", {
    __tablename__ = "rs_posts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(20)),
    comments = orm.relationship("Comment", { primaryjoin = post_join, foreign_keys = "Comment.target_id",
      back_populates = "post", order_by = "id", cascade = opts.cascade }),
  })
  Photo = Base:model("Photo", {
    __tablename__ = "rs_photos",
    id = orm.Column(orm.Integer, { primary_key = true }),
    comments = orm.relationship("Comment", {
      primaryjoin = function() return orm.and_(Comment.target_id:eq(Photo.id), Comment.target_type:eq("photo")) end,
      foreign_keys = "Comment.target_id", order_by = "id" }),
  })
  Comment = Base:model("Comment", {
    __tablename__ = "rs_comments",
    id = orm.Column(orm.Integer, { primary_key = true }),
    target_id = orm.Column(orm.Integer),
    target_type = orm.Column(orm.String(10)),
    body = orm.Column(orm.String(20)),
    post = orm.relationship("Post", { primaryjoin = post_join, foreign_keys = "Comment.target_id",
      back_populates = "comments" }),
  })
  Base.metadata:create_all(env.engine)
  env.Post, env.Photo, env.Comment = Post, Photo, Comment
  local s = orm.Session(env.engine)
  env.s = s
  s:add_all({ Post{ id = 1, title = "p1" }, Post{ id = 2, title = "p2" }, Photo{ id = 1 } })
  s:flush()
  s:add_all({
    Comment{ id = 1, target_id = 1, target_type = "post", body = "on post 1" },
    Comment{ id = 2, target_id = 1, target_type = "photo", body = "on photo 1" },
    Comment{ id = 3, target_id = 2, target_type = "post", body = "on post 2" },
  })
  s:commit()
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  function env.last(pattern)
    for i = #env.log, 1, -1 do
      if generic(env.log[i]):find(pattern) then return generic(env.log[i]) end
    end
    return ""
  end
  return env
end

describe("primaryjoin with more than the column equality (generic foreign key)", function()
  local env, Post, Photo, Comment, s
  before_each(function()
    env = generic_fk()
    Post, Photo, Comment, s = env.Post, env.Photo, env.Comment, env.s
  end)

  it("a lazy load keeps the literal term", function()
    local p1 = s:get(Post, 1)
    env.clear()
    assert.same({ "on post 1" }, names(p1.comments))
    assert.truthy(has(env.last("rs_comments"), "rs_comments.target_type = ?"))
    assert.same({ "on photo 1" }, names(s:get(Photo, 1).comments))
  end)

  it("a many-to-one lazy load binds the parent's own column and skips the identity map", function()
    local photo_comment = s:get(Comment, 2)
    local post_comment = s:get(Comment, 1)
    s:get(Post, 1) -- in the identity map: the primaryjoin is more than its primary key
    env.clear()
    assert.is_nil(photo_comment.post)
    assert.equal(1, #env.log)
    assert.truthy(has(env.log[1], "FROM rs_posts"))
    assert.equal(s:get(Post, 1), post_comment.post)
  end)

  it(":join along the relationship", function()
    env.clear()
    local rows = s:execute(orm.select(Post.title, Comment.body):join(Post.comments):order_by(Comment.id)):all()
    assert.equal(2, #rows)
    assert.same({ "p1", "on post 1" }, { rows[1][1], rows[1][2] })
    assert.same({ "p2", "on post 2" }, { rows[2][1], rows[2][2] })
    assert.truthy(has(env.last("JOIN"), "AND rs_comments.target_type = ?"))
    -- the many-to-one side: the literal term is on the parent's table
    assert.same({ "on post 1", "on post 2" },
      sorted(s:scalars(orm.select(Comment.body):join(Comment.post)):all()))
  end)

  it("joined and selectin eager loads", function()
    s:expire_all()
    local posts = s:scalars(orm.select(Post):options(orm.joinedload(Post.comments)):order_by(Post.id)):unique():all()
    assert.same({ "on post 1" }, names(posts[1].comments))
    assert.same({ "on post 2" }, names(posts[2].comments))
    s:close()
    posts = s:scalars(orm.select(Post):options(orm.selectinload(Post.comments)):order_by(Post.id)):all()
    env.clear()
    assert.same({ "on post 1" }, names(posts[1].comments))
    assert.same({ "on post 2" }, names(posts[2].comments))
    assert.equal(0, #env.log)
    s:close()
    -- many-to-one: the literal term reads the parent's column
    local comments = s:scalars(orm.select(Comment):options(orm.joinedload(Comment.post)):order_by(Comment.id)):all()
    assert.equal("p1", comments[1].post.title)
    assert.is_nil(comments[2].post)
    s:close()
    comments = s:scalars(orm.select(Comment):options(orm.selectinload(Comment.post)):order_by(Comment.id)):all()
    env.clear()
    assert.equal("p1", comments[1].post.title)
    assert.is_nil(comments[2].post)
    assert.equal("p2", comments[3].post.title)
    assert.equal(0, #env.log)
  end)

  it("any() and has()", function()
    assert.same({ 1, 2 }, sorted(s:scalars(orm.select(Post.id):where(Post.comments:any())):all()))
    assert.same({}, s:scalars(orm.select(Post.id):where(Post.comments:any(Comment.body:eq("on photo 1")))):all())
    assert.same({ 1 }, s:scalars(orm.select(Photo.id):where(Photo.comments:any(Comment.body:eq("on photo 1")))):all())
    assert.same({ "on post 1", "on post 2" }, sorted(s:scalars(orm.select(Comment.body):where(Comment.post:has())):all()))
    assert.same({ "on photo 1" }, s:scalars(orm.select(Comment.body):where(orm.not_(Comment.post:has()))):all())
  end)

  it("with_parent and comparisons with an object", function()
    local p1 = s:get(Post, 1)
    local photo_comment, post_comment = s:get(Comment, 2), s:get(Comment, 1)
    assert.same({ "on post 1" }, s:scalars(orm.select(Comment.body):where(orm.with_parent(p1, Post.comments))):all())
    assert.same({}, s:scalars(orm.select(Post.id):where(orm.with_parent(photo_comment, Comment.post))):all())
    assert.same({ 1 }, s:scalars(orm.select(Post.id):where(orm.with_parent(post_comment, Comment.post))):all())
    assert.same({}, s:scalars(orm.select(Post.id):where(Post.comments:contains(photo_comment))):all())
    assert.same({ 1 }, s:scalars(orm.select(Post.id):where(Post.comments:contains(post_comment))):all())
    assert.same({ "on post 1" }, s:scalars(orm.select(Comment.body):where(Comment.post:eq(p1))):all())
    -- != an object: no related row that is it (SQLAlchemy's NOT EXISTS)
    assert.same({ "on photo 1", "on post 2" }, sorted(s:scalars(orm.select(Comment.body):where(Comment.post:ne(p1))):all()))
    -- == nil keeps the literal term: a post comment without a post
    s:add(Comment{ id = 4, target_type = "post", body = "orphan" })
    s:add(Comment{ id = 5, target_type = "photo", body = "photo orphan" })
    assert.same({ "orphan" }, s:scalars(orm.select(Comment.body):where(Comment.post:eq(nil))):all())
    assert.equal(4, #s:scalars(orm.select(Comment.body):where(Comment.post:ne(nil))):all())
  end)

  it("appending syncs only the foreign key column, as SQLAlchemy", function()
    local p2 = s:get(Post, 2)
    local c = Comment{ id = 10, body = "new" }
    p2.comments:append(c)
    s:commit()
    assert.equal(2, c.target_id)
    assert.is_nil(c.target_type)  -- SQLAlchemy does not set the literal either
    -- so the new comment is not one of the post's when loaded again
    assert.same({ "on post 2" }, names(p2.comments))
    -- setting the many-to-one: the same
    local d = Comment{ id = 11, body = "set", target_type = "post" }
    d.post = p2
    s:add(d)
    s:commit()
    assert.equal(2, d.target_id)
    assert.same({ "on post 2", "set" }, names(p2.comments))
    -- removing NULLs the foreign key and leaves the literal
    p2.comments:remove(d)
    s:commit()
    assert.is_nil(d.target_id)
    assert.equal("post", d.target_type)
  end)

  it("delete cascades reach only the related rows", function()
    env = generic_fk({ cascade = "all, delete-orphan" })
    s = env.s
    s:delete(s:get(env.Post, 1))
    s:commit()
    assert.same({ 2, 3 }, sorted(s:scalars(orm.select(env.Comment.id)):all()))
  end)
end)

describe("primaryjoin with a range term on a many-to-one", function()
  local env, Venue, Event, s
  before_each(function()
    env = { log = {} }
    env.engine = orm.create_engine("sqlite://", { echo = function(sql) env.log[#env.log + 1] = sql end })
    local Base = orm.declarative_base()
    Venue = Base:model("Venue", {
      __tablename__ = "rs_venues",
      id = orm.Column(orm.Integer, { primary_key = true }),
      capacity = orm.Column(orm.Integer),
    })
    Event = Base:model("Event", {
      __tablename__ = "rs_events",
      id = orm.Column(orm.Integer, { primary_key = true }),
      attendance = orm.Column(orm.Integer),
      venue_id = orm.Column(orm.Integer, orm.ForeignKey("rs_venues.id")),
      -- a venue only counts when the event fits in it
      venue = orm.relationship("Venue", { primaryjoin = function()
        return orm.and_(Event.venue_id:eq(Venue.id), Venue.capacity:ge(Event.attendance))
      end }),
    })
    Base.metadata:create_all(env.engine)
    s = orm.Session(env.engine)
    s:add_all({ Venue{ id = 1, capacity = 100 } })
    s:flush()
    s:add_all({ Event{ id = 1, attendance = 50, venue_id = 1 }, Event{ id = 2, attendance = 500, venue_id = 1 } })
    s:commit()
  end)

  it("every path reads the range term", function()
    assert.equal(s:get(Venue, 1), s:get(Event, 1).venue)
    assert.is_nil(s:get(Event, 2).venue)
    s:close()
    local evs = s:scalars(orm.select(Event):options(orm.joinedload(Event.venue)):order_by(Event.id)):all()
    assert.equal(1, evs[1].venue.id)
    assert.is_nil(evs[2].venue)
    s:close()
    evs = s:scalars(orm.select(Event):options(orm.selectinload(Event.venue)):order_by(Event.id)):all()
    assert.equal(1, evs[1].venue.id)
    assert.is_nil(evs[2].venue)
    assert.same({ 1 }, s:scalars(orm.select(Event.id):where(Event.venue:has())):all())
    assert.same({ 1 }, s:scalars(orm.select(Event.id):join(Event.venue)):all())
    assert.same({ 1 }, s:scalars(orm.select(Venue.id):where(orm.with_parent(s:get(Event, 1), Event.venue))):all())
    assert.same({}, s:scalars(orm.select(Venue.id):where(orm.with_parent(s:get(Event, 2), Event.venue))):all())
  end)

  it("assigning sets the foreign key", function()
    local e = Event{ id = 3, attendance = 10 }
    e.venue = s:get(Venue, 1)
    s:add(e)
    s:commit()
    assert.equal(1, e.venue_id)
  end)
end)

describe("primaryjoin configuration errors", function()
  it("a term on a third table is refused naming it", function()
    local Base = orm.declarative_base()
    local A, B, C
    A = Base:model("A", { __tablename__ = "rs_a", id = orm.Column(orm.Integer, { primary_key = true }),
      bs = orm.relationship("B", { primaryjoin = function() return orm.and_(B.a_id:eq(A.id), C.id:eq(1)) end }) })
    B = Base:model("B", { __tablename__ = "rs_b", id = orm.Column(orm.Integer, { primary_key = true }),
      a_id = orm.Column(orm.Integer, orm.ForeignKey("rs_a.id")) })
    C = Base:model("C", { __tablename__ = "rs_c", id = orm.Column(orm.Integer, { primary_key = true }) })
    local err = tostring(pcall_err(function() return A{} end))
    assert.truthy(err:find("rs_c", 1, true), err)
    assert.truthy(err:find("A.bs", 1, true), err)
  end)

  it("primaryjoin with secondary is refused", function()
    local Base = orm.declarative_base()
    local link = orm.Table("rs_link", Base.metadata,
      orm.Column("a_id", orm.Integer, orm.ForeignKey("rs_a2.id")),
      orm.Column("b_id", orm.Integer, orm.ForeignKey("rs_b2.id")))
    local A, B
    A = Base:model("A", { __tablename__ = "rs_a2", id = orm.Column(orm.Integer, { primary_key = true }),
      bs = orm.relationship("B", { secondary = link, primaryjoin = function() return A.id:eq(link.c.a_id) end }) })
    B = Base:model("B", { __tablename__ = "rs_b2", id = orm.Column(orm.Integer, { primary_key = true }) })
    local err = tostring(pcall_err(function() return A{} end))
    assert.truthy(err:find("secondary", 1, true), err)
  end)
end)

-- Attribute events. The expected sequences are SQLAlchemy 2.0's for listeners registered
-- before the mappers are configured (the usual `@event.listens_for` at import): the
-- listeners of the attribute the program changed run first, then those of the other side,
-- each once. SQLAlchemy's initiator is the change that started it all: `key` its
-- relationship, `op` "append", "remove", "replace" (a reference set) or "bulk_replace"
-- (a collection assigned, the constructor included).
local function family(opts)
  opts = opts or {}
  local Base = orm.declarative_base()
  local env = {}
  env.Parent = Base:model("Parent", {
    __tablename__ = "rs_parents",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    children = opts.backref and orm.relationship("Child", { backref = "parent", order_by = "id" })
      or orm.relationship("Child", { back_populates = "parent", order_by = "id" }),
  })
  local child = {
    __tablename__ = "rs_children",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("rs_parents.id")),
  }
  if not opts.backref then child.parent = orm.relationship("Parent", { back_populates = "children" }) end
  env.Child = Base:model("Child", child)
  env.log = {}
  -- an object being built has no name yet (the constructor's keys come in any order)
  local function n(o) return o == nil and "nil" or o.name or "new" end
  local function ini(i) return i.key .. "/" .. i.op end
  orm.event.listen(env.Parent.children, "append", function(t, v, i)
    env.log[#env.log + 1] = table.concat({ "append", n(t), n(v), ini(i) }, " ")
  end)
  orm.event.listen(env.Parent.children, "remove", function(t, v, i)
    env.log[#env.log + 1] = table.concat({ "remove", n(t), n(v), ini(i) }, " ")
  end)
  orm.event.listen(env.Child.parent, "set", function(t, v, old, i)
    env.log[#env.log + 1] = table.concat({ "set", n(t), n(v), n(old), ini(i) }, " ")
  end)
  function env.take()
    local l = env.log
    env.log = {}
    return l
  end
  env.Base = Base
  return env
end

describe("attribute events on every path", function()
  for _, kind in ipairs({ "back_populates", "backref" }) do
    describe("with " .. kind, function()
      local env, Parent, Child
      before_each(function()
        env = family({ backref = kind == "backref" })
        Parent, Child = env.Parent, env.Child
      end)

      it("a collection given to the constructor fires append, and set on the child", function()
        local c1 = Child{ name = "c1" }
        local p = Parent{ children = { c1 } }
        assert.same({ "append new c1 children/bulk_replace", "set c1 new nil children/bulk_replace" }, env.take())
        assert.equal(p, c1.parent)
      end)

      it("assigning a collection appends the new members, then removes the dropped ones", function()
        local c1, c2, c3 = Child{ name = "c1" }, Child{ name = "c2" }, Child{ name = "c3" }
        local p = Parent{ name = "p", children = { c1 } }
        env.take()
        p.children = { c1, c2 }
        assert.same({ "append p c2 children/bulk_replace", "set c2 p nil children/bulk_replace" }, env.take())
        p.children = { c2, c3 }
        assert.same({
          "append p c3 children/bulk_replace", "set c3 p nil children/bulk_replace",
          "remove p c1 children/bulk_replace", "set c1 nil p children/bulk_replace",
        }, env.take())
        assert.is_nil(c1.parent)
        assert.same({ "c2", "c3" }, names(p.children:all(), "name"))
      end)

      it("append, remove, extend and clear fire the other side once", function()
        local c1, c2 = Child{ name = "c1" }, Child{ name = "c2" }
        local p = Parent{ name = "p" }
        p.children:append(c1)
        assert.same({ "append p c1 children/append", "set c1 p nil children/append" }, env.take())
        p.children:remove(c1)
        assert.same({ "remove p c1 children/remove", "set c1 nil p children/remove" }, env.take())
        p.children:extend({ c1, c2 })
        assert.same({ "append p c1 children/append", "set c1 p nil children/append",
          "append p c2 children/append", "set c2 p nil children/append" }, env.take())
        p.children:clear()
        assert.same({ "remove p c1 children/remove", "set c1 nil p children/remove",
          "remove p c2 children/remove", "set c2 nil p children/remove" }, env.take())
      end)

      it("setting the reference fires append on the collection; moving fires remove on the old one", function()
        local p, p2 = Parent{ name = "p" }, Parent{ name = "p2" }
        local c = Child{ parent = p }
        assert.same({ "set new p nil parent/replace", "append p new parent/replace" }, env.take())
        c.name = "c"
        c.parent = p2
        assert.same({ "set c p2 p parent/replace", "remove p c parent/replace", "append p2 c parent/replace" }, env.take())
        c.parent = nil
        assert.same({ "set c nil p2 parent/replace", "remove p2 c parent/replace" }, env.take())
        -- appending to another parent's collection takes it from the first: that removal's
        -- initiator is the reference's set
        c.parent = p
        env.take()
        p2.children:append(c)
        assert.same({ "append p2 c children/append", "set c p2 p children/append", "remove p c parent/replace" }, env.take())
        assert.equal(0, #p.children)
      end)

      it("an unloaded collection gets its append without loading", function()
        local log = {}
        local engine = orm.create_engine("sqlite://", { echo = function(sql) log[#log + 1] = sql end })
        env.Base.metadata:create_all(engine)
        local s = orm.Session(engine)
        local p, c = Parent{ name = "p" }, Child{ name = "c" }
        s:add_all({ p, c })
        s:commit()
        env.take()
        local _ = p.name .. c.name
        log = {}
        c.parent = p
        assert.same({ "set c p nil parent/replace", "append p c parent/replace" }, env.take())
        for _, sql in ipairs(log) do assert.falsy(sql:find("rs_children", 1, true), sql) end
        s:commit()
        assert.equal(1, #p.children)
      end)
    end)
  end

  it("many-to-many: each side fires the other's append and remove", function()
    local Base = orm.declarative_base()
    local link = orm.Table("rs_enrolment", Base.metadata,
      orm.Column("student_id", orm.Integer, orm.ForeignKey("rs_students.id")),
      orm.Column("course_id", orm.Integer, orm.ForeignKey("rs_courses.id")))
    local Student = Base:model("Student", { __tablename__ = "rs_students",
      id = orm.Column(orm.Integer, { primary_key = true }), name = orm.Column(orm.String(20)),
      courses = orm.relationship("Course", { secondary = link, backref = "students" }) })
    local Course = Base:model("Course", { __tablename__ = "rs_courses",
      id = orm.Column(orm.Integer, { primary_key = true }), name = orm.Column(orm.String(20)) })
    local log = {}
    for _, pair in ipairs({ { Student.courses, "courses" }, { Course.students, "students" } }) do
      for _, ev in ipairs({ "append", "remove" }) do
        orm.event.listen(pair[1], ev, function(t, v, i)
          log[#log + 1] = table.concat({ pair[2], ev, t.name or "new", v.name or "new", i.key, i.op }, " ")
        end)
      end
    end
    local s1, c1 = Student{ name = "s1" }, Course{ name = "c1" }
    s1.courses:append(c1)
    c1.students:remove(s1)
    local c2 = Course{ students = { s1 } }
    assert.same({
      "courses append s1 c1 courses append", "students append c1 s1 courses append",
      "students remove c1 s1 students remove", "courses remove s1 c1 students remove",
      "students append new s1 students bulk_replace", "courses append s1 new students bulk_replace",
    }, log)
    assert.equal(c2, s1.courses[1])
  end)

  it("bulk_replace gets the list being assigned first, and may change it in place", function()
    local env = family()
    local extra = env.Child{ name = "extra" }
    local seen = {}
    orm.event.listen(env.Parent.children, "bulk_replace", function(t, values, i)
      seen[#seen + 1] = #values .. " " .. i.key .. "/" .. i.op
      values[#values + 1] = extra
    end)
    local c1 = env.Child{ name = "c1" }
    local p = env.Parent{ children = { c1 } }
    p.name = "p"
    assert.same({ "1 children/bulk_replace" }, seen)
    assert.same({ "append new c1 children/bulk_replace", "set c1 new nil children/bulk_replace",
      "append new extra children/bulk_replace", "set extra new nil children/bulk_replace" }, env.take())
    p.children = {}
    assert.same({ "remove p c1 children/bulk_replace", "set c1 nil p children/bulk_replace" }, env.take())
    -- as SQLAlchemy: the listener appended extra to the empty list, so only c1 leaves
    assert.equal(1, #p.children)
    assert.equal(extra, p.children[1])
    assert.is_nil(c1.parent)
    -- clear() removes members one by one: no bulk_replace
    p.children:clear()
    assert.equal(2, #seen)
    assert.equal(0, #p.children)
    local err = pcall_err(orm.event.listen, env.Child.parent, "bulk_replace", function() end)
    assert.truthy(tostring(err):find("scalar", 1, true), tostring(err))
  end)

  it("retval replaces the object on the side the program changed; an error reaches the caller unchanged", function()
    local env = family()
    local sub = env.Child{ name = "sub" }
    orm.event.listen(env.Parent.children, "append", function(_, v)
      if v.name == "swap" then return sub end
      return v
    end, { retval = true })
    local p = env.Parent{ children = { env.Child{ name = "swap" } } }
    assert.equal(sub, p.children[1])
    assert.equal(p, sub.parent)
    local bad = pcall_err(function()
      orm.event.listen(env.Parent.children, "append", function() return 42 end, { retval = true })
      p.children:append(env.Child{ name = "x" })
    end)
    assert.truthy(tostring(bad):find("retval", 1, true), tostring(bad))
    -- an error raised by the other side's listener reaches the caller as the very value
    local env2 = family()
    local E = {}
    orm.event.listen(env2.Child.parent, "set", function() error(E) end)
    local ok, err = pcall(function() env2.Parent{ children = { env2.Child{ name = "c" } } } end)
    assert.falsy(ok)
    assert.equal(E, err)
    local q = env2.Parent{ name = "q" }
    ok, err = pcall(function() q.children:append(env2.Child{ name = "d" }) end)
    assert.falsy(ok)
    assert.equal(E, err)
  end)
end)

-- D7: a change made through the many-to-one side to a collection not loaded (a detached or
-- persistent parent's) is kept as pending: the collection stays unloaded and, when it
-- loads, the appends / removes apply on top of the rows (SQLAlchemy's pending collection)
describe("pending changes of an unloaded collection", function()
  local function tree()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local P = Base:model("P", {
      __tablename__ = "rs_pend_p",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      children = orm.relationship("C", { back_populates = "parent", order_by = "id",
        cascade = "all, delete-orphan" }),
    })
    local C = Base:model("C", {
      __tablename__ = "rs_pend_c",
      id = orm.Column(orm.Integer, { primary_key = true }),
      pid = orm.Column(orm.Integer, orm.ForeignKey("rs_pend_p.id")),
      label = orm.Column(orm.String(20)),
      parent = orm.relationship("P", { back_populates = "children" }),
    })
    Base.metadata:create_all(engine)
    return engine, P, C
  end
  local function labels(coll)
    local out = {}
    for i = 1, #coll do out[#out + 1] = coll[i].label end
    return sorted(out)
  end

  it("a backref append to a detached parent's unloaded collection stays pending", function()
    local engine, P, C = tree()
    local s = orm.Session(engine)
    local p = P{ name = "a" }
    s:add(p); s:add(P{ name = "b" })
    p.children:append(C{ label = "x" }); p.children:append(C{ label = "y" })
    s:commit(); s:close()
    local s2 = orm.Session(engine)
    local c = C{ label = "d" }
    c.parent = p
    assert.falsy(orm.inspect(p).attrs.children.loaded)
    s2:add(c)
    assert.same({ "d", "x", "y" }, labels(p.children))
    s2:commit(); s2:close()
  end)

  it("moving a child out of an unloaded collection applies when it loads (no autoflush)", function()
    local engine, P, C = tree()
    local s = orm.Session(engine)
    local p, q = P{ name = "a" }, P{ name = "b" }
    s:add(p); s:add(q)
    p.children:append(C{ label = "x" }); p.children:append(C{ label = "y" })
    s:commit(); s:close()
    local s3 = orm.Session(engine, { autoflush = false })
    p = s3:get(P, 1); q = s3:get(P, 2)
    local x = s3:scalars(orm.select(C):filter_by({ label = "x" })):one()
    x.parent = q
    assert.falsy(orm.inspect(p).attrs.children.loaded)
    assert.same({ "y" }, labels(p.children))
    assert.same({ "x" }, labels(q.children))
    s3:commit()
    assert.same({ "y" }, labels(p.children))
    assert.same({ "x" }, labels(q.children))
    s3:close()
  end)
end)

-- remote_side may name the column qualified by the class (SQLAlchemy's "Node.id"); a name
-- that resolves to no column is refused at configuration
describe("remote_side names", function()
  local function node(remote)
    local Base = orm.declarative_base()
    local Node = Base:model("Node", {
      __tablename__ = "rs_rnode",
      id = orm.Column(orm.Integer, { primary_key = true }),
      parent_id = orm.Column(orm.Integer, orm.ForeignKey("rs_rnode.id")),
      name = orm.Column(orm.String(20)),
      parent = orm.relationship("Node", { remote_side = remote, back_populates = "children" }),
      children = orm.relationship("Node", { back_populates = "parent", order_by = "id" }),
    })
    return Base, Node
  end

  for _, remote in ipairs({ "id", "Node.id", "rs_rnode.id" }) do
    it("accepts remote_side = '" .. remote .. "'", function()
      local engine = orm.create_engine("sqlite://")
      local Base, Node = node(remote)
      Base.metadata:create_all(engine)
      local s = orm.Session(engine)
      local root = Node{ name = "root" }
      local a = Node{ name = "a", parent = root }
      s:add(a); s:commit()
      assert.equal("root", a.parent.name)
      assert.equal(1, #root.children)
      assert.equal(root.id, a.parent_id)
      s:close()
    end)
  end

  it("refuses a remote_side naming no column", function()
    for _, bad in ipairs({ "Node.nope", "nope", "Other.id" }) do
      local err = pcall_err(function()
        local Base, Node = node(bad)
        local _ = Node{ name = "x" }.parent
      end)
      assert.truthy(tostring(err):find("ArgumentError", 1, true), tostring(err))
      assert.truthy(tostring(err):find(bad, 1, true), tostring(err))
    end
  end)
end)

-- D1: reading an empty collection / nil reference of a new object does not store it: once
-- flushed, the relationship loads from the database; an append through the read value is kept
describe("empty relationships read on new objects", function()
  it("are not kept as loaded", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local P = Base:model("P", {
      __tablename__ = "rs_new_p",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      children = orm.relationship("C", { back_populates = "parent", order_by = "id" }),
    })
    local C = Base:model("C", {
      __tablename__ = "rs_new_c",
      id = orm.Column(orm.Integer, { primary_key = true }),
      pid = orm.Column(orm.Integer, orm.ForeignKey("rs_new_p.id")),
      label = orm.Column(orm.String(20)),
      parent = orm.relationship("P", { back_populates = "children" }),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    local p, c = P{ name = "a" }, C{ label = "z" }
    assert.equal(0, #p.children)
    assert.is_nil(c.parent)
    assert.falsy(orm.inspect(p).attrs.children.loaded)
    assert.falsy(orm.inspect(c).attrs.parent.loaded)
    s:add(p); s:add(c); s:flush()
    assert.falsy(orm.inspect(p).attrs.children.loaded)
    s:execute(orm.text("INSERT INTO rs_new_c (pid, label) VALUES (:p, 'db')"), { p = p.id })
    assert.equal(1, #p.children)
    assert.equal("db", p.children[1].label)
    local q = P{ name = "b" }
    local coll = q.children
    coll:append(C{ label = "k" })
    assert.truthy(orm.inspect(q).attrs.children.loaded)
    assert.equal(1, #q.children)
    s:close()
  end)
end)

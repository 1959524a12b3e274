-- Collections never loaded into memory (issue 17, "Large collections"): lazy = "write_only"
-- (SQLAlchemy 2.0's WriteOnlyMapped: :add, :add_all, :remove, :select()) and lazy = "dynamic"
-- (the legacy AppenderQuery: a query of the members with :append, :extend, :remove). The
-- expected values are what SQLAlchemy 2.0.58 does with the same models.
local orm = require("lualchemy")

local ON_SQLITE = SPEC_DIALECT == "sqlite"

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

local function setup()
  local env = {}
  local Base = orm.declarative_base()
  env.Log = Base:model("Log", {
    __tablename__ = "wo_logs",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    entries = orm.relationship("Entry", { back_populates = "log", order_by = "Entry.id",
      cascade = "all, delete-orphan", lazy = "write_only" }),
    events = orm.relationship("Event", { back_populates = "log", order_by = "Event.id", lazy = "dynamic" }),
    purged = orm.relationship("Purged", { cascade = "all, delete-orphan", passive_deletes = true,
      lazy = "write_only" }),
    tags = orm.relationship("Tag", { secondary = "wo_log_tags", order_by = "Tag.id", lazy = "write_only" }),
  })
  env.Entry = Base:model("Entry", {
    __tablename__ = "wo_entries",
    id = orm.Column(orm.Integer, { primary_key = true }),
    log_id = orm.Column(orm.Integer, orm.ForeignKey("wo_logs.id")),
    text = orm.Column(orm.String(20)),
    log = orm.relationship("Log", { back_populates = "entries" }),
  })
  env.Event = Base:model("Event", {
    __tablename__ = "wo_events",
    id = orm.Column(orm.Integer, { primary_key = true }),
    log_id = orm.Column(orm.Integer, orm.ForeignKey("wo_logs.id")),
    kind = orm.Column(orm.String(20)),
    log = orm.relationship("Log", { back_populates = "events" }),
  })
  env.Purged = Base:model("Purged", {
    __tablename__ = "wo_purged",
    id = orm.Column(orm.Integer, { primary_key = true }),
    log_id = orm.Column(orm.Integer, orm.ForeignKey("wo_logs.id", { ondelete = "CASCADE" })),
  })
  env.Tag = Base:model("Tag", {
    __tablename__ = "wo_tags",
    id = orm.Column(orm.Integer, { primary_key = true }),
  })
  orm.Table("wo_log_tags", Base.metadata,
    orm.Column("log_id", orm.Integer, orm.ForeignKey("wo_logs.id"), { primary_key = true }),
    orm.Column("tag_id", orm.Integer, orm.ForeignKey("wo_tags.id"), { primary_key = true }))
  env.statements = {}
  env.engine = orm.create_engine("sqlite://", { echo = function(sql) env.statements[#env.statements + 1] = sql end })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.rows(sql)
    local out = {}
    for _, r in ipairs(env.s:execute(orm.text(sql)):all()) do
      local t = {}
      for i = 1, #r do t[i] = r[i] end
      out[#out + 1] = t
    end
    return out
  end
  function env.selects(table_name)
    local n = 0
    for _, sql in ipairs(env.statements) do
      if sql:find("^SELECT") and has(sql, "FROM " .. table_name) then n = n + 1 end
    end
    return n
  end
  return env
end

local function texts(list, field)
  local out = {}
  for i, x in ipairs(list) do out[i] = x[field] end
  return table.concat(out, ",")
end

describe("lazy = \"write_only\"", function()
  it("records add, add_all and remove for the flush, and select() reads the members in order", function()
    local env = setup()
    local s, Log, Entry = env.s, env.Log, env.Entry
    local log = Log{ id = 1, name = "l", entries = { Entry{ id = 1, text = "a" } } }
    s:add(log)
    assert.equal(2, #s.new) -- the constructor's members cascade as a collection's
    s:flush()
    log.entries:add(Entry{ id = 2, text = "b" })
    log.entries:add_all({ Entry{ id = 3, text = "c" }, Entry{ id = 4, text = "d" } })
    assert.equal(3, #s.new)
    -- select() autoflushes through the session and reads the rows, in order_by order
    assert.equal("a,b,c,d", texts(s:scalars(log.entries:select()):all(), "text"))
    local b = s:get(Entry, 2)
    log.entries:remove(b) -- delete-orphan: the orphan is deleted by the flush
    s:commit()
    assert.same({ { 1, 1, "a" }, { 3, 1, "c" }, { 4, 1, "d" } },
      env.rows("SELECT id, log_id, text FROM wo_entries ORDER BY id"))
  end)

  it("is never loaded: reading, # and ipairs raise, pointing to select()", function()
    local env = setup()
    local log = env.Log{ id = 1 }
    env.s:add(log)
    env.s:commit()
    -- ipairs of a userdata raises on every Lua (its own message before 5.3)
    assert.is_false(pcall(function() for _ in ipairs(log.entries) do end end))
    for _, f in ipairs({
      function() return #log.entries end,
      function() return log.entries[1] end,
    }) do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.truthy(has(tostring(err), "Log.entries is a write-only collection"), tostring(err))
      assert.truthy(has(tostring(err), "select()"), tostring(err))
    end
    assert.equal(0, env.selects("wo_entries"))
  end)

  it("the many-to-one side records the member; a member outside the session is not flushed", function()
    local env = setup()
    local s, Log, Entry = env.s, env.Log, env.Entry
    local log = Log{ id = 1 }
    s:add(log)
    s:flush()
    local e = Entry{ id = 7, text = "x" }
    e.log = log -- SQLAlchemy 2.0: no cascade along the backref; e stays outside
    assert.is_false(s.new:contains(e))
    s:add(e)
    s:commit()
    assert.same({ { 7, 1 } }, env.rows("SELECT id, log_id FROM wo_entries"))
  end)

  it("refuses to replace the collection of an object that has a row", function()
    local env = setup()
    local log = env.Log{ id = 1 }
    env.s:add(log)
    env.s:flush()
    local ok, err = pcall(function() log.entries = { env.Entry{ text = "q" } } end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), 'Collection "Log.entries"'), tostring(err))
    assert.truthy(has(tostring(err), "replacement"), tostring(err))
  end)

  it("deleting the parent needs passive_deletes: without it the error names the attribute", function()
    local env = setup()
    local s, Log = env.s, env.Log
    local log = Log{ id = 1, entries = { env.Entry{ id = 1 } }, purged = { env.Purged{ id = 1 } } }
    s:add(log)
    s:commit()
    -- delete cascade walks Log.entries, which cannot load
    local ok, err = pcall(s.delete, s, log)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "Attribute Log.entries"), tostring(err))
    assert.truthy(has(tostring(err), "passive_deletes"), tostring(err))
  end)

  it("with passive_deletes the database deletes the members; none is loaded", function()
    local env = setup()
    local Base = orm.declarative_base()
    local Box = Base:model("Box", {
      __tablename__ = "wo_boxes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      items = orm.relationship("Item", { cascade = "all, delete-orphan", passive_deletes = true, lazy = "write_only" }),
    })
    local Item = Base:model("Item", {
      __tablename__ = "wo_items",
      id = orm.Column(orm.Integer, { primary_key = true }),
      box_id = orm.Column(orm.Integer, orm.ForeignKey("wo_boxes.id", { ondelete = "CASCADE" })),
    })
    Base.metadata:create_all(env.engine)
    local s = env.s
    local box = Box{ id = 1, items = { Item{ id = 1 }, Item{ id = 2 } } }
    s:add(box)
    s:commit()
    env.statements = {}
    s:delete(box)
    s:commit()
    assert.equal(0, env.selects("wo_items"))
    assert.same({}, env.rows("SELECT id FROM wo_boxes"))
    if not ON_SQLITE then -- SQLite enforces ON DELETE only with PRAGMA foreign_keys
      assert.same({}, env.rows("SELECT id FROM wo_items"))
    end
  end)

  it("a many-to-many write-only collection writes and removes association rows", function()
    local env = setup()
    local s, Log, Tag = env.s, env.Log, env.Tag
    local log = Log{ id = 1 }
    log.tags:add(Tag{ id = 1 })
    log.tags:add(Tag{ id = 2 })
    s:add(log)
    s:commit()
    assert.same({ { 1, 1 }, { 1, 2 } }, env.rows("SELECT log_id, tag_id FROM wo_log_tags ORDER BY tag_id"))
    log.tags:remove(s:get(Tag, 1))
    s:commit()
    assert.same({ { 1, 2 } }, env.rows("SELECT log_id, tag_id FROM wo_log_tags"))
    assert.equal("2", texts(s:scalars(log.tags:select()):all(), "id"))
  end)

  it("refuses eager loaders, naming the relationship", function()
    local env = setup()
    for _, loader in ipairs({ orm.joinedload, orm.selectinload }) do
      local ok, err = pcall(loader, env.Log.entries)
      assert.is_false(ok)
      assert.truthy(has(tostring(err), "'Log.entries' (lazy = \"write_only\") does not support object population"), tostring(err))
    end
    -- lazyload / raiseload / noload change nothing and are accepted
    env.s:add(env.Log{ id = 1 })
    env.s:commit()
    env.s:expunge_all()
    local log = env.s:scalars(orm.select(env.Log):options(orm.lazyload(env.Log.entries))):one()
    assert.equal(0, #env.s:scalars(log.entries:select()):all())
  end)

  it("is for collections: a many-to-one or uselist = false is refused", function()
    local Base = orm.declarative_base()
    Base:model("A", { __tablename__ = "wo_a", id = orm.Column(orm.Integer, { primary_key = true }) })
    local B = Base:model("B", {
      __tablename__ = "wo_b",
      id = orm.Column(orm.Integer, { primary_key = true }),
      a_id = orm.Column(orm.Integer, orm.ForeignKey("wo_a.id")),
      a = orm.relationship("A", { lazy = "write_only" }),
    })
    local ok, err = pcall(function() return B.a end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), 'lazy = "write_only" is for collections'), tostring(err))
  end)

  it("inspect() names the strategy", function()
    local env = setup()
    local m = orm.inspect(env.Log)
    assert.equal("write_only", m.relationships.entries.lazy)
    assert.equal("dynamic", m.relationships.events.lazy)
  end)
end)

describe("lazy = \"dynamic\"", function()
  it("is a query of the members: all, first, count, filter, order_by(nil), one", function()
    local env = setup()
    local s, Log, Event = env.s, env.Log, env.Event
    local log = Log{ id = 1 }
    log.events:append(Event{ id = 1, kind = "a" })
    log.events:extend({ Event{ id = 2, kind = "b" }, Event{ id = 3, kind = "a" } })
    s:add(log)
    s:commit()
    assert.equal("a,b,a", texts(log.events:all(), "kind"))
    assert.equal(3, log.events:count())
    assert.equal(1, log.events:first().id)
    assert.equal("1,3", texts(log.events:filter(Event.kind:eq("a")):all(), "id"))
    assert.equal(2, log.events:order_by(nil):filter_by({ kind = "b" }):one().id)
    assert.equal("3,2,1", texts(log.events:order_by(nil):order_by(Event.id:desc()):all(), "id"))
  end)

  it("remove sets the backref; the query autoflushes first", function()
    local env = setup()
    local s, Log, Event = env.s, env.Log, env.Event
    local log = Log{ id = 1, events = { Event{ id = 1 }, Event{ id = 2 } } }
    s:add(log)
    s:commit()
    local first = log.events:first()
    log.events:remove(first)
    assert.is_nil(first.log)
    assert.equal("2", texts(log.events:all(), "id")) -- the UPDATE ran before the SELECT
    assert.same({ { 1, nil }, { 2, 1 } }, env.rows("SELECT id, log_id FROM wo_events ORDER BY id"))
  end)

  it("of a pending parent: the query flushes the parent first", function()
    local env = setup()
    local s, Log, Event = env.s, env.Log, env.Event
    local log = Log{ id = 3 }
    s:add(log)
    log.events:append(Event{ id = 5 })
    assert.equal(2, #s.new)
    assert.equal("5", texts(log.events:all(), "id"))
    assert.equal(0, #s.new)
  end)

  it("of an object outside any session without a row: the appended members", function()
    local env = setup()
    local log = env.Log{ id = 1 }
    log.events:append(env.Event{ id = 9 })
    assert.equal("9", texts(log.events:all(), "id"))
    assert.equal(1, log.events:count())
    assert.equal(9, log.events:first().id)
  end)

  it("of a detached object: DetachedInstanceError (SQLAlchemy warns and returns nothing)", function()
    local env = setup()
    local log = env.Log{ id = 1 }
    env.s:add(log)
    env.s:commit()
    env.s:close()
    local ok, err = pcall(function() return log.events:all() end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "DetachedInstanceError"), tostring(err))
    assert.truthy(has(tostring(err), "Log.events"), tostring(err))
  end)

  it("deleting the parent clears the members' keys (the flush loads them)", function()
    local env = setup()
    local Base = orm.declarative_base()
    local Feed = Base:model("Feed", {
      __tablename__ = "wo_feeds",
      id = orm.Column(orm.Integer, { primary_key = true }),
      posts = orm.relationship("Post", { lazy = "dynamic" }),
    })
    local Post = Base:model("Post", {
      __tablename__ = "wo_posts",
      id = orm.Column(orm.Integer, { primary_key = true }),
      feed_id = orm.Column(orm.Integer, orm.ForeignKey("wo_feeds.id")),
    })
    Base.metadata:create_all(env.engine)
    local s = env.s
    s:add(Feed{ id = 1, posts = { Post{ id = 1 }, Post{ id = 2 } } })
    s:commit()
    local p2 = s:get(Post, 2)
    s:delete(s:get(Feed, 1))
    s:commit()
    assert.same({ { 1, nil }, { 2, nil } }, env.rows("SELECT id, feed_id FROM wo_posts ORDER BY id"))
    assert.is_nil(p2.feed_id)
  end)

  it("append is not a plain query's method", function()
    local env = setup()
    local ok, err = pcall(function() env.s:query(env.Event):append(env.Event{}) end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "dynamic relationship"), tostring(err))
  end)
end)

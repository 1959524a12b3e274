-- Rows that point at each other: post_update writes one of the two foreign keys by a
-- second UPDATE after the INSERTs (and clears it before the DELETEs), so the cycle needs
-- no order; without post_update the flush raises a clear error instead of hanging, and
-- leaves the database and the objects as they were.
local orm = require("lualchemy")

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function setup(post_update)
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Widget = Base:model("Widget", {
    __tablename__ = "cy_widgets",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    favorite_id = orm.Column(orm.Integer, orm.ForeignKey("cy_entries.id")),
    entries = orm.relationship("Entry", { foreign_keys = "Entry.widget_id", back_populates = "widget",
      cascade = "all, delete-orphan" }),
    favorite = orm.relationship("Entry", { foreign_keys = "Widget.favorite_id", post_update = post_update }),
  })
  env.Entry = Base:model("Entry", {
    __tablename__ = "cy_entries",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    widget_id = orm.Column(orm.Integer, orm.ForeignKey("cy_widgets.id")),
    widget = orm.relationship("Widget", { foreign_keys = "Entry.widget_id", back_populates = "entries" }),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.rows(sql) return env.s:execute(orm.text(sql)):all() end
  function env.since(n)
    local out = {}
    for i = n + 1, #env.log do out[#out + 1] = env.log[i] end
    return out
  end
  return env
end

describe("post_update", function()
  local env, Widget, Entry, s
  before_each(function() env = setup(true); Widget, Entry, s = env.Widget, env.Entry, env.s end)

  it("inserts both rows, then sets the post_update key by an UPDATE", function()
    local w = Widget{ name = "w" }
    local e1, e2 = Entry{ name = "e1" }, Entry{ name = "e2" }
    w.entries = { e1, e2 }
    w.favorite = e2
    s:add(w)
    local n = #env.log
    s:commit()
    local sql = env.since(n)
    local insert_w, insert_e, update_w
    for i, q in ipairs(sql) do
      if q:find("^INSERT INTO cy_widgets") then insert_w = i end
      if q:find("^INSERT INTO cy_entries") then insert_e = insert_e or i end
      if q:find("^UPDATE cy_widgets SET favorite_id") then update_w = i end
    end
    assert.truthy(insert_w and insert_e and update_w, table.concat(sql, "\n"))
    assert.truthy(insert_w < insert_e and insert_e < update_w, table.concat(sql, "\n"))
    local row = env.rows("SELECT favorite_id FROM cy_widgets")[1]
    assert.equal(e2.id, row[1])
    assert.equal(e2.id, w.favorite_id)
    assert.equal(w.id, e1.widget_id)
    -- nothing left to flush
    n = #env.log
    s:flush()
    assert.same({}, env.since(n))
  end)

  it("changing the favorite later is one UPDATE", function()
    local w = Widget{ name = "w", entries = { Entry{ name = "a" }, Entry{ name = "b" } } }
    s:add(w)
    s:commit()
    w.favorite = w.entries[2]
    s:commit()
    assert.equal(w.entries[2].id, env.rows("SELECT favorite_id FROM cy_widgets")[1][1])
    w.favorite = nil
    s:commit()
    assert.is_nil(env.rows("SELECT favorite_id FROM cy_widgets")[1][1])
  end)

  it("deleting both rows clears the post_update key first (foreign keys are enforced)", function()
    local w = Widget{ name = "w" }
    local e = Entry{ name = "e" }
    w.entries:append(e)
    w.favorite = e
    s:add(w)
    s:commit()
    s:delete(w) -- cascades to its entries
    s:commit()
    assert.equal(0, env.rows("SELECT count(*) FROM cy_widgets")[1][1])
    assert.equal(0, env.rows("SELECT count(*) FROM cy_entries")[1][1])
  end)
end)

describe("a cycle without post_update", function()
  local env, Widget, Entry, s
  before_each(function() env = setup(false); Widget, Entry, s = env.Widget, env.Entry, env.s end)

  it("raises a clear error and leaves the session as it was", function()
    local w = Widget{ name = "w" }
    local e = Entry{ name = "e" }
    w.entries:append(e)
    w.favorite = e
    s:add(w)
    local ok, err = pcall(function() s:flush() end)
    assert.falsy(ok)
    assert.truthy(has(err.message, "Circular dependency"), err.message)
    assert.truthy(has(err.message, "post_update"), err.message)
    assert.is_nil(w.id)
    assert.is_nil(w.favorite_id)
    assert.truthy(orm.inspect(w).transient) -- as SQLAlchemy: rolled back at the failure
    s:rollback()
    assert.equal(0, env.rows("SELECT count(*) FROM cy_widgets")[1][1])
  end)
end)

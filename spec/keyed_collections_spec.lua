-- Dictionary collections (issue 17): collection_class = orm.attribute_keyed_dict(name),
-- orm.column_keyed_dict(Model.col), orm.keyfunc_mapping(fn). The expected values are what
-- SQLAlchemy 2.0.58's keyed dict collections do with the same models, except where a key is
-- not the member's own (docs/BEHAVIOUR.md 15).
local orm = require("lualchemy")

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

local function setup()
  local env = {}
  local Base = orm.declarative_base()
  env.Item = Base:model("Item", {
    __tablename__ = "kc_items",
    id = orm.Column(orm.Integer, { primary_key = true }),
    notes = orm.relationship("Note", { collection_class = orm.attribute_keyed_dict("keyword"),
      cascade = "all, delete-orphan", back_populates = "item" }),
    by_first = orm.relationship("Note", { viewonly = true,
      collection_class = orm.keyfunc_mapping(function(n) return n.text:sub(1, 1) end) }),
  })
  env.Note = Base:model("Note", {
    __tablename__ = "kc_notes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    item_id = orm.Column(orm.Integer, orm.ForeignKey("kc_items.id")),
    keyword = orm.Column(orm.String(10)),
    text = orm.Column(orm.String(20)),
    item = orm.relationship("Item", { back_populates = "notes" }),
  })
  env.engine = orm.create_engine("sqlite://")
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.rows()
    local out = {}
    for _, r in ipairs(env.s:execute(orm.text("SELECT keyword, text FROM kc_notes ORDER BY id")):all()) do
      out[#out + 1] = r[1] .. "=" .. r[2]
    end
    return table.concat(out, ",")
  end
  return env
end

local function keys(c)
  local k = c:keys()
  table.sort(k)
  return table.concat(k, ",")
end

describe("collection_class = orm.attribute_keyed_dict(name)", function()
  it("files members by their attribute; the backref files them too", function()
    local env = setup()
    local Item, Note = env.Item, env.Note
    local it = Item{ id = 1 }
    it.notes["a"] = Note{ keyword = "a", text = "atext" }
    it.notes.b = Note{ keyword = "b", text = "btext" }
    assert.equal("a,b", keys(it.notes))
    assert.equal("btext", it.notes.b.text)
    local d = Note{ keyword = "d", text = "dtext" }
    d.item = it
    assert.equal("a,b,d", keys(it.notes))
    assert.equal(3, #it.notes)
    env.s:add(it)
    env.s:commit()
    assert.equal("a=atext,b=btext,d=dtext", env.rows())
  end)

  it("replacing a key deletes the orphan; nil removes; reload keys by the rows", function()
    local env = setup()
    local s, Item, Note = env.s, env.Item, env.Note
    local it = Item{ id = 1, notes = { a = Note{ keyword = "a", text = "atext" }, b = Note{ keyword = "b", text = "btext" } } }
    s:add(it)
    s:commit()
    it.notes["a"] = Note{ keyword = "a", text = "new a" }
    s:commit()
    assert.equal("b=btext,a=new a", env.rows())
    it.notes.b = nil
    s:commit()
    assert.equal("a=new a", env.rows())
    s:expunge_all()
    it = s:get(Item, 1)
    assert.equal("a", keys(it.notes))
    assert.equal("new a", it.notes:get("a").text)
    assert.is_true(it.notes:contains("a"))
    assert.is_false(it.notes:contains("zz"))
    local seen = {}
    for k, n in it.notes:pairs() do seen[#seen + 1] = k .. ":" .. n.text end
    assert.equal("a:new a", table.concat(seen, ","))
    it.notes = { q = Note{ keyword = "q", text = "qq" } }
    s:commit()
    assert.equal("q=qq", env.rows())
  end)

  it("refuses a member filed under a key that is not its own, naming both", function()
    local env = setup()
    local it = env.Item{ id = 1 }
    local ok, err = pcall(function() it.notes["c"] = env.Note{ keyword = "zz", text = "x" } end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "Item.notes"), tostring(err))
    assert.truthy(has(tostring(err), '"zz"'), tostring(err))
    assert.equal(0, #it.notes)
    ok, err = pcall(function() it.notes = { c = env.Note{ keyword = "zz", text = "x" } } end)
    assert.is_false(ok)
  end)

  it("a key that is a method's name is read with :get", function()
    local env = setup()
    local it = env.Item{ id = 1 }
    local n = env.Note{ keyword = "append", text = "x" }
    it.notes:set("append", n)
    assert.is_function(it.notes.append)
    assert.equal(n, it.notes:get("append"))
  end)
end)

describe("orm.keyfunc_mapping(fn) and orm.column_keyed_dict(col)", function()
  it("keys by what the function returns / by the column", function()
    local env = setup()
    local it = env.Item{ id = 1 }
    it.notes:set("d", env.Note{ keyword = "d", text = "dtext" })
    it.notes:set("a", env.Note{ keyword = "a", text = "new a" })
    env.s:add(it)
    env.s:commit()
    env.s:expunge_all()
    it = env.s:get(env.Item, 1)
    assert.equal("d,n", keys(it.by_first))
    assert.equal("new a", it.by_first.n.text)

    local Base = orm.declarative_base()
    local Box, Slot
    Slot = Base:model("Slot", {
      __tablename__ = "kc_slots",
      id = orm.Column(orm.Integer, { primary_key = true }),
      box_id = orm.Column(orm.Integer, orm.ForeignKey("kc_boxes.id")),
      pos = orm.Column(orm.Integer),
    })
    Box = Base:model("Box", {
      __tablename__ = "kc_boxes",
      id = orm.Column(orm.Integer, { primary_key = true }),
      slots = orm.relationship("Slot", { collection_class = orm.column_keyed_dict(Slot.pos) }),
    })
    local b = Box{ id = 1 }
    b.slots[3] = Slot{ pos = 3 }
    b.slots[7] = Slot{ pos = 7 }
    assert.equal(7, b.slots[7].pos) -- by key, not by position
    assert.is_nil(b.slots[1])
  end)

  it("refuses anything else, and a scalar relationship", function()
    local ok, err = pcall(orm.relationship, "Note", { collection_class = "dict" })
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "collection_class must be orm.attribute_keyed_dict"), tostring(err))
    ok, err = pcall(orm.keyfunc_mapping, "name")
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "expects a function"), tostring(err))
  end)
end)

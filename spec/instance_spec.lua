-- Instances as userdata: attribute access of every simple type, the slow paths (expired
-- attributes, rich types, errors), extra Lua fields, identity of Lua values, and the
-- protected metatable.
local orm = require("lualchemy")

local function setup()
  local engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local Thing = Base:model("Thing", {
    __tablename__ = "things",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    score = orm.Column(orm.Float),
    flag = orm.Column(orm.Boolean),
    data = orm.Column(orm.JSON),
    born = orm.Column(orm.Date),
    greet = function(self) return "hi " .. self.name end,
  })
  Base.metadata:create_all(engine)
  return engine, Thing
end

describe("instance attributes", function()
  local engine, Thing, s
  before_each(function()
    engine, Thing = setup()
    s = orm.Session(engine)
  end)
  after_each(function() s:close() end)

  it("read back every simple type as it was set, before and after a round trip", function()
    local t = Thing{ name = "a", score = 2, flag = true }
    assert.equal("a", t.name)
    assert.equal(2.0, t.score)
    if LUA.integers then assert.equal("float", math.type(t.score)) end
    assert.equal(true, t.flag)
    t.flag = false
    assert.equal(false, t.flag)
    s:add(t)
    s:commit()
    assert.equal("a", t.name)
    if LUA.integers then assert.equal("float", math.type(t.score)) end
    assert.equal(false, t.flag)
    if LUA.integers then assert.equal("integer", math.type(t.id)) end
  end)

  it("convert rich types on the slow path (JSON tables, dates)", function()
    local t = Thing{ name = "j", data = { a = 1, list = { 1, 2 } }, born = "2020-01-02" }
    s:add(t)
    s:commit()
    assert.equal(1, t.data.a)
    assert.equal(2, t.data.list[2])
    assert.equal("2020-01-02", tostring(t.born))
  end)

  it("accept an integral float for an Integer column and reject a fraction", function()
    local t = Thing{ id = 3.0, name = "x" }
    assert.equal(3, t.id)
    if LUA.integers then assert.equal("integer", math.type(t.id)) end
    local ok, err = pcall(function() t.id = 1.5 end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Thing.id", 1, true), tostring(err))
  end)

  it("name the attribute when a value has the wrong type", function()
    local t = Thing{}
    local ok, err = pcall(function() t.name = {} end)
    assert.is_false(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("Thing.name", 1, true), err.message)
    ok, err = pcall(function() t.flag = "yes" end)
    assert.is_false(ok)
    assert.truthy(err.message:find("Thing.flag", 1, true), err.message)
  end)

  it("reject a constructor argument that is not a table, and non-string keys", function()
    local ok, err = pcall(Thing, 5)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("Thing", 1, true), tostring(err))
    ok, err = pcall(Thing, { [1] = "x" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("keys must be attribute names", 1, true), tostring(err))
  end)

  it("find each constructor key however its string was made: long, built at run time, added later", function()
    local Base = orm.declarative_base()
    -- 58 bytes: 5.2 to 5.4 intern no string longer than 40, so the key built below is
    -- another object than the attribute's own name
    local long = ("a_rather_long_attribute_name_"):rep(2)
    local Wide = Base:model("Wide", {
      __tablename__ = "wide",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      [long] = orm.Column(orm.Integer),
    })
    Base.metadata:create_all(engine)
    local built = "a_rather_long_attribute_" .. ("name_a_rather_long_attribute_"):rep(1) .. "name_"
    assert.equal(long, built)
    local a = Wide{ name = "a", [long] = 1 }
    local b = Wide{ [built] = 2, ["na" .. ("me"):rep(1)] = "b" }
    assert.equal(1, a[long])
    assert.equal("a", a.name)
    assert.equal(2, b[long])
    assert.equal("b", b.name)
    local ok, err = pcall(Wide, { [long .. "x"] = 3 })
    assert.is_false(ok)
    assert.truthy(tostring(err):find(long .. "x", 1, true), tostring(err))
    ok, err = pcall(Wide, { nam = "c" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("'nam'", 1, true), tostring(err))
    -- a validator declared after the first objects: the constructor sees it
    Wide:validates(long, "name", function(_, key, value)
      return key == "name" and value:upper() or value * 10
    end)
    local c = Wide{ [built] = 4, name = "c" }
    assert.equal(40, c[long])
    assert.equal("C", c.name)
    s:add_all({ a, b, c })
    s:commit()
    s:expire_all()
    assert.equal(40, s:get(Wide, c.id)[long])
    assert.equal(2, b[long])
  end)

  it("set constructor arguments exactly as attribute writes would, whatever their mix", function()
    -- (the bundled LuaJIT reads a constructor's table in place while its entries are plain
    -- columns with simple values, and hands the rest to the key-by-key path: each case is
    -- checked against the same writes made one by one, in the table's own order)
    local attrs = { "id", "name", "score", "flag", "data", "born" }
    local function by_writes(args)
      local t = Thing{}
      for k, v in pairs(args) do t[k] = v end
      return t
    end
    local function outcome(make, args)
      local ok, t = pcall(make, args)
      if not ok then return { err = tostring(t) } end
      local seen = {}
      for _, a in ipairs(attrs) do
        local v = t[a]
        seen[a] = type(v) == "table" and "table" or v
      end
      return seen
    end
    local shared = { name = "shared", score = 1.5 }
    local cases = {
      { name = "a", score = 2, flag = true, id = 7 },
      { name = "b", score = 2.25, flag = false },
      { id = 3.0, name = "c" },
      { id = 1.5, name = "d" },
      { name = "e", score = "not a number" },
      { name = "f", flag = "yes" },
      { name = "g", data = { 1, 2 }, score = 3 },
      { name = "\255\254 not utf-8" },
      { name = "", score = -0.0, id = -4 },
      setmetatable({ name = "k" }, { __index = { score = 9 } }),
      shared,
      shared,
    }
    for n, args in ipairs(cases) do
      local made, written = outcome(Thing, args), outcome(by_writes, args)
      if made.err then
        assert.truthy(written.err, "case " .. n .. ": " .. made.err)
      else
        assert.same(written, made, "case " .. n)
      end
    end
    assert.same({ name = "shared", score = 1.5 }, shared)
    -- keys that are no attribute are errors of the constructor (an extra field when written)
    for _, c in ipairs({
      { { name = "h", unknown = 1 }, "'unknown' is an invalid keyword argument" },
      { { "positional", name = "i" }, "keys must be attribute names" },
      { { [true] = 1, name = "j" }, "keys must be attribute names" },
    }) do
      local ok, err = pcall(Thing, c[1])
      assert.is_false(ok)
      assert.truthy(tostring(err):find(c[2], 1, true), tostring(err))
    end
  end)

  it("call methods and keep extra Lua fields apart from mapped ones", function()
    local t = Thing{ name = "ed" }
    assert.equal("hi ed", t:greet())
    t.note = "kept"
    t[1] = "also"
    assert.equal("kept", t.note)
    assert.equal("also", t[1])
    assert.is_nil(Thing{}.note)
    s:add(t)
    s:commit()
    assert.equal("kept", t.note)
  end)

  it("hide the metatable from scripts", function()
    assert.equal(false, getmetatable(Thing{}))
  end)

  it("reload an expired attribute on access and raise DetachedInstanceError when detached", function()
    local t = Thing{ name = "x" }
    s:add(t)
    s:commit()
    s:expire(t)
    assert.equal("x", t.name)
    s:expire(t)
    s:expunge(t)
    local ok, err = pcall(function() return t.name end)
    assert.is_false(ok)
    assert.equal("DetachedInstanceError", err.kind)
  end)

  it("hand out a working object for a row after Lua collected the old one", function()
    s:add(Thing{ id = 7, name = "seven" })
    s:commit()
    local first = s:get(Thing, 7)
    first.note = "extra"
    local addr = tostring(first)
    first = nil
    collectgarbage()
    collectgarbage()
    local again = s:get(Thing, 7)
    assert.equal("seven", again.name)
    assert.truthy(rawequal(again, s:get(Thing, 7)))
    assert.is_string(addr)
  end)

  it("keep changes made through a collected object's value until the flush", function()
    s:add(Thing{ id = 8, name = "old" })
    s:commit()
    do
      local t = s:get(Thing, 8)
      t.name = "new"
    end
    collectgarbage()
    collectgarbage()
    assert.equal(1, #s.dirty)
    s:commit()
    s:close()
    local s2 = orm.Session(engine)
    assert.equal("new", s2:get(Thing, 8).name)
    s2:close()
  end)

  it("compare by identity unless the class defines __eq", function()
    local a, b = Thing{ name = "a" }, Thing{ name = "a" }
    assert.is_false(a == b)
    assert.truthy(a == a)
    Thing.__eq = function(x, y) return x.name == y.name end
    assert.truthy(a == b)
  end)

  it("accept a model or instance in add only when it is an instance", function()
    local ok, err = pcall(function() s:add(Thing) end)
    assert.is_false(ok)
    assert.equal("UnmappedInstanceError", err.kind)
    ok, err = pcall(function() s:add_all({ Thing{}, {} }) end)
    assert.is_false(ok)
    assert.equal("UnmappedInstanceError", err.kind)
    -- after instances of one model: a userdata of another kind
    ok, err = pcall(function() s:add_all({ Thing{}, Thing{}, io.stdout }) end)
    assert.is_false(ok)
    assert.equal("UnmappedInstanceError", err.kind)
  end)

  it("add every instance of a list, however it was built and whatever models it mixes", function()
    local Base = orm.declarative_base()
    local Other = Base:model("Other", {
      __tablename__ = "others",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    Base.metadata:create_all(engine)
    local backwards = {}
    for i = 40, 1, -1 do backwards[i] = Thing{ name = "b" .. i } end
    s:add_all({ Thing{ name = "m1" }, Other{}, Thing{ name = "m2" }, Other{} })
    s:add_all(backwards)
    s:commit()
    assert.equal(42, s:scalar(orm.select(orm.func.count()):select_from(Thing)))
    assert.equal(2, s:scalar(orm.select(orm.func.count()):select_from(Other)))
  end)
end)

describe("insert order", function()
  local orm = require("lualchemy")
  local function users()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local User = Base:model("User", {
      __tablename__ = "users",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      email = orm.Column(orm.String(20), { default = "none" }),
    })
    Base.metadata:create_all(engine)
    return engine, User
  end

  it("gives generated keys in the order objects were added, whatever columns they set", function()
    local engine, User = users()
    local s = orm.Session(engine)
    local a, b, c = User{ name = "a", email = "a@x" }, User{ name = "b" }, User{ name = "c", email = "c@x" }
    s:add_all({ a, b, c })
    s:commit()
    assert.same({ 1, 2, 3 }, { a.id, b.id, c.id })
    assert.equal("none", b.email)
    s:close()
  end)

  it("keeps the list order of a bulk orm.insert whose rows name different columns", function()
    local engine, User = users()
    local s = orm.Session(engine)
    s:execute(orm.insert(User), { { name = "ann", email = "a" }, { name = "carl" }, { name = "ed", email = "e" } })
    local names = {}
    for u in s:scalars(orm.select(User):order_by(User.id)) do names[#names + 1] = u.name end
    assert.same({ "ann", "carl", "ed" }, names)
    s:close()
  end)

  it("renders a condition with a subquery in full", function()
    local _, User = users()
    local sql = tostring(User.id:in_(orm.select(User.id):where(User.name:eq("x"))))
    assert.equal("users.id IN (SELECT users.id \nFROM users \nWHERE users.name = ?)", sql)
  end)
end)

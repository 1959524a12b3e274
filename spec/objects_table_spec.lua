-- The objects table (lua/instance.rs): every instance that has a Lua value keeps a slot in
-- a weak array, given back by the value's finalizer. The Lua value of a row stays the same
-- while Lua holds it, a collected one is replaced by a new one, and slots given back are
-- reused without handing one instance's value out for another.
local orm = require("lualchemy")

local function setup()
  local engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local Thing = Base:model("Thing", {
    __tablename__ = "things",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
  })
  Base.metadata:create_all(engine)
  return engine, Thing
end

-- A value whose finalizer runs `f` (a table's `__gc` from 5.2 on; a proxy on 5.1 and LuaJIT).
local function on_collect(f)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = function() f() end
    return p
  end
  return setmetatable({}, { __gc = function() f() end })
end

describe("the objects table", function()
  local engine, Thing, s
  before_each(function()
    engine, Thing = setup()
    s = orm.Session(engine)
  end)
  after_each(function() s:close() end)

  it("hands out each row's own value through rounds of collection and reuse", function()
    local n = 600
    for i = 1, n do s:add(Thing{ id = i, name = "t" .. i }) end
    s:flush() -- loaded and in the identity map, no load needed by get
    local kept = {}
    for round = 1, 4 do
      -- keep every third (shifted each round), let the rest go
      local list = {}
      for i = 1, n do list[i] = s:get(Thing, i) end
      for i = 1, n do
        if i % 3 == round % 3 then kept[i] = list[i] else kept[i] = nil end
      end
      list = nil
      collectgarbage()
      collectgarbage()
      -- new objects take the slots given back
      local fresh = {}
      for j = 1, 200 do fresh[j] = Thing{ name = "f" .. j } end
      for i = 1, n do
        local t = s:get(Thing, i)
        assert.equal(i, t.id)
        assert.equal("t" .. i, t.name)
        if kept[i] then assert.truthy(rawequal(kept[i], t)) end
        assert.truthy(rawequal(t, s:get(Thing, i)))
      end
      for j = 1, 200 do assert.equal("f" .. j, fresh[j].name) end
    end
  end)

  it("gives an object whose value was collected a new one, without its extra fields", function()
    s:add(Thing{ id = 1, name = "one" })
    s:flush()
    do
      local t = s:get(Thing, 1)
      t.note = "extra"
    end
    collectgarbage()
    collectgarbage()
    local again = s:get(Thing, 1)
    assert.equal("one", again.name)
    assert.is_nil(again.note)
    assert.truthy(rawequal(again, s:get(Thing, 1)))
  end)

  it("keeps a value made while the collected one waits for its finalizer", function()
    s:add(Thing{ id = 1, name = "one" })
    s:add(Thing{ id = 2, name = "two" })
    s:flush()
    local seen = {}
    do
      -- both unreachable at once; the guard was made after the instance's value, so it is
      -- finalized first on 5.2 and later: its get runs between the clearing of the weak
      -- entry and the instance value's finalizer
      local hold = { s:get(Thing, 1) }
      hold[2] = on_collect(function()
        local again = s:get(Thing, 1)
        seen.value = again
        seen.name = again.name
      end)
    end
    collectgarbage()
    collectgarbage()
    assert.equal("one", seen.name)
    -- the value made in the finalizer is the row's value from then on, whichever
    -- finalizer ran first
    local now = s:get(Thing, 1)
    assert.equal("one", now.name)
    assert.truthy(rawequal(now, seen.value))
    collectgarbage()
    collectgarbage()
    assert.truthy(rawequal(now, s:get(Thing, 1)))
    -- other objects still get their own values, in the slots given back
    local others = {}
    for i = 1, 50 do others[i] = Thing{ name = "o" .. i } end
    assert.equal("two", s:get(Thing, 2).name)
    assert.truthy(rawequal(now, s:get(Thing, 1)))
    for i = 1, 50 do assert.equal("o" .. i, others[i].name) end
  end)

  it("lets transient objects go and reuses their slots", function()
    for _ = 1, 5 do
      for i = 1, 2000 do
        local t = Thing{ name = "x" .. i }
        assert.equal("x" .. i, t.name)
      end
      collectgarbage()
      collectgarbage()
    end
    local t = Thing{ name = "last" }
    s:add(t)
    s:flush()
    assert.truthy(rawequal(t, s:get(Thing, t.id)))
  end)
end)

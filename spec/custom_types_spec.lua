-- orm.TypeDecorator: a type over an `impl` type whose values pass through the program's
-- process_bind_param / process_result_value: on INSERT and UPDATE parameters, on values an
-- expression compares the column with, on loaded rows and result columns; change detection
-- compares the stored (processed) values; what the functions raise reaches the caller as
-- the very value. And orm.Enum: a stored value not among its values is a LookupError on
-- load, as in SQLAlchemy. On whichever database the run is on.
local orm = require("lualchemy")

local generic = generic_sql or function(s) return s end

-- a vector of numbers stored as "1,2,3"
local calls = { bind = 0, result = 0 }
local Vector = orm.TypeDecorator{
  name = "Vector",
  impl = orm.String(100),
  cache_ok = true,
  process_bind_param = function(value, dialect)
    calls.bind = calls.bind + 1
    assert(dialect == nil)
    if value == nil then return nil end
    if type(value) ~= "table" then error({ reason = "not a vector", got = value }) end
    local parts = {}
    for i, x in ipairs(value) do parts[i] = string.format("%g", x) end
    return table.concat(parts, ",")
  end,
  process_result_value = function(value, dialect)
    calls.result = calls.result + 1
    if value == nil then return nil end
    if value == "boom" then error("cannot read a vector from 'boom'") end
    local v = {}
    for x in value:gmatch("[^,]+") do v[#v + 1] = tonumber(x) end
    return v
  end,
}

-- nil stored as an empty list: both directions see nil
local Tags = orm.TypeDecorator{
  impl = orm.JSON,
  process_bind_param = function(value)
    if value == nil or #value == 0 then return nil end
    local copy = {}
    for i, v in ipairs(value) do copy[i] = v end
    table.sort(copy)
    return copy
  end,
  process_result_value = function(value) return value or {} end,
}

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql, params) env.log[#env.log + 1] = { sql = generic(sql), params = params } end,
  })
  local Base = orm.declarative_base{ type_annotation_map = { vector = Vector } }
  env.Ship = Base:model("Ship", {
    __tablename__ = "ships",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    pos = orm.Column(Vector),
    vel = orm.Mapped("vector?"),
    tags = orm.Column(Tags),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.last(pattern)
    for i = #env.log, 1, -1 do
      if env.log[i].sql:find(pattern) then return env.log[i] end
    end
  end
  return env
end

describe("orm.TypeDecorator", function()
  local env, Ship, s
  before_each(function()
    env = setup()
    Ship, s = env.Ship, env.s
  end)
  after_each(function() s:close() end)

  it("is its impl type in the database", function()
    assert.equal("VARCHAR(100)", tostring(Vector))
    assert.equal("VARCHAR(100)", Vector:compile(env.engine))
    local ddl = orm.CreateTable(Ship.__table__):compile(env.engine)
    assert.truthy(ddl:find("pos VARCHAR(100)", 1, true), ddl)
    assert.truthy(ddl:find("vel VARCHAR(100)", 1, true), ddl)
  end)

  it("binds INSERT and UPDATE parameters through process_bind_param", function()
    local ship = Ship{ name = "a", pos = { 1, 2.5, 3 } }
    s:add(ship)
    s:commit()
    local ins = env.last("^INSERT")
    assert.truthy(ins)
    local found = false
    for _, p in ipairs(ins.params) do if p == "1,2.5,3" then found = true end end
    assert.truthy(found, "the INSERT sent the processed value")
    ship.pos = { 4, 5, 6 }
    s:flush()
    local up = env.last("^UPDATE")
    assert.truthy(up and up.sql:find("SET pos=?", 1, true), up and up.sql)
    assert.equal("4,5,6", up.params[1])
    s:commit()
    -- the stored text, read without the decorator
    local raw = s:execute(orm.text("SELECT pos FROM ships")):scalar()
    assert.equal("4,5,6", raw)
  end)

  it("reads loaded rows through process_result_value", function()
    s:add(Ship{ id = 1, name = "a", pos = { 7, 8 } })
    s:commit()
    s:close()
    local s2 = orm.Session(env.engine)
    local ship = s2:get(Ship, 1)
    assert.same({ 7, 8 }, ship.pos)
    -- each read makes the value afresh from the stored one
    assert.are_not.equal(ship.pos, ship.pos)
    assert.same(ship.pos, ship.pos)
    -- and result columns
    assert.same({ 7, 8 }, s2:scalar(orm.select(Ship.pos)))
    assert.same({ { 7, 8 } }, s2:execute(orm.select(Ship.pos)):scalars():all())
    s2:close()
  end)

  it("passes nil through both functions, as SQLAlchemy does", function()
    local ship = Ship{ id = 1, name = "bare" }
    assert.same({}, ship.tags) -- process_result_value(nil)
    ship.tags = {}
    s:add(ship)
    s:commit()
    assert.is_nil(s:execute(orm.text("SELECT tags FROM ships")):scalar())
    ship.tags = { "b", "a" }
    s:commit()
    assert.same({ "a", "b" }, ship.tags)
    local before = calls.bind
    ship.pos = nil
    assert.equal(before + 1, calls.bind)
    assert.is_nil(ship.pos)
  end)

  it("binds values compared with the column through process_bind_param", function()
    s:add_all({ Ship{ name = "a", pos = { 1, 2 } }, Ship{ name = "b", pos = { 3, 4 } } })
    s:commit()
    local found = s:scalars(orm.select(Ship.name):where(Ship.pos:eq({ 3, 4 }))):all()
    assert.same({ "b" }, found)
    local sel = env.last("^SELECT ships.name")
    assert.equal("3,4", sel.params[1])
    found = s:scalars(orm.select(Ship.name):where(Ship.pos:in_({ { 1, 2 }, { 9 } })):order_by(Ship.name)):all()
    assert.same({ "a" }, found)
    assert.same({ "a" }, s:scalars(orm.select(Ship.name):filter_by{ pos = { 1, 2 } }):all())
  end)

  it("detects changes by the stored value: an equal table is no change", function()
    local ship = Ship{ name = "a", pos = { 1, 2 } }
    s:add(ship)
    s:commit()
    assert.same({ 1, 2 }, ship.pos) -- loaded (the commit expired it)
    ship.pos = { 1, 2 }
    local n = #env.log
    s:flush()
    assert.is_nil(env.last("^UPDATE"))
    ship.pos = { 1, 3 }
    s:flush()
    assert.truthy(env.last("^UPDATE"))
    assert.truthy(#env.log > n)
    -- changing the table read is not assigning: the object keeps its stored value
    local p = ship.pos
    p[1] = 99
    assert.same({ 1, 3 }, ship.pos)
    n = #env.log
    s:flush()
    assert.equal(n, #env.log)
  end)

  it("raises what process_bind_param raises as that very value", function()
    local ship = Ship{ name = "a" }
    local ok, err = pcall(function() ship.pos = "up" end)
    assert.falsy(ok)
    assert.equal("not a vector", err.reason)
    assert.equal("up", err.got)
    ok, err = pcall(Ship, { name = "b", pos = 5 })
    assert.falsy(ok)
    assert.equal("not a vector", err.reason)
    -- in a SQL expression: an orm.Error whose orig is the value raised
    ok, err = pcall(function() return Ship.pos:eq("x") end)
    assert.falsy(ok)
    assert.equal("not a vector", err.orig.reason)
  end)

  it("raises what process_result_value raises as that very value", function()
    s:execute(orm.text("INSERT INTO ships (id, name, pos) VALUES (5, 'x', 'boom')"))
    s:commit()
    local ship = s:get(Ship, 5)
    local ok, err = pcall(function() return ship.pos end)
    assert.falsy(ok)
    assert.equal("string", type(err))
    assert.truthy(err:find("cannot read a vector from 'boom'", 1, true))
    -- a session method: the very value
    ok, err = pcall(function() return s:scalar(orm.select(Ship.pos)) end)
    assert.falsy(ok)
    assert.equal("string", type(err))
    assert.truthy(err:find("cannot read a vector", 1, true))
    -- a Result's rows: an orm.Error whose orig is the value
    ok, err = pcall(function() return s:execute(orm.select(Ship.pos)):first().pos end)
    assert.falsy(ok)
    assert.equal("string", type(err.orig))
    assert.truthy(err.orig:find("cannot read a vector", 1, true))
  end)

  it("over JSON, keeps JSON element access on the column", function()
    s:add_all({ Ship{ id = 1, name = "a", tags = { "b", "a" } }, Ship{ id = 2, name = "b", tags = { "c" } } })
    s:commit()
    -- stored sorted by process_bind_param; [1] is the first element
    assert.same({ "a", "c" }, s:scalars(orm.select(Ship.tags[1]:as_string()):order_by(Ship.id)):all())
    assert.same({ "a" }, s:scalars(orm.select(Ship.name):where(Ship.tags[2]:as_string():eq("b"))):all())
  end)

  it("checks its declaration", function()
    local ok, err = pcall(orm.TypeDecorator, { impl = orm.String, process_bind = function() end })
    assert.falsy(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("'process_bind'", 1, true))
    assert.truthy(err.message:find("process_bind_param", 1, true))
    ok, err = pcall(orm.TypeDecorator, { process_bind_param = function() end })
    assert.falsy(ok)
    assert.truthy(err.message:find("'impl' must be a type", 1, true))
    ok, err = pcall(orm.TypeDecorator, { name = "V", impl = orm.String, process_result_value = 3 })
    assert.falsy(ok)
    assert.truthy(err.message:find("V: 'process_result_value' must be a function", 1, true))
    -- what process_bind_param returns must suit the impl type
    local Bad = orm.TypeDecorator{ name = "Bad", impl = orm.Integer, process_bind_param = function(v) return "x" .. v end }
    local Base = orm.declarative_base()
    local M = Base:model("M", { __tablename__ = "m", id = orm.Column(orm.Integer, { primary_key = true }), b = orm.Column(Bad) })
    ok, err = pcall(M, { b = "1" })
    assert.falsy(ok)
    assert.truthy(err.message:find("M.b (Bad.process_bind_param): expected an integer", 1, true), err.message)
  end)
end)

describe("orm.Enum", function()
  local engine, Crew, s
  before_each(function()
    engine = orm.create_engine("sqlite://")
    -- the table as another program wrote it: a plain string column (MySQL's native ENUM
    -- could not hold the odd value)
    local Writer = orm.declarative_base()
    Writer:model("CrewRow", {
      __tablename__ = "crew",
      id = orm.Column(orm.Integer, { primary_key = true }),
      role = orm.Column(orm.String(20)),
    })
    Writer.metadata:create_all(engine)
    local Base = orm.declarative_base()
    Crew = Base:model("Crew", {
      __tablename__ = "crew",
      id = orm.Column(orm.Integer, { primary_key = true }),
      role = orm.Column(orm.Enum("pilot", "gunner")),
    })
    s = orm.Session(engine)
    s:add(Crew{ id = 1, role = "pilot" })
    s:execute(orm.text("INSERT INTO crew (id, role) VALUES (2, 'cook')"))
    s:commit()
    s:close()
    s = orm.Session(engine)
  end)
  after_each(function() s:close() end)

  it("loads values among its values", function()
    assert.equal("pilot", s:get(Crew, 1).role)
    assert.equal("pilot", s:scalar(orm.select(Crew.role):where(Crew.id:eq(1))))
  end)

  it("raises LookupError when a stored value is not among its values", function()
    local ok, err = pcall(s.get, s, Crew, 2)
    assert.falsy(ok)
    assert.equal("LookupError", err.kind)
    assert.truthy(err:is("LookupError"))
    assert.equal("Crew.role: 'cook' is not among the defined enum values. Possible values: pilot, gunner", err.message)
    ok, err = pcall(function() return s:scalars(orm.select(Crew):order_by(Crew.id)):all() end)
    assert.falsy(ok)
    assert.equal("LookupError", err.kind)
    ok, err = pcall(function() return s:scalars(orm.select(Crew.role)):all() end)
    assert.falsy(ok)
    assert.equal("LookupError", err.kind)
    assert.truthy(err.message:find("'cook'", 1, true))
    assert.equal("LookupError", orm.Error.LookupError)
  end)

  it("raises it when an expired attribute reloads", function()
    local member = s:get(Crew, 1)
    s:execute(orm.text("UPDATE crew SET role = 'medic' WHERE id = 1"))
    s:expire(member)
    local ok, err = pcall(function() return member.role end)
    assert.falsy(ok)
    assert.equal("LookupError", err.kind)
    assert.truthy(err.message:find("'medic'", 1, true))
  end)
end)

-- orm.composite(Point, ...): several columns read and written as one Lua value. The class
-- makes the value from the column values (nil when they are all nil); the value goes back
-- to the columns through its __composite_values__ method or its fields named like the
-- columns' attributes. Usable in constructors, by assignment (change tracking is the
-- columns'), and in queries column by column, as SQLAlchemy's composite. On whichever
-- database the run is on.
local orm = require("lualchemy")

local generic = generic_sql or function(s) return s end

-- a "class" with __composite_values__ and __eq
local Point = {}
Point.__index = Point
setmetatable(Point, { __call = function(cls, x, y) return setmetatable({ x = x, y = y }, cls) end })
function Point:__composite_values__() return { self.x, self.y } end
Point.__eq = function(a, b) return a.x == b.x and a.y == b.y end

-- a constructor function whose values carry fields named like the columns
local function Size(w, h) return { w = w, h = h } end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql, params) env.log[#env.log + 1] = { sql = generic(sql), params = params } end,
  })
  local Base = orm.declarative_base()
  local x1 = orm.Column(orm.Integer)
  local y1 = orm.Column(orm.Integer)
  env.Box = Base:model("Box", {
    __tablename__ = "boxes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    x1 = x1,
    y1 = y1,
    x2 = orm.Column(orm.Integer),
    y2 = orm.Column(orm.Integer),
    w = orm.Column(orm.Integer),
    h = orm.Column(orm.Integer),
    start = orm.composite(Point, x1, y1),        -- the orm.Column values of the spec
    finish = orm.composite(Point, "x2", "y2"),   -- or attribute names
    size = orm.composite(Size, "w", "h"),
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

describe("orm.composite", function()
  local env, Box, s
  before_each(function()
    env = setup()
    Box, s = env.Box, env.s
  end)
  after_each(function() s:close() end)

  it("sets the columns from a constructor argument and reads them back as one value", function()
    local b = Box{ start = Point(1, 2), finish = Point(3, 4), size = Size(5, 6) }
    assert.equal(1, b.x1)
    assert.equal(2, b.y1)
    assert.equal(6, b.h)
    s:add(b)
    s:commit()
    local ins = env.last("^INSERT")
    assert.truthy(ins.sql:find("x1, y1, x2, y2, w, h", 1, true), ins.sql)
    s:close()
    s = orm.Session(env.engine)
    local got = s:scalars(orm.select(Box)):one()
    assert.equal(Point(1, 2), got.start)
    assert.equal(getmetatable(Point(0, 0)), getmetatable(got.start))
    assert.equal(3, got.finish.x)
    assert.same({ w = 5, h = 6 }, got.size)
  end)

  it("is nil when all its columns are, and built when any is set", function()
    local b = Box{}
    assert.is_nil(b.start)
    b.x1 = 7
    assert.equal(7, b.start.x)
    assert.is_nil(b.start.y)
  end)

  it("tracks reassignment as changes of its columns", function()
    local b = Box{ start = Point(1, 2), finish = Point(3, 4) }
    s:add(b)
    s:commit()
    b.start = Point(1, 9)
    assert.truthy(s:is_modified(b))
    s:flush()
    local up = env.last("^UPDATE")
    assert.truthy(up.sql:find("SET x1=?, y1=?", 1, true) or up.sql:find("SET y1=?", 1, true), up.sql)
    s:commit()
    assert.equal(Point(1, 9), b.start)
    -- nil clears every column
    b.finish = nil
    assert.is_nil(b.x2)
    assert.is_nil(b.y2)
    s:commit()
    assert.is_nil(b.finish)
    -- changing the value read is not assigning it
    local p = b.start
    p.x = 100
    assert.equal(1, b.x1)
  end)

  it("compares column by column in queries", function()
    s:add_all({ Box{ id = 1, start = Point(1, 2) }, Box{ id = 2, start = Point(1, 3) }, Box{ id = 3 } })
    s:commit()
    local stmt = orm.select(Box.id):where(Box.start:eq(Point(1, 2)))
    assert.truthy(tostring(stmt):find("WHERE boxes.x1 = ? AND boxes.y1 = ?", 1, true), tostring(stmt))
    assert.same({ 1 }, s:scalars(stmt):all())
    assert.same({ 3 }, s:scalars(orm.select(Box.id):where(Box.start:eq(nil))):all())
    assert.same({}, s:scalars(orm.select(Box.id):where(Box.start:ne(Point(1, 2)))):all())
    assert.same({ 1, 2 }, s:scalars(orm.select(Box.id):where(Box.start:lt(Point(2, 4))):order_by(Box.id)):all())
    assert.same({ 2 }, s:scalars(orm.select(Box.id):where(Box.start:ge(Point(1, 3)))):all())
    -- filter_by takes it too
    assert.same({ 2 }, s:scalars(orm.select(Box.id):filter_by{ start = Point(1, 3) }):all())
    -- ORDER BY a composite is by its columns
    local ordered = orm.select(Box.id):where(Box.x1:ne(nil)):order_by(Box.start)
    assert.truthy(tostring(ordered):find("ORDER BY boxes.x1, boxes.y1", 1, true), tostring(ordered))
    assert.same({ 1, 2 }, s:scalars(ordered):all())
    -- its columns, for ORDER BY and the like
    local cols = Box.start.columns
    assert.same({ 2, 1 }, s:scalars(orm.select(Box.id):where(cols[1]:ne(nil)):order_by(cols[1]:desc(), cols[2]:desc())):all())
    -- a value with fields named like the columns
    s:execute(orm.update(Box):where(Box.id:eq(2)):values{ w = 5, h = 6 })
    assert.same({ 2 }, s:scalars(orm.select(Box.id):where(Box.size:eq(Size(5, 6)))):all())
  end)

  it("works on an alias", function()
    s:add_all({ Box{ id = 1, start = Point(1, 2), finish = Point(1, 2) }, Box{ id = 2, start = Point(5, 5) } })
    s:commit()
    local other = orm.aliased(Box)
    local stmt = orm.select(Box.id):join(other, other.id:ne(Box.id)):where(other.start:eq(Point(5, 5)))
    assert.truthy(generic(tostring(stmt)):find("anon_%d+%.x1 = %? AND anon_%d+%.y1 = %?"), tostring(stmt))
    assert.same({ 1 }, s:scalars(stmt):all())
  end)

  it("refuses what it cannot use, naming the attribute", function()
    local b = Box{}
    local ok, err = pcall(function() b.start = 5 end)
    assert.falsy(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("Box.start: expected a composite value", 1, true), err.message)
    ok, err = pcall(function() b.start = { a = 1 } end)
    assert.falsy(ok)
    assert.truthy(err.message:find("fields x1, y1", 1, true), err.message)
    ok, err = pcall(function() return Box.start:eq(3) end)
    assert.falsy(ok)
    assert.truthy(err.message:find("Box.start", 1, true))
    ok, err = pcall(orm.select, Box.start)
    assert.falsy(ok)
    assert.truthy(err.message:find("orm.select() of a composite is not supported", 1, true))
    ok, err = pcall(orm.composite, {}, "x")
    assert.falsy(ok)
    assert.truthy(err.message:find("must be callable", 1, true))
    ok, err = pcall(orm.composite, Point)
    assert.falsy(ok)
    assert.truthy(err.message:find("at least one column", 1, true))
    local Base = orm.declarative_base()
    ok, err = pcall(Base.model, Base, "Bad", {
      __tablename__ = "bad",
      id = orm.Column(orm.Integer, { primary_key = true }),
      pos = orm.composite(Point, "x", "y"),
    })
    assert.falsy(ok)
    assert.truthy(err.message:find("Bad.pos: orm.composite names 'x', which is not a column of Bad", 1, true), err.message)
    ok, err = pcall(Base.model, Base, "Bad2", {
      __tablename__ = "bad2",
      id = orm.Column(orm.Integer, { primary_key = true }),
      pos = orm.composite(Point, orm.Column(orm.Integer), "id"),
    })
    assert.falsy(ok)
    assert.truthy(err.message:find("column 1 of the orm.composite is not a column of Bad2", 1, true), err.message)
  end)
end)

-- Custom and composite types in a space game: a ship's velocity is a vector stored as text
-- through an orm.TypeDecorator, its position a Point made of two columns by orm.composite,
-- its cargo manifest a JSON document queried element by element, and its class an
-- orm.Enum that refuses an unknown stored value (LookupError).
--
--   lualchemy examples/custom_types.lua
local orm = require("lualchemy")

-- a vector of numbers, stored as "1,2,3"
local Vector = orm.TypeDecorator{
  name = "Vector",
  impl = orm.String(100),
  process_bind_param = function(value, dialect)
    if value == nil then return nil end
    local parts = {}
    for i, x in ipairs(value) do parts[i] = string.format("%g", x) end
    return table.concat(parts, ",")
  end,
  process_result_value = function(value, dialect)
    if value == nil then return nil end
    local v = {}
    for x in value:gmatch("[^,]+") do v[#v + 1] = tonumber(x) end
    return v
  end,
}

-- a point: a callable "class" whose values go back to the columns by __composite_values__
local Point = {}
Point.__index = Point
setmetatable(Point, { __call = function(cls, x, y) return setmetatable({ x = x, y = y }, cls) end })
function Point:__composite_values__() return { self.x, self.y } end
function Point.__eq(a, b) return a.x == b.x and a.y == b.y end
function Point.__tostring(p) return ("(%d, %d)"):format(p.x, p.y) end

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local Ship = Base:model("Ship", {
  __tablename__ = "ships",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  x = orm.Column(orm.Integer),
  y = orm.Column(orm.Integer),
  pos = orm.composite(Point, "x", "y"),
  velocity = orm.Column(Vector),
  cargo = orm.Column(orm.JSON),
  class = orm.Column(orm.Enum("scout", "freighter")),
})
Base.metadata:create_all(engine)

local session = orm.Session(engine)
session:add_all({
  Ship{ name = "Kestrel", class = "scout", pos = Point(0, 0), velocity = { 3, 4, 0 },
    cargo = { fuel = 20, crates = { "ore", "ice" } } },
  Ship{ name = "Mule", class = "freighter", pos = Point(10, -2), velocity = { 0.5, 0, 0 },
    cargo = { fuel = 80, crates = { "grain" } } },
})
session:commit()

print("== stored through the types ==")
for row in session:execute(orm.text("SELECT name, x, y, velocity FROM ships ORDER BY id")) do
  print(row.name, row.x, row.y, row.velocity)
end

print("== loaded back as Lua values ==")
local kestrel = session:scalars(orm.select(Ship):where(Ship.pos:eq(Point(0, 0)))):one()
print(kestrel.name, tostring(kestrel.pos), table.concat(kestrel.velocity, " "))
assert(kestrel.pos == Point(0, 0))
assert(kestrel.velocity[2] == 4)

print("== moving the ship: assigning the composite sets its columns ==")
local v = kestrel.velocity
kestrel.pos = Point(kestrel.pos.x + v[1], kestrel.pos.y + v[2])
print(session:is_modified(kestrel), kestrel.x, kestrel.y)
session:commit()
assert(session:scalar(orm.select(Ship.name):where(Ship.pos:eq(Point(3, 4)))) == "Kestrel")

print("== velocities compared through process_bind_param ==")
print(session:scalar(orm.select(Ship.name):where(Ship.velocity:eq({ 0.5, 0, 0 }))))

print("== JSON elements in SQL ==")
local heavy = orm.select(Ship.name, Ship.cargo["crates"][1]:as_string():label("first"))
  :where(Ship.cargo["fuel"]:as_integer():gt(50))
for row in session:execute(heavy) do print(row.name, row.first) end
print(tostring(heavy))
local firsts = session:scalars(orm.select(Ship.cargo[{ "crates", 1 }]):order_by(Ship.id)):all()
print(table.concat(firsts, " "))
assert(table.concat(firsts, " ") == "ore grain")

print("== an unknown class in the table is a LookupError ==")
session:execute(orm.text("INSERT INTO ships (name, class) VALUES ('Ghost', 'cruiser')"))
session:commit()
local ok, err = pcall(function() return session:scalars(orm.select(Ship):where(Ship.name:eq("Ghost"))):all() end)
print(ok, err.kind, err.message)
assert(not ok and err.kind == "LookupError")
session:close()

-- A zoo's animals with concrete-table inheritance: every class has a whole table of its own,
-- all its columns repeated ("animals" for plain animals, "birds", "fish"). An object is
-- written to its class's table only; querying Animal reads the UNION ALL of the three
-- tables (SQLAlchemy's polymorphic_union) and returns Birds and Fish; querying Bird reads
-- "birds" only. Each class has keys of its own: a bird and a fish may both be number 1.
-- A keeper's animals are a relationship to the base: it reads the union too, and each
-- class repeats the keeper column and its own many-to-one back to the keeper.
--
--   lualchemy examples/concrete_hierarchy.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

local Keeper = Base:model("Keeper", {
  __tablename__ = "keepers",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  -- a relationship to the concrete base: loads read the union of the three tables
  animals = orm.relationship("Animal", { back_populates = "keeper", order_by = "Animal.name" }),
})

-- orm.ConcreteBase (Python's `class Animal(ConcreteBase, Base)`): the base has a table too
local Animal = Base:model("Animal", {
  __mixins__ = { orm.ConcreteBase },
  __tablename__ = "animals",
  id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
  name = orm.Column(orm.String(30), { nullable = false }),
  keeper_id = orm.Column(orm.Integer, orm.ForeignKey("keepers.id")),
  keeper = orm.relationship("Keeper", { back_populates = "animals" }),
  __mapper_args__ = { polymorphic_identity = "animal" },
})

local Bird = Animal:model("Bird", {
  __tablename__ = "birds",
  id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
  name = orm.Column(orm.String(30), { nullable = false }),
  wingspan = orm.Column(orm.Integer),
  -- a concrete class declares its own relationships (as SQLAlchemy's, not inherited)
  keeper_id = orm.Column(orm.Integer, orm.ForeignKey("keepers.id")),
  keeper = orm.relationship("Keeper", { back_populates = "animals" }),
  __mapper_args__ = { polymorphic_identity = "bird", concrete = true },
})

local Fish = Animal:model("Fish", {
  __tablename__ = "fish",
  id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
  name = orm.Column(orm.String(30), { nullable = false }),
  water = orm.Column(orm.String(10)),
  keeper_id = orm.Column(orm.Integer, orm.ForeignKey("keepers.id")),
  keeper = orm.relationship("Keeper", { back_populates = "animals" }),
  __mapper_args__ = { polymorphic_identity = "fish", concrete = true },
})

function Animal:describe()
  return self.name .. " (" .. orm.inspect(self).mapper.class_name .. ")"
end

function Bird:describe()
  return self.name .. " spans " .. self.wingspan .. " cm"
end

Base.metadata:create_all(engine)
local tables = {}
for _, t in pairs(Base.metadata.sorted_tables) do tables[#tables + 1] = t.name end
table.sort(tables)
print("tables: " .. table.concat(tables, ", "))

local s = orm.Session(engine)
local ann = Keeper({ name = "ann" })
local bob = Keeper({ name = "bob" })
s:add_all({
  ann, bob,
  Animal({ id = 1, name = "goat", keeper = ann }),
  Bird({ id = 1, name = "heron", wingspan = 180, keeper = ann }),
  Bird({ id = 2, name = "wren", wingspan = 15, keeper = ann }),
  Fish({ id = 1, name = "carp", water = "fresh", keeper = bob }),
})
s:commit()
s:close()

-- the keepers with their animals, by one more SELECT of the union (selectinload)
local keepers = s:scalars(orm.select(Keeper):options(orm.selectinload(Keeper.animals)):order_by(Keeper.name)):all()
for _, k in ipairs(keepers) do
  local names = {}
  for _, a in ipairs(k.animals:all()) do names[#names + 1] = a:describe() end
  print(k.name .. " keeps " .. table.concat(names, "; "))
end
ann = keepers[1]

-- the base queried: the union of the three tables, each row as its class, all its
-- columns loaded; the filter reads the union's column
local animals = s:scalars(orm.select(Animal):where(Animal.name:ne("wren")):order_by(Animal.name)):all()
for i = 1, #animals do
  print(string.format("%-6s %s", orm.inspect(animals[i]).mapper.class_name, animals[i]:describe()))
end
print("animals in all tables: " .. s:scalar(orm.select(orm.func.count()):select_from(Animal)))

-- a subclass queried: its own table only
local big = s:scalars(orm.select(Bird):where(Bird.wingspan:gt(100))):all()
for i = 1, #big do print(big[i].name .. "\t" .. big[i].wingspan .. "\t" .. big[i].keeper.name) end

-- three objects with key 1, one per class
print("key 1: " .. s:get(Animal, 1).name .. ", " .. s:get(Bird, 1).name .. ", " .. s:get(Fish, 1).name)

-- an update and a delete touch the object's own table
local carp = s:get(Fish, 1)
carp.water = "salt"
s:commit()
print("carp water in fish: " .. s:execute(orm.text("SELECT water FROM fish WHERE id = 1")):scalar())
s:delete(s:get(Bird, 2))
s:commit()
print("birds: " .. s:execute(orm.text("SELECT count(*) FROM birds")):scalar()
  .. ", ann keeps " .. #ann.animals)
print("fish\t" .. orm.inspect(Animal).polymorphic_map.fish.__name__
  .. "\tinherits " .. orm.inspect(Fish).inherits.class_name
  .. "\tconcrete " .. tostring(orm.inspect(Fish).concrete))

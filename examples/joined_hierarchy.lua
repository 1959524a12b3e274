-- A game's item hierarchy with joined-table inheritance: every item is a row of "items"
-- (the columns all items share, and the "kind" discriminator); a Weapon also has a row of
-- "weapons", a Potion a row of "potions", each keyed by the item's id. Querying Item
-- returns Weapons and Potions; querying Weapon selects FROM items JOIN weapons.
--
--   lualchemy examples/joined_hierarchy.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

local Item = Base:model("Item", {
  __tablename__ = "items",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  kind = orm.Column(orm.String(20), { nullable = false }),
  weight = orm.Column(orm.Integer, { default = 1 }),
  __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "item" },
})

local Weapon = Item:model("Weapon", {
  __tablename__ = "weapons",
  id = orm.Column(orm.Integer, orm.ForeignKey("items.id"), { primary_key = true }),
  damage = orm.Column(orm.Integer, { nullable = false }),
  __mapper_args__ = { polymorphic_identity = "weapon" },
})

local Potion = Item:model("Potion", {
  __tablename__ = "potions",
  id = orm.Column(orm.Integer, orm.ForeignKey("items.id"), { primary_key = true }),
  heal = orm.Column(orm.Integer, { nullable = false }),
  -- loaded for all the potions a query of Item returns, by one SELECT ... IN
  __mapper_args__ = { polymorphic_identity = "potion", polymorphic_load = "selectin" },
})

function Item:describe()
  return self.name .. " (" .. self.kind .. ", weight " .. self.weight .. ")"
end

function Weapon:describe()
  return self.name .. " deals " .. self.damage
end

Base.metadata:create_all(engine)
local tables = {}
for _, t in pairs(Base.metadata.sorted_tables) do tables[#tables + 1] = t.name end
print("tables: " .. table.concat(tables, ", "))

local s = orm.Session(engine)
s:add_all({
  Item({ name = "rope" }),
  Weapon({ name = "sword", damage = 7, weight = 3 }),
  Potion({ name = "elixir", heal = 20 }),
  Weapon({ name = "dagger", damage = 3 }),
})
s:commit()

-- the base queried: each row as its class, with the class's methods
local items = s:scalars(orm.select(Item):order_by(Item.name)):all()
for i = 1, #items do
  local item = items[i]
  print(string.format("%-7s %s", orm.inspect(item).mapper.class_name, item:describe()))
end

-- a subclass queried, filtered on its own table's column
local strong = s:scalars(orm.select(Weapon):where(Weapon.damage:gt(5))):all()
for i = 1, #strong do print(strong[i].name .. "\t" .. strong[i].damage) end

-- an update touches only the table of the changed column
local dagger = s:scalars(orm.select(Weapon):where(Weapon.name:eq("dagger"))):one()
dagger.damage = 4
s:commit()
print("dagger damage in weapons: " .. s:execute(orm.text("SELECT damage FROM weapons WHERE id = "
  .. dagger.id)):scalar())

-- a delete removes the subclass row, then the base row
s:delete(dagger)
s:commit()
print("items: " .. s:execute(orm.text("SELECT count(*) FROM items")):scalar()
  .. ", weapons: " .. s:execute(orm.text("SELECT count(*) FROM weapons")):scalar())
print("potion\t" .. orm.inspect(Item).polymorphic_map.potion.__name__
  .. "\tinherits " .. orm.inspect(Potion).inherits.class_name)

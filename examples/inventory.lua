-- A player's inventory and loot log that grow without bound: a write-only collection is
-- never loaded into memory (items are added and removed, and read a page at a time with
-- select()), equipment is a dictionary collection keyed by slot, and an association proxy
-- reads the names of the equipped items.
--
--   lualchemy examples/inventory.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

local Player, Item, Equipped
Player = Base:model("Player", {
  __tablename__ = "players",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(20), { nullable = false }),
  -- thousands of items: never loaded whole
  items = orm.relationship("Item", { lazy = "write_only", order_by = "Item.id",
    cascade = "all, delete-orphan", passive_deletes = true }),
  -- one item per slot: player.equipment.head
  equipment = orm.relationship("Equipped", { collection_class = orm.attribute_keyed_dict("slot"),
    cascade = "all, delete-orphan" }),
  equipped_names = orm.association_proxy("equipment", "item_name"),
})
Item = Base:model("Item", {
  __tablename__ = "items",
  id = orm.Column(orm.Integer, { primary_key = true }),
  player_id = orm.Column(orm.Integer, orm.ForeignKey("players.id", { ondelete = "CASCADE" })),
  name = orm.Column(orm.String(30), { nullable = false }),
  value = orm.Column(orm.Integer, { nullable = false }),
})
Equipped = Base:model("Equipped", {
  __tablename__ = "equipped",
  id = orm.Column(orm.Integer, { primary_key = true }),
  player_id = orm.Column(orm.Integer, orm.ForeignKey("players.id")),
  slot = orm.Column(orm.String(10), { nullable = false }),
  item_name = orm.Column(orm.String(30), { nullable = false }),
})
Base.metadata:create_all(engine)

local session = orm.Session(engine)
local hero = Player{ name = "hero" }
session:add(hero)

-- loot: 500 drops, added without loading what the inventory already holds
for i = 1, 500 do
  hero.items:add(Item{ name = (i % 7 == 0) and "gem" or "coin", value = i % 7 == 0 and 50 or 1 })
end
session:commit()

-- a page of the most valuable items, and totals computed by the database
local page = session:scalars(hero.items:select():order_by(nil)
  :order_by(Item.value:desc(), Item.id):limit(3)):all()
for _, it in ipairs(page) do print(("top item #%d: %s (%d)"):format(it.id, it.name, it.value)) end
local gems = session:scalar(orm.select(orm.func.count()):select_from(Item)
  :where(orm.with_parent(hero, Player.items)):where(Item.name:eq("gem")))
print("gems:", gems)
assert(gems == 71)

-- selling: remove the coins (delete-orphan deletes them at the flush)
for _, coin in ipairs(session:scalars(hero.items:select():where(Item.name:eq("coin")):limit(100)):all()) do
  hero.items:remove(coin)
end
session:commit()
local left = session:scalar(orm.select(orm.func.count()):select_from(Item))
print("items left:", left)
assert(left == 400)

-- the inventory cannot be read in place: it is never loaded
assert(not pcall(function() return #hero.items end))

-- equipment by slot
hero.equipment.head = Equipped{ slot = "head", item_name = "iron helm" }
hero.equipment.hand = Equipped{ slot = "hand", item_name = "short sword" }
session:commit()
hero.equipment.hand = Equipped{ slot = "hand", item_name = "long sword" } -- replaces the old one
session:commit()
print("hand:", hero.equipment.hand.item_name)
assert(hero.equipment.hand.item_name == "long sword")
local names = hero.equipped_names:all()
table.sort(names)
print("equipped:", table.concat(names, ", "))
assert(table.concat(names, ",") == "iron helm,long sword")
assert(session:scalar(orm.select(orm.func.count()):select_from(Equipped)) == 2)
session:close()

-- A game's entity hierarchy with single-table inheritance: every unit is a row of "units",
-- the "kind" column (the discriminator) says which class the row is. Archer and Knight
-- add their own columns to the table; Paladin inherits from Knight. Querying Unit returns
-- Archers, Knights and Paladins; querying Knight returns Knights and Paladins only.
--
--   lualchemy examples/unit_hierarchy.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

local Squad = Base:model("Squad", {
  __tablename__ = "squads",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  units = orm.relationship("Unit", { back_populates = "squad", order_by = "Unit.id" }),
  -- a relationship to a subclass: only the squad's archers
  archers = orm.relationship("Archer", { viewonly = true, order_by = "Archer.id" }),
})

local Unit = Base:model("Unit", {
  __tablename__ = "units",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  kind = orm.Column(orm.String(20), { nullable = false }),
  hp = orm.Column(orm.Integer, { default = 10 }),
  squad_id = orm.Column(orm.Integer, orm.ForeignKey("squads.id")),
  squad = orm.relationship("Squad", { back_populates = "units" }),
  __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "unit" },
})

-- methods on the base are inherited; a subclass may replace them
function Unit:attack() return 1 end
function Unit:describe()
  return ("%s the %s (hp %d, attack %d)"):format(self.name, self.kind, self.hp, self:attack())
end

local Archer = Unit:model("Archer", {
  __mapper_args__ = { polymorphic_identity = "archer" },
  range = orm.Column(orm.Integer),
})
function Archer:attack() return 2 + math.floor((self.range or 0) / 3) end

local Knight = Unit:model("Knight", {
  __mapper_args__ = { polymorphic_identity = "knight" },
  armor = orm.Column(orm.Integer),
})
function Knight:attack() return 4 end

local Paladin = Knight:model("Paladin", {
  __mapper_args__ = { polymorphic_identity = "paladin" },
  mana = orm.Column(orm.Integer),
})

Base.metadata:create_all(engine)
local columns = {}
for _, c in ipairs(Base.metadata.tables.units.columns) do columns[#columns + 1] = c.name end
print("units columns: " .. table.concat(columns, ", "))

local session = orm.Session(engine)
local red = Squad{ name = "red" }
session:add_all({
  Unit{ name = "pip", squad = red },
  Archer{ name = "robin", range = 9, squad = red },
  Knight{ name = "lancelot", armor = 5, squad = red },
  Paladin{ name = "arthur", armor = 7, mana = 3, squad = red },
})
session:commit()
session:expunge_all()

print("== every unit, each as its class ==")
local lines = {}
for _, u in ipairs(session:scalars(orm.select(Unit):order_by(Unit.id)):all()) do
  local line = ("%-8s %s"):format(orm.inspect(u).mapper.class_name, u:describe())
  lines[#lines + 1] = line
  print(line)
end
assert(lines[2] == "Archer   robin the archer (hp 10, attack 5)")
assert(lines[4] == "Paladin  arthur the paladin (hp 10, attack 4)")

print("== knights (and paladins) ==")
local knights = session:scalars(orm.select(Knight):order_by(Knight.armor:desc())):all()
for _, k in ipairs(knights) do print(k.name, k.armor) end
assert(#knights == 2 and knights[1].name == "arthur")

print("== the squad's archers, through a relationship to a subclass ==")
local squad = session:scalars(orm.select(Squad)):one()
for a in squad.archers:iter() do print(a.name, a.range) end
assert(#squad.archers == 1 and #squad.units == 4)

print("== one identity per row: get(Unit, 2) is the Archer ==")
assert(session:get(Unit, 2) == squad.archers[1])
assert(session:get(Knight, 2) == nil)
print("get(Knight, 2) is nil: row 2 is an archer")

print("== the hierarchy ==")
local map = orm.inspect(Unit).polymorphic_map
for _, identity in ipairs({ "unit", "archer", "knight", "paladin" }) do
  local cls = map[identity]
  local parent = orm.inspect(cls).inherits
  print(identity, cls.__name__, parent and ("inherits " .. parent.class_name) or "base")
end

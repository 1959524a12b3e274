-- Mapper inheritance, single-table (SQLAlchemy 2.0's behaviour, checked against it with
-- echo=True): a subclass declared with Parent:model(name, spec) and no __tablename__ adds
-- its columns to the parent's table; the discriminator (polymorphic_on) is set when an
-- object is made; querying the base returns instances of the right classes (one identity
-- map entry per row), selecting only the base's columns (a subclass column loads on
-- access with `id = ? AND kind IN (...)`) unless polymorphic_load = "inline" or
-- orm.with_polymorphic asks for them; querying a subclass filters by its identities.
local orm = require("lualchemy")

local generic = generic_sql or function(s) return s end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

local function setup(opts)
  opts = opts or {}
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
  })
  local Base = orm.declarative_base()
  env.Base = Base
  env.Team = Base:model("Team", {
    __tablename__ = "teams",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    units = orm.relationship("Unit", { back_populates = "team", order_by = "Unit.id" }),
    archers = orm.relationship("Archer", { viewonly = true, order_by = "Archer.id" }),
  })
  env.Unit = Base:model("Unit", {
    __tablename__ = "units",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    kind = orm.Column(orm.String(20)),
    team_id = orm.Column(orm.Integer, orm.ForeignKey("teams.id")),
    team = orm.relationship("Team", { back_populates = "units" }),
    __mapper_args__ = { polymorphic_on = opts.on_column and nil or "kind", polymorphic_identity = "unit" },
  })
  env.Unit.describe = function(self) return self.name .. " the " .. self.kind end
  env.Archer = env.Unit:model("Archer", {
    __mapper_args__ = { polymorphic_identity = "archer", polymorphic_load = opts.inline and "inline" or nil },
    range = orm.Column(orm.Integer),
  })
  env.Knight = env.Unit:model("Knight", {
    __mapper_args__ = { polymorphic_identity = "knight" },
    armor = orm.Column(orm.Integer),
  })
  env.Paladin = env.Knight:model("Paladin", {
    __mapper_args__ = { polymorphic_identity = "paladin" },
    mana = orm.Column(orm.Integer),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  return env
end

local function seed(env)
  local s = env.s
  local t = env.Team{ name = "red" }
  s:add_all({
    env.Archer{ name = "robin", range = 7, team = t },
    env.Unit{ name = "peasant", team = t },
    env.Knight{ name = "lancelot", armor = 5, team = t },
    env.Paladin{ name = "arthur", armor = 9, mana = 3 },
  })
  s:commit()
  s:expunge_all()
  env.log = {}
end

-- "units.range", quoted (generic_sql turns MySQL's backquotes into double quotes) where the column's name is a reserved word (MySQL's `range`)
local function has_col(q, name)
  return q:find("units." .. name, 1, true) ~= nil or q:find('units."' .. name .. '"', 1, true) ~= nil
end

local function sqls(env, needle)
  local out = {}
  for _, q in ipairs(env.log) do
    if q:find(needle, 1, true) then out[#out + 1] = q end
  end
  return out
end

describe("single-table inheritance", function()
  it("adds the subclass columns to the parent's table, created once", function()
    local env = setup()
    local names = {}
    for _, c in ipairs(env.Base.metadata.tables.units.columns) do names[#names + 1] = c.name end
    assert.are.same({ "id", "name", "kind", "team_id", "range", "armor", "mana" }, names)
    assert.are.equal("units", env.Archer.__tablename__)
    -- every class of the hierarchy maps the whole table
    assert.are.equal(7, #env.Archer.__table__.columns)
    assert.are.equal(7, #orm.inspect(env.Unit).local_table.columns)
  end)

  it("sets the discriminator when an object is made, and INSERTs the class's columns", function()
    local env = setup()
    local a = env.Archer{ name = "robin", range = 7 }
    assert.are.equal("archer", a.kind)
    assert.are.equal("unit", env.Unit{ name = "x" }.kind)
    env.s:add(a)
    env.log = {}
    env.s:flush()
    local ins = sqls(env, "INSERT INTO units")
    assert.are.equal(1, #ins)
    assert.truthy(ins[1]:find("range", 1, true))
    assert.falsy(ins[1]:find("armor", 1, true))
  end)

  it("querying the base returns instances of each row's class, base columns only", function()
    local env = setup()
    seed(env)
    local rows = env.s:scalars(orm.select(env.Unit):order_by(env.Unit.id)):all()
    local classes = {}
    for _, u in ipairs(rows) do classes[#classes + 1] = orm.inspect(u).mapper.class_name end
    assert.are.same({ "Archer", "Unit", "Knight", "Paladin" }, classes)
    local q = sqls(env, "FROM units")[1]
    assert.truthy(has_col(q, "team_id"))
    assert.falsy(q:find("range", 1, true))
    -- an unloaded subclass column loads on access, by key and identity
    env.log = {}
    assert.are.equal(7, rows[1].range)
    assert.are.equal(1, #env.log)
    assert.truthy(env.log[1]:find("units.kind IN", 1, true))
    assert.are.same({ "armor", "mana", "team" }, orm.inspect(rows[4]).unloaded)
    assert.are.equal(3, rows[4].mana)
  end)

  it("querying a subclass filters by its identities and its subclasses'", function()
    local env = setup()
    seed(env)
    local knights = env.s:scalars(orm.select(env.Knight):order_by(env.Knight.id)):all()
    assert.are.equal(2, #knights)
    assert.are.equal("lancelot", knights[1].name)
    assert.are.equal("Paladin", orm.inspect(knights[2]).mapper.class_name)
    local q = sqls(env, "FROM units")[1]
    assert.truthy(has_col(q, "armor"))
    assert.truthy(q:find("units.kind IN", 1, true))
    assert.are.equal(1, #env.s:scalars(orm.select(env.Archer)):all())
    assert.are.equal(3,
      env.s:scalar(orm.select(orm.func.count()):select_from(env.Knight.__table__)) - 1)
  end)

  it("get: one identity map entry per row, keyed on the base", function()
    local env = setup()
    seed(env)
    local a = env.s:get(env.Unit, 1)
    assert.are.equal("Archer", orm.inspect(a).mapper.class_name)
    assert.are.equal(a, env.s:get(env.Archer, 1))
    -- a row of another class is not the subclass asked for
    assert.is_nil(env.s:get(env.Archer, 2))
    env.s:expunge_all()
    env.log = {}
    assert.is_nil(env.s:get(env.Archer, 2))
    assert.truthy(env.log[1]:find("units.kind IN", 1, true))
    assert.are.equal("peasant", env.s:get(env.Unit, 2).name)
  end)

  it("updates and deletes subclass objects", function()
    local env = setup()
    seed(env)
    local a = env.s:get(env.Archer, 1)
    a.range = 9
    env.log = {}
    env.s:flush()
    assert.truthy(sqls(env, "UPDATE units SET ")[1]:find("range", 1, true))
    env.s:delete(env.s:get(env.Paladin, 4))
    env.s:commit()
    env.s:expunge_all()
    assert.are.equal(9, env.s:get(env.Unit, 1).range)
    assert.is_nil(env.s:get(env.Unit, 4))
  end)

  it("inherits relationships and Lua methods; relationships to a subclass filter", function()
    local env = setup()
    seed(env)
    local t = env.s:get(env.Team, 1)
    assert.are.equal(3, #t.units)
    assert.are.equal("Archer", orm.inspect(t.units[1]).mapper.class_name)
    assert.are.equal(t, t.units[1].team)
    assert.are.equal(1, #t.archers)
    assert.are.equal("robin", t.archers[1].name)
    assert.are.equal("robin the archer", t.archers[1]:describe())
    -- metamethods of the base's class are inherited too
    env.Unit.__tostring = function(self) return "<" .. self.kind .. " " .. self.name .. ">" end
    assert.are.equal("<archer robin>", tostring(t.archers[1]))
    local k = env.Knight{ name = "gawain", team = t }
    assert.are.equal(t, k.team)
    env.s:add(k)
    env.s:commit()
    assert.are.equal(4, #t.units)
    assert.are.equal("Team", orm.inspect(env.Archer).relationships.team.target.__name__)
  end)

  it("inspect: inherits, polymorphic_map, polymorphic_identity", function()
    local env = setup()
    assert.are.equal("Unit", orm.inspect(env.Archer).inherits.class_name)
    assert.are.equal("Knight", orm.inspect(env.Paladin).inherits.class_name)
    assert.is_nil(orm.inspect(env.Unit).inherits)
    local map = orm.inspect(env.Unit).polymorphic_map
    assert.are.equal(env.Archer, map.archer)
    assert.are.equal(env.Unit, map.unit)
    assert.are.equal(env.Paladin, orm.inspect(env.Knight).polymorphic_map.paladin)
    assert.are.equal("archer", orm.inspect(env.Archer).polymorphic_identity)
    assert.are.equal("Unit", orm.inspect(env.Paladin).base_mapper.class_name)
    -- a sibling's column is not the subclass's attribute
    assert.has_error(function() return env.Archer.armor end)
  end)

  it("an unknown discriminator value in a row raises", function()
    local env = setup()
    seed(env)
    env.s:execute(orm.text("INSERT INTO units (id, name, kind) VALUES (10, 'x', 'zzz')"))
    local err = pcall_err(function() return env.s:scalars(orm.select(env.Unit)):all() end)
    assert.truthy(err:find("No such polymorphic_identity 'zzz' is defined", 1, true))
    env.s:rollback()
    env.s:execute(orm.text("INSERT INTO units (id, name, kind) VALUES (11, 'y', NULL)"))
    err = pcall_err(function() return env.s:scalars(orm.select(env.Unit)):all() end)
    assert.truthy(err:find("the polymorphic discriminator column 'units.kind' is NULL", 1, true), err)
  end)

  it("polymorphic_load = 'inline' selects the subclass's columns with the base's", function()
    local env = setup({ inline = true })
    seed(env)
    local rows = env.s:scalars(orm.select(env.Unit):order_by(env.Unit.id)):all()
    local q = sqls(env, "FROM units")[1]
    assert.truthy(has_col(q, "range"))
    assert.falsy(has_col(q, "armor"))
    env.log = {}
    assert.are.equal(7, rows[1].range)
    assert.are.equal(0, #env.log)
  end)

  it("orm.with_polymorphic selects the named subclasses' columns, or all with '*'", function()
    local env = setup()
    seed(env)
    local rows = env.s:scalars(orm.select(orm.with_polymorphic(env.Unit, { env.Knight }))
      :order_by(env.Unit.id)):all()
    local q = sqls(env, "FROM units")[1]
    assert.truthy(has_col(q, "armor"))
    assert.falsy(has_col(q, "range"))
    assert.falsy(has_col(q, "mana"))
    env.log = {}
    assert.are.equal(5, rows[3].armor)
    assert.are.equal(0, #env.log)
    env.s:expunge_all()
    env.log = {}
    rows = env.s:scalars(orm.select(orm.with_polymorphic(env.Unit, "*")):order_by(env.Unit.id)):all()
    q = sqls(env, "FROM units")[1]
    assert.truthy(has_col(q, "range") and has_col(q, "mana"), q)
    env.log = {}
    assert.are.equal(3, rows[4].mana)
    assert.are.equal(0, #env.log)
  end)

  it("polymorphic_on may be given as the column", function()
    local Base = orm.declarative_base()
    local kind = orm.Column(orm.String(20))
    local Item = Base:model("Item", {
      __tablename__ = "items",
      id = orm.Column(orm.Integer, { primary_key = true }),
      kind = kind,
      __mapper_args__ = { polymorphic_on = kind, polymorphic_identity = "item" },
    })
    local Weapon = Item:model("Weapon", { __mapper_args__ = { polymorphic_identity = "weapon" },
      damage = orm.Column(orm.Integer) })
    assert.are.equal("weapon", Weapon{}.kind)
    assert.are.equal(Weapon, orm.inspect(Item).polymorphic_map.weapon)
  end)

  it("refuses bad declarations naming the model and the key", function()
    local Base = orm.declarative_base()
    local Plain = Base:model("Plain", { __tablename__ = "plain",
      id = orm.Column(orm.Integer, { primary_key = true }) })
    local err = pcall_err(function()
      Plain:model("Sub", { __mapper_args__ = { polymorphic_identity = "sub" } })
    end)
    assert.truthy(err:find("ArgumentError", 1, true) and err:find("Sub", 1, true)
      and err:find("polymorphic_identity", 1, true))
    err = pcall_err(function()
      Base:model("Bad", { __tablename__ = "bad", id = orm.Column(orm.Integer, { primary_key = true }),
        __mapper_args__ = { polymorphic_on = "nope" } })
    end)
    assert.truthy(err:find("Bad", 1, true) and err:find("'polymorphic_on' names 'nope'", 1, true))
    local Root = Base:model("Root", { __tablename__ = "roots",
      id = orm.Column(orm.Integer, { primary_key = true }), kind = orm.Column(orm.String),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "root" } })
    Root:model("A", { __mapper_args__ = { polymorphic_identity = "a" } })
    err = pcall_err(function()
      Root:model("B", { __mapper_args__ = { polymorphic_identity = "a" } })
    end)
    assert.truthy(err:find("model B", 1, true) and err:find("already the identity of A", 1, true))
    err = pcall_err(function()
      Root:model("C", { __mapper_args__ = { polymorphic_identity = "c", with_polymorphic = "*" } })
    end)
    assert.truthy(err:find("model C", 1, true) and err:find("with_polymorphic", 1, true))
    err = pcall_err(function()
      Root:model("D", { __mapper_args__ = { polymorphic_load = "eager" } })
    end)
    assert.truthy(err:find("model D", 1, true) and err:find("polymorphic_load", 1, true))
    -- a subclass with its own __tablename__ is joined-table inheritance (joined_inheritance_spec)
    local E = Root:model("E", { __tablename__ = "es",
      id = orm.Column(orm.Integer, orm.ForeignKey("roots.id"), { primary_key = true }) })
    assert.is_false(orm.inspect(E).single)
    err = pcall_err(function() Root:model("F", { __abstract__ = true }) end)
    assert.truthy(err:find("model F", 1, true) and err:find("__abstract__", 1, true))
  end)

  it("a subclass's identities filter its columns, joins to it, EXISTS and bulk DML", function()
    local env = setup()
    seed(env)
    local names = env.s:scalars(orm.select(env.Knight.name):order_by(env.Knight.id)):all()
    assert.are.same({ "lancelot", "arthur" }, names)
    assert.truthy(env.log[#env.log]:find("units.kind IN", 1, true))
    local teams = env.s:scalars(orm.select(env.Team):join(env.Team.archers)):all()
    assert.are.equal(1, #teams)
    assert.truthy(env.log[#env.log]:find("AND units.kind IN", 1, true))
    -- a join to the subclass itself, its ON inferred or given
    local q = tostring(orm.select(env.Team):join(env.Archer))
    assert.truthy(q:find("ON teams.id = units.team_id AND units.kind IN", 1, true), q)
    q = tostring(orm.select(env.Team):outerjoin(env.Knight, env.Knight.team_id:eq(env.Team.id)))
    assert.truthy(q:find("LEFT OUTER JOIN units ON units.team_id = teams.id AND units.kind IN", 1, true), q)
    assert.are.equal(1, #env.s:scalars(orm.select(env.Team):join(env.Archer)):all())
    assert.are.equal(1, #env.s:scalars(orm.select(env.Team):where(env.Team.archers:any())):all())
    assert.are.equal(0, #env.s:scalars(orm.select(env.Team)
      :where(env.Team.archers:any(env.Archer.range:gt(10)))):all())
    local r = env.s:execute(orm.update(env.Knight):values({ armor = 1 }))
    assert.are.equal(2, r.rowcount)
    r = env.s:execute(orm.delete(env.Archer))
    assert.are.equal(1, r.rowcount)
    assert.are.equal(3, env.s:scalar(orm.select(orm.func.count(env.Unit.id))))
  end)

  it("selectin_polymorphic / polymorphic_load = 'selectin': one IN query per subclass", function()
    local env = setup()
    seed(env)
    local rows = env.s:scalars(orm.select(env.Unit)
      :options(orm.selectin_polymorphic(env.Unit, { env.Knight })):order_by(env.Unit.id)):all()
    assert.are.equal(2, #sqls(env, "SELECT"))
    local q = sqls(env, "SELECT")[2]
    assert.truthy(has_col(q, "armor") and q:find("units.id IN", 1, true) and q:find("units.kind IN", 1, true))
    env.log = {}
    assert.are.equal(5, rows[3].armor)
    assert.are.equal(9, rows[4].armor)
    assert.are.equal(0, #env.log)
    -- the Paladin's own column was not asked for: it loads on access
    assert.are.equal(3, rows[4].mana)
    assert.are.equal(1, #env.log)

    local Base = orm.declarative_base()
    local Item = Base:model("Item", { __tablename__ = "items",
      id = orm.Column(orm.Integer, { primary_key = true }), kind = orm.Column(orm.String(10)),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "item" } })
    local Weapon = Item:model("Weapon", { damage = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "weapon", polymorphic_load = "selectin" } })
    local log = {}
    local engine = orm.create_engine("sqlite://", { echo = function(sql) log[#log + 1] = sql end })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Weapon{ damage = 4 }, Item{}, Weapon{ damage = 6 } })
    s:commit()
    s:expunge_all()
    log = {}
    local items = s:scalars(orm.select(Item):order_by(Item.id)):all()
    local n = #log
    assert.truthy(log[n]:find("items.id IN", 1, true) and log[n]:find("items.damage", 1, true))
    assert.are.equal(6, items[3].damage)
    assert.are.equal(n, #log)
  end)

  it("eager loads, load_only, refresh and merge build each row as its class", function()
    local env = setup()
    seed(env)
    local function cls(x) return orm.inspect(x).mapper.class_name end
    local t = env.s:scalars(orm.select(env.Team):options(orm.joinedload(env.Team.units))):unique():one()
    assert.are.same({ "Archer", "Unit", "Knight" }, { cls(t.units[1]), cls(t.units[2]), cls(t.units[3]) })
    env.s:expunge_all()
    t = env.s:scalars(orm.select(env.Team):options(orm.selectinload(env.Team.units))):one()
    assert.are.equal("Knight", cls(t.units[3]))
    env.s:expunge_all()
    -- the discriminator loads with load_only, as the key does
    local us = env.s:scalars(orm.select(env.Unit):options(orm.load_only(env.Unit.name))
      :order_by(env.Unit.id)):all()
    assert.are.equal("Paladin", cls(us[4]))
    env.s:expunge_all()
    local k = env.s:get(env.Knight, 3)
    k.armor = 1
    env.s:refresh(k)
    assert.are.equal(5, k.armor)
    env.s:expunge(k)
    k.armor = 2
    local m = env.s:merge(k)
    assert.are.equal("Knight", cls(m))
    assert.are.equal(2, m.armor)
  end)

  it("hybrids of the base are the subclass's", function()
    local Base = orm.declarative_base()
    local Item = Base:model("Item", { __tablename__ = "items",
      id = orm.Column(orm.Integer, { primary_key = true }), kind = orm.Column(orm.String(10)),
      price = orm.Column(orm.Integer),
      doubled = orm.hybrid_property(function(self) return self.price * 2 end),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "item" } })
    local Weapon = Item:model("Weapon", { damage = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "weapon" } })
    local w = Weapon{ price = 4, damage = 1 }
    assert.are.equal(8, w.doubled)
    assert.truthy(tostring(orm.select(Weapon.id):where(Weapon.doubled:gt(3))):find("items.price * ", 1, true))
  end)

  it("mapper events: propagate = true reaches the subclasses, declared before or after", function()
    local Base = orm.declarative_base()
    local Unit = Base:model("Unit", { __tablename__ = "units",
      id = orm.Column(orm.Integer, { primary_key = true }), kind = orm.Column(orm.String(10)),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "unit" } })
    local Archer = Unit:model("Archer", { __mapper_args__ = { polymorphic_identity = "archer" } })
    local seen = {}
    local function cls(t) return orm.inspect(t).mapper.class_name end
    orm.event.listen(Unit, "before_insert", function(_, _, t) seen[#seen + 1] = "plain " .. cls(t) end)
    orm.event.listen(Unit, "before_insert", function(_, _, t) seen[#seen + 1] = "prop " .. cls(t) end,
      { propagate = true })
    local Knight = Unit:model("Knight", { __mapper_args__ = { polymorphic_identity = "knight" } })
    local engine = orm.create_engine("sqlite://")
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Unit{}, Archer{}, Knight{} })
    s:flush()
    assert.are.same({ "plain Unit", "prop Unit", "prop Archer", "prop Knight" }, seen)
  end)

  it("eager loads of a relationship to a subclass filter by its identities", function()
    local env = setup()
    seed(env)
    local t = env.s:scalars(orm.select(env.Team):options(orm.joinedload(env.Team.archers))):unique():one()
    assert.are.equal(1, #t.archers)
    assert.truthy(env.log[#env.log]:find("kind IN", 1, true))
    env.s:expunge_all()
    t = env.s:scalars(orm.select(env.Team):options(orm.selectinload(env.Team.archers))):one()
    assert.are.equal(1, #t.archers)
    assert.are.equal("robin", t.archers[1].name)
  end)

  it("a many-to-one to a subclass is not an object of another class", function()
    local Base = orm.declarative_base()
    local Unit = Base:model("Unit", { __tablename__ = "units",
      id = orm.Column(orm.Integer, { primary_key = true }), kind = orm.Column(orm.String(10)),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "unit" } })
    local Knight = Unit:model("Knight", { __mapper_args__ = { polymorphic_identity = "knight" } })
    local Squire = Unit:model("Squire", { __mapper_args__ = { polymorphic_identity = "squire" },
      knight_id = orm.Column(orm.Integer, orm.ForeignKey("units.id")),
      knight = orm.relationship("Knight", { remote_side = "Knight.id" }) })
    local engine = orm.create_engine("sqlite://")
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    local plain = Unit{}
    s:add(plain)
    s:flush()
    local sq = Squire{ knight_id = plain.id }
    s:add(sq)
    s:flush()
    s:expire(sq)
    assert.is_nil(sq.knight)
  end)

  it("session binds: a subclass goes where its parent class is bound", function()
    local Base = orm.declarative_base()
    local Unit = Base:model("Unit", { __tablename__ = "units",
      id = orm.Column(orm.Integer, { primary_key = true }), kind = orm.Column(orm.String(10)),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "unit" } })
    local Archer = Unit:model("Archer", { __mapper_args__ = { polymorphic_identity = "archer" } })
    local e1, e2 = orm.create_engine("sqlite://"), orm.create_engine("sqlite://")
    local s = orm.Session{ binds = { [Unit] = e1, [Base] = e2 } }
    assert.are.equal(e1, s:get_bind(Archer))
    s = orm.Session{ binds = { [Archer] = e1, [Base] = e2 } }
    assert.are.equal(e2, s:get_bind(Unit))
    assert.are.equal(e1, s:get_bind(Archer))
  end)

  it("ORM bulk INSERT parameters and bulk_insert_mappings set the class's discriminator", function()
    local env = setup()
    local s = env.s
    s:execute(orm.insert(env.Archer), { name = "d" })
    s:execute(orm.insert(env.Archer), { { name = "e", kind = "unit" } })
    s:bulk_insert_mappings(env.Archer, { { name = "f" } })
    -- the statement's own values are not ORM parameters: as SQLAlchemy, no discriminator
    s:execute(orm.insert(env.Archer):values({ name = "g" }))
    local kinds = {}
    for _, r in ipairs(s:execute(orm.select(env.Unit.__table__.c.name, env.Unit.__table__.c.kind)
        :order_by(env.Unit.__table__.c.id)):all()) do
      kinds[#kinds + 1] = r[1] .. "=" .. tostring(r[2])
    end
    assert.are.same({ "d=archer", "e=unit", "f=archer", "g=nil" }, kinds)
  end)

  it("autogenerate compares the whole table: a subclass declared later is an add_column", function()
    local autogenerate = require("lualchemy.migrate")
    local env = setup()
    local function on_units()
      local out = {}
      for _, d in ipairs(autogenerate.compare_metadata(env.engine, env.Base.metadata)) do
        if d[3] == "units" or (type(d[2]) == "table" and d[2].name == "units") then out[#out + 1] = d end
      end
      return out
    end
    assert.are.equal(0, #on_units())
    env.Unit:model("Mage", { __mapper_args__ = { polymorphic_identity = "mage" }, spell = orm.Column(orm.String(20)) })
    local d = on_units()
    assert.are.equal(1, #d)
    assert.are.equal("add_column", d[1][1])
    assert.are.equal("spell", d[1][4].name)
  end)
end)

-- `concrete = true` under a class of a single- or joined-table hierarchy (issue 17), as
-- SQLAlchemy 2.0 maps it (checked against it with echo=True): the concrete class has its
-- own table, is written and queried there alone (no discriminator criterion), a query of
-- the hierarchy's base reads the base's table only, and the concrete class keeps its
-- parent's methods and its own identity keys.
local orm = require("lualchemy")

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Employee = Base:model("Employee", {
    __tablename__ = "cm_employees",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    kind = orm.Column(orm.String(20)),
    __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "employee" },
  })
  function env.Employee:hello() return "hi " .. self.name end
  env.Engineer = env.Employee:model("Engineer", {
    __tablename__ = "cm_engineers",
    id = orm.Column(orm.Integer, orm.ForeignKey("cm_employees.id"), { primary_key = true }),
    lang = orm.Column(orm.String(20)),
    __mapper_args__ = { polymorphic_identity = "engineer" },
  })
  env.Boss = env.Employee:model("Boss", {
    level = orm.Column(orm.Integer),
    __mapper_args__ = { polymorphic_identity = "boss" },
  })
  -- concrete under the joined-table base, and under a single-table subclass
  env.Contractor = env.Employee:model("Contractor", {
    __tablename__ = "cm_contractors",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    rate = orm.Column(orm.Integer),
    __mapper_args__ = { polymorphic_identity = "contractor", concrete = true },
  })
  env.Consultant = env.Boss:model("Consultant", {
    __tablename__ = "cm_consultants",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    fee = orm.Column(orm.Integer),
    __mapper_args__ = { concrete = true },
  })
  -- concrete under a joined-table subclass
  env.Intern = env.Engineer:model("Intern", {
    __tablename__ = "cm_interns",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    school = orm.Column(orm.String(30)),
    __mapper_args__ = { polymorphic_identity = "intern", concrete = true },
  })
  env.Base = Base
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  return env
end

local function described(list)
  local out = {}
  for _, o in ipairs(list) do out[#out + 1] = orm.inspect(o).mapper.class_name .. ":" .. o.name end
  return out
end

describe("concrete = true under a single- or joined-table hierarchy", function()
  local env
  before_each(function() env = setup() end)

  it("writes and reads the concrete classes' own tables, the hierarchy's rows apart", function()
    local E = env
    env.s:add_all({ E.Employee{ name = "e" }, E.Engineer{ name = "g", lang = "lua" }, E.Boss{ name = "b", level = 2 },
      E.Contractor{ name = "c", rate = 5 }, E.Consultant{ name = "k", fee = 9 }, E.Intern{ name = "i", school = "x" } })
    env.s:commit()
    env.s:close()
    assert.same({ "Boss:b", "Employee:e", "Engineer:g" },
      described(env.s:scalars(orm.select(E.Employee):order_by(E.Employee.name)):all()))
    assert.same({ "Contractor:c" }, described(env.s:scalars(orm.select(E.Contractor)):all()))
    assert.same({ "Consultant:k" }, described(env.s:scalars(orm.select(E.Consultant)):all()))
    assert.same({ "Intern:i" }, described(env.s:scalars(orm.select(E.Intern)):all()))
    assert.same({ "Engineer:g" }, described(env.s:scalars(orm.select(E.Engineer)):all()))
    assert.same({ "Boss:b" }, described(env.s:scalars(orm.select(E.Boss)):all()))
    -- no discriminator criterion on a concrete class's own table
    env.log = {}
    local c = env.s:scalars(orm.select(E.Contractor):where(E.Contractor.rate:gt(1))):one()
    local sql = table.concat(env.log, "\n")
    assert.falsy(sql:find("kind", 1, true), sql)
    assert.equal("hi c", c:hello())
    c.rate = 7
    env.s:commit()
    assert.equal(7, env.s:execute(orm.text("SELECT rate FROM cm_contractors")):scalar())
    env.s:delete(env.s:scalars(orm.select(E.Contractor)):one())
    env.s:commit()
    assert.equal(0, env.s:execute(orm.text("SELECT count(*) FROM cm_contractors")):scalar())
    assert.equal(3, env.s:execute(orm.text("SELECT count(*) FROM cm_employees")):scalar())
  end)

  it("is a class of its own: inherits, concrete and its own keys", function()
    local E = env
    local i = orm.inspect(E.Contractor)
    assert.equal(E.Employee, i.inherits.class)
    assert.is_true(i.concrete)
    assert.equal("contractor", i.polymorphic_identity)
    env.s:add_all({ E.Employee{ id = 1, name = "e" }, E.Contractor{ id = 1, name = "c", rate = 1 } })
    env.s:commit()
    env.s:close()
    assert.are_not.equal(env.s:get(E.Employee, 1), env.s:get(E.Contractor, 1))
    assert.equal("c", env.s:get(E.Contractor, 1).name)
  end)

  it("refuses it under a class with a version counter, naming the model", function()
    local Base = orm.declarative_base()
    local V = Base:model("V", {
      __tablename__ = "cm_v",
      id = orm.Column(orm.Integer, { primary_key = true }),
      kind = orm.Column(orm.String(10)),
      ver = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "v", version_id_col = "ver" },
    })
    local err = pcall_err(V.model, V, "W", {
      __tablename__ = "cm_w",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { concrete = true },
    })
    assert.truthy(err:find("model W: concrete = true under V, which has a version_id_col", 1, true), err)
  end)
end)

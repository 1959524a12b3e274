-- orm.with_polymorphic / orm.selectin_polymorphic of a class of a concrete-table hierarchy
-- (issue 17), as SQLAlchemy 2.0's: with_polymorphic(Employee, "*") of a ConcreteBase reads the
-- polymorphic union, as a query of Employee does, and its classes' attributes are the
-- union's columns (wp.Manager.budget is pjoin.budget); selectin_polymorphic loads nothing
-- more (every class's columns come with the union's rows). A class that is not in the
-- union is refused, naming it.
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
    __mixins__ = { orm.ConcreteBase },
    __tablename__ = "cp_employees",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    __mapper_args__ = { polymorphic_identity = "employee" },
  })
  env.Manager = env.Employee:model("Manager", {
    __tablename__ = "cp_managers",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    budget = orm.Column(orm.Integer),
    __mapper_args__ = { polymorphic_identity = "manager", concrete = true },
  })
  env.Engineer = env.Employee:model("Engineer", {
    __tablename__ = "cp_engineers",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    language = orm.Column(orm.String(30)),
    __mapper_args__ = { polymorphic_identity = "engineer", concrete = true },
  })
  -- a plain model with a concrete subclass: no union
  env.Doc = Base:model("Doc", {
    __tablename__ = "cp_docs",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(30)),
  })
  env.Memo = env.Doc:model("Memo", {
    __tablename__ = "cp_memos",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(30)),
    __mapper_args__ = { concrete = true },
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  env.s:add_all({
    env.Employee{ id = 1, name = "eve" },
    env.Manager{ id = 1, name = "mia", budget = 100 },
    env.Manager{ id = 2, name = "max", budget = 5 },
    env.Engineer{ id = 3, name = "ed", language = "lua" },
  })
  env.s:commit()
  function env.described(list)
    local out = {}
    for _, o in ipairs(list) do out[#out + 1] = orm.inspect(o).mapper.class_name .. ":" .. o.name end
    return out
  end
  function env.selects()
    local n = 0
    for _, sql in ipairs(env.log) do if sql:find("^%s*SELECT") then n = n + 1 end end
    return n
  end
  return env
end

describe("with_polymorphic of a concrete class", function()
  local env
  before_each(function() env = setup() end)

  it("reads the polymorphic union, each row as its class, with every column loaded", function()
    local wp = orm.with_polymorphic(env.Employee, "*")
    env.log = {}
    local all = env.s:scalars(orm.select(wp):order_by(wp.name)):all()
    assert.same({ "Engineer:ed", "Employee:eve", "Manager:max", "Manager:mia" }, env.described(all))
    assert.equal(1, env.selects())
    assert.equal(5, all[3].budget)
    assert.equal("lua", all[1].language)
    assert.equal(1, env.selects())
    local sql = table.concat(env.log, "\n")
    assert.truthy(sql:find("AS pjoin", 1, true), sql)
  end)

  it("filters and orders on a class's attributes as the union's columns", function()
    local wp = orm.with_polymorphic(env.Employee, { env.Manager, env.Engineer })
    assert.same({ "Manager:mia" },
      env.described(env.s:scalars(orm.select(wp):where(wp.Manager.budget:gt(10))):all()))
    assert.same({ "Manager:max", "Manager:mia" },
      env.described(env.s:scalars(orm.select(wp):where(wp.Manager.budget:ne(orm.null()))
        :order_by(wp.Manager.budget)):all()))
    assert.same({ "Engineer:ed", "Manager:mia" },
      env.described(env.s:scalars(orm.select(wp)
        :where(orm.or_(wp.Engineer.language:eq("lua"), wp.Manager.budget:eq(100)))
        :order_by(wp.name)):all()))
    -- a list naming one class still reads the whole union (a query of the base does)
    local wm = orm.with_polymorphic(env.Employee, { env.Manager })
    assert.equal(4, #env.s:scalars(orm.select(wm)):all())
    assert.equal(2, env.s:scalar(orm.select(orm.func.count()):select_from(wm.Manager):where(wm.Manager.budget:gt(0))))
  end)

  it("of a concrete class without subclasses is a query of its table", function()
    local wp = orm.with_polymorphic(env.Manager, "*")
    assert.same({ "Manager:max", "Manager:mia" },
      env.described(env.s:scalars(orm.select(wp):order_by(wp.name)):all()))
  end)

  it("selectin_polymorphic of a concrete class loads nothing more", function()
    env.log = {}
    local all = env.s:scalars(orm.select(env.Employee)
      :options(orm.selectin_polymorphic(env.Employee, { env.Manager, env.Engineer })):order_by(env.Employee.name)):all()
    assert.same({ "Engineer:ed", "Employee:eve", "Manager:max", "Manager:mia" }, env.described(all))
    assert.equal(100, all[4].budget)
    assert.equal(1, env.selects())
  end)

  it("refuses a class outside the union, naming it", function()
    local err = pcall_err(orm.with_polymorphic, env.Employee, { env.Doc })
    assert.truthy(err:find("Doc is not a class of Employee's polymorphic union (its classes: Employee, Manager, Engineer)", 1, true), err)
    err = pcall_err(orm.selectin_polymorphic, env.Manager, { env.Engineer })
    assert.truthy(err:find("Engineer is not a class of Manager's polymorphic union", 1, true), err)
    -- a concrete subclass of a plain model is no part of its rows: nothing to load with it
    err = pcall_err(orm.with_polymorphic, env.Doc, { env.Memo })
    assert.truthy(err:find("Doc is not part of an inheritance hierarchy", 1, true), err)
  end)
end)

-- Mapper inheritance, concrete-table (SQLAlchemy 2.0's ConcreteBase / AbstractConcreteBase,
-- checked against it with echo=True): every class has a whole table of its own (all its
-- columns repeated); an object is written to its class's table only; a query of a concrete
-- subclass reads its table only; a query of the base reads the UNION ALL of the tables
-- (SQLAlchemy's polymorphic_union, `pjoin`, each member naming its class in a `type`
-- column) and returns each row as its class, with all its columns loaded. Each class has
-- identity keys of its own: rows of two tables may have the same key value.
local orm = require("lualchemy")

local generic = generic_sql or function(s) return s end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

-- the union's typed NULLs as plain NULLs (MySQL's text)
local function untyped(sql)
  return (sql:gsub("CAST%(NULL AS [%w ]+%(%d+%)%)", "NULL"):gsub("CAST%(NULL AS [%w ]+%)", "NULL"))
end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
  })
  local Base = orm.declarative_base()
  env.Base = Base
  env.Company = Base:model("Company", {
    __tablename__ = "ci_companies",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    managers = orm.relationship("Manager", { back_populates = "company", order_by = "Manager.id" }),
  })
  env.Employee = Base:model("Employee", {
    __mixins__ = { orm.ConcreteBase },
    __tablename__ = "ci_employees",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    __mapper_args__ = { polymorphic_identity = "employee" },
  })
  function env.Employee:describe() return self.name .. " (" .. orm.inspect(self).mapper.class_name .. ")" end
  env.Manager = env.Employee:model("Manager", {
    __tablename__ = "ci_managers",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    budget = orm.Column(orm.Integer),
    company_id = orm.Column(orm.Integer, orm.ForeignKey("ci_companies.id")),
    company = orm.relationship("Company", { back_populates = "managers" }),
    __mapper_args__ = { polymorphic_identity = "manager", concrete = true },
  })
  env.Engineer = env.Employee:model("Engineer", {
    __tablename__ = "ci_engineers",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    language = orm.Column(orm.String(30)),
    __mapper_args__ = { polymorphic_identity = "engineer", concrete = true },
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.scalar(sql)
    return env.s:execute(orm.text(sql)):scalar()
  end
  function env.sql_since(n)
    local out = {}
    for i = n + 1, #env.log do
      local l = env.log[i]
      if not l:find("^BEGIN") and not l:find("^COMMIT") and not l:find("^ROLLBACK") then
        out[#out + 1] = (l:gsub("%s+", " "))
      end
    end
    return out
  end
  return env
end

local function seed(env)
  local c = env.Company({ name = "acme" })
  env.s:add_all({
    c,
    env.Employee({ id = 1, name = "e1" }),
    env.Manager({ id = 1, name = "m1", budget = 10, company = c }),
    env.Engineer({ id = 2, name = "g2", language = "lua" }),
    env.Engineer({ id = 3, name = "g3", language = "c" }),
  })
  env.s:commit()
  return c
end

local function classes(objs)
  local out = {}
  for i = 1, #objs do
    out[i] = orm.inspect(objs[i]).mapper.class_name .. ":" .. objs[i].id .. ":" .. objs[i].name
  end
  return out
end

describe("concrete-table inheritance (orm.ConcreteBase)", function()
  it("gives every class a whole table of its own", function()
    local env = setup()
    local names = {}
    for _, t in pairs(env.Base.metadata.sorted_tables) do names[#names + 1] = t.name end
    table.sort(names)
    assert.same({ "ci_companies", "ci_employees", "ci_engineers", "ci_managers" }, names)
    local cols = {}
    for _, c in pairs(env.Manager.__table__.columns) do cols[#cols + 1] = c.name end
    assert.same({ "id", "name", "budget", "company_id" }, cols)
    assert.equal("ci_managers", orm.inspect(env.Manager).local_table.name)
    assert.equal("ci_employees", orm.inspect(env.Employee).local_table.name)
  end)

  it("inspect: inherits, concrete, polymorphic_map, polymorphic_identity", function()
    local env = setup()
    local im = orm.inspect(env.Manager)
    assert.equal(env.Employee, im.inherits.class)
    assert.is_true(im.concrete)
    assert.is_true(orm.inspect(env.Employee).concrete)
    assert.is_false(im.single)
    assert.equal("manager", im.polymorphic_identity)
    assert.equal("employee", orm.inspect(env.Employee).polymorphic_identity)
    local map = orm.inspect(env.Employee).polymorphic_map
    assert.equal(env.Employee, map.employee)
    assert.equal(env.Manager, map.manager)
    assert.equal(env.Engineer, map.engineer)
    assert.is_nil(orm.inspect(env.Company).concrete and true or nil)
  end)

  it("writes each object to its class's table only", function()
    local env = setup()
    local n = #env.log
    seed(env)
    local order = {}
    local sql = env.sql_since(n)
    for i = 1, #sql do
      local t = sql[i]:match("^INSERT INTO (%S+)")
      if t then order[#order + 1] = t end
    end
    -- SQLAlchemy saves the hierarchy's tables together (after the tables they refer to),
    -- in the order its classes were declared
    assert.same({ "ci_companies", "ci_employees", "ci_managers", "ci_engineers" }, order)
    assert.equal(1, env.scalar("SELECT count(*) FROM ci_employees"))
    assert.equal(10, env.scalar("SELECT budget FROM ci_managers WHERE id = 1"))
    local m = env.s:get(env.Manager, 1)
    n = #env.log
    m.name = "m1b"
    env.s:flush()
    sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("^UPDATE ci_managers SET name=%? WHERE ci_managers.id = %?"))
    n = #env.log
    env.s:delete(m)
    env.s:flush()
    sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("^DELETE FROM ci_managers WHERE ci_managers.id = %?"))
    env.s:commit()
    assert.equal("e1", env.scalar("SELECT name FROM ci_employees WHERE id = 1"))
  end)

  it("a query of the base reads the UNION ALL of the tables and returns each row as its class", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    local n = #env.log
    local objs = s:execute(orm.select(env.Employee):order_by(env.Employee.id, env.Employee.name)):scalars():all()
    assert.same({ "Employee:1:e1", "Manager:1:m1", "Engineer:2:g2", "Engineer:3:g3" }, classes(objs))
    local sql = env.sql_since(n)
    assert.equal(1, #sql)
    -- a column a table lacks is a typed NULL (MySQL: NULL, its CAST knows few types)
    assert.truthy(sql[1]:find("CAST(NULL AS VARCHAR(30)) AS language", 1, true) or sql[1]:find(" NULL AS language", 1, true))
    sql[1] = untyped(sql[1])
    assert.truthy(sql[1]:find("^SELECT pjoin.id, pjoin.name, pjoin.type, pjoin.budget, pjoin.company_id, pjoin.language FROM %(SELECT ci_employees.id AS id, ci_employees.name AS name, NULL AS budget, NULL AS company_id, NULL AS language, 'employee' AS type FROM ci_employees UNION ALL SELECT ci_managers.id AS id, ci_managers.name AS name, ci_managers.budget AS budget, ci_managers.company_id AS company_id, NULL AS language, 'manager' AS type FROM ci_managers UNION ALL SELECT"), sql[1])
    assert.truthy(sql[1]:find(") AS pjoin ORDER BY pjoin.id, pjoin.name", 1, true), sql[1])
    -- every class's columns are loaded by the query
    n = #env.log
    assert.equal(10, objs[2].budget)
    assert.equal("lua", objs[3].language)
    assert.equal(0, #env.sql_since(n))
    assert.equal("m1 (Manager)", objs[2]:describe())
    s:close()
  end)

  it("filters, orders and filter_by on base attributes read the union's columns", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    local n = #env.log
    local objs = s:execute(orm.select(env.Employee)
      :where(orm.or_(env.Employee.name:like("%2"), env.Employee.name:eq("m1")))
      :order_by(env.Employee.name:desc())):scalars():all()
    assert.same({ "Manager:1:m1", "Engineer:2:g2" }, classes(objs))
    local sql = env.sql_since(n)
    assert.truthy(sql[1]:find("WHERE pjoin.name LIKE %? OR pjoin.name = %? ORDER BY pjoin.name DESC"), sql[1])
    objs = s:execute(orm.select(env.Employee):filter_by({ name = "g3" })):scalars():all()
    assert.same({ "Engineer:3:g3" }, classes(objs))
    -- the count of the union
    assert.equal(4, s:execute(orm.select(orm.func.count()):select_from(env.Employee)):scalar())
    -- a column of the base, selected alone, is read from the union too
    local names = s:execute(orm.select(env.Employee.name):order_by(env.Employee.name)):scalars():all()
    assert.same({ "e1", "g2", "g3", "m1" }, names)
    s:close()
  end)

  it("a query of a concrete subclass reads its own table only", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    local n = #env.log
    local objs = s:execute(orm.select(env.Engineer):where(env.Engineer.language:eq("c"))):scalars():all()
    assert.same({ "Engineer:3:g3" }, classes(objs))
    local sql = env.sql_since(n)
    assert.truthy(sql[1]:find("^SELECT ci_engineers.id, ci_engineers.name, ci_engineers.language FROM ci_engineers WHERE ci_engineers.language = %?"), sql[1])
    assert.falsy(sql[1]:find("pjoin", 1, true))
    s:close()
  end)

  it("identity keys are per class: the same key value in two tables is two objects", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    local m = s:get(env.Manager, 1)
    local e = s:execute(orm.select(env.Employee):where(env.Employee.name:eq("e1"))):scalar_one()
    -- in the identity map now: session:get finds it by its class's key, without SQL
    assert.equal(e, s:get(env.Employee, 1))
    assert.equal("Manager", orm.inspect(m).mapper.class_name)
    assert.equal("Employee", orm.inspect(e).mapper.class_name)
    assert.are_not.equal(m, e)
    -- the base query finds the objects of the identity map
    local objs = s:execute(orm.select(env.Employee):where(env.Employee.id:eq(1)):order_by(env.Employee.name)):scalars():all()
    assert.equal(e, objs[1])
    assert.equal(m, objs[2])
    assert.same({ 1 }, orm.inspect(m).identity)
    assert.same({ 1 }, orm.inspect(e).identity)
    s:close()
  end)

  it("session:get of the base reads the union: another class's object, or MultipleResultsFound", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    local g = s:get(env.Employee, 2)
    assert.equal("Engineer", orm.inspect(g).mapper.class_name)
    assert.equal(g, s:get(env.Engineer, 2))
    -- ci_employees and ci_managers both have a row 1 (SQLAlchemy: MultipleResultsFound)
    local err = pcall_err(function() return s:get(env.Employee, 1) end)
    assert.truthy(err:find("MultipleResultsFound", 1, true), err)
    assert.is_nil(s:get(env.Employee, 99))
    assert.is_nil(s:get(env.Manager, 2))
    s:close()
  end)

  it("relationships are declared on each concrete class; one may target a concrete subclass", function()
    local env = setup()
    local c = seed(env)
    local s = orm.Session(env.engine)
    local c2 = s:get(env.Company, c.id)
    assert.equal(1, #c2.managers)
    assert.equal("m1", c2.managers[1].name)
    assert.equal(c2, c2.managers[1].company)
    local found = s:execute(orm.select(env.Company):join(env.Company.managers):where(env.Manager.name:eq("m1"))):scalars():all()
    assert.equal(1, #found)
    -- a Manager read through the base query has its relationship
    local m = s:execute(orm.select(env.Employee):where(env.Employee.name:eq("m1"))):scalar_one()
    assert.equal(c2, m.company)
    -- the new Manager of a company, by the collection
    c2.managers:append(env.Manager({ id = 5, name = "m5" }))
    s:commit()
    assert.equal(c2.id, env.scalar("SELECT company_id FROM ci_managers WHERE id = 5"))
    s:close()
  end)

  it("a relationship of the base is not inherited by its concrete subclasses", function()
    local Base = orm.declarative_base()
    Base:model("Dept", {
      __tablename__ = "ci_depts",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    local Person = Base:model("Person", {
      __mixins__ = { orm.ConcreteBase },
      __tablename__ = "ci_people",
      id = orm.Column(orm.Integer, { primary_key = true }),
      dept_id = orm.Column(orm.Integer, orm.ForeignKey("ci_depts.id")),
      dept = orm.relationship("Dept"),
      __mapper_args__ = { polymorphic_identity = "person" },
    })
    local Clerk = Person:model("Clerk", {
      __tablename__ = "ci_clerks",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "clerk", concrete = true },
    })
    assert.truthy(orm.inspect(Person).relationships.dept)
    assert.is_nil(orm.inspect(Clerk).relationships.dept)
  end)

  it("a concrete subclass of a concrete subclass: a query of the middle class reads the union of its tables", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Vehicle = Base:model("Vehicle", {
      __mixins__ = { orm.ConcreteBase },
      __tablename__ = "ci_vehicles",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      __mapper_args__ = { polymorphic_identity = "vehicle" },
    })
    local Car = Vehicle:model("Car", {
      __tablename__ = "ci_cars",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      seats = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "car", concrete = true },
    })
    local Racer = Car:model("Racer", {
      __tablename__ = "ci_racers",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      seats = orm.Column(orm.Integer),
      turbo = orm.Column(orm.Boolean),
      __mapper_args__ = { polymorphic_identity = "racer", concrete = true },
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Vehicle({ id = 1, name = "v1" }), Car({ id = 2, name = "c2", seats = 4 }),
      Racer({ id = 3, name = "r3", seats = 1, turbo = true }) })
    s:commit()
    s:close()
    s = orm.Session(engine)
    local objs = s:execute(orm.select(Car):order_by(Car.id)):scalars():all()
    assert.same({ "Car:2:c2", "Racer:3:r3" }, classes(objs))
    assert.is_true(objs[2].turbo)
    objs = s:execute(orm.select(Vehicle):order_by(Vehicle.id)):scalars():all()
    assert.same({ "Vehicle:1:v1", "Car:2:c2", "Racer:3:r3" }, classes(objs))
    assert.equal(objs[3], s:get(Racer, 3))
    assert.equal(Car, orm.inspect(Racer).inherits.class)
    s:close()
  end)

  it("refuses what is not supported, naming the model", function()
    local env = setup()
    local err = pcall_err(env.Employee.model, env.Employee, "Temp", {
      __tablename__ = "ci_temps",
      id = orm.Column(orm.Integer, orm.ForeignKey("ci_employees.id"), { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "temp" },
    })
    assert.truthy(err:find("Temp", 1, true) and err:find("concrete", 1, true), err)
    err = pcall_err(env.Employee.model, env.Employee, "NoId", {
      __tablename__ = "ci_noid",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { concrete = true },
    })
    assert.truthy(err:find("NoId", 1, true) and err:find("polymorphic_identity", 1, true), err)
    err = pcall_err(env.Employee.model, env.Employee, "Typed", {
      __tablename__ = "ci_typed",
      id = orm.Column(orm.Integer, { primary_key = true }),
      type = orm.Column(orm.String(10)),
      __mapper_args__ = { polymorphic_identity = "typed", concrete = true },
    })
    assert.truthy(err:find("Typed", 1, true) and err:find("'type'", 1, true), err)
    err = pcall_err(env.Employee.model, env.Employee, "Dup", {
      __tablename__ = "ci_dup",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "manager", concrete = true },
    })
    assert.truthy(err:find("Dup", 1, true) and err:find("already", 1, true), err)
    -- (concrete = true under a plain model is SQLAlchemy's own-table mapping:
    -- inheritance_concrete_relationships_spec.lua)
    local Base = orm.declarative_base()
    err = pcall_err(Base.model, Base, "NoIdentity", {
      __mixins__ = { orm.ConcreteBase },
      __tablename__ = "ci_noidentity",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    assert.truthy(err:find("NoIdentity", 1, true) and err:find("polymorphic_identity", 1, true), err)
    -- with_polymorphic names classes of the union (concrete_polymorphic_spec.lua);
    -- polymorphic_load: a base query loads every class already
    err = pcall_err(orm.with_polymorphic, env.Manager, { env.Engineer })
    assert.truthy(err:find("Engineer is not a class of Manager's polymorphic union", 1, true), err)
    err = pcall_err(env.Employee.model, env.Employee, "Sel", {
      __tablename__ = "ci_sel",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "sel", concrete = true, polymorphic_load = "selectin" },
    })
    assert.truthy(err:find("Sel", 1, true) and err:find("polymorphic_load", 1, true), err)
  end)

  it("the union matches the tables' columns by key, as SQLAlchemy's polymorphic_union", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Doc = Base:model("Doc", {
      __mixins__ = { orm.ConcreteBase },
      __tablename__ = "ci_docs",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      title = orm.Column(orm.String(20)),
      __mapper_args__ = { polymorphic_identity = "doc" },
    })
    local Memo = Doc:model("Memo", {
      __tablename__ = "ci_memos",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      title = orm.Column("memo_title", orm.String(20)),
      __mapper_args__ = { polymorphic_identity = "memo", concrete = true },
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Doc({ id = 1, title = "a" }), Memo({ id = 2, title = "b" }) })
    s:commit()
    s:close()
    local found = s:execute(orm.select(Doc):where(Doc.title:eq("b"))):scalars():all()
    assert.equal(1, #found)
    assert.equal(Memo, orm.inspect(found[1]).mapper.class)
    assert.equal("b", found[1].title)
    s:close()
  end)

  it("joins, EXISTS and subqueries of the base read the union", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    -- a subquery of the base: its columns are the union's
    local sq = orm.select(env.Employee):where(env.Employee.name:like("g%")):subquery()
    local names = s:execute(orm.select(sq.c.name):order_by(sq.c.name)):scalars():all()
    assert.same({ "g2", "g3" }, names)
    -- EXISTS correlated to an outer table
    local n = #env.log
    local found = s:execute(orm.select(env.Company):where(orm.exists(
      orm.select(env.Employee.id):where(env.Employee.name:eq(env.Company.name))))):scalars():all()
    assert.equal(0, #found)
    local sql = env.sql_since(n)
    assert.truthy(sql[1]:find("EXISTS (SELECT pjoin.id FROM (SELECT", 1, true), sql[1])
    -- IN a subclass's ids
    local objs = s:execute(orm.select(env.Employee):where(env.Employee.id:in_(orm.select(env.Engineer.id)))
      :order_by(env.Employee.id, env.Employee.name)):scalars():all()
    assert.same({ "Engineer:2:g2", "Engineer:3:g3" }, classes(objs))
    s:close()
  end)

  it("refuses DML on a class read through the union, naming it", function()
    local env = setup()
    seed(env)
    local s = orm.Session(env.engine)
    local err
    -- SQLAlchemy: ArgumentError "subject table for an INSERT, UPDATE or DELETE expected"
    err = pcall_err(orm.update, env.Employee)
    assert.truthy(err:find("ArgumentError", 1, true) and err:find("Employee", 1, true), err)
    err = pcall_err(orm.delete, env.Employee)
    assert.truthy(err:find("ArgumentError", 1, true) and err:find("Employee", 1, true), err)
    -- a concrete subclass without subclasses is a plain table for DML
    s:execute(orm.update(env.Engineer):where(env.Engineer.id:eq(3)):values({ language = "go" }))
    s:commit()
    assert.equal("go", env.scalar("SELECT language FROM ci_engineers WHERE id = 3"))
    s:close()
  end)

  it("refuses a relationship to a class read through a polymorphic union when one of its classes lacks the joining column", function()
    local Base = orm.declarative_base()
    Base:model("Office", {
      __tablename__ = "ci_offices",
      id = orm.Column(orm.Integer, { primary_key = true }),
      staff = orm.relationship("Staff"),
    })
    local Staff = Base:model("Staff", {
      __mixins__ = { orm.ConcreteBase },
      __tablename__ = "ci_staff",
      id = orm.Column(orm.Integer, { primary_key = true }),
      office_id = orm.Column(orm.Integer, orm.ForeignKey("ci_offices.id")),
      __mapper_args__ = { polymorphic_identity = "staff" },
    })
    Staff:model("Guard", {
      __tablename__ = "ci_guards",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "guard", concrete = true },
    })
    local err = pcall_err(function() return orm.inspect(Staff).relationships end)
    assert.truthy(err:find("Office.staff", 1, true) and err:find("Guard", 1, true)
      and err:find("office_id", 1, true) and err:find("ArgumentError", 1, true), err)
  end)
end)

describe("concrete-table inheritance (orm.AbstractConcreteBase)", function()
  local function abstract_setup()
    local env = { log = {} }
    env.engine = orm.create_engine("sqlite://", {
      echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
    })
    local Base = orm.declarative_base()
    env.Base = Base
    env.Shape = Base:model("Shape", {
      __mixins__ = { orm.AbstractConcreteBase },
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      label = orm.Column(orm.String(20)),
    })
    function env.Shape:tag() return "<" .. self.label .. ">" end
    env.Circle = env.Shape:model("Circle", {
      __tablename__ = "ci_circles",
      radius = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "circle", concrete = true },
    })
    env.Square = env.Shape:model("Square", {
      __tablename__ = "ci_squares",
      side = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "square", concrete = true },
    })
    Base.metadata:create_all(env.engine)
    env.s = orm.Session(env.engine)
    return env
  end

  it("copies the base's columns into each subclass's table and has no table itself", function()
    local env = abstract_setup()
    local names = {}
    for _, t in pairs(env.Base.metadata.sorted_tables) do names[#names + 1] = t.name end
    table.sort(names)
    assert.same({ "ci_circles", "ci_squares" }, names)
    local cols = {}
    for _, c in pairs(env.Circle.__table__.columns) do cols[#cols + 1] = c.name end
    assert.same({ "radius", "id", "label" }, cols)
    assert.is_true(orm.inspect(env.Shape).concrete)
    assert.equal(env.Circle, orm.inspect(env.Shape).polymorphic_map.circle)
    assert.is_nil(orm.inspect(env.Shape).polymorphic_identity)
  end)

  it("a query of the base reads the union of the subclasses' tables", function()
    local env = abstract_setup()
    env.s:add_all({
      env.Circle({ id = 1, label = "c1", radius = 5 }),
      env.Square({ id = 1, label = "s1", side = 3 }),
      env.Square({ id = 2, label = "s2", side = 4 }),
    })
    env.s:commit()
    local s = orm.Session(env.engine)
    local n = #env.log
    local objs = s:execute(orm.select(env.Shape):where(env.Shape.label:ne("s2")):order_by(env.Shape.label)):scalars():all()
    assert.equal(2, #objs)
    assert.equal("Circle", orm.inspect(objs[1]).mapper.class_name)
    assert.equal(5, objs[1].radius)
    assert.equal("Square", orm.inspect(objs[2]).mapper.class_name)
    assert.equal(3, objs[2].side)
    assert.equal("<s1>", objs[2]:tag())
    local sql = env.log[n + 1]
    if sql:find("^BEGIN") then sql = env.log[n + 2] end
    sql = untyped(sql:gsub("%s+", " "))
    assert.truthy(sql:find("^SELECT pjoin.id, pjoin.label, pjoin.type, pjoin.radius, pjoin.side FROM %(SELECT ci_circles.radius AS radius, ci_circles.id AS id, ci_circles.label AS label, NULL AS side, 'circle' AS type FROM ci_circles UNION ALL SELECT NULL AS radius, ci_squares.id AS id"), sql)
    assert.truthy(sql:find("WHERE pjoin.label != %? ORDER BY pjoin.label") or sql:find("WHERE pjoin.label <> %? ORDER BY pjoin.label"), sql)
    assert.equal(3, s:execute(orm.select(orm.func.count()):select_from(env.Shape)):scalar())
    s:close()
  end)

  it("refuses to make an object of the abstract base, or to write it", function()
    local env = abstract_setup()
    local err = pcall_err(env.Shape, { label = "x" })
    assert.truthy(err:find("InvalidRequestError", 1, true) and err:find("Shape", 1, true), err)
    err = pcall_err(orm.update, env.Shape)
    assert.truthy(err:find("Shape", 1, true), err)
    err = pcall_err(function() env.s:bulk_insert_mappings(env.Shape, { { id = 9, label = "x" } }) end)
    assert.truthy(err:find("Shape", 1, true) and err:find("AbstractConcreteBase", 1, true), err)
  end)

  it("an abstract base without a primary key: its subclasses declare their own", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Pet = Base:model("Pet", {
      __mixins__ = { orm.AbstractConcreteBase },
      nick = orm.Column(orm.String(20)),
    })
    local Cat = Pet:model("Cat", {
      __tablename__ = "ci_cats",
      id = orm.Column(orm.Integer, { primary_key = true }),
      lives = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "cat", concrete = true },
    })
    local Dog = Pet:model("Dog", {
      __tablename__ = "ci_dogs",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "dog", concrete = true },
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Cat({ nick = "tom", lives = 9 }), Dog({ nick = "rex" }) })
    s:commit()
    s:close()
    local pets = s:execute(orm.select(Pet):order_by(Pet.nick)):scalars():all()
    assert.same({ "Dog:1:rex", "Cat:1:tom" }, {
      orm.inspect(pets[1]).mapper.class_name .. ":" .. pets[1].id .. ":" .. pets[1].nick,
      orm.inspect(pets[2]).mapper.class_name .. ":" .. pets[2].id .. ":" .. pets[2].nick,
    })
    assert.equal(9, pets[2].lives)
    assert.equal(pets[2], s:get(Cat, 1))
    local err = pcall_err(function() return s:get(Pet, 1) end)
    assert.truthy(err:find("Pet", 1, true) and err:find("primary key", 1, true), err)
    s:close()
  end)
end)

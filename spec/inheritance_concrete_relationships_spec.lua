-- Relationships and a concrete-table hierarchy read through its polymorphic union
-- (SQLAlchemy 2.0's ConcreteBase, checked against 2.0.58 with echo=True): a relationship to
-- the base reads the union (lazy, selectin, joined), returning each row as its class; each
-- concrete class has relationships of its own, and a query of the base loads them by the
-- class of each row; loader options on such a query name the base's own attributes.
local orm = require("lualchemy")

local generic = generic_sql or function(s) return s end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

-- opts.lazy: Company.employees's lazy; opts.manager_lazy: Manager.company's lazy
local function setup(opts)
  opts = opts or {}
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
  })
  local Base = orm.declarative_base()
  env.Base = Base
  env.Company = Base:model("Company", {
    __tablename__ = "cr_companies",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    employees = orm.relationship("Employee", {
      back_populates = "company", order_by = "Employee.id", lazy = opts.lazy,
    }),
  })
  env.Employee = Base:model("Employee", {
    __mixins__ = { orm.ConcreteBase },
    __tablename__ = "cr_employees",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    company_id = orm.Column(orm.Integer, orm.ForeignKey("cr_companies.id")),
    company = orm.relationship("Company", { back_populates = "employees" }),
    __mapper_args__ = { polymorphic_identity = "employee" },
  })
  -- the column order differs from the base's: the joining column is found by key
  env.Manager = env.Employee:model("Manager", {
    __tablename__ = "cr_managers",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    name = orm.Column(orm.String(30)),
    budget = orm.Column(orm.Integer),
    company_id = orm.Column(orm.Integer, orm.ForeignKey("cr_companies.id")),
    company = orm.relationship("Company", { back_populates = "employees", lazy = opts.manager_lazy }),
    __mapper_args__ = { polymorphic_identity = "manager", concrete = true },
  })
  env.Engineer = env.Employee:model("Engineer", {
    __tablename__ = "cr_engineers",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    language = orm.Column(orm.String(30)),
    name = orm.Column(orm.String(30)),
    company_id = orm.Column(orm.Integer, orm.ForeignKey("cr_companies.id")),
    company = orm.relationship("Company", { back_populates = "employees" }),
    __mapper_args__ = { polymorphic_identity = "engineer", concrete = true },
  })
  -- a many-to-one to the base (no foreign key: the key is in any of the tables)
  local Task, Employee
  Task = Base:model("Task", {
    __tablename__ = "cr_tasks",
    id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
    emp_id = orm.Column(orm.Integer),
    emp = orm.relationship("Employee", {
      primaryjoin = function() return orm.foreign(Task.emp_id):eq(Employee.id) end,
    }),
  })
  Employee = env.Employee
  env.Task = Task
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

-- one row per table (keys unique across them), the company set through each class's own
-- many-to-one
local function seed(env)
  local c = env.Company({ id = 1, name = "acme" })
  local other = env.Company({ id = 2, name = "other" })
  env.s:add_all({
    c, other,
    env.Employee({ id = 1, name = "e1", company = c }),
    env.Engineer({ id = 2, name = "g2", language = "lua", company = c }),
    env.Manager({ id = 3, name = "m3", budget = 10, company = c }),
    env.Manager({ id = 4, name = "m4", budget = 20, company = other }),
    env.Task({ id = 1, emp_id = 1 }),
    env.Task({ id = 2, emp_id = 2 }),
    env.Task({ id = 3, emp_id = 3 }),
  })
  env.s:commit()
  env.s:close()
end

local function classes(objs)
  local out = {}
  for i = 1, #objs do
    out[i] = orm.inspect(objs[i]).mapper.class_name .. ":" .. objs[i].id .. ":" .. objs[i].name
  end
  return out
end

local function unloaded(obj)
  local out = {}
  for _, k in pairs(orm.inspect(obj).unloaded) do out[#out + 1] = k end
  table.sort(out)
  return table.concat(out, ",")
end

local ACME = { "Employee:1:e1", "Engineer:2:g2", "Manager:3:m3" }

describe("relationships to a class read through a concrete union", function()
  it("writes each class's joining column in its own table, through its own many-to-one", function()
    local env = setup()
    seed(env)
    -- the Manager's company_id is its 4th column (the base's 3rd): budget kept
    assert.equal(10, env.scalar("SELECT budget FROM cr_managers WHERE id = 3"))
    assert.equal(1, env.scalar("SELECT company_id FROM cr_managers WHERE id = 3"))
    assert.equal(1, env.scalar("SELECT company_id FROM cr_engineers WHERE id = 2"))
    assert.equal("lua", env.scalar("SELECT language FROM cr_engineers WHERE id = 2"))
    env.s:close()
  end)

  it("lazy loads a one-to-many to the base from the union, each row as its class", function()
    local env = setup()
    seed(env)
    local s = env.s
    local c = s:get(env.Company, 1)
    local n = #env.log
    local emps = c.employees
    local sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("FROM (SELECT", 1, true) and sql[1]:find("UNION ALL", 1, true), sql[1])
    assert.truthy(sql[1]:find("WHERE pjoin.company_id = ?", 1, true), sql[1])
    assert.same(ACME, classes(emps))
    -- the concrete classes' own many-to-one is the reverse
    assert.equal(c, emps[3].company)
    assert.equal(env.Manager, orm.inspect(emps[3]).mapper.class)
    assert.equal(10, emps[3].budget)
    s:close()
  end)

  it("keeps both sides in step through each class's own reverse, and the flush writes it", function()
    local env = setup()
    seed(env)
    local s = env.s
    local c, other = s:get(env.Company, 1), s:get(env.Company, 2)
    assert.equal(3, #c.employees)
    local m4 = s:get(env.Manager, 4)
    -- appending to the base's collection sets the Manager's own company
    c.employees:append(m4)
    assert.equal(c, m4.company)
    -- setting an Engineer's own company moves it between the collections
    local g2 = s:get(env.Engineer, 2)
    g2.company = other
    assert.same({ "Employee:1:e1", "Manager:3:m3", "Manager:4:m4" }, classes(c.employees))
    s:commit()
    assert.equal(1, env.scalar("SELECT company_id FROM cr_managers WHERE id = 4"))
    assert.equal(20, env.scalar("SELECT budget FROM cr_managers WHERE id = 4"))
    assert.equal(2, env.scalar("SELECT company_id FROM cr_engineers WHERE id = 2"))
    assert.equal("lua", env.scalar("SELECT language FROM cr_engineers WHERE id = 2"))
    -- removing from the collection clears the member's own column
    c.employees:remove(s:get(env.Manager, 3))
    s:commit()
    assert.is_nil(env.scalar("SELECT company_id FROM cr_managers WHERE id = 3"))
    assert.equal(10, env.scalar("SELECT budget FROM cr_managers WHERE id = 3"))
    s:close()
  end)

  it("selectinload and lazy = \"selectin\" read the union by the parents' keys", function()
    for _, how in ipairs({ "option", "default" }) do
      local env = setup({ lazy = how == "default" and "selectin" or nil })
      seed(env)
      local s = env.s
      local n = #env.log
      local q = orm.select(env.Company):order_by(env.Company.id)
      if how == "option" then q = q:options(orm.selectinload(env.Company.employees)) end
      local cs = s:execute(q):scalars():all()
      local sql = env.sql_since(n)
      assert.equal(2, #sql)
      -- SQLAlchemy 2.0.58 adds the base's table to this FROM (a cartesian product):
      -- lualchemy reads the union only
      assert.truthy(sql[2]:find("WHERE pjoin.company_id IN (", 1, true), sql[2])
      assert.falsy(sql[2]:find("pjoin, cr_employees", 1, true), sql[2])
      assert.same(ACME, classes(cs[1].employees))
      assert.same({ "Manager:4:m4" }, classes(cs[2].employees))
      assert.equal(cs[1], cs[1].employees[2].company)
      assert.equal(2, #env.sql_since(n))
      s:close()
    end
  end)

  it("joinedload and lazy = \"joined\" join the union, as SQLAlchemy's LEFT OUTER JOIN", function()
    for _, how in ipairs({ "option", "default" }) do
      local env = setup({ lazy = how == "default" and "joined" or nil })
      seed(env)
      local s = env.s
      local n = #env.log
      local q = orm.select(env.Company):order_by(env.Company.id)
      if how == "option" then q = q:options(orm.joinedload(env.Company.employees)) end
      local cs = s:execute(q):unique():scalars():all()
      local sql = env.sql_since(n)
      assert.equal(1, #sql)
      assert.truthy(sql[1]:find("LEFT OUTER JOIN (SELECT", 1, true), sql[1])
      assert.same(ACME, classes(cs[1].employees))
      assert.same({ "Manager:4:m4" }, classes(cs[2].employees))
      assert.equal(20, cs[2].employees[1].budget)
      assert.equal(1, #env.sql_since(n))
      s:close()
    end
  end)

  it("joinedload under a LIMIT joins the union to the limited parents", function()
    local env = setup()
    seed(env)
    local s = env.s
    local cs = s:execute(orm.select(env.Company):options(orm.joinedload(env.Company.employees))
      :order_by(env.Company.id):limit(1)):unique():scalars():all()
    assert.equal(1, #cs)
    assert.same(ACME, classes(cs[1].employees))
    s:close()
  end)

  it("a many-to-one to the base loads the row's class, lazily, joined or by selectin", function()
    local env = setup()
    seed(env)
    local s = env.s
    local want = { "Employee:1:e1", "Engineer:2:g2", "Manager:3:m3" }
    local function emps(ts)
      local out = {}
      for i, t in ipairs(ts) do out[i] = t.emp end
      return classes(out)
    end
    local q = orm.select(env.Task):order_by(env.Task.id)
    assert.same(want, emps(s:execute(q):scalars():all()))
    s:close()
    local n = #env.log
    local ts = s:execute(q:options(orm.joinedload(env.Task.emp))):scalars():all()
    assert.equal(1, #env.sql_since(n))
    assert.same(want, emps(ts))
    assert.equal(1, #env.sql_since(n))
    s:close()
    n = #env.log
    ts = s:execute(q:options(orm.selectinload(env.Task.emp))):scalars():all()
    assert.equal(2, #env.sql_since(n))
    assert.same(want, emps(ts))
    assert.equal(2, #env.sql_since(n))
    s:close()
  end)

  it("joins, any(), has() and contains() read the union", function()
    local env = setup()
    seed(env)
    local s = env.s
    local E = env.Employee
    local function names(q)
      local out = {}
      for _, c in ipairs(s:execute(q):scalars():all()) do out[#out + 1] = c.name end
      return out
    end
    local n = #env.log
    assert.same({ "acme" }, names(orm.select(env.Company):join(env.Company.employees)
      :where(E.name:eq("m3"))))
    local sql = env.sql_since(n)
    assert.truthy(sql[1]:find("JOIN (SELECT", 1, true) and sql[1]:find("pjoin.name = ?", 1, true), sql[1])
    assert.same({ "other" }, names(orm.select(env.Company):where(env.Company.employees:any(E.name:eq("m4")))))
    assert.same({ 2 }, s:execute(orm.select(env.Task.id):where(env.Task.emp:has(E.name:eq("g2")))):scalars():all())
    local m4 = s:get(env.Manager, 4)
    assert.same({ "other" }, names(orm.select(env.Company):where(env.Company.employees:contains(m4))))
    assert.same(ACME, classes(s:execute(orm.select(E):where(orm.with_parent(s:get(env.Company, 1),
      env.Company.employees)):order_by(E.id)):scalars():all()))
    s:close()
  end)
end)

describe("a query of a concrete base and its classes' own relationships", function()
  it("loads each row's own relationship on access", function()
    local env = setup()
    seed(env)
    local s = env.s
    local all = s:execute(orm.select(env.Employee):order_by(env.Employee.id)):scalars():all()
    assert.same({ "Employee:1:e1", "Engineer:2:g2", "Manager:3:m3", "Manager:4:m4" }, classes(all))
    assert.same({ "acme", "acme", "acme", "other" },
      { all[1].company.name, all[2].company.name, all[3].company.name, all[4].company.name })
    s:close()
  end)

  it("joinedload of the base's relationship fills its own rows; the others' load on access", function()
    local env = setup()
    seed(env)
    local s = env.s
    local n = #env.log
    local all = s:execute(orm.select(env.Employee):options(orm.joinedload(env.Employee.company))
      :order_by(env.Employee.id)):scalars():all()
    local sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("LEFT OUTER JOIN cr_companies AS", 1, true), sql[1])
    -- as SQLAlchemy: the option names Employee.company, not the Manager's own company
    assert.equal("", unloaded(all[1]))
    assert.equal("company", unloaded(all[4]))
    assert.equal("other", all[4].company.name)
    s:close()
  end)

  it("selectinload of the base's relationship loads every class's own, as SQLAlchemy", function()
    local env = setup()
    seed(env)
    local s = env.s
    local n = #env.log
    local all = s:execute(orm.select(env.Employee):options(orm.selectinload(env.Employee.company))
      :order_by(env.Employee.id)):scalars():all()
    local sent = #env.sql_since(n)
    for _, e in ipairs(all) do assert.equal("", unloaded(e)) end
    assert.same({ "acme", "acme", "acme", "other" },
      { all[1].company.name, all[2].company.name, all[3].company.name, all[4].company.name })
    assert.equal(sent, #env.sql_since(n))
    assert.truthy(sent >= 2)
    s:close()
  end)

  it("a concrete class's own lazy = \"joined\" relationship joins on the union's columns", function()
    local env = setup({ manager_lazy = "joined" })
    seed(env)
    local s = env.s
    local n = #env.log
    local all = s:execute(orm.select(env.Employee):order_by(env.Employee.id)):scalars():all()
    local sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("LEFT OUTER JOIN cr_companies AS", 1, true)
      and sql[1]:find("pjoin.company_id", 1, true), sql[1])
    assert.equal("company", unloaded(all[1]))
    assert.equal("", unloaded(all[3]))
    assert.equal("other", all[4].company.name)
    assert.equal(1, #env.sql_since(n))
    s:close()
  end)

  it("raiseload of the base's relationship is its own rows'; raiseload('*') every class's", function()
    local env = setup()
    seed(env)
    local s = env.s
    local all = s:execute(orm.select(env.Employee):options(orm.raiseload(env.Employee.company))
      :order_by(env.Employee.id)):scalars():all()
    local err = pcall_err(function() return all[1].company end)
    assert.truthy(err:find("Employee.company", 1, true) and err:find("raise", 1, true), err)
    assert.equal("acme", all[3].company.name)
    s:close()
    all = s:execute(orm.select(env.Employee):options(orm.raiseload("*"))
      :order_by(env.Employee.id)):scalars():all()
    err = pcall_err(function() return all[3].company end)
    assert.truthy(err:find("Manager.company", 1, true) and err:find("raise", 1, true), err)
    err = pcall_err(function() return all[2].company end)
    assert.truthy(err:find("Engineer.company", 1, true), err)
    s:close()
  end)

  it("load_only and defer name the base's own attributes; the other classes' rows load whole", function()
    local env = setup()
    seed(env)
    local s = env.s
    local E = env.Employee
    local all = s:execute(orm.select(E):options(orm.defer(E.name)):order_by(E.id)):scalars():all()
    assert.equal("company,name", unloaded(all[1]))
    assert.equal("company", unloaded(all[2]))
    assert.equal("company", unloaded(all[3]))
    -- the deferred column loads from the object's own table
    local n = #env.log
    assert.equal("e1", all[1].name)
    local sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("FROM cr_employees WHERE cr_employees.id = ?", 1, true), sql[1])
    s:close()
    all = s:execute(orm.select(E):options(orm.load_only(E.name)):order_by(E.id)):scalars():all()
    assert.equal("company,company_id", unloaded(all[1]))
    assert.equal("company", unloaded(all[3]))
    assert.equal(10, all[3].budget)
    assert.equal(1, all[1].company_id)
    s:close()
  end)

  it("loader options along a relationship to the base go on to the union's rows", function()
    local env = setup()
    seed(env)
    local s = env.s
    local n = #env.log
    local c = s:execute(orm.select(env.Company):where(env.Company.id:eq(1))
      :options(orm.selectinload(env.Company.employees):joinedload(env.Employee.company))):scalars():one()
    assert.same(ACME, classes(c.employees))
    assert.equal(c, c.employees[1].company)
    assert.equal(c, c.employees[3].company)
    assert.equal(2, #env.sql_since(n))
    s:close()
  end)
end)

describe("relationships of an orm.AbstractConcreteBase", function()
  -- SQLAlchemy asks for the abstract base's relationships as declared_attr (each concrete
  -- class gets its own, and so does the base, read through the union): a relationship in
  -- the abstract base's spec is that
  local function abstract_setup()
    local env = { log = {} }
    env.engine = orm.create_engine("sqlite://", {
      echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
    })
    local Base = orm.declarative_base()
    env.Owner = Base:model("Owner", {
      __tablename__ = "cr_owners",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      pets = orm.relationship("Pet", { back_populates = "owner", order_by = "Pet.id" }),
    })
    env.Pet = Base:model("Pet", {
      __mixins__ = { orm.AbstractConcreteBase },
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      owner_id = orm.Column(orm.Integer, orm.ForeignKey("cr_owners.id")),
      owner = orm.relationship("Owner", { back_populates = "pets" }),
    })
    env.Dog = env.Pet:model("Dog", {
      __tablename__ = "cr_dogs",
      bark = orm.Column(orm.String(10)),
      __mapper_args__ = { polymorphic_identity = "dog", concrete = true },
    })
    env.Cat = env.Pet:model("Cat", {
      __tablename__ = "cr_cats",
      lives = orm.Column(orm.Integer),
      __mapper_args__ = { polymorphic_identity = "cat", concrete = true },
    })
    Base.metadata:create_all(env.engine)
    env.s = orm.Session(env.engine)
    local ann = env.Owner({ id = 1, name = "ann" })
    local bob = env.Owner({ id = 2, name = "bob" })
    env.s:add_all({
      ann, bob,
      env.Dog({ id = 1, name = "rex", bark = "woof", owner = ann }),
      env.Cat({ id = 2, name = "tom", lives = 9, owner = ann }),
      env.Cat({ id = 3, name = "kit", lives = 7, owner = bob }),
    })
    env.s:commit()
    env.s:close()
    return env
  end

  it("gives each concrete class the relationship, which writes its own table", function()
    local env = abstract_setup()
    local s = env.s
    assert.equal(1, s:execute(orm.text("SELECT owner_id FROM cr_dogs WHERE id = 1")):scalar())
    assert.equal(9, s:execute(orm.text("SELECT lives FROM cr_cats WHERE id = 2")):scalar())
    local tom = s:get(env.Cat, 2)
    assert.equal("ann", tom.owner.name)
    assert.truthy(orm.inspect(env.Dog).relationships.owner)
    assert.truthy(orm.inspect(env.Pet).relationships.owner)
    s:close()
  end)

  it("a relationship to the abstract base reads the union, lazily and eagerly", function()
    local env = abstract_setup()
    local s = env.s
    local ann = s:get(env.Owner, 1)
    local pets = ann.pets
    assert.same({ "Dog:1:rex", "Cat:2:tom" }, classes(pets))
    assert.equal(ann, pets[2].owner)
    s:close()
    for _, opt in ipairs({ orm.selectinload, orm.joinedload }) do
      local owners = s:execute(orm.select(env.Owner):options(opt(env.Owner.pets)):order_by(env.Owner.id))
        :unique():scalars():all()
      local n = #env.log
      assert.same({ "Dog:1:rex", "Cat:2:tom" }, classes(owners[1].pets))
      assert.same({ "Cat:3:kit" }, classes(owners[2].pets))
      assert.equal(0, #env.log - n)
      s:close()
    end
  end)

  it("queries of the abstract base use its relationship through the union", function()
    local env = abstract_setup()
    local s = env.s
    local P = env.Pet
    local found = s:execute(orm.select(P):where(P.owner:has(env.Owner.name:eq("bob")))):scalars():all()
    assert.same({ "Cat:3:kit" }, classes(found))
    local names = {}
    for _, o in ipairs(s:execute(orm.select(env.Owner):where(env.Owner.pets:any(P.name:eq("rex")))):scalars():all()) do
      names[#names + 1] = o.name
    end
    assert.same({ "ann" }, names)
    -- selectinload of the base's relationship loads each class's own
    local pets = s:execute(orm.select(P):options(orm.selectinload(P.owner)):order_by(P.id)):scalars():all()
    for _, p in ipairs(pets) do assert.equal("", unloaded(p)) end
    assert.same({ "ann", "ann", "bob" }, { pets[1].owner.name, pets[2].owner.name, pets[3].owner.name })
    s:close()
  end)

  it("keeps the collection and each class's own reference in step", function()
    local env = abstract_setup()
    local s = env.s
    local ann, bob = s:get(env.Owner, 1), s:get(env.Owner, 2)
    assert.equal(2, #ann.pets)
    local kit = s:get(env.Cat, 3)
    ann.pets:append(kit)
    assert.equal(ann, kit.owner)
    assert.equal(0, #bob.pets)
    s:commit()
    assert.equal(1, s:execute(orm.text("SELECT owner_id FROM cr_cats WHERE id = 3")):scalar())
    assert.equal(7, s:execute(orm.text("SELECT lives FROM cr_cats WHERE id = 3")):scalar())
    s:close()
  end)
end)

describe("a concrete subclass of a plain model", function()
  -- SQLAlchemy maps `concrete=True` under a model without polymorphic_on or a concrete base
  -- to the subclass's own table, with no polymorphic loading
  it("is its own table, queried and written alone, with its parent's methods", function()
    local log = {}
    local engine = orm.create_engine("sqlite://", { echo = function(sql) log[#log + 1] = generic(sql) end })
    local Base = orm.declarative_base()
    local Dept = Base:model("Dept", {
      __tablename__ = "cr_plain_depts",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      staff = orm.relationship("Employee"),
    })
    local Employee = Base:model("Employee", {
      __tablename__ = "cr_plain_employees",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      dept_id = orm.Column(orm.Integer, orm.ForeignKey("cr_plain_depts.id")),
    })
    function Employee:hello() return "hi " .. self.name end
    local Manager = Employee:model("Manager", {
      __tablename__ = "cr_plain_managers",
      id = orm.Column(orm.Integer, { primary_key = true, autoincrement = false }),
      name = orm.Column(orm.String(30)),
      budget = orm.Column(orm.Integer),
      __mapper_args__ = { concrete = true },
    })
    Base.metadata:create_all(engine)
    local i = orm.inspect(Manager)
    assert.equal(Employee, i.inherits.class)
    assert.is_true(i.concrete)
    assert.is_nil(i.polymorphic_identity)
    local s = orm.Session(engine)
    s:add_all({ Employee({ id = 1, name = "e1" }), Manager({ id = 1, name = "m1", budget = 5 }) })
    s:commit()
    s:close()
    local n = #log
    local emps = s:execute(orm.select(Employee)):scalars():all()
    assert.same({ "Employee:1:e1" }, classes(emps))
    local sql = {}
    for k = n + 1, #log do if log[k]:find("^SELECT") then sql[#sql + 1] = log[k]:gsub("%s+", " ") end end
    assert.truthy(sql[1]:find("FROM cr_plain_employees", 1, true) and not sql[1]:find("UNION", 1, true), sql[1])
    assert.same({ "Manager:1:m1" }, classes(s:execute(orm.select(Manager)):scalars():all()))
    -- keys of its own class: key 1 of each
    assert.are_not.equal(s:get(Employee, 1), s:get(Manager, 1))
    assert.equal("hi m1", s:get(Manager, 1):hello())
    local m = s:get(Manager, 1)
    m.budget = 6
    s:delete(s:get(Employee, 1))
    s:commit()
    assert.equal(6, s:execute(orm.text("SELECT budget FROM cr_plain_managers WHERE id = 1")):scalar())
    assert.equal(0, s:execute(orm.text("SELECT count(*) FROM cr_plain_employees")):scalar())
    -- a relationship to the plain model does not read the subclass's table
    local err = pcall_err(function() Dept({ id = 1, staff = { m } }) end)
    assert.truthy(err:find("Dept.staff", 1, true) and err:find("Manager", 1, true), err)
    s:close()
  end)

  -- (under a single- or joined-table hierarchy: concrete_mixed_spec.lua)
  it("a single- or joined-table subclass under a concrete class is refused, naming the model", function()
    local Base = orm.declarative_base()
    local Unit = Base:model("Unit", {
      __mixins__ = { orm.ConcreteBase },
      __tablename__ = "cr_units",
      id = orm.Column(orm.Integer, { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "unit" },
    })
    local err = pcall_err(Unit.model, Unit, "Golem", {
      __tablename__ = "cr_golems",
      id = orm.Column(orm.Integer, orm.ForeignKey("cr_units.id"), { primary_key = true }),
      __mapper_args__ = { polymorphic_identity = "golem" },
    })
    assert.truthy(err:find("Golem", 1, true) and err:find("concrete", 1, true), err)
  end)
end)

describe("orm.aliased of a class read through a concrete union", function()
  it("selects from an alias of the union, each row as its class", function()
    local env = setup()
    seed(env)
    local s = env.s
    local E = orm.aliased(env.Employee, "emp")
    local n = #env.log
    local found = s:execute(orm.select(E):where(E.name:ne("m4")):order_by(E.id)):scalars():all()
    local sql = env.sql_since(n)
    assert.truthy(sql[1]:find("SELECT emp.id, emp.name, emp.company_id, emp.type", 1, true), sql[1])
    assert.truthy(sql[1]:find("UNION ALL", 1, true) and sql[1]:find(") AS emp", 1, true), sql[1])
    assert.same(ACME, classes(found))
    assert.equal(10, found[3].budget)
    s:close()
    -- joined along a relationship to the base, and by an explicit ON
    local E2 = orm.aliased(env.Employee)
    local names = s:execute(orm.select(env.Company.name, E2.name):join(E2, env.Company.employees)
      :where(E2.name:like("m%")):order_by(E2.id)):all()
    assert.same({ { "acme", "m3" }, { "other", "m4" } }, { { names[1][1], names[1][2] }, { names[2][1], names[2][2] } })
    local rows = s:execute(orm.select(env.Company, E2):join(E2, env.Company.id:eq(E2.company_id))
      :where(env.Company.id:eq(2))):all()
    assert.equal(1, #rows)
    assert.equal(env.Manager, orm.inspect(rows[1][2]).mapper.class)
    assert.equal(3, s:scalar(orm.select(orm.func.count()):select_from(E):where(E.company_id:eq(1))))
    s:close()
  end)
end)

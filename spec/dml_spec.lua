-- DML beyond the basics: RETURNING on insert / update / delete, the legacy query's
-- update() and delete(), and composite primary keys through get, the identity map and
-- bulk statements. Every test reads real rows back.
local orm = require("lualchemy")

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Emp = Base:model("Emp", {
    __tablename__ = "emps",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20), { nullable = false }),
    dept = orm.Column(orm.String(20)),
    salary = orm.Column(orm.Integer, { default = 10 }),
  })
  -- a composite primary key: one stock line per (warehouse, sku)
  env.Stock = Base:model("Stock", {
    __tablename__ = "stock",
    warehouse = orm.Column(orm.String(10), { primary_key = true }),
    sku = orm.Column(orm.Integer, { primary_key = true }),
    qty = orm.Column(orm.Integer),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  local E = env.Emp
  env.s:add_all({
    E{ id = 1, name = "ann", dept = "eng", salary = 100 },
    E{ id = 2, name = "bob", dept = "eng", salary = 200 },
    E{ id = 3, name = "cat", dept = "ops", salary = 300 },
  })
  env.s:commit()
  function env.salaries()
    return env.s:scalars(orm.select(E.salary):order_by(E.id)):all()
  end
  function env.count(pattern)
    local n = 0
    for _, sql in ipairs(env.log) do if sql:find(pattern) then n = n + 1 end end
    return n
  end
  return env
end

-- RETURNING (docs/DIALECTS.md): MySQL has none and MariaDB (`mariadb://`) has it on
-- INSERT and DELETE only; there a statement asking for it is an ArgumentError naming
-- RETURNING, raised before anything reaches the database.
local NO_RETURNING = {
  mysql = { INSERT = true, UPDATE = true, DELETE = true },
  mariadb = { UPDATE = true },
}

local function returning_refused(dml)
  local t = NO_RETURNING[SPEC_DIALECT]
  return t ~= nil and t[dml] == true
end

local function assert_returning_refused(dml, fn)
  local err = pcall_err(fn)
  assert.equal("ArgumentError", err.kind)
  assert.truthy(has(err.message, "RETURNING on " .. dml), err.message)
end

describe("returning", function()
  local env, E, s
  before_each(function() env = setup(); E = env.Emp; s = env.s end)
  after_each(function() s:close() end)

  it("an UPDATE returns the new values of the rows it matched", function()
    local stmt = orm.update(E):where(E.dept:eq("eng")):values{ salary = E.salary * 2 }:returning(E.id, E.salary)
    if returning_refused("UPDATE") then
      assert_returning_refused("UPDATE", function() return s:execute(stmt) end)
      assert.same({ 100, 200, 300 }, env.salaries())
      return
    end
    local r = s:execute(stmt)
    local got = {}
    for row in r do got[row.id] = row.salary end
    assert.same({ [1] = 200, [2] = 400 }, got)
    assert.same({ 200, 400, 300 }, env.salaries())
  end)

  it("an UPDATE returning the entity gives objects carrying the new values", function()
    local ann = s:get(E, 1)
    assert.equal(100, ann.salary)
    local stmt = orm.update(E):where(E.id:le(2)):values{ salary = 7 }:returning(E)
    if returning_refused("UPDATE") then
      assert_returning_refused("UPDATE", function() return s:execute(stmt) end)
      assert.equal(100, ann.salary)
      assert.same({ 100, 200, 300 }, env.salaries())
      return
    end
    local objs = s:execute(stmt):scalars():all()
    assert.equal(2, #objs)
    local n = #env.log
    for _, o in ipairs(objs) do assert.equal(7, o.salary) end
    assert.equal(7, ann.salary)
    assert.equal(n, #env.log) -- the RETURNING row filled them in, no reload
    assert.truthy(objs[1] == ann or objs[2] == ann)
  end)

  it("a DELETE returns the deleted rows and the session forgets them", function()
    local ann = s:get(E, 1)
    local stmt = orm.delete(E):where(E.dept:eq("eng")):returning(E.name)
    if returning_refused("DELETE") then
      assert_returning_refused("DELETE", function() return s:execute(stmt) end)
      assert.falsy(orm.inspect(ann).deleted)
      assert.same({ 100, 200, 300 }, env.salaries())
      return
    end
    local r = s:execute(stmt)
    local names = r:scalars():all()
    table.sort(names)
    assert.same({ "ann", "bob" }, names)
    assert.same({ 300 }, env.salaries())
    assert.truthy(orm.inspect(ann).deleted)
    s:rollback()
    assert.equal(3, #env.salaries())
    assert.equal("ann", s:get(E, 1).name)
  end)

  it("an INSERT of one row or a list returns generated keys and defaults, in order", function()
    if returning_refused("INSERT") then
      assert_returning_refused("INSERT", function()
        return s:execute(orm.insert(E):returning(E.id, E.salary), { { name = "dan" }, { name = "eve", salary = 5 } })
      end)
      assert_returning_refused("INSERT", function()
        return s:execute(orm.insert(E):values{ name = "fay" }:returning(E.id))
      end)
      assert.same({ 100, 200, 300 }, env.salaries())
      return
    end
    local r = s:execute(orm.insert(E):returning(E.id, E.salary), { { name = "dan" }, { name = "eve", salary = 5 } })
    local rows = r:all()
    assert.equal(2, #rows)
    assert.same({ 4, 10 }, { rows[1].id, rows[1].salary })
    assert.same({ 5, 5 }, { rows[2].id, rows[2].salary })
    local one = s:execute(orm.insert(E):values{ name = "fay" }:returning(E.id)):scalar_one()
    assert.equal(6, one)
  end)

  it("an INSERT returning the entity yields persistent objects from the identity map", function()
    if returning_refused("INSERT") then
      assert_returning_refused("INSERT", function()
        return s:execute(orm.insert(E):returning(E), { { name = "gus", dept = "ops" } })
      end)
      assert.same({ 100, 200, 300 }, env.salaries())
      return
    end
    local objs = s:execute(orm.insert(E):returning(E), { { name = "gus", dept = "ops" } }):scalars():all()
    assert.equal(1, #objs)
    assert.truthy(orm.inspect(objs[1]).persistent)
    assert.equal(objs[1], s:get(E, objs[1].id))
  end)

  it("renders RETURNING and rejects an empty list", function()
    assert.truthy(has(tostring(orm.update(E):values{ salary = 1 }:returning(E.id)), "RETURNING emps.id"))
    assert.truthy(has(tostring(orm.delete(E):returning(E.name)), "RETURNING emps.name"))
    assert.truthy(has(tostring(orm.insert(E):returning(E.id)), "RETURNING emps.id"))
    assert.equal("ArgumentError", pcall_err(function() return orm.update(E):returning() end).kind)
  end)

  it("the rowcount of a RETURNING statement is the rows it returned", function()
    local stmt = orm.update(E):where(E.salary:gt(150)):values{ dept = "x" }:returning(E.id)
    if returning_refused("UPDATE") then
      assert_returning_refused("UPDATE", function() return s:execute(stmt) end)
      return
    end
    local r = s:execute(stmt)
    assert.equal(2, r.rowcount)
  end)
end)

describe("legacy query update and delete", function()
  local env, E, s
  before_each(function() env = setup(); E = env.Emp; s = env.s end)
  after_each(function() s:close() end)

  it("update returns the matched count and takes SQL expressions", function()
    local n = s:query(E):filter(E.dept:eq("eng")):update({ salary = E.salary + 5 })
    assert.equal(2, n)
    assert.same({ 105, 205, 300 }, env.salaries())
    assert.equal(0, s:query(E):filter_by{ name = "nobody" }:update({ salary = 1 }))
  end)

  it("update keys may be columns, and objects in the session follow", function()
    local ann = s:get(E, 1)
    assert.equal(100, ann.salary)
    assert.equal(1, s:query(E):filter(E.id:eq(1)):update({ [E.salary] = 111 }))
    assert.equal(111, ann.salary)
  end)

  it("synchronize_session = false leaves loaded objects stale", function()
    local ann = s:get(E, 1)
    assert.equal(100, ann.salary)
    s:query(E):filter(E.id:eq(1)):update({ salary = 1 }, { synchronize_session = false })
    assert.equal(100, ann.salary)
    s:expire(ann)
    assert.equal(1, ann.salary)
  end)

  it("delete returns the matched count and marks loaded objects deleted", function()
    local bob = s:get(E, 2)
    assert.equal(2, s:query(E):filter(E.salary:ge(200)):delete())
    assert.truthy(orm.inspect(bob).deleted)
    assert.same({ 100 }, env.salaries())
    assert.equal(1, s:query(E):delete({ synchronize_session = "fetch" }))
    assert.equal(0, s:query(E):count())
  end)

  it("refuses queries that cannot become one UPDATE or DELETE", function()
    local err = pcall_err(function() return s:query(E):limit(1):update({ salary = 1 }) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "limit()") and has(err.message, "Emp"), err.message)
    err = pcall_err(function() return s:query(E):order_by(E.id):delete() end)
    assert.truthy(has(err.message, "order_by()"), err.message)
    err = pcall_err(function() return s:query(E.name):update({ salary = 1 }) end)
    assert.truthy(has(err.message, "mapped class"), err.message)
    err = pcall_err(function() return s:query(E):update({ nmae = 1 }) end)
    assert.truthy(has(err.message, "nmae"), err.message)
    err = pcall_err(function() return s:query(E):delete({ synchronize_session = "maybe" }) end)
    assert.truthy(has(err.message, "synchronize_session"), err.message)
    assert.same({ 100, 200, 300 }, env.salaries())
  end)

  it("scalar() raises MultipleResultsFound for more than one row", function()
    assert.equal("MultipleResultsFound", pcall_err(function() return s:query(E.name):scalar() end).kind)
    assert.equal("ann", s:query(E.name):filter(E.id:eq(1)):scalar())
    assert.is_nil(s:query(E.name):filter(E.id:eq(99)):scalar())
    assert.equal(s:get(E, 2), s:query(E):filter(E.id:eq(2)):scalar())
  end)
end)

describe("composite primary keys", function()
  local env, S, s
  before_each(function()
    env = setup(); S = env.Stock; s = env.s
    s:add_all({
      S{ warehouse = "north", sku = 1, qty = 10 },
      S{ warehouse = "north", sku = 2, qty = 20 },
      S{ warehouse = "south", sku = 1, qty = 30 },
    })
    s:commit()
  end)
  after_each(function() s:close() end)

  it("get takes a list in key order or a table by name, and uses the identity map", function()
    local a = s:get(S, { "north", 2 })
    assert.equal(20, a.qty)
    local n = #env.log
    assert.equal(a, s:get(S, { warehouse = "north", sku = 2 }))
    assert.equal(n, #env.log)
    assert.is_nil(s:get(S, { "south", 2 }))
    assert.equal(a, s:scalars(orm.select(S):where(S.qty:eq(20))):one())
    assert.same({ "north", 2 }, orm.inspect(a).identity)
  end)

  it("get refuses a key of the wrong shape, naming the model", function()
    local err = pcall_err(function() return s:get(S, "north") end)
    assert.truthy(has(err.message, "Stock") and has(err.message, "2"), err.message)
    err = pcall_err(function() return s:get(S, { warehouse = "north", qty = 1 }) end)
    assert.truthy(has(err.message, "qty"), err.message)
  end)

  it("objects update and delete by their whole key", function()
    local a = s:get(S, { "north", 1 })
    a.qty = 11
    s:delete(s:get(S, { "south", 1 }))
    s:commit()
    assert.same({ 11, 20 }, s:scalars(orm.select(S.qty):order_by(S.warehouse, S.sku)):all())
  end)

  it("bulk update and delete keep objects with composite keys in step", function()
    local a = s:get(S, { "north", 1 })
    local b = s:get(S, { "north", 2 })
    assert.equal(10, a.qty)
    local r = s:execute(orm.update(S):where(S.warehouse:eq("north")):values{ qty = S.qty + 1 })
    assert.equal(2, r.rowcount)
    assert.equal(11, a.qty)
    assert.equal(21, b.qty)
    s:execute(orm.delete(S):where(S.sku:eq(2)))
    assert.truthy(orm.inspect(b).deleted)
    assert.is_nil(s:get(S, { "north", 2 }))
    assert.equal(2, s:query(S):count())
  end)
end)

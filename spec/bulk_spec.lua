-- ORM-enabled bulk UPDATE and DELETE: one statement, the matched row count, and the
-- session's objects kept in step (synchronize_session).
local orm = require("lualchemy")

describe("bulk update and delete", function()
  local engine, Emp, s, statements

  before_each(function()
    statements = {}
    engine = orm.create_engine("sqlite://", {
      echo = function(sql) statements[#statements + 1] = sql end,
    })
    local Base = orm.declarative_base()
    Emp = Base:model("Emp", {
      __tablename__ = "emps",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(20)),
      dept = orm.Column(orm.String(20)),
      salary = orm.Column(orm.Integer),
    })
    Base.metadata:create_all(engine)
    s = orm.Session(engine)
    s:add_all({
      Emp{ id = 1, name = "ann", dept = "eng", salary = 100 },
      Emp{ id = 2, name = "bob", dept = "eng", salary = 200 },
      Emp{ id = 3, name = "cat", dept = "ops", salary = 300 },
    })
    s:commit()
  end)
  after_each(function() s:close() end)

  local function salaries()
    local out = {}
    for row in s:execute(orm.select(Emp.id, Emp.salary):order_by(Emp.id)) do out[#out + 1] = row.salary end
    return out
  end

  it("updates matching rows with values and SQL expressions, returning the rowcount", function()
    local r = s:execute(orm.update(Emp):where(Emp.dept:eq("eng")):values{ salary = Emp.salary + 5 })
    assert.equal(2, r.rowcount)
    assert.same({ 105, 205, 300 }, salaries())
    r = s:execute(orm.update(Emp):filter_by{ name = "cat" }:values{ dept = orm.null() })
    assert.equal(1, r.rowcount)
    assert.is_nil(s:get(Emp, 3).dept)
  end)

  it("keeps loaded objects in step by default", function()
    local ann = s:get(Emp, 1)
    assert.equal(100, ann.salary)
    s:execute(orm.update(Emp):where(Emp.id:eq(1)):values{ salary = 150 })
    assert.equal(150, ann.salary)
    s:execute(orm.update(Emp):where(Emp.id:eq(1)):values{ salary = 160 }, nil, { synchronize_session = "evaluate" })
    assert.equal(160, ann.salary)
  end)

  it("leaves objects alone with synchronize_session = false", function()
    local ann = s:get(Emp, 1)
    assert.equal(100, ann.salary)
    s:execute(orm.update(Emp):where(Emp.id:eq(1)):values{ salary = 150 }, nil, { synchronize_session = false })
    assert.equal(100, ann.salary)
    s:refresh(ann)
    assert.equal(150, ann.salary)
  end)

  it("takes synchronize_session from execution_options too", function()
    local ann = s:get(Emp, 1)
    local _ = ann.salary
    local stmt = orm.update(Emp):where(Emp.id:eq(1)):values{ salary = 1 }:execution_options{ synchronize_session = "fetch" }
    s:execute(stmt)
    assert.equal(1, ann.salary)
  end)

  it("deletes matching rows; objects in the session become deleted and leave the identity map", function()
    local bob = s:get(Emp, 2)
    local r = s:execute(orm.delete(Emp):where(Emp.salary:ge(200)))
    assert.equal(2, r.rowcount)
    assert.is_true(orm.inspect(bob).deleted)
    assert.is_nil(s:get(Emp, 2))
    s:commit()
    assert.is_true(orm.inspect(bob).detached)
    assert.same({ 100 }, salaries())
  end)

  it("restores bulk-deleted objects on rollback", function()
    local bob = s:get(Emp, 2)
    s:execute(orm.delete(Emp):where(Emp.id:eq(2)))
    s:rollback()
    assert.is_true(orm.inspect(bob).persistent)
    assert.equal("bob", s:get(Emp, 2).name)
    assert.truthy(rawequal(bob, s:get(Emp, 2)))
  end)

  it("flushes pending changes first (autoflush)", function()
    s:add(Emp{ id = 4, name = "dan", dept = "eng", salary = 10 })
    local r = s:execute(orm.update(Emp):where(Emp.dept:eq("eng")):values{ salary = 0 })
    assert.equal(3, r.rowcount)
  end)

  it("renders with placeholders and binds every value", function()
    local stmt = orm.update(Emp):where(Emp.name:eq("x'; DROP TABLE emps; --")):values{ salary = 1 }
    assert.equal("UPDATE emps SET salary=? \nWHERE emps.name = ?", tostring(stmt))
    assert.equal("DELETE FROM emps \nWHERE emps.id = ?", tostring(orm.delete(Emp):where(Emp.id:eq(1))))
    s:execute(stmt)
    assert.same({ 100, 200, 300 }, salaries())
  end)

  it("rejects bad input with errors naming the model", function()
    local ok, err = pcall(function() return orm.update(Emp):values{ nmae = "x" } end)
    assert.is_false(ok)
    assert.truthy(err.message:find("Emp has no attribute 'nmae'", 1, true), err.message)
    ok, err = pcall(function() s:execute(orm.update(Emp):where(Emp.id:eq(1))) end)
    assert.is_false(ok)
    assert.truthy(err.message:find("orm.update(Emp)", 1, true), err.message)
    ok, err = pcall(function() s:execute(orm.update(Emp):values{ salary = 1 }, nil, { synchronize_session = "magic" }) end)
    assert.is_false(ok)
    assert.truthy(err.message:find("synchronize_session", 1, true), err.message)
    ok, err = pcall(function() return orm.delete(Emp):values{ salary = 1 } end)
    assert.is_false(ok)
    ok, err = pcall(function() return orm.update({}) end)
    assert.is_false(ok)
  end)
end)

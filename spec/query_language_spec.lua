-- The SQL expression language against real rows: column operators, arithmetic, case /
-- cast / literal / func, grouping, joins (with inferred ON clauses), several entities,
-- aliases, subqueries, scalar subqueries, EXISTS, CTEs and UNION; and the errors of bad
-- input. Every test reads rows from an in-memory database.
local orm = require("lualchemy")

local function has(s, needle) return s:find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

-- depts:  1 eng, 2 ops, 3 empty
-- emps:   1 ann 100 eng  boss -
--         2 bob 200 eng  boss ann
--         3 cy   50 ops  boss ann
--         4 di  NULL ops boss cy
-- projs (no foreign key), transfers (two foreign keys to depts)
local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql, params) env.log[#env.log + 1] = { sql = sql, params = params } end,
  })
  local Base = orm.declarative_base()
  env.Dept = Base:model("Dept", {
    __tablename__ = "depts",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
  })
  env.Emp = Base:model("Emp", {
    __tablename__ = "emps",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
    salary = orm.Column(orm.Integer),
    dept_id = orm.Column(orm.Integer, orm.ForeignKey("depts.id")),
    boss_id = orm.Column(orm.Integer, orm.ForeignKey("emps.id")),
  })
  env.Proj = Base:model("Proj", {
    __tablename__ = "projs",
    id = orm.Column(orm.Integer, { primary_key = true }),
    title = orm.Column(orm.String(50)),
  })
  env.Transfer = Base:model("Transfer", {
    __tablename__ = "transfers",
    id = orm.Column(orm.Integer, { primary_key = true }),
    from_id = orm.Column(orm.Integer, orm.ForeignKey("depts.id")),
    to_id = orm.Column(orm.Integer, orm.ForeignKey("depts.id")),
  })
  Base.metadata:create_all(env.engine)
  local s = orm.Session(env.engine)
  env.s = s
  local D, E = env.Dept, env.Emp
  s:add_all({ D{ id = 1, name = "eng" }, D{ id = 2, name = "ops" }, D{ id = 3, name = "empty" } })
  s:flush()
  s:add_all({
    E{ id = 1, name = "ann", salary = 100, dept_id = 1 },
    E{ id = 2, name = "bob", salary = 200, dept_id = 1, boss_id = 1 },
    E{ id = 3, name = "cy", salary = 50, dept_id = 2, boss_id = 1 },
    E{ id = 4, name = "di", dept_id = 2, boss_id = 3 },
  })
  s:commit()
  -- every row of a statement as a list of its values
  function env.rows(stmt)
    local out = {}
    for row in s:execute(stmt) do
      local r = {}
      for i = 1, #row do r[i] = row[i] end
      out[#out + 1] = r
    end
    return out
  end
  -- the first column of every row
  function env.col(stmt) return s:scalars(stmt):all() end
  function env.names(...)
    return env.col(orm.select(E.name):where(...):order_by(E.id))
  end
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  return env
end

describe("column operators", function()
  local env, E
  before_each(function() env = setup(); E = env.Emp end)

  it("ilike ignores case", function() assert.same({ "ann" }, env.names(E.name:ilike("AN%"))) end)
  it("not_like", function() assert.same({ "bob", "cy", "di" }, env.names(E.name:not_like("a%"))) end)
  it("startswith / endswith / contains", function()
    assert.same({ "bob" }, env.names(E.name:startswith("b")))
    assert.same({ "ann" }, env.names(E.name:endswith("nn")))
    assert.same({ "bob" }, env.names(E.name:contains("o")))
  end)
  it("not_in", function() assert.same({ "ann", "bob" }, env.names(E.dept_id:not_in({ 2, 3 }))) end)
  it("eq(nil) is IS NULL and ne(nil) is IS NOT NULL", function()
    assert.same({ "di" }, env.names(E.salary:eq(nil)))
    assert.same({ "ann", "bob", "cy" }, env.names(E.salary:ne(nil)))
    assert.truthy(has(tostring(E.salary:eq(nil)), "IS NULL"))
    assert.truthy(has(tostring(E.salary:ne(nil)), "IS NOT NULL"))
  end)
  it("is_not and isnot", function()
    assert.same({ "bob", "cy", "di" }, env.names(E.boss_id:is_not(nil)))
    assert.same({ "bob", "cy", "di" }, env.names(E.boss_id:isnot(nil)))
  end)
  it("asc and desc order", function()
    assert.same({ "bob", "ann", "cy" },
      env.col(orm.select(E.name):where(E.salary:is_not(nil)):order_by(E.salary:desc())))
    assert.same({ "cy", "ann", "bob" },
      env.col(orm.select(E.name):where(E.salary:is_not(nil)):order_by(E.salary:asc())))
  end)
  it("label names the row's field", function()
    local row = env.s:execute(orm.select(E.name:label("who")):where(E.id:eq(2))):one()
    assert.equal("bob", row.who)
  end)
  it("cast", function()
    assert.same({ "100" }, env.col(orm.select(E.salary:cast(orm.String)):where(E.id:eq(1))))
    assert.same({ 100 }, env.col(orm.select(orm.cast(orm.literal("100"), orm.Integer))))
    assert.truthy(has(tostring(E.salary:cast(orm.Integer)), "CAST(emps.salary AS INTEGER)"))
  end)
  it("distinct on a column", function()
    assert.same({ 2 }, env.col(orm.select(orm.func.count(E.dept_id:distinct()))))
    assert.same({ 2 }, env.col(orm.select(orm.func.count(orm.distinct(E.dept_id)))))
  end)
end)

describe("arithmetic and concatenation", function()
  local env, E
  before_each(function() env = setup(); E = env.Emp end)

  it("+ - * / % and unary minus", function()
    assert.same({ { 101, 99, 300, 50, 1, -100 } }, env.rows(
      orm.select(E.salary + 1, E.salary - 1, E.salary * 3, E.salary / 2, E.salary % 3, -E.salary)
        :where(E.id:eq(1))))
  end)
  it("numbers on the left", function()
    assert.same({ { 101, -99, 200 } }, env.rows(orm.select(1 + E.salary, 1 - E.salary, 2 * E.salary):where(E.id:eq(1))))
  end)
  it("keeps grouping", function()
    assert.same({ { 50 } }, env.rows(orm.select(E.salary - (E.salary - 50)):where(E.id:eq(1))))
    assert.same({ { 220 } }, env.rows(orm.select((E.salary + 10) * 2):where(E.id:eq(1))))
  end)
  it("in conditions", function() assert.same({ "bob" }, env.names((E.salary * 2):gt(300))) end)
  it(".. renders || and binds the strings", function()
    local e = E.name .. " (" .. E.id:cast(orm.String) .. ")"
    assert.truthy(has(tostring(e), "||"))
    assert.same({ "ann (1)" }, env.col(orm.select(e):where(E.id:eq(1))))
    assert.same({ "x-ann" }, env.col(orm.select("x-" .. E.name):where(E.id:eq(1))))
  end)
end)

describe("case, literal, literal_column, func", function()
  local env, E
  before_each(function() env = setup(); E = env.Emp end)

  it("case with else_", function()
    local band = orm.case({ E.salary:ge(150), "high" }, { E.salary:ge(100), "mid" }, { else_ = "low" })
    assert.same({ "mid", "high", "low", "low" }, env.col(orm.select(band:label("band")):order_by(E.id)))
  end)
  it("case without else_ gives NULL", function()
    local c = orm.case({ E.salary:gt(150), 1 })
    assert.same({ { 1 }, { 2, 1 } }, env.rows(orm.select(E.id, c):where(E.id:le(2)):order_by(E.id)))
  end)
  it("case binds its values", function()
    local sql = tostring(orm.select(orm.case({ E.name:eq("x'; DROP TABLE emps; --"), "y" }, { else_ = "z" })))
    assert.falsy(has(sql, "DROP"))
    assert.falsy(has(sql, "'z'"))
  end)
  it("case rejects a bad argument", function()
    local err = pcall_err(orm.case, "nope")
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "orm.case"))
  end)
  it("literal is a bound value", function()
    assert.same({ { "hi", 3 } }, env.rows(orm.select(orm.literal("hi"):label("a"), orm.literal(3):label("b"))))
    assert.truthy(has(tostring(orm.select(orm.literal("hi"))), "?"))
  end)
  it("literal_column is SQL text", function()
    assert.same({ 4 }, env.col(orm.select(orm.literal_column("count(*)")):select_from(E)))
  end)
  it("func.<any> renders name(args)", function()
    assert.same({ "ANN" }, env.col(orm.select(orm.func.upper(E.name)):where(E.id:eq(1))))
    assert.same({ 0 }, env.col(orm.select(orm.func.coalesce(E.salary, 0)):where(E.id:eq(4))))
    assert.same({ 3 }, env.col(orm.select(orm.func.length(E.name)):where(E.id:eq(1))))
    -- nullif: a function lualchemy knows nothing of (SQLite's total() exists nowhere else)
    assert.same({ 250 }, env.col(orm.select(orm.func.sum(orm.func.nullif(E.salary, 100)))))
    assert.truthy(has(tostring(orm.func.abs(E.salary)), "abs(emps.salary)"))
  end)
end)

describe("statement methods", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("where with several arguments ANDs them", function()
    assert.same({ "bob" }, env.names(E.dept_id:eq(1), E.salary:gt(100)))
  end)
  it("group_by and having", function()
    local stmt = orm.select(E.dept_id, orm.func.count(E.id):label("n"), orm.func.sum(E.salary):label("total"))
      :group_by(E.dept_id):order_by(E.dept_id)
    assert.same({ { 1, 2, 300 }, { 2, 2, 50 } }, env.rows(stmt))
    assert.same({ { 1, 2, 300 } }, env.rows(stmt:having(orm.func.sum(E.salary):gt(100))))
  end)
  it("distinct", function()
    assert.same({ 1, 2 }, env.col(orm.select(E.dept_id):distinct():order_by(E.dept_id)))
    assert.truthy(has(tostring(orm.select(E.dept_id):distinct()), "SELECT DISTINCT"))
  end)
  it("select_from", function()
    assert.equal(4, env.s:scalar(orm.select(orm.func.count()):select_from(E)))
  end)
end)

describe("joins", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("infers the ON clause from the single foreign key", function()
    local stmt = orm.select(E.name, D.name):join(D):order_by(E.id)
    assert.truthy(has(tostring(stmt), "JOIN depts ON emps.dept_id = depts.id"))
    assert.same({ { "ann", "eng" }, { "bob", "eng" }, { "cy", "ops" }, { "di", "ops" } }, env.rows(stmt))
  end)
  it("infers it the other way round", function()
    assert.same({ "ann", "bob" }, env.col(orm.select(E.name):select_from(D):join(E):where(D.name:eq("eng")):order_by(E.id)))
  end)
  it("continues the select_from / join chain, joining from its most recent table", function()
    local orm_ = orm
    local Base = orm_.declarative_base()
    local Project = Base:model("Project", {
      __tablename__ = "chain_projects",
      id = orm_.Column(orm_.Integer, { primary_key = true }),
      name = orm_.Column(orm_.String),
    })
    local Task = Base:model("Task", {
      __tablename__ = "chain_tasks",
      id = orm_.Column(orm_.Integer, { primary_key = true }),
      title = orm_.Column(orm_.String),
      project_id = orm_.Column(orm_.Integer, orm_.ForeignKey("chain_projects.id")),
    })
    local Comment = Base:model("Comment", {
      __tablename__ = "chain_comments",
      id = orm_.Column(orm_.Integer, { primary_key = true }),
      task_id = orm_.Column(orm_.Integer, orm_.ForeignKey("chain_tasks.id")),
      project_id = orm_.Column(orm_.Integer, orm_.ForeignKey("chain_projects.id")),
    })
    Base.metadata:create_all(env.engine)
    env.s:add_all({ Project{ id = 1, name = "p1" }, Project{ id = 2, name = "p2" } })
    env.s:add_all({ Task{ id = 1, title = "t1", project_id = 1 }, Task{ id = 2, title = "t2", project_id = 2 } })
    -- the comment's own project differs from its task's, so the chosen ON clause shows
    env.s:add_all({ Comment{ id = 1, task_id = 1, project_id = 2 } })
    env.s:flush()
    -- without a chain, both comments and tasks could join projects: ambiguous
    local err = pcall_err(function()
      return orm_.select(Comment.id, Task.title):join(Project)
    end)
    assert.truthy(has(err.message, "multiple FROMS"), err.message)
    -- with one, Project joins to the most recent table, the task
    local stmt = orm_.select(Comment.id, Task.title, Project.name)
      :select_from(Comment):join(Task):join(Project)
    assert.truthy(has(tostring(stmt), "JOIN chain_projects ON chain_tasks.project_id = chain_projects.id"), tostring(stmt))
    assert.same({ { 1, "t1", "p1" } }, env.rows(stmt))
    -- the most recent table wins even when an earlier one of the chain links too
    local stmt2 = orm_.select(Task.title, Comment.id):select_from(Task):join(Project):join(Comment)
    assert.truthy(has(tostring(stmt2), "JOIN chain_comments ON chain_projects.id = chain_comments.project_id"), tostring(stmt2))
    assert.same({ { "t2", 1 } }, env.rows(stmt2))
  end)
  it("names the other tables, not the target, when no foreign key links them", function()
    local err = pcall_err(function() return orm.select(E):where(env.Proj.id:eq(1)):join(env.Proj) end)
    local _, n = err.message:gsub("'projs'", "")
    assert.equal(1, n, err.message)
  end)
  it("takes an explicit ON clause", function()
    assert.same({ { "eng", "bob" } },
      env.rows(orm.select(D.name, E.name):join(E, orm.and_(E.dept_id:eq(D.id), E.salary:gt(150)))))
  end)
  it("outerjoin keeps unmatched rows", function()
    local stmt = orm.select(D.name, orm.func.count(E.id)):outerjoin(E):group_by(D.id):order_by(D.id)
    assert.truthy(has(tostring(stmt), "LEFT OUTER JOIN emps ON depts.id = emps.dept_id"))
    assert.same({ { "eng", 2 }, { "ops", 2 }, { "empty", 0 } }, env.rows(stmt))
  end)
  it("raises naming both tables when there is no foreign key", function()
    local err = pcall_err(function() return orm.select(E):join(env.Proj) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "'emps'") and has(err.message, "'projs'"), err.message)
  end)
  it("raises naming both tables when there are several foreign keys", function()
    local err = pcall_err(function() return orm.select(env.Transfer):join(D) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "'transfers'") and has(err.message, "'depts'"), err.message)
    assert.truthy(has(err.message, "more than one foreign key"), err.message)
  end)
  it("works in the legacy query", function()
    local rows = env.s:query(E.name, D.name):join(D):filter(D.name:eq("ops")):order_by(E.id):all()
    assert.equal(2, #rows)
    assert.equal("cy", rows[1][1])
  end)
end)

describe("several entities", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("gives each entity by class name", function()
    local out = {}
    for row in env.s:execute(orm.select(E, D):join(D):order_by(E.id)) do
      out[#out + 1] = row.Emp.name .. "@" .. row.Dept.name
    end
    assert.same({ "ann@eng", "bob@eng", "cy@ops", "di@ops" }, out)
  end)
  it("mixes entities, columns and labelled expressions", function()
    local row = env.s:execute(orm.select(E, D.name, (E.salary * 2):label("double")):join(D):where(E.id:eq(2))):one()
    assert.equal("bob", row.Emp.name)
    assert.equal("eng", row.name)
    assert.equal(400, row.double)
  end)
  it("hands out the identity-mapped objects", function()
    local d = env.s:get(D, 1)
    local row = env.s:execute(orm.select(E, D):join(D):where(E.id:eq(1))):one()
    assert.equal(d, row.Dept)
  end)
end)

describe("aliased", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("self-joins through an alias with an inferred ON clause", function()
    local boss = orm.aliased(E, "boss")
    local stmt = orm.select(E.name, boss.name):join(boss):order_by(E.id)
    assert.truthy(has(tostring(stmt), "JOIN emps AS boss ON emps.boss_id = boss.id"))
    assert.same({ { "bob", "ann" }, { "cy", "ann" }, { "di", "cy" } }, env.rows(stmt))
  end)
  it("selects an aliased entity, named by its alias in the row", function()
    local boss = orm.aliased(E, "boss")
    local out = {}
    for row in env.s:execute(orm.select(E, boss):join(boss, E.boss_id:eq(boss.id)):order_by(E.id)) do
      out[#out + 1] = row.Emp.name .. "<" .. row.boss.name
    end
    assert.same({ "bob<ann", "cy<ann", "di<cy" }, out)
  end)
  it("gets an anonymous name", function()
    local a = orm.aliased(D)
    assert.same({ "eng" }, env.col(orm.select(a.name):where(a.id:eq(1))))
    assert.truthy(has(tostring(orm.select(a.name)), "FROM depts AS anon_"))
  end)
  it("quotes an alias name that needs it", function()
    local a = orm.aliased(D, "Order")
    assert.truthy(has(tostring(orm.select(a.name)), 'FROM depts AS "Order"'))
    assert.same({ "ops" }, env.col(orm.select(a.name):where(a.id:eq(2))))
  end)
  it("rejects an unknown attribute, naming the model and the attribute", function()
    local err = pcall_err(function() return orm.aliased(E, "boss").nmae end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "Emp") and has(err.message, "nmae"), err.message)
  end)
  it("reads the entity from a subquery of it", function()
    local sub = orm.select(E):where(E.salary:gt(60)):subquery("rich")
    local rich = orm.aliased(E, sub)
    local out = {}
    for row in env.s:execute(orm.select(rich):order_by(rich.id)) do out[#out + 1] = row.rich.name end
    assert.same({ "ann", "bob" }, out)
    -- the same objects as the identity map's
    assert.equal(env.s:get(E, 1), env.s:scalars(orm.select(rich):where(rich.id:eq(1))):one())
    local err = pcall_err(orm.aliased, E, orm.select(E.name):subquery("s"))
    assert.truthy(has(err.message, "Emp") and has(err.message, "'s'"), err.message)
  end)
  it("rejects what is not a mapped class", function()
    assert.equal("ArgumentError", pcall_err(orm.aliased, 42).kind)
  end)
end)

describe("subqueries", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("subquery columns as .c, joined as a FROM target", function()
    local sub = orm.select(E.dept_id, orm.func.max(E.salary):label("top")):group_by(E.dept_id):subquery("tops")
    local stmt = orm.select(D.name, sub.c.top):join(sub, sub.c.dept_id:eq(D.id)):order_by(D.id)
    assert.truthy(has(tostring(stmt), ") AS tops ON tops.dept_id = depts.id"))
    assert.same({ { "eng", 200 }, { "ops", 50 } }, env.rows(stmt))
  end)
  it("joins a subquery with the ON clause inferred from its columns' foreign keys", function()
    local sub = orm.select(E.dept_id, orm.func.count(E.id):label("n")):group_by(E.dept_id):subquery("per_dept")
    local stmt = orm.select(D.name, sub.c.n):join(sub):order_by(D.id)
    assert.truthy(has(tostring(stmt), "ON depts.id = per_dept.dept_id"), tostring(stmt))
    assert.same({ { "eng", 2 }, { "ops", 2 } }, env.rows(stmt))
    -- a column that is not a plain column carries no foreign key
    local bare = orm.select((E.dept_id + 0):label("d")):subquery("bare")
    local err = pcall_err(function() return orm.select(D.name):join(bare) end)
    assert.truthy(has(err.message, "'depts'") and has(err.message, "'bare'"), err.message)
  end)
  it("selects from a subquery alone, keeping its parameters in order", function()
    local sub = orm.select(E.name, E.salary):where(E.salary:gt(60)):subquery()
    assert.same({ "bob" }, env.col(orm.select(sub.c.name):where(sub.c.salary:gt(150))))
    assert.same({ { "ann", 100 }, { "bob", 200 } }, env.rows(orm.select(sub):order_by(sub.c.name)))
  end)
  it("names unlabelled functions after the function", function()
    local sub = orm.select(E.dept_id, orm.func.count()):group_by(E.dept_id):subquery()
    assert.same({ 2, 2 }, env.col(orm.select(sub.c.count)))
  end)
  it("rejects an unknown column naming the subquery", function()
    local sub = orm.select(E.name):subquery("s1")
    local err = pcall_err(function() return sub.c.nmae end)
    assert.truthy(has(err.message, "s1") and has(err.message, "nmae"), err.message)
  end)
  it("scalar_subquery, correlated", function()
    local n = orm.select(orm.func.count(E.id)):where(E.dept_id:eq(D.id)):scalar_subquery()
    assert.same({ { "eng", 2 }, { "ops", 2 }, { "empty", 0 } },
      env.rows(orm.select(D.name, n:label("n")):order_by(D.id)))
  end)
  it("scalar_subquery of the same table stays uncorrelated", function()
    local avg = orm.select(orm.func.avg(E.salary)):scalar_subquery()
    assert.same({ "bob" }, env.names(E.salary:gt(avg)))
  end)
  it("scalar_subquery needs exactly one column", function()
    assert.equal("ArgumentError", pcall_err(function() return orm.select(E.id, E.name):scalar_subquery() end).kind)
  end)
  it("in_ and not_in of a select", function()
    local ops = orm.select(D.id):where(D.name:eq("ops"))
    assert.same({ "cy", "di" }, env.names(E.dept_id:in_(ops)))
    assert.same({ "ann", "bob" }, env.names(E.dept_id:not_in(ops)))
  end)
  it("exists, correlated", function()
    local rich = orm.exists(orm.select(E.id):where(E.dept_id:eq(D.id), E.salary:gt(150)))
    assert.same({ "eng" }, env.col(orm.select(D.name):where(rich)))
    assert.same({ "ops", "empty" }, env.col(orm.select(D.name):where(orm.not_(rich)):order_by(D.id)))
    assert.same({ "empty" }, env.col(orm.select(D.name):where(orm.not_(orm.select(E.id):where(E.dept_id:eq(D.id)):exists()))))
  end)
end)

describe("subqueries in DML", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("a correlated NOT EXISTS in a bulk DELETE", function()
    env.s:execute(orm.delete(D):where(orm.not_(orm.exists(orm.select(E.id):where(E.dept_id:eq(D.id))))))
    env.s:commit()
    assert.same({ "eng", "ops" }, env.col(orm.select(D.name):order_by(D.id)))
  end)
end)

describe("cte", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("renders WITH and joins", function()
    local totals = orm.select(E.dept_id, orm.func.sum(E.salary):label("total")):group_by(E.dept_id):cte("totals")
    local stmt = orm.select(D.name, totals.c.total):join(totals, totals.c.dept_id:eq(D.id)):order_by(totals.c.total:desc())
    local sql = tostring(stmt)
    assert.truthy(sql:find("^WITH totals AS"), sql)
    assert.same({ { "eng", 300 }, { "ops", 50 } }, env.rows(stmt))
  end)
  it("binds the CTE's parameters before the statement's", function()
    local rich = orm.select(E.id, E.name):where(E.salary:gt(60)):cte()
    assert.same({ "bob" }, env.col(orm.select(rich.c.name):where(rich.c.id:gt(1))))
  end)
  it("alias() reads the CTE a second time: a self-join", function()
    local pay = orm.select(E.id, E.boss_id, E.salary):cte("pay")
    local boss = pay:alias("boss")
    local stmt = orm.select(pay.c.id):join(boss, boss.c.id:eq(pay.c.boss_id))
      :where(pay.c.salary:gt(boss.c.salary)):order_by(pay.c.id)
    local sql = tostring(stmt)
    assert.truthy(has(sql, "JOIN pay AS boss ON boss.id = pay.boss_id"), sql)
    local _, withs = sql:gsub("pay AS %s*%(", "")
    assert.equal(1, withs, sql)
    assert.same({ 2 }, env.col(stmt)) -- bob earns more than ann
    assert.equal("<CTE boss>", tostring(boss))
  end)
  it("is usable in a subquery of the statement", function()
    local rich = orm.select(E.id):where(E.salary:gt(60)):cte("rich")
    assert.same({ "ann", "bob" }, env.names(E.id:in_(orm.select(rich.c.id))))
  end)
end)

describe("filter_by and order_by names", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("filter_by applies to the last joined entity", function()
    local stmt = orm.select(E.name):join(D):filter_by{ name = "ops" }:order_by(E.id)
    assert.truthy(has(tostring(stmt), "depts.name = ?"), tostring(stmt))
    assert.same({ "cy", "di" }, env.col(stmt))
    assert.same({ "cy", "di" }, env.s:query(E.name):join(D):filter_by{ name = "ops" }:order_by(E.id):all()
      and env.col(stmt))
    local q = env.s:query(E):join(D):filter_by{ name = "ops" }:all()
    assert.equal(2, #q)
  end)
  it("filter_by on a statement of columns uses their table, and an alias its alias", function()
    assert.same({ "ann" }, env.col(orm.select(E.name):filter_by{ id = 1 }))
    assert.equal(2, env.s:scalar(orm.select(orm.func.count(E.id)):filter_by{ dept_id = 1 }))
    local boss = orm.aliased(E, "boss")
    assert.same({ "cy" }, env.col(orm.select(boss.name):filter_by{ id = 3 }))
    local err = pcall_err(function() return orm.select(E.name):filter_by{ nmae = 1 } end)
    assert.truthy(has(err.message, "emps") and has(err.message, "nmae"), err.message)
  end)
  it("order_by takes a label's name", function()
    local stmt = orm.select(E.dept_id:label("d")):distinct():order_by("-d")
    assert.same({ 2, 1 }, env.col(stmt))
    local err = pcall_err(function() return orm.select(E.dept_id:label("d")):order_by("x") end)
    assert.truthy(has(err.message, "'x'"), err.message)
  end)
  it("orm.null() is selectable and labellable", function()
    local row = env.s:execute(orm.select(E.name, orm.null(), orm.null():label("nothing")):where(E.id:eq(1))):one()
    assert.equal("ann", row[1])
    assert.is_nil(row[2])
    assert.is_nil(row.nothing)
    assert.equal(3, #row)
  end)
end)

describe("recursive cte", function()
  local env, E
  before_each(function() env = setup(); E = env.Emp end)

  it("walks up a chain of bosses", function()
    local chain = orm.select(E.id, E.boss_id):where(E.name:eq("di")):cte("chain", { recursive = true })
    chain = chain:union_all(orm.select(E.id, E.boss_id):where(E.id:eq(chain.c.boss_id)))
    local stmt = orm.select(E.name):join(chain, chain.c.id:eq(E.id)):order_by(E.id)
    local sql = tostring(stmt)
    assert.truthy(sql:find("^WITH RECURSIVE chain%(id, boss_id%) AS"), sql)
    assert.same({ "ann", "cy", "di" }, env.col(stmt))
  end)
  it("walks down a tree with a depth column, options given as one table", function()
    local tree = orm.select(E.id, orm.literal(0):label("depth")):where(E.boss_id:is_(nil))
      :cte{ name = "tree", recursive = true }
    tree = tree:union_all(orm.select(E.id, tree.c.depth + 1):where(E.boss_id:eq(tree.c.id)))
    local got = env.rows(orm.select(E.name, tree.c.depth):join(tree, tree.c.id:eq(E.id)):order_by(tree.c.depth, E.name))
    assert.same({ { "ann", 0 }, { "bob", 1 }, { "cy", 1 }, { "di", 2 } }, got)
  end)
  it("the recursive member reads an alias of the CTE", function()
    local tree = orm.select(E.id, E.name):where(E.boss_id:is_(nil)):cte("tree", { recursive = true })
    local t = tree:alias("t")
    tree = tree:union_all(orm.select(E.id, E.name):join(t, E.boss_id:eq(t.c.id)))
    local sql = tostring(orm.select(tree.c.name))
    assert.truthy(has(sql, "JOIN tree AS t ON emps.boss_id = t.id"), sql)
    assert.same({ "ann", "bob", "cy", "di" }, env.col(orm.select(tree.c.name):order_by(tree.c.name)))
  end)
  it("union counts its members' columns", function()
    local c = orm.select(E.id):cte("c", { recursive = true })
    local err = pcall_err(function() return c:union_all(orm.select(E.id, E.name)) end)
    assert.truthy(has(err.message, "same number of columns"), err.message)
    local sub = orm.select(E.id):subquery("s")
    err = pcall_err(function() return sub:union_all(orm.select(E.id)) end)
    assert.truthy(has(err.message, "CTE"), err.message)
  end)
end)

describe("exists", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("orm.exists() narrowed with where correlates to the enclosing query", function()
    local stmt = orm.select(D.name):where(orm.exists():where(E.dept_id:eq(D.id))):order_by(D.id)
    assert.truthy(has(tostring(stmt), "EXISTS (SELECT *"), tostring(stmt))
    assert.same({ "eng", "ops" }, env.col(stmt))
    assert.same({ "empty" }, env.col(orm.select(D.name):where(orm.not_(orm.exists():where(E.dept_id:eq(D.id))))))
  end)
  it("orm.exists(columns) and filter", function()
    local rich = orm.exists(E.id):filter(E.dept_id:eq(D.id), E.salary:gt(150))
    assert.same({ "eng" }, env.col(orm.select(D.name):where(rich)))
  end)
  it(":where on a plain column expression is refused", function()
    local err = pcall_err(function() return E.id:where(E.id:eq(1)) end)
    assert.truthy(has(err.message, "orm.exists()"), err.message)
  end)
end)

describe("union", function()
  local env, E, D
  before_each(function() env = setup(); E = env.Emp; D = env.Dept end)

  it("union removes duplicates, order_by applies to the whole", function()
    local stmt = orm.select(E.name):where(E.salary:gt(150)):union(orm.select(D.name):where(D.id:le(2))):order_by(E.name)
    assert.same({ "bob", "eng", "ops" }, env.col(stmt))
  end)
  it("union_all keeps duplicates", function()
    local stmt = orm.select(E.dept_id):union_all(orm.select(D.id))
    assert.equal(7, #env.col(stmt))
    assert.equal(3, #env.col(orm.select(E.dept_id):union(orm.select(D.id))))
  end)
  it("takes several selects, and limits the whole", function()
    local stmt = orm.select(E.id):where(E.id:eq(1))
      :union(orm.select(E.id):where(E.id:eq(2)), orm.select(E.id):where(E.id:eq(3)))
      :order_by(E.id:desc()):limit(2)
    assert.same({ 3, 2 }, env.col(stmt))
  end)
  it("as a subquery", function()
    local u = orm.select(E.name:label("n")):union(orm.select(D.name)):subquery("u")
    assert.equal(7, env.s:scalar(orm.select(orm.func.count()):select_from(u)))
  end)
  it("rejects selects of different widths and an order_by before union", function()
    assert.equal("ArgumentError", pcall_err(function() return orm.select(E.id):union(orm.select(D.id, D.name)) end).kind)
    local err = pcall_err(function() return orm.select(E.id):order_by(E.id):union(orm.select(D.id)) end)
    assert.truthy(has(err.message, "union"), err.message)
    err = pcall_err(function() return orm.select(E.id):union(orm.select(D.id)):where(E.id:eq(1)) end)
    assert.truthy(has(err.message, ":where()") and has(err.message, "UNION"), err.message)
  end)
end)

describe("bad input", function()
  local env, E
  before_each(function() env = setup(); E = env.Emp end)

  it("a misspelt attribute gives a clear error naming the model and the attribute", function()
    local err = pcall_err(function() return orm.select(E.nmae) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "'Emp'") and has(err.message, "'nmae'"), err.message)
    assert.truthy(has(err.message, "salary"), err.message) -- lists what there is
    err = pcall_err(function() return E.nmae:eq("ann") end)
    assert.truthy(has(err.message, "nmae"), err.message)
    assert.is_nil(E.__no_such_dunder) -- dunder probes stay nil
  end)
  it("a non-integer or negative limit / offset", function()
    for _, bad in ipairs({ -1, 1.5, "2", true }) do
      local err = pcall_err(function() return orm.select(E):limit(bad) end)
      assert.equal("ArgumentError", err.kind)
      assert.truthy(has(err.message, ":limit()"), err.message)
      err = pcall_err(function() return orm.select(E):offset(bad) end)
      assert.truthy(has(err.message, ":offset()"), err.message)
    end
  end)
  it(":in_ of something that is not a list or a select", function()
    for _, bad in ipairs({ 5, "abc", true }) do
      local err = pcall_err(function() return E.name:in_(bad) end)
      assert.equal("ArgumentError", err.kind)
      assert.truthy(has(err.message, ":in_()"), err.message)
    end
  end)
  it("a text() bind name missing from the parameters is named", function()
    -- the same SQL on every database: on PostgreSQL numbers bound in text() say their type
    local sql = "SELECT :a + :b"
    local err = pcall_err(function() return env.s:execute(orm.text(sql), { a = 1 }) end)
    assert.truthy(has(err.message, "'b'"), err.message)
    assert.equal(3, env.s:scalar(orm.text(sql), { a = 1, b = 2 }))
  end)
  it("a column of a table that cannot be joined", function()
    local err = pcall_err(function() return env.s:execute(orm.select(E.name):join(env.Proj)) end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(has(err.message, "emps") and has(err.message, "projs"), err.message)
  end)
  it("a column name that two columns of a row share is ambiguous", function()
    local row = env.s:execute(orm.select(E.id, env.Dept.id):join(env.Dept):where(E.id:eq(2))):one()
    assert.same({ 2, 1 }, { row[1], row[2] })
    local err = pcall_err(function() return row.id end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(has(err.message, "Ambiguous column name 'id'"), err.message)
    row = env.s:execute(orm.select(E.id, env.Dept.id:label("dept")):join(env.Dept):where(E.id:eq(2))):one()
    assert.same({ 2, 1 }, { row.id, row.dept })
  end)
  it("a Lua boolean in where explains the comparison", function()
    local err = pcall_err(function() return orm.select(E):where(E.id == 1) end)
    assert.truthy(has(err.message, ":eq()"), err.message)
  end)
  it("a join target that is not a FROM item", function()
    assert.equal("ArgumentError", pcall_err(function() return orm.select(E):join(42) end).kind)
  end)
  it("hostile values stay values", function()
    local hostile = "'); DROP TABLE emps; --"
    assert.same({}, env.names(E.name:eq(hostile)))
    assert.same({}, env.names((E.name .. hostile):eq("x")))
    assert.same({ 4 }, env.col(orm.select(orm.func.count()):select_from(E)))
  end)
end)

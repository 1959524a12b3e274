-- The query language, for a SQLAlchemy user: a tour of orm.select and friends.
--
-- Two models joined by foreign keys (Dept and Emp, with Emp.manager_id pointing back at
-- emps), seeded with a bulk INSERT, then: filtering with column operators, columns and
-- labelled expressions, several entities in a row, joins (explicit and inferred ON, outer),
-- aggregates, ordering and paging, aliased self-joins, subqueries, EXISTS, CTEs, UNION,
-- case/cast/literal/null, raw SQL, the Result API and its errors, the legacy
-- session:query, and bulk UPDATE/DELETE that keep loaded objects in step.
-- Every line printed is also checked with assert, so a regression fails loudly.
--
--   lualchemy examples/queries.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

local Dept = Base:model("Dept", {
  __tablename__ = "depts",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
})
local Emp = Base:model("Emp", {
  __tablename__ = "emps",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  email = orm.Column(orm.String(60)),
  salary = orm.Column(orm.Integer),
  dept_id = orm.Column(orm.Integer, orm.ForeignKey("depts.id")),
  manager_id = orm.Column(orm.Integer, orm.ForeignKey("emps.id")),
  __tostring = function(self) return ("Emp(%s)"):format(self.name) end,
})
Base.metadata:create_all(engine)
local session = orm.Session(engine)

-- Bulk INSERT: one statement, many parameter sets. orm.null() is NULL where a table can't hold nil.
session:execute(orm.insert(Dept), { { id = 1, name = "eng" }, { id = 2, name = "ops" }, { id = 3, name = "sales" } })
session:execute(orm.insert(Emp), {
  { id = 1, name = "ann", email = "ann@corp.com", salary = 150, dept_id = 1, manager_id = orm.null() },
  { id = 2, name = "bob", email = "bob@corp.com", salary = 100, dept_id = 1, manager_id = 1 },
  { id = 3, name = "cleo", email = "cleo@home.net", salary = 90, dept_id = 1, manager_id = 1 },
  { id = 4, name = "dan", email = "dan@corp.com", salary = 110, dept_id = 2, manager_id = 1 },
  { id = 5, name = "eve", email = "eve@home.net", salary = 120, dept_id = 2, manager_id = 4 },
  { id = 6, name = "Finn", email = "finn@corp.com", salary = orm.null(), dept_id = 2, manager_id = 4 },
})
session:commit()

-- Helpers: print a labelled result and assert it is what we expect.
local function check(label, got, want)
  print(("  %-40s %s"):format(label, tostring(got)))
  assert(got == want, ("%s: expected %s, got %s"):format(label, tostring(want), tostring(got)))
end
local function col(stmt) -- the first column of every row, space-separated
  local out = {}
  for v in session:scalars(stmt) do out[#out + 1] = tostring(v) end
  return table.concat(out, " ")
end
local function rows(stmt, params) -- every row as its tuple repr
  local out = {}
  for row in session:execute(stmt, params) do out[#out + 1] = tostring(row) end
  return table.concat(out, " ")
end
local function who(...) return col(orm.select(Emp.name):where(...):order_by(Emp.id)) end
local function show_sql(stmt) print("    " .. tostring(stmt):gsub("%s*\n%s*", "\n    ")) end

print("== tostring(stmt) shows the SQL, with ? placeholders ==")
local stmt = orm.select(Emp.name):where(Emp.salary:gt(100)):order_by(Emp.name)
show_sql(stmt)
check("-> rows", col(stmt), "ann dan eve")

print("\n== filtering with column operators ==")
-- Python's `Emp.name == "x"` is Emp.name:eq("x") here (Lua turns == and < into booleans);
-- and_/or_/not_ are functions (on Lua 5.3+ also the operators &, | and ~; this file keeps
-- to the Lua every version shares: examples/08_lua54.lua shows them).
check("eq(2) on dept_id", who(Emp.dept_id:eq(2)), "dan eve Finn")
check("ne('ann')", who(Emp.name:ne("ann")), "bob cleo dan eve Finn")
check("lt(110)  (NULL never matches)", who(Emp.salary:lt(110)), "bob cleo")
check("like('%@corp.com')", who(Emp.email:like("%@corp.com")), "ann bob dan Finn")
check("ilike('f%')  (any case)", who(Emp.name:ilike("f%")), "Finn")
check("in_{ 'bob', 'eve', 'zed' }", who(Emp.name:in_({ "bob", "eve", "zed" })), "bob eve")
check("between(90, 110)  (inclusive)", who(Emp.salary:between(90, 110)), "bob cleo dan")
check("is_(nil)", who(Emp.salary:is_(nil)), "Finn")
check("is_not(nil) on manager_id", who(Emp.manager_id:is_not(nil)), "bob cleo dan eve Finn")
check("startswith('c')", who(Emp.name:startswith("c")), "cleo")
check("contains('an')", who(Emp.name:contains("an")), "ann dan")
check("two where arguments are ANDed", who(Emp.dept_id:eq(1), Emp.salary:lt(120)), "bob cleo")
check("and_", who(orm.and_(Emp.dept_id:eq(1), Emp.salary:lt(120))), "bob cleo")
check("or_", who(orm.or_(Emp.salary:gt(120), Emp.salary:is_(nil))), "ann Finn")
check("not_", who(orm.not_(Emp.dept_id:eq(1))), "dan eve Finn")
local cond = orm.or_(orm.and_(Emp.salary:ge(100), Emp.dept_id:eq(1)), Emp.name:eq("eve"))
print("  " .. tostring(cond))
check("or_ of an and_", who(cond), "ann bob eve")
check("not_ of like", who(orm.not_(Emp.email:like("%corp%"))), "cleo eve")
check("filter_by{ dept_id = 2, manager_id = 4 }", col(orm.select(Emp):filter_by{ dept_id = 2, manager_id = 4 }:order_by(Emp.id)), "Emp(eve) Emp(Finn)")

print("\n== selecting columns and labelled expressions ==")
check("select(Emp.name, Emp.salary)", rows(orm.select(Emp.name, Emp.salary):where(Emp.id:eq(2))), "('bob', 100)")
local row = session:execute(orm.select(Emp.name, (Emp.salary * 12):label("yearly"),
  (Emp.name .. " <" .. Emp.email .. ">"):label("contact")):where(Emp.id:eq(1))):one()
check("(salary * 12):label('yearly')", row.yearly, 1800)
check("name .. ' <' .. email .. '>'", row.contact, "ann <ann@corp.com>")

print("\n== several entities at once: row.Emp, row.Dept ==")
local seen = {}
for r in session:execute(orm.select(Emp, Dept):join(Dept):where(Emp.salary:ge(110)):order_by(Emp.id)) do
  seen[#seen + 1] = r.Emp.name .. "@" .. r.Dept.name
end
check("select(Emp, Dept):join(Dept)", table.concat(seen, " "), "ann@eng dan@ops eve@ops")
row = session:execute(orm.select(Emp, Dept.name):join(Dept):where(Emp.id:eq(1))):one()
check("entity is the identity-mapped object", row.Emp == session:get(Emp, 1), true)

print("\n== joins ==")
-- No relationship needed: join(Dept) finds the ON clause from the one foreign key between the tables.
stmt = orm.select(Emp.name):join(Dept):where(Dept.name:eq("ops")):order_by(Emp.id)
show_sql(stmt) -- the ON clause is inferred from the foreign key
check("-> rows", col(stmt), "dan eve Finn")
check("select_from(Dept):join(Emp)",
  col(orm.select(Emp.name):select_from(Dept):join(Emp):where(Dept.name:eq("eng")):order_by(Emp.id)), "ann bob cleo")
check("explicit ON clause", rows(orm.select(Dept.name, Emp.name)
  :join(Emp, orm.and_(Emp.dept_id:eq(Dept.id), Emp.salary:gt(140)))), "('eng', 'ann')")
stmt = orm.select(Dept.name, orm.func.count(Emp.id):label("n")):outerjoin(Emp):group_by(Dept.id):order_by(Dept.id)
show_sql(stmt)
check("outerjoin keeps the empty dept", rows(stmt), "('eng', 3) ('ops', 3) ('sales', 0)")

print("\n== aggregates: orm.func, group_by, having ==")
check("count() select_from(Emp)", session:scalar(orm.select(orm.func.count()):select_from(Emp)), 6)
check("count(salary) skips NULL", session:scalar(orm.select(orm.func.count(Emp.salary))), 5)
check("min, max, sum", rows(orm.select(orm.func.min(Emp.salary), orm.func.max(Emp.salary), orm.func.sum(Emp.salary))), "(90, 150, 570)")
check("count(distinct dept_id)", session:scalar(orm.select(orm.func.count(Emp.dept_id:distinct()))), 2)
check("coalesce(salary, 0), upper(name)", rows(orm.select(orm.func.coalesce(Emp.salary, 0), orm.func.upper(Emp.name)):where(Emp.id:eq(6))), "(0, 'FINN')")
stmt = orm.select(Dept.name, orm.func.count(Emp.id):label("n"), orm.func.sum(Emp.salary):label("total"))
  :join(Emp):group_by(Dept.name):order_by(Dept.name)
check("group_by(Dept.name)", rows(stmt), "('eng', 3, 340) ('ops', 3, 230)")
check("having(sum(salary) > 300)", rows(stmt:having(orm.func.sum(Emp.salary):gt(300))), "('eng', 3, 340)")

print("\n== order_by, limit, offset, distinct ==")
check("order_by(salary:desc(), name)", col(orm.select(Emp.name):order_by(Emp.salary:desc(), Emp.name)), "ann eve dan bob cleo Finn")
check("limit(2):offset(1)", col(orm.select(Emp.name):order_by(Emp.salary:desc()):limit(2):offset(1)), "eve dan")
stmt = orm.select(Emp.dept_id):distinct():order_by(Emp.dept_id)
show_sql(stmt)
check("distinct()", col(stmt), "1 2")

print("\n== aliased: a self-join, employee and manager ==")
local Mgr = orm.aliased(Emp, "mgr") -- a second, named copy of emps; a row holds it as row.mgr
stmt = orm.select(Emp.name, Mgr.name:label("boss")):join(Mgr, Emp.manager_id:eq(Mgr.id)):where(Mgr.name:eq("dan"))
check("explicit ON, boss of dan's team", rows(stmt), "('eve', 'dan') ('Finn', 'dan')")
stmt = orm.select(Emp.name, orm.func.coalesce(Mgr.name, "-")):outerjoin(Mgr):order_by(Emp.id):limit(2)
show_sql(stmt) -- the ON clause is inferred from the foreign key
check("-> rows", rows(stmt), "('ann', '-') ('bob', 'ann')")
row = session:execute(orm.select(Emp, Mgr):join(Mgr, Emp.manager_id:eq(Mgr.id)):where(Emp.salary:gt(Mgr.salary))):one()
check("earns more than boss: row.Emp, row.mgr", row.Emp.name .. " > " .. row.mgr.name, "eve > dan")

print("\n== subqueries: .c, scalar_subquery, in_(select), exists ==")
local tops = orm.select(Emp.dept_id, orm.func.max(Emp.salary):label("top")):group_by(Emp.dept_id):subquery("tops")
check("join a subquery, read tops.c.top", rows(orm.select(Dept.name, tops.c.top)
  :join(tops, tops.c.dept_id:eq(Dept.id)):order_by(Dept.id)), "('eng', 150) ('ops', 120)")
check("top earner of each dept", col(orm.select(Emp.name)
  :join(tops, orm.and_(tops.c.dept_id:eq(Emp.dept_id), tops.c.top:eq(Emp.salary))):order_by(Emp.id)), "ann eve")
local avg = orm.select(orm.func.avg(Emp.salary)):scalar_subquery()
check("salary > (SELECT avg(salary))", who(Emp.salary:gt(avg)), "ann eve")
local headcount = orm.select(orm.func.count(Emp.id)):where(Emp.dept_id:eq(Dept.id)):scalar_subquery()
check("correlated scalar_subquery", rows(orm.select(Dept.name, headcount:label("n")):order_by(Dept.id)), "('eng', 3) ('ops', 3) ('sales', 0)")
check("in_(select(...))", who(Emp.dept_id:in_(orm.select(Dept.id):where(Dept.name:eq("ops")))), "dan eve Finn")
check("not_in(select(...))", who(Emp.dept_id:not_in(orm.select(Dept.id):where(Dept.name:eq("ops")))), "ann bob cleo")
local rich = orm.exists(orm.select(Emp.id):where(Emp.dept_id:eq(Dept.id), Emp.salary:gt(140)))
check("correlated orm.exists", col(orm.select(Dept.name):where(rich)), "eng")
check("not_(exists)", col(orm.select(Dept.name):where(orm.not_(rich)):order_by(Dept.id)), "ops sales")
check("not_(select(...):exists())", col(orm.select(Dept.name):where(orm.not_(orm.select(Emp.id):where(Emp.dept_id:eq(Dept.id)):exists()))), "sales")

print("\n== cte ==")
local payroll = orm.select(Emp.dept_id, orm.func.sum(Emp.salary):label("total")):group_by(Emp.dept_id):cte("payroll")
stmt = orm.select(Dept.name, payroll.c.total):join(payroll, payroll.c.dept_id:eq(Dept.id)):order_by(payroll.c.total:desc())
show_sql(stmt)
check("-> rows", rows(stmt), "('eng', 340) ('ops', 230)")

print("\n== union, union_all ==")
stmt = orm.select(Emp.name):where(Emp.salary:gt(140)):union(orm.select(Dept.name):where(Dept.id:eq(3))):order_by(Emp.name)
check("union of emp and dept names", col(stmt), "ann sales")
local a, b = orm.select(Emp.dept_id):where(Emp.manager_id:eq(1)), orm.select(Emp.dept_id):where(Emp.salary:gt(100))
check("union_all keeps duplicates", #session:scalars(a:union_all(b)):all(), 6)
check("union removes them", #session:scalars(a:union(b)):all(), 2)

print("\n== case, cast, literal, literal_column, null ==")
local band = orm.case({ Emp.salary:ge(120), "senior" }, { Emp.salary:ge(100), "mid" }, { else_ = "junior" })
check("orm.case", col(orm.select(band):order_by(Emp.id)), "senior mid junior mid senior junior")
check("salary:cast(orm.String) .. ' EUR'", session:scalar(orm.select(Emp.salary:cast(orm.String) .. " EUR"):where(Emp.id:eq(2))), "100 EUR")
check("orm.cast(literal('42'), Integer) + 1", session:scalar(orm.select(orm.cast(orm.literal("42"), orm.Integer) + 1)), 43)
check("orm.literal (a bound value)", rows(orm.select(Emp.name, orm.literal("staff"):label("kind")):where(Emp.id:eq(3))), "('cleo', 'staff')")
check("orm.literal_column (SQL text)", session:scalar(orm.select(orm.literal_column("count(*)")):select_from(Dept)), 3)
check("is_(orm.null())", who(Emp.salary:is_(orm.null())), "Finn")
check("coalesce(orm.null(), name)", session:scalar(orm.select(orm.func.coalesce(orm.null(), Emp.name)):where(Emp.id:eq(4))), "dan")
check("orm.text as a where clause", who(orm.text("emps.salary > 140")), "ann")

print("\n== raw SQL: orm.text with named binds ==")
check("text(... :lo ... :d)", rows(orm.text("SELECT name, salary FROM emps WHERE salary >= :lo AND dept_id = :d ORDER BY name"),
  { lo = 100, d = 1 }), "('ann', 150) ('bob', 100)")

print("\n== the Result API ==")
-- session:execute returns a Result of Rows; first/one/scalar close it, fetchmany/partitions page through it.
local function by_id() return session:execute(orm.select(Emp.id, Emp.name):order_by(Emp.id)) end
row = by_id():first()
check("first(): row.name, row[1], #row", ("%s %s %d"):format(row.name, row[1], #row), "ann 1 2")
check("tostring(row)", tostring(row), "(1, 'ann')")
check("#all()", #by_id():all(), 6)
check("one()", session:execute(orm.select(Emp.name):where(Emp.id:eq(5))):one().name, "eve")
check("one_or_none() of no rows", session:execute(orm.select(Emp):where(Emp.id:eq(99))):one_or_none(), nil)
check("scalar()", session:execute(orm.select(Emp.name, Emp.salary):order_by(Emp.salary:desc())):scalar(), "ann")
check("scalar_one()", session:execute(orm.select(Emp.salary):where(Emp.name:eq("dan"))):scalar_one(), 110)
check("scalars():all()", table.concat(session:execute(orm.select(Emp.name):where(Emp.dept_id:eq(2)):order_by(Emp.id)):scalars():all(), " "), "dan eve Finn")
check("scalars():unique()", table.concat(session:execute(orm.select(Emp.manager_id):where(Emp.manager_id:is_not(nil)):order_by(Emp.id)):scalars():unique():all(), " "), "1 4")
local m = session:execute(orm.select(Emp.name, Dept.name:label("dept")):join(Dept):where(Emp.id:eq(4))):mappings():one()
check("mappings(): m.name, m.dept", m.name .. " " .. m.dept, "dan ops")
check("unique() rows", #session:execute(orm.select(Emp.dept_id)):unique():all(), 2)
local r = by_id()
check("fetchmany(4), then fetchmany(4)", #r:fetchmany(4) .. " then " .. #r:fetchmany(4), "4 then 2")
local sizes = {}
for part in by_id():partitions(4) do sizes[#sizes + 1] = #part end
check("partitions(4)", table.concat(sizes, " "), "4 2")

print("\n== errors: one() raises NoResultFound / MultipleResultsFound ==")
local ok, err = pcall(function() return session:execute(orm.select(Emp):where(Emp.id:eq(99))):one() end)
check("one() of no rows", not ok and err.kind, "NoResultFound")
ok, err = pcall(function() return session:execute(orm.select(Emp):where(Emp.dept_id:eq(1))):one() end)
check("one() of three rows", not ok and err.kind, "MultipleResultsFound")
check("err.message", err.message, "Multiple rows were found when exactly one was required")
check("err:is('InvalidRequestError')", err:is("InvalidRequestError"), true)

print("\n== legacy session:query ==")
local q = session:query(Emp):filter(Emp.salary:gt(100)):order_by(Emp.name)
local list = {}
for _, e in ipairs(q:all()) do list[#list + 1] = tostring(e) end
check("query(Emp):filter():order_by():all()", table.concat(list, " "), "Emp(ann) Emp(dan) Emp(eve)")
check("filter_by{ dept_id = 2 }:count()", session:query(Emp):filter_by{ dept_id = 2 }:count(), 3)
check("get(5)", tostring(session:query(Emp):get(5)), "Emp(eve)")
check("query(Emp.name, Dept.name):join(Dept)", tostring(session:query(Emp.name, Dept.name):join(Dept):order_by(Emp.id):first()), "('ann', 'eng')")
check("query(func.max(salary)):scalar()", session:query(orm.func.max(Emp.salary)):scalar(), 150)

print("\n== bulk orm.update / orm.delete, keeping loaded objects in step ==")
-- The default synchronize_session ("auto") updates objects already loaded in the session.
local bob, cleo = session:get(Emp, 2), session:get(Emp, 3)
check("bob.salary, cleo.email before", bob.salary .. " " .. cleo.email, "100 cleo@home.net")
stmt = orm.update(Emp):where(Emp.dept_id:eq(1)):values{ salary = Emp.salary + 10 }
show_sql(stmt)
check("rowcount", session:execute(stmt).rowcount, 3)
check("bob.salary after (synchronized)", bob.salary, 110)
session:execute(orm.update(Emp):where(Emp.name:eq("cleo")):values{ email = orm.null() }, nil, { synchronize_session = "fetch" })
check("cleo.email after a 'fetch' update", cleo.email, nil)
session:execute(orm.update(Emp):where(Emp.id:eq(2)):values{ salary = 0 }, nil, { synchronize_session = false })
check("synchronize_session = false: stale", bob.salary, 110)
session:refresh(bob)
check("... until refresh", bob.salary, 0)
local finn = session:get(Emp, 6)
stmt = orm.delete(Emp):where(Emp.salary:is_(nil)):execution_options{ synchronize_session = "fetch" }
show_sql(stmt)
check("delete rowcount", session:execute(stmt).rowcount, 1)
check("Finn is deleted in the session", orm.inspect(finn).deleted, true)
session:commit()
check("emps left", session:scalar(orm.select(orm.func.count(Emp.id))), 5)

session:close()
print("\nall checks passed")

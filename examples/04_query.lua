-- Part 4 of the ORM walkthrough: querying.
--
-- orm.select with where/order_by/limit/offset, column operators and and_/or_/not_ (Lua
-- 5.3's `&`, `|`, `~` for them: examples/08_lua54.lua),
-- session:execute/scalars/scalar and the Result methods, the legacy session:query,
-- aggregates with orm.func, raw SQL with orm.text and a bulk orm.insert.
--
--   lualchemy examples/04_query.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  age = orm.Column(orm.Integer),
  email = orm.Column(orm.String(100)),
  __tostring = function(self) return ("User(%s, %s)"):format(tostring(self.id), self.name) end,
})
Base.metadata:create_all(engine)

local session = orm.Session(engine)

print("== a bulk INSERT of a list of rows ==")
-- orm.null() stands for NULL where a Lua table cannot hold nil; every row names the same
-- columns, so they go in as one batch, in this order.
session:execute(orm.insert(User), {
  { name = "ann", age = 30, email = "ann@example.com" },
  { name = "Bob", age = 20, email = "bob@test.org" },
  { name = "carl", age = 40, email = orm.null() },
  { name = "dora", age = orm.null(), email = "dora@example.com" },
  { name = "ed", age = 30, email = "ed@test.org" },
})
session:commit()
print("inserted", session:scalar(orm.select(orm.func.count(User.id))), "users")

-- names of the users a statement returns, as one string
local function names(stmt)
  local out = {}
  for user in session:scalars(stmt) do out[#out + 1] = user.name end
  return "{" .. table.concat(out, ", ") .. "}"
end

print()
print("== select, where, order_by, limit, offset ==")
local stmt = orm.select(User):where(User.age:ge(30)):order_by(User.name)
print(tostring(stmt))
print("->", names(stmt))
print("order_by(User.age:desc(), User.name):", names(orm.select(User):order_by(User.age:desc(), User.name)))
print("limit(2):", names(orm.select(User):order_by(User.id):limit(2)))
print("limit(2):offset(2):", names(orm.select(User):order_by(User.id):limit(2):offset(2)))
print("two where arguments are ANDed:", names(orm.select(User):where(User.age:eq(30), User.name:ne("ann"))))
print("filter_by{ age = 30 }:", names(orm.select(User):filter_by{ age = 30 }:order_by(User.id)))

print()
print("== operators ==")
local function show(label, cond, sql)
  sql = sql or tostring(cond)
  print(("%-24s %-45s -> %s"):format(label, sql, names(orm.select(User):where(cond):order_by(User.id))))
end
show("eq", User.name:eq("ed"))
show("ne", User.age:ne(30))
show("lt", User.age:lt(25))
show("ge", User.age:ge(30))
show("in_", User.name:in_({ "ann", "ed", "zed" }))
show("not_in", User.age:not_in({ 20, 30 }))
show("like", User.email:like("%@example.com"))
show("ilike", User.name:ilike("BOB"))
show("startswith", User.name:startswith("c"))
show("contains", User.name:contains("o"))
show("between", User.age:between(25, 35))
show("is_(nil)", User.age:is_(nil))
show("eq(nil) is IS NULL too", User.email:eq(nil))
show("is_not(nil)", User.email:is_not(nil))
show("and_", orm.and_(User.age:eq(30), User.email:like("%.org")))
show("or_", orm.or_(User.age:lt(25), User.age:gt(35)))
show("not_", orm.not_(User.age:eq(30)))
show("in_ a subquery", User.id:in_(orm.select(User.id):where(User.age:ge(30))), "users.id IN (SELECT ...)")

print()
print("== session:execute, scalars, scalar and Result ==")
local result = session:execute(orm.select(User.name, User.age):where(User.age:is_not(nil)):order_by(User.age))
for row in result do
  print(("  row %s: name=%s age=%s (row[1]=%s, #row=%d)"):format(tostring(row), row.name, row.age, row[1], #row))
end
print("all():", #session:execute(orm.select(User)):all(), "rows")
print("first():", session:execute(orm.select(User.name):order_by(User.name)):first().name)
print("one():", session:execute(orm.select(User):where(User.name:eq("carl"))):one().User)
print("one_or_none() of no rows:", session:execute(orm.select(User):where(User.age:gt(99))):one_or_none())
print("scalar():", session:execute(orm.select(User.email):where(User.id:eq(2))):scalar())
print("scalar_one():", session:execute(orm.select(User.age):where(User.name:eq("carl"))):scalar_one())
print("scalars():all():", table.concat(session:execute(orm.select(User.name):order_by(User.id)):scalars():all(), ", "))
print("scalars():unique():", table.concat(session:execute(orm.select(User.age):where(User.age:is_not(nil)):order_by(User.age)):scalars():unique():all(), ", "))
for _, m in ipairs(session:execute(orm.select(User.name, User.email):where(User.id:le(2)):order_by(User.id)):mappings():all()) do
  print("mappings():", m.name, m.email)
end
local batches = session:execute(orm.select(User.name):order_by(User.id))
print("fetchmany(3):", #batches:fetchmany(3), "then", #batches:fetchmany(3))
print("session:scalars():all():", #session:scalars(orm.select(User)):all(), "User objects")
print("session:scalar():", session:scalar(orm.select(User):where(User.id:eq(1))))
print("the same object as session:get:", session:scalar(orm.select(User):where(User.id:eq(1))) == session:get(User, 1))

local ok, err = pcall(function() return session:execute(orm.select(User):where(User.age:eq(30))):one() end)
print("one() of two rows raises:", err.kind)
ok, err = pcall(function() return session:execute(orm.select(User):where(User.age:eq(99))):one() end)
print("one() of no rows raises:", err.kind)

print()
print("== aggregates with orm.func ==")
print("count:", session:scalar(orm.select(orm.func.count(User.id))))
print("count() select_from:", session:scalar(orm.select(orm.func.count()):select_from(User)))
print("count(age) skips NULL:", session:scalar(orm.select(orm.func.count(User.age))))
print("max(age):", session:scalar(orm.select(orm.func.max(User.age))))
local min_avg = session:execute(orm.select(orm.func.min(User.age), orm.func.avg(User.age))):one()
print("min, avg:", min_avg[1], ("%.1f"):format(min_avg[2])) -- %.1f: LuaJIT prints 30.0 as "30"
for row in session:execute(orm.select(User.age, orm.func.count(User.id):label("n"))
    :where(User.age:is_not(nil)):group_by(User.age):order_by(User.age)) do
  print(("  age %d: %d user(s)"):format(row.age, row.n))
end

print()
print("== legacy session:query ==")
local q = session:query(User):filter(User.age:ge(30)):order_by(User.id)
print("query(User):filter(...):all():", #q:all(), "users;", "first():", q:first())
print("filter_by{ name = 'dora' }:one():", session:query(User):filter_by{ name = "dora" }:one())
print("count():", session:query(User):count(), "in all,", session:query(User):filter(User.age:eq(30)):count(), "aged 30")
print("get(3):", session:query(User):get(3), "get(99):", session:query(User):get(99))
print("limit/offset:", #session:query(User):order_by(User.id):limit(2):offset(3):all(), "users")
for _, row in ipairs(session:query(User.name, User.age):order_by(User.id):limit(2):all()) do
  print("  query(User.name, User.age) row:", row, row.name, row.age)
end
print("query(func.count(User.id)):scalar():", session:query(orm.func.count(User.id)):scalar())

print()
print("== raw SQL with orm.text and named binds ==")
local rows = session:execute(orm.text("SELECT name, age FROM users WHERE age > :min ORDER BY name"), { min = 25 }):all()
for _, row in ipairs(rows) do print(("  %s is %d"):format(row.name, row.age)) end
print("two binds:", session:execute(orm.text("SELECT id FROM users WHERE name = :n AND email = :e"),
  { n = "Bob", e = "bob@test.org" }):scalar())

session:close()

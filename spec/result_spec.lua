-- Result and Row with SQLAlchemy 2.0's semantics: every fetch method, closing and
-- exhaustion, unique() on rows and scalars, mappings, partitions, Row access and repr,
-- rowcount of statements that return no rows.
local orm = require("lualchemy")

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

-- users:                         addresses:
--   1 ann  30 true  1.5            1 ann@a.org  -> 1
--   2 bob  20 false 2.0            2 ann@b.org  -> 1
--   3 carl 40 NULL  NULL           3 bob@a.org  -> 2
--   4 dora 30 true  0.25
local function setup()
  local env = {}
  env.engine = orm.create_engine("sqlite://")
  env.Base = orm.declarative_base()
  env.User = env.Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
    age = orm.Column(orm.Integer),
    active = orm.Column(orm.Boolean),
    score = orm.Column(orm.Float),
    __tostring = function(self) return "User(" .. self.name .. ")" end,
  })
  env.Address = env.Base:model("Address", {
    __tablename__ = "addresses",
    id = orm.Column(orm.Integer, { primary_key = true }),
    email = orm.Column(orm.String(50)),
    user_id = orm.Column(orm.Integer, orm.ForeignKey("users.id")),
  })
  env.Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  local U, A = env.User, env.Address
  env.s:add_all({
    U{ id = 1, name = "ann", age = 30, active = true, score = 1.5 },
    U{ id = 2, name = "bob", age = 20, active = false, score = 2.0 },
    U{ id = 3, name = "carl", age = 40 },
    U{ id = 4, name = "dora", age = 30, active = true, score = 0.25 },
  })
  env.s:flush()
  env.s:add_all({
    A{ id = 1, email = "ann@a.org", user_id = 1 },
    A{ id = 2, email = "ann@b.org", user_id = 1 },
    A{ id = 3, email = "bob@a.org", user_id = 2 },
  })
  env.s:commit()
  return env
end

local function names(list)
  local out = {}
  for i, row in ipairs(list) do out[i] = row.name end
  return out
end

describe("Result fetching", function()
  local env, U, s
  before_each(function()
    env = setup()
    U, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  local function by_id() return s:execute(orm.select(U.id, U.name):order_by(U.id)) end

  it("iterates rows with for ... in", function()
    local seen = {}
    for row in by_id() do seen[#seen + 1] = row.id .. "=" .. row.name end
    assert.same({ "1=ann", "2=bob", "3=carl", "4=dora" }, seen)
  end)

  it("all() returns every row, then an empty list once exhausted", function()
    local r = by_id()
    local rows = r:all()
    assert.same({ "ann", "bob", "carl", "dora" }, names(rows))
    assert.same({}, r:all())
    assert.is_nil(r:fetchone())
    assert.same({}, r:fetchmany(2))
    assert.is_nil(r:first())
  end)

  it("all() returns only the rows not fetched yet", function()
    local r = by_id()
    assert.equal("ann", r:fetchone().name)
    assert.same({ "bob", "carl", "dora" }, names(r:all()))
  end)

  it("fetchone() returns one row at a time, then nil", function()
    local r = by_id()
    assert.equal(1, r:fetchone().id)
    assert.equal(2, r:fetchone().id)
    assert.equal(3, r:fetchone().id)
    assert.equal(4, r:fetchone().id)
    assert.is_nil(r:fetchone())
    assert.is_nil(r:fetchone())
  end)

  it("fetchmany(n) returns batches, then empty lists", function()
    local r = by_id()
    assert.same({ "ann", "bob", "carl" }, names(r:fetchmany(3)))
    assert.same({ "dora" }, names(r:fetchmany(3)))
    assert.same({}, r:fetchmany(3))
    assert.same({}, by_id():fetchmany(0))
  end)

  it("fetchmany() without a size returns what remains", function()
    local r = by_id()
    r:fetchone()
    assert.same({ "bob", "carl", "dora" }, names(r:fetchmany()))
  end)

  it("fetchall() is all()", function()
    assert.same({ "ann", "bob", "carl", "dora" }, names(by_id():fetchall()))
  end)

  it("partitions(n) yields lists of n rows until none remain", function()
    local parts = {}
    for part in by_id():partitions(3) do parts[#parts + 1] = names(part) end
    assert.same({ { "ann", "bob", "carl" }, { "dora" } }, parts)
    parts = {}
    for part in by_id():partitions() do parts[#parts + 1] = names(part) end
    assert.same({ { "ann", "bob", "carl", "dora" } }, parts)
    local n = 0
    for _ in s:execute(orm.select(U):where(U.id:gt(99))):partitions(2) do n = n + 1 end
    assert.equal(0, n)
  end)

  it("partitions of scalars keep NULLs in place", function()
    local parts = {}
    for part in s:execute(orm.select(U.score):order_by(U.id)):scalars():partitions(2) do
      parts[#parts + 1] = part
    end
    assert.equal(2, #parts)
    assert.same({ 1.5, 2.0 }, parts[1])
    assert.is_nil(parts[2][1])
    assert.equal(0.25, parts[2][2])
  end)

  it("first() returns the first row and closes the result", function()
    local r = by_id()
    local row = r:first()
    assert.equal("ann", row.name)
    assert.truthy(r.closed)
    local err = pcall_err(function() return r:fetchone() end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(err.message:find("This result object is closed.", 1, true))
    assert.equal("InvalidRequestError", pcall_err(function() return r:all() end).kind)
    assert.equal("InvalidRequestError", pcall_err(function() return r:first() end).kind)
    assert.equal("InvalidRequestError", pcall_err(function() for _ in r do end end).kind)
  end)

  it("first() of no rows is nil", function()
    assert.is_nil(s:execute(orm.select(U):where(U.id:gt(99))):first())
    assert.is_nil(s:execute(orm.select(U):where(U.id:gt(99))):scalars():first())
  end)

  it("one() returns the only row and closes the result", function()
    local r = s:execute(orm.select(U.id, U.name):where(U.name:eq("bob")))
    local row = r:one()
    assert.equal(2, row.id)
    assert.equal("bob", row.name)
    assert.equal("InvalidRequestError", pcall_err(function() return r:all() end).kind)
  end)

  it("one() raises NoResultFound and MultipleResultsFound", function()
    local err = pcall_err(function() return s:execute(orm.select(U):where(U.id:gt(99))):one() end)
    assert.equal("NoResultFound", err.kind)
    assert.equal("No row was found when one was required", err.message)
    assert.truthy(err:is("InvalidRequestError"))
    local r = s:execute(orm.select(U):where(U.age:eq(30)))
    err = pcall_err(function() return r:one() end)
    assert.equal("MultipleResultsFound", err.kind)
    assert.equal("Multiple rows were found when exactly one was required", err.message)
    -- the failed one() closed the result
    assert.truthy(r.closed)
  end)

  it("one() considers only the rows not fetched yet", function()
    local r = by_id()
    r:fetchmany(3)
    assert.equal("dora", r:one().name)
    r = by_id()
    r:all()
    assert.equal("NoResultFound", pcall_err(function() return r:one() end).kind)
  end)

  it("one_or_none() returns the row, nil, or raises MultipleResultsFound", function()
    assert.equal("carl", s:execute(orm.select(U.name):where(U.age:eq(40))):one_or_none().name)
    assert.is_nil(s:execute(orm.select(U.name):where(U.age:eq(41))):one_or_none())
    local err = pcall_err(function() return s:execute(orm.select(U.name)):one_or_none() end)
    assert.equal("MultipleResultsFound", err.kind)
    assert.equal("Multiple rows were found when one or none was required", err.message)
  end)

  it("scalar() returns the first column of the first row and closes", function()
    local r = s:execute(orm.select(U.name, U.age):order_by(U.id:desc()))
    assert.equal("dora", r:scalar())
    assert.equal("InvalidRequestError", pcall_err(function() return r:fetchone() end).kind)
    assert.is_nil(s:execute(orm.select(U.name):where(U.id:gt(99))):scalar())
    -- a NULL first column is nil as well
    assert.is_nil(s:execute(orm.select(U.score):where(U.id:eq(3))):scalar())
    assert.equal(4, s:execute(orm.select(orm.func.count(U.id))):scalar())
  end)

  it("scalar_one() and scalar_one_or_none()", function()
    assert.equal(40, s:execute(orm.select(U.age):where(U.name:eq("carl"))):scalar_one())
    local u = s:execute(orm.select(U):where(U.id:eq(2))):scalar_one()
    assert.equal("bob", u.name)
    assert.equal("NoResultFound",
      pcall_err(function() return s:execute(orm.select(U.age):where(U.id:gt(99))):scalar_one() end).kind)
    assert.equal("MultipleResultsFound",
      pcall_err(function() return s:execute(orm.select(U.age)):scalar_one() end).kind)
    assert.equal("bob", s:execute(orm.select(U):where(U.id:eq(2))):scalar_one_or_none().name)
    assert.is_nil(s:execute(orm.select(U):where(U.id:eq(99))):scalar_one_or_none())
    assert.equal("MultipleResultsFound",
      pcall_err(function() return s:execute(orm.select(U)):scalar_one_or_none() end).kind)
  end)

  it("keys() names the columns, labels and entities", function()
    assert.same({ "id", "name" }, by_id():keys())
    assert.same({ "User", "n" }, s:execute(orm.select(U, U.age:label("n"))):keys())
  end)

  it("the fetch methods work on an iterated result's remainder", function()
    local r = by_id()
    for row in r do
      if row.id == 2 then break end
    end
    assert.same({ "carl", "dora" }, names(r:all()))
  end)

  it("close() closes; #result counts the rows still to fetch", function()
    local r = by_id()
    assert.equal(4, #r)
    r:fetchone()
    assert.equal(3, #r)
    assert.falsy(r.closed)
    r:close()
    assert.truthy(r.closed)
    assert.equal("InvalidRequestError", pcall_err(function() return r:fetchmany(1) end).kind)
  end)
end)

describe("scalars()", function()
  local env, U, s
  before_each(function()
    env = setup()
    U, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  it("yields the first column, objects for an entity", function()
    assert.same({ "ann", "bob", "carl", "dora" },
      s:execute(orm.select(U.name, U.age):order_by(U.id)):scalars():all())
    local users = s:execute(orm.select(U):order_by(U.id)):scalars():all()
    assert.equal(4, #users)
    assert.equal("dora", users[4].name)
    assert.truthy(rawequal(users[1], s:get(U, 1)))
  end)

  it("takes a 1-based column index or a column name", function()
    assert.same({ 30, 20, 40, 30 }, s:execute(orm.select(U.name, U.age):order_by(U.id)):scalars(2):all())
    assert.same({ 30, 20, 40, 30 }, s:execute(orm.select(U.name, U.age):order_by(U.id)):scalars("age"):all())
    local err = pcall_err(function() return s:execute(orm.select(U.name)):scalars("nope") end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(err.message:find("'nope'", 1, true))
    assert.equal("ArgumentError", pcall_err(function() return s:execute(orm.select(U.name)):scalars(3) end).kind)
  end)

  it("supports every fetch method", function()
    local function q() return s:execute(orm.select(U.name):order_by(U.id)):scalars() end
    assert.equal("ann", q():first())
    local r = q()
    assert.equal("ann", r:fetchone())
    assert.same({ "bob", "carl" }, r:fetchmany(2))
    assert.same({ "dora" }, r:all())
    assert.same({}, r:all())
    assert.equal("carl", s:execute(orm.select(U.name):where(U.age:eq(40))):scalars():one())
    assert.is_nil(s:execute(orm.select(U.name):where(U.age:eq(41))):scalars():one_or_none())
    assert.equal("MultipleResultsFound", pcall_err(function() return q():one() end).kind)
    local seen = {}
    for name in q() do seen[#seen + 1] = name end
    assert.same({ "ann", "bob", "carl", "dora" }, seen)
  end)

  it("shares the cursor with the result it came from", function()
    local r = s:execute(orm.select(U.name):order_by(U.id))
    assert.equal("ann", r:fetchone().name)
    local sc = r:scalars()
    assert.equal("bob", sc:fetchone())
    assert.equal("carl", r:fetchone().name)
    assert.same({ "dora" }, sc:all())
    assert.same({}, r:all())
  end)

  it("session:scalars() is execute():scalars()", function()
    local seen = {}
    for u in s:scalars(orm.select(U):order_by(U.id)) do seen[#seen + 1] = u.name end
    assert.same({ "ann", "bob", "carl", "dora" }, seen)
  end)
end)

describe("unique()", function()
  local env, U, A, s
  before_each(function()
    env = setup()
    U, A, s = env.User, env.Address, env.s
  end)
  after_each(function() s:close() end)

  it("drops repeated scalar values, keeping first-seen order", function()
    local ages = s:execute(orm.select(U.age):order_by(U.id)):scalars():unique():all()
    assert.same({ 30, 20, 40 }, ages)
  end)

  it("drops repeated rows by equality of every column", function()
    local rows = s:execute(orm.select(U.age, U.active):order_by(U.id)):unique():all()
    assert.equal(3, #rows)
    assert.equal("(30, True)", tostring(rows[1]))
    assert.equal("(20, False)", tostring(rows[2]))
    assert.equal("(40, None)", tostring(rows[3]))
  end)

  it("keeps entities by identity", function()
    local stmt = orm.select(U):join(A, A.user_id:eq(U.id)):order_by(A.id)
    assert.equal(3, #s:execute(stmt):scalars():all())
    local users = s:execute(stmt):scalars():unique():all()
    assert.same({ "ann", "bob" }, names(users))
    local rows = s:execute(stmt):unique():all()
    assert.equal(2, #rows)
    assert.truthy(rawequal(rows[1].User, users[1]))
  end)

  it("changes the result in place and returns it", function()
    local r = s:execute(orm.select(U.age):order_by(U.id))
    assert.truthy(rawequal(r, r:unique()))
    assert.same({ 30, 20, 40 }, r:scalars():all())
  end)

  it("works with fetchone, fetchmany, iteration and partitions", function()
    local function q() return s:execute(orm.select(U.age):order_by(U.id)):scalars():unique() end
    local r = q()
    assert.equal(30, r:fetchone())
    assert.same({ 20, 40 }, r:fetchmany(5))
    assert.is_nil(r:fetchone())
    local seen = {}
    for age in q() do seen[#seen + 1] = age end
    assert.same({ 30, 20, 40 }, seen)
    local parts = {}
    for part in q():partitions(2) do parts[#parts + 1] = part end
    assert.same({ { 30, 20 }, { 40 } }, parts)
    assert.equal(3, #q())
  end)

  it("lets one() ignore duplicates of the one row", function()
    local stmt = orm.select(U):join(A, A.user_id:eq(U.id)):where(U.name:eq("ann"))
    assert.equal("MultipleResultsFound", pcall_err(function() return s:execute(stmt):scalars():one() end).kind)
    assert.equal("ann", s:execute(stmt):scalars():unique():one().name)
    assert.equal("ann", s:execute(stmt):unique():scalar_one().name)
    assert.equal(30, s:execute(orm.select(U.age):where(U.age:eq(30))):scalars():unique():one())
  end)

  it("applies to mappings", function()
    local maps = s:execute(orm.select(U.age):order_by(U.id)):mappings():unique():all()
    assert.same({ { age = 30 }, { age = 20 }, { age = 40 } }, maps)
  end)
end)

describe("mappings()", function()
  local env, U, A, s
  before_each(function()
    env = setup()
    U, A, s = env.User, env.Address, env.s
  end)
  after_each(function() s:close() end)

  it("yields tables keyed by column name and label", function()
    local maps = s:execute(orm.select(U.id, U.name:label("who"), U.score):where(U.id:le(3)):order_by(U.id)):mappings():all()
    assert.same({ { id = 1, who = "ann", score = 1.5 }, { id = 2, who = "bob", score = 2.0 }, { id = 3, who = "carl" } }, maps)
  end)

  it("keys an entity by its class name", function()
    local m = s:execute(orm.select(U, A.email):join(A, A.user_id:eq(U.id)):where(A.id:eq(3))):mappings():one()
    assert.equal("bob", m.User.name)
    assert.equal("bob@a.org", m.email)
  end)

  it("supports first, fetchone, fetchmany, one_or_none and iteration", function()
    local function q() return s:execute(orm.select(U.name):order_by(U.id)):mappings() end
    assert.same({ name = "ann" }, q():first())
    local r = q()
    assert.same({ name = "ann" }, r:fetchone())
    assert.same({ { name = "bob" }, { name = "carl" } }, r:fetchmany(2))
    assert.is_nil(s:execute(orm.select(U.name):where(U.id:eq(9))):mappings():one_or_none())
    local seen = {}
    for m in q() do seen[#seen + 1] = m.name end
    assert.same({ "ann", "bob", "carl", "dora" }, seen)
    assert.equal("MultipleResultsFound", pcall_err(function() return q():one() end).kind)
  end)
end)

describe("Row", function()
  local env, U, A, s
  before_each(function()
    env = setup()
    U, A, s = env.User, env.Address, env.s
  end)
  after_each(function() s:close() end)

  local function row_of(...)
    return s:execute(orm.select(...):where(U.id:eq(1))):one()
  end

  it("gives values by name, by 1-based position and a length", function()
    local row = row_of(U.id, U.name, U.age, U.active, U.score)
    assert.equal(1, row.id)
    assert.equal("ann", row.name)
    assert.equal(30, row.age)
    assert.equal(true, row.active)
    assert.equal(1.5, row.score)
    assert.equal(1, row[1])
    assert.equal("ann", row[2])
    assert.equal(1.5, row[5])
    assert.is_nil(row[6])
    assert.is_nil(row[0])
    assert.equal(5, #row)
  end)

  it("counts and gives NULL columns as nil", function()
    local row = s:execute(orm.select(U.name, U.active, U.score):where(U.id:eq(3))):one()
    assert.equal(3, #row)
    assert.is_nil(row.active)
    assert.is_nil(row.score)
    assert.is_nil(row[3])
  end)

  it("raises for an unknown column name, naming it", function()
    local row = row_of(U.id, U.name)
    local err = pcall_err(function() return row.nmae end)
    assert.equal("InvalidRequestError", err.kind)
    assert.equal("Could not locate column in row for column 'nmae'", err.message)
  end)

  it("renders like SQLAlchemy's tuple repr", function()
    assert.equal("(1, 'ann')", tostring(row_of(U.id, U.name)))
    assert.equal("('ann',)", tostring(row_of(U.name)))
    assert.equal("(30, True, 1.5)", tostring(row_of(U.age, U.active, U.score)))
    local row = s:execute(orm.select(U.name, U.active, U.score):where(U.id:eq(3))):one()
    assert.equal("('carl', None, None)", tostring(row))
    row = s:execute(orm.select(U.active, U.score):where(U.id:eq(2))):one()
    assert.equal("(False, 2.0)", tostring(row))
    row = s:execute(orm.text("SELECT 'it''s' AS a, 'say \"hi\"' AS b, 2.5 AS c")):one()
    assert.equal([[("it's", 'say "hi"', 2.5)]], tostring(row))
    assert.equal("(User(ann), 'ann@a.org')",
      tostring(s:execute(orm.select(U, A.email):join(A, A.user_id:eq(U.id)):where(A.id:eq(1))):one()))
  end)

  it("gives an entity by its class name and position", function()
    local row = s:execute(orm.select(U, A):join(A, A.user_id:eq(U.id)):where(A.id:eq(3))):one()
    assert.equal(2, #row)
    assert.equal("bob", row.User.name)
    assert.equal("bob@a.org", row.Address.email)
    assert.truthy(rawequal(row.User, row[1]))
    assert.truthy(rawequal(row.User, s:get(U, 2)))
    assert.truthy(rawequal(row.Address, row[2]))
  end)

  it("uses labels as names", function()
    local row = s:execute(orm.select(U.name:label("who"), orm.func.count(A.id):label("n"))
      :join(A, A.user_id:eq(U.id)):group_by(U.name):order_by(U.name)):first()
    assert.equal("ann", row.who)
    assert.equal(2, row.n)
    assert.equal("InvalidRequestError", pcall_err(function() return row.name end).kind)
  end)

  it("has _mapping, _fields, _asdict() and _tuple()", function()
    local row = row_of(U.id, U.name:label("who"), U.score)
    assert.same({ id = 1, who = "ann", score = 1.5 }, row._mapping)
    assert.same({ "id", "who", "score" }, row._fields)
    assert.same({ id = 1, who = "ann", score = 1.5 }, row:_asdict())
    assert.same({ 1, "ann", 1.5 }, row:_tuple())
  end)

  it("compares equal to a row of the same values", function()
    local rows = s:execute(orm.select(U.age):order_by(U.id)):all()
    assert.truthy(rows[1] == rows[4])
    assert.falsy(rows[1] == rows[2])
  end)

  it("can be walked with ipairs", function()
    if not LUA.ipairs_index then return pending(LUA.skip("ipairs over a userdata honours __index from Lua 5.3 on")) end
    local out = {}
    for i, v in ipairs(row_of(U.id, U.name, U.age)) do out[i] = v end
    assert.same({ 1, "ann", 30 }, out)
  end)
end)

describe("rowcount and results without rows", function()
  local env, U, s
  before_each(function()
    env = setup()
    U, s = env.User, env.s
  end)
  after_each(function() s:close() end)

  it("gives the rows an UPDATE or DELETE in SQL text matched", function()
    local r = s:execute(orm.text("UPDATE users SET age = age + 1 WHERE age = :a"), { a = 30 })
    assert.equal(2, r.rowcount)
    assert.falsy(r.returns_rows)
    assert.equal(0, s:execute(orm.text("UPDATE users SET age = 0 WHERE id > 99")).rowcount)
    assert.equal(1, s:execute(orm.text("DELETE FROM addresses WHERE id = 3")).rowcount)
    assert.equal(2, s:execute(orm.text("SELECT count(*) FROM addresses")):scalar())
  end)

  it("gives the rows an orm.update or orm.delete matched", function()
    assert.equal(2, s:execute(orm.update(U):where(U.age:eq(30)):values{ age = 31 }).rowcount)
    assert.equal(1, s:execute(orm.delete(U):where(U.id:eq(3))).rowcount)
  end)

  it("gives the rows a bulk orm.insert inserted", function()
    local r = s:execute(orm.insert(U), { { name = "eve" }, { name = "fay" }, { name = "gus" } })
    assert.equal(3, r.rowcount)
    assert.equal(7, s:execute(orm.select(orm.func.count(U.id))):scalar())
  end)

  it("gives rowcount on a connection", function()
    local conn = env.engine:connect()
    assert.equal(4, conn:execute(orm.text("UPDATE users SET name = upper(name)")).rowcount)
    conn:rollback()
    conn:close()
  end)

  it("is -1 for a SELECT, as SQLite's cursor reports", function()
    local r = s:execute(orm.select(U))
    assert.equal(-1, r.rowcount)
    assert.truthy(r.returns_rows)
  end)

  it("refuses to fetch rows from a statement that returns none", function()
    local r = s:execute(orm.text("UPDATE users SET age = 1 WHERE id = 1"))
    local err = pcall_err(function() return r:all() end)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(err.message:find("does not return rows", 1, true))
    assert.equal("InvalidRequestError", pcall_err(function() return r:first() end).kind)
    assert.equal("InvalidRequestError", pcall_err(function() return r:scalar() end).kind)
    assert.equal("InvalidRequestError", pcall_err(function() return r:one() end).kind)
    assert.truthy(r.closed)
  end)
end)

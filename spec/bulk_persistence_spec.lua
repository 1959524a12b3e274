-- Bulk persistence without the unit of work (SQLAlchemy 2.0's "ORM Bulk UPDATE by Primary
-- Key" and the legacy bulk methods), checked against SQLAlchemy 2.0.58:
-- session:execute(orm.update(Model), rows) runs executemany UPDATEs keyed by each row's
-- primary key and keeps loaded attributes of the session's objects in step;
-- bulk_save_objects / bulk_insert_mappings / bulk_update_mappings write rows with no
-- events, no cascades, and never attach the objects.
local orm = require("lualchemy")
local generic = generic_sql or function(s) return s end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
  })
  local Base = orm.declarative_base()
  env.User = Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50)),
    age = orm.Column(orm.Integer, { default = 3 }),
  })
  Base.metadata:create_all(env.engine)
  local s = orm.Session(env.engine)
  s:add_all({ env.User{ id = 1, name = "a", age = 1 }, env.User{ id = 2, name = "b", age = 2 },
    env.User{ id = 3, name = "c", age = 3 } })
  s:commit()
  s:close()
  env.session = orm.Session(env.engine)
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  function env.count(prefix)
    local n = 0
    for _, sql in ipairs(env.log) do if sql:sub(1, #prefix) == prefix then n = n + 1 end end
    return n
  end
  function env.find(prefix)
    local out = {}
    for _, sql in ipairs(env.log) do if sql:sub(1, #prefix) == prefix then out[#out + 1] = sql end end
    return out
  end
  function env.rows()
    local conn = env.engine:connect()
    local out = {}
    for row in conn:execute(orm.text("SELECT id, name, age FROM users ORDER BY id")) do
      out[#out + 1] = { row.id, row.name, row.age }
    end
    conn:close()
    return out
  end
  return env
end

describe("ORM bulk UPDATE by primary key", function()
  it("updates each row by its key, one statement per run of rows setting the same columns", function()
    local env = setup()
    local s, User = env.session, env.User
    env.clear()
    local r = s:execute(orm.update(User), { { id = 1, name = "x" }, { id = 2, name = "y" }, { id = 3, age = 30 } })
    assert.equal(3, r.rowcount)
    local updates = env.find("UPDATE")
    assert.equal(2, #updates)
    -- (PostgreSQL and MySQL join each batch to its rows: the SET names the same columns)
    assert.truthy(updates[1]:find("name") and not updates[1]:find("age"), updates[1])
    assert.truthy(updates[2]:find("age") and not updates[2]:find("name"), updates[2])
    assert.equal(0, env.count("SELECT"))
    s:commit()
    assert.same({ { 1, "x", 1 }, { 2, "y", 2 }, { 3, "c", 30 } }, env.rows())
  end)

  it("keeps loaded attributes of the session's objects in step, as SQLAlchemy's evaluate", function()
    local env = setup()
    local s, User = env.session, env.User
    local u1, u2, u3 = s:get(User, 1), s:get(User, 2), s:get(User, 3)
    s:expire(u2)                 -- expired as a whole: stays expired
    s:expire(u3, { "name" })     -- name expired, age loaded
    s:execute(orm.update(User), { { id = 1, name = "x" }, { id = 2, name = "y" }, { id = 3, name = "z", age = 77 } })
    env.clear()
    assert.equal("x", u1.name)
    assert.is_false(s:is_modified(u1))
    assert.equal(0, #s.dirty)
    assert.equal(77, u3.age)
    assert.equal(0, env.count("SELECT"))
    local st3 = orm.inspect(u3)
    assert.is_false(st3.attrs.name.loaded)
    assert.is_false(orm.inspect(u2).attrs.name.loaded)
    assert.equal("y", u2.name)      -- loads from the database
    assert.equal("z", u3.name)
    assert.equal(2, env.count("SELECT"))
  end)

  it("flushes pending changes first (autoflush)", function()
    local env = setup()
    local s, User = env.session, env.User
    local u2 = s:get(User, 2)
    u2.age = 20
    env.clear()
    s:execute(orm.update(User), { { id = 2, name = "y" } })
    local updates = env.find("UPDATE")
    assert.equal(2, #updates)
    assert.truthy(updates[1]:find("SET age=?", 1, true))
    assert.equal(20, u2.age)
    assert.equal("y", u2.name)
  end)

  it("leaves objects alone with synchronize_session = false", function()
    local env = setup()
    local s, User = env.session, env.User
    local u1 = s:get(User, 1)
    s:execute(orm.update(User), { { id = 1, name = "m" } }, { synchronize_session = false })
    assert.equal("a", u1.name)
    s:refresh(u1)
    assert.equal("m", u1.name)
  end)

  it("applies :values{} to every row and :where() criteria only without synchronization", function()
    local env = setup()
    local s, User = env.session, env.User
    s:execute(orm.update(User):values{ age = 50 }, { { id = 1, name = "q" } })
    local err = pcall_err(s.execute, s, orm.update(User):where(User.age:gt(2)), { { id = 1, name = "z" } })
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("synchronize_session", 1, true))
    -- with synchronization off the criteria are ANDed; a row they leave out is no error
    local r = s:execute(orm.update(User):where(User.age:gt(2)), { { id = 2, name = "w" }, { id = 3, name = "v" } },
      { synchronize_session = false })
    assert.equal(1, r.rowcount)
    s:commit()
    assert.same({ { 1, "q", 50 }, { 2, "b", 2 }, { 3, "v", 3 } }, env.rows())
  end)

  it("raises for a row without its key, a row that matches nothing, and what it does not support", function()
    local env = setup()
    local s, User = env.session, env.User
    local err = pcall_err(s.execute, s, orm.update(User), { { id = 1, name = "x" }, { name = "y" } })
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("No primary key value supplied for column(s) users.id", 1, true), tostring(err))
    err = pcall_err(s.execute, s, orm.update(User), { { id = 99, name = "x" } })
    assert.equal("StaleDataError", err.kind)
    assert.truthy(tostring(err):find("expected to update 1 row(s); 0 were matched", 1, true))
    -- the session goes on (SQLAlchemy's session.execute does not fail the transaction)
    assert.is_true(s.is_active)
    err = pcall_err(s.execute, s, orm.update(User), { { id = 1, name = "x" } }, { synchronize_session = "fetch" })
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("'fetch'", 1, true))
    err = pcall_err(s.execute, s, orm.update(User):returning(User.id), { { id = 1, name = "x" } })
    assert.equal("InvalidRequestError", err.kind)
    err = pcall_err(s.execute, s, orm.delete(User), { { id = 1 } })
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("bulk ORM DELETE", 1, true))
    err = pcall_err(s.execute, s, orm.update(User), { { id = 1, nmae = "x" } })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("nmae", 1, true) and tostring(err):find("User", 1, true))
    -- a row of only its key sets nothing
    env.clear()
    s:execute(orm.update(User), { { id = 1 } })
    assert.equal(0, env.count("UPDATE"))
  end)
end)

describe("ORM bulk UPDATE by primary key with onupdate defaults", function()
  it("sets each row's onupdate columns, as Core's UPDATE adds them", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local calls = 0
    local Doc = Base:model("Doc", {
      __tablename__ = "docs",
      id = orm.Column(orm.Integer, { primary_key = true }),
      title = orm.Column(orm.String(20)),
      rev = orm.Column(orm.Integer, { onupdate = function() calls = calls + 1; return calls end }),
      state = orm.Column(orm.String(10), { onupdate = "edited" }),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    s:add_all({ Doc{ id = 1, title = "a" }, Doc{ id = 2, title = "b" } })
    s:commit()
    s:execute(orm.update(Doc), { { id = 1, title = "x" }, { id = 2, title = "y" } })
    s:bulk_update_mappings(Doc, { { id = 2, title = "z", state = "kept" } })
    s:commit()
    local rows = s:execute(orm.select(Doc.id, Doc.title, Doc.rev, Doc.state):order_by(Doc.id)):all()
    assert.same({ 1, "x", 1, "edited" }, { rows[1].id, rows[1].title, rows[1].rev, rows[1].state })
    assert.same({ 2, "z", 3, "kept" }, { rows[2].id, rows[2].title, rows[2].rev, rows[2].state })
  end)
end)

describe("ORM bulk INSERT", function()
  it("inserts a list of rows and returns entities with :returning(Model)", function()
    local env = setup()
    local s, User = env.session, env.User
    if SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb" then
      -- no INSERT ... RETURNING in lualchemy's MySQL dialect (as SQLAlchemy's for MySQL)
      local err = pcall_err(s.execute, s, orm.insert(User):returning(User), { { name = "d" } })
      assert.equal("ArgumentError", err.kind)
      return
    end
    local r = s:execute(orm.insert(User):returning(User), { { name = "d" }, { name = "e", age = 9 } })
    local users = r:scalars():all()
    assert.equal(2, #users)
    assert.equal("d", users[1].name)
    assert.equal(3, users[1].age)
    assert.equal(9, users[2].age)
    assert.is_true(orm.inspect(users[1]).persistent)
    assert.equal(users[2], s:get(User, users[2].id))
  end)
end)

describe("legacy bulk methods", function()
  it("bulk_save_objects inserts without attaching, running no events", function()
    local env = setup()
    local s, User = env.session, env.User
    local fired = 0
    orm.event.listen(User, "before_insert", function() fired = fired + 1 end)
    local a, b, c = User{ name = "d" }, User{ name = "e", age = 7 }, User{ id = 10, name = "f" }
    env.clear()
    s:bulk_save_objects({ a, b, c })
    assert.equal(0, fired)
    assert.is_true(orm.inspect(a).transient)
    assert.is_nil(a.id)
    assert.equal(0, #s.new)
    assert.equal(2, env.count("INSERT"))   -- two column shapes: (name, age) and (id, name, age)
    s:commit()
    assert.same({ 4, "d", 3 }, env.rows()[4])
    assert.same({ 5, "e", 7 }, env.rows()[5])
    assert.same({ 10, "f", 3 }, env.rows()[6])
  end)

  it("bulk_save_objects with return_defaults gives the objects their key, detached", function()
    local env = setup()
    local s, User = env.session, env.User
    local a = User{ name = "d" }
    s:bulk_save_objects({ a }, { return_defaults = true })
    local st = orm.inspect(a)
    assert.is_true(st.detached)
    assert.equal(4, a.id)
    assert.same({ 4 }, st.identity)
    assert.equal(3, a.age)
    assert.is_nil(st.session)
    assert.equal(0, #s.new)
  end)

  it("bulk_save_objects updates objects with a key: changed attributes, or all of them", function()
    local env = setup()
    local s, User = env.session, env.User
    local u = s:get(User, 1)
    u.name = "n"
    env.clear()
    s:bulk_save_objects({ u })
    local ups = env.find("UPDATE")
    assert.equal(1, #ups)
    assert.truthy(ups[1]:find("SET name=%?%s+WHERE"), ups[1])
    -- the object is left as it was: still dirty, as SQLAlchemy leaves it
    assert.is_true(s:is_modified(u))
    env.clear()
    s:bulk_save_objects({ u }, { update_changed_only = false })
    ups = env.find("UPDATE")
    assert.truthy(ups[1]:find("SET name=%?, age=%?%s+WHERE"), ups[1])
    -- an unchanged object is skipped
    local u2 = s:get(User, 2)
    env.clear()
    s:bulk_save_objects({ u2 })
    assert.equal(0, env.count("UPDATE"))
  end)

  it("bulk_insert_mappings inserts dictionaries, filling defaults; return_defaults sets the keys", function()
    local env = setup()
    local s, User = env.session, env.User
    local rows = { { name = "m1" }, { name = "m2", age = 1 } }
    s:bulk_insert_mappings(User, rows)
    assert.is_nil(rows[1].id)
    local more = { { name = "r1" }, { name = "r2" } }
    s:bulk_insert_mappings(User, more, { return_defaults = true })
    assert.equal(6, more[1].id)
    assert.equal(7, more[2].id)
    -- orm.null() leaves the column out (its default applies) unless render_nulls
    s:bulk_insert_mappings(User, { { name = "n1", age = orm.null() } })
    s:bulk_insert_mappings(User, { { name = "n2", age = orm.null() } }, { render_nulls = true })
    s:commit()
    local rs = env.rows()
    assert.same({ 4, "m1", 3 }, rs[4])
    assert.same({ 5, "m2", 1 }, rs[5])
    assert.same({ 8, "n1", 3 }, rs[8])
    assert.same({ 9, "n2" }, rs[9])
  end)

  it("bulk_update_mappings updates by key without touching the session's objects", function()
    local env = setup()
    local s, User = env.session, env.User
    local u1 = s:get(User, 1)
    env.clear()
    s:bulk_update_mappings(User, { { id = 1, name = "up1" }, { id = 2, age = 22 } })
    assert.equal(2, env.count("UPDATE"))
    assert.equal("a", u1.name)
    s:commit()
    assert.same({ { 1, "up1", 1 }, { 2, "b", 22 }, { 3, "c", 3 } }, env.rows())
  end)

  it("a failed bulk method rolls the transaction back, as a failed flush does", function()
    local env = setup()
    local s, User = env.session, env.User
    s:bulk_insert_mappings(User, { { name = "gone" } })
    local err = pcall_err(s.bulk_update_mappings, s, User, { { id = 99, name = "x" } })
    assert.equal("StaleDataError", err.kind)
    err = pcall_err(s.execute, s, orm.select(User))
    assert.equal("PendingRollbackError", err.kind)
    s:rollback()
    assert.equal(3, #env.rows())
  end)

  it("raises clear errors for bad input", function()
    local env = setup()
    local s, User = env.session, env.User
    local err = pcall_err(s.bulk_insert_mappings, s, User, { { nmae = "x" } })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("nmae", 1, true))
    err = pcall_err(s.bulk_save_objects, s, { User{ name = "x" } }, { return_default = true })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("return_defaults", 1, true))
    err = pcall_err(s.bulk_insert_mappings, s, User, { { name = "x" } }, { render_null = true })
    assert.equal("ArgumentError", err.kind)
    err = pcall_err(s.bulk_update_mappings, s, User, { { name = "x" } })
    assert.equal("InvalidRequestError", err.kind)
    err = pcall_err(s.bulk_save_objects, s, { {} })
    assert.truthy(err)
  end)
end)

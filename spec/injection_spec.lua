-- Hostile input: SQL in values is bound, never spliced; SQL in attribute names (filter_by
-- keys, order_by names, constructor keys, insert keys) is refused with an orm.Error naming
-- the model; the tables survive every attempt.
local orm = require("lualchemy")

local HOSTILE = {
  "x'; DROP TABLE users; --",
  "x\"; DROP TABLE users; --",
  "1 OR 1=1",
  "') OR ('1'='1",
  "name = 'ed' --",
  "\0nul byte",
  "users; DELETE FROM users",
}

describe("hostile input", function()
  local engine, User, s, statements

  before_each(function()
    statements = {}
    engine = orm.create_engine("sqlite://", {
      echo = function(sql) statements[#statements + 1] = sql end,
    })
    local Base = orm.declarative_base()
    User = Base:model("User", {
      __tablename__ = "users",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(100)),
    })
    Base.metadata:create_all(engine)
    s = orm.Session(engine)
    s:add_all({ User{ name = "ed" }, User{ name = "wendy" } })
    s:commit()
  end)
  after_each(function() s:close() end)

  local function table_survives()
    local names = {}
    for u in s:scalars(orm.select(User):order_by(User.id)) do names[#names + 1] = u.name end
    assert.equal("ed", names[1])
    assert.equal("wendy", names[2])
  end

  local function no_hostile_text_in_sql(h)
    for _, sql in ipairs(statements) do
      assert.is_nil(sql:find(h, 1, true), "value spliced into SQL: " .. sql)
    end
  end

  -- PostgreSQL text cannot hold a NUL byte: there a bound NUL is refused with a DataError,
  -- which aborts the transaction; SQLite and MySQL store it as any other byte
  local function nul_refused(h)
    return SPEC_DIALECT == "postgresql" and h:find("\0", 1, true) ~= nil
  end

  local function assert_data_error(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok)
    assert.equal("DataError", err.kind, tostring(err))
    s:rollback()
  end

  -- a query binding h matches no row (count() gives the rows it found), or is refused
  local function matches_nothing(h, count)
    if nul_refused(h) then
      assert_data_error(count)
    else
      assert.equal(0, count())
    end
  end

  it("binds hostile strings used as values in where, filter_by and get", function()
    for _, h in ipairs(HOSTILE) do
      matches_nothing(h, function() return #s:scalars(orm.select(User):where(User.name:eq(h))):all() end)
      matches_nothing(h, function() return #s:scalars(orm.select(User):filter_by{ name = h }):all() end)
      matches_nothing(h, function() return #s:scalars(orm.select(User):where(User.name:like(h))):all() end)
      matches_nothing(h, function() return #s:scalars(orm.select(User):where(User.name:in_({ h, h .. "2" }))):all() end)
      local ok, err = pcall(function() return s:get(User, h) end)
      assert.is_false(ok) -- a string is no Integer key
      assert.truthy(err.message:find("User.id", 1, true), err.message)
      no_hostile_text_in_sql(h)
    end
    table_survives()
  end)

  it("stores hostile strings as data, byte for byte", function()
    for i, h in ipairs(HOSTILE) do
      if nul_refused(h) then
        assert_data_error(function()
          s:add(User{ id = 100 + i, name = h })
          s:commit()
        end)
      end
    end
    for i, h in ipairs(HOSTILE) do
      if not nul_refused(h) then s:add(User{ id = 100 + i, name = h }) end
    end
    s:commit()
    for i, h in ipairs(HOSTILE) do
      s:expire_all()
      if nul_refused(h) then
        assert.is_nil(s:get(User, 100 + i))
      else
        assert.equal(h, s:get(User, 100 + i).name)
        assert.equal(100 + i, s:scalar(orm.select(User.id):where(User.name:eq(h))))
      end
    end
    s:execute(orm.insert(User), { { name = HOSTILE[1] }, { name = HOSTILE[2] } })
    s:commit()
    assert.equal(2, #s:scalars(orm.select(User):where(User.name:eq(HOSTILE[1]))):all())
    for _, h in ipairs(HOSTILE) do no_hostile_text_in_sql(h) end
    table_survives()
  end)

  it("binds hostile strings in orm.text parameters", function()
    for _, h in ipairs(HOSTILE) do
      matches_nothing(h, function()
        return s:execute(orm.text("SELECT count(*) FROM users WHERE name = :n"), { n = h }):scalar()
      end)
      no_hostile_text_in_sql(h)
    end
    table_survives()
  end)

  it("refuses hostile filter_by keys, naming the model", function()
    for _, h in ipairs(HOSTILE) do
      local ok, err = pcall(function() return s:scalars(orm.select(User):filter_by{ [h] = 1 }):all() end)
      assert.is_false(ok)
      assert.equal("ArgumentError", err.kind)
      assert.truthy(err.message:find("User", 1, true), err.message)
    end
    table_survives()
  end)

  it("refuses hostile order_by names, naming the model", function()
    for _, h in ipairs(HOSTILE) do
      local ok, err = pcall(function() return s:scalars(orm.select(User):order_by(h)):all() end)
      assert.is_false(ok)
      assert.equal("ArgumentError", err.kind)
      assert.truthy(err.message:find("User", 1, true), err.message)
    end
    table_survives()
  end)

  it("refuses hostile constructor and bulk insert keys", function()
    for _, h in ipairs(HOSTILE) do
      local ok, err = pcall(function() return User{ [h] = 1 } end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("User", 1, true), tostring(err))
      ok, err = pcall(function() s:execute(orm.insert(User), { { [h] = 1 } }) end)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("User", 1, true), tostring(err))
    end
    s:rollback()
    table_survives()
  end)

  it("quotes identifiers that need it, so odd table and column names work", function()
    local Base = orm.declarative_base()
    local Odd = Base:model("Odd", {
      __tablename__ = "order",
      id = orm.Column(orm.Integer, { primary_key = true }),
      select = orm.Column(orm.String(20)),
      ["Mixed Case"] = orm.Column(orm.String(20)),
    })
    Base.metadata:create_all(engine)
    s:add(Odd{ select = "a", ["Mixed Case"] = "b" })
    s:commit()
    local o = s:scalars(orm.select(Odd):where(Odd.select:eq("a"))):one()
    assert.equal("b", o["Mixed Case"])
    table_survives()
  end)
end)

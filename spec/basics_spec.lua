-- The core CRUD path end to end: declare, create, add/commit, query, update, delete.
local orm = require("lualchemy")

local function setup_models()
  local engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local User = Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
    email = orm.Column(orm.String(100), { unique = true }),
  })
  Base.metadata:create_all(engine)
  return engine, User
end

describe("basic CRUD", function()
  local engine, User, session
  before_each(function()
    engine, User = setup_models()
    session = orm.Session(engine)
  end)
  after_each(function() session:close() end)

  it("generates primary keys on commit and reloads after expiry", function()
    local u = User{ name = "ed", email = "ed@x" }
    session:add(u)
    assert.is_nil(u.id)
    session:commit()
    assert.equal(1, u.id)
    assert.equal("ed", u.name)
  end)

  it("returns the same Lua value for the same row", function()
    session:add(User{ name = "ed" })
    session:commit()
    local a = session:get(User, 1)
    assert.truthy(rawequal(a, session:get(User, 1)))
    assert.truthy(rawequal(a, session:scalars(orm.select(User)):one()))
  end)

  it("updates only changed columns and deletes rows", function()
    local statements = {}
    local e2 = orm.create_engine("sqlite://", { echo = function(sql) statements[#statements + 1] = sql end })
    local Base = orm.declarative_base()
    local T = Base:model("T", {
      __tablename__ = "t",
      id = orm.Column(orm.Integer, { primary_key = true }),
      a = orm.Column(orm.Integer),
      b = orm.Column(orm.Integer),
    })
    Base.metadata:create_all(e2)
    local s = orm.Session(e2)
    local t = T{ a = 1, b = 2 }
    s:add(t)
    s:flush()
    statements = {}
    t.a = 5
    s:flush()
    assert.equal("UPDATE t SET a=? \nWHERE t.id = ?", statements[1])
    statements = {}
    t.b = 3
    t.b = 2
    s:flush()
    assert.equal(0, #statements)
    s:delete(t)
    s:commit()
    assert.equal(0, s:scalar(orm.select(orm.func.count(T.id))))
  end)

  it("refuses unknown constructor keys, naming model and key", function()
    assert.has_error(function() User{ nmae = "x" } end, "ArgumentError: 'nmae' is an invalid keyword argument for User")
  end)

  it("rolls back a failed flush and recovers", function()
    session:add(User{ name = "ed", email = "dup" })
    session:commit()
    local u = User{ name = "x", email = "dup" }
    session:add(u)
    local ok, err = pcall(session.flush, session)
    assert.falsy(ok)
    assert.equal("IntegrityError", err.kind)
    assert.truthy(err:is("DBAPIError"))
    local ok2, err2 = pcall(function() return session:scalars(orm.select(User)):all() end)
    assert.falsy(ok2)
    assert.equal("PendingRollbackError", err2.kind)
    session:rollback()
    assert.truthy(orm.inspect(u).transient)
    assert.equal(1, #session:scalars(orm.select(User)):all())
  end)
end)

-- requires: Lua 5.3
-- The operators Lua 5.3 added, on SQL expressions: `//` is floor division, as SQLAlchemy's
-- `//`; `&`, `|` and `~` combine conditions as orm.and_, orm.or_ and orm.not_. Lua 5.1, 5.2,
-- LuaJIT and Luau cannot parse this file; there the functions serve (docs/LUA_VERSIONS.md).
local orm = require("lualchemy")

local generic = generic_sql

-- players: (1, kills 10, level 3, score 2.5), (2, kills 7, level 1, score 5.0),
--          (3, kills -7, level 2, score -2.5)
local function players()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Player = Base:model("Player", {
    __tablename__ = "players",
    id = orm.Column(orm.Integer, { primary_key = true }),
    kills = orm.Column(orm.Integer),
    level = orm.Column(orm.Integer),
    score = orm.Column(orm.Float),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  local P = env.Player
  env.s:add_all({
    P{ id = 1, kills = 10, level = 3, score = 2.5 },
    P{ id = 2, kills = 7, level = 1, score = 5.0 },
    P{ id = 3, kills = -7, level = 2, score = -2.5 },
  })
  env.s:commit()
  -- the values of one selected expression, by id
  function env.values(e)
    local out = {}
    for _, row in ipairs(env.s:execute(orm.select(e):order_by(P.id)):all()) do
      out[#out + 1] = row[1]
    end
    return out
  end
  function env.last_select()
    for i = #env.log, 1, -1 do
      if env.log[i]:find("^SELECT") then return generic(env.log[i]) end
    end
  end
  return env
end

describe("floor division (//)", function()
  local env, P
  before_each(function() env = players(); P = env.Player end)

  it("of integers is the database's integer division, as SQLAlchemy renders it", function()
    assert.same({ 2, 1 }, { env.values(P.kills // 4)[1], env.values(P.kills // 4)[2] })
    assert.equal(math.type(env.values(P.kills // 4)[1]), "integer")
    env.values(P.kills // 4)
    local expected = for_dialect({
      sqlite = "SELECT players.kills / ? ",
      postgresql = "SELECT players.kills / ? ",
      mysql = "SELECT FLOOR(players.kills / ?) ",
    })
    assert.truthy(env.last_select():find(expected, 1, true), env.last_select())
  end)

  it("of a float is FLOOR(a / b)", function()
    assert.equal("FLOOR(players.score / ?)", tostring(P.score // 2))
    assert.same({ 1, 2, -2 }, env.values(P.score // 2))
  end)

  it("works with the number on the left", function()
    assert.same({ 10, 30, 15 }, env.values(30 // P.level))
  end)
end)

local function users()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql, params) env.log[#env.log + 1] = { sql = sql, params = params } end,
  })
  env.Base = orm.declarative_base()
  env.User = env.Base:model("User", {
    __tablename__ = "users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50), { nullable = false }),
    age = orm.Column(orm.Integer),
    email = orm.Column(orm.String(100)),
  })
  env.Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  env.s:add_all({
    env.User{ name = "ann", age = 30, email = "ann@example.com" },
    env.User{ name = "Bob", age = 20, email = "bob@test.org" },
    env.User{ name = "carl", age = 40 },
    env.User{ name = "dora", email = "dora@example.com" },
    env.User{ name = "ed", age = 30, email = "ed@test.org" },
  })
  env.s:commit()
  -- names of the users matching the conditions, in id order
  function env.names(...)
    local stmt = orm.select(env.User)
    if select("#", ...) > 0 then stmt = stmt:where(...) end
    local out = {}
    for u in env.s:scalars(stmt:order_by(env.User.id)) do out[#out + 1] = u.name end
    return out
  end
  function env.clear() for i = #env.log, 1, -1 do env.log[i] = nil end end
  return env
end

describe("&, | and ~", function()
  local env, U
  before_each(function() env = users(); U = env.User end)

  it("are and_, or_ and not_: supports &, | and ~ operators", function()
    assert.same({ "ann" }, env.names(U.age:eq(30) & U.email:like("%example%")))
    assert.same({ "Bob", "carl" }, env.names(U.age:lt(25) | U.age:gt(35)))
    assert.same({ "Bob", "carl" }, env.names(~U.age:eq(30)))
  end)
end)

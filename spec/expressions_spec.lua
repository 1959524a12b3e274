-- SQL expressions as SQLAlchemy 2.0 renders and evaluates them, on whichever database the
-- run is on (SPEC_DIALECT): `/` is true division (integers divided give a fraction, as in
-- Lua), `//` floor division (spec/lua53_operators_spec.lua), a Lua float in arithmetic with an integer column; a labelled
-- expression is `expr AS name` only in the columns, its expression in WHERE / GROUP BY /
-- HAVING and its name in an ORDER BY of the same statement; Lua's `<` / `<=` on an
-- expression raise an error that points at :lt() / :le().
local orm = require("lualchemy")

local generic = generic_sql

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

-- MySQL's `/` gives a DECIMAL of 4 more decimal places (div_precision_increment), as it
-- does under SQLAlchemy: fractions are compared to that precision.
local function same_numbers(expected, actual)
  assert.equal(#expected, #actual)
  for i = 1, #expected do assert.near(expected[i], actual[i], 1e-4) end
end

-- players: (1, kills 10, level 3, score 2.5), (2, kills 7, level 1, score 5.0),
--          (3, kills -7, level 2, score -2.5)
local function setup()
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

describe("true division", function()
  local env, P
  before_each(function() env = setup(); P = env.Player end)

  it("divides integers exactly, as Lua's / does", function()
    assert.same({ 10 / 4, 7 / 4, -7 / 4 }, env.values(P.kills / 4))
    same_numbers({ 10 / 3, 7 / 1, -7 / 2 }, env.values(P.kills / P.level))
    assert.same({ 12 / 3, 12 / 1, 12 / 2 }, env.values(12 / P.level))
    if LUA.integers then assert.equal(math.type(env.values(P.kills / 5)[1]), "float") end
    assert.equal(10 / 4, env.s:scalar(orm.select(P.kills / 4):where(P.id:eq(1))))
  end)

  it("renders as SQLAlchemy does on each dialect", function()
    assert.equal("players.kills / (? + 0.0)", tostring(P.kills / 4))
    env.values(P.kills / (P.level + 1))
    local expected = for_dialect({
      sqlite = "players.kills / ((players.level + ?) + 0.0)",
      postgresql = "players.kills / CAST((players.level + ?) AS NUMERIC)",
      mysql = "players.kills / (players.level + ?)",
    })
    assert.truthy(env.last_select():find(expected, 1, true), env.last_select())
  end)

  it("keeps grouping around it", function()
    assert.same({ 5, 3.5, -3.5 }, env.values(P.kills / 4 * 2))
    assert.same({ 11 / 4, 8 / 4, -6 / 4 }, env.values((P.kills + 1) / 4))
    same_numbers({ 10 / 4, 7 / 2, -7 / 3 }, env.values(P.kills / (P.level + 1)))
  end)

  it("of floats stays a float", function()
    assert.same({ 1.25, 2.5, -1.25 }, env.values(P.score / 2))
  end)

  it("in conditions", function()
    local ids = env.s:scalars(orm.select(P.id):where((P.kills / 4):gt(1.7)):order_by(P.id)):all()
    assert.same({ 1, 2 }, ids)
  end)
end)

-- floor division (`//`, Lua 5.3+): spec/lua53_operators_spec.lua

describe("a float in integer arithmetic", function()
  local env, P
  before_each(function() env = setup(); P = env.Player end)

  it("is bound as the float it is", function()
    assert.same({ 4.5, 1.5, 3.0 }, env.values(P.level * 1.5))
    assert.same({ 3.5, 1.5, 2.5 }, env.values(P.level + 0.5))
    assert.same({ 1.5, 3.5, 2.5 }, env.values(4.5 - P.level))
    assert.same({ 4, 2 / 2.5 * 2, 2 }, { env.values(P.level / 0.75)[1], 2 / 2.5 * 2, 2 / 1 })
  end)

  it("gives a float result even when whole", function()
    local v = env.values(P.level * 2.0)
    assert.equal(6.0, v[1])
    if LUA.integers then assert.equal("float", math.type(v[1])) end
  end)

  it("in a condition", function()
    local ids = env.s:scalars(orm.select(P.id):where((P.level * 1.5):gt(2)):order_by(P.id)):all()
    assert.same({ 1, 3 }, ids)
  end)
end)

describe("a labelled expression", function()
  local env, P
  before_each(function() env = setup(); P = env.Player end)

  it("is its expression in WHERE", function()
    local depth = (P.level + 1):label("depth")
    local stmt = orm.select(P.id, depth):where(depth:ge(3)):order_by(P.id)
    assert.equal(
      "SELECT players.id, players.level + ? AS depth \nFROM players \nWHERE players.level + ? >= ? ORDER BY players.id",
      tostring(stmt))
    local rows = env.s:execute(stmt):all()
    assert.same({ { 1, 4 }, { 3, 3 } }, { { rows[1].id, rows[1].depth }, { rows[2].id, rows[2].depth } })
    -- not selected: the same
    assert.same({ 1, 3 }, env.s:scalars(orm.select(P.id):where(depth:ge(3)):order_by(P.id)):all())
  end)

  it("is its expression in GROUP BY and HAVING", function()
    local band = (P.level * 0 + P.id % 2):label("band")
    local stmt = orm.select(band, orm.func.count():label("n")):group_by(band)
      :having(band:ge(0)):order_by(band)
    assert.equal(
      "SELECT players.level * ? + players.id % ? AS band, count(*) AS n \nFROM players GROUP BY players.level * ? + players.id % ? \nHAVING players.level * ? + players.id % ? >= ? ORDER BY band",
      tostring(stmt))
    local rows = env.s:execute(stmt):all()
    assert.equal(2, #rows)
    assert.same({ 0, 1 }, { rows[1].band, rows[1].n })
    assert.same({ 1, 2 }, { rows[2].band, rows[2].n })
    -- by name
    rows = env.s:execute(orm.select(band, orm.func.count():label("n")):group_by("band"):order_by("band")):all()
    assert.same({ 0, 1, 1, 2 }, { rows[1].band, rows[1].n, rows[2].band, rows[2].n })
  end)

  it("orders by its name when it is one of the columns, else by its expression", function()
    local depth = (P.level + 1):label("depth")
    assert.equal("SELECT players.id, players.level + ? AS depth \nFROM players ORDER BY depth DESC",
      tostring(orm.select(P.id, depth):order_by(depth:desc())))
    assert.equal("SELECT players.id \nFROM players ORDER BY players.level + ?",
      tostring(orm.select(P.id):order_by(depth)))
    assert.same({ 1, 3, 2 }, env.s:scalars(orm.select(P.id, depth):order_by(depth:desc())):all())
    assert.same({ 2, 3, 1 }, env.s:scalars(orm.select(P.id):order_by(depth)):all())
    -- by name, as SQLAlchemy's order_by("depth")
    assert.equal("SELECT players.id, players.level + ? AS depth \nFROM players ORDER BY depth DESC",
      tostring(orm.select(P.id, depth):order_by("-depth")))
    assert.same({ 1, 3, 2 }, env.s:scalars(orm.select(P.id, depth):order_by("-depth")):all())
  end)

  it("with DISTINCT orders by its name", function()
    local half = (P.level - P.level % 2):label("half")
    local stmt = orm.select(half):distinct():order_by(half)
    assert.same({ 0, 2 }, env.s:scalars(stmt):all())
  end)

  it("is its expression inside other expressions", function()
    local depth = (P.level + 1):label("depth")
    assert.equal("players.level + ? + ?", tostring(depth + 1))
    assert.equal("(players.level + ?) * ?", tostring(depth * 2))
    assert.equal("sum(players.level + ?)", tostring(orm.func.sum(depth)))
    assert.equal(9, env.s:scalar(orm.select(orm.func.sum(depth))))
    assert.same({ 8, 4, 6 }, env.values(depth * 2))
  end)
end)

describe("Lua comparison operators on an expression", function()
  local P
  before_each(function() P = setup().Player end)

  it("raise an error naming the method to use", function()
    if not LUA.mixed_compare then
      -- Lua 5.1, 5.2, LuaJIT and Luau call __lt / __le only between two userdata: a number
      -- on one side is Lua's own error, never a boolean
      for _, f in ipairs({ function() return P.level < 30 end, function() return P.level >= 30 end,
                           function() return 30 < P.level end }) do
        assert.truthy(tostring(pcall_err(f)):find("compare", 1, true))
      end
      local err = pcall_err(function() return P.level < P.kills end)
      assert.truthy(tostring(err):find(":lt()", 1, true), tostring(err))
      err = pcall_err(function() return P.level >= P.kills end)
      assert.truthy(tostring(err):find(":le()", 1, true), tostring(err))
      return
    end
    local err = pcall_err(function() return P.level < 30 end)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find(":lt()", 1, true), tostring(err))
    err = pcall_err(function() return P.level <= 30 end)
    assert.truthy(tostring(err):find(":le()", 1, true), tostring(err))
    -- `a > b` is Lua's `b < a`
    err = pcall_err(function() return P.level > 30 end)
    assert.truthy(tostring(err):find(":gt()", 1, true), tostring(err))
    err = pcall_err(function() return P.level >= 30 end)
    assert.truthy(tostring(err):find(":ge()", 1, true), tostring(err))
    err = pcall_err(function() return 30 < P.level end)
    assert.truthy(tostring(err):find(":gt()", 1, true), tostring(err))
    err = pcall_err(function() return P.level < P.kills end)
    assert.truthy(tostring(err):find(":lt()", 1, true), tostring(err))
  end)

  it("raise on an orm.Column too", function()
    local c = orm.Column(orm.Integer)
    -- between two userdata on Lua 5.1, 5.2, LuaJIT and Luau (see above)
    local err = pcall_err(function() return c < (LUA.mixed_compare and 3 or orm.Column(orm.Integer)) end)
    assert.truthy(tostring(err):find(":lt()", 1, true), tostring(err))
  end)
end)

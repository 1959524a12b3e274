-- Window functions and the SQL around them, against real rows on whichever database the
-- run is on (SPEC_DIALECT): func:over{ partition_by, order_by, rows, range } with
-- row_number / rank / dense_rank / lag / lead / sum, func:filter(cond) (FILTER, or CASE
-- where the database has no FILTER), func:within_group(...), orm.tuple_ compared and
-- tested with IN, except_ / intersect (+ _all) beside union, and orm.values rows.
local orm = require("lualchemy")

local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"
local generic = generic_sql or function(s) return s end

local function has(s, needle) return generic(s):find(needle, 1, true) ~= nil end

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return tostring(err)
end

-- scores:  1 ann chess 10
--          2 bob chess 30
--          3 cy  chess 20
--          4 di  go     5
--          5 ed  go    15
--          6 fay go    15
local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = sql end,
  })
  local Base = orm.declarative_base()
  env.Score = Base:model("Score", {
    __tablename__ = "scores",
    id = orm.Column(orm.Integer, { primary_key = true }),
    player = orm.Column(orm.String(20), { nullable = false }),
    game = orm.Column(orm.String(20), { nullable = false }),
    points = orm.Column(orm.Integer),
  })
  Base.metadata:create_all(env.engine)
  local s = orm.Session(env.engine)
  env.s = s
  local S = env.Score
  for i, r in ipairs({
    { "ann", "chess", 10 }, { "bob", "chess", 30 }, { "cy", "chess", 20 },
    { "di", "go", 5 }, { "ed", "go", 15 }, { "fay", "go", 15 },
  }) do
    s:add(S{ id = i, player = r[1], game = r[2], points = r[3] })
  end
  s:commit()
  -- the values of one column of every row, in order; numbers as Lua numbers
  function env.column(stmt, i)
    local out = {}
    for row in s:execute(stmt) do
      local v = row[i or 1]
      out[#out + 1] = v == nil and "nil" or (tonumber(v) or v)
    end
    return out
  end
  return env
end

describe("window functions", function()
  it("numbers and ranks rows within partitions", function()
    local env = setup()
    local S = env.Score
    local rn = orm.func.row_number():over{ partition_by = S.game, order_by = { S.points:desc(), S.id } }
    assert.same({ 3, 1, 2, 3, 1, 2 },
      env.column(orm.select(S.id, rn:label("rn")):order_by(S.id), 2))
    local rank = orm.func.rank():over{ order_by = S.points:desc() }
    local dense = orm.func.dense_rank():over{ order_by = S.points:desc() }
    local stmt = orm.select(S.player, rank:label("r"), dense:label("d")):order_by(S.id)
    -- ann bob cy di ed fay: ties of ed and fay share a rank
    assert.same({ 5, 1, 2, 6, 3, 3 }, env.column(stmt, 2))
    assert.same({ 4, 1, 2, 5, 3, 3 }, env.column(stmt, 3))
    assert.truthy(has(tostring(stmt), "rank() OVER (ORDER BY scores.points DESC) AS r"))
    -- an empty over{} windows the whole result
    assert.same({ 6, 6, 6, 6, 6, 6 },
      env.column(orm.select(orm.func.count(S.id):over{}):select_from(S)))
  end)

  it("reads neighbouring rows with lag and lead", function()
    local env = setup()
    local S = env.Score
    local lag = orm.func.lag(S.points):over{ order_by = S.id }
    local lead = orm.func.lead(S.points, 2):over{ order_by = S.id }
    local stmt = orm.select(lag:label("prev"), lead:label("next2")):order_by(S.id)
    assert.same({ "nil", 10, 30, 20, 5, 15 }, env.column(stmt, 1))
    assert.same({ 20, 5, 15, 15, "nil", "nil" }, env.column(stmt, 2))
    -- the value keeps the column's type
    local row = env.s:execute(orm.select(lag:label("prev")):order_by(S.id):offset(1)):first()
    assert.equal("number", type(row.prev))
  end)

  it("sums over frames: rows { start, end } and range { start, end }", function()
    local env = setup()
    local S = env.Score
    local function sums(over)
      return env.column(orm.select(orm.func.sum(S.points):over(over)):order_by(S.id))
    end
    -- nil = unbounded, 0 = current row: a running total
    local running = { order_by = S.id, rows = { nil, 0 } }
    assert.same({ 10, 40, 60, 65, 80, 95 }, sums(running))
    -- -1 = one row preceding, 1 = one row following
    assert.same({ 40, 60, 55, 40, 35, 30 }, sums{ order_by = S.id, rows = { -1, 1 } })
    -- from the current row to the end
    assert.same({ 95, 85, 55, 35, 30, 15 }, sums{ order_by = S.id, rows = { 0, nil } })
    -- RANGE counts peers (equal points) together, ROWS does not
    assert.same({ 15, 95, 65, 5, 45, 45 }, sums{ order_by = S.points, range = { nil, 0 } })
    assert.same({ 60, 60, 60, 35, 35, 35 }, sums{ partition_by = S.game })
    local sql = tostring(orm.select(orm.func.sum(S.points):over(running)))
    assert.truthy(has(sql, "sum(scores.points) OVER (ORDER BY scores.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"), sql)
    sql = tostring(orm.select(orm.func.sum(S.points):over{ order_by = S.id, range = { -5, 3 } }))
    assert.truthy(has(sql, "RANGE BETWEEN 5 PRECEDING AND 3 FOLLOWING"), sql)
  end)

  it("refuses bad windows with errors naming the problem", function()
    local env = setup()
    local S = env.Score
    local f = orm.func.sum(S.points)
    assert.truthy(pcall_err(function() f:over{ rows = { 2, 1 } } end):find("starts after it ends", 1, true))
    assert.truthy(pcall_err(function() f:over{ rows = { "a", 0 } } end):find("the start must be nil", 1, true))
    assert.truthy(pcall_err(function() f:over{ rows = { nil, 0 }, range = { nil, 0 } } end):find("not both", 1, true))
    assert.truthy(pcall_err(function() f:over{ partition = S.game } end):find("unknown option 'partition'", 1, true))
    assert.truthy(pcall_err(function() S.points:over{} end):find("applies to a function call", 1, true))
  end)
end)

describe("func:filter(cond)", function()
  it("aggregates only the rows the condition keeps", function()
    local env = setup()
    local S = env.Score
    local strong = orm.func.count(S.id):filter(S.points:gt(10))
    local stmt = orm.select(S.game, strong:label("n"), orm.func.sum(S.points):filter(S.points:lt(20)):label("low"))
      :group_by(S.game):order_by(S.game)
    assert.same({ 2, 2 }, env.column(stmt, 2))
    assert.same({ 10, 35 }, env.column(stmt, 3))
    -- count(*) too
    assert.same({ 5 }, env.column(orm.select(orm.func.count():filter(S.points:ge(10))):select_from(S)))
    env.log = {}
    env.column(stmt, 2)
    local sql = env.log[#env.log]
    if ON_MYSQL then
      -- MySQL and MariaDB have no FILTER: the condition moves into the argument
      assert.truthy(has(sql, "count(CASE WHEN scores.points > ? THEN scores.id END)"), sql)
    else
      assert.truthy(has(sql, "count(scores.id) FILTER (WHERE scores.points > ?)"), sql)
    end
    -- FILTER then OVER
    local windowed = orm.func.count(S.id):filter(S.points:gt(10)):over{ partition_by = S.game }
    assert.same({ 2, 2, 2, 2, 2, 2 }, env.column(orm.select(windowed):order_by(S.id)))
    assert.truthy(pcall_err(function() orm.func.count(S.id):filter() end):find("needs a condition", 1, true))
  end)
end)

describe("func:within_group(...)", function()
  it("renders WITHIN GROUP (ORDER BY ...) and runs where the database has it", function()
    local env = setup()
    local S = env.Score
    local median = orm.func.percentile_cont(0.5):within_group(S.points)
    assert.truthy(has(tostring(orm.select(median)), "percentile_cont(?) WITHIN GROUP (ORDER BY scores.points)"))
    assert.truthy(has(tostring(orm.select(orm.func.percentile_disc(0.5):within_group(S.points:desc(), S.id))),
      "WITHIN GROUP (ORDER BY scores.points DESC, scores.id)"))
    if SPEC_DIALECT == "postgresql" then
      assert.same({ 15 }, env.column(orm.select(median)))
      assert.same({ 20, 15 }, env.column(orm.select(median):group_by(S.game):order_by(S.game)))
    elseif SPEC_DIALECT == "mariadb" then
      -- MariaDB has it as a window function
      local stmt = orm.select(median:over{ partition_by = S.game }):order_by(S.id)
      assert.same({ 20, 20, 20, 15, 15, 15 }, env.column(stmt))
    end
    assert.truthy(pcall_err(function() orm.func.mode():within_group() end):find("at least one ORDER BY", 1, true))
  end)
end)

describe("orm.tuple_", function()
  it("compares row values and tests them with in_ / not_in", function()
    local env = setup()
    local S = env.Score
    local pair = orm.tuple_(S.game, S.points)
    local ids = function(cond) return env.column(orm.select(S.id):where(cond):order_by(S.id)) end
    assert.same({ 1, 5, 6 }, ids(pair:in_({ { "chess", 10 }, { "go", 15 } })))
    assert.same({ 2, 3, 4 }, ids(pair:not_in({ { "chess", 10 }, { "go", 15 } })))
    assert.same({ 2 }, ids(pair:eq(orm.tuple_("chess", 30))))
    assert.same({ 2 }, ids(pair:eq({ "chess", 30 })))
    assert.same({}, ids(pair:in_({})))
    assert.same({ 1, 2, 3, 4, 5, 6 }, ids(pair:not_in({})))
    -- against a subquery of the same width
    local best = orm.select(S.game, orm.func.max(S.points)):group_by(S.game)
    assert.same({ 2, 5, 6 }, ids(pair:in_(best)))
    assert.truthy(pcall_err(function() pair:in_({ { "chess" } }) end):find("a tuple of 2 elements cannot take 1 values", 1, true))
    assert.truthy(pcall_err(function() orm.tuple_() end):find("at least one element", 1, true))
  end)
end)

describe("except_ and intersect", function()
  it("subtract and intersect selects, as union joins them", function()
    local env = setup()
    local S = env.Score
    local strong = orm.select(S.id):where(S.points:gt(10))
    local go = orm.select(S.id):where(S.game:eq("go"))
    assert.same({ 2, 3 }, env.column(strong:except_(go):order_by(S.id)))
    assert.same({ 5, 6 }, env.column(strong:intersect(go):order_by(S.id)))
    assert.truthy(has(tostring(strong:except_(go)), "scores.points > ? EXCEPT SELECT scores.id"))
    assert.truthy(has(tostring(strong:intersect_all(go)), " INTERSECT ALL SELECT"))
    if SPEC_DIALECT ~= "sqlite" then
      -- SQLite has no EXCEPT ALL / INTERSECT ALL
      local games = orm.select(S.game)
      local one_go = orm.select(S.game):where(S.id:eq(4))
      assert.same({ "chess", "chess", "chess", "go", "go" },
        env.column(games:except_all(one_go):order_by(S.game)))
      assert.same({ "go" }, env.column(games:intersect_all(one_go)))
    end
    -- UNION, UNION ALL and EXCEPT chain left to right
    local ann = orm.select(S.id):where(S.id:eq(1))
    assert.same({ 1, 2, 3 }, env.column(strong:union_all(ann):except_(go):order_by(S.id)))
    -- INTERSECT binds tighter on some databases than others: not mixed in one chain
    assert.truthy(pcall_err(function() strong:union(go):intersect(go) end):find("mixing set operations", 1, true))
    assert.truthy(pcall_err(function() strong:intersect(go):except_(go) end):find("mixing set operations", 1, true))
    assert.truthy(pcall_err(function() strong:except_(orm.select(S.id, S.game)) end):find("same number of columns", 1, true))
  end)
end)

describe("orm.values", function()
  it("selects and joins literal rows as a FROM item", function()
    local env = setup()
    local S = env.Score
    local bonus = orm.values(orm.Column("game", orm.String(20)), orm.Column("extra", orm.Integer), { name = "bonus" })
      :data{ { "chess", 100 }, { "go", 1000 } }
    local stmt = orm.select(S.id, (S.points + bonus.c.extra):label("total"))
      :join(bonus, bonus.c.game:eq(S.game)):order_by(S.id)
    assert.same({ 110, 130, 120, 1005, 1015, 1015 }, env.column(stmt, 2))
    assert.same({ "chess", "go" }, env.column(orm.select(bonus.c.game):order_by(bonus.c.game)))
    assert.same({ 1100 }, env.column(orm.select(orm.func.sum(bonus.c.extra))))
    local cols = orm.Column("a", orm.Integer)
    assert.truthy(pcall_err(function() orm.values(cols):data{ { 1, 2 } } end):find("row 1 has 2 values for 1 columns", 1, true))
    assert.truthy(pcall_err(function() orm.values(cols):data{} end):find("at least one row", 1, true))
    assert.truthy(pcall_err(function() orm.values(orm.Column(orm.Integer)) end):find("needs a name", 1, true))
    assert.truthy(pcall_err(function() orm.values() end):find("at least one orm.Column", 1, true))
  end)
end)

describe(":lateral()", function()
  it("a FROM subquery that reads the rows before it: the top two scores per game", function()
    local env = setup()
    local S = env.Score
    local G = orm.aliased(S, "g")
    local games = orm.select(S.game):distinct():subquery("games")
    local top = orm.select(G.player, G.points):where(G.game:eq(games.c.game))
      :order_by(G.points:desc(), G.player):limit(2):lateral("top")
    local stmt = orm.select(games.c.game, top.c.player):select_from(games):join(top, orm.true_())
      :order_by(games.c.game, top.c.points:desc(), top.c.player)
    if SPEC_DIALECT ~= "postgresql" then
      -- SQLite and MariaDB have no LATERAL: SQLite's refusal names it before any SQL runs
      local err = pcall_err(env.s.execute, env.s, stmt)
      if SPEC_DIALECT == "sqlite" then
        assert.truthy(err:find("LATERAL ('top') is not supported by sqlite", 1, true), err)
      end
      return
    end
    assert.same({ "bob", "cy", "ed", "fay" }, env.column(stmt, 2))
    local sql = env.log[#env.log]
    assert.truthy(has(sql, "JOIN LATERAL (SELECT"), sql)
    assert.truthy(has(sql, ") AS top ON true"), sql)
  end)

  it("orm.true_() and orm.false_() are the boolean constants", function()
    local env = setup()
    assert.equal(6, #env.s:scalars(orm.select(env.Score):where(orm.true_())):all())
    assert.equal(0, #env.s:scalars(orm.select(env.Score):where(orm.false_())):all())
  end)
end)

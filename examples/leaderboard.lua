-- A game's leaderboard with window functions: each player's rank within their game
-- (row_number / rank / dense_rank over a partition), the gap to the player above (lag), a
-- running total of points (sum over a ROWS frame), and a count that only takes strong
-- scores (FILTER, a CASE inside the count on MySQL / MariaDB).
--
--   lualchemy examples/leaderboard.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local Score = Base:model("Score", {
  __tablename__ = "scores",
  id = orm.Column(orm.Integer, { primary_key = true }),
  player = orm.Column(orm.String(20), { nullable = false }),
  game = orm.Column(orm.String(20), { nullable = false }),
  points = orm.Column(orm.Integer, { nullable = false }),
})
Base.metadata:create_all(engine)

local session = orm.Session(engine)
session:execute(orm.insert(Score), {
  { player = "ann", game = "chess", points = 10 },
  { player = "bob", game = "chess", points = 30 },
  { player = "cy", game = "chess", points = 20 },
  { player = "di", game = "go", points = 5 },
  { player = "ed", game = "go", points = 15 },
  { player = "fay", game = "go", points = 15 },
})
session:commit()

print("== rank within each game ==")
local by_points = { partition_by = Score.game, order_by = Score.points:desc() }
local stmt = orm.select(
  Score.game, Score.player, Score.points,
  orm.func.rank():over(by_points):label("rank"),
  orm.func.dense_rank():over(by_points):label("dense"),
  -- how far behind the player listed just above (nil for the leader); the name breaks
  -- ties so the order is the same on every database
  (orm.func.lag(Score.points):over{
    partition_by = Score.game,
    order_by = { Score.points:desc(), Score.player },
  } - Score.points):label("behind")
):order_by(Score.game, Score.points:desc(), Score.player)
local lines = {}
for row in session:execute(stmt) do
  local line = ("%-5s %-4s %3d  rank %d  dense %d  behind %s"):format(
    row.game, row.player, row.points, row.rank, row.dense, tostring(row.behind))
  lines[#lines + 1] = line
  print(line)
end
assert(lines[1] == "chess bob   30  rank 1  dense 1  behind nil")
assert(lines[5] == "go    fay   15  rank 1  dense 1  behind 0")
assert(lines[6] == "go    di     5  rank 3  dense 2  behind 10")

print("== running total in insertion order (ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) ==")
local running = orm.func.sum(Score.points):over{ order_by = Score.id, rows = { nil, 0 } }
local totals = session:scalars(orm.select(running):order_by(Score.id)):all()
print(table.concat(totals, " "))
assert(table.concat(totals, " ") == "10 40 60 65 80 95")

print("== strong scores (> 10) per game, with FILTER ==")
local strong = orm.func.count(Score.id):filter(Score.points:gt(10))
for row in session:execute(orm.select(Score.game, strong:label("strong")):group_by(Score.game):order_by(Score.game)) do
  print(row.game, row.strong)
end
print(tostring(orm.select(strong)))

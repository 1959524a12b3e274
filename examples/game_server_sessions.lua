-- A game server's data layer: one session per coroutine (each player's handler runs in a
-- coroutine of its own) through orm.scoped_session, the match log kept in a second
-- database through per-model binds, scores written in bulk by primary key, and an audit
-- row written by a mapper listener on the flush's own connection.
--
--   lualchemy examples/game_server_sessions.lua
local orm = require("lualchemy")

local game_db = orm.create_engine("sqlite://")
local log_db = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local Player = Base:model("Player", {
  __tablename__ = "players",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(30), { nullable = false }),
  score = orm.Column(orm.Integer, { nullable = false, default = 0 }),
})
local Audit = Base:model("Audit", {
  __tablename__ = "audit",
  id = orm.Column(orm.Integer, { primary_key = true }),
  msg = orm.Column(orm.String(80)),
})
local MatchLog = Base:model("MatchLog", {
  __tablename__ = "match_log",
  id = orm.Column(orm.Integer, { primary_key = true }),
  line = orm.Column(orm.String(80)),
})
Base.metadata:create_all(game_db)
Base.metadata:create_all(log_db)

-- every new player leaves an audit row, inserted in the same flush and transaction
orm.event.listen(Player, "after_insert", function(_, connection, target)
  connection:execute(orm.insert(Audit), { { msg = "joined: " .. target.name } })
end)

-- the match log goes to its own database; everything else to the game's
local Session = orm.scoped_session(orm.sessionmaker{
  bind = game_db,
  binds = { [MatchLog] = log_db },
})

-- one handler per player, each a coroutine with its own session
local function handler(name)
  return coroutine.create(function()
    Session:add(Player{ name = name })
    Session:add(MatchLog{ line = name .. " connected" })
    coroutine.yield()
    Session:commit()
    Session:remove()
  end)
end
local handlers = { handler("ann"), handler("bob"), handler("cy") }
for _, co in ipairs(handlers) do assert(coroutine.resume(co)) end
for _, co in ipairs(handlers) do assert(coroutine.resume(co)) end

-- the end of a round: every score at once, by primary key, in one executemany
local s = Session()
local players = s:scalars(orm.select(Player):order_by(Player.id)):all()
local points = { ann = 30, bob = 10, cy = 20 }
local rows = {}
for _, p in ipairs(players) do rows[#rows + 1] = { id = p.id, score = points[p.name] } end
s:execute(orm.update(Player), rows)
s:commit()

print("leaderboard:")
for p in s:scalars(orm.select(Player):order_by(Player.score:desc())) do
  print(("  %-4s %3d"):format(p.name, p.score))
end
print("audit (game database):")
for msg in s:scalars(orm.select(Audit.msg):order_by(Audit.id)) do print("  " .. msg) end
print(("match log (%s): %d lines"):format(
  s:get_bind(MatchLog) == log_db and "log database" or "?",
  #s:scalars(orm.select(MatchLog)):all()))
Session:remove()

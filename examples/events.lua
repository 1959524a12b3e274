-- Events: the hooks scripts hang their logic on.
--
--   * automatic timestamps and an audit log with mapper events,
--   * a validator and a hybrid property used on objects and in SQL,
--   * session events in the order one commit runs them,
--   * a query profiler on engine events,
--   * an error raised in a listener, which reaches the caller as the very value raised.
--
-- Run: cargo run --release -- examples/events.lua   (in-memory SQLite, no set-up)
local orm = require("lualchemy")

local function check(cond, what) assert(cond, what) end

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

-- An abstract class: models built from it get its columns and its listeners.
local Timestamped = Base:model("Timestamped", {
  __abstract__ = true,
  created_at = orm.Column(orm.String(30)),
  updated_at = orm.Column(orm.String(30)),
})

local clock = 0
local function now()
  clock = clock + 1
  return ("2026-11-22T10:00:%02d"):format(clock)
end

orm.event.listen(Timestamped, "before_insert", function(mapper, connection, target)
  target.created_at = now()
  target.updated_at = target.created_at
end)
orm.event.listen(Timestamped, "before_update", function(mapper, connection, target)
  target.updated_at = now()
end)

local Player = Timestamped:model("Player", {
  __tablename__ = "players",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(40), { nullable = false }),
  gold = orm.Column(orm.Integer, { default = 0 }),
  -- the same function reads an object's gold, and on the class builds SQL over the column
  gold_bars = orm.hybrid_property(function(self) return math.floor(self.gold / 100) end)
    :expression(function(cls) return cls.gold / 100 end),
})

-- Names are trimmed and must not be empty; raising rejects the value and keeps the old one.
Player:validates("name", function(self, key, value)
  local trimmed = tostring(value):match("^%s*(.-)%s*$")
  if trimmed == "" then error({ field = key, problem = "empty" }) end
  return trimmed
end)

local AuditEntry = Base:model("AuditEntry", {
  __tablename__ = "audit_log",
  id = orm.Column(orm.Integer, { primary_key = true }),
  what = orm.Column(orm.String(100)),
})

Base.metadata:create_all(engine)

-- The audit log: written on the flush's own connection, in the same transaction.
for _, event in ipairs({ "after_insert", "after_update", "after_delete" }) do
  orm.event.listen(Player, event, function(mapper, connection, target)
    connection:execute(orm.text("INSERT INTO audit_log (what) VALUES (:what)"),
      { what = ("%s %s #%d"):format(event, mapper.class_name, target.id) })
  end)
end

print("== timestamps and an audit log ==")
local session = orm.Session(engine)
local ann = Player{ name = "ann" }
session:add(ann)
session:commit()
print("  created_at / updated_at", ann.created_at, ann.updated_at)
check(ann.created_at == ann.updated_at, "both stamped at insert")
ann.gold = 50
session:commit()
print("  after an update          ", ann.created_at, ann.updated_at)
check(ann.updated_at > ann.created_at, "updated_at moved on")
session:delete(ann)
session:commit()
local log = {}
for _, row in ipairs(session:execute(orm.text("SELECT what FROM audit_log ORDER BY id")):all()) do
  log[#log + 1] = row.what
  print("  audit:", row.what)
end
check(#log == 3 and log[1] == "after_insert Player #1" and log[3] == "after_delete Player #1", "the audit log")

print("== a validator and a hybrid ==")
local cy = Player{ name = "  cy  ", gold = 250 }
print(("  name %q (trimmed by the validator), gold_bars %d"):format(cy.name, cy.gold_bars))
check(cy.name == "cy" and cy.gold_bars == 2, "validator and hybrid on an object")
local ok, problem = pcall(function() cy.name = "   " end)
print("  an empty name is refused:", not ok and problem.problem, "and the name stays", cy.name)
check(not ok and problem.problem == "empty" and cy.name == "cy", "the very value, the old name kept")
session:add(cy)
session:commit()
local bars = session:scalars(orm.select(Player):where(Player.gold_bars:ge(2))):all()
print("  players with two gold bars or more (SQL: " .. tostring(Player.gold_bars:ge(2)) .. "):", #bars)
check(#bars == 1 and bars[1] == cy, "the hybrid in SQL")

print("== session events, in the order one commit runs them ==")
local order = {}
for _, name in ipairs({ "before_commit", "before_flush", "after_flush", "after_flush_postexec",
  "after_commit", "transient_to_pending", "pending_to_persistent" }) do
  orm.event.listen(session, name, function() order[#order + 1] = name end)
end
session:add(Player{ name = "bob" })
session:commit()
print("  " .. table.concat(order, " -> "))
check(order[1] == "transient_to_pending" and order[2] == "before_commit" and order[#order] == "after_commit",
  "SQLAlchemy's order")

print("== a query profiler on engine events ==")
local profile, started = {}, nil
local function before(conn, cursor, statement) started = os.clock() end
local function after(conn, cursor, statement, params, context, executemany)
  local key = statement:match("^(%u+)")
  local p = profile[key] or { n = 0, seconds = 0 }
  p.n, p.seconds = p.n + 1, p.seconds + (os.clock() - started)
  profile[key] = p
end
orm.event.listen(engine, "before_cursor_execute", before)
orm.event.listen(engine, "after_cursor_execute", after)
local players = {}
for i = 1, 200 do players[i] = Player{ name = "p" .. i, gold = i } end
session:add_all(players)
session:commit()
local rich = session:scalars(orm.select(Player):where(Player.gold:gt(150))):all()
orm.event.remove(engine, "before_cursor_execute", before)
orm.event.remove(engine, "after_cursor_execute", after)
for _, kind in ipairs({ "INSERT", "SELECT" }) do
  local p = profile[kind]
  print(("  %-6s statements: %3d   %.6f s"):format(kind, p.n, p.seconds))
end
check(#rich == 51, "50 rich players and cy")
check(profile.INSERT.n >= 2, "the players' INSERT batch and the audit rows")

print("== an error raised in a listener ==")
local refusal = { reason = "the guild is full" }
local function guild_is_full(mapper, connection, target)
  if target.name == "intruder" then error(refusal) end
end
orm.event.listen(Player, "before_insert", guild_is_full)
session:add(Player{ name = "intruder" })
local ok, err = pcall(session.commit, session)
print("  commit raised the very value:", not ok and err == refusal, err.reason)
check(not ok and err == refusal, "the listener's own value")
session:rollback()
orm.event.remove(Player, "before_insert", guild_is_full)
local count = session:scalar(orm.select(orm.func.count()):select_from(Player):where(Player.name:eq("intruder")))
print("  intruders stored:", count)
check(count == 0, "nothing stored")
session:close()

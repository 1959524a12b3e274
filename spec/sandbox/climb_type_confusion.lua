-- Methods called with the wrong self, or with no self, raise errors instead of reading the
-- wrong Rust object: a session method on an engine, an engine method on a model, ...
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
local m = M{ name = "x" }
s:add(m)
s:flush()
local conn = engine:connect()
local stmt = orm.select(M)
local selves = {
  { "nil", nil }, { "number", 42 }, { "string", "s" }, { "table", {} }, { "function", print },
  { "engine", engine }, { "session", s }, { "model", M }, { "instance", m }, { "column", M.name },
  { "statement", stmt }, { "connection", conn }, { "type", orm.Integer },
  { "coroutine", coroutine.create(print) },
}
local owners = {
  session = { s, { "add", "add_all", "flush", "commit", "rollback", "close", "get", "delete",
    "execute", "scalar", "scalars", "query", "merge", "expunge", "refresh", "expire",
    "expire_all", "is_modified", "begin", "begin_nested", "run", "no_autoflush" } },
  engine = { engine, { "connect", "begin", "dispose" } },
  connection = { conn, { "execute", "commit", "rollback", "close" } },
  statement = { stmt, { "where", "filter", "filter_by", "order_by", "limit", "offset", "join",
    "group_by", "subquery", "cte", "union" } },
  column = { M.name, { "eq", "ne", "lt", "like", "in_", "between", "label", "asc", "desc", "cast" } },
  metadata = { Base.metadata, { "create_all", "drop_all" } },
}
local calls, errors = 0, 0
for owner, spec in pairs(owners) do
  local obj, methods = spec[1], spec[2]
  for _, name in ipairs(methods) do
    local okf, f = pcall(function() return obj[name] end)
    if okf and type(f) == "function" then
      for _, sv in ipairs(selves) do
        for _, argv in ipairs(selves) do
          calls = calls + 1
          local ok = pcall(f, sv[2], argv[2])
          if not ok then errors = errors + 1 end
        end
      end
    end
  end
end
print(("made %d confused calls, %d raised errors"):format(calls, errors))
check("some confused calls were made", calls > 100, calls)
pcall(function() s:rollback() end)
check("the engine still works", engine:connect():execute(orm.text("SELECT 1")):scalar() == 1)
print("DONE")

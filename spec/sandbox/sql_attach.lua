-- ATTACH is refused however it is spelled and whichever way it is sent: no file appears
-- outside the allowed directory, and main.db keeps its two rows.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite:///" .. ALLOWED .. "/main.db")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(100)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
s:add_all({ M{ name = "ed" }, M{ name = "wendy" } })
s:commit()
local conn = engine:connect()
local function rows() return s:scalar(orm.select(orm.func.count(M.id))) end
local function via_session(sql, params)
  return function()
    local ok, r = pcall(function() return s:execute(orm.text(sql), params) end)
    pcall(function() s:rollback() end)
    if not ok then error(r, 0) end
    return r
  end
end
local function via_connection(sql, params)
  return function()
    local ok, r = pcall(function() return conn:execute(orm.text(sql), params) end)
    pcall(function() conn:rollback() end)
    if not ok then error(r, 0) end
    return r
  end
end
local attaches = {
  { "ATTACH DATABASE 'OUTSIDE/x.db' AS x", "ATTACH DATABASE '" .. OUTSIDE .. "/x.db' AS x" },
  { "attach 'OUTSIDE/y.db' as y", "attach '" .. OUTSIDE .. "/y.db' as y" },
  { "ATTACH of the victim database", "ATTACH '" .. OUTSIDE .. "/target.db' AS victim" },
  { "ATTACH ':memory:'", "ATTACH ':memory:' AS mem" },
  { "ATTACH of a file: URI", "ATTACH 'file:" .. OUTSIDE .. "/z.db?mode=rwc' AS z" },
  { "ATTACH of a file under the allowed directory", "ATTACH '" .. ALLOWED .. "/other.db' AS other" },
  { "ATTACH with leading whitespace and a comment", "  /* hi */ ATTACH '" .. OUTSIDE .. "/w.db' AS w" },
}
for _, a in ipairs(attaches) do
  refused(a[1] .. " via session:execute", via_session(a[2]))
  refused(a[1] .. " via connection:execute", via_connection(a[2]))
end
refused("ATTACH :f AS x with a bound file name", via_session("ATTACH :f AS x", { f = OUTSIDE .. "/bound.db" }))
refused("reading the victim through an attached schema",
  via_connection("SELECT x FROM victim.t"))
check("main.db still has its two rows", rows() == 2)
print("DONE")

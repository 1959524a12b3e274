-- Multiple statements in one orm.text are refused: the second statement never runs
-- (table m keeps its rows), whatever hides the ';'. (A leading empty statement, as in
-- "; DELETE FROM m", is not tried: that is one statement, which a script may run anyway.)
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
local attempts = {
  "SELECT 1; DROP TABLE m",
  "SELECT 1;DROP TABLE m;",
  "SELECT 1 /* ; */ ; DELETE FROM m",
  "SELECT 1 -- comment\n; DELETE FROM m",
  "SELECT ';'; DELETE FROM m",
  "DELETE FROM m WHERE 0; DELETE FROM m",
  "SELECT 1;\n\n  INSERT INTO m (name) VALUES ('injected')",
}
for _, sql in ipairs(attempts) do
  refused(("%q via session"):format(sql), via_session(sql))
  refused(("%q via connection"):format(sql), via_connection(sql))
  check(("m still has two rows after %q"):format(sql), rows() == 2, rows())
end
-- a bound value containing a second statement is data, not SQL
local r = s:execute(orm.text("SELECT count(*) FROM m WHERE name = :n"), { n = "x'; DROP TABLE m; --" }):scalar()
check("a bound value is data", r == 0, r)
check("m still has two rows", rows() == 2)
print("DONE")

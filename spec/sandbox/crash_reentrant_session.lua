-- Re-entrant calls into a session from inside its own flush and commit: an error
-- (InvalidRequestError, a C-stack error), never a deadlock, a panic or a corrupt database.
-- Each attempt gets a fresh session, so one that breaks its session does not hide the
-- next; a session that saw a failed attempt must be usable again after rollback().
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite:///" .. ALLOWED .. "/main.db")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
do
  local seed = orm.Session(engine)
  seed:add(M{ id = 1, name = "seed" })
  seed:commit()
  seed:close()
end

local s -- the session of the current attempt
local function default_body() s:add(M{ name = "x" }); s:commit() end
local function attempt(label, target_of, ev, listener, body)
  s = orm.Session(engine)
  local target = target_of == "session" and s or target_of
  orm.event.listen(target, ev, listener)
  local ok, err = pcall(body or default_body)
  print(label .. ": " .. show(ok) .. " " .. show(err))
  pcall(function() orm.event.remove(target, ev, listener) end)
  local rok, rerr = pcall(function()
    s:rollback()
    s:add(M{ name = "after " .. label })
    s:commit()
    s:close()
  end)
  check("the session is usable again after " .. label, rok, rerr)
end
attempt("before_flush -> flush", "session", "before_flush", function(sess) sess:flush() end)
attempt("before_flush -> commit", "session", "before_flush", function(sess) sess:commit() end)
attempt("before_flush -> close", "session", "before_flush", function(sess) sess:close() end)
attempt("before_flush -> rollback", "session", "before_flush", function(sess) sess:rollback() end)
attempt("before_flush -> execute DELETE", "session", "before_flush", function(sess) sess:execute(orm.text("DELETE FROM m WHERE id <> 1")) end)
attempt("before_flush -> expunge_all", "session", "before_flush", function(sess) sess:expunge_all() end)
attempt("after_flush -> commit", "session", "after_flush", function(sess) sess:commit() end)
attempt("after_flush -> add and flush", "session", "after_flush", function(sess) sess:add(M{ name = "nested" }); sess:flush() end)
attempt("after_flush -> rollback", "session", "after_flush", function(sess) sess:rollback() end)
attempt("after_flush_postexec -> flush", "session", "after_flush_postexec", function(sess) sess:flush() end)
attempt("before_commit -> commit", "session", "before_commit", function(sess) sess:commit() end)
attempt("before_commit -> close", "session", "before_commit", function(sess) sess:close() end)
attempt("after_commit -> commit", "session", "after_commit", function(sess) sess:commit() end)
attempt("after_begin -> rollback", "session", "after_begin", function(sess) sess:rollback() end)
attempt("after_begin -> close", "session", "after_begin", function(sess) sess:close() end)
attempt("after_begin -> commit", "session", "after_begin", function(sess) sess:commit() end)
attempt("after_rollback -> rollback", "session", "after_rollback", function(sess) sess:rollback() end, function()
  s:add(M{ id = 1, name = "duplicate key" })
  s:commit()
end)
attempt("before_insert -> rollback", M, "before_insert", function() s:rollback() end)
attempt("before_insert -> close", M, "before_insert", function() s:close() end)
attempt("before_insert -> commit", M, "before_insert", function() s:commit() end)
attempt("before_insert -> delete another", M, "before_insert", function() s:delete(s:get(M, 1)) end)
attempt("before_insert -> query", M, "before_insert", function() s:execute(orm.select(M)):all() end)
attempt("after_insert -> connection commit", M, "after_insert", function(mapper, conn) conn:commit() end)
attempt("after_insert -> connection close", M, "after_insert", function(mapper, conn) conn:close() end)
attempt("after_insert -> connection rollback", M, "after_insert", function(mapper, conn) conn:rollback() end)
attempt("load -> add and flush", M, "load", function() s:add(M{ name = "from load" }); s:flush() end, function()
  return s:scalars(orm.select(M)):all()
end)
attempt("before_cursor_execute -> execute", engine, "before_cursor_execute", function()
  engine:connect():execute(orm.text("SELECT 1"))
end, function() return engine:connect():execute(orm.text("SELECT 2")):all() end)

local fresh = orm.Session(engine)
local ok, n = pcall(function()
  fresh:add(M{ name = "final" })
  fresh:commit()
  return fresh:scalar(orm.select(orm.func.count(M.id)):where(M.name:eq("final")))
end)
check("a fresh session works at the end", ok and n == 1, n)
print("DONE")

-- VACUUM INTO copies the database to any path: refused (ATTACH limit 0 and the
-- authorizer), through the session and a connection.
-- the shared fixture (spec/sandbox/fixtures/main_db.lua): main.db under ALLOWED with two rows
local orm, engine, M, s, conn, rows, via_session, via_connection = main_db()
-- The ORM runs every statement inside a transaction, where VACUUM cannot run at all; a
-- COMMIT sent as text first ends that transaction, so the VACUUM below reaches SQLite (the
-- authorizer, not "cannot VACUUM from within a transaction", must be what stops it).
local function after_commit(run, sql, params)
  return function()
    pcall(function() run(orm.text("SELECT 1")) end)
    pcall(function() run(orm.text("COMMIT")) end)
    local r = run(orm.text(sql), params)
    return r
  end
end
local function on_session(t, p) return s:execute(t, p) end
local function on_conn(t, p) return conn:execute(t, p) end
local function vacuum(name, run, sql, params)
  local ok, err = pcall(after_commit(run, sql, params))
  local msg = show(err)
  if ok then
    breach(name .. " was allowed")
  elseif msg:find("within a transaction", 1, true) then
    breach(name .. " was stopped only by the open transaction, not by the sandbox: " .. msg)
  else
    print("refused: " .. name .. ": " .. msg)
  end
  pcall(function() s:rollback() end)
  pcall(function() conn:rollback() end)
end
vacuum("VACUUM INTO OUTSIDE/v.db via session", on_session, "VACUUM INTO '" .. OUTSIDE .. "/v.db'")
vacuum("VACUUM INTO OUTSIDE/v2.db via connection", on_conn, "VACUUM INTO '" .. OUTSIDE .. "/v2.db'")
vacuum("VACUUM main INTO a file: URI", on_conn, "VACUUM main INTO 'file:" .. OUTSIDE .. "/v3.db'")
vacuum("VACUUM INTO :f with a bound path", on_conn, "VACUUM INTO :f", { f = OUTSIDE .. "/v4.db" })
vacuum("VACUUM INTO a file under the allowed directory", on_conn, "VACUUM INTO '" .. ALLOWED .. "/copy.db'")
check("main.db still has its two rows", rows() == 2)
print("DONE")

-- ATTACH is refused however it is spelled and whichever way it is sent: no file appears
-- outside the allowed directory, and main.db keeps its two rows.
-- the shared fixture (spec/sandbox/fixtures/main_db.lua): main.db under ALLOWED with two rows
local orm, engine, M, s, conn, rows, via_session, via_connection = main_db()
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

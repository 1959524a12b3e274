-- PRAGMAs that write are refused (the read-only allow-list), and DEFENSIVE mode keeps
-- sqlite_master out of reach: the test checks the schema, user_version, journal mode
-- and PRAGMA integrity_check of main.db afterwards.
-- the shared fixture (spec/sandbox/fixtures/main_db.lua): main.db under ALLOWED with two rows
local orm, engine, M, s, conn, rows, via_session, via_connection = main_db()
local pragmas = {
  "PRAGMA writable_schema=1",
  "PRAGMA writable_schema = ON",
  "pragma Writable_Schema = true",
  "PRAGMA main.writable_schema=1",
  "PRAGMA writable_schema(1)",
  "PRAGMA journal_mode=off",
  "PRAGMA main.journal_mode = OFF",
  "PRAGMA journal_mode=memory",
  "PRAGMA schema_version=99",
  "PRAGMA user_version=5",
  "PRAGMA trusted_schema=1",
  "PRAGMA cell_size_check=off",
  "PRAGMA synchronous=off",
  "PRAGMA locking_mode=exclusive",
  "PRAGMA temp_store_directory='" .. OUTSIDE .. "'",
}
for _, p in ipairs(pragmas) do
  refused(p .. " via session", via_session(p))
  refused(p .. " via connection", via_connection(p))
end
-- if writable_schema had been let through, these would corrupt the schema
refused("UPDATE sqlite_master", via_connection("UPDATE sqlite_master SET sql = 'CREATE TABLE m(garbage' WHERE name = 'm'"))
refused("UPDATE sqlite_schema", via_session("UPDATE sqlite_schema SET sql = 'garbage' WHERE name = 'm'"))
refused("DELETE FROM sqlite_master", via_connection("DELETE FROM sqlite_master WHERE name = 'm'"))
refused("INSERT INTO sqlite_master", via_connection("INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 2, 'CREATE TABLE x(garbage')"))
check("main.db still has its two rows", rows() == 2)
check("the session still writes", pcall(function() s:add(M{ name = "tmp" }); s:flush(); s:rollback() end))
print("DONE")

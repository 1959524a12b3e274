-- load_extension is refused (extension loading is never enabled; the authorizer refuses
-- the function).
-- the shared fixture (spec/sandbox/fixtures/main_db.lua): main.db under ALLOWED with two rows
local orm, engine, M, s, conn, rows, via_session, via_connection = main_db()
refused("SELECT load_extension('x')", via_session("SELECT load_extension('x')"))
refused("SELECT load_extension(OUTSIDE/evil.so)", via_connection("SELECT load_extension('" .. OUTSIDE .. "/evil.so')"))
refused("SELECT load_extension('libc.so.6', 'system')", via_connection("SELECT load_extension('libc.so.6', 'system')"))
refused("load_extension with a bound name", via_connection("SELECT load_extension(:p)", { p = "libc.so.6" }))
refused("orm.func.load_extension", function()
  return s:scalar(orm.select(orm.func.load_extension("libc.so.6", "system")))
end)
check("main.db still has its two rows", rows() == 2)
print("DONE")

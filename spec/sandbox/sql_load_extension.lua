-- load_extension is refused (extension loading is never enabled; the authorizer refuses
-- the function).
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
refused("SELECT load_extension('x')", via_session("SELECT load_extension('x')"))
refused("SELECT load_extension(OUTSIDE/evil.so)", via_connection("SELECT load_extension('" .. OUTSIDE .. "/evil.so')"))
refused("SELECT load_extension('libc.so.6', 'system')", via_connection("SELECT load_extension('libc.so.6', 'system')"))
refused("load_extension with a bound name", via_connection("SELECT load_extension(:p)", { p = "libc.so.6" }))
refused("orm.func.load_extension", function()
  return s:scalar(orm.select(orm.func.load_extension("libc.so.6", "system")))
end)
check("main.db still has its two rows", rows() == 2)
print("DONE")

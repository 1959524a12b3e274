-- URI parameters and other schemes are refused with an orm.Error: only "sqlite://" and
-- "sqlite:///<file under --allow-dir>" open.
local orm = require("lualchemy")
local function open_and_use(url)
  return function()
    local e = orm.create_engine(url)
    local c = e:connect()
    c:execute(orm.text("CREATE TABLE IF NOT EXISTS pwned (x)"))
    c:commit()
    return url
  end
end
local urls = {
  "sqlite:///" .. ALLOWED .. "/p.db?mode=rwc",
  "sqlite:///" .. ALLOWED .. "/p.db?mode=ro",
  "sqlite:///" .. ALLOWED .. "/p.db?vfs=unix-none",
  "sqlite:///" .. ALLOWED .. "/p.db?immutable=1",
  "sqlite:///" .. ALLOWED .. "/p.db?nolock=1",
  "sqlite:///" .. ALLOWED .. "/p.db?uri=true",
  "sqlite:///" .. ALLOWED .. "/p.db?check_same_thread=false",
  "sqlite:///file:" .. OUTSIDE .. "/u.db?mode=rwc&uri=true",
  "sqlite:///file:" .. ALLOWED .. "/../../outside/u2.db?uri=true",
  "sqlite:///file:u3.db?mode=memory&cache=shared&uri=true",
  "sqlite://?mode=rwc",
  "sqlite://" .. OUTSIDE .. "/host.db",
  "sqlite+pysqlite:///" .. OUTSIDE .. "/py.db",
  "file://" .. OUTSIDE .. "/f.db",
  "file:" .. OUTSIDE .. "/f2.db",
  OUTSIDE .. "/bare.db",
  "postgresql://user:pw@localhost/db",
  "mysql://localhost/db",
  "",
}
for _, url in ipairs(urls) do
  refused_orm(("create_engine(%q)"):format(url), open_and_use(url))
end
refused("create_engine with a table URL", function() return orm.create_engine({}) end)
refused("create_engine with a table whose __tostring is a URL outside", open_and_use(setmetatable({}, {
  __tostring = function() return "sqlite:///" .. OUTSIDE .. "/meta.db" end })))
local ok, err = pcall(open_and_use("sqlite://"))
check("sqlite:// opens", ok, err)
print("DONE")

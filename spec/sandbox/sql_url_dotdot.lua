-- URLs that start under --allow-dir and climb out with ../ are refused after normalising.
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
refused_orm("ALLOWED/../../outside/d1.db", open_and_use("sqlite:///" .. ALLOWED .. "/../../outside/d1.db"))
refused_orm("ALLOWED/../d2.db (the working directory)", open_and_use("sqlite:///" .. ALLOWED .. "/../d2.db"))
refused_orm("ALLOWED/sub/../../d3.db", open_and_use("sqlite:///" .. ALLOWED .. "/sub/../../d3.db"))
refused_orm("ALLOWED/./../d4.db", open_and_use("sqlite:///" .. ALLOWED .. "/./../d4.db"))
refused_orm("ALLOWED/.. (a directory)", open_and_use("sqlite:///" .. ALLOWED .. "/.."))
refused_orm("relative data/../../outside/d5.db", open_and_use("sqlite:///data/../../outside/d5.db"))
refused_orm("ALLOWED/%2e%2e/d6.db (percent-encoded)", open_and_use("sqlite:///" .. ALLOWED .. "/%2e%2e/d6.db"))
refused_orm("ALLOWED with a trailing ../ and a NUL", open_and_use("sqlite:///" .. ALLOWED .. "/x.db\0/../../../outside/d7.db"))
-- a prefix of the allowed directory's name is not the allowed directory (WORK/datax exists)
refused_orm("a sibling whose name starts like the allowed directory", open_and_use("sqlite:///" .. ALLOWED .. "x/d8.db"))
local ok, err = pcall(open_and_use("sqlite:///" .. ALLOWED .. "/./fine.db"))
check("ALLOWED/./fine.db stays inside and opens", ok, err)
print("DONE")

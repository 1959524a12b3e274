-- Without --allow-dir only in-memory databases open: every file URL raises an orm.Error
-- (the data directory is as protected as the rest of the tree in this run).
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
refused_orm("a relative file", open_and_use("sqlite:///local.db"))
refused_orm("a file in data/", open_and_use("sqlite:///data/local.db"))
refused_orm("an absolute file in data/", open_and_use("sqlite:///" .. ALLOWED .. "/abs.db"))
refused_orm("a file outside", open_and_use("sqlite:///" .. OUTSIDE .. "/o.db"))
local ok, err = pcall(function()
  local e = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local M = Base:model("M", { __tablename__ = "m", id = orm.Column(orm.Integer, { primary_key = true }) })
  Base.metadata:create_all(e)
  local s = orm.Session(e)
  s:add(M{})
  s:commit()
  return s:scalar(orm.select(orm.func.count(M.id)))
end)
check("sqlite:// works", ok and err == 1, err)
print("DONE")

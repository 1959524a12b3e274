-- Positive control: --allow-dir given as a relative path ("data", under the working
-- directory); an absolute URL naming a file in it works. A relative URL may be taken from
-- the working directory or from the allowed directory (the contract does not say which):
-- it either opens inside the allowed directory or is refused; the test checks that no file
-- appears anywhere else.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite:///" .. ALLOWED .. "/rel.db")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
s:add_all({ M{ name = "a" }, M{ name = "b" } })
s:commit()
check("two rows", s:scalar(orm.select(orm.func.count(M.id))) == 2)
s:close()
engine:dispose()
for _, url in ipairs({ "sqlite:///rel2.db", "sqlite:///data/rel3.db" }) do
  local ok, err = pcall(function()
    local e = orm.create_engine(url)
    local c = e:connect()
    c:execute(orm.text("CREATE TABLE IF NOT EXISTS t (x)"))
    c:commit()
    c:close()
    e:dispose()
  end)
  if not ok and not is_orm_error(err) then
    breach("relative URL " .. url .. " failed without an orm.Error: " .. show(err))
  end
  print("relative " .. url .. ": " .. (ok and "opened" or ("refused: " .. show(err))))
end
print("DONE")

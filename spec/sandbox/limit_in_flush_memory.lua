-- The memory limit fires inside a before_insert listener, in the middle of a flush to a
-- file database: the flush is rolled back and the file stays intact.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite:///" .. ALLOWED .. "/flush.db")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
s:add(M{ name = "first" })
s:commit()
print("first row committed")
local n = 0
orm.event.listen(M, "before_insert", function()
  n = n + 1
  if n == 2 then
    local t = {}
    while true do t[#t + 1] = string.rep("m", 100) .. #t end
  end
end)
s:add_all({ M{ name = "a" }, M{ name = "b" }, M{ name = "c" } })
s:commit()
print("SURVIVED")

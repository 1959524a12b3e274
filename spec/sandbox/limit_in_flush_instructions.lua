-- The instruction limit fires inside a before_insert listener, in the middle of a flush to
-- a file database: the flush's transaction is rolled back (the test finds exactly the one
-- row committed before) and the file passes PRAGMA integrity_check.
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
  if n == 2 then while true do end end
end)
s:add_all({ M{ name = "a" }, M{ name = "b" }, M{ name = "c" } })
local ok, err = pcall(function() s:commit() end)
print("commit: " .. show(ok) .. " " .. show(err))
-- the limit error was swallowed: try to go on writing, then burn more instructions; the
-- script must end with the instruction limit
pcall(function() s:rollback(); s:add(M{ name = "after" }); s:commit() end)
while true do end
print("SURVIVED")

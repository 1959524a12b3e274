-- The timeout fires while a before_insert listener runs an endless query on the flush's own
-- connection: the flush is rolled back and the file database stays intact.
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
orm.event.listen(M, "before_insert", function(mapper, connection, target)
  n = n + 1
  if n == 2 then
    connection:execute(orm.text(
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"))
  end
end)
s:add_all({ M{ name = "a" }, M{ name = "b" }, M{ name = "c" } })
local ok, err = pcall(function() s:commit() end)
print("commit: " .. show(ok) .. " " .. show(err))
pcall(function() s:rollback() end)
pcall(function() s:add(M{ name = "after" }); s:commit() end)
while true do end
print("SURVIVED")

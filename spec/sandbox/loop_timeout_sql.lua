-- An endless recursive CTE keeps SQLite busy in one C call; SQLite's progress handler must
-- interrupt it at the timeout. The script swallows the error and runs it again, forever.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local conn = engine:connect()
local sql = orm.text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
local n = 0
while true do
  n = n + 1
  local ok, err = pcall(function() return conn:execute(sql):scalar() end)
  if n <= 3 then print("query " .. n .. ": " .. show(ok) .. " " .. show(err)) end
  if ok then breach("the endless query returned") end
end
print("SURVIVED")

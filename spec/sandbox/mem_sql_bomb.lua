-- SQLite allocating a gigabyte inside one query, out of the Lua heap's sight: the SQLite
-- length limits or its hard heap limit refuse it (the test also watches the process's peak
-- resident size).
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local conn = engine:connect()
local function q(sql) return function() return conn:execute(orm.text(sql)):scalar() end end
refused("length(randomblob(999999999))", q("SELECT length(randomblob(999999999))"))
refused("length(zeroblob(999999999) || 'x')", q("SELECT length(zeroblob(999999999) || 'x')"))
refused("replace() growing a blob 8 times", q("SELECT length(replace(hex(zeroblob(100000000)), '0', 'aaaaaaaa'))"))
refused("printf with a huge width", q("SELECT length(printf('%.*c', 999999999, 'x'))"))
refused("group_concat of 10 million 100-byte rows",
  q("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000000) SELECT length(group_concat(printf('%0100d', x))) FROM c"))
check("the engine still works", conn:execute(orm.text("SELECT 1")):scalar() == 1)
print("DONE")

-- Sparse "arrays" in a JSON column: converting {[1]=1, [1e8]=2} as an array of 1e8 elements
-- would allocate gigabytes in Rust, outside the Lua heap limit. Refused or stored compactly.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  data = orm.Column(orm.JSON),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
for _, v in ipairs({
  { [1] = 1, [100000000] = 2 },
  { [1] = 1, [2^53] = 2 },
  { [1] = true, [math.maxinteger] = true },
  { [1] = 1, [-5] = 2, [0] = 3 },
}) do
  local ok, err = pcall(function()
    s:add(M{ data = v })
    s:commit()
  end)
  print("sparse JSON: " .. show(ok) .. " " .. show(err))
  if not ok then pcall(function() s:rollback() end) end
end
-- the same values as bulk insert parameters and query parameters
pcall(function() s:execute(orm.insert(M), { { data = { [1] = 1, [100000000] = 2 } } }) end)
pcall(function() s:rollback() end)
pcall(function() return s:scalars(orm.select(M):where(M.data:eq({ [1] = 1, [100000000] = 2 }))):all() end)
check("the heap is under the limit", collectgarbage("count") < 16 * 1024)
print("DONE")

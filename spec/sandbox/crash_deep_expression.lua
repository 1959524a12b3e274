-- SQL expression trees 2000 levels deep, built through the ORM's operators: compiling,
-- executing and dropping them gives a catchable error (SQLite's expression depth limit or
-- an ORM guard), never a native stack overflow. (Each tree is dropped before the next is
-- built; mem_expression_clones is about the memory they take.)
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
s:add(M{ name = "a" })
s:commit()
local N = 2000
local function try(name, fn)
  local ok, err = pcall(fn)
  print(name .. ": " .. show(ok) .. " " .. (ok and "" or show(err):sub(1, 200)))
  pcall(function() s:rollback() end)
end
local builders = {
  plus = function() local e = M.id; for i = 1, N do e = e + 1 end; return e end,
  concat = function() local e = M.name; for i = 1, N do e = e .. "x" end; return e end,
  and_ = function() local e = M.id:eq(1); for i = 1, N do e = orm.and_(e, M.id:eq(i)) end; return e end,
  not_ = function() local e = M.id:eq(1); for i = 1, N do e = orm.not_(e) end; return e end,
  func = function() local e = M.id; for i = 1, N do e = orm.func.abs(e) end; return e end,
}
for name, build in pairs(builders) do
  local ok, e = pcall(build)
  print("built " .. name .. ": " .. show(ok))
  if ok then
    try(name .. ": tostring(select)", function() return #tostring(orm.select(e)) end)
    try(name .. ": execute", function() return s:scalar(orm.select(e)) end)
    try(name .. ": where", function() return s:scalars(orm.select(M):where(e)):all() end)
  end
  e = nil
  -- dropping the tree happens when the collector frees it: a full cycle by allocation churn
  local junk = {}
  for i = 1, 200000 do junk[i % 1000 + 1] = { i } end
end
local ok, n = pcall(function() return s:scalar(orm.select(orm.func.count(M.id))) end)
check("the session works afterwards", ok and n == 1, n)
print("DONE")

-- Deeply nested and cyclic values for a JSON column, and deeply nested JSON text read back
-- from the database: a catchable error, never a native stack overflow.
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
local deep = {}
local cur = deep
for i = 1, 100000 do cur.x = {}; cur = cur.x end
local deep_array = {}
cur = deep_array
for i = 1, 100000 do cur[1] = {}; cur = cur[1] end
local cyclic = { a = 1 }
cyclic.self = cyclic
local mutual_a, mutual_b = {}, {}
mutual_a.b = mutual_b
mutual_b.a = mutual_a
local weird = { [print] = 1, [{}] = 2, [true] = 3, [0/0 == 0/0 and 1 or 2] = 0/0, big = math.huge,
  bytes = "\255\254\0", [1.5] = "x" }
local values = { deep = deep, deep_array = deep_array, cyclic = cyclic, mutual = mutual_a, weird = weird }
local function try(name, fn)
  local ok, err = pcall(fn)
  print(name .. ": " .. show(ok) .. " " .. show(err))
  pcall(function() s:rollback() end)
end
for name, v in pairs(values) do
  try(name .. " in the constructor", function() s:add(M{ data = v }); s:commit() end)
  try(name .. " by assignment", function() local m = M{}; m.data = v; s:add(m); s:commit() end)
  try(name .. " in a bulk insert", function() s:execute(orm.insert(M), { { data = v } }); s:commit() end)
  try(name .. " in a comparison", function() return s:scalars(orm.select(M):where(M.data:eq(v))):all() end)
  try(name .. " in an update", function() s:execute(orm.update(M):values{ data = v }); s:commit() end)
  try(name .. " as a text parameter", function() return s:execute(orm.text("SELECT :v"), { v = v }):all() end)
end
-- deeply nested JSON text put there by raw SQL, then loaded through the model
local text = string.rep("[", 100000) .. string.rep("]", 100000)
local otext = string.rep('{"a":', 100000) .. "1" .. string.rep("}", 100000)
s:execute(orm.text("INSERT INTO m (id, data) VALUES (900, :d), (901, :o)"), { d = text, o = otext })
s:commit()
try("loading 100000-deep JSON array text", function() return s:get(M, 900).data end)
s:expire_all()
try("loading 100000-deep JSON object text", function() return s:get(M, 901).data end)
try("querying the deep JSON column", function() return s:scalars(orm.select(M.data)):all() end)
try("the deep JSON through orm.func.json", function() return s:scalar(orm.select(orm.func.json(M.data)):where(M.id:eq(900))) end)
local ok, n = pcall(function()
  s:rollback()
  s:add(M{ data = { ok = true } })
  s:commit()
  return s:scalar(orm.select(orm.func.count(M.id)))
end)
check("the session works afterwards", ok and type(n) == "number", n)
print("DONE")

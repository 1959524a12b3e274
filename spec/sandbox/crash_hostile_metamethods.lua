-- Tables with hostile metamethods handed to the ORM wherever it takes a table: option
-- tables, model specs, keyword constructors, filter_by, values, parameter lists. Every call
-- raises a catchable error or works; none crashes or hangs.
local orm = require("lualchemy")
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
  data = orm.Column(orm.JSON),
})
Base.metadata:create_all(engine)
local s = orm.Session(engine)
local E = { "E" }
local hostile_mts = {
  index_raises = { __index = function() error(E) end },
  index_loops = { __index = function(t, k) local n = 0; for i = 1, 100000 do n = n + i end; return nil end },
  index_yields = { __index = function() coroutine.yield() end },
  newindex_raises = { __newindex = function() error(E) end },
  pairs_raises = { __pairs = function() error(E) end },
  pairs_lies = { __pairs = function() return function() return {}, function() end end end },
  len_raises = { __len = function() error(E) end },
  len_lies = { __len = function() return math.maxinteger end },
  len_nonnumber = { __len = function() return {} end },
  eq_raises = { __eq = function() error(E) end },
  lt_raises = { __lt = function() error(E) end },
  call_raises = { __call = function() error(E) end },
  tostring_raises = { __tostring = function() error(E) end },
  name_weird = { __name = {} },
  metatable_field = { __metatable = "locked", __index = function() error(E) end },
  close_raises = { __close = function() error(E) end },
}
local calls, errors = 0, 0
local function try(fn, ...)
  calls = calls + 1
  if not pcall(fn, ...) then errors = errors + 1 end
  pcall(function() s:rollback() end)
end
for name, mt in pairs(hostile_mts) do
  local h = setmetatable({}, mt)
  local h2 = setmetatable({ name = "x", primary_key = true, 1, 2 }, mt)
  for _, v in ipairs({ h, h2 }) do
    try(function() return orm.Column(orm.Integer, v) end)
    try(function() return orm.Column(v) end)
    try(function() return orm.String(v) end)
    try(function() return orm.create_engine("sqlite://", v) end)
    try(function() return orm.Session(engine, v) end)
    try(function() return orm.sessionmaker(v) end)
    try(function() return orm.declarative_base(v) end)
    try(function() return Base:model("H" .. name .. calls, v) end)
    try(function() return M(v) end)
    try(function() s:add(v) end)
    try(function() s:add_all(v) end)
    try(function() s:add_all({ v, v }) end)
    try(function() return s:get(M, v) end)
    try(function() return s:scalars(orm.select(M):filter_by(v)):all() end)
    try(function() return s:scalars(orm.select(M):where(M.name:eq(v))):all() end)
    try(function() return s:scalars(orm.select(M):where(M.id:in_(v))):all() end)
    try(function() local m = M{}; m.name = v; s:add(m); s:flush() end)
    try(function() local m = M{}; m.data = v; s:add(m); s:flush() end)
    try(function() s:execute(orm.insert(M), v) end)
    try(function() s:execute(orm.insert(M), { v }) end)
    try(function() s:execute(orm.update(M):values(v)) end)
    try(function() return s:execute(orm.text("SELECT :a"), v):all() end)
    try(function() return orm.select(M):order_by(v) end)
    try(function() return orm.case(v, { else_ = 1 }) end)
    try(function() return orm.relationship("M", v) end)
    try(function() orm.event.listen(M, "before_insert", v) end)
    try(function() M:validates("name", v) end)
  end
end
print(("%d calls, %d raised"):format(calls, errors))
local ok, n = pcall(function()
  s:rollback()
  s:add(M{ name = "after" })
  s:commit()
  return s:scalar(orm.select(orm.func.count(M.id)):where(M.name:eq("after")))
end)
check("the session works afterwards", ok and n == 1, n)
print("DONE")

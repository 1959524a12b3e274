-- A flush that runs out of memory part way through rolls back: nothing half-written, the
-- session usable again. Run under `prlimit --as=...` (no sandbox).
local orm = require("lualchemy")
local path = assert(arg[1], "usage: flush_oom.lua DBFILE")
os.remove(path)
local Base = orm.declarative_base()
local calls = 0
local Note = Base:model("Note", {
  __tablename__ = "notes",
  id = orm.Column(orm.Integer, { primary_key = true }),
  body = orm.Column(orm.String, { nullable = false }),
  -- the third row's default asks for far more memory than is left
  stamp = orm.Column(orm.String, { default = function()
    calls = calls + 1
    if calls == 3 then return string.rep("y", 64 << 20) .. "!" .. string.rep("z", 64 << 20) end
    return "s" .. calls
  end }),
})
local engine = orm.create_engine("sqlite:///" .. path)
Base.metadata:create_all(engine)
local s = orm.Session(engine)
for i = 1, 5 do s:add(Note{ body = "note " .. i }) end

-- fill Lua's heap to its limit, then give back 16 MiB: enough for the flush's own work,
-- not for the third default's 128 MiB
local hog = {}
local ok, err = pcall(function()
  while true do hog[#hog + 1] = string.rep("x", 1 << 20) .. #hog end
end)
assert(not ok and tostring(err):find("not enough memory"), "filling: " .. tostring(err))
for _ = 1, 16 do hog[#hog] = nil end
collectgarbage()

local ok2, err2 = pcall(s.flush, s)
print("flush:", ok2, err2)
assert(not ok2, "the flush should have run out of memory")
assert(tostring(err2):find("not enough memory"), tostring(err2))
hog = nil
collectgarbage()

-- the transaction was rolled back: another connection sees no row
local other = orm.Session(orm.create_engine("sqlite:///" .. path))
print("rows after the failed flush:", other:scalar(orm.select(orm.func.count()):select_from(Note)))
assert(other:scalar(orm.select(orm.func.count()):select_from(Note)) == 0)
other:close()

-- the session goes on after a rollback
s:rollback()
calls = 10
s:add(Note{ body = "after" })
s:commit()
local n = s:scalar(orm.select(orm.func.count()):select_from(Note))
print("rows after the commit:", n)
assert(n == 1, "expected one row")
s:close()
print("DONE")

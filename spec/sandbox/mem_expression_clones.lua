-- Memory the Lua heap limit does not see: each level of `e = e + 1` is a new expression
-- object on the Rust side; if each copies the tree below it, 3000 levels kept alive take
-- O(n^2) Rust memory. Refused, bounded, or stopped by a limit: the process's peak resident
-- size must stay near the configured limits (the test watches it).
local orm = require("lualchemy")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
})
local keep = {}
local ok, err = pcall(function()
  local e = M.id
  for i = 1, 3000 do
    e = e + i
    keep[i] = e
  end
end)
print("built: " .. show(ok) .. " " .. show(err))
keep = nil
print("DONE")

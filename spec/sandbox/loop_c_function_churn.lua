-- A few VM instructions per step, each step three 1 MB C calls: the VM count alone would
-- allow thousands of steps (about 25 instructions each), so only an instruction count that
-- charges C work (one per 64 bytes: about 47000 a step) ends it within the budget of
-- 100000 the test sets; 20 steps are 940000 charged instructions, far past the limit.
local s = string.rep("x", 1000000)
local n = 0
while true do
  local r = s:reverse()
  r = r:upper()
  r = s:gsub("x", "y")
  n = n + 1
  if n >= 20 then break end
end
print("SURVIVED: " .. n .. " steps of C work within the instruction budget")

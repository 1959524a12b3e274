-- A few VM instructions per step, each step a 10 MB C call: the instruction count grows
-- slowly, so the timeout (or an instruction count that charges C work) must end it.
local s = string.rep("x", 10000000)
local n = 0
while true do
  local r = s:reverse()
  r = r:upper()
  r = s:gsub("x", "y")
  n = n + 1
end
print("SURVIVED")

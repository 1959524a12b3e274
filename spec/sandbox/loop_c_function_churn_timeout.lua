-- The C churn of loop_c_function_churn under a budget it cannot exhaust: the timeout must
-- end it (checked at each charged C call as well as by the instruction hook).
local s = string.rep("x", 1000000)
local n = 0
while true do
  local r = s:reverse()
  r = r:upper()
  r = s:gsub("x", "y")
  n = n + 1
end
print("SURVIVED")

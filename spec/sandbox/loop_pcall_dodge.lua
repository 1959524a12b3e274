-- pcall swallows the limit error and tries again, forever: once the budget is spent every
-- further attempt fails at once, and the script ends with the instruction limit.
local tries = 0
while true do
  local ok, err = pcall(function() while true do end end)
  tries = tries + 1
  if tries <= 3 then print("swallowed: " .. show(err)) end
end
print("SURVIVED")

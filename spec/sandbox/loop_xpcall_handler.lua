-- xpcall around an endless loop with a message handler that loops too; repeated forever.
local tries = 0
while true do
  xpcall(function() while true do end end, function(e) while true do end end)
  tries = tries + 1
  if tries <= 3 then print("xpcall returned " .. tries) end
  -- and an xpcall whose handler calls pcall of a loop
  xpcall(function() error("x") end, function(e) return pcall(function() while true do end end) end)
end
print("SURVIVED")

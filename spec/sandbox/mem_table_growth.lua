-- A table that grows without end.
local t = {}
while true do t[#t + 1] = {} end
print("SURVIVED")

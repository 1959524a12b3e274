-- A plain string.find whose naive search does 10^13 byte comparisons in one C call.
local hay = string.rep("a", 10000000)
local needle = string.rep("a", 5000000) .. "b"
local r = string.find(hay, needle, 1, true)
print("SURVIVED " .. tostring(r))

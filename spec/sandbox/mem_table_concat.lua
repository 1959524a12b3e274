-- 200000 references to one 1000-byte string cost little; table.concat of them asks for
-- 200 MB in one C call.
local piece = string.rep("y", 1000)
local t = {}
for i = 1, 200000 do t[i] = piece end
local s = table.concat(t)
print("SURVIVED " .. #s)

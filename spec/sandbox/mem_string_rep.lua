-- One C call asking for a terabyte.
local s = string.rep("x", 2^40)
print("SURVIVED " .. #s)

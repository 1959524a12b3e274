-- One call of string.find that backtracks for ages (no VM instruction runs inside it): a
-- bounded pattern matcher or the timeout must end it.
local s = string.rep("a", 100000)
local r = string.find(s, ".-.-.-.-.-.-b")
print("SURVIVED " .. tostring(r))

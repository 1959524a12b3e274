-- Unbounded Lua recursion (not a tail call): a stack overflow error (or a limit), no crash.
local function f() return f() + 1 end
f()
print("SURVIVED")

-- The string metatable is read-only: assignment, rawset and setmetatable on it are refused,
-- and string methods still behave afterwards.
local mt = getmetatable("")
print("getmetatable('') is a " .. type(mt))
local evil = { upper = function() return "pwned" end, rep = function() return "pwned" end }
refused("getmetatable('').__index = evil", function() getmetatable("").__index = evil end)
refused("rawset(getmetatable(''), '__index', evil)", function() rawset(getmetatable(""), "__index", evil) end)
refused("getmetatable('').__call = function", function()
  getmetatable("").__call = function() return "called" end
end)
refused("getmetatable('').__gc = function", function() getmetatable("").__gc = function() end end)
refused("getmetatable('').__add = function", function() getmetatable("").__add = function() return "pwned" end end)
refused("rawset(getmetatable(''), '__concat', f)", function() rawset(getmetatable(""), "__concat", function() return "pwned" end) end)
refused("setmetatable(getmetatable(''), {...})", function()
  setmetatable(getmetatable(""), { __index = function() return "pwned" end })
end)
refused("setmetatable('', {})", function() return setmetatable("", {}) end)
refused("getmetatable('').__metatable = nil", function() getmetatable("").__metatable = nil end)
-- nothing took effect
check("('abc'):upper() is ABC", ("abc"):upper() == "ABC", ("abc"):upper())
check("('ab'):rep(2) is abab", ("ab"):rep(2) == "abab")
check("strings are not callable", not pcall(function() return ("x")() end))
check("'1' + 1 is still 2", "1" + 1 == 2)
check("'a' .. 'b' is still ab", "a" .. "b" == "ab")
check("the metatable is the same value", getmetatable("") == mt)
print("DONE")

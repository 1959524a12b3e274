-- The environment has the contract's shape: every whitelisted global is there with the
-- right type, and nothing dangerous is.
local want = {
  print = "function", pcall = "function", xpcall = "function", error = "function",
  assert = "function", select = "function", type = "function", tostring = "function",
  tonumber = "function", pairs = "function", ipairs = "function", next = "function",
  rawget = "function", rawset = "function", rawequal = "function", rawlen = "function",
  setmetatable = "function", getmetatable = "function", unpack = "function",
  load = "function", collectgarbage = "function", require = "function",
  string = "table", table = "table", math = "table", coroutine = "table", utf8 = "table",
  os = "table",
}
for name, ty in pairs(want) do
  check("global " .. name .. " is a " .. ty, type(_ENV[name]) == ty, type(_ENV[name]))
end
check("table.unpack", type(table.unpack) == "function")
for _, name in ipairs({ "io", "package", "dofile", "loadfile", "loadstring", "module",
    "setfenv", "getfenv", "newproxy", "gcinfo", "jit", "ffi" }) do
  check("global " .. name .. " is absent", _ENV[name] == nil, type(_ENV[name]))
end
if _G ~= nil then
  check("_G, if present, is the sandbox's own environment", _G == _ENV)
  check("_G.io is absent", _G.io == nil)
end
if debug ~= nil then
  for k in pairs(debug) do
    check("debug has only traceback (found debug." .. tostring(k) .. ")", k == "traceback")
  end
end
check("string.dump is absent", string.dump == nil)
local os_ok = { clock = true, time = true, date = true, difftime = true }
for k in pairs(os) do
  check("os has only clock/time/date/difftime (found os." .. tostring(k) .. ")", os_ok[k] == true)
end
for k in pairs(os_ok) do check("os." .. k .. " is there", type(os[k]) == "function") end
print("DONE")

-- load refuses binary chunks in every mode and by every route; text chunks run in the
-- sandbox's environment.
-- A Lua 5.4 header followed by garbage: enough to reach the undump code if binary chunks
-- were accepted.
local header = "\27LuaT\0\25\147\13\10\26\10\4\8\8\120\86\0\0\0\0\0\0\0\0\0\0\0\40\119\64\1"
local junk = header .. string.rep("\255\0\127\128", 64)

local function load_must_fail(name, ...)
  local ok, f, msg = pcall(load, ...)
  if ok and type(f) == "function" then
    breach(name .. ": load returned a function for a binary chunk")
    pcall(f)
  else
    print("refused: " .. name .. ": " .. show(ok and msg or f))
  end
end
load_must_fail("load(binary)", junk)
load_must_fail("load(binary, name, 'b')", junk, "=bin", "b")
load_must_fail("load(binary, name, 'bt')", junk, "=bin", "bt")
load_must_fail("load(binary, name, nil)", junk, "=bin", nil)
load_must_fail("load(binary, name, 'tb', {})", junk, "=bin", "tb", {})
load_must_fail("load(bare signature)", "\27Lua")
local pieces = { "\27", "Lua", junk:sub(5) }
local i = 0
load_must_fail("load(reader function returning a binary chunk)", function()
  i = i + 1
  return pieces[i]
end)
-- (text with an explicit mode "b" may run or fail: either way it is text, not bytecode)

-- text chunks work and see the sandbox's environment, not the host's
local chunk = load("return io, package, dofile, loadfile, debug and debug.getregistry, os.execute, string.dump")
check("load(text) works", type(chunk) == "function")
local got = { chunk() }
for n = 1, 7 do check("a loaded chunk sees no " .. n .. "th forbidden value", got[n] == nil, got[n]) end
check("a loaded chunk sees string", load("return string.rep('a', 3)")() == "aaa")
check("a loaded chunk with mode t works", load("return 5", "=x", "t")() == 5)
-- a chunk given its own environment still cannot reach the host's globals
local own = load("return io, print", "=own", "t", {})
if own then
  local a, b = own()
  check("a chunk with its own env has no io", a == nil)
end
print("DONE")

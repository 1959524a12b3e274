-- dofile and loadfile are absent; evil.lua in the working directory prints a BREACH line
-- if it is ever run.
refused("dofile('evil.lua')", function() return dofile("evil.lua") end)
refused("dofile(WORK/evil.lua)", function() return dofile(WORK .. "/evil.lua") end)
refused("dofile() (reads stdin)", function() return dofile() end)
refused("loadfile('evil.lua')", function() return loadfile("evil.lua")() end)
refused("loadfile(WORK/evil.lua, 't', {})", function() return loadfile(WORK .. "/evil.lua", "t", {})() end)
refused("loadfile through _G", function() return _G.loadfile("evil.lua")() end)
refused("loadstring", function() return loadstring("return 1")() end)
refused("load with a reader reading a file", function()
  local f = io.open(WORK .. "/evil.lua")
  return load(function() return f:read(64) end)()
end)
print("DONE")

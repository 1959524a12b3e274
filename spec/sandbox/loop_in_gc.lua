-- Finalizers that never end or allocate without end, left for the collector and for the
-- host's teardown. Issue 7: "__gc finalizers refused or run under the same limits". If
-- setmetatable refuses __gc, the ways around the check are tried too: a placeholder __gc
-- filled in later, a callable table as __gc, __gc behind a metatable's __index.
local function loop() while true do end end
local function grow()
  local t = {}
  while true do t[#t + 1] = string.rep("x", 1000) .. #t end
end
local callable = setmetatable({}, { __call = loop })
local installed = 0
local function install(name, make)
  local ok, err = pcall(make)
  if ok then installed = installed + 1 end
  print(name .. ": " .. (ok and "installed" or ("refused: " .. show(err))))
end
for i = 1, 3 do
  install("a looping __gc", function() setmetatable({}, { __gc = loop }) end)
  install("an allocating __gc", function() setmetatable({}, { __gc = grow }) end)
  install("a callable table as __gc", function() setmetatable({}, { __gc = callable }) end)
  install("__gc = true, then the function", function()
    local mt = { __gc = true }
    setmetatable({}, mt)
    mt.__gc = loop
  end)
  install("__gc = false, then the function", function()
    local mt = { __gc = false }
    setmetatable({}, mt)
    mt.__gc = loop
  end)
  install("a __gc reached through the metatable's own __index", function()
    local mt = setmetatable({}, { __index = { __gc = loop } })
    setmetatable({}, mt)
  end)
  install("a resurrecting __gc that installs a looping one", function()
    setmetatable({}, { __gc = function(o)
      _ENV.resurrected = o
      setmetatable({}, { __gc = loop })
    end })
  end)
end
print("installed: " .. installed)
-- churn so the collector may run some of them now, in the middle of the script
local junk = {}
for i = 1, 20000 do junk[i % 100 + 1] = { i } end
print("DONE")

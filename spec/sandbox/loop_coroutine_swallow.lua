-- Every endless loop runs in a fresh coroutine (under pcall and coroutine.wrap too) and the
-- failure is ignored, forever.
local n = 0
while true do
  n = n + 1
  local co = coroutine.create(function() while true do end end)
  local ok, err = coroutine.resume(co)
  if n <= 3 then print("resume " .. n .. ": " .. show(ok) .. " " .. show(err)) end
  pcall(coroutine.wrap(function() while true do end end))
  pcall(function()
    local inner = coroutine.wrap(function() pcall(function() while true do end end) end)
    inner()
  end)
end
print("SURVIVED")

-- 200 coroutines, each wanting 1000000 instructions, resumed round-robin: the budget is
-- shared by all threads, so the total (far over --max-instructions 1000000) hits the limit.
local cos = {}
for i = 1, 200 do
  cos[i] = coroutine.create(function()
    for step = 1, 1000 do
      for _ = 1, 1000 do end
      coroutine.yield(step)
    end
  end)
end
local alive = #cos
while alive > 0 do
  alive = 0
  for i = 1, #cos do
    if coroutine.status(cos[i]) == "suspended" then
      local ok, err = coroutine.resume(cos[i])
      if not ok then
        -- a coroutine died of the limit: keep going with the others, as a dodge
        if i <= 3 then print("coroutine " .. i .. " failed: " .. show(err)) end
      else
        alive = alive + 1
      end
    end
  end
end
print("SURVIVED")

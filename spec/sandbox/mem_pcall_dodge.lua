-- Memory bombs under pcall, again and again: each fails (or the run ends with the memory
-- limit); the heap never goes over the limit and the script can go on after a caught one.
local limit_kb = 16 * 1024
for round = 1, 6 do
  local ok1 = pcall(string.rep, "x", 100000000)
  local ok2 = pcall(function() local s = "x" while true do s = s .. s end end)
  local ok3 = pcall(function() local t = {} while true do t[#t + 1] = { round } end end)
  local ok4 = pcall(table.concat, (function()
    local t, p = {}, string.rep("z", 10000)
    for i = 1, 5000 do t[i] = p end
    return t
  end)())
  if ok1 or ok2 or ok3 or ok4 then
    breach(("round %d: a bomb succeeded (%s %s %s %s)"):format(round, show(ok1), show(ok2), show(ok3), show(ok4)))
  end
  local used = collectgarbage("count")
  if used > limit_kb then breach(("round %d: the Lua heap holds %d KiB, over the 16 MiB limit"):format(round, used)) end
end
check("a small allocation works after the bombs", #string.rep("a", 1000) == 1000)
print("DONE")

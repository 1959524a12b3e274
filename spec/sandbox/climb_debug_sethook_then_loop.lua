-- Try to remove or replace the instruction-count hook, then loop forever: the instruction
-- limit must still end the script.
pcall(function() debug.sethook() end)
pcall(function() debug.sethook(function() end, "", 0) end)
pcall(function() debug.sethook(coroutine.running(), nil) end)
pcall(function() collectgarbage("stop") end)
print("hook attempts done, looping")
while true do end
print("SURVIVED")

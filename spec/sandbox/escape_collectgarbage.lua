-- collectgarbage is there only for "count"; every other option is refused with an error.
check("collectgarbage('count') is a number", type(collectgarbage("count")) == "number")
refused("collectgarbage()", function() return collectgarbage() end)
for _, opt in ipairs({ "collect", "stop", "restart", "step", "setpause", "setstepmul",
    "incremental", "generational", "isrunning" }) do
  refused("collectgarbage('" .. opt .. "')", function() return collectgarbage(opt, 0) end)
end
refused("collectgarbage with a table", function() return collectgarbage({}) end)
check("collectgarbage('count') still works after the attempts", collectgarbage("count") > 0)
print("DONE")

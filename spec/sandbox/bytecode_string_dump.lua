-- string.dump is absent, both as a global library function and through the string
-- metatable's __index; bytecode cannot be produced or loaded.
refused("string.dump", function() return string.dump(function() return 1 end) end)
refused("(''):dump through the string metatable", function() return ("").dump(print) end)
refused("getmetatable('').__index.dump", function() return getmetatable("").__index.dump(print) end)
refused("load(string.dump(f))", function()
  return load(string.dump(function() return "bytecode ran" end))()
end)
refused("load(string.dump(f), nil, 'b')", function()
  return load(string.dump(function() return "bytecode ran" end), nil, "b")()
end)
print("DONE")

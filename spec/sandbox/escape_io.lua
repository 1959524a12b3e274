-- File escape through the io library, reached by name, through _ENV, through _G and
-- through load: every one must be refused (io is absent). A success would also leave a file
-- outside the allowed directory, which the test sees.
refused("io.open(OUTSIDE/pwned_io.txt, 'w')", function()
  local f = io.open(OUTSIDE .. "/pwned_io.txt", "w")
  f:write("pwned")
  f:close()
  return f
end)
refused("io.open(OUTSIDE/victim.txt) for reading", function()
  local f = io.open(OUTSIDE .. "/victim.txt", "r")
  return f:read("a")
end)
refused("io.lines(/etc/passwd)", function() return io.lines("/etc/passwd")() end)
refused("io.popen('id')", function() return io.popen("id"):read("a") end)
refused("io.output(OUTSIDE/pwned_out.txt)", function()
  io.output(OUTSIDE .. "/pwned_out.txt"); io.write("pwned"); io.close()
  return true
end)
refused("io.stdout:write", function() return io.stdout:write("pwned\n") end)
refused("io.stderr through _ENV", function() return _ENV.io.stderr end)
refused("io through _G", function() return _G.io.open end)
refused("io through rawget(_ENV, 'io')", function() return rawget(_ENV, "io").open end)
refused("io through load", function() return load("return io.open")() end)
refused("io through a load with its own env", function() return load("return io", "x", "t", {})() .open end)
refused("file handle metatable through a string", function()
  -- io's file methods are not reachable from any value the sandbox hands out
  return getmetatable(io.stdout).__index.write
end)
print("DONE")

-- The debug library is absent (a traceback function at most): no registry, no upvalues,
-- no locals, no hooks, no metatables of other types.
local orm = require("lualchemy")
local function secret() return orm end
refused("debug.getregistry", function() return debug.getregistry() end)
refused("debug.getregistry()._LOADED.io", function() return debug.getregistry()._LOADED.io.open end)
refused("debug.getmetatable('')", function() return debug.getmetatable("") end)
refused("debug.setmetatable(nil, ...)", function() return debug.setmetatable(nil, { __index = {} }) end)
refused("debug.setmetatable(1, ...)", function() return debug.setmetatable(1, { __index = math }) end)
refused("debug.getupvalue(require, 1)", function() return debug.getupvalue(require, 1) end)
refused("debug.setupvalue", function() return debug.setupvalue(secret, 1, nil) end)
refused("debug.upvalueid", function() return debug.upvalueid(secret, 1) end)
refused("debug.upvaluejoin", function() return debug.upvaluejoin(secret, 1, secret, 1) end)
refused("debug.getlocal", function() return debug.getlocal(1, 1) end)
refused("debug.setlocal", function() return debug.setlocal(1, 1, nil) end)
refused("debug.getinfo", function() return debug.getinfo(1) end)
refused("debug.gethook", function() return debug.gethook() end)
refused("debug.sethook", function() return debug.sethook() end)
refused("debug.getuservalue", function() return debug.getuservalue(orm.Integer) end)
refused("debug.setuservalue", function() return debug.setuservalue(orm.Integer, {}) end)
refused("debug.setcstacklimit", function() return debug.setcstacklimit(1000000) end)
refused("debug.debug", function() return debug.debug() end)
if debug ~= nil and debug.traceback ~= nil then
  check("debug.traceback returns a string", type(debug.traceback("x")) == "string")
end
print("DONE")

-- Escape through the migration commands: they read and write files, so inside the sandbox
-- they reach only the --allow-dir directory (issue 18).
local migrate = require("lualchemy.migrate")
refused_orm("migrate.init outside the allowed directory", function() return migrate.init(OUTSIDE .. "/mig") end)
refused_orm("migrate.init climbing out with ..", function() return migrate.init(ALLOWED .. "/../mig") end)
refused_orm("migrate.heads of a folder outside", function() return migrate.heads(OUTSIDE) end)
refused_orm("migrate.revision into a folder outside", function() return migrate.revision(OUTSIDE, { message = "x" }) end)
refused_orm("migrate.upgrade of the working directory", function() return migrate.upgrade(WORK, "head") end)
print("DONE")

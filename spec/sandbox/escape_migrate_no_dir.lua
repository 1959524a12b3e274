-- Without --allow-dir the migration commands touch no file at all (issue 18).
local migrate = require("lualchemy.migrate")
refused_orm("migrate.init without --allow-dir", function() return migrate.init("migrations") end)
refused_orm("migrate.heads without --allow-dir", function() return migrate.heads(WORK) end)
print("DONE")

-- Positive control: a sandboxed mod migrates its own database under --allow-dir: the
-- migration folder and the database file both live there (issue 18).
local orm = require("lualchemy")
local migrate = require("lualchemy.migrate")
check("orm.migrate is the module", orm.migrate.upgrade == migrate.upgrade)
migrate.init(ALLOWED .. "/migrations")
local a = migrate.revision(ALLOWED .. "/migrations", { message = "first" })
local b = migrate.revision("migrations", { message = "second" }) -- relative: from the allowed directory
check("the second follows the first", b.down_revision == a.revision)
local opts = { url = "sqlite:///" .. ALLOWED .. "/mod.db" }
migrate.upgrade("migrations", "head", opts)
check("current is the head", migrate.current("migrations", opts) == b.revision)
migrate.downgrade("migrations", "-1", opts)
check("downgrade -1", migrate.current("migrations", opts) == a.revision)
local h = migrate.history("migrations")
check("history", #h == 2 and h[1].revision == b.revision)
print("DONE")

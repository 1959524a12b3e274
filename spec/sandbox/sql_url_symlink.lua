-- Symlinks inside --allow-dir that lead outside are resolved and refused: a directory link
-- (link_out -> OUTSIDE), a file link to the victim database, a dangling link to a file not
-- yet created outside.
-- open_and_use(url) opens and writes, open_and_read(url) reads (fixtures/url_probes.lua)
local open_and_use, open_and_read = url_probes()
refused_orm("ALLOWED/link_out/s.db (directory symlink)", open_and_use("sqlite:///" .. ALLOWED .. "/link_out/s.db"))
refused_orm("reading ALLOWED/link_out/target.db", open_and_read("sqlite:///" .. ALLOWED .. "/link_out/target.db"))
refused_orm("reading ALLOWED/victim_link.db (file symlink)", open_and_read("sqlite:///" .. ALLOWED .. "/victim_link.db"))
refused_orm("writing ALLOWED/victim_link.db (file symlink)", open_and_use("sqlite:///" .. ALLOWED .. "/victim_link.db"))
refused_orm("ALLOWED/dangling.db (dangling symlink to a new file outside)", open_and_use("sqlite:///" .. ALLOWED .. "/dangling.db"))
refused_orm("relative data/link_out/r.db", open_and_use("sqlite:///data/link_out/r.db"))
refused_orm("ALLOWED/link_out/../work/x.db", open_and_use("sqlite:///" .. ALLOWED .. "/link_out/../work/x.db"))
print("DONE")

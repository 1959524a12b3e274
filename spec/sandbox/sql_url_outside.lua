-- Engine URLs naming files outside --allow-dir raise an orm.Error (at create_engine or at
-- the first connection); nothing is created or read outside.
-- open_and_use(url) opens and writes, open_and_read(url) reads (fixtures/url_probes.lua)
local open_and_use, open_and_read = url_probes()
refused_orm("an absolute URL outside", open_and_use("sqlite:///" .. OUTSIDE .. "/o.db"))
refused_orm("a relative URL outside (../outside)", open_and_use("sqlite:///../outside/r.db"))
-- A relative URL: whether it is taken from the working directory (then refused: the working
-- directory is outside --allow-dir) or from the allowed directory (then it opens there) is
-- not fixed by the contract; either is fine so long as no file appears outside, which the
-- test checks.
local rok, rerr = pcall(open_and_use("sqlite:///cwd.db"))
print("relative sqlite:///cwd.db: " .. show(rok) .. " " .. show(rerr))
refused_orm("reading the victim database outside", open_and_read("sqlite:///" .. OUTSIDE .. "/target.db"))
refused_orm("/etc/passwd as a database", open_and_read("sqlite:////etc/passwd"))
refused_orm("the allowed directory itself as a database", open_and_use("sqlite:///" .. ALLOWED))
refused_orm("a URL with a doubled slash outside", open_and_use("sqlite:////" .. OUTSIDE .. "//d.db"))
refused_orm("the temp directory", open_and_use("sqlite:////tmp/lualchemy-sandbox-pwned.db"))
-- a file under the allowed directory is fine
local ok, err = pcall(open_and_use("sqlite:///" .. ALLOWED .. "/fine.db"))
check("a file under --allow-dir opens", ok, err)
print("DONE")

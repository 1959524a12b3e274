-- Positive control: everything a sandboxed script is meant to do still works, on a file
-- database under --allow-dir (the test checks the rows it leaves and PRAGMA integrity_check).
local orm = require("lualchemy")
check("require returns the same module twice", require("lualchemy") == orm)

local engine = orm.create_engine("sqlite:///" .. ALLOWED .. "/works.db")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  data = orm.Column(orm.JSON),
  born = orm.Column(orm.DateTime),
  __tostring = function(self) return ("M(%s)"):format(self.name) end,
})
Base.metadata:create_all(engine)

local inserted, validated = 0, 0
orm.event.listen(M, "before_insert", function(mapper, connection, target) inserted = inserted + 1 end)
M:validates("name", function(self, key, value) validated = validated + 1; return value:lower() end)

local s = orm.Session(engine)
s:add_all({
  M{ name = "ADA", data = { tags = { "a", "b" }, n = 1 }, born = os.time() },
  M{ name = "Bob", data = { 1, 2, 3 } },
  M{ name = "cy", born = os.date("*t") },
})
s:commit()
check("before_insert ran for each row", inserted == 3, inserted)
check("the validator ran", validated == 3, validated)

local names = {}
for m in s:scalars(orm.select(M):order_by(M.name)) do names[#names + 1] = tostring(m) end
check("query and __tostring", table.concat(names, ",") == "M(ada),M(bob),M(cy)", table.concat(names, ","))
local ada = s:scalars(orm.select(M):filter_by{ name = "ada" }):one()
check("JSON round trip", ada.data.tags[2] == "b", ada.data)
check("text SELECT with a bound parameter",
  s:execute(orm.text("SELECT count(*) FROM m WHERE name <> :n"), { n = "ada" }):scalar() == 2)
check("a plain SELECT through a connection", (function()
  local c = engine:connect()
  local n = c:execute(orm.text("SELECT count(*) FROM m")):scalar()
  c:close()
  return n == 3
end)())
local ok, err = pcall(function() s:add(M{ id = ada.id, name = "dup" }); s:flush() end)
check("database errors are orm.Error values", not ok and is_orm_error(err) and err:is("IntegrityError"), err)
s:rollback()
check("the session works after a failed flush", s:scalar(orm.select(orm.func.count(M.id))) == 3)
s:close()

-- The whitelisted library.
check("os.clock", type(os.clock()) == "number")
check("os.time", type(os.time()) == "number")
check("os.date", type(os.date("%Y-%m-%d")) == "string")
check("os.difftime", os.difftime(10, 4) == 6)
check("string methods", ("abc"):upper() == "ABC" and string.format("%d-%s", 1, "x") == "1-x")
check("string.find", string.find("hello", "l+") == 3)
check("table", table.concat({ 1, 2 }, "+") == "1+2" and select("#", table.unpack({ 1, 2, 3 })) == 3)
check("unpack", unpack ~= nil and select("#", unpack({ 1, 2 })) == 2)
check("math", math.floor(2.5) == 2 and math.maxinteger ~= nil)
check("utf8", utf8.char(228) == "\195\164" and utf8.len("\195\164") == 1)
check("coroutine", coroutine.wrap(function() coroutine.yield(7) end)() == 7)
check("pcall and error with a table", select(2, pcall(error, { code = 1 })).code == 1)
check("xpcall", select(2, xpcall(function() error("x", 0) end, function(e) return "handled " .. e end)) == "handled x")
check("select, type, tostring, tonumber", select(2, "a", "b") == "b" and type(1) == "number"
  and tostring(1) == "1" and tonumber("0x10") == 16)
check("pairs, ipairs, next", next({}) == nil and ipairs({}) ~= nil and pairs({}) ~= nil)
check("rawget, rawset, rawequal, rawlen", (function()
  local t = setmetatable({}, { __newindex = function() error("no") end })
  rawset(t, "k", 1)
  return rawget(t, "k") == 1 and rawequal(t, t) and rawlen({ 1, 2 }) == 2
end)())
check("setmetatable and getmetatable on plain tables", (function()
  local mt = { __index = function(_, k) return k .. "!" end }
  local t = setmetatable({}, mt)
  return getmetatable(t) == mt and t.hi == "hi!"
end)())
check("load of a text chunk", load("return 1 + 1")() == 2)
check("load of a text chunk with mode t", load("return 3", "chunk", "t")() == 3)
check("load sees the whitelisted library", load("return string.upper('x')")() == "X")
check("collectgarbage('count')", type(collectgarbage("count")) == "number")
check("assert", assert(1, "m") == 1)
print("DONE")

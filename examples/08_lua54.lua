-- requires: Lua 5.4
-- Part 8 of the ORM walkthrough: what Lua 5.3 and 5.4 add. `&`, `|` and `~` combine
-- conditions as orm.and_, orm.or_ and orm.not_ do; `//` is SQL floor division; a session or
-- connection declared `<close>` is closed at the end of its scope, as session:run(fn) does
-- on every version (docs/LUA_VERSIONS.md). Lua 5.1, 5.2, LuaJIT and Luau cannot parse this
-- file: the first line says so, and the spec runner skips it there.
--
--   lualchemy examples/08_lua54.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  age = orm.Column(orm.Integer),
})
Base.metadata:create_all(engine)

orm.Session(engine):run(function(s)
  s:add_all({ User{ name = "ann", age = 30 }, User{ name = "Bob", age = 20 },
              User{ name = "carl", age = 40 }, User{ name = "ed", age = 33 } })
  s:commit()
end)

local function names(stmt)
  local out = {}
  orm.Session(engine):run(function(s)
    for user in s:scalars(stmt) do out[#out + 1] = user.name end
  end)
  return "{" .. table.concat(out, ", ") .. "}"
end

print("== & | ~ ==")
local cond = (User.age:lt(25) | User.age:gt(35)) & ~User.name:eq("carl")
print(tostring(cond))
print("->", names(orm.select(User):where(cond):order_by(User.id)))
print("the same as and_/or_/not_:", tostring(cond) == tostring(
  orm.and_(orm.or_(User.age:lt(25), User.age:gt(35)), orm.not_(User.name:eq("carl")))))

print()
print("== // ==")
print(tostring(User.age // 7))
local s = orm.Session(engine)
print("ages // 7:", table.concat(s:scalars(orm.select(User.age // 7):order_by(User.id)):all(), ", "))
s:close()

print()
print("== <close> ==")
do
  local session <close> = orm.Session(engine)
  session:add(User{ name = "fred", age = 50 })
  session:commit()
end
do
  local session <close> = orm.Session(engine)
  session:add(User{ name = "dropped", age = 1 })
  session:flush()
end
print("fred was committed, dropped rolled back at the end of its scope:",
  names(orm.select(User):where(User.age:ge(50) | User.age:eq(1)):order_by(User.id)))

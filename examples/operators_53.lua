-- requires: Lua 5.3
-- Combining conditions with Lua 5.3's operators: `a & b` is orm.and_(a, b), `a | b` is
-- orm.or_(a, b) and `~a` is orm.not_(a), as in SQLAlchemy. Lua 5.1, 5.2 and LuaJIT have no
-- such operators (the file would not even parse there): use and_ / or_ / not_, which work
-- on every version (examples/04_query.lua). Lua's own `and` / `or` / `not` cannot be
-- overloaded and do not build SQL.
--
--   lualchemy examples/operators_53.lua
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

local session = orm.Session(engine)
session:execute(orm.insert(User), {
  { name = "ann", age = 30 }, { name = "Bob", age = 20 }, { name = "carl", age = 40 },
  { name = "ed", age = 30 },
})
session:commit()

local function names(cond)
  local out = {}
  for user in session:scalars(orm.select(User):where(cond):order_by(User.id)) do
    out[#out + 1] = user.name
  end
  return "{" .. table.concat(out, ", ") .. "}"
end

local young_or_old = User.age:lt(25) | User.age:gt(35)
local with_operators = young_or_old & ~User.name:eq("carl")
local with_functions = orm.and_(orm.or_(User.age:lt(25), User.age:gt(35)), orm.not_(User.name:eq("carl")))
print("& | ~      ", tostring(with_operators), "->", names(with_operators))
print("and_ or_ not_", tostring(with_functions), "->", names(with_functions))
print("the same SQL:", tostring(with_operators) == tostring(with_functions))
session:close()

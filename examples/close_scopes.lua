-- requires: Lua 5.4
-- Lua 5.4's to-be-closed variables: `local s <close> = Session()` closes the session when
-- the block ends, normally or by an error, like Python's `with Session() as s:`. What was
-- not committed is rolled back. On every version, session:run(fn) does the same
-- (examples/07_sessions.lua).
--
--   lualchemy examples/close_scopes.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
})
Base.metadata:create_all(engine)
local Session = orm.sessionmaker{ bind = engine }

local function stored_names()
  local s = Session()
  local out = {}
  for user in s:scalars(orm.select(User):order_by(User.id)) do out[#out + 1] = user.name end
  s:close()
  return "{" .. table.concat(out, ", ") .. "}"
end

do
  local s <close> = Session()
  s:add(User{ name = "fred" })
  s:commit()
end
print("a <close> session committed fred and closed at the end of its scope:", stored_names())

local fred
do
  local s <close> = Session()
  fred = s:scalars(orm.select(User):filter_by{ name = "fred" }):one()
  s:add(User{ name = "dropped" })
  s:flush()
end
print("a <close> session that did not commit rolled back:", stored_names(),
  "| fred is now detached:", orm.inspect(fred).detached)

local ok, err = pcall(function()
  local s <close> = Session()
  s:add(User{ name = "lost" })
  s:flush()
  error("something went wrong")
end)
print("an error inside the block closes the session too:", ok, err, stored_names())

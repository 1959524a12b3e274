-- lualchemy quickstart: declare a model, create the schema, and do CRUD through a session,
-- on an in-memory SQLite database.
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100), { unique = true }),
  age = orm.Mapped("int?"),
  __tostring = function(self) return ("User(id=%s, name=%q)"):format(tostring(self.id), self.name) end,
})

function User:greet() return "hi " .. self.name end

Base.metadata:create_all(engine)
print("created tables:", table.concat((function()
  local names = {}
  for name in pairs(Base.metadata.tables) do names[#names + 1] = name end
  table.sort(names)
  return names
end)(), ", "))

local Session = orm.sessionmaker{ bind = engine }

-- add and commit
Session():run(function(session)
  session:add_all({
    User{ name = "ed", email = "ed@example.com", age = 33 },
    User{ name = "wendy", email = "wendy@example.com", age = 28 },
    User{ name = "mary", email = "mary@example.com", age = 41 },
  })
  session:commit()
  print("inserted 3 users")
end)

-- query
local session = Session()
for user in session:scalars(orm.select(User):where(User.age:gt(30)):order_by(User.name)) do
  print("over 30:", user, user:greet())
end
local ed = session:get(User, 1)
print("get(User, 1):", ed, "same object again:", session:get(User, 1) == ed)

-- update: only the changed column is written
ed.age = 34
print("dirty before commit:", #session.dirty)
session:commit()
print("ed's age after commit (reloaded):", ed.age)

-- delete
session:delete(session:scalars(orm.select(User):filter_by{ name = "mary" }):one())
session:commit()
print("users left:", session:scalar(orm.select(orm.func.count(User.id))))

-- errors are values with a kind
local ok, err = pcall(function()
  session:add(User{ name = "eddie", email = "ed@example.com" })
  session:commit()
end)
print("duplicate email:", ok, err.kind)
session:rollback()
print("after rollback, users:", session:scalar(orm.select(orm.func.count(User.id))))
session:close()

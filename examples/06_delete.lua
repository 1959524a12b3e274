-- Part 6 of the ORM walkthrough: deleting objects.
--
-- session:delete marks an object; the flush sends the DELETE and the object becomes
-- "deleted"; a rollback brings it back, a commit makes it detached and the row is gone.
--
--   lualchemy examples/06_delete.lua
local orm = require("lualchemy")

-- Keep the DELETE statements the engine sends. A batched statement (executemany) comes
-- with a list of parameter lists.
local deletes = {}
local function show_params(params)
  local parts = {}
  for i, p in ipairs(params) do parts[i] = type(p) == "table" and show_params(p) or tostring(p) end
  return "(" .. table.concat(parts, ", ") .. ")"
end
local engine = orm.create_engine("sqlite://", {
  echo = function(sql, params)
    if sql:find("^DELETE") then
      deletes[#deletes + 1] = sql:gsub("%s*\n%s*", " ") .. "   " .. show_params(params)
    end
  end,
})

local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  __tostring = function(self) return ("User(id=%s, name=%q)"):format(tostring(self.id), self.name) end,
})
Base.metadata:create_all(engine)

local function state_of(obj)
  local insp = orm.inspect(obj)
  for _, name in ipairs({ "transient", "pending", "persistent", "deleted", "detached" }) do
    if insp[name] then return name end
  end
end

local function count_users(session) return session:scalar(orm.select(orm.func.count(User.id))) end

local function print_deletes()
  for _, d in ipairs(deletes) do print("  " .. d) end
  if #deletes == 0 then print("  (no DELETE)") end
  deletes = {}
end

local session = orm.Session(engine)
local ed, wendy, mary = User{ name = "ed" }, User{ name = "wendy" }, User{ name = "mary" }
session:add_all({ ed, wendy, mary })
session:commit()
print("stored", count_users(session), "users:", ed, wendy, mary)

print()
print("== delete marks the object ==")
session:delete(ed)
print("after session:delete(ed): state", state_of(ed), "| in session.deleted:", session.deleted:contains(ed),
  "| #session.deleted:", #session.deleted)
print("no DELETE has been sent yet:", #deletes == 0)

session:flush()
print("after flush: state", state_of(ed), "| #session.deleted:", #session.deleted)
print("the flush sent:")
print_deletes()
print("queries no longer see it:", count_users(session), "users")
print("get(User, 1) inside the transaction:", session:get(User, 1))

print()
print("== rollback restores it ==")
session:rollback()
print("after rollback: state", state_of(ed), "| ed.name:", ed.name, "| users:", count_users(session))
print("get(User, 1) is ed again:", session:get(User, 1) == ed)

print()
print("== delete, then commit ==")
session:delete(ed)
session:commit()
print("the commit sent:")
print_deletes()
print("after commit: state", state_of(ed), "| users:", count_users(session))
print("get(User, 1):", session:get(User, 1))
local names = {}
for u in session:scalars(orm.select(User):order_by(User.id)) do names[#names + 1] = u.name end
print("remaining:", table.concat(names, ", "))

print()
print("== deleting several objects in one flush ==")
session:delete(wendy)
session:delete(mary)
for obj in session.deleted:iter() do print("  marked:", obj) end
session:commit()
print("the commit sent one batched DELETE:")
print_deletes()
print("users left:", count_users(session))

print()
print("== only persistent objects can be deleted ==")
local ok, err = pcall(session.delete, session, User{ name = "never stored" })
print("deleting a transient object:", ok, err.kind)
print("  " .. err.message)

session:close()

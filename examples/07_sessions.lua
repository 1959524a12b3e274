-- Part 7 of the ORM walkthrough: sessions and transactions.
--
-- sessionmaker and configure, session:begin(fn), savepoints with begin_nested, run(fn)
-- scopes (Lua 5.4's `<close>`: examples/08_lua54.lua), merge/expunge/refresh/expire, and what happens when a flush fails:
-- IntegrityError, PendingRollbackError, rollback and a session that works again.
--
--   lualchemy examples/07_sessions.lua
local orm = require("lualchemy")

local statements = {}
local engine = orm.create_engine("sqlite://", {
  echo = function(sql) statements[#statements + 1] = sql end,
})
local function transaction_statements()
  local out = {}
  for _, sql in ipairs(statements) do
    if sql:find("^BEGIN") or sql:find("^COMMIT") or sql:find("ROLLBACK") or sql:find("SAVEPOINT") then
      out[#out + 1] = sql
    end
  end
  statements = {}
  return table.concat(out, " / ")
end

local Base = orm.declarative_base()
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100), { unique = true }),
  __tostring = function(self) return ("User(id=%s, name=%q)"):format(tostring(self.id), self.name) end,
})
Base.metadata:create_all(engine)
statements = {}

local function state_of(obj)
  local insp = orm.inspect(obj)
  for _, name in ipairs({ "transient", "pending", "persistent", "deleted", "detached" }) do
    if insp[name] then return name end
  end
end

-- Names stored in the database, read through a connection of its own.
local function stored_names()
  local conn = engine:connect()
  local names = conn:execute(orm.text("SELECT name FROM users ORDER BY id")):scalars():all()
  conn:close()
  statements = {}
  return "{" .. table.concat(names, ", ") .. "}"
end

print("== sessionmaker ==")
-- A factory made before the engine is known, bound later with configure.
local Session = orm.sessionmaker()
Session:configure{ bind = engine }
local session = Session()
session:add(User{ name = "ed", email = "ed@example.com" })
session:commit()
session:close()
print("Session() made a session bound to the engine; stored:", stored_names())

print()
print("== session:begin(fn): commit on return, rollback on error ==")
session = Session()
local n = session:begin(function()
  session:add(User{ name = "wendy", email = "wendy@example.com" })
  return 1
end)
print("begin(fn) returned", n, "and committed:", transaction_statements(), "->", stored_names())

local ok, err = pcall(session.begin, session, function()
  session:add(User{ name = "ghost" })
  session:flush()
  error("something went wrong", 0)
end)
print("an error inside begin(fn) is re-raised:", ok, err)
print("and the work rolled back:", transaction_statements(), "->", stored_names())

print()
print("== begin_nested: a savepoint rolls back part of the work ==")
local outer = User{ name = "mary", email = "mary@example.com" }
session:add(outer)
local inner = User{ name = "temp" }
ok, err = pcall(session.begin_nested, session, function()
  session:add(inner)
  session:flush()
  print("  inside the savepoint temp has id", inner.id)
  error("undo the savepoint", 0)
end)
print("the savepoint was rolled back:", err, "| temp is", state_of(inner), "with id", inner.id,
  "| mary is", state_of(outer))
-- a savepoint that returns normally is released and its work stays
session:begin_nested(function() session:add(User{ name = "jack" }) end)
session:commit()
print("after commit:", transaction_statements())
print("stored:", stored_names())

print()
print("== session:run(fn) ==")
local result = Session():run(function(s)
  s:add(User{ name = "uncommitted" })
  s:flush()
  return s:scalar(orm.select(orm.func.count(User.id)))
end)
print("run(fn) saw", result, "users, then closed the session without committing:", stored_names())

Session():run(function(s)
  s:add(User{ name = "fred", email = "fred@example.com" })
  s:commit()
end)
print("a run(fn) session committed fred and closed at the end of its scope:", stored_names())

local fred
Session():run(function(s)
  fred = s:scalars(orm.select(User):filter_by{ name = "fred" }):one()
  s:add(User{ name = "dropped" })
  s:flush()
end)
print("a run(fn) session that did not commit rolled back:", stored_names(), "| fred is now", state_of(fred))

print()
print("== merge, expunge, refresh, expire ==")
session = Session()
-- merge copies the state of an object from outside the session onto the persistent one
local incoming = User{ id = 1, name = "edward" }
local merged = session:merge(incoming)
print("merge returned", merged, "(" .. state_of(merged) .. "); the given object stays", state_of(incoming))
session:commit()
print("after commit:", stored_names())

-- expunge takes one object out of the session, dropping its pending changes
local wendy = session:get(User, 2)
wendy.name = "not saved"
session:expunge(wendy)
session:commit()
print("expunged wendy is", state_of(wendy), "and her change was not saved:", stored_names())

-- refresh reloads an object from the database now, discarding local changes
local ed = session:get(User, 1)
ed.name = "local change"
session:refresh(ed)
print("refresh(ed) reloaded:", ed.name, "| modified:", session:is_modified(ed))

-- expire marks attributes to reload on next access (all of them, or the ones named)
local conn = engine:connect()
conn:execute(orm.text("UPDATE users SET name = 'Ed Jones' WHERE id = 1"))
conn:commit()
conn:close()
print("another connection changed the row; ed.name is still", ed.name)
session:commit()
session:expire(ed, { "name" })
print("after expire(ed, { 'name' }) it reads", ed.name)
session:expire_all()
print("expire_all() expires every object in the session; ed.email reloads:", ed.email)
session:close()

print()
print("== a failed flush ==")
session = Session()
local first = session:get(User, 1)
local newcomer = User{ name = "newcomer", email = "new@example.com" }
session:add(newcomer)
session:flush()
print("flushed newcomer with id", newcomer.id, "inside the transaction")

local clash = User{ name = "clash", email = "ed@example.com" }
session:add(clash)
ok, err = pcall(session.flush, session)
print("flush failed:", ok, "| err.kind =", err.kind, "| is a DBAPIError:", err:is("DBAPIError"))
print("  err.orig =", err.orig)
print("  err.statement =", err.statement)
print("  tostring(err) =", tostring(err))

ok, err = pcall(function() return session:scalars(orm.select(User)):all() end)
print("using the session before rollback raises", err.kind)
print("  " .. err.message)
print("nothing of the failed transaction is stored:", stored_names())

session:rollback()
print("after rollback: newcomer is", state_of(newcomer), "with id", newcomer.id,
  "| clash is", state_of(clash), "| first is", state_of(first))

-- the session works again; the fixed object can be added once more
clash.email = "clash@example.com"
session:add_all({ newcomer, clash })
session:commit()
print("recovered: committed newcomer (id " .. newcomer.id .. ") and clash (id " .. clash.id .. ")")
print("stored:", stored_names())
session:close()

-- Part 5 of the ORM walkthrough: updating objects.
--
-- Changing attributes marks an object dirty; the flush writes an UPDATE naming only the
-- changed columns, and nothing at all when the value is back where it started. onupdate
-- values, attribute history, and the reload that expire_on_commit causes.
--
--   lualchemy examples/05_update.lua
local orm = require("lualchemy")

-- Keep the statements the engine sends, to show what each flush wrote.
local log = {}
local engine = orm.create_engine("sqlite://", {
  echo = function(sql, params) log[#log + 1] = { sql = sql, params = params } end,
})

-- Print the statements sent since the last call that match a pattern, then forget them all.
local function sent(pattern, title)
  local shown = 0
  print(title)
  for _, e in ipairs(log) do
    if e.sql:find(pattern) then
      local params = {}
      for i, p in ipairs(e.params or {}) do params[i] = tostring(p) end
      print(("  %s   [%s]"):format(e.sql:gsub("%s*\n%s*", " "), table.concat(params, ", ")))
      shown = shown + 1
    end
  end
  if shown == 0 then print("  (nothing)") end
  for i = #log, 1, -1 do log[i] = nil end
end

local Base = orm.declarative_base()
local edits = 0
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  fullname = orm.Column(orm.String(100)),
  age = orm.Column(orm.Integer),
  -- a function onupdate: called for every UPDATE of a row, never for the INSERT
  edit_count = orm.Column(orm.Integer, { default = 0, onupdate = function()
    edits = edits + 1
    return edits
  end }),
  -- an SQL-expression onupdate: evaluated by the database
  updated_at = orm.Column(orm.DateTime, { onupdate = orm.func.now() }),
  __tostring = function(self) return ("User(id=%s, name=%q, age=%s)"):format(tostring(self.id), self.name, tostring(self.age)) end,
})
Base.metadata:create_all(engine)

local session = orm.Session(engine)
local ed = User{ name = "ed", fullname = "Ed Jones", age = 30 }
local wendy = User{ name = "wendy", fullname = "Wendy Williams", age = 28 }
session:add_all({ ed, wendy })
session:commit()
print("stored:", ed, wendy)
print("after INSERT: edit_count =", ed.edit_count, "updated_at =", ed.updated_at)
for i = #log, 1, -1 do log[i] = nil end

print()
print("== change an attribute ==")
ed.age = 31
print("session.dirty holds", #session.dirty, "object(s); contains ed:", session.dirty:contains(ed))
print("is_modified(ed):", session:is_modified(ed), " is_modified(wendy):", session:is_modified(wendy))
print("inspect(ed).modified:", orm.inspect(ed).modified)
local h = orm.inspect(ed).attrs.age.history
print(("history of ed.age: added {%s}, deleted {%s}"):format(table.concat(h.added, ", "), table.concat(h.deleted, ", ")))
session:commit()
sent("^UPDATE", "commit sent one UPDATE naming only age (and the onupdate columns):")
print("is_modified(ed) after commit:", session:is_modified(ed), " dirty:", #session.dirty)

print()
print("== expire_on_commit: the next read reloads from the database ==")
print("ed.age:", ed.age)
sent("^SELECT", "that read sent:")
print("onupdate set edit_count =", ed.edit_count, "and updated_at is set:", ed.updated_at ~= nil)

print()
print("== no net change, no UPDATE ==")
ed.name = "edward"
ed.name = "ed"
print("set name to 'edward' and back to 'ed': is_modified =", session:is_modified(ed))
print("(session.dirty is optimistic, as in SQLAlchemy: it still lists ed:", session.dirty:contains(ed), ")")
-- wendy was expired by the commit: load her first, so the session knows the old value
print("wendy.age is", wendy.age)
wendy.age = 28
print("set wendy.age to the value it already had: is_modified =", session:is_modified(wendy))
local before = edits
session:commit()
sent("^UPDATE", "commit sent these UPDATEs:")
print("the onupdate function did not run either:", edits == before)

print()
print("== two objects, two columns ==")
ed.fullname = "Edward Jones"
wendy.age = 29
wendy.fullname = "Wendy W."
for obj in session.dirty:iter() do print("dirty:", obj) end
session:flush()
sent("^UPDATE", "the flush sent one UPDATE per object, each with its own columns:")
session:commit()
print("after commit:", ed.fullname, "|", wendy.fullname, wendy.age, "| edits so far:", edits)
for i = #log, 1, -1 do log[i] = nil end

print()
print("== autoflush: a query sees pending changes ==")
ed.age = 50
local found = session:scalars(orm.select(User):where(User.age:gt(40))):all()
print("select users over 40 ->", #found, "user:", found[1])
sent("^UPDATE", "the query flushed first:")
session:rollback()
print("after rollback ed.age is back to", ed.age)

print()
print("== expire_on_commit = false keeps the loaded values ==")
local keep = orm.Session(engine, { expire_on_commit = false })
local w = keep:get(User, wendy.id)
w.age = 30
keep:commit()
for i = #log, 1, -1 do log[i] = nil end
print("wendy.age after commit:", w.age)
sent("^SELECT", "reading it sent:")
keep:close()

session:close()

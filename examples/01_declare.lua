-- Part 1 of the ORM walkthrough: declaring models.
--
-- Both declarative styles (orm.Column and the typed orm.Mapped), column types and options,
-- mixins, abstract bases, methods and __tostring, and __table_args__ with a constraint and
-- an index. Runs on an in-memory SQLite database:
--
--   lualchemy examples/01_declare.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()

-- Column style: orm.Column(type, { options }).
local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100), { unique = true }),
  -- a scalar default applies at flush when no value was given
  status = orm.Column(orm.String(10), { default = "active" }),
  -- a function default computes the value from the row being inserted
  handle = orm.Column(orm.String(60), {
    default = function(ctx) return "@" .. ctx.current_parameters.name:lower() end,
  }),
  -- a server default lives in the DDL; the database fills it in
  created_at = orm.Column(orm.DateTime, { server_default = orm.func.now() }),
  -- onupdate applies on every UPDATE of the row (not on INSERT); here an SQL expression
  updated_at = orm.Column(orm.DateTime, { onupdate = orm.func.now() }),
  -- a method declared in the model table
  initials = function(self) return self.name:sub(1, 1):upper() end,
  __tostring = function(self) return ("User(id=%s, name=%q)"):format(tostring(self.id), self.name) end,
})

-- a method assigned to the class later
function User:greet(greeting) return (greeting or "hello") .. ", " .. self.name end

-- Typed style: orm.Mapped("annotation"), resolved through the type annotation map.
local Account = Base:model("Account", {
  __tablename__ = "accounts",
  id = orm.Mapped("int", { primary_key = true }),
  owner = orm.Mapped("str"),            -- NOT NULL, like Mapped[str]
  nickname = orm.Mapped("str?"),        -- nullable, like Mapped[Optional[str]]
  balance = orm.Mapped("float?", { default = 0.0 }),
  active = orm.Mapped("bool", { default = true }),
  -- %.1f: Lua 5.1 and LuaJIT print the float 0.0 as "0"
  __tostring = function(self) return ("Account(%s, %s, balance=%.1f)"):format(tostring(self.id), tostring(self.owner), self.balance) end,
})

-- Every column type.
local Sample = Base:model("Sample", {
  __tablename__ = "samples",
  id = orm.Column(orm.Integer, { primary_key = true }),
  big = orm.Column(orm.BigInteger),
  small = orm.Column(orm.SmallInteger),
  title = orm.Column(orm.String(20)),
  body = orm.Column(orm.Text),
  ratio = orm.Column(orm.Float),
  price = orm.Column(orm.Numeric(10, 2)),
  flag = orm.Column(orm.Boolean),
  day = orm.Column(orm.Date),
  at = orm.Column(orm.DateTime),
  clock = orm.Column(orm.Time),
  blob = orm.Column(orm.LargeBinary),
  doc = orm.Column(orm.JSON),
  color = orm.Column(orm.Enum("red", "green", "blue")),
})

-- A mixin is a plain table of columns and methods, copied into every model that lists it.
local TimestampMixin = {
  created = orm.Column(orm.DateTime, { server_default = orm.func.now() }),
  age_label = function(self) return "created " .. tostring(self.created) end,
}

-- An abstract base has no table of its own; models built from it inherit its columns.
local Common = Base:model("Common", {
  __abstract__ = true,
  id = orm.Column(orm.Integer, { primary_key = true }),
  describe = function(self) return ("%s #%s"):format(self.kind_name(), tostring(self.id)) end,
})

local Post = Common:model("Post", {
  __tablename__ = "posts",
  __mixins__ = { TimestampMixin },
  title = orm.Mapped("str"),
  body = orm.Column(orm.Text),
  kind_name = function() return "post" end,
  __table_args__ = {
    orm.UniqueConstraint("title", "body", { name = "uq_posts_title_body" }),
    orm.Index("ix_posts_title", "title"),
  },
})

local Tag = Common:model("Tag", {
  __tablename__ = "tags",
  __mixins__ = { TimestampMixin },
  label = orm.Column(orm.String(30), { unique = true, index = true }),
  kind_name = function() return "tag" end,
  __table_args__ = { orm.CheckConstraint("length(label) > 0") },
})

print("== models ==")
print("mapped classes:", #Base.registry.mappers, "(the abstract base Common has no mapper and no table)")

-- orm.inspect(Model) is the Mapper: its columns in declaration order (own columns first,
-- then those from abstract bases and mixins).
local function show_columns(model)
  local mapper = orm.inspect(model)
  print(("%s -> table %s"):format(mapper.class.__name__, mapper.local_table.name))
  for _, c in ipairs(mapper.columns) do
    local flags = {}
    if c.primary_key then flags[#flags + 1] = "primary key" end
    if not c.nullable then flags[#flags + 1] = "NOT NULL" end
    print(("  %-10s %-14s %s"):format(c.key, tostring(c.type), table.concat(flags, ", ")))
  end
end

for _, model in ipairs({ User, Account, Sample, Post, Tag }) do show_columns(model) end

print("== create the schema and use the models ==")
Base.metadata:create_all(engine)

local session = orm.Session(engine)
local ed = User{ name = "Ed", email = "ed@example.com" }
print("before flush, defaults are not applied yet:", ed.status, ed.handle)
session:add(ed)
session:flush()
print("after flush:", ed, "status=" .. ed.status, "handle=" .. ed.handle)
print("server default created_at is filled in:", ed.created_at ~= nil)
print("methods:", ed:initials(), ed:greet(), ed:greet("hi"))

print("updated_at before any UPDATE:", ed.updated_at)
ed.email = "edward@example.com"
session:flush()
print("after an UPDATE, onupdate set updated_at:", ed.updated_at ~= nil)

local acct = Account{ owner = "Ed" }
session:add(acct)
session:flush()
print("Mapped defaults:", acct, "active=" .. tostring(acct.active))

local sample = Sample{
  big = 9007199254740993, small = 7, title = "types", body = "héllo ✓", ratio = 0.25,
  price = 19.99, flag = false, day = "2026-11-21", at = "2026-11-21 10:00:00",
  clock = "10:11:12", blob = "\0\1\2", doc = { tags = { "a", "b" }, ok = true }, color = "green",
}
session:add(sample)
session:commit()
print("JSON round trip:", sample.doc.tags[1], sample.doc.tags[2], sample.doc.ok)
print("DateTime, Date, Time:", sample.at, sample.day, sample.clock)
print("Enum and LargeBinary:", sample.color, #sample.blob .. " bytes")

local post = Post{ title = "Hello", body = "First post" }
local tag = Tag{ label = "news" }
session:add_all({ post, tag })
session:commit()
print("abstract base and mixin methods:", post:describe(), tag:describe())
print("mixin column from the server:", post:age_label():match("^created %d%d%d%d%-") ~= nil)

-- the UniqueConstraint of __table_args__ is enforced by the database
local ok, err = pcall(function()
  session:add(Post{ title = "Hello", body = "First post" })
  session:flush()
end)
print("duplicate (title, body) refused:", not ok, err.kind)
session:rollback()

-- and so is the CheckConstraint
ok, err = pcall(function()
  session:add(Tag{ label = "" })
  session:flush()
end)
print("empty tag label refused:", not ok, err.orig)
session:rollback()

-- the indexes were created by create_all (each database lists them in its own catalog)
local catalog = {
  sqlite = "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'ix_%' ORDER BY name",
  postgresql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
    .. "AND indexname LIKE 'ix_%' ORDER BY indexname",
  mysql = "SELECT DISTINCT index_name FROM information_schema.statistics "
    .. "WHERE table_schema = DATABASE() AND index_name LIKE 'ix_%' ORDER BY index_name",
}
catalog.mariadb = catalog.mysql
local names = session:execute(orm.text(catalog[engine.dialect])):scalars():all()
print("indexes:", table.concat(names, ", "))

-- unknown keyword arguments are refused, naming the model and the key
ok, err = pcall(function() return User{ nmae = "typo" } end)
print("User{ nmae = ... }:", tostring(err))

session:close()

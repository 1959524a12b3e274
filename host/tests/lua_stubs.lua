-- The check of types/lualchemy.lua (the LuaLS stubs) against the module: run by
-- host/tests/lua_stubs.rs in a state with the debug library, given the stub file's text.
-- Every public name the module exports (the module table, and the methods and fields of a
-- sample of each of its objects, read from their metatables) must have a stub, and every
-- stubbed name must exist on that sample. Returns a list of problems (empty when in step),
-- and the inventory of names it walked.
local stub_text = ...  -- and the text of lua/prelude.lua, read below
local orm = require("lualchemy")

-- Names with a leading underscore are private, except these (SQLAlchemy's Row API, the
-- module's version, and orm._raised, which docs/BEHAVIOUR.md documents).
local PUBLIC_UNDERSCORE = {
  _VERSION = true, _raised = true, _mapping = true, _fields = true, _asdict = true, _tuple = true,
}

-- The samples: one value of each class the stubs describe.
local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local Common = Base:model("Common", { __abstract__ = true, id = orm.Column(orm.Integer, { primary_key = true }) })
local User = Common:model("User", {
  __tablename__ = "users",
  name = orm.Column(orm.String(50)),
  upper_name = orm.hybrid_property(function(self) return self.name end),
  nick = orm.synonym("name"),
  posts = orm.relationship("Post", { back_populates = "author" }),
  post_log = orm.relationship("Post", { lazy = "write_only", viewonly = true }),
  posts_by_id = orm.relationship("Post", { collection_class = orm.attribute_keyed_dict("id"), viewonly = true }),
})
local Post = Base:model("Post", {
  __tablename__ = "posts",
  id = orm.Column(orm.Integer, { primary_key = true }),
  user_id = orm.Column(orm.Integer, orm.ForeignKey("users.id")),
  author = orm.relationship("User", { back_populates = "posts" }),
  owner = orm.composite(function(id) return { user_id = id } end, "user_id"),
})
local Unit = Base:model("Unit", {
  __tablename__ = "units",
  id = orm.Column(orm.Integer, { primary_key = true }),
  kind = orm.Column(orm.String(20)),
  __mapper_args__ = { polymorphic_on = "kind", polymorphic_identity = "unit" },
})
local Archer = Unit:model("Archer", { __mapper_args__ = { polymorphic_identity = "archer" } })
Base.metadata:create_all(engine)
local session = orm.Session(engine)
local user = User{ name = "ed" }
session:add(user)
session:commit()
local conn = engine:connect()
local result = session:execute(orm.select(User.name))
local row = session:execute(orm.select(User.name)):first()
local ok, db_error = pcall(function() conn:execute(orm.text("SELECT * FROM nowhere")) end)
assert(not ok)
conn:close()

-- a migration's op and batch_op, caught by a revision run once
local migrate = require("lualchemy.migrate")
local migration_dir = os.tmpname()
os.remove(migration_dir)
migrate.init(migration_dir)
local sample_op, sample_batch_op
MIGRATION_SAMPLE = function(op)
  sample_op = op
  op.create_table("ms", orm.Column("id", orm.Integer, { primary_key = true }))
  op.batch_alter_table("ms", function(batch_op) sample_batch_op = batch_op end)
end
local f = assert(io.open(migration_dir .. "/versions/a.lua", "w"))
f:write('return { revision = "a", upgrade = function(op) MIGRATION_SAMPLE(op) end }')
f:close()
migrate.upgrade(migration_dir, "head", { engine = orm.create_engine("sqlite://") })

local samples = {
  ["lualchemy.migrate"] = migrate,
  ["lualchemy.migrate.Op"] = sample_op,
  ["lualchemy.migrate.BatchOp"] = sample_batch_op,
  ["lualchemy"] = orm,
  ["lualchemy.ErrorKinds"] = orm.Error,
  ["lualchemy.Error"] = db_error,
  ["lualchemy.event"] = orm.event,
  ["lualchemy.Engine"] = engine,
  ["lualchemy.Connection"] = engine:connect(),
  ["lualchemy.Transaction"] = engine:connect():begin(),
  ["lualchemy.testing"] = require("lualchemy.testing"),
  ["lualchemy.testing.Fixture"] = require("lualchemy.testing").fixture{ engine = engine },
  ["lualchemy.testing.QueryCounter"] = require("lualchemy.testing").query_counter(engine),
  ["lualchemy.Session"] = session,
  ["lualchemy.SessionMaker"] = orm.sessionmaker{ bind = engine },
  ["lualchemy.ScopedSession"] = orm.scoped_session(orm.sessionmaker{ bind = engine }),
  ["lualchemy.ScopedRegistry"] = orm.scoped_session(orm.sessionmaker{ bind = engine }).registry,
  ["lualchemy.IdentitySet"] = session.new,
  ["lualchemy.TypeEngine"] = orm.String(20),
  ["lualchemy.ColumnSpec"] = orm.Column(orm.Integer),
  ["lualchemy.Table"] = User.__table__,
  ["lualchemy.MetaData"] = Base.metadata,
  ["lualchemy.Inspector"] = orm.inspect(engine),
  ["lualchemy.AutomapBase"] = orm.automap_base(),
  ["lualchemy.CreateTable"] = orm.CreateTable(User.__table__),
  ["lualchemy.DeclarativeBase"] = Base,
  ["lualchemy.AbstractModel"] = Common,
  ["lualchemy.Registry"] = Base.registry,
  ["lualchemy.Model"] = User,
  ["lualchemy.Mapper"] = orm.inspect(User),
  ["lualchemy.InstanceState"] = orm.inspect(user),
  ["lualchemy.AttributeState"] = orm.inspect(user).attrs.name,
  ["lualchemy.ColumnElement"] = User.name,
  ["lualchemy.RelationshipAttribute"] = User.posts,
  ["lualchemy.Collection"] = user.posts,
  ["lualchemy.WriteOnlyCollection"] = user.post_log,
  ["lualchemy.KeyedCollection"] = user.posts_by_id,
  ["lualchemy.CollectionClass"] = orm.attribute_keyed_dict("id"),
  ["lualchemy.Hybrid"] = orm.hybrid_property(function(self) return self.name end),
  ["lualchemy.Select"] = orm.select(User),
  ["lualchemy.Insert"] = orm.insert(User),
  ["lualchemy.DialectModule"] = orm.sqlite,
  ["lualchemy.Values"] = orm.values(orm.Column("a", orm.Integer)),
  ["lualchemy.DialectInsert"] = orm.sqlite.insert(User),
  ["lualchemy.DML"] = orm.update(User),
  ["lualchemy.Query"] = session:query(User),
  ["lualchemy.Subquery"] = orm.select(User.name):subquery("s"),
  ["lualchemy.Aliased"] = orm.aliased(User),
  ["lualchemy.WithPolymorphic"] = orm.with_polymorphic(Unit, { Archer }),
  ["lualchemy.ConcreteMarker"] = orm.ConcreteBase,
  ["lualchemy.Result"] = result,
  ["lualchemy.Row"] = row,
  ["lualchemy.Load"] = orm.joinedload(User.posts),
  ["lualchemy.TextClause"] = orm.text("SELECT 1"),
  ["lualchemy.Null"] = orm.null(),
  ["lualchemy.Instance"] = user,
  ["lualchemy.ForeignKey"] = orm.ForeignKey("users.id"),
  ["lualchemy.SchemaItem"] = orm.UniqueConstraint("name"),
  ["lualchemy.ColumnProperty"] = orm.column_property(User.name),
  ["lualchemy.Synonym"] = orm.synonym("name"),
  ["lualchemy.Composite"] = orm.composite(function() end, "name"),
  ["lualchemy.CompositeComparator"] = Post.owner,
  ["lualchemy.RelationshipProperty"] = orm.relationship("User"),
  ["lualchemy.Backref"] = orm.backref("x"),
  ["lualchemy.ColumnInfo"] = User.__table__.columns[1],
  ["lualchemy.MapperColumn"] = orm.inspect(User).columns[1],
  ["lualchemy.RelationshipInfo"] = orm.inspect(User).relationships.posts,
}

-- The public names a value offers: a table's keys; a userdata's methods and fields, read
-- from its metatable as mlua builds it (`__index` a table of methods, or a Lua function whose
-- upvalues are the Lua-side extension table, the field getters and the methods).
local function offered(v)
  local names = {}
  local function take(t)
    if type(t) ~= "table" then return end
    for k in pairs(t) do
      if type(k) == "string" then names[k] = true end
    end
  end
  if type(v) == "table" then
    take(v)
    return names
  end
  local mt = debug.getmetatable(v)
  if not mt then return names end
  local index = rawget(mt, "__index")
  if type(index) == "table" then
    take(index)
  elseif type(index) == "function" and debug.getinfo(index, "S").what ~= "C" then
    -- (a raw C closure, such as an instance's `__index`, holds no method tables: its
    -- upvalues are the model's own attribute names)
    local i = 1
    while true do
      local name, upvalue = debug.getupvalue(index, i)
      if not name then break end
      take(upvalue)
      i = i + 1
    end
  end
  return names
end

-- A collection's methods live in the registry (its `__index` also serves integer keys).
local function collection_methods(keyed)
  local name = keyed and "lualchemy.keyed_collection_methods" or "lualchemy.collection_methods"
  return offered(debug.getregistry()[name])
end

local function is_public(name)
  return name:sub(1, 1) ~= "_" or PUBLIC_UNDERSCORE[name]
end

-- The stubs: each `---@class NAME [: PARENT]` with its `---@field NAME` lines, and the
-- functions declared on the local that follows it (`local X = {}`, `function X:name(` /
-- `function X.name(`). Index signatures (`---@field [string] ...`) name nothing.
local function parse_stubs(text)
  local classes, order = {}, {}
  local current, locals = nil, {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local class, parents = line:match("^%-%-%-@class%s+([%w_.]+)%s*:%s*([%w_., ]+)")
    if not class then class = line:match("^%-%-%-@class%s+([%w_.]+)") end
    if class then
      if classes[class] then error("the stubs declare class " .. class .. " twice") end
      local list = {}
      for p in (parents or ""):gmatch("[%w_.]+") do list[#list + 1] = p end
      classes[class] = { names = {}, optional = {}, parents = list }
      order[#order + 1] = class
      current = class
    else
      local field, optional = line:match("^%-%-%-@field%s+([%a_][%w_]*)(%??)")
      if field and current then
        classes[current].names[field] = true
        if optional == "?" then classes[current].optional[field] = true end
      end
      local var = line:match("^local%s+([%a_][%w_]*)%s*=%s*{}")
      if var and current then locals[var] = current end
      local owner, fname = line:match("^function%s+([%a_][%w_]*)[:.]([%a_][%w_]*)%s*%(")
      if owner then
        local c = locals[owner]
        if not c then error("the stubs declare " .. owner .. "." .. fname .. " on no class") end
        classes[c].names[fname] = true
      end
    end
  end
  return classes, order
end

-- The prelude's Lua-side methods (lua/prelude.lua) of the types whose `__index` is a Rust
-- function: what the prelude returns when run again.
local prelude_text = select(2, ...)
local extensions = assert((loadstring or load)(prelude_text, "=prelude"))(orm)
local EXTENDED = {
  ["lualchemy.Engine"] = extensions.Engine,
  ["lualchemy.SessionMaker"] = extensions.SessionMaker,
  ["lualchemy.Session"] = extensions.Session,
}

local problems = {}
local function problem(fmt, ...) problems[#problems + 1] = fmt:format(...) end

local classes, order = parse_stubs(stub_text)

-- Classes describing the tables a caller passes in, not values the module hands out.
local SHAPES = {
  ["lualchemy.EngineOptions"] = true, ["lualchemy.SessionOptions"] = true,
  ["lualchemy.ColumnOptions"] = true, ["lualchemy.RelationshipOptions"] = true,
  ["lualchemy.ExecuteOptions"] = true, ["lualchemy.testing.FixtureOptions"] = true,
  ["lualchemy.autogenerate.Diff"] = true, ["lualchemy.autogenerate.RenderOptions"] = true,
  ["lualchemy.autogenerate.AutoEntry"] = true, ["lualchemy.autogenerate.AutoReport"] = true,
  ["lualchemy.OverOptions"] = true, ["lualchemy.ForUpdateOptions"] = true,
  ["lualchemy.TypeDecoratorSpec"] = true,
  -- the common methods of Select and Query, checked on each of them
  ["lualchemy.SelectBase"] = true,
  -- orm.func: any name is a SQL function
  ["lualchemy.func"] = true,
  -- what editors take a model's class attributes to be (ColumnElement or
  -- RelationshipAttribute, both checked on their own samples)
  ["lualchemy.ClassAttribute"] = true,
}

local function all_names(class, names)
  names = names or {}
  local info = classes[class]
  if not info then
    problem("%s: the class is not declared", class)
    return names
  end
  for n in pairs(info.names) do names[n] = true end
  for _, p in ipairs(info.parents) do all_names(p, names) end
  return names
end

local inventory = {}
for _, class in ipairs(order) do
  if not SHAPES[class] and samples[class] == nil then
    problem("%s: a class of the stubs with no sample value in host/tests/lua_stubs.lua", class)
  end
end
for class, sample in pairs(samples) do
  if not classes[class] then
    problem("%s: no ---@class in types/lualchemy.lua", class)
  else
    local stubbed = all_names(class)
    local real = (class == "lualchemy.Collection" and collection_methods())
      or (class == "lualchemy.KeyedCollection" and collection_methods(true)) or offered(sample)
    for n in pairs(offered(EXTENDED[class])) do real[n] = true end
    local list = {}
    for n in pairs(real) do
      if is_public(n) then
        list[#list + 1] = n
        if not stubbed[n] then problem("%s.%s exists but has no stub", class, n) end
      end
    end
    table.sort(list)
    inventory[class] = list
    for n in pairs(stubbed) do
      -- an optional field of a plain table (`---@field secondary? string`) may be absent
      local may_be_absent = type(sample) == "table" and classes[class].optional[n]
      if not real[n] and not may_be_absent then
        local ok, v = pcall(function() return sample[n] end)
        if not ok or v == nil then
          problem("%s.%s has a stub but the module has no such name%s", class, n,
            ok and "" or (": " .. tostring(v)))
        end
      end
    end
  end
end
table.sort(problems)
return problems, inventory

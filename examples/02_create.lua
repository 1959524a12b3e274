-- Part 2 of the ORM walkthrough: creating and dropping the schema.
--
-- Base.metadata.tables, orm.CreateTable(t):compile(engine) to see the DDL, create_all (which
-- orders tables by their foreign keys and skips tables that already exist) and drop_all.
--
--   lualchemy examples/02_create.lua
local orm = require("lualchemy")

-- Collect what the engine sends, to show which statements create_all and drop_all ran.
local log = {}
local engine = orm.create_engine("sqlite://", {
  echo = function(sql, params) log[#log + 1] = { sql = sql, params = params } end,
})
-- The statements logged since the last call, each as its first line (and the table name
-- that an existence check asks about).
local function take_log()
  local out = {}
  for i, e in ipairs(log) do
    local line = e.sql:match("^[^\n]*")
    if e.sql:find("sqlite_master") and e.params and e.params[1] then
      line = line .. "   -- " .. tostring(e.params[1])
    end
    out[i] = line
    log[i] = nil
  end
  return out
end

local Base = orm.declarative_base()

-- The child is declared before its parent: create_all still creates parents first.
local Comment = Base:model("Comment", {
  __tablename__ = "comments",
  id = orm.Column(orm.Integer, { primary_key = true }),
  post_id = orm.Column(orm.Integer, orm.ForeignKey("posts.id", { ondelete = "CASCADE" }), { nullable = false }),
  text = orm.Column(orm.Text, { nullable = false }),
})

local Post = Base:model("Post", {
  __tablename__ = "posts",
  id = orm.Column(orm.Integer, { primary_key = true }),
  title = orm.Column(orm.String(100), { nullable = false, index = true }),
  published = orm.Column(orm.Boolean, { server_default = orm.text("false") }),
  created = orm.Column(orm.DateTime, { server_default = orm.func.now() }),
  __table_args__ = { orm.CheckConstraint("length(title) > 0") },
})

-- A plain Table (an association table) lives in the same metadata.
local post_tag = orm.Table("post_tag", Base.metadata,
  orm.Column("post_id", orm.Integer, orm.ForeignKey("posts.id"), { primary_key = true }),
  orm.Column("tag", orm.String(20), { primary_key = true }))

print("== Base.metadata.tables ==")
local names = {}
for name in pairs(Base.metadata.tables) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local t = Base.metadata.tables[name]
  local cols = {}
  for _, c in ipairs(t.columns or {}) do cols[#cols + 1] = c.name end
  print(("  %-10s %s"):format(name, table.concat(cols, ", ")))
end
print("metadata.tables.posts is Post.__table__:", Base.metadata.tables.posts == Post.__table__)
print("metadata.tables.post_tag is the plain Table:", Base.metadata.tables.post_tag == post_tag)
print("tostring(Post.__table__):")
print("  " .. tostring(Post.__table__))

print()
print("== the DDL, compiled for this engine ==")
for _, t in ipairs({ Post.__table__, Comment.__table__, post_tag }) do
  print((orm.CreateTable(t):compile(engine):gsub("%s+$", "")))
  print()
end

print("== create_all ==")
Base.metadata:create_all(engine)
for _, line in ipairs(take_log()) do print("  " .. line) end

local session = orm.Session(engine)
local post = Post{ title = "Hello, world" }
session:add(post)
session:flush()
session:add(Comment{ post_id = post.id, text = "first!" })
session:commit()
print(("stored post %d %q, published=%s, created is set: %s"):format(
  post.id, post.title, tostring(post.published), tostring(post.created ~= nil)))
session:close()
take_log()

print()
print("== create_all again: existing tables are skipped ==")
Base.metadata:create_all(engine)
local created = 0
for _, line in ipairs(take_log()) do
  print("  " .. line)
  if line:find("^CREATE") then created = created + 1 end
end
print("CREATE statements run:", created)
session = orm.Session(engine)
print("the row is still there:", session:get(Post, 1).title)
session:close()
take_log()

print()
print("== drop_all: children before parents ==")
Base.metadata:drop_all(engine)
for _, line in ipairs(take_log()) do print("  " .. line) end

local conn = engine:connect()
local ok, err = pcall(conn.execute, conn, orm.text("SELECT * FROM posts"))
print("querying posts after drop_all:", ok, err.kind, err.orig)
conn:close()

print()
print("== create_all after drop_all starts from empty tables ==")
Base.metadata:create_all(engine)
take_log()
session = orm.Session(engine)
print("posts:", session:scalar(orm.select(orm.func.count(Post.id))))
session:close()

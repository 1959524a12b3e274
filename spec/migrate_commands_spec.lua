-- Migrations (issue 18): require("lualchemy.migrate")'s commands as Alembic's (init,
-- revision, upgrade, downgrade, current, history, heads, stamp, upgrade in offline mode),
-- one transaction per revision, stopping at the first failure. Runs on whichever database
-- the run is on: the engine is passed to each command ({ engine = ... }), so the in-memory
-- engine the spec runner maps onto a server is the one migrated.
local orm = require("lualchemy")
local migrate = require("lualchemy.migrate")

local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return s
end

-- a revision file: `up` and `down` are Lua function bodies taking `op`
local function revision_file(dir, id, down, message, up, down_body)
  write(dir .. "/versions/" .. id .. ".lua", ([[
local orm = require("lualchemy")
return {
  revision = %q,
  down_revision = %s,
  message = %q,
  upgrade = function(op)
%s
  end,
  downgrade = function(op)
%s
  end,
}
]]):format(id, down and ("%q"):format(down) or "nil", message, up, down_body))
end

local function tables(engine)
  local names = {}
  for _, n in ipairs(orm.inspect(engine):get_table_names()) do
    if n ~= "alembic_version" then names[#names + 1] = n end
  end
  return table.concat(names, ",")
end

local function count(engine, t)
  local conn = engine:connect()
  local n = conn:execute(orm.text("SELECT COUNT(*) FROM " .. t)):scalar()
  conn:close()
  return n
end

describe("migrate.init", function()
  it("creates DIR/env.lua and DIR/versions/, refusing a folder that is not empty", function()
    local dir = tmpdir()
    migrate.init(dir)
    local env = read(dir .. "/env.lua")
    assert.truthy(env:find("url = ", 1, true))
    assert.truthy(env:find("target_metadata", 1, true))
    assert.same({}, migrate.heads(dir))
    local ok, err = pcall(migrate.init, dir)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("already exists and is not empty", 1, true))
  end)
end)

describe("migrate.revision", function()
  it("writes a script that follows the head, with a 12-hex-digit id", function()
    local dir = tmpdir()
    migrate.init(dir)
    local a = migrate.revision(dir, { message = "create users" })
    assert.equal(12, #a.revision)
    assert.truthy(a.revision:match("^%x+$"))
    assert.is_nil(a.down_revision)
    assert.truthy(a.path:find(a.revision .. "_create_users.lua", 1, true))
    local b = migrate.revision(dir, { message = "second", rev_id = "bbbbbbbbbbbb" })
    assert.equal(a.revision, b.down_revision)
    local text = read(b.path)
    assert.truthy(text:find('down_revision = "' .. a.revision .. '"', 1, true))
    assert.truthy(text:find("upgrade = function(op)", 1, true))
    assert.same({ "bbbbbbbbbbbb" }, migrate.heads(dir))
    local h = migrate.history(dir)
    assert.equal(2, #h)
    assert.equal("bbbbbbbbbbbb", h[1].revision)
    assert.is_true(h[1].is_head)
    assert.equal("create users", h[2].message)
  end)

  it("--autogenerate writes the script from env.lua's target_metadata (which it needs)", function()
    local dir = tmpdir()
    migrate.init(dir)
    local ok, err = pcall(migrate.revision, dir, { message = "x", autogenerate = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("gives no target_metadata", 1, true), tostring(err))
    local engine = orm.create_engine("sqlite://")
    local md = orm.MetaData()
    orm.Table("players", md, orm.Column("id", orm.Integer, { primary_key = true }), orm.Column("name", orm.String(50)))
    write(dir .. "/env.lua", 'return { target_metadata = package.loaded["migrate_commands_spec.metadata"] }')
    package.loaded["migrate_commands_spec.metadata"] = md
    local r = migrate.revision(dir, { message = "players", autogenerate = true, engine = engine })
    package.loaded["migrate_commands_spec.metadata"] = nil
    local text = read(r.path)
    assert.truthy(text:find('op.create_table("players"', 1, true), text)
    assert.truthy(text:find('op.drop_table("players")', 1, true), text)
    migrate.upgrade(dir, "head", { engine = engine })
    assert.same({ "id", "name" }, (function()
      local out = {}
      for _, c in ipairs(orm.inspect(engine):get_columns("players")) do out[#out + 1] = c.name end
      return out
    end)())
  end)

  it("refuses unknown options, naming the valid ones", function()
    local dir = tmpdir()
    migrate.init(dir)
    local ok, err = pcall(migrate.revision, dir, { msg = "x" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown option 'msg'", 1, true))
    assert.truthy(tostring(err):find("message", 1, true))
  end)
end)

describe("upgrade, downgrade, current, stamp", function()
  local dir, engine, opts
  before_each(function()
    dir = tmpdir()
    migrate.init(dir)
    engine = orm.create_engine("sqlite://")
    opts = { engine = engine }
    revision_file(dir, "aaaaaaaaaaaa", nil, "create users", [[
    op.create_table("users",
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("name", orm.String(50), { nullable = false }))]], [[
    op.drop_table("users")]])
    revision_file(dir, "bbbbbbbbbbbb", "aaaaaaaaaaaa", "add score", [[
    op.add_column("users", orm.Column("score", orm.Integer, { server_default = "0", nullable = false }))]], [[
    op.drop_column("users", "score")]])
    revision_file(dir, "cccccccccccc", "bbbbbbbbbbbb", "create posts", [[
    local posts = op.create_table("posts",
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("title", orm.String(100)))
    op.bulk_insert(posts, { { id = 1, title = "first" }, { id = 2, title = "second" } })]], [[
    op.drop_table("posts")]])
  end)

  it("upgrade head runs every revision in order and records the head", function()
    assert.is_nil(migrate.current(dir, opts))
    migrate.upgrade(dir, "head", opts)
    assert.equal("cccccccccccc", migrate.current(dir, opts))
    assert.equal("posts,users", tables(engine))
    assert.equal(2, count(engine, "posts"))
    local conn = engine:connect()
    conn:execute(orm.text("INSERT INTO users (name) VALUES ('ann')"))
    conn:commit()
    assert.equal(0, conn:execute(orm.text("SELECT score FROM users")):scalar())
    conn:close()
  end)

  it("upgrade +N and REV, downgrade -N, REV and base", function()
    migrate.upgrade(dir, "+1", opts)
    assert.equal("aaaaaaaaaaaa", migrate.current(dir, opts))
    migrate.upgrade(dir, "bbbb", opts)
    assert.equal("bbbbbbbbbbbb", migrate.current(dir, opts))
    migrate.upgrade(dir, "head", opts)
    migrate.downgrade(dir, "-1", opts)
    assert.equal("bbbbbbbbbbbb", migrate.current(dir, opts))
    assert.equal("users", tables(engine))
    migrate.downgrade(dir, "aaaaaaaaaaaa", opts)
    assert.equal("aaaaaaaaaaaa", migrate.current(dir, opts))
    local cols = {}
    for _, c in ipairs(orm.inspect(engine):get_columns("users")) do cols[#cols + 1] = c.name end
    assert.same({ "id", "name" }, cols)
    migrate.downgrade(dir, "base", opts)
    assert.is_nil(migrate.current(dir, opts))
    assert.equal("", tables(engine))
    -- the version table keeps Alembic's shape
    local vt = orm.inspect(engine):get_columns("alembic_version")
    assert.equal("version_num", vt[1].name)
    assert.equal("VARCHAR(32)", tostring(vt[1].type))
    assert.same({ "version_num" }, orm.inspect(engine):get_pk_constraint("alembic_version").constrained_columns)
  end)

  it("an upgrade past the head or a downgrade below the base is refused", function()
    migrate.upgrade(dir, "head", opts)
    local ok, err = pcall(migrate.upgrade, dir, "+1", opts)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("only 0 revision", 1, true))
    ok, err = pcall(migrate.downgrade, dir, "-4", opts)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("only 3 revision", 1, true))
    ok, err = pcall(migrate.upgrade, dir, "nope", opts)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("can't locate revision identified by 'nope'", 1, true))
  end)

  it("stamp sets the version without running anything", function()
    migrate.stamp(dir, "bbbbbbbbbbbb", opts)
    assert.equal("bbbbbbbbbbbb", migrate.current(dir, opts))
    assert.equal("", tables(engine))
    migrate.stamp(dir, "base", opts)
    assert.is_nil(migrate.current(dir, opts))
    migrate.stamp(dir, "head", opts)
    assert.equal("cccccccccccc", migrate.current(dir, opts))
  end)

  it("stops at the first failing revision, leaving the database at the last one that completed", function()
    revision_file(dir, "dddddddddddd", "cccccccccccc", "broken", [[
    op.add_column("posts", orm.Column("body", orm.Text))
    op.execute("INSERT INTO no_such_table VALUES (1)")]], "")
    local ok, err = pcall(migrate.upgrade, dir, "head", opts)
    assert.is_false(ok)
    local msg = tostring(err)
    assert.truthy(msg:find("upgrade of revision 'dddddddddddd' (broken) failed", 1, true), msg)
    assert.truthy(msg:find("stays at revision cccccccccccc", 1, true), msg)
    assert.equal("cccccccccccc", migrate.current(dir, opts))
    local cols = {}
    for _, c in ipairs(orm.inspect(engine):get_columns("posts")) do cols[#cols + 1] = c.name end
    if ON_MYSQL then
      -- MySQL and MariaDB commit each DDL statement: the column stays (docs/MIGRATIONS.md)
      assert.same({ "id", "title", "body" }, cols)
    else
      -- the revision's transaction rolled back, its DDL included
      assert.same({ "id", "title" }, cols)
    end
  end)

  it("a failing first revision leaves the base", function()
    revision_file(dir, "aaaaaaaaaaaa", nil, "create users", [[
    op.create_table("users", orm.Column("id", orm.Integer, { primary_key = true }))
    error("boom")]], "")
    local ok, err = pcall(migrate.upgrade, dir, "head", opts)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("stays at revision base", 1, true))
    assert.truthy(tostring(err):find("boom", 1, true))
    assert.is_nil(migrate.current(dir, opts))
    if not ON_MYSQL then assert.equal("", tables(engine)) end
  end)

  it("upgrade { sql = true } prints the SQL and runs nothing", function()
    local sql = migrate.upgrade(dir, "head", { engine = engine, sql = true })
    assert.equal("", tables(engine))
    assert.is_false(orm.inspect(engine):has_table("alembic_version"))
    assert.truthy(sql:find("CREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n);", 1, true), sql)
    assert.truthy(sql:find("-- Running upgrade  -> aaaaaaaaaaaa", 1, true))
    assert.truthy(sql:find("INSERT INTO alembic_version (version_num) VALUES ('aaaaaaaaaaaa');", 1, true))
    assert.truthy(sql:find("-- Running upgrade aaaaaaaaaaaa -> bbbbbbbbbbbb", 1, true))
    assert.truthy(sql:find("UPDATE alembic_version SET version_num='bbbbbbbbbbbb' WHERE alembic_version.version_num = 'aaaaaaaaaaaa';", 1, true))
    assert.truthy(sql:find("ALTER TABLE users ADD COLUMN score INTEGER", 1, true))
    assert.truthy(sql:find("INSERT INTO posts (id, title) VALUES (1, 'first');", 1, true))
    local ranged = migrate.upgrade(dir, "bbbbbbbbbbbb:head", { engine = engine, sql = true })
    assert.falsy(ranged:find("CREATE TABLE alembic_version", 1, true))
    assert.falsy(ranged:find("CREATE TABLE users", 1, true))
    assert.truthy(ranged:find("CREATE TABLE posts", 1, true))
  end)

  it("downgrade { sql = true } prints the SQL of FROM:TO and runs nothing", function()
    migrate.upgrade(dir, "head", opts)
    local sql = migrate.downgrade(dir, "cccccccccccc:aaaaaaaaaaaa", { engine = engine, sql = true })
    assert.truthy(sql:find("-- Running downgrade cccccccccccc -> bbbbbbbbbbbb", 1, true), sql)
    assert.truthy(sql:find("DROP TABLE posts;", 1, true), sql)
    assert.truthy(sql:find("-- Running downgrade bbbbbbbbbbbb -> aaaaaaaaaaaa", 1, true), sql)
    assert.truthy(sql:find("UPDATE alembic_version SET version_num='aaaaaaaaaaaa' WHERE alembic_version.version_num = 'bbbbbbbbbbbb';", 1, true), sql)
    assert.falsy(sql:find("DROP TABLE users", 1, true))
    assert.equal("cccccccccccc", migrate.current(dir, opts))
    assert.equal("posts,users", tables(engine))
    local ok, err = pcall(migrate.downgrade, dir, "-1", { engine = engine, sql = true })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("needs FROM:TO", 1, true))
  end)

  it("env.lua's url is used when no engine is given", function()
    if SPEC_DIALECT ~= "sqlite" then return end
    local file = os.tmpname()
    write(dir .. "/env.lua", ('return { url = %q, target_metadata = nil }'):format("sqlite:///" .. file))
    migrate.upgrade(dir, "head")
    assert.equal("cccccccccccc", migrate.current(dir))
    assert.equal("posts,users", tables(orm.create_engine("sqlite:///" .. file)))
    os.remove(file)
  end)

  it("a revision file with an unknown key is refused, naming it", function()
    write(dir .. "/versions/zz.lua", 'return { revision = "zz", down_revison = "cccccccccccc" }')
    local ok, err = pcall(migrate.heads, dir)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown option 'down_revison'", 1, true))
  end)
end)

-- A model through five versions (issue 18): add a column, rename one, split a table,
-- change a type, drop a column with data. A populated database is upgraded revision by
-- revision and downgraded back, every row checked at each step, on whichever database the
-- run is on. The column changes go through op.batch_alter_table, so the same scripts run
-- on SQLite (table rebuild) and on the servers (plain ALTERs).
local orm = require("lualchemy")
local migrate = require("lualchemy.migrate")

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

local REVISIONS = {
  { "v1_create", "create users", [[
    op.create_table("users",
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("name", orm.String(100), { nullable = false }),
      orm.Column("email", orm.String(100)))]], [[
    op.drop_table("users")]] },

  { "v2_add_score", "add users.score", [[
    op.add_column("users", orm.Column("score", orm.Integer, { server_default = "0", nullable = false }))
    op.execute("UPDATE users SET score = id * 10")]], [[
    op.batch_alter_table("users", function(b) b.drop_column("score") end)]] },

  { "v3_rename", "rename name to full_name", [[
    op.batch_alter_table("users", function(b)
      b.alter_column("name", { new_column_name = "full_name", existing_type = orm.String(100), existing_nullable = false })
    end)]], [[
    op.batch_alter_table("users", function(b)
      b.alter_column("full_name", { new_column_name = "name", existing_type = orm.String(100), existing_nullable = false })
    end)]] },

  { "v4_split", "move emails to their own table", [[
    op.create_table("emails",
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("user_id", orm.Integer, orm.ForeignKey("users.id", { name = "fk_emails_user", ondelete = "CASCADE" }), { nullable = false }),
      orm.Column("address", orm.String(100), { nullable = false }))
    op.execute("INSERT INTO emails (user_id, address) SELECT id, email FROM users WHERE email IS NOT NULL ORDER BY id")
    op.batch_alter_table("users", function(b) b.drop_column("email") end)]], [[
    op.add_column("users", orm.Column("email", orm.String(100)))
    op.execute("UPDATE users SET email = (SELECT address FROM emails WHERE emails.user_id = users.id)")
    op.drop_table("emails")]] },

  { "v5_retype", "full_name becomes VARCHAR(20)", [[
    op.batch_alter_table("users", function(b)
      b.alter_column("full_name", { type_ = orm.String(20), existing_type = orm.String(100), existing_nullable = false })
    end)]], [[
    op.batch_alter_table("users", function(b)
      b.alter_column("full_name", { type_ = orm.String(100), existing_type = orm.String(20), existing_nullable = false })
    end)]] },

  { "v6_drop_score", "drop users.score, kept aside for the downgrade", [[
    local keep = op.create_table("users_score_kept",
      orm.Column("user_id", orm.Integer, { primary_key = true }),
      orm.Column("score", orm.Integer, { nullable = false }))
    op.execute("INSERT INTO users_score_kept (user_id, score) SELECT id, score FROM users")
    op.batch_alter_table("users", function(b) b.drop_column("score") end)]], [[
    op.add_column("users", orm.Column("score", orm.Integer, { server_default = "0", nullable = false }))
    op.execute("UPDATE users SET score = (SELECT score FROM users_score_kept WHERE user_id = users.id)")
    op.drop_table("users_score_kept")]] },
}

local PEOPLE = {
  { 1, "Ann", "ann@example.org" }, { 2, "Bob", "bob@example.org" }, { 3, "Cy", nil },
  { 4, "Dee", "dee@example.org" }, { 5, "Eve", "eve@example.org" },
}

local function query(engine, sql)
  local conn = engine:connect()
  local out = {}
  for _, r in ipairs(conn:execute(orm.text(sql)):all()) do out[#out + 1] = r:_tuple() end
  conn:close()
  return out
end

local function columns(engine, t)
  local out = {}
  for _, c in ipairs(orm.inspect(engine):get_columns(t)) do out[#out + 1] = c.name end
  table.sort(out) -- a downgrade may add a column back at the end
  return table.concat(out, ",")
end

-- what the database holds at each version, every row of it
local function expected(version)
  local users, emails = {}, {}
  for _, p in ipairs(PEOPLE) do
    local id, name, email = p[1], p[2], p[3]
    if version == 1 then users[#users + 1] = { id, name, email or "NULL" }
    elseif version == 2 or version == 3 then users[#users + 1] = { id, name, email or "NULL", id * 10 }
    elseif version == 4 or version == 5 then users[#users + 1] = { id, name, id * 10 }
    else users[#users + 1] = { id, name } end
    if email then emails[#emails + 1] = { id, email } end
  end
  return users, emails
end

local COLUMNS = {
  "id,name,email", "id,name,email,score", "id,full_name,email,score",
  "id,full_name,score", "id,full_name,score", "id,full_name",
}
local USERS_SQL = {
  "SELECT id, name, email FROM users ORDER BY id",
  "SELECT id, name, email, score FROM users ORDER BY id",
  "SELECT id, full_name, email, score FROM users ORDER BY id",
  "SELECT id, full_name, score FROM users ORDER BY id",
  "SELECT id, full_name, score FROM users ORDER BY id",
  "SELECT id, full_name FROM users ORDER BY id",
}

local function check(engine, dir, version)
  assert.equal(REVISIONS[version][1], migrate.current(dir, { engine = engine }))
  local want = {}
  for c in COLUMNS[version]:gmatch("[^,]+") do want[#want + 1] = c end
  table.sort(want)
  assert.equal(table.concat(want, ","), columns(engine, "users"))
  local users, emails = expected(version)
  local got = query(engine, USERS_SQL[version])
  for _, r in ipairs(got) do
    for i = 1, #COLUMNS[version]:gsub("[^,]", "") + 1 do if r[i] == nil then r[i] = "NULL" end end
  end
  assert.same(users, got, "users at version " .. version)
  local has_emails = orm.inspect(engine):has_table("emails")
  assert.equal(version >= 4, has_emails, "emails at version " .. version)
  if has_emails then
    assert.same(emails, query(engine, "SELECT user_id, address FROM emails ORDER BY user_id"))
  end
  assert.equal(version == 6, orm.inspect(engine):has_table("users_score_kept"))
end

describe("five versions of a model", function()
  it("upgrade revision by revision and back, every row kept at each step", function()
    local dir = tmpdir()
    migrate.init(dir)
    for i, r in ipairs(REVISIONS) do
      write(dir .. "/versions/" .. r[1] .. ".lua", ([[
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
]]):format(r[1], i > 1 and ("%q"):format(REVISIONS[i - 1][1]) or "nil", r[2], r[3], r[4]))
    end
    local engine = orm.create_engine("sqlite://")
    local opts = { engine = engine }

    -- version 1, and the data a program wrote through its version-1 model
    migrate.upgrade(dir, "+1", opts)
    local Base = orm.declarative_base()
    local User = Base:model("User", {
      __tablename__ = "users",
      id = orm.Column(orm.Integer, { primary_key = true }),
      name = orm.Column(orm.String(100), { nullable = false }),
      email = orm.Column(orm.String(100)),
    })
    local session = orm.Session(engine)
    for _, p in ipairs(PEOPLE) do session:add(User{ id = p[1], name = p[2], email = p[3] }) end
    session:commit()
    session:close()
    check(engine, dir, 1)

    for v = 2, #REVISIONS do
      migrate.upgrade(dir, "+1", opts)
      check(engine, dir, v)
    end
    assert.same({ REVISIONS[#REVISIONS][1] }, migrate.heads(dir))

    -- the version-6 model reads the migrated rows
    local Base6 = orm.declarative_base()
    local User6 = Base6:model("User", {
      __tablename__ = "users",
      id = orm.Column(orm.Integer, { primary_key = true }),
      full_name = orm.Column(orm.String(20), { nullable = false }),
    })
    local s6 = orm.Session(engine)
    local names = {}
    for _, u in ipairs(s6:scalars(orm.select(User6):order_by(User6.id)):all()) do names[#names + 1] = u.full_name end
    s6:close()
    assert.same({ "Ann", "Bob", "Cy", "Dee", "Eve" }, names)

    for v = #REVISIONS - 1, 1, -1 do
      migrate.downgrade(dir, "-1", opts)
      check(engine, dir, v)
    end
    migrate.downgrade(dir, "base", opts)
    assert.is_nil(migrate.current(dir, opts))
    assert.is_false(orm.inspect(engine):has_table("users"))
  end)
end)

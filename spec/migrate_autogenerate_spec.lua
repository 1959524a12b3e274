-- Autogenerate (issue 18): compare_metadata compares the models' MetaData with the live
-- database as Alembic's autogenerate does, and render_upgrade / render_downgrade write the
-- Lua of a revision's bodies. Never lose a row: a drop of a table or column that holds data
-- is written commented out under a "-- DATA LOSS:" line; a column that changed name is
-- renamed. Runs on whichever database the run is on (SPEC_DIALECT).
local orm = require("lualchemy")
local ag = require("lualchemy.migrate")

local ON_PG = SPEC_DIALECT == "postgresql"
local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"

-- an engine whose database holds `build(md)`'s tables, and the rows given per table
local function database(build, rows)
  local engine = orm.create_engine("sqlite://")
  local md = orm.MetaData()
  build(md)
  md:create_all(engine)
  if rows then
    local conn = engine:connect()
    for name, list in pairs(rows) do
      conn:execute(orm.insert(md.tables[name]), list)
    end
    conn:commit()
    conn:close()
  end
  return engine, md
end

local function models(build)
  local md = orm.MetaData()
  build(md)
  return md
end

-- "kind table" of each entry (a column's changes: its first change)
local function kinds(diffs)
  local out = {}
  for i, d in ipairs(diffs) do
    if type(d[1]) == "table" then
      local parts = {}
      for j, m in ipairs(d) do parts[j] = m[1] end
      out[i] = table.concat(parts, "+") .. " " .. d[1][3]
    elseif d[1] == "add_table" or d[1] == "remove_table" then
      out[i] = d[1] .. " " .. d[2].name
    elseif d[3] then
      out[i] = d[1] .. " " .. d[3]
    else
      out[i] = d[1] .. " " .. d[2].table
    end
  end
  return out
end

-- runs a rendered body against an `op` that records each call: the text is valid Lua
-- calling Alembic's operations
local function run(body)
  local calls = {}
  local op = setmetatable({}, {
    __index = function(_, name)
      return function(...)
        calls[#calls + 1] = { name, ... }
      end
    end,
  })
  local env = setmetatable({ op = op, orm = orm }, { __index = _G })
  local chunk
  if setfenv then
    chunk = assert(loadstring(body))
    setfenv(chunk, env)
  else
    chunk = assert(load(body, "=revision", "t", env))
  end
  chunk()
  return calls
end

local function users_v1(md)
  return orm.Table("ag_users", md,
    orm.Column("id", orm.Integer, { primary_key = true }),
    orm.Column("name", orm.String(30)),
    orm.Column("age", orm.Integer, { nullable = false }),
    orm.Column("status", orm.String(10), { server_default = "new" }))
end

describe("compare_metadata", function()
  it("finds nothing between the models and the database they made", function()
    local function build(md)
      orm.Table("ag_parent", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("code", orm.String(20), { unique = true }),
        orm.Column("big", orm.BigInteger),
        orm.Column("small", orm.SmallInteger),
        orm.Column("flag", orm.Boolean, { server_default = orm.text(ON_PG and "true" or "1") }),
        orm.Column("born", orm.Date),
        orm.Column("seen", orm.DateTime),
        orm.Column("at", orm.Time),
        orm.Column("price", orm.Numeric(10, 2), { server_default = "0" }),
        orm.Column("ratio", orm.Float),
        orm.Column("bio", orm.Text),
        orm.Column("blob", orm.LargeBinary),
        orm.Column("doc", orm.JSON),
        orm.Column("mood", orm.Enum("happy", "sad")),
        orm.Column("label", orm.String(40), { nullable = false, server_default = "none" }),
        orm.Index("ix_ag_parent_seen", "seen"),
        orm.UniqueConstraint("big", "small", { name = "uq_ag_big_small" }))
      orm.Table("ag_child", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("parent_id", orm.Integer, orm.ForeignKey("ag_parent.id", { ondelete = "CASCADE" }),
          { index = true }),
        orm.Column("other_id", orm.Integer),
        orm.ForeignKeyConstraint({ "other_id" }, { "ag_parent.id" }, { name = "fk_ag_other" }))
    end
    local engine = database(build)
    assert.same({}, kinds(ag.compare_metadata(engine, models(build))))
  end)

  it("finds an added table with its indexes, and renders create_table", function()
    local engine = database(users_v1)
    local md = models(function(md)
      users_v1(md)
      orm.Table("ag_posts", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("user_id", orm.Integer, orm.ForeignKey("ag_users.id"), { index = true }),
        orm.Column("title", orm.String(80), { nullable = false, unique = true }))
    end)
    local diffs = ag.compare_metadata(engine, md)
    assert.same({ "add_table ag_posts", "add_index ag_posts" }, kinds(diffs))
    assert.equal(md.tables.ag_posts, diffs[1][2])
    assert.same({ name = "ix_ag_posts_user_id", table = "ag_posts", columns = { "user_id" }, unique = false },
      diffs[2][2])
    local up = ag.render_upgrade(diffs)
    assert.equal(table.concat({
      "    -- ### commands auto generated by lualchemy - please adjust! ###",
      '    op.create_table("ag_posts",',
      '        orm.Column("id", orm.Integer, { primary_key = true, nullable = false }),',
      '        orm.Column("user_id", orm.Integer, { nullable = true }),',
      '        orm.Column("title", orm.String(80), { nullable = false }),',
      '        orm.ForeignKeyConstraint({ "user_id" }, { "ag_users.id" }),',
      '        orm.UniqueConstraint("title")',
      "    )",
      '    op.create_index("ix_ag_posts_user_id", "ag_posts", { "user_id" }, { unique = false })',
      "    -- ### end lualchemy commands ###",
      "",
    }, "\n"), up)
    local calls = run(up)
    assert.equal("create_table", calls[1][1])
    assert.equal("ag_posts", calls[1][2])
    assert.same({ "create_index", "ix_ag_posts_user_id", "ag_posts", { "user_id" }, { unique = false } }, calls[2])
    local down = run(ag.render_downgrade(diffs))
    assert.same({ { "drop_index", "ix_ag_posts_user_id", { table_name = "ag_posts" } }, { "drop_table", "ag_posts" } },
      down)
  end)

  it("writes a dropped table's downgrade that makes the same table again", function()
    local function rich(md)
      orm.Table("ag_owner", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("code", orm.String(10), { nullable = false, unique = true }))
      orm.Table("ag_rich", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("owner_id", orm.Integer, orm.ForeignKey("ag_owner.id", { ondelete = "CASCADE" })),
        orm.Column("label", orm.String(40), { nullable = false, server_default = "it's" }),
        orm.Column("price", orm.Numeric(10, 2)),
        orm.Column("seen", orm.DateTime),
        orm.Column("flag", orm.Boolean),
        orm.Index("ix_ag_rich_seen", "seen"),
        orm.Index("ix_ag_rich_label_price", "label", "price", { unique = true }),
        orm.UniqueConstraint("owner_id", "seen", { name = "uq_ag_rich_owner_seen" }),
        orm.CheckConstraint("price >= 0", { name = "ck_ag_rich_price" }))
    end
    local engine = database(rich)
    local diffs = ag.compare_metadata(engine, orm.MetaData())
    local dropped = {}
    for _, d in ipairs(diffs) do
      if d[1] == "remove_table" then dropped[#dropped + 1] = d[2].name end
    end
    -- the table that refers to the other is dropped first
    assert.same({ "ag_rich", "ag_owner" }, dropped)
    -- the downgrade's operations, played into a MetaData, make the same schema
    local made, indexes, order = {}, {}, {}
    local op = {
      create_table = function(name, ...)
        made[name] = { ... }
        order[#order + 1] = name
      end,
      create_index = function(name, table_name, columns, options)
        indexes[table_name] = indexes[table_name] or {}
        local args = { name }
        for _, c in ipairs(columns) do args[#args + 1] = c end
        args[#args + 1] = options
        table.insert(indexes[table_name], orm.Index((table.unpack or unpack)(args)))
      end,
    }
    local body = ag.render_downgrade(diffs)
    local env = setmetatable({ op = op, orm = orm }, { __index = _G })
    local chunk
    if setfenv then
      chunk = assert(loadstring(body))
      setfenv(chunk, env)
    else
      chunk = assert(load(body, "=downgrade", "t", env))
    end
    chunk()
    assert.same({ "ag_owner", "ag_rich" }, order)
    local md = orm.MetaData()
    for _, name in ipairs(order) do
      local args = made[name]
      for _, ix in ipairs(indexes[name] or {}) do args[#args + 1] = ix end
      orm.Table(name, md, (table.unpack or unpack)(args))
    end
    local again = orm.create_engine("sqlite://")
    md:create_all(again)
    assert.same({}, kinds(ag.compare_metadata(again, models(rich))))
    assert.same({}, kinds(ag.compare_metadata(engine, md)))
    local checks = orm.inspect(again):get_check_constraints("ag_rich")
    assert.equal(1, #checks)
    assert.equal("ck_ag_rich_price", checks[1].name)
  end)

  it("drops an empty table live and comments out the drop of one with rows", function()
    local engine = database(function(md)
      users_v1(md)
      orm.Table("ag_empty", md, orm.Column("id", orm.Integer, { primary_key = true }))
      orm.Table("ag_saves", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("slot", orm.String(5)),
        orm.Index("ix_ag_slot", "slot"))
      orm.Table("alembic_version", md, orm.Column("version_num", orm.String(32), { primary_key = true }))
    end, { ag_saves = { { slot = "a" }, { slot = "b" }, { slot = "c" } } })
    local diffs = ag.compare_metadata(engine, models(users_v1))
    -- the version table is never reported
    assert.same({ "remove_table ag_empty", "remove_index ag_saves", "remove_table ag_saves" }, kinds(diffs))
    assert.equal(0, diffs[1].rows)
    assert.equal(3, diffs[3].rows)
    local up = ag.render_upgrade(diffs, { indent = "" })
    assert.equal(table.concat({
      "-- ### commands auto generated by lualchemy - please adjust! ###",
      'op.drop_table("ag_empty")',
      "-- DATA LOSS: drops table 'ag_saves' (3 rows)",
      '-- op.drop_index("ix_ag_slot", { table_name = "ag_saves" })',
      '-- op.drop_table("ag_saves")',
      "-- ### end lualchemy commands ###",
      "",
    }, "\n"), up)
    assert.same({ { "drop_table", "ag_empty" } }, run(up))
    local down = ag.render_downgrade(diffs, { indent = "" })
    assert.truthy(down:find("-- DATA LOSS: the upgrade's drop of table 'ag_saves' is commented out; enable these with it\n"
      .. '-- op.create_table("ag_saves",\n', 1, true))
    local calls = run(down)
    assert.equal(1, #calls)
    assert.equal("create_table", calls[1][1])
    assert.equal("ag_empty", calls[1][2])
    -- enabled by the person, the commented steps are valid Lua too
    local enabled = run((up:gsub("\n%-%- op%.", "\nop.")))
    assert.same({ { "drop_table", "ag_empty" }, { "drop_index", "ix_ag_slot", { table_name = "ag_saves" } },
      { "drop_table", "ag_saves" } }, enabled)
  end)

  it("adds columns and drops a column only by hand when it holds a value", function()
    local engine = database(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("name", orm.String(30)),
        orm.Column("score", orm.Integer),
        orm.Column("note", orm.Text))
    end, { ag_users = { { name = "a", score = 1 }, { name = "b", score = 2 }, { name = "c" } } })
    local md = models(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("name", orm.String(30)),
        orm.Column("level", orm.Boolean, { nullable = false, server_default = "0" }),
        orm.Column("joined", orm.DateTime))
    end)
    local diffs = ag.compare_metadata(engine, md)
    assert.same({ "add_column ag_users", "add_column ag_users", "remove_column ag_users", "remove_column ag_users" },
      kinds(diffs))
    assert.equal("level", diffs[1][4].name)
    assert.equal("BOOLEAN", tostring(diffs[1][4].type))
    assert.is_false(diffs[1][4].nullable)
    assert.equal("score", diffs[3][4].name)
    assert.equal(2, diffs[3].rows)
    assert.equal("note", diffs[4][4].name)
    assert.equal(0, diffs[4].rows)
    local up = ag.render_upgrade(diffs, { indent = "  " })
    assert.truthy(up:find('  op.add_column("ag_users", orm.Column("level", orm.Boolean, { server_default = "0", nullable = false }))\n', 1, true))
    assert.truthy(up:find('  op.add_column("ag_users", orm.Column("joined", orm.DateTime, { nullable = true }))\n', 1, true))
    assert.truthy(up:find("  -- DATA LOSS: drops column 'ag_users.score' (2 rows with a value)\n"
      .. '  -- op.drop_column("ag_users", "score")\n', 1, true))
    assert.truthy(up:find('\n  op.drop_column("ag_users", "note")\n', 1, true))
    local calls = run(up)
    assert.same({ "add_column", "add_column", "drop_column" }, { calls[1][1], calls[2][1], calls[3][1] })
    assert.equal('Column("level", BOOLEAN)', tostring(calls[1][3]))
    assert.same({ "drop_column", "ag_users", "note" }, calls[3])
    local down = run(ag.render_downgrade(diffs))
    -- the column the upgrade does not drop is not added back
    assert.same({ "add_column", "drop_column", "drop_column" }, { down[1][1], down[2][1], down[3][1] })
    assert.same({ "drop_column", "ag_users", "joined" }, down[2])
  end)

  it("renames a column that vanished while one of its type appeared", function()
    local engine = database(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("nick", orm.String(20)))
    end, { ag_users = { { nick = "x" } } })
    local diffs = ag.compare_metadata(engine, models(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("handle", orm.String(20)))
    end))
    assert.same({ "rename_column ag_users" }, kinds(diffs))
    assert.equal("nick", diffs[1][4])
    assert.equal("handle", diffs[1][5])
    assert.equal("VARCHAR(20)", tostring(diffs[1][6].existing_type))
    local up = ag.render_upgrade(diffs, { indent = "" })
    assert.truthy(up:find("-- inferred rename: 'ag_users.nick' vanished and 'ag_users.handle' appeared with the same type (VARCHAR(20))", 1, true))
    local calls = run(up)
    assert.equal(1, #calls)
    assert.equal("alter_column", calls[1][1])
    assert.equal("nick", calls[1][3])
    assert.equal("handle", calls[1][4].new_column_name)
    assert.equal("VARCHAR(20)", tostring(calls[1][4].existing_type))
    local down = run(ag.render_downgrade(diffs))
    assert.equal("handle", down[1][3])
    assert.equal("nick", down[1][4].new_column_name)
  end)

  it("does not guess a rename when two columns of the type vanished", function()
    local engine = database(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("a", orm.Integer), orm.Column("b", orm.Integer))
    end, { ag_users = { { a = 1, b = 2 } } })
    local diffs = ag.compare_metadata(engine, models(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("c", orm.Integer))
    end))
    assert.same({ "add_column ag_users", "remove_column ag_users", "remove_column ag_users" }, kinds(diffs))
    assert.equal("c", diffs[1][4].name)
    local up = ag.render_upgrade(diffs, { indent = "" })
    assert.falsy(up:find("inferred rename", 1, true))
    assert.truthy(up:find("-- DATA LOSS: drops column 'ag_users.a' (1 row with a value)", 1, true))
    assert.truthy(up:find("-- DATA LOSS: drops column 'ag_users.b' (1 row with a value)", 1, true))
    assert.same({ { "add_column", "ag_users", nil } }, { { run(up)[1][1], run(up)[1][2] } })
  end)

  it("finds type, nullability and server default changes of a column", function()
    local engine = database(users_v1)
    local diffs = ag.compare_metadata(engine, models(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("name", orm.String(50)),
        orm.Column("age", orm.Integer, { nullable = true }),
        orm.Column("status", orm.String(10), { server_default = "old" }))
    end))
    assert.same({ "modify_type ag_users", "modify_nullable ag_users", "modify_default ag_users" }, kinds(diffs))
    local t = diffs[1][1]
    assert.same({ "modify_type", nil, "ag_users", "name" }, { t[1], t[2], t[3], t[4] })
    assert.equal("VARCHAR(30)", tostring(t[6]))
    assert.equal("VARCHAR(50)", tostring(t[7]))
    local n = diffs[2][1]
    assert.same({ "modify_nullable", "age", false, true }, { n[1], n[4], n[6], n[7] })
    local d = diffs[3][1]
    assert.equal("modify_default", d[1])
    assert.equal("'old'", d[7])
    local up = ag.render_upgrade(diffs, { indent = "" })
    assert.truthy(up:find('op.alter_column("ag_users", "name", { existing_type = orm.String(30), type_ = orm.String(50), existing_nullable = true })', 1, true))
    assert.truthy(up:find('op.alter_column("ag_users", "age", { existing_type = orm.Integer, nullable = true })', 1, true))
    assert.truthy(up:find('op.alter_column("ag_users", "status", { existing_type = orm.String(10), existing_nullable = true, server_default = "old" })', 1, true))
    local down = run(ag.render_downgrade(diffs))
    assert.equal("status", down[1][3])
    assert.equal("new", down[1][4].server_default)
    assert.is_false(down[2][4].nullable)
    assert.equal("VARCHAR(30)", tostring(down[3][4].type_))
  end)

  it("renders a server default dropped as orm.null()", function()
    local engine = database(users_v1)
    local diffs = ag.compare_metadata(engine, models(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("name", orm.String(30)),
        orm.Column("age", orm.Integer, { nullable = false }),
        orm.Column("status", orm.String(10)))
    end))
    assert.same({ "modify_default ag_users" }, kinds(diffs))
    assert.is_nil(diffs[1][1][7])
    local calls = run(ag.render_upgrade(diffs))
    assert.equal("NULL", tostring(calls[1][4].server_default))
  end)

  it("finds indexes and unique constraints added and removed", function()
    local engine = database(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("email", orm.String(50)),
        orm.Column("name", orm.String(30)),
        orm.Column("city", orm.String(30)),
        orm.Index("ix_ag_email", "email"),
        orm.UniqueConstraint("name", { name = "uq_ag_name" }))
    end)
    local diffs = ag.compare_metadata(engine, models(function(md)
      orm.Table("ag_users", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("email", orm.String(50)),
        orm.Column("name", orm.String(30)),
        orm.Column("city", orm.String(30)),
        orm.Index("ix_ag_city", "city", { unique = true }),
        orm.UniqueConstraint("email", { name = "uq_ag_email" }))
    end))
    if ON_MYSQL then
      -- MySQL's unique constraint is a unique index: dropped as one, as Alembic does
      assert.same({ "remove_index ag_users", "remove_index ag_users", "add_index ag_users", "add_constraint ag_users" },
        kinds(diffs))
      assert.same({ name = "uq_ag_name", table = "ag_users", columns = { "name" }, unique = true }, diffs[2][2])
      assert.same({ "drop_index", "uq_ag_name", { table_name = "ag_users" } }, run(ag.render_upgrade(diffs))[2])
      return
    end
    assert.same({ "remove_index ag_users", "remove_constraint ag_users", "add_index ag_users", "add_constraint ag_users" },
      kinds(diffs))
    assert.same({ type = "unique", name = "uq_ag_name", table = "ag_users", columns = { "name" } }, diffs[2][2])
    local calls = run(ag.render_upgrade(diffs))
    assert.same({
      { "drop_index", "ix_ag_email", { table_name = "ag_users" } },
      { "drop_constraint", "uq_ag_name", "ag_users", { type_ = "unique" } },
      { "create_index", "ix_ag_city", "ag_users", { "city" }, { unique = true } },
      { "create_unique_constraint", "uq_ag_email", "ag_users", { "email" } },
    }, calls)
    assert.same({
      { "drop_constraint", "uq_ag_email", "ag_users", { type_ = "unique" } },
      { "drop_index", "ix_ag_city", { table_name = "ag_users" } },
      { "create_unique_constraint", "uq_ag_name", "ag_users", { "name" } },
      { "create_index", "ix_ag_email", "ag_users", { "email" }, { unique = false } },
    }, run(ag.render_downgrade(diffs)))
  end)

  it("finds foreign keys added and removed", function()
    local function parent(md)
      orm.Table("ag_parent", md, orm.Column("id", orm.Integer, { primary_key = true }))
    end
    local engine = database(function(md)
      parent(md)
      orm.Table("ag_child", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("a_id", orm.Integer),
        orm.Column("b_id", orm.Integer),
        orm.ForeignKeyConstraint({ "b_id" }, { "ag_parent.id" }, { name = "fk_ag_b" }))
    end)
    local diffs = ag.compare_metadata(engine, models(function(md)
      parent(md)
      orm.Table("ag_child", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("a_id", orm.Integer),
        orm.Column("b_id", orm.Integer),
        orm.ForeignKeyConstraint({ "a_id" }, { "ag_parent.id" }, { name = "fk_ag_a", ondelete = "CASCADE" }))
    end))
    assert.same({ "remove_fk ag_child", "add_fk ag_child" }, kinds(diffs))
    assert.same({ "b_id" }, diffs[1][2].columns)
    assert.same({ name = "fk_ag_a", table = "ag_child", columns = { "a_id" }, referred_table = "ag_parent",
      referred_columns = { "id" }, ondelete = "CASCADE" }, diffs[2][2])
    local calls = run(ag.render_upgrade(diffs))
    assert.same({ "drop_constraint", diffs[1][2].name, "ag_child", { type_ = "foreignkey" } }, calls[1])
    assert.same({ "create_foreign_key", "fk_ag_a", "ag_child", "ag_parent", { "a_id" }, { "id" }, { ondelete = "CASCADE" } },
      calls[2])
  end)

  it("reads through a connection, in its transaction", function()
    local engine = database(users_v1)
    local conn = engine:connect()
    conn:execute(orm.text("CREATE TABLE ag_new (id INTEGER PRIMARY KEY)"))
    local diffs = ag.compare_metadata(conn, models(users_v1))
    assert.same({ "remove_table ag_new" }, kinds(diffs))
    conn:rollback()
    conn:close()
  end)

  it("renders an empty list as the markers alone", function()
    assert.equal("    -- ### commands auto generated by lualchemy - please adjust! ###\n"
      .. "    -- ### end lualchemy commands ###\n", ag.render_upgrade({}))
    local up, down = ag.render({})
    assert.equal(up, down)
  end)

  it("refuses what it cannot read, naming it", function()
    local engine = database(users_v1)
    local ok, err = pcall(ag.compare_metadata, engine, {})
    assert.is_false(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("expected a MetaData", 1, true))
    ok, err = pcall(ag.compare_metadata, "sqlite://", models(users_v1))
    assert.truthy(err.message:find("expected an engine or a connection", 1, true))
    ok, err = pcall(ag.render_upgrade, { { "add_table" } })
    assert.truthy(err.message:find("entry 1 is not a difference compare_metadata returned", 1, true))
    ok, err = pcall(ag.render_upgrade, {}, { indnt = "" })
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("unknown option 'indnt'", 1, true))
  end)
end)

describe("auto(metadata, engine)", function()
  local function old_save(md)
    orm.Table("ag_players", md,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("name", orm.String(30)),
      orm.Column("gold", orm.Integer))
  end

  local function version2(md)
    orm.Table("ag_guilds", md,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("title", orm.String(40), { index = true }))
    orm.Table("ag_players", md,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("name", orm.String(30), { index = true }),
      orm.Column("level", orm.Integer, { nullable = false, server_default = "1" }),
      orm.Column("motto", orm.String(100)),
      orm.Column("guild_id", orm.Integer, orm.ForeignKey("ag_guilds.id")),
      orm.Column("class", orm.String(20), { nullable = false }),
      orm.Index("uq_ag_players_name", "name", { unique = true }))
  end

  it("applies new tables, nullable or defaulted columns and indexes, and reports the rest", function()
    local engine = database(old_save, { ag_players = { { name = "ann", gold = 5 }, { name = "ann", gold = 7 } } })
    local report = ag.auto(models(version2), engine)
    local function show(list)
      local out = {}
      for i, e in ipairs(list) do out[i] = e.change .. " " .. e.table .. " " .. (e.column or e.name or "") end
      return out
    end
    assert.same({
      "add_table ag_guilds ",
      "add_index ag_guilds ix_ag_guilds_title",
      "add_column ag_players level",
      "add_column ag_players motto",
      "add_column ag_players guild_id",
      "add_index ag_players ix_ag_players_name",
    }, show(report.applied))
    assert.same({
      "add_column ag_players class",
      "add_index ag_players uq_ag_players_name",
      "remove_column ag_players gold",
    }, show(report.skipped))
    assert.truthy(report.skipped[1].reason:find("NOT NULL without a server default", 1, true))
    assert.truthy(report.skipped[2].reason:find("the database refused it", 1, true))
    assert.equal("drops a column: write a revision", report.skipped[3].reason)
    -- every row is there, the old column's values too, the new column at its default
    local conn = engine:connect()
    local rows = conn:execute(orm.text("SELECT name, gold, level, motto FROM ag_players ORDER BY id")):all()
    assert.same({ { "ann", 5, 1 }, { "ann", 7, 1 } },
      { { rows[1][1], rows[1][2], rows[1][3] }, { rows[2][1], rows[2][2], rows[2][3] } })
    assert.is_nil(rows[1][4])
    conn:close()
    local insp = orm.inspect(engine)
    local fks = insp:get_foreign_keys("ag_players")
    assert.equal(1, #fks)
    assert.equal("ag_guilds", fks[1].referred_table)
    -- nothing safe is left; running it again changes nothing
    local again = ag.auto(models(version2), engine)
    assert.same({}, again.applied)
    assert.equal(3, #again.skipped)
  end)

  it("never raises for what it leaves, and checks its arguments", function()
    local engine = database(old_save)
    local report = ag.auto(models(function(md)
      orm.Table("ag_players", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("name", orm.String(60)),
        orm.Column("gold", orm.Integer))
    end), engine)
    assert.same({}, report.applied)
    assert.equal("modify_type", report.skipped[1].change)
    assert.equal("name", report.skipped[1].column)
    -- a change the database refuses is rolled back alone and reported: SQLite's ADD COLUMN
    -- takes no CURRENT_TIMESTAMP default on a table that has rows
    local filled = database(old_save, { ag_players = { { name = "bo", gold = 1 } } })
    report = ag.auto(models(function(md)
      orm.Table("ag_players", md,
        orm.Column("id", orm.Integer, { primary_key = true }),
        orm.Column("name", orm.String(30)),
        orm.Column("gold", orm.Integer),
        orm.Column("seen", orm.DateTime, { server_default = orm.func.now() }),
        orm.Column("luck", orm.Integer))
    end), filled)
    if SPEC_DIALECT == "sqlite" then
      assert.same({ "luck" }, { report.applied[1].column })
      assert.equal("seen", report.skipped[1].column)
      assert.truthy(report.skipped[1].reason:find("Cannot add a column with non-constant default", 1, true))
    else
      assert.same({ "seen", "luck" }, { report.applied[1].column, report.applied[2].column })
    end
    local ok, err = pcall(ag.auto, engine, models(old_save))
    assert.is_false(ok)
    assert.truthy(err.message:find("expected a MetaData", 1, true))
  end)
end)

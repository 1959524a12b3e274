-- Each op operation outside batch mode (issue 18), on whichever database the run is on:
-- what it does to the schema as the Inspector reads it back, and, on SQLite, which ones
-- point to batch mode instead. The DDL text itself is checked per dialect by the Rust unit
-- tests of host/src/sql/ddl_alter.rs (compared with Alembic's offline output).
local orm = require("lualchemy")
local migrate = require("lualchemy.migrate")

local ON_SQLITE = SPEC_DIALECT == "sqlite"
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

local n = 0
-- a folder whose first revision creates parents(id, name) and kids(id, parent_id, label),
-- then a revision per body given; returns the engine, after upgrading to the head
local function migrated(...)
  local dir = tmpdir()
  migrate.init(dir)
  local bodies = {
    [[
    local p = op.create_table("parents",
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("name", orm.String(40)))
    op.create_table("kids",
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("parent_id", orm.Integer),
      orm.Column("label", orm.String(40)))
    op.bulk_insert(p, { { id = 1, name = "p1" }, { id = 2, name = "p2" } })
    op.execute(orm.text("INSERT INTO kids (id, parent_id, label) VALUES (10, 1, 'k')"))]],
    ...
  }
  local prev
  for i, body in ipairs(bodies) do
    n = n + 1
    local id = ("r%011d"):format(n)
    write(dir .. "/versions/" .. id .. ".lua", ("local orm = require('lualchemy')\nreturn { revision = %q, down_revision = %s, upgrade = function(op)\n%s\nend }\n")
      :format(id, prev and ("%q"):format(prev) or "nil", body))
    prev = id
  end
  local engine = orm.create_engine("sqlite://")
  local ok, err = pcall(migrate.upgrade, dir, "head", { engine = engine })
  return engine, ok, err, dir
end

local function col(engine, t, name)
  for _, c in ipairs(orm.inspect(engine):get_columns(t)) do
    if c.name == name then return c end
  end
end

local function names(list, key)
  local out = {}
  for _, e in ipairs(list) do out[#out + 1] = e[key or "name"] end
  table.sort(out)
  return table.concat(out, ",")
end

describe("op", function()
  it("create_table returns the Table; bulk_insert and execute fill it; drop_table drops it", function()
    local engine, ok, err = migrated([[
    local t = op.create_table("extra", orm.Column("id", orm.Integer, { primary_key = true }), orm.Column("v", orm.String(10)), orm.Index("ix_extra_v", "v"))
    assert(t.name == "extra" and t.c.v ~= nil)
    op.bulk_insert(t, { { id = 1, v = "a" }, { id = 2 } })
    op.execute(orm.insert(t):values({ id = 3, v = "c" }))
    op.drop_table("kids")]])
    assert.is_true(ok, tostring(err))
    local insp = orm.inspect(engine)
    assert.is_false(insp:has_table("kids"))
    assert.equal("ix_extra_v", names(insp:get_indexes("extra")))
    local conn = engine:connect()
    local rows = conn:execute(orm.text("SELECT id, v FROM extra ORDER BY id")):all()
    conn:close()
    assert.equal(3, #rows)
    assert.is_nil(rows[2].v)
    assert.equal("c", rows[3].v)
  end)

  it("add_column with a named foreign key; the key works", function()
    local engine, ok, err = migrated([[
    op.add_column("kids", orm.Column("owner_id", orm.Integer, orm.ForeignKey("parents.id", { name = "fk_kids_owner" })))]])
    assert.is_true(ok, tostring(err))
    local fks = orm.inspect(engine):get_foreign_keys("kids")
    assert.equal(1, #fks)
    assert.same({ "owner_id" }, fks[1].constrained_columns)
    assert.equal("parents", fks[1].referred_table)
    if not ON_SQLITE then assert.equal("fk_kids_owner", fks[1].name) end
    local conn = engine:connect()
    local bad = pcall(function() conn:execute(orm.text("UPDATE kids SET owner_id = 99")) end)
    conn:rollback()
    conn:close()
    assert.is_false(bad)
  end)

  it("alter_column renames with new_column_name; rename_table renames a table", function()
    local engine, ok, err = migrated([[
    op.alter_column("kids", "label", { new_column_name = "title", existing_type = orm.String(40) })
    op.rename_table("parents", "elders")]])
    assert.is_true(ok, tostring(err))
    assert.equal("id,parent_id,title", names(orm.inspect(engine):get_columns("kids")))
    assert.is_true(orm.inspect(engine):has_table("elders"))
    assert.is_false(orm.inspect(engine):has_table("parents"))
    local conn = engine:connect()
    assert.equal("k", conn:execute(orm.text("SELECT title FROM kids")):scalar())
    assert.equal(2, conn:execute(orm.text("SELECT COUNT(*) FROM elders")):scalar())
    conn:close()
  end)

  it("create_index and drop_index", function()
    local engine, ok, err = migrated([[
    op.create_index("ix_kids_label", "kids", { "label" })
    op.create_index("ix_kids_both", "kids", { "parent_id", "label" }, { unique = true })]], [[
    op.drop_index("ix_kids_label", { table_name = "kids" })]])
    assert.is_true(ok, tostring(err))
    local ix = orm.inspect(engine):get_indexes("kids")
    assert.equal("ix_kids_both", names(ix))
    assert.is_true(ix[1].unique)
    assert.same({ "parent_id", "label" }, ix[1].column_names)
  end)

  it("drop_column", function()
    local engine, ok, err = migrated([[
    op.drop_column("kids", "label")]])
    assert.is_true(ok, tostring(err))
    assert.equal("id,parent_id", names(orm.inspect(engine):get_columns("kids")))
  end)

  describe("on PostgreSQL, MySQL and MariaDB", function()
    if ON_SQLITE then return end

    it("alter_column changes the type, nullability and server default", function()
      local engine, ok, err = migrated([[
      op.alter_column("kids", "label", { type_ = orm.String(80), existing_type = orm.String(40) })
      op.alter_column("kids", "label", { nullable = false, existing_type = orm.String(80) })
      op.alter_column("kids", "parent_id", { server_default = "7", existing_type = orm.Integer })]])
      assert.is_true(ok, tostring(err))
      local label = col(engine, "kids", "label")
      assert.equal("VARCHAR(80)", tostring(label.type))
      assert.is_false(label.nullable)
      assert.truthy(tostring(col(engine, "kids", "parent_id").default):find("7", 1, true))
      local _, ok2, err2 = migrated([[
      op.alter_column("kids", "parent_id", { server_default = "7", existing_type = orm.Integer })]], [[
      op.alter_column("kids", "parent_id", { server_default = false, existing_type = orm.Integer })]])
      assert.is_true(ok2, tostring(err2))
    end)

    it("create_unique_constraint, create_foreign_key and drop_constraint by type_", function()
      local engine, ok, err = migrated([[
      op.create_unique_constraint("uq_kids_label", "kids", { "label" })
      op.create_foreign_key("fk_kids_parent", "kids", "parents", { "parent_id" }, { "id" }, { ondelete = "CASCADE" })]])
      assert.is_true(ok, tostring(err))
      local insp = orm.inspect(engine)
      assert.equal("uq_kids_label", names(insp:get_unique_constraints("kids")))
      local fk = insp:get_foreign_keys("kids")[1]
      assert.equal("fk_kids_parent", fk.name)
      assert.equal("CASCADE", fk.options.ondelete)
      local conn = engine:connect()
      conn:execute(orm.text("DELETE FROM parents WHERE id = 1"))
      conn:commit()
      assert.equal(0, conn:execute(orm.text("SELECT COUNT(*) FROM kids")):scalar())
      conn:close()

      engine, ok, err = migrated([[
      op.create_unique_constraint("uq_kids_label", "kids", { "label" })
      op.create_foreign_key("fk_kids_parent", "kids", "parents", { "parent_id" }, { "id" })]], [[
      op.drop_constraint("fk_kids_parent", "kids", { type_ = "foreignkey" })
      op.drop_constraint("uq_kids_label", "kids", { type_ = "unique" })]])
      assert.is_true(ok, tostring(err))
      insp = orm.inspect(engine)
      assert.same({}, insp:get_foreign_keys("kids"))
      assert.same({}, insp:get_unique_constraints("kids"))
    end)

    it("a nil name makes an unnamed constraint (as autogenerate writes one the model leaves unnamed)", function()
      local engine, ok, err = migrated([[
      op.create_unique_constraint(nil, "kids", { "label" })
      op.create_foreign_key(nil, "kids", "parents", { "parent_id" }, { "id" })
      op.add_column("kids", orm.Column("owner_id", orm.Integer, orm.ForeignKey("parents.id")))]])
      assert.is_true(ok, tostring(err))
      local insp = orm.inspect(engine)
      local fks = insp:get_foreign_keys("kids")
      assert.equal(2, #fks)
      for _, fk in ipairs(fks) do
        assert.equal("parents", fk.referred_table)
        assert.is_string(fk.name) -- the database named it
      end
      assert.equal(1, #insp:get_unique_constraints("kids"))
      local conn = engine:connect()
      local bad = pcall(function() conn:execute(orm.text("UPDATE kids SET owner_id = 99")) end)
      conn:rollback()
      conn:close()
      assert.is_false(bad)
    end)

    it("create_check_constraint and drop_constraint of a check", function()
      local engine, ok, err = migrated([[
      op.create_check_constraint("ck_kids_parent", "kids", "parent_id > 0")]])
      assert.is_true(ok, tostring(err))
      local conn = engine:connect()
      local bad = pcall(function() conn:execute(orm.text("INSERT INTO kids (id, parent_id) VALUES (20, -1)")) end)
      conn:rollback()
      conn:close()
      assert.is_false(bad)
      local _, ok2, err2 = migrated([[
      op.create_check_constraint("ck_kids_parent", "kids", orm.text("parent_id > 0"))]], [[
      op.drop_constraint("ck_kids_parent", "kids", { type_ = "check" })
      op.execute("INSERT INTO kids (id, parent_id) VALUES (20, -1)")]])
      assert.is_true(ok2, tostring(err2))
    end)

    it("MySQL and MariaDB restate the column: alter_column without existing_type is refused", function()
      if not ON_MYSQL then return end
      local _, ok, err = migrated([[
      op.alter_column("kids", "label", { nullable = false })]])
      assert.is_false(ok)
      assert.truthy(tostring(err):find("give type_ or existing_type", 1, true), tostring(err))
    end)
  end)

  describe("on SQLite", function()
    if not ON_SQLITE then return end
    for _, case in ipairs({
      { "alter_column type", [[op.alter_column("kids", "label", { type_ = orm.Text })]] },
      { "alter_column nullable", [[op.alter_column("kids", "label", { nullable = false })]] },
      { "create_unique_constraint", [[op.create_unique_constraint("uq", "kids", { "label" })]] },
      { "create_foreign_key", [[op.create_foreign_key("fk", "kids", "parents", { "parent_id" }, { "id" })]] },
      { "create_check_constraint", [[op.create_check_constraint("ck", "kids", "id > 0")]] },
      { "create_foreign_key without a name", [[op.create_foreign_key(nil, "kids", "parents", { "parent_id" }, { "id" })]] },
      { "drop_constraint", [[op.drop_constraint("fk", "kids", { type_ = "foreignkey" })]] },
    }) do
      it(case[1] .. " points to batch mode and leaves the database at the revision before", function()
        local engine, ok, err, dir = migrated(case[2])
        assert.is_false(ok)
        assert.truthy(tostring(err):find("SQLite's ALTER TABLE cannot", 1, true), tostring(err))
        assert.truthy(tostring(err):find('op.batch_alter_table("kids"', 1, true), tostring(err))
        assert.equal(("r%011d"):format(n - 1), migrate.current(dir, { engine = engine }))
      end)
    end
  end)

  it("refuses unknown options and operations, naming them", function()
    local _, ok, err = migrated([[op.alter_column("kids", "label", { typ = orm.Text })]])
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown option 'typ'", 1, true), tostring(err))
    assert.truthy(tostring(err):find("type_", 1, true))
    _, ok, err = migrated([[op.create_primary_key("pk", "kids", { "id" })]])
    assert.is_false(ok)
    assert.truthy(tostring(err):find("op has no operation 'create_primary_key'", 1, true), tostring(err))
    _, ok, err = migrated([[op.drop_constraint("c", "kids", { type_ = "index" })]])
    assert.is_false(ok)
    assert.truthy(tostring(err):find("type_ must be 'unique', 'foreignkey', 'check' or 'primary', got 'index'", 1, true), tostring(err))
  end)

  it("orm.ForeignKey's name reaches CREATE TABLE", function()
    local md = orm.MetaData()
    orm.Table("parents", md, orm.Column("id", orm.Integer, { primary_key = true }))
    local t = orm.Table("kids", md,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("parent_id", orm.Integer, orm.ForeignKey("parents.id", { name = "fk_kid_parent", ondelete = "CASCADE" })))
    assert.truthy(tostring(orm.CreateTable(t)):find("CONSTRAINT fk_kid_parent FOREIGN KEY(parent_id) REFERENCES parents (id) ON DELETE CASCADE", 1, true))
    local ok, err = pcall(orm.ForeignKey, "parents.id", { nam = "x" })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown option 'nam'", 1, true))
  end)
end)

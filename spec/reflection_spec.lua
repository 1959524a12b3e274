-- Reflection (issue 18): orm.inspect(engine) reads the tables of a live database in
-- SQLAlchemy 2.0's shapes, metadata:reflect / orm.Table(..., { autoload_with }) build
-- Tables from them, and Core DML runs on those Tables. Runs on whichever database the run
-- is on (SPEC_DIALECT): the schema is created by create_all, then read back.
local orm = require("lualchemy")

local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"
local ON_PG = SPEC_DIALECT == "postgresql"

-- the schema as a program declares it
local function create_schema(engine)
  local md = orm.MetaData()
  orm.Table("rf_users", md,
    orm.Column("id", orm.Integer, { primary_key = true }),
    orm.Column("name", orm.String(50), { nullable = false }),
    orm.Column("active", orm.Boolean, { server_default = orm.text(ON_PG and "true" or "1") }),
    orm.Column("created", orm.DateTime),
    orm.Column("price", orm.Numeric(10, 2)),
    orm.Column("bio", orm.Text),
    orm.UniqueConstraint("name", { name = "uq_rf_name" }),
    orm.CheckConstraint("price >= 0", { name = "ck_rf_price" }))
  orm.Table("rf_addresses", md,
    orm.Column("id", orm.Integer, { primary_key = true }),
    orm.Column("user_id", orm.Integer),
    orm.Column("email", orm.String(100)),
    orm.ForeignKeyConstraint({ "user_id" }, { "rf_users.id" }, { name = "fk_rf_user", ondelete = "CASCADE" }),
    orm.Index("ix_rf_email", "email"))
  md:create_all(engine)
  return md
end

local function by_name(list)
  local out = {}
  for _, e in ipairs(list) do out[e.name] = e end
  return out
end

describe("orm.inspect(engine)", function()
  local engine, insp
  before_each(function()
    engine = orm.create_engine("sqlite://")
    create_schema(engine)
    insp = orm.inspect(engine)
  end)

  it("lists the tables and answers has_table", function()
    assert.same({ "rf_addresses", "rf_users" }, insp:get_table_names())
    assert.is_true(insp:has_table("rf_users"))
    assert.is_false(insp:has_table("rf_nope"))
  end)

  it("reads columns with lualchemy types, nullability, defaults and the key", function()
    local cols = insp:get_columns("rf_users")
    local names = {}
    for i, c in ipairs(cols) do names[i] = c.name end
    assert.same({ "id", "name", "active", "created", "price", "bio" }, names)
    local c = by_name(cols)
    assert.equal("INTEGER", tostring(c.id.type))
    assert.equal("VARCHAR(50)", tostring(c.name.type))
    -- a Boolean reads back as SQLAlchemy reads it: BOOLEAN, but TINYINT on MySQL
    assert.equal(ON_MYSQL and "SMALLINT" or "BOOLEAN", tostring(c.active.type))
    assert.equal("DATETIME", tostring(c.created.type))
    assert.equal("NUMERIC(10, 2)", tostring(c.price.type))
    assert.equal("TEXT", tostring(c.bio.type))
    assert.is_false(c.id.nullable)
    assert.is_false(c.name.nullable)
    assert.is_true(c.bio.nullable)
    assert.is_true(c.id.primary_key)
    assert.is_false(c.name.primary_key)
    assert.equal(ON_PG and "true" or "1", c.active.default)
    assert.is_nil(c.bio.default)
    if SPEC_DIALECT == "sqlite" then
      assert.is_nil(c.id.autoincrement) -- SQLite does not say
    else
      assert.is_true(c.id.autoincrement)
      assert.is_false(c.name.autoincrement)
    end
    -- the types are lualchemy types: they compile for the engine
    assert.equal("VARCHAR(50)", c.name.type:compile(engine))
  end)

  it("reads the primary key, foreign keys and indexes", function()
    local pk = insp:get_pk_constraint("rf_users")
    assert.same({ "id" }, pk.constrained_columns)
    if ON_PG then assert.equal("rf_users_pkey", pk.name) else assert.is_nil(pk.name) end
    local fks = insp:get_foreign_keys("rf_addresses")
    assert.same({
      { name = "fk_rf_user", constrained_columns = { "user_id" }, referred_table = "rf_users",
        referred_columns = { "id" }, options = { ondelete = "CASCADE" } },
    }, fks)
    assert.same({}, insp:get_foreign_keys("rf_users"))
    local ix = by_name(insp:get_indexes("rf_addresses"))
    assert.same({ name = "ix_rf_email", column_names = { "email" }, unique = false }, ix.ix_rf_email)
  end)

  it("reads unique and check constraints", function()
    assert.same({ { name = "uq_rf_name", column_names = { "name" } } },
      insp:get_unique_constraints("rf_users"))
    local ck = insp:get_check_constraints("rf_users")
    assert.equal(1, #ck)
    assert.equal("ck_rf_price", ck[1].name)
    assert.truthy(ck[1].sqltext:find("price", 1, true))
    assert.truthy(ck[1].sqltext:find(">=", 1, true))
  end)

  it("raises for a table that does not exist", function()
    local ok, err = pcall(insp.get_columns, insp, "rf_nope")
    assert.is_false(ok)
    assert.equal("InvalidRequestError", err.kind)
    assert.truthy(tostring(err):find("NoSuchTableError: rf_nope", 1, true))
  end)

  it("sees a table created after it was made", function()
    local conn = engine:connect()
    conn:execute(orm.text("CREATE TABLE rf_later (id INTEGER PRIMARY KEY)"))
    conn:commit()
    conn:close()
    assert.is_true(insp:has_table("rf_later"))
    assert.same({ "rf_addresses", "rf_later", "rf_users" }, insp:get_table_names())
  end)
end)

describe("reflected Tables", function()
  local engine
  before_each(function()
    engine = orm.create_engine("sqlite://")
    create_schema(engine)
  end)

  it("metadata:reflect builds every table with its columns, key and foreign keys", function()
    local md = orm.MetaData()
    md:reflect(engine)
    local users, addresses = md.tables.rf_users, md.tables.rf_addresses
    assert.truthy(users and addresses)
    assert.same({ "id" }, users.primary_key)
    local cols = {}
    for i, c in ipairs(users.columns) do cols[i] = c.name .. " " .. tostring(c.type) end
    assert.equal("id INTEGER", cols[1])
    assert.equal("name VARCHAR(50)", cols[2])
    -- referenced tables sort first, through the reflected foreign key
    assert.equal("rf_users", md.sorted_tables[1].name)
    -- the join condition comes from the reflected foreign key
    local sql = tostring(orm.select(addresses.c.email):select_from(users):join(addresses))
    assert.truthy(sql:find("rf_users.id = rf_addresses.user_id", 1, true)
      or sql:find("rf_addresses.user_id = rf_users.id", 1, true), sql)
  end)

  it("metadata:reflect with only names the tables, and rejects unknown ones", function()
    local md = orm.MetaData()
    md:reflect(engine, { only = { "rf_users" } })
    assert.truthy(md.tables.rf_users)
    assert.is_nil(md.tables.rf_addresses)
    -- the tables a reflected foreign key refers to come along, as SQLAlchemy's
    md = orm.MetaData()
    md:reflect(engine, { only = { "rf_addresses" } })
    assert.truthy(md.tables.rf_users)
    local ok, err = pcall(md.reflect, md, engine, { only = { "rf_nope" } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("rf_nope", 1, true))
  end)

  it("orm.Table with autoload_with reads one table", function()
    local md = orm.MetaData()
    local t = orm.Table("rf_addresses", md, { autoload_with = engine })
    assert.equal("rf_addresses", t.name)
    assert.equal(t, md.tables.rf_addresses)
    assert.truthy(t.c.email)
    assert.truthy(md.tables.rf_users) -- the table its foreign key refers to
    -- a table the MetaData has is kept as it is
    assert.equal(md.tables.rf_users, orm.Table("rf_users", md, { autoload_with = engine }))
    local ok, err = pcall(orm.Table, "rf_nope", orm.MetaData(), { autoload_with = engine })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("NoSuchTableError", 1, true))
    ok, err = pcall(orm.Table, "rf_users", orm.MetaData(), { autoload_with = 42 })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("autoload_with must be an engine", 1, true))
  end)

  it("runs insert, update, delete and select on a reflected table through a session", function()
    local md = orm.MetaData()
    md:reflect(engine)
    local users = md.tables.rf_users
    local s = orm.Session(engine)
    s:execute(orm.insert(users), { { name = "ann", price = 3 }, { name = "bob", price = 4 } })
    s:execute(orm.update(users):where(users.c.name:eq("bob")):values({ name = "BOB" }))
    s:execute(orm.delete(users):where(users.c.name:eq("ann")))
    s:commit()
    local rows = s:execute(orm.select(users.c.id, users.c.name):order_by(users.c.id)):all()
    assert.equal(1, #rows)
    assert.equal("BOB", rows[1].name)
    assert.equal(2, rows[1].id) -- the key the database generated
    -- the server default filled the column
    local active = s:execute(orm.select(users.c.active)):scalar()
    assert.truthy(active == 1 or active == true)
    -- the unique constraint the database has holds
    local ok = pcall(function()
      s:execute(orm.insert(users), { { name = "BOB" } })
      s:commit()
    end)
    assert.is_false(ok)
    s:rollback()
    s:close()
  end)

  it("runs insert, update, delete and select on a reflected table through a connection", function()
    local md = orm.MetaData()
    local users = orm.Table("rf_users", md, { autoload_with = engine })
    local conn = engine:connect()
    local r = conn:execute(orm.insert(users), { { name = "ann", price = 1 }, { name = "bob" }, { name = "cy", bio = "x" } })
    assert.equal(3, r.rowcount)
    assert.equal(1, conn:execute(orm.insert(users):values({ name = "dee" })).rowcount)
    r = conn:execute(orm.update(users):where(users.c.name:in_({ "bob", "cy" })):values({ price = 9 }))
    assert.equal(2, r.rowcount)
    assert.equal(1, conn:execute(orm.delete(users):where(users.c.name:eq("ann"))).rowcount)
    conn:commit()
    local names = conn:execute(orm.select(users.c.name):where(users.c.price:eq(9)):order_by(users.c.name)):scalars():all()
    assert.same({ "bob", "cy" }, names)
    -- rolled back with the connection's transaction
    conn:execute(orm.delete(users))
    conn:rollback()
    assert.equal(3, #conn:execute(orm.select(users)):all())
    local ok, err = pcall(conn.execute, conn, orm.insert(users), { { nope = 1 } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown column 'nope'", 1, true))
    conn:close()
  end)

  it("rejects DML on something that is not a class or a Table", function()
    local ok, err = pcall(orm.insert, orm.text("x"))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("expects a mapped class or a Table", 1, true))
  end)
end)

describe("orm.automap_base()", function()
  local engine
  before_each(function()
    engine = orm.create_engine("sqlite://")
    local md = create_schema(engine)
    orm.Table("rf_tags", md,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("label", orm.String(20)))
    orm.Table("rf_user_tags", md,
      orm.Column("user_id", orm.Integer, orm.ForeignKey("rf_users.id")),
      orm.Column("tag_id", orm.Integer, orm.ForeignKey("rf_tags.id")))
    orm.Table("rf_nodes", md,
      orm.Column("id", orm.Integer, { primary_key = true }),
      orm.Column("parent_id", orm.Integer, orm.ForeignKey("rf_nodes.id")))
    orm.Table("rf_nokey", md, orm.Column("x", orm.Integer))
    md:create_all(engine)
  end)

  local function rel_keys(cls)
    local keys = {}
    for _, r in ipairs(orm.inspect(cls).relationships) do keys[#keys + 1] = r.key end
    table.sort(keys)
    return keys
  end

  it("maps a class per table with a primary key, relationships named as automap's", function()
    local Base = orm.automap_base()
    assert.equal(Base, Base:prepare(engine))
    local User, Address = Base.classes.rf_users, Base.classes.rf_addresses
    assert.truthy(User and Address and Base.classes.rf_tags and Base.classes.rf_nodes)
    -- no primary key: not mapped; an association table: not a class either
    assert.is_nil(Base.classes.rf_nokey)
    assert.is_nil(Base.classes.rf_user_tags)
    assert.same({ "rf_addresses_collection", "rf_tags_collection" }, rel_keys(User))
    assert.same({ "rf_users" }, rel_keys(Address))
    assert.same({ "rf_users_collection" }, rel_keys(Base.classes.rf_tags))
    assert.same({ "rf_nodes", "rf_nodes_collection" }, rel_keys(Base.classes.rf_nodes))
    assert.equal("rf_users", User.__tablename__)
    assert.truthy(Base.metadata.tables.rf_users)
  end)

  it("reads and writes through the generated classes and relationships", function()
    local Base = orm.automap_base()
    Base:prepare({ autoload_with = engine })
    local C = Base.classes
    local s = orm.Session(engine)
    local u = C.rf_users{ name = "ed", price = 2 }
    u.rf_addresses_collection:append(C.rf_addresses{ email = "ed@x" })
    u.rf_tags_collection:append(C.rf_tags{ label = "admin" })
    local root = C.rf_nodes{}
    root.rf_nodes_collection:append(C.rf_nodes{})
    s:add_all({ u, root })
    s:commit()
    s:close()
    s = orm.Session(engine)
    local a = s:scalars(orm.select(C.rf_addresses)):one()
    assert.equal("ed", a.rf_users.name)
    assert.equal(a, a.rf_users.rf_addresses_collection[1])
    local tag = s:scalars(orm.select(C.rf_tags)):one()
    assert.equal("ed", tag.rf_users_collection[1].name)
    local child = s:scalars(orm.select(C.rf_nodes):where(C.rf_nodes.parent_id:isnot(nil))):one()
    assert.equal(child.rf_nodes.id, child.parent_id)
    assert.equal(1, #child.rf_nodes.rf_nodes_collection)
    -- the server default of the reflected column fills it
    s:refresh(a.rf_users)
    assert.truthy(a.rf_users.active == true or a.rf_users.active == 1)
    s:close()
  end)

  it("raises when a relationship name is a column's, and for a missing engine", function()
    local conn = engine:connect()
    conn:execute(orm.text("CREATE TABLE rf_clash (id INTEGER PRIMARY KEY, rf_users INTEGER, " ..
      "user_id INTEGER REFERENCES rf_users (id))"))
    conn:commit()
    conn:close()
    local ok, err = pcall(function() orm.automap_base():prepare(engine) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("relationship 'rf_users' on class rf_clash conflicts with its column", 1, true), tostring(err))
    ok, err = pcall(function() orm.automap_base():prepare(42) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("expected an engine", 1, true))
  end)
end)

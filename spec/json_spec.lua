-- JSON element access in SQL on whichever database the run is on (SPEC_DIALECT), as
-- SQLAlchemy 2.0 renders it: Model.data["key"], Model.data[1] (Lua's first element is
-- JSON's index 0), Model.data[{ "a", 1, "b" }] (a path), chained elements, and
-- :as_string() / :as_integer() / :as_float() / :as_boolean() / :as_json(), in SELECT lists
-- and WHERE clauses; the methods of column expressions still win over keys.
local orm = require("lualchemy")

local ON_MYSQL = SPEC_DIALECT == "mysql" or SPEC_DIALECT == "mariadb"
local ON_PG = SPEC_DIALECT == "postgresql"
local generic = generic_sql or function(s) return s end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
  })
  local Base = orm.declarative_base()
  env.Doc = Base:model("Doc", {
    __tablename__ = "docs",
    id = orm.Column(orm.Integer, { primary_key = true }),
    data = orm.Column(orm.JSON),
    title = orm.Column(orm.String(40)),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  local Doc = env.Doc
  env.s:add_all({
    Doc{ id = 1, title = "one", data = { name = "ann", level = 7, ratio = 1.5, admin = true,
      tags = { "red", "green" }, pos = { x = 3, y = { 10, 20 } }, label = "L" } },
    Doc{ id = 2, title = "two", data = { name = "bob", level = 2, ratio = 0.25, admin = false,
      tags = { "blue" }, pos = { x = 4, y = { 30 } } } },
  })
  env.s:commit()
  function env.last_select()
    for i = #env.log, 1, -1 do
      if env.log[i]:find("^SELECT") then return env.log[i] end
    end
  end
  return env
end

describe("JSON element access", function()
  local env, Doc, s
  before_each(function()
    env = setup()
    Doc, s = env.Doc, env.s
  end)
  after_each(function() s:close() end)

  it("reads an element by key as JSON, rendered as SQLAlchemy does", function()
    local names = s:scalars(orm.select(Doc.data["name"]):order_by(Doc.id)):all()
    assert.same({ "ann", "bob" }, names)
    local sql = env.last_select()
    if ON_PG then
      assert.truthy(sql:find("docs.data -> ?::TEXT", 1, true), sql)
    elseif ON_MYSQL then
      assert.truthy(sql:find("JSON_EXTRACT(docs.data, ?)", 1, true), sql)
    else
      assert.truthy(sql:find("JSON_QUOTE(JSON_EXTRACT(docs.data, ?))", 1, true), sql)
    end
    -- a whole object element comes back as a Lua table
    local pos = s:scalar(orm.select(Doc.data["pos"]):where(Doc.id:eq(1)))
    assert.equal(3, pos.x)
    assert.same({ 10, 20 }, pos.y)
  end)

  it("reads typed elements with :as_string, :as_integer, :as_float, :as_boolean", function()
    local row = s:execute(orm.select(
      Doc.data["name"]:as_string():label("name"),
      Doc.data["level"]:as_integer():label("level"),
      Doc.data["ratio"]:as_float():label("ratio"),
      Doc.data["admin"]:as_boolean():label("admin")
    ):where(Doc.id:eq(1))):one()
    assert.equal("ann", row.name)
    assert.equal(7, row.level)
    assert.equal(1.5, row.ratio)
    assert.equal(true, row.admin)
    local sql = env.last_select()
    if ON_PG then
      assert.truthy(sql:find("CAST(docs.data ->> ?::TEXT AS INTEGER)", 1, true), sql)
      assert.truthy(sql:find("CAST(docs.data ->> ?::TEXT AS BOOLEAN)", 1, true), sql)
    elseif ON_MYSQL then
      assert.truthy(sql:find("CASE JSON_EXTRACT(docs.data, ?) WHEN 'null' THEN NULL ELSE JSON_UNQUOTE(JSON_EXTRACT(docs.data, ?)) END", 1, true), sql)
      assert.truthy(sql:find("CAST(JSON_EXTRACT(docs.data, ?) AS SIGNED INTEGER)", 1, true), sql)
    else
      assert.truthy(sql:find("JSON_EXTRACT(docs.data, ?) AS level", 1, true), sql)
      assert.falsy(sql:find("JSON_QUOTE", 1, true), sql)
    end
    assert.equal(false, s:scalar(orm.select(Doc.data["admin"]:as_boolean()):where(Doc.id:eq(2))))
    -- a missing key reads as nil
    assert.is_nil(s:scalar(orm.select(Doc.data["nope"]:as_string()):where(Doc.id:eq(2))))
  end)

  it("filters and orders by typed elements, binding the compared value by the element's type", function()
    local ids = s:scalars(orm.select(Doc.id):where(Doc.data["level"]:as_integer():gt(5))):all()
    assert.same({ 1 }, ids)
    ids = s:scalars(orm.select(Doc.id):where(Doc.data["name"]:as_string():eq("bob"))):all()
    assert.same({ 2 }, ids)
    ids = s:scalars(orm.select(Doc.id):order_by(Doc.data["ratio"]:as_float())):all()
    assert.same({ 2, 1 }, ids)
    -- the JSON element compared with a Lua value binds it as JSON ('"ann"')
    local q = orm.select(Doc):where(Doc.data["name"]:eq("ann"))
    if ON_PG then
      -- PostgreSQL has no = for json (as with SQLAlchemy there): compare a typed element
      local ok, err = pcall(function() return s:scalars(q):all() end)
      assert.falsy(ok)
      assert.equal("ProgrammingError", err.kind)
      s:rollback()
    elseif ON_MYSQL then
      -- sent as SQLAlchemy sends it; MariaDB compares a JSON value with the bound JSON text
      -- by its own rules (no match here), so typed elements are the portable comparison
      s:scalars(q):all()
      assert.truthy(env.last_select():find("WHERE JSON_EXTRACT(docs.data, ?) = ?", 1, true))
    else
      local docs = s:scalars(q):all()
      assert.equal(1, #docs)
      assert.equal("one", docs[1].title)
    end
  end)

  it("indexes arrays from 1 as Lua does: Model.data[...][1] is JSON's element 0", function()
    local firsts = s:scalars(orm.select(Doc.data["tags"][1]:as_string()):order_by(Doc.id)):all()
    assert.same({ "red", "blue" }, firsts)
    assert.is_nil(s:scalar(orm.select(Doc.data["tags"][2]:as_string()):where(Doc.id:eq(2))))
    assert.equal("green", s:scalar(orm.select(Doc.data["tags"][2]):where(Doc.id:eq(1))))
  end)

  it("follows a path given as a list, and chained elements", function()
    local ys = s:scalars(orm.select(Doc.data[{ "pos", "y", 1 }]:as_integer()):order_by(Doc.id)):all()
    assert.same({ 10, 30 }, ys)
    local sql = env.last_select()
    if ON_PG then
      assert.truthy(sql:find("docs.data #>> ?::TEXT::TEXT[]", 1, true), sql)
    else
      assert.truthy(sql:find("JSON_EXTRACT(docs.data, ?)", 1, true), sql)
    end
    assert.equal(20, s:scalar(orm.select(Doc.data["pos"]["y"][2]:as_integer()):where(Doc.id:eq(1))))
    assert.same({ 10, 20 }, s:scalar(orm.select(Doc.data[{ "pos", "y" }]):where(Doc.id:eq(1))))
    if ON_PG then
      assert.truthy(env.last_select():find("docs.data #> ?::TEXT::TEXT[]", 1, true))
    end
    -- a key named like an expression method is reached through a one-step path
    assert.equal("L", s:scalar(orm.select(Doc.data[{ "label" }]:as_string()):where(Doc.id:eq(1))))
  end)

  it("works on an alias and a subquery's column", function()
    local d = orm.aliased(Doc, "d")
    local ids = s:scalars(orm.select(d.id):where(d.data["level"]:as_integer():lt(5))):all()
    assert.same({ 2 }, ids)
    assert.truthy(env.last_select():find("d.data", 1, true))
    local sub = orm.select(Doc.id, Doc.data):where(Doc.id:eq(1)):subquery("one")
    assert.same({ "ann" }, s:scalars(orm.select(sub.c.data["name"]:as_string())):all())
  end)

  it("renders each dialect's SQL the same way off the database", function()
    local e = Doc.data["pos"]["x"]
    assert.equal("JSON_QUOTE(JSON_EXTRACT(JSON_QUOTE(JSON_EXTRACT(docs.data, ?)), ?))", tostring(e))
    assert.equal("JSON_EXTRACT(docs.data, ?) = ?", tostring(Doc.data["name"]:as_string():eq("x")))
  end)

  it("keeps column methods and refuses element access where it makes no sense", function()
    assert.is_function(Doc.data.eq)
    assert.is_function(Doc.data.label)
    assert.is_nil(Doc.title.nothing_here)
    local ok, err = pcall(function() return Doc.title[1] end)
    assert.falsy(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(err.message:find("Doc.title", 1, true))
    ok, err = pcall(function() return Doc.title:as_string() end)
    assert.falsy(ok)
    assert.truthy(err.message:find(":as_string()", 1, true))
    ok, err = pcall(function() return Doc.data[0] end)
    assert.falsy(ok)
    assert.truthy(err.message:find("index from 1", 1, true))
    ok, err = pcall(function() return Doc.data[{}] end)
    assert.falsy(ok)
    assert.truthy(err.message:find("at least one step", 1, true))
  end)
end)

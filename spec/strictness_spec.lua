-- Nothing the user writes is silently ignored or silently wrong: Lua idioms that would
-- fail quietly fail loudly (ipairs over a result, a session method called with '.'),
-- and what a user's function raises (column defaults, onupdate) reaches the caller as
-- the very value raised.
local orm = require("lualchemy")

local function pcall_err(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.falsy(ok, "expected an error")
  return err
end

local function setup(extra)
  local env = {}
  env.engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  local spec = {
    __tablename__ = "notes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    body = orm.Column(orm.String(50)),
  }
  for k, v in pairs(extra or {}) do spec[k] = v end
  env.Note = Base:model("Note", spec)
  env.Base = Base
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  return env
end

describe("ipairs over a result", function()
  local env, Note
  before_each(function()
    env = setup(); Note = env.Note
    for i = 1, 13 do env.s:add(Note{ body = "n" .. i }) end
    env.s:commit()
  end)

  it("visits the rows that remain, as #result counts them", function()
    local r = env.s:execute(orm.select(Note):order_by(Note.id))
    assert.equal(13, #r)
    local n = 0
    for i, row in ipairs(r) do
      n = n + 1
      assert.equal(i, row[1].id)
    end
    assert.equal(13, n)
    -- indexing does not fetch: the rows are still there
    assert.equal(13, #r)
    assert.equal("n1", r[1][1].body)
    assert.equal(nil, r[14])
    assert.equal(nil, r[0])
  end)

  it("counts from the next row once some were fetched", function()
    local r = env.s:scalars(orm.select(Note.body):order_by(Note.id))
    assert.equal("n1", r:fetchone())
    assert.equal(12, #r)
    assert.equal("n2", r[1])
    local seen = {}
    for _, body in ipairs(r) do seen[#seen + 1] = body end
    assert.equal(12, #seen)
    assert.equal("n13", seen[12])
    assert.equal("n2", r:fetchone())
  end)

  it("sees what unique() leaves", function()
    local r = env.s:scalars(orm.select(Note.body:like("n1%"))):unique()
    local seen = {}
    for _, v in ipairs(r) do seen[#seen + 1] = v end
    assert.equal(#r, #seen)
    assert.equal(2, #seen)
  end)

  it("works on mappings", function()
    local r = env.s:execute(orm.select(Note.id, Note.body):order_by(Note.id)):mappings()
    local n = 0
    for i, m in ipairs(r) do
      n = n + 1
      assert.equal(i, m.id)
    end
    assert.equal(13, n)
  end)

  it("of a closed result raises", function()
    local r = env.s:execute(orm.select(Note))
    r:close()
    local err = pcall_err(function() return r[1] end)
    assert.equal("InvalidRequestError", err.kind)
  end)
end)

describe("a session method called with '.'", function()
  local env
  before_each(function() env = setup() end)

  it("raises naming the method", function()
    local s, Note = env.s, env.Note
    local cases = {
      add = function() s.add(Note{ body = "x" }) end,
      commit = function() s.commit() end,
      get = function() s.get(Note, 1) end,
      execute = function() s.execute(orm.select(Note)) end,
      scalars = function() s.scalars(orm.select(Note)) end,
      delete = function() s.delete(Note{}) end,
      begin = function() s.begin(function() end) end,
      begin_nested = function() s.begin_nested(function() end) end,
    }
    for name, f in pairs(cases) do
      local err = pcall_err(f)
      assert.equal("ArgumentError", err.kind, name)
      assert.truthy(tostring(err):find("call session methods with ':'", 1, true), tostring(err))
      assert.truthy(tostring(err):find("session:" .. name .. "(", 1, true), tostring(err))
    end
    -- the session still works
    s:add(Note{ body = "ok" })
    s:commit()
    assert.equal(1, s:scalar(orm.select(orm.func.count()):select_from(Note)))
  end)

  it("raises the same once listeners wrap the session methods", function()
    local s, Note = env.s, env.Note
    orm.event.listen(Note, "before_insert", function() end)
    local err = pcall_err(function() s.add(Note{}) end)
    assert.truthy(tostring(err):find("session:add(", 1, true), tostring(err))
  end)
end)

describe("a column default or onupdate function that raises", function()
  local marker = { reason = "no default today" }
  local mode
  local function boom()
    if mode == "table" then error(marker)
    elseif mode == "nil" then error(nil)
    else error(io.stdout) end
  end
  local env, Note
  before_each(function()
    env = setup({
      tag = orm.Column(orm.String(20), { default = function() boom() end }),
      edits = orm.Column(orm.Integer, { default = 0, onupdate = function() boom() end }),
    })
    Note = env.Note
  end)

  it("reaches the caller as the very value (a table, nil, a userdata)", function()
    local s = env.s
    for _, m in ipairs({ "table", "nil", "userdata" }) do
      mode = m
      s:add(Note{ body = "x" })
      local ok, err = pcall(s.commit, s)
      assert.falsy(ok)
      local expected = ({ table = marker, ["nil"] = nil, userdata = io.stdout })[m]
      assert.equal(expected, err, m)
      s:rollback()
    end
    assert.equal(0, s:scalar(orm.select(orm.func.count()):select_from(Note)))
  end)

  it("on update, and from an autoflush", function()
    local s = env.s
    s:add(Note{ body = "x", tag = "given" })
    s:commit()
    local n = s:get(Note, 1)
    n.body = "changed"
    mode = "table"
    local ok, err = pcall(s.flush, s)
    assert.falsy(ok)
    assert.equal(marker, err)
    s:rollback()
    n = s:get(Note, 1)
    n.body = "again"
    ok, err = pcall(s.scalars, s, orm.select(Note))
    assert.falsy(ok)
    assert.equal(marker, err)
    s:rollback()
    assert.equal("x", s:get(Note, 1).body)
  end)
end)

describe("an unknown key or option", function()
  local function fails_naming(f, ...)
    local err = pcall_err(f)
    assert.equal("ArgumentError", err.kind, tostring(err))
    for _, needle in ipairs({ ... }) do
      assert.truthy(tostring(err):find(needle, 1, true), tostring(err) .. " lacks " .. needle)
    end
  end
  local id = function() return orm.Column(orm.Integer, { primary_key = true }) end

  it("in a model spec: a misspelt or unsupported double-underscore key", function()
    local Base = orm.declarative_base()
    fails_naming(function() Base:model("A", { __tabelname__ = "a", id = id() }) end,
      "model A", "'__tabelname__'", "__tablename__")
    fails_naming(function() Base:model("B", { __tablename__ = "b", __mapper_args__ = {}, id = id() }) end,
      "model B", "__mapper_args__")
    fails_naming(function() Base:model("C", { __tablename__ = "c", __index = function() end, id = id() }) end,
      "'__index'")
    fails_naming(function()
      Base:model("D", { __tablename__ = "d", __table_args__ = { mysql_engine = "InnoDB" }, id = id() })
    end, "__table_args__", "'mysql_engine'", "comment")
    -- the known ones, and plain members (methods, constants), are fine
    local E = Base:model("E", {
      __tablename__ = "e", __table_args__ = { orm.UniqueConstraint("n"), comment = "x" },
      id = id(), n = orm.Column(orm.Integer),
      __tostring = function(self) return "E" .. self.id end,
      LIMIT = 3, double = function(self) return self.n * 2 end,
    })
    assert.equal(3, E.LIMIT)
  end)

  it("in orm.Column, orm.Table and the constraints", function()
    fails_naming(function() orm.Column(orm.Integer, { primry_key = true }) end,
      "orm.Column", "'primry_key'", "primary_key, nullable")
    fails_naming(function() orm.Mapped("int", { nulable = true }) end, "'nulable'", "nullable")
    local md = orm.MetaData()
    fails_naming(function()
      orm.Table("t", md, orm.Column("id", orm.Integer, { primary_key = true }), { schema = "other" })
    end, "orm.Table('t')", "'schema'", "comment, info")
    fails_naming(function() orm.ForeignKey("t.id", { ondelet = "CASCADE" }) end,
      "orm.ForeignKey('t.id')", "'ondelet'", "ondelete, onupdate")
    fails_naming(function() orm.Index("ix", "a", { uniqe = true }) end, "'uniqe'", "unique")
    fails_naming(function() orm.UniqueConstraint("a", { nme = "x" }) end, "'nme'", "name")
    fails_naming(function() orm.CheckConstraint("a > 0", { nam = "x" }) end, "'nam'", "name")
    fails_naming(function() orm.declarative_base{ metdata = orm.MetaData() } end,
      "orm.declarative_base", "'metdata'", "metadata")
  end)

  it("in orm.relationship, orm.backref, orm.Session and session:get", function()
    fails_naming(function() orm.relationship("X", { back_populate = "y" }) end,
      "'back_populate'", "back_populates")
    fails_naming(function() orm.Session(nil, { autoflus = false }) end,
      "orm.Session", "'autoflus'", "autoflush")
    fails_naming(function() orm.sessionmaker{ expire_on_comit = false } end,
      "'expire_on_comit'", "expire_on_commit")
    local env = setup()
    fails_naming(function() env.s:get(env.Note, 1, { optons = {} }) end,
      "session:get()", "'optons'", "options")
  end)
end)

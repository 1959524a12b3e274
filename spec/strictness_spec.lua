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

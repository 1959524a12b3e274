-- An echo function that raises (issue 15, item 11): the statement it reports is not sent,
-- and the very value it raised reaches the caller, as a listener's does; a ROLLBACK still
-- rolls back first. A session whose flush met it needs rollback(), as after any failed flush.
local orm = require("lualchemy")

local function setup()
  local env = { raise = nil, seen = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql)
      env.seen[#env.seen + 1] = sql
      if env.raise and sql:find(env.raise.pattern) then error(env.raise.value, 0) end
    end,
  })
  local Base = orm.declarative_base()
  env.Note = Base:model("Note", {
    __tablename__ = "echo_notes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    body = orm.Column(orm.String(50)),
  })
  Base.metadata:create_all(env.engine)
  function env.count()
    local s = orm.Session(env.engine)
    local n = s:scalar(orm.select(orm.func.count()):select_from(env.Note))
    s:close()
    return n
  end
  return env
end

describe("an echo function that raises", function()
  it("stops the INSERT it reports; the flush fails with the very value", function()
    local env = setup()
    local s = orm.Session(env.engine)
    s:add(env.Note{ body = "kept out" })
    local boom = { code = 42 }
    env.raise = { pattern = "^INSERT", value = boom }
    local ok, err = pcall(s.flush, s)
    assert.is_false(ok)
    assert.equal(boom, err)
    env.raise = nil
    s:rollback()
    assert.equal(0, env.count())
  end)

  it("raising nil or a string reaches the caller as that value", function()
    local env = setup()
    local s = orm.Session(env.engine)
    env.raise = { pattern = "^SELECT", value = "no reads today" }
    local ok, err = pcall(s.scalar, s, orm.select(orm.func.count()):select_from(env.Note))
    assert.is_false(ok)
    assert.equal("no reads today", err)
    env.raise = nil
    s:rollback()
    assert.equal(0, s:scalar(orm.select(orm.func.count()):select_from(env.Note)))
  end)

  it("at COMMIT: the commit raises and nothing is committed", function()
    local env = setup()
    local s = orm.Session(env.engine)
    s:add(env.Note{ body = "not yet" })
    s:flush()
    env.raise = { pattern = "^COMMIT", value = "stop" }
    local ok, err = pcall(s.commit, s)
    assert.is_false(ok)
    assert.equal("stop", err)
    env.raise = nil
    s:rollback()
    assert.equal(0, env.count())
  end)

  it("at ROLLBACK: the rollback happens, then the value is raised", function()
    local env = setup()
    local s = orm.Session(env.engine)
    s:add(env.Note{ body = "undone" })
    s:flush()
    env.raise = { pattern = "^ROLLBACK", value = "noted" }
    local ok, err = pcall(s.rollback, s)
    assert.is_false(ok)
    assert.equal("noted", err)
    env.raise = nil
    assert.is_false(s:in_transaction())
    assert.equal(0, env.count())
    s:add(env.Note{ body = "works again" })
    s:commit()
    assert.equal(1, env.count())
  end)
end)

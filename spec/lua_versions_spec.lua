-- What differs between the Lua versions lualchemy builds for (docs/LUA_VERSIONS.md), checked
-- on whichever this build runs (`LUA`, from host/src/lua/compat): integers beyond 2^53 are
-- exact where Lua has 64-bit integers and an error naming the column where numbers are
-- doubles, never a silently rounded value; session:run(fn) closes a session on every version.
-- Written in the Lua every version parses.
local orm = require("lualchemy")

local function setup()
  local env = {}
  env.engine = orm.create_engine("sqlite://")
  local Base = orm.declarative_base()
  env.Big = Base:model("Big", {
    __tablename__ = "bigs",
    id = orm.Column(orm.BigInteger, { primary_key = true }),
    n = orm.Column(orm.BigInteger),
  })
  Base.metadata:create_all(env.engine)
  -- rows written in SQL: 2^60 + 1 in n, and as the primary key of row 2
  local conn = env.engine:connect()
  conn:execute(orm.text("INSERT INTO bigs (id, n) VALUES (1, 1152921504606846977)"))
  conn:execute(orm.text("INSERT INTO bigs (id, n) VALUES (1152921504606846977, 7)"))
  conn:commit()
  conn:close()
  return env
end

local function pcall_err(fn)
  local ok, err = pcall(fn)
  assert.falsy(ok, "expected an error")
  return err
end

describe("integers beyond 2^53", function()
  local env
  before_each(function() env = setup() end)

  it("read back exactly with 64-bit integers, else raise an error naming the column", function()
    local s = orm.Session(env.engine)
    local b = s:get(env.Big, 1)
    if LUA.integers then
      assert.equal(load("return (1 << 60) + 1")(), b.n)
      assert.equal("integer", math.type(b.n))
    else
      local err = pcall_err(function() return b.n end)
      assert.equal("ArgumentError", err.kind)
      assert.truthy(err.message:find("Big.n", 1, true), err.message)
      assert.truthy(err.message:find("1152921504606846977", 1, true), err.message)
      assert.truthy(err.message:find("2^53", 1, true), err.message)
    end
    s:close()
  end)

  it("are refused when written where numbers are doubles; up to 2^53 is exact", function()
    local s = orm.Session(env.engine)
    local b = s:get(env.Big, 1)
    if not LUA.integers then
      -- 2^53 + 2 is a double Lua holds, but not every integer near it: refused, as the constructor does
      local err = pcall_err(function() b.n = 2 ^ 53 + 2 end)
      assert.truthy(tostring(err):find("Big.n", 1, true), tostring(err))
      err = pcall_err(function() return env.Big{ id = 3, n = -(2 ^ 53) - 2 } end)
      assert.truthy(tostring(err):find("Big.n", 1, true), tostring(err))
      err = pcall_err(function() return s:get(env.Big, 2 ^ 60) end)
      assert.truthy(tostring(err):find("2^53", 1, true), tostring(err))
    end
    b.n = 2 ^ 53
    s:commit()
    assert.equal(2 ^ 53, s:get(env.Big, 1).n)
    assert.equal(1, s:scalar(orm.select(orm.func.count(env.Big.id)):where(env.Big.n:eq(2 ^ 53))))
    s:close()
  end)

  it("as a primary key: the row's key is never rounded into another's", function()
    local s = orm.Session(env.engine)
    local rows = s:scalars(orm.select(env.Big):where(env.Big.n:eq(7))):all()
    assert.equal(1, #rows)
    if LUA.integers then
      assert.equal(load("return (1 << 60) + 1")(), rows[1].id)
    else
      local err = pcall_err(function() return rows[1].id end)
      assert.truthy(err.message:find("Big.id", 1, true), err.message)
    end
    s:close()
  end)
end)

describe("session:run(fn)", function()
  it("closes the session on every version (Lua 5.4's <close> does the same)", function()
    local env = setup()
    local s = orm.Session(env.engine)
    local got = s:run(function() return s:get(env.Big, 1) ~= nil end)
    assert.is_true(got)
    assert.falsy(orm.inspect(s:get(env.Big, 1)).detached) -- a closed session works again
    s:close()
  end)
end)

describe("a recursion through lualchemy", function()
  it("ends in a catchable error on every version (LuaJIT limits no C calls: lualchemy does)", function()
    local Base = orm.declarative_base()
    local depth = 0
    local M = Base:model("M", {
      __tablename__ = "m",
      id = orm.Column(orm.Integer, { primary_key = true }),
      loop = orm.hybrid_property(function(self) return self.loop end),
      deep = orm.hybrid_property(function(self)
        depth = depth + 1
        if depth < 60 then return self.deep end
        return depth
      end),
    })
    for _ = 1, 3 do
      local ok, err = pcall(function() return M{}.loop end)
      assert.falsy(ok)
      assert.truthy(tostring(err):find("overflow", 1, true), tostring(err))
    end
    -- what the failed recursions entered was left: 60 levels still fit
    assert.equal(60, M{}.deep)
  end)
end)

describe("a session the garbage collector takes", function()
  it("rolls back without calling the echo function from inside the collector", function()
    local log, in_gc = {}, false
    local engine = orm.create_engine("sqlite://", {
      echo = function(sql)
        assert(not in_gc, "echo called from inside the garbage collector: " .. sql)
        log[#log + 1] = sql
      end,
    })
    local Base = orm.declarative_base()
    local U = Base:model("U", {
      __tablename__ = "us",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    Base.metadata:create_all(engine)
    local function forgotten()
      local s = orm.Session(engine)
      s:add(U{ id = 1 })
      s:flush()
    end
    forgotten()
    in_gc = true
    collectgarbage()
    collectgarbage()
    in_gc = false
    local before = #log
    -- the ROLLBACK is reported before the next statement, in order
    local conn = engine:connect()
    assert.equal(0, conn:execute(orm.text("SELECT count(*) FROM us")):scalar())
    conn:close()
    assert.equal("ROLLBACK", log[before + 1])
    assert.truthy(log[before + 2]:find("^BEGIN") or log[before + 2]:find("^SELECT"), log[before + 2])
  end)
end)

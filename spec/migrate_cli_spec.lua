-- `lualchemy migrate ...` (issue 18): Alembic's commands from the shell, printing what
-- Alembic prints, on a SQLite file named by env.lua (the CLI reads env.lua's url, so this
-- spec runs on SQLite only).
local orm = require("lualchemy")

-- the binary: the one running (lualchemy test), else the build's
local function binary()
  local exe = arg and arg[-1]
  if exe and exe:match("lualchemy$") then
    if not exe:match("^/") then
      local pwd = io.popen("pwd"):read("*l")
      exe = pwd .. "/" .. exe
    end
    return exe
  end
  local target = os.getenv("CARGO_TARGET_DIR") or "target"
  for _, p in ipairs({ os.getenv("LUALCHEMY_BIN") or "", target .. "/debug/lualchemy", target .. "/release/lualchemy" }) do
    local f = p ~= "" and io.open(p)
    if f then
      f:close()
      if p:match("^/") then return p end
      return io.popen("pwd"):read("*l") .. "/" .. p
    end
  end
  error("no lualchemy binary found (build it, or set LUALCHEMY_BIN)")
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  os.execute("mkdir -p " .. p)
  return p
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

describe("lualchemy migrate", function()
  if SPEC_DIALECT ~= "sqlite" then return end
  local exe, cwd
  local function run(args)
    local p = io.popen("cd " .. cwd .. " && " .. exe .. " migrate " .. args .. " 2>&1; echo \"rc=$?\"")
    local out = p:read("*a")
    p:close()
    local rc = tonumber(out:match("rc=(%d+)%s*$"))
    return (out:gsub("rc=%d+%s*$", "")), rc
  end

  before_each(function()
    exe = binary()
    cwd = tmpdir()
  end)

  it("init, revision, upgrade, current, history, heads, downgrade, stamp", function()
    local out, rc = run("init")
    assert.equal(0, rc, out)
    assert.truthy(out:find("Generating migrations/env.lua ...  done", 1, true))
    write(cwd .. "/migrations/env.lua", 'return { url = "sqlite:///app.db", target_metadata = nil }')
    out, rc = run('revision -m "create users" --rev-id aaaaaaaaaaaa')
    assert.equal(0, rc, out)
    local path = cwd .. "/migrations/versions/aaaaaaaaaaaa_create_users.lua"
    assert.truthy(out:find("aaaaaaaaaaaa_create_users.lua ...  done", 1, true), out)
    local text = read(path):gsub("upgrade = function%(op%)\n.-end,", [[upgrade = function(op)
    op.create_table("users", orm.Column("id", orm.Integer, { primary_key = true }), orm.Column("name", orm.String(50)))
  end,]]):gsub("downgrade = function%(op%)\n.-end,", [[downgrade = function(op)
    op.drop_table("users")
  end,]])
    write(path, text)
    out, rc = run('revision -m "add score" --rev-id bbbbbbbbbbbb')
    assert.equal(0, rc, out)
    path = cwd .. "/migrations/versions/bbbbbbbbbbbb_add_score.lua"
    text = read(path):gsub("upgrade = function%(op%)\n.-end,", [[upgrade = function(op)
    op.add_column("users", orm.Column("score", orm.Integer))
  end,]]):gsub("downgrade = function%(op%)\n.-end,", [[downgrade = function(op)
    op.drop_column("users", "score")
  end,]])
    write(path, text)

    out, rc = run("upgrade --sql")
    assert.equal(0, rc, out)
    assert.truthy(out:find("-- Running upgrade aaaaaaaaaaaa -> bbbbbbbbbbbb", 1, true), out)
    assert.truthy(out:find("ALTER TABLE users ADD COLUMN score INTEGER;", 1, true), out)
    assert.is_nil(io.open(cwd .. "/app.db"))

    out, rc = run("upgrade")
    assert.equal(0, rc, out)
    assert.equal("bbbbbbbbbbbb (head)\n", (run("current")))
    assert.equal("aaaaaaaaaaaa -> bbbbbbbbbbbb (head), add score\n<base> -> aaaaaaaaaaaa, create users\n", (run("history")))
    assert.equal("bbbbbbbbbbbb (head)\n", (run("heads")))
    local engine = orm.create_engine("sqlite:///" .. cwd .. "/app.db")
    assert.equal(3, #orm.inspect(engine):get_columns("users"))

    out, rc = run("downgrade -1")
    assert.equal(0, rc, out)
    assert.equal("aaaaaaaaaaaa\n", (run("current")))
    assert.equal(2, #orm.inspect(engine):get_columns("users"))
    out, rc = run("stamp base")
    assert.equal(0, rc, out)
    assert.equal("", (run("current")))
    out, rc = run("stamp head")
    assert.equal(0, rc, out)
    assert.equal("bbbbbbbbbbbb (head)\n", (run("current")))
  end)

  it("reports errors with a non-zero status", function()
    run("init")
    local out, rc = run("downgrade")
    assert.equal(1, rc)
    assert.truthy(out:find("downgrade needs a target", 1, true), out)
    out, rc = run("revision --autogenerate -m x")
    assert.equal(1, rc)
    assert.truthy(out:find("gives no target_metadata", 1, true), out)
    out, rc = run("frobnicate")
    assert.equal(1, rc)
    assert.truthy(out:find("unknown command 'frobnicate'", 1, true), out)
    out, rc = run("--dir elsewhere heads")
    assert.equal(1, rc)
    assert.truthy(out:find("elsewhere/env.lua", 1, true), out)
  end)
end)

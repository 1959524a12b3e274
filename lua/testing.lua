-- lualchemy.testing: database fixtures for busted specs (docs/TESTING.md, "Database
-- fixtures"). Plain Lua over require("lualchemy"), so it runs under `lualchemy test` and
-- under real busted alike.
--
--   local testing = require("lualchemy.testing")
--   describe("inventory", function()
--     local db = testing.fixture{ url = "sqlite://", metadata = Base.metadata }
--     db:around_each()          -- each `it` gets db.session, rolled back after it
--     it("adds", function() db.session:add(Item{ name = "x" }); db.session:commit() end)
--   end)
--
-- The schema is created once, when the fixture is made; each test runs on one connection
-- inside a transaction the fixture begins (`connection:begin()`), with a session joined
-- to it (`join_transaction_mode = "create_savepoint"`), so the code under test may commit
-- and roll back as it likes; the fixture rolls the whole transaction back after the test.
local orm = require("lualchemy")

local M = {}

local FIXTURE_OPTIONS = {
  url = true, engine = true, metadata = true, engine_options = true,
  join_transaction_mode = true, session_options = true,
}

local function fail(msg, level)
  error("lualchemy.testing: " .. msg, (level or 1) + 1)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return table.concat(keys, ", ")
end

-- The hooks of the runner: busted's API table when require("busted") gives one, else the
-- globals (both runners have them).
local function hook(name)
  local ok, busted = pcall(require, "busted")
  if ok and type(busted) == "table" and type(busted[name]) == "function" then
    return busted[name]
  end
  local f = rawget(_G, name)
  if type(f) ~= "function" then
    fail("around_each() needs busted's " .. name .. " (call it inside a describe block)", 3)
  end
  return f
end

local Fixture = {}
Fixture.__index = Fixture

-- testing.fixture{ url =, engine =, metadata =, engine_options =, join_transaction_mode =,
-- session_options = }: a shared engine (given, or created from url, "sqlite://" by
-- default) with the metadata's tables created once.
function M.fixture(options)
  options = options or {}
  if type(options) ~= "table" then
    fail("fixture{...} expects a table of options, got " .. type(options), 2)
  end
  for k in pairs(options) do
    if not FIXTURE_OPTIONS[k] then
      fail("fixture: unknown option '" .. tostring(k) .. "' (valid: "
        .. sorted_keys(FIXTURE_OPTIONS) .. ")", 2)
    end
  end
  if options.engine ~= nil and options.url ~= nil then
    fail("fixture: give engine or url, not both", 2)
  end
  local engine = options.engine or orm.create_engine(options.url or "sqlite://", options.engine_options)
  if options.metadata ~= nil then options.metadata:create_all(engine) end
  return setmetatable({
    engine = engine,
    metadata = options.metadata,
    join_transaction_mode = options.join_transaction_mode or "create_savepoint",
    session_options = options.session_options or {},
  }, Fixture)
end

-- Begins a test: a connection, its transaction and a session joined to it. Returns the
-- session (also db.session; db.connection and db.transaction are the others).
function Fixture:begin()
  if self.connection ~= nil then
    fail("fixture:begin() while a test is still open: call fixture:rollback() first "
      .. "(is an after_each missing?)", 2)
  end
  local conn = self.engine:connect()
  self.connection = conn
  self.transaction = conn:begin()
  self.sessions = {}
  self.session = self:new_session()
  M.current = self
  return self.session
end

-- Another session joined to the test's transaction (the same options as db.session,
-- overridden by `options`).
function Fixture:new_session(options)
  if self.connection == nil then
    fail("fixture:new_session(): no test is open (call fixture:begin() first)", 2)
  end
  local o = { join_transaction_mode = self.join_transaction_mode }
  for k, v in pairs(self.session_options) do o[k] = v end
  for k, v in pairs(options or {}) do o[k] = v end
  local s = orm.Session(self.connection, o)
  self.sessions[#self.sessions + 1] = s
  return s
end

-- Ends a test: closes its sessions and rolls its transaction back, leaving the database as
-- the fixture found it. Does nothing when no test is open.
function Fixture:rollback()
  if self.connection == nil then return end
  local conn, trans, sessions = self.connection, self.transaction, self.sessions
  self.connection, self.transaction, self.session, self.sessions = nil, nil, nil, nil
  if M.current == self then M.current = nil end
  for _, s in ipairs(sessions) do s:close() end
  trans:rollback()
  conn:close()
end

-- Wires begin / rollback to busted's before_each / after_each of the enclosing describe.
function Fixture:around_each()
  hook("before_each")(function() self:begin() end)
  hook("after_each")(function() self:rollback() end)
  return self
end

-- Counts the statements `fn` makes the fixture's engine execute.
function Fixture:count_queries(fn)
  return M.count_queries(self.engine, fn)
end

-- A counter of the statements an engine executes (its before_cursor_execute event;
-- transaction control, BEGIN / COMMIT / SAVEPOINT, is not counted). counter.count,
-- counter.statements (the SQL of each), counter:reset(), counter:stop().
function M.query_counter(engine)
  local counter = { count = 0, statements = {} }
  local function listener(_, _, statement)
    -- the engine's events see SAVEPOINT, RELEASE and ROLLBACK TO (as SQLAlchemy's do): the
    -- fixture's and sessions' savepoints are transaction control, not the test's queries
    local head = statement:sub(1, 9)
    if head == "SAVEPOINT" or head == "RELEASE S" or statement:find("^ROLLBACK TO") then return end
    counter.count = counter.count + 1
    counter.statements[counter.count] = statement
  end
  orm.event.listen(engine, "before_cursor_execute", listener)
  function counter:reset()
    self.count, self.statements = 0, {}
  end
  function counter:stop()
    if listener then
      orm.event.remove(engine, "before_cursor_execute", listener)
      listener = nil
    end
  end
  return counter
end

-- The number of statements `fn` made `engine` execute, and their SQL. An error raised by
-- `fn` propagates (the counter is removed first).
function M.count_queries(engine, fn)
  if type(fn) ~= "function" then
    fail("count_queries(engine, fn): fn must be a function, got " .. type(fn), 2)
  end
  local counter = M.query_counter(engine)
  local ok, err = pcall(fn)
  counter:stop()
  if not ok then error(err, 0) end
  return counter.count, counter.statements
end

-- assert.queries(n, fn [, engine]): fn makes the engine (by default the fixture of the
-- test being run) execute exactly n statements; the failure message lists them.
local function queries(_, arguments)
  local n, fn, engine = arguments[1], arguments[2], arguments[3]
  if type(n) ~= "number" then
    fail("assert.queries(n, fn [, engine]): n must be a number, got " .. type(n), 4)
  end
  if engine == nil then
    if M.current == nil then
      fail("assert.queries(n, fn): no fixture test is open; pass the engine as the third argument", 4)
    end
    engine = M.current.engine
  end
  local count, statements = M.count_queries(engine, fn)
  local listing = {}
  for i, sql in ipairs(statements) do listing[i] = "  " .. i .. ". " .. sql end
  arguments[1], arguments[2], arguments[3] = n, count, table.concat(listing, "\n")
  arguments.n = 3
  arguments.nofmt = { true, true, true }
  return count == n
end

local has_luassert, luassert = pcall(require, "luassert")
local has_say, say = pcall(require, "say")
if has_luassert and has_say and type(luassert) == "table" then
  say:set("assertion.queries.positive",
    "Expected %s statements to be executed, but %s were:\n%s")
  say:set("assertion.queries.negative",
    "Expected other than %s statements to be executed, but %s were:\n%s")
  luassert:register("assertion", "queries", queries,
    "assertion.queries.positive", "assertion.queries.negative")
end

return M

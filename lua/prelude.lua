-- Lua-side methods of lualchemy's userdata. They are written in Lua so that an error
-- raised inside a user's function reaches the caller as the very value raised.
local orm = ...

-- Written in the Lua every version shares (5.1, LuaJIT, Luau included: see
-- docs/LUA_VERSIONS.md): no table.pack / table.unpack where the version lacks them.
local select = select
local pack = table.pack or function(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack

local function finish(ok, err, ...)
  if not ok then error(err, 0) end
  return ...
end

local Session = {}

-- a function, or a value whose metatable has __call
local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

-- A session method called with '.' (`session.add(obj)`): `self` is not the session.
local dot_call = orm.Error._dot_call

-- session:begin(fn): commits on return; rolls back and re-raises on error.
function Session.begin(self, fn)
  if type(self) ~= "userdata" or not self._begin then dot_call("begin") end
  local serial = self:_begin()
  if fn == nil then return self end
  local results = pack(pcall(fn, self))
  -- a body that committed or rolled back the session itself leaves nothing to end here
  local open = self:_transaction_open(serial, 0)
  if results[1] then
    if open then self:commit() end
    return unpack(results, 2, results.n)
  end
  if open then self:rollback() end
  error(results[2], 0)
end

-- session:begin_nested(fn): a SAVEPOINT, released on return, rolled back to on error.
function Session.begin_nested(self, fn)
  if type(self) ~= "userdata" or not self._begin_nested then dot_call("begin_nested") end
  if not callable(fn) then
    orm.Error._raise("ArgumentError", "session:begin_nested(fn): fn must be a function (the"
      .. " work inside the SAVEPOINT), got " .. type(fn))
  end
  local serial, depth = self:_begin_nested()
  local results = pack(pcall(fn, self))
  -- a body that committed or rolled back the session itself (which ends its savepoints)
  -- leaves nothing to end here, as SQLAlchemy's context manager of a closed transaction
  if not self:_transaction_open(serial, depth) then
    if results[1] then return unpack(results, 2, results.n) end
    error(results[2], 0)
  end
  if results[1] then
    local ok, err = pcall(self._release_nested, self)
    if not ok then
      self:_rollback_nested()
      error(err, 0)
    end
    return unpack(results, 2, results.n)
  end
  self:_rollback_nested()
  error(results[2], 0)
end

-- session:run(fn): fn(session), then close (no commit): Python's `with Session() as s:`.
function Session.run(self, fn)
  local results = pack(pcall(fn, self))
  self:close()
  return finish(results[1], results[2], unpack(results, 2, results.n))
end

function Session.no_autoflush(self, fn)
  self:_enter_no_autoflush()
  local results = pack(pcall(fn, self))
  self:_exit_no_autoflush()
  return finish(results[1], results[2], unpack(results, 2, results.n))
end

-- The session methods that may run event listeners (or validators) raise what a listener
-- raised as the very value: the core carries it as the error's cause, and orm._raised
-- finds it again. Each is the Rust method of the same name with a leading underscore.
local raised = orm._raised
local function reraise(ok, ...)
  if ok then return ... end
  local err = ...
  local v, found = raised(err)
  if found then error(v, 0) end
  error(err, 0)
end
local SESSION_METHODS = { "add", "add_all", "delete", "flush", "commit", "rollback", "close",
  "expunge", "expunge_all", "merge", "refresh", "get", "execute", "scalars", "scalar" }
-- Until the first event listener is registered, nothing can raise such a value: each
-- method is a tail call of the Rust one, a few VM instructions (which an instruction
-- budget's hook makes dearer still; see docs/PERFORMANCE.md). Called with '.', `self` is
-- nil or not a session (whose `_name` is nil; a class's raises the same error).
for _, name in ipairs(SESSION_METHODS) do
  local raw = "_" .. name
  Session[name] = function(self, ...)
    return (self and self[raw] or dot_call(name))(self, ...)
  end
end
-- `get` first tries its common case (a session, a model, one integer key) in a raw C
-- function (lua/fast_get.rs); anything else goes to the method above, `SLOW.get` (wrapped
-- below once listeners exist). A core error of the fast path is raised inside `pcall` and
-- passed through `reraise`, so the caller sees the value the method above would raise.
local SLOW = { get = Session.get }
Session.get = orm._fast_get(function(...) return SLOW.get(...) end,
  function(raise) return reraise(pcall(raise)) end)
-- Called once, when the first listener is registered (lua/events.rs).
function orm._raise_in_session_methods()
  for _, name in ipairs(SESSION_METHODS) do
    local raw = "_" .. name
    local wrapped = function(self, ...)
      return reraise(pcall(self and self[raw] or dot_call(name), self, ...))
    end
    if SLOW[name] then SLOW[name] = wrapped else Session[name] = wrapped end
  end
end

-- The same for any function (the collection methods, once relationships have listeners).
function orm._raising(raw)
  return function(...) return reraise(pcall(raw, ...)) end
end

local Engine = {}

-- engine:begin(fn): a connection in a transaction, committed on return.
function Engine.begin(self, fn)
  local conn = self:connect()
  local results = pack(pcall(fn, conn))
  if results[1] then
    conn:commit()
    conn:close()
    return unpack(results, 2, results.n)
  end
  conn:rollback()
  conn:close()
  error(results[2], 0)
end

local SessionMaker = {}

-- Session.begin(fn) on a sessionmaker: a new session in a transaction, closed afterwards.
function SessionMaker.begin(self, fn)
  local s = self()
  return s:run(function() return s:begin(fn) end)
end

return { Session = Session, Engine = Engine, SessionMaker = SessionMaker }

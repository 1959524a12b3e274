-- orm.scoped_session(factory [, { scopefunc = fn }]): SQLAlchemy's scoped_session, a
-- registry that hands out one session per scope and proxies the Session methods to the
-- session of the current scope. The default scope is the running coroutine (the main
-- thread included): each coroutine that uses the registry gets its own session. The
-- registry holds those sessions by weak key, so once a finished coroutine is collected its
-- session is collected too, and the session's finalizer rolls back what it left open and
-- detaches its objects (call `Session:remove()` at the end of a unit of work to close it
-- at once). A host passes its own `scopefunc` (a request, a player, a job id); those
-- scopes are held as SQLAlchemy holds them, until `remove()`.
--
-- Written in the Lua every version shares (docs/LUA_VERSIONS.md).
local orm = ...

local raise = orm.Error._raise
local running = coroutine and coroutine.running
local setmetatable, getmetatable, type, pairs, select, tostring =
  setmetatable, getmetatable, type, pairs, select, tostring

-- Lua 5.1 and LuaJIT give nil for the main thread: a key of its own stands for it.
local MAIN = {}
local function current_coroutine()
  local co = running and running()
  if co == nil then return MAIN end
  return co
end

-- The session methods the registry proxies (SQLAlchemy's scoped_session list, as far as
-- the Lua session has them), and the attributes it reads through.
local METHODS = {
  "add", "add_all", "begin", "begin_nested", "bulk_insert_mappings", "bulk_save_objects",
  "bulk_update_mappings", "close", "commit", "delete", "execute", "expire", "expire_all",
  "expunge", "expunge_all", "flush", "get", "get_bind", "in_nested_transaction",
  "in_transaction", "is_modified", "merge", "no_autoflush", "query", "refresh", "rollback",
  "run", "scalar", "scalars",
}
local ATTRIBUTES = { "bind", "dirty", "deleted", "new", "info", "autoflush", "is_active" }
local SETTABLE = { autoflush = true }

-- The registry itself: `registry()` is the scope's session (made on first use),
-- `registry:has()`, `registry:set(session)`, `registry:clear()`.
local Registry = {}
Registry.__index = Registry

local function new_registry(factory, scopefunc)
  local sessions
  if scopefunc then
    sessions = {}
  else
    -- weak keys: a collected coroutine takes its session with it
    sessions = setmetatable({}, { __mode = "k" })
  end
  return setmetatable({ _factory = factory, _scope = scopefunc or current_coroutine,
    _sessions = sessions }, Registry)
end

local function scope_key(reg)
  local key = reg._scope()
  if key == nil then
    raise("ArgumentError", "scoped_session: the scopefunc returned nil; it must return a key for the current scope")
  end
  return key
end

function Registry.__call(reg, ...)
  local key = scope_key(reg)
  local s = reg._sessions[key]
  if s == nil then
    s = reg._factory(...)
    reg._sessions[key] = s
  end
  return s
end

function Registry:has()
  return self._sessions[scope_key(self)] ~= nil
end

function Registry:set(session)
  self._sessions[scope_key(self)] = session
end

function Registry:clear()
  self._sessions[scope_key(self)] = nil
end

Registry.__tostring = function(reg) return "<ScopedRegistry " .. tostring(reg._factory) .. ">" end

local Scoped = {}
local Methods = {}

for i = 1, #METHODS do
  local name = METHODS[i]
  Methods[name] = function(self, ...)
    if getmetatable(self) ~= Scoped then
      raise("ArgumentError", "scoped_session methods must be called with ':' (Session:" .. name .. "(...)), not '.'")
    end
    local s = self.registry()
    local m = s[name]
    if m == nil then
      raise("AttributeError", "the session of this scoped_session has no method '" .. name .. "'")
    end
    return m(s, ...)
  end
end

-- Session(...): the current scope's session; arguments make a new one and are refused
-- when the scope has a session already (SQLAlchemy's "Scoped session already present").
function Scoped.__call(self, ...)
  local reg = self.registry
  if select("#", ...) > 0 and ... ~= nil then
    if reg:has() then
      raise("InvalidRequestError", "Scoped session already present; no new arguments may be specified.")
    end
    local s = reg._factory(...)
    reg:set(s)
    return s
  end
  return reg()
end

-- Session:remove(): closes the scope's session (if any) and forgets it; the next use
-- makes a new one.
function Methods:remove()
  local reg = self.registry
  if reg:has() then
    reg():close()
  end
  reg:clear()
end

-- Session:configure{...}: reconfigures the sessionmaker (for the sessions made after).
function Methods:configure(options)
  local f = self.session_factory
  if type(f) ~= "userdata" or f.configure == nil then
    raise("InvalidRequestError", "scoped_session:configure() needs a sessionmaker as its factory")
  end
  f:configure(options)
end

local IS_ATTRIBUTE = {}
for i = 1, #ATTRIBUTES do IS_ATTRIBUTE[ATTRIBUTES[i]] = true end

function Scoped.__index(self, key)
  local m = Methods[key]
  if m ~= nil then return m end
  if IS_ATTRIBUTE[key] then return self.registry()[key] end
  return nil
end

function Scoped.__newindex(self, key, value)
  if SETTABLE[key] then
    self.registry()[key] = value
    return
  end
  raise("AttributeError", "scoped_session: cannot set '" .. tostring(key) .. "'")
end

Scoped.__tostring = function(self) return "<scoped_session " .. tostring(self.session_factory) .. ">" end

return function(factory, options)
  local ft = type(factory)
  if factory == nil or (ft ~= "function" and ft ~= "userdata" and ft ~= "table") then
    raise("ArgumentError", "orm.scoped_session(factory): factory must be a sessionmaker or a function returning a session, got " .. ft)
  end
  local scopefunc
  if options ~= nil then
    if type(options) ~= "table" then
      raise("ArgumentError", "orm.scoped_session: options must be a table, got " .. type(options))
    end
    for k in pairs(options) do
      if k ~= "scopefunc" then
        raise("ArgumentError", "orm.scoped_session: unknown option '" .. tostring(k) .. "' (valid options: scopefunc)")
      end
    end
    scopefunc = options.scopefunc
    if scopefunc ~= nil and type(scopefunc) ~= "function" then
      raise("ArgumentError", "orm.scoped_session: scopefunc must be a function, got " .. type(scopefunc))
    end
  end
  return setmetatable({ session_factory = factory, registry = new_registry(factory, scopefunc) },
    Scoped)
end

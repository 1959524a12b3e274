-- The environment of a sandboxed script, built in place over the state's globals (see
-- host/src/sandbox.rs and docs/SANDBOX.md). Called once with the lualchemy module, the
-- largest string a single string.rep may build, the read-only view maker, the budget's
-- charge function, and pairs over a read-only view (for Lua 5.1 and LuaJIT, whose pairs
-- ignores __pairs: a userdata's metatable is out of Lua's reach).
local orm, max_string, readonly_proxy, charge, readonly_pairs = ...
local G = _G
local raw_getmetatable, raw_setmetatable = getmetatable, setmetatable
local raw_load, raw_collectgarbage, raw_error = load, collectgarbage, error
local raw_type, raw_pairs, raw_tostring, raw_rawget = type, pairs, tostring, rawget
-- Written in the Lua every version shares (docs/LUA_VERSIONS.md): what a version lacks
-- (table.pack, table.unpack, table.move, utf8, load of a string with an environment on
-- Lua 5.1) is worked around or left out.
local raw_unpack = table.unpack or unpack
local raw_pack = table.pack or function(...) return { n = select("#", ...), ... } end
local raw_loadstring, raw_setfenv = loadstring, setfenv
-- Lua 5.1's load takes only a reader function (LuaJIT's takes a string, a mode and an env)
local load_is_51 = raw_setfenv ~= nil and not pcall(raw_load, "return 1")

-- a read-only view (a userdata, so rawset and setmetatable refuse it too; tables inside it
-- are read-only views as well)
local function readonly(t, name) return readonly_proxy(t, name) end

-- string, without dump, with a bounded rep
local str = {}
for k, v in raw_pairs(string) do
  if k ~= "dump" then str[k] = v end
end
local rep = string.rep
str.rep = function(s, n, sep)
  local len = #raw_tostring(s) + (sep and #raw_tostring(sep) or 0)
  if raw_type(n) == "number" and n > 0 and len * n > max_string then
    raw_error(("string.rep: memory limit: the result (%.0f bytes) exceeds the sandbox's limit of %d bytes for one string"):format(len * n, max_string), 2)
  end
  return rep(s, n, sep)
end

-- pattern matching runs in C, where the instruction hook cannot interrupt it: refuse the
-- patterns whose backtracking could run for minutes on a long subject
local function check_pattern(fname, s, pattern)
  s, pattern = raw_tostring(s), raw_tostring(pattern)
  local q = 0
  local i = 1
  while i <= #pattern do
    local c = pattern:sub(i, i)
    if c == "%" then
      i = i + 1
    elseif c == "*" or c == "+" or c == "-" or c == "?" then
      q = q + 1
    end
    i = i + 1
  end
  if q > 0 and (#s + 1) ^ q > 1e9 then
    raw_error(("%s: a pattern with %d repetitions on a %d-byte string could backtrack for too long in the sandbox"):format(fname, q, #s), 3)
  end
end
for _, fname in ipairs({ "find", "match", "gmatch", "gsub" }) do
  local raw = string[fname]
  str[fname] = function(s, pattern, a, b, ...)
    if fname == "find" and b then
      -- a plain search compares the needle at every position
      local n, m = #raw_tostring(s), #raw_tostring(pattern)
      if m > 1 and (n - m + 1) * m > 1e9 then
        raw_error(("string.find: a plain search for a %d-byte needle in %d bytes is too long for the sandbox"):format(m, n), 2)
      end
    else
      check_pattern("string." .. fname, s, pattern)
    end
    return raw(s, pattern, a, b, ...)
  end
end

-- table.move runs its whole range in C
local tbl = {}
for k, v in raw_pairs(table) do tbl[k] = v end
tbl.unpack, tbl.pack = raw_unpack, raw_pack -- on Lua 5.1 and LuaJIT too
local move = table.move
if move then -- Lua 5.3+ and LuaJIT
  tbl.move = function(a1, f, e, t, a2)
    if raw_type(f) == "number" and raw_type(e) == "number" and e - f > 1e7 then
      raw_error("table.move: a range of more than 10,000,000 elements is too long for the sandbox", 2)
    end
    return move(a1, f, e, t, a2)
  end
end

-- the libraries: fresh copies, the script's own (the string metatable keeps the sandbox's
-- string table, out of reach)
local function copy(t)
  local c = {}
  for k, v in raw_pairs(t) do c[k] = v end
  return c
end
-- C functions that work through a whole string or table in one call charge the budget for
-- it (and check the deadline) first: a short loop of big calls cannot outrun the limits
for _, fname in ipairs({ "rep", "reverse", "upper", "lower", "gsub", "find", "match", "gmatch",
  "sub", "format", "byte" }) do
  local f = str[fname]
  str[fname] = function(s, ...)
    charge(#raw_tostring(s))
    return f(s, ...)
  end
end
for _, fname in ipairs({ "concat", "sort", "unpack", "move" }) do
  local f = tbl[fname]
  if f then tbl[fname] = function(t, ...)
    if raw_type(t) == "table" then charge(#t) end
    return f(t, ...)
  end end
end

local libs = {
  string = copy(str),
  table = tbl,
  math = copy(math),
  coroutine = copy(coroutine),
  -- each where the version has it: utf8 (5.3+, Luau), bit32 (5.2, Luau), bit (LuaJIT)
  utf8 = utf8 and copy(utf8),
  bit32 = bit32 and copy(bit32),
  bit = bit and copy(bit),
  os = { clock = os.clock, time = os.time, date = os.date, difftime = os.difftime },
}

-- the string metatable: methods from the sandbox's string table, the metatable hidden
local smt = raw_getmetatable("")
smt.__index = str
smt.__metatable = false

-- finalizers run with hooks off, outside the limits: a table may not have one
G.setmetatable = function(t, mt)
  if raw_type(mt) == "table" and raw_rawget(mt, "__gc") ~= nil then
    raw_error("setmetatable: __gc metamethods are not allowed in the sandbox", 2)
  end
  return raw_setmetatable(t, mt)
end

local module = readonly(orm, "the lualchemy module")
local keep = {
  print = true, pcall = true, xpcall = true, error = true, assert = true, select = true,
  type = true, tostring = true, tonumber = true, pairs = true, ipairs = true, next = true,
  rawget = true, rawset = true, rawequal = true, rawlen = true, setmetatable = true,
  _VERSION = true,
}
local names = {}
for k in raw_pairs(G) do names[#names + 1] = k end
for _, k in ipairs(names) do
  if not keep[k] then G[k] = nil end
end
for k, v in raw_pairs(libs) do G[k] = v end
G._G = G
G.unpack = raw_unpack

-- userdata metatables (the ORM's objects) are not the script's to see
G.getmetatable = function(v)
  if raw_type(v) == "userdata" then return nil end
  return raw_getmetatable(v)
end

-- text chunks only, in the sandbox's environment
G.load = function(chunk, name, mode, env)
  if raw_type(chunk) == "string" and chunk:byte(1) == 27 then
    return nil, "load: binary chunks are not allowed in the sandbox"
  end
  if load_is_51 then
    -- Lua 5.1's load takes no mode or environment: a string through loadstring, then its
    -- environment set (a reader function's pieces are checked as they come)
    if raw_type(chunk) ~= "string" then
      local parts = {}
      while true do
        local piece = chunk()
        if piece == nil or piece == "" then break end
        if #parts == 0 and piece:byte(1) == 27 then
          return nil, "load: binary chunks are not allowed in the sandbox"
        end
        parts[#parts + 1] = piece
      end
      chunk = table.concat(parts)
    end
    local f, err = raw_loadstring(chunk, name)
    if f then raw_setfenv(f, env or G) end
    return f, err
  end
  return raw_load(chunk, name, "t", env or G)
end

-- xpcall's handler runs after the error unwound: a handler called from inside the limit hook
-- would run with hooks off, unmetered
local raw_pcall, pack, unpack = pcall, raw_pack, raw_unpack
G.xpcall = function(f, handler, ...)
  local r = pack(raw_pcall(f, ...))
  if r[1] then return unpack(r, 1, r.n) end
  return false, handler(r[2])
end

G.collectgarbage = function(opt, ...)
  if opt == "count" then return raw_collectgarbage("count") end
  raw_error("collectgarbage: only \"count\" is allowed in the sandbox", 2)
end

-- Lua 5.1 and LuaJIT ignore __pairs: pairs calls it here, so the read-only views (the
-- module, the libraries) can be walked as on 5.2+
local honours_pairs = false
for _ in raw_pairs(raw_setmetatable({}, { __pairs = function()
  return function(_, k) if k == nil then return 1 end end, nil, nil
end })) do honours_pairs = true end
if not honours_pairs then
  G.pairs = function(t, ...)
    if raw_type(t) == "userdata" then
      local f, st, c = readonly_pairs(t)
      if f then return f, st, c end
    end
    return raw_pairs(t, ...)
  end
end

G.require = function(name)
  if name == "lualchemy" then return module end
  if name == "lualchemy.migrate" then return module.migrate end
  raw_error("module '" .. raw_tostring(name) .. "' not found: the sandbox serves only lualchemy", 2)
end

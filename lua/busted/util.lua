-- luassert.util: the helpers the assertions share (deep comparison, copies, argument
-- lists). Loaded as `require("luassert.util")`.

local unpack = unpack or table.unpack

local util = {}

local function is_matcher(v)
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__matcher") == true
end
util.is_matcher = is_matcher

-- Deep comparison as luassert's `same` does it: tables equal key by key (values looked
-- up with ordinary indexing, both ways), a shared __eq metamethod decides when
-- `ignore_mt` is false, cycles terminate. Returns true, or false plus the key path
-- ("crumbs", innermost key first) of the first difference.
function util.deepcompare(t1, t2, ignore_mt, cycles)
  if is_matcher(t1) then return t1(t2) end
  local ty1, ty2 = type(t1), type(t2)
  if ty1 ~= ty2 then return false end
  if ty1 ~= "table" then
    if ty1 == "number" and t1 ~= t1 and t2 ~= t2 then return true end -- NaN is the same as NaN
    return t1 == t2
  end
  if rawequal(t1, t2) then return true end
  local mt1, mt2 = getmetatable(t1), getmetatable(t2)
  if not ignore_mt and mt1 and mt1 == mt2 and type(mt1) == "table" and mt1.__eq then
    return t1 == t2
  end
  -- pairs under comparison count as the same, so cycles terminate
  cycles = cycles or {}
  local pairs_of = cycles[t1]
  if pairs_of and pairs_of[t2] then return true end
  if not pairs_of then pairs_of = {}; cycles[t1] = pairs_of end
  pairs_of[t2] = true
  local function done(ok, crumbs) return ok, crumbs end
  for k1, v1 in next, t1 do
    local v2 = t2[k1]
    if v2 == nil then return done(false, { k1 }) end
    local same, crumbs = util.deepcompare(v1, v2, ignore_mt, cycles)
    if not same then
      crumbs = crumbs or {}
      crumbs[#crumbs + 1] = k1
      return done(false, crumbs)
    end
  end
  for k2 in next, t2 do
    if t1[k2] == nil then return done(false, { k2 }) end
  end
  return done(true)
end

function util.shallowcopy(t)
  if type(t) ~= "table" then return t end
  local copy = {}
  for k, v in next, t do copy[k] = v end
  return setmetatable(copy, getmetatable(t))
end

function util.deepcopy(t, deepmt, cache)
  if type(t) ~= "table" then return t end
  cache = cache or {}
  if cache[t] then return cache[t] end
  local copy = {}
  cache[t] = copy
  for k, v in next, t do copy[k] = util.deepcopy(v, deepmt, cache) end
  local mt = getmetatable(t)
  setmetatable(copy, deepmt and util.deepcopy(mt, deepmt, cache) or mt)
  return copy
end

-- Copies of an argument list (with `n`) whose tables are deep-copied, so later
-- changes to the caller's tables don't alter what a spy recorded.
-- A spy's record of one call: the values (tables deep-copied) at index i, the
-- originals in `refs`, both with `n`; `vals` is the record itself.
function util.copyargs(args)
  local n = args.n or #args
  local copy, refs = { n = n }, { n = n }
  for i = 1, n do
    copy[i] = util.deepcopy(args[i])
    refs[i] = args[i]
  end
  copy.vals, copy.refs = copy, refs
  return copy
end

local arglist_mt = { __arglist = true }
function util.make_arglist(...)
  return setmetatable({ n = select("#", ...), ... }, arglist_mt)
end
function util.is_arglist(v) return getmetatable(v) == arglist_mt end

-- Whether the argument lists match: every value the same (matchers decide for their
-- position), `n` equal.
function util.matchargs(argslist, expected)
  for i = #argslist, 1, -1 do
    local args = argslist[i]
    if util.arglist_matches(args, expected) then return args end
  end
  return nil
end

-- The same number of values, each matching: matchers decide on the value passed, other
-- values are the same one or deeply equal to the value as it was then.
function util.arglist_matches(args, expected)
  local n = args.n or #args
  if n ~= (expected.n or #expected) then return false end
  for i = 1, n do
    local e, a = expected[i], args[i]
    local ref = args.refs and args.refs[i]
    if is_matcher(e) then
      if not e(args.refs and ref or a) then return false end
    elseif not (rawequal(e, ref) or util.deepcompare(e, a)) then
      return false
    end
  end
  return true
end

function util.callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and type(rawget(mt, "__call")) == "function"
end

function util.hastostring(v)
  if type(v) == "string" then return true end
  local mt = getmetatable(v)
  if type(mt) == "table" and rawget(mt, "__tostring") ~= nil then return true end
  -- host userdata (errors of Rust libraries) may hide their metatable
  if type(v) == "userdata" then
    local ok, s = pcall(tostring, v)
    return ok and type(s) == "string" and not s:find("^userdata: ")
  end
  return false
end

function util.tinsert(...)
  local n = select("#", ...)
  if n == 2 then
    local t, v = ...
    t.n = (t.n or #t) + 1
    t[t.n] = v
  else
    local t, pos, v = ...
    local len = t.n or #t
    for i = len, pos, -1 do t[i + 1] = t[i] end
    t[pos] = v
    t.n = len + 1
  end
end

function util.tremove(t, pos)
  local len = t.n or #t
  pos = pos or len
  local v = t[pos]
  for i = pos, len do t[i] = t[i + 1] end
  t.n = len - 1
  return v
end

util.unpack = function(t, i, j) return unpack(t, i or 1, j or t.n or #t) end

return util

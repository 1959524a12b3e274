-- luassert's test doubles and matchers: `spy`, `stub`, `mock` and `match`
-- (`require("luassert.spy")` etc.), and the spy assertions
-- (`assert.spy(s).was.called(2)`, `.called_with(...)`, `.returned_with(...)`).

local assert = require("luassert.assert")
local util = require("luassert.util")
local say = require("say")
local unpack = unpack or table.unpack

-- Spies ----------------------------------------------------------------------

local spy_mt = {}
spy_mt.__call = function(self, ...)
  self.calls[#self.calls + 1] = util.copyargs({ n = select("#", ...), ... })
  local function record(...)
    self.returnvals[#self.returnvals + 1] = util.copyargs({ n = select("#", ...), ... })
    return ...
  end
  return record(self.callback(...))
end

local spy = {}

local spy_methods = {}

function spy_methods:revert()
  if not self.reverted then
    if self.target_table ~= nil and self.target_key ~= nil then
      self.target_table[self.target_key] = self.callback
    end
    self.reverted = true
  end
  return self.callback
end

function spy_methods:clear()
  self.calls, self.returnvals = {}, {}
  return self
end

function spy_methods:called(times, compare)
  if times or compare then
    compare = compare or function(count, expected) return count == expected end
    return compare(#self.calls, times), #self.calls
  end
  return #self.calls > 0, #self.calls
end

local function arglist(...) return { n = select("#", ...), ... } end

local function with(self, list, args)
  local last = list[#list]
  local found = util.matchargs(list, args)
  if found then return true, found end
  return false, last
end

function spy_methods:called_with(args) return with(self, self.calls, args) end
function spy_methods:returned_with(args) return with(self, self.returnvals, args) end

function spy.new(callback)
  callback = callback or function() end
  if not util.callable(callback) then
    error("Cannot spy on type '" .. type(callback) .. "', only on functions or callable elements", 2)
  end
  local s = { calls = {}, returnvals = {}, callback = callback }
  for k, f in pairs(spy_methods) do s[k] = f end
  -- s.was_called(...) style helpers, callable with either . or :
  setmetatable(s, spy_mt)
  assert:add_spy(s)
  return s
end

function spy.is_spy(v) return type(v) == "table" and getmetatable(v) == spy_mt end

function spy.on(t, key)
  local s = spy.new(t[key])
  t[key] = s
  s.target_table, s.target_key = t, key
  return s
end

setmetatable(spy, { __call = function(_, callback) return spy.new(callback) end })

-- Spy assertions ---------------------------------------------------------------

local function payload_spy(st, name, level)
  local s = rawget(st, "payload")
  if type(s) ~= "table" or not s.calls then
    error("'" .. name .. "' must be chained after 'spy(aspy)'", level + 1)
  end
  return s
end

local function set_spy(st, args)
  st.payload = args[1]
  if args[2] ~= nil then st.failure_message = args[2] end
end

local function called_with(kind)
  return function(st, args, level)
    local s = payload_spy(st, kind, level)
    local expected = util.shallowcopy(args)
    local ok, found
    if kind == "called_with" then ok, found = s:called_with(args)
    else ok, found = s:returned_with(args) end
    for k in pairs(args) do args[k] = nil end
    if found then args[1] = util.make_arglist(unpack(found, 1, found.n)) end
    args[2] = setmetatable(expected, getmetatable(util.make_arglist()))
    args.n = 2
    return ok
  end
end

local function called_count(compare, name)
  return function(st, args, level)
    local s = payload_spy(st, name, level)
    local times = args[1]
    if times ~= nil and type(times) ~= "number" then
      error(say("assertion.internal.badargtype", { 1, name, "number", type(times) }), level + 1)
    end
    local ok, count = s:called(times, compare)
    args[1], args[2], args.n = times, count, 2
    args.nofmt = { true, true }
    return ok
  end
end

assert:register("modifier", "spy", set_spy)
assert:register("modifier", "stub", set_spy)
assert:register("assertion", "returned_with", called_with("returned_with"),
  "assertion.returned_with.positive", "assertion.returned_with.negative")
assert:register("assertion", "called_with", called_with("called_with"),
  "assertion.called_with.positive", "assertion.called_with.negative")
assert:register("assertion", "called", called_count(nil, "called"),
  "assertion.called.positive", "assertion.called.negative")
assert:register("assertion", "called_at_least", called_count(function(c, e) return c >= e end, "called_at_least"),
  "assertion.called_at_least.positive", "assertion.called_less_than.positive")
assert:register("assertion", "called_at_most", called_count(function(c, e) return c <= e end, "called_at_most"),
  "assertion.called_at_most.positive", "assertion.called_more_than.positive")
assert:register("assertion", "called_more_than", called_count(function(c, e) return c > e end, "called_more_than"),
  "assertion.called_more_than.positive", "assertion.called_at_most.positive")
assert:register("assertion", "called_less_than", called_count(function(c, e) return c < e end, "called_less_than"),
  "assertion.called_less_than.positive", "assertion.called_at_least.positive")

-- Stubs ------------------------------------------------------------------------

local stub = {}

-- Replaces t[key] with a spy whose callback returns the given values (or nothing);
-- `returns`, `invokes` and `on_call_with(...)` change what it does.
function stub.new(t, key, ...)
  if t == nil and key == nil then
    -- an anonymous stub
    t, key = {}, "stub"
  end
  local rets = arglist(...)
  local default = function() return unpack(rets, 1, rets.n) end
  if rets.n == 1 and util.callable(rets[1]) then
    -- stub(t, key, fn): the stub calls fn
    local fn = rets[1]
    default = function(...) return fn(...) end
  end
  local by_args = {}
  local original = t[key]
  if original ~= nil and not util.callable(original) then
    error("Cannot stub '" .. tostring(key) .. "': it is a " .. type(original) .. ", not a function or callable element", 3)
  end
  local function stubfunc(...)
    local args = arglist(...)
    for i = #by_args, 1, -1 do
      if util.arglist_matches(args, by_args[i].args) then return by_args[i].fn(...) end
    end
    return default(...)
  end
  t[key] = stubfunc
  local s = spy.on(t, key)
  s.callback = stubfunc
  s.revert = function(self)
    if not self.reverted then
      t[key] = original
      self.reverted = true
    end
    return original
  end
  s.returns = function(...)
    local r = arglist(...)
    default = function() return unpack(r, 1, r.n) end
    return s
  end
  s.invokes = function(fn)
    default = function(...) return fn(...) end
    return s
  end
  s.by_default = { returns = s.returns, invokes = s.invokes }
  s.on_call_with = function(...)
    local entry = { args = util.deepcopy(arglist(...)), fn = function() end }
    by_args[#by_args + 1] = entry
    return {
      returns = function(...)
        local r = arglist(...)
        entry.fn = function() return unpack(r, 1, r.n) end
        return s
      end,
      invokes = function(fn)
        entry.fn = fn
        return s
      end,
    }
  end
  return s
end

function stub.is_stub(v) return spy.is_spy(v) end

setmetatable(stub, { __call = function(_, ...) return stub.new(...) end })

-- Mocks ------------------------------------------------------------------------

local mock = {}

-- Wraps every function of `t` (nested tables too) in a spy, or a stub when `dostub`.
function mock.new(t, dostub, seen)
  seen = seen or {}
  if type(t) == "table" and not spy.is_spy(t) and not seen[t] then
    seen[t] = true
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    for _, k in ipairs(keys) do
      local v = t[k]
      if type(v) == "function" then
        if dostub then stub(t, k) else spy.on(t, k) end
      elseif type(v) == "table" and not spy.is_spy(v) then
        mock.new(v, dostub, seen)
      end
    end
  end
  return t
end

local function walk_spies(t, fn, seen)
  seen = seen or {}
  if seen[t] then return end
  seen[t] = true
  for k, v in pairs(t) do
    if spy.is_spy(v) then fn(v, k)
    elseif type(v) == "table" then walk_spies(v, fn, seen) end
  end
end

function mock.clear(t)
  walk_spies(t, function(s) s:clear() end)
  return t
end

function mock.revert(t)
  walk_spies(t, function(s) s:revert() end)
  return t
end

setmetatable(mock, { __call = function(_, t, dostub) return mock.new(t, dostub) end })

-- Matchers ---------------------------------------------------------------------

local matcher_mt = { __matcher = true }
matcher_mt.__call = function(self, value) return self.callback(value) == self.mod end

-- A matcher from a registered matcher callback: callback(state, args, level) -> fn(value).
function assert._make_matcher(st, entry, args)
  local fn = entry.callback(st, args, 3)
  return setmetatable({
    callback = function(value) return not not fn(value) end,
    mod = rawget(st, "mod"),
    name = entry.name:lower(),
    arguments = args,
  }, matcher_mt)
end

local match = setmetatable({}, {
  __index = function(_, key)
    return assert._new_state("matcher")[key]
  end,
})

match._ = setmetatable({ callback = function() return true end, mod = true, name = "_", arguments = { n = 0 } },
  matcher_mt)

function match.is_matcher(v) return util.is_matcher(v) end

-- Matchers from assertions: the value is the last argument of the assertion.
local function from_assertion(name, extra_first)
  return function(_, args)
    return function(value)
      local a = assert._registry.assertion[name]
      local call = util.shallowcopy(args)
      call.n = args.n or #args
      if extra_first then
        util.tinsert(call, 1, value)
      else
        util.tinsert(call, call.n + 1, value)
      end
      local ok, res = pcall(a.callback, assert._new_state("assertion"), call, 2)
      return ok and res
    end
  end
end

for _, name in ipairs({ "true", "false", "nil", "boolean", "number", "string", "table",
                        "function", "userdata", "thread", "truthy", "falsy", "unique" }) do
  assert:register("matcher", name, from_assertion(name, true))
end
local function need(args, min, name, level)
  if (args.n or #args) < min then
    error(say("assertion.internal.argtolittle", { name, min, tostring(args.n or #args) }), level + 1)
  end
end

local function need_matchers(args, name, level)
  need(args, 1, name, level)
  for i = 1, args.n do
    if not util.is_matcher(args[i]) then
      error(say("assertion.internal.badargtype", { i, name, "matcher", type(args[i]) }), level + 1)
    end
  end
end

for _, name in ipairs({ "same", "equals", "equal", "near" }) do
  assert:register("matcher", name, function(_, args, level)
    need(args, name == "near" and 2 or 1, name, level or 2)
    if name == "near" then
      for i = 1, 2 do
        if tonumber(args[i]) == nil then
          error(say("assertion.internal.badargtype", { i, name, "number", type(args[i]) }), (level or 2) + 1)
        end
      end
    end
    return function(value)
      local call = { args[1], value, args[2], n = 3 }
      if name == "near" then call = { args[1], value, args[2], n = 3 } end
      local a = assert._registry.assertion[name]
      local ok, res = pcall(a.callback, assert._new_state("assertion"), call, 2)
      return ok and res
    end
  end)
end
for _, name in ipairs({ "matches", "match" }) do
  assert:register("matcher", name, function(_, args, level)
    need(args, 1, name, level or 2)
    if type(args[1]) ~= "string" then
      error(say("assertion.internal.badargtype", { 1, name, "string", type(args[1]) }), (level or 2) + 1)
    end
    if args[2] ~= nil and tonumber(args[2]) == nil then
      error(say("assertion.internal.badargtype", { 2, name, "number", type(args[2]) }), (level or 2) + 1)
    end
    return function(value)
      if type(value) ~= "string" and not util.hastostring(value) then return false end
      return tostring(value):find(args[1], args[2], args[3]) ~= nil
    end
  end)
end
assert:register("matcher", "ref", function(_, args, level)
  need(args, 1, "ref", level or 2)
  local ty = type(args[1])
  if ty ~= "table" and ty ~= "function" and ty ~= "userdata" and ty ~= "thread" then
    error(say("assertion.internal.badargtype", { 1, "ref", "object", ty }), (level or 2) + 1)
  end
  return function(value) return rawequal(value, args[1]) end
end)
assert:register("matcher", "none_of", function(_, args, level)
  need_matchers(args, "none_of", level or 2)
  return function(value)
    for i = 1, args.n do if args[i](value) then return false end end
    return true
  end
end)
assert:register("matcher", "any_of", function(_, args, level)
  need_matchers(args, "any_of", level or 2)
  return function(value)
    for i = 1, args.n do if args[i](value) then return true end end
    return false
  end
end)
assert:register("matcher", "all_of", function(_, args, level)
  need_matchers(args, "all_of", level or 2)
  return function(value)
    for i = 1, args.n do if not args[i](value) then return false end end
    return true
  end
end)

return { spy = spy, stub = stub, mock = mock, match = match }

-- luassert: busted's assertion language (`require("luassert")`, the `assert` of specs).
--
-- `assert` is callable like Lua's assert, and indexable by chains of words joined by
-- dots or underscores: modifiers (`is`, `are`, `was`, `has`, `does`, `a`, `an`, `the`
-- do nothing; `not` / `no` negate; `spy`, `stub`, `array`, `message` take an argument)
-- ending in an assertion (`same`, `equal`, `error`, ...). Names are case-insensitive
-- (`assert.True`, `assert.is_not.Nil`). A failed assertion raises its message (say's
-- text for the assertion, the arguments formatted) at the caller's position.
-- `assert:register(kind, name, callback, positive_key, negative_key)` adds assertions,
-- modifiers and matchers; `assert:add_formatter(fn)` adds a value formatter.

local say = require("say")
local util = require("luassert.util")
local unpack = unpack or table.unpack

-- The messages, in say's "en" namespace under luassert's keys.
local messages = {
  ["assertion.same.positive"] = "Expected objects to be the same.\nPassed in:\n%s\nExpected:\n%s",
  ["assertion.same.negative"] = "Expected objects to not be the same.\nPassed in:\n%s\nDid not expect:\n%s",
  ["assertion.equals.positive"] = "Expected objects to be equal.\nPassed in:\n%s\nExpected:\n%s",
  ["assertion.equals.negative"] = "Expected objects to not be equal.\nPassed in:\n%s\nDid not expect:\n%s",
  ["assertion.near.positive"] = "Expected values to be near.\nPassed in:\n%s\nExpected:\n%s +/- %s",
  ["assertion.near.negative"] = "Expected values to not be near.\nPassed in:\n%s\nDid not expect:\n%s +/- %s",
  ["assertion.matches.positive"] = "Expected strings to match.\nPassed in:\n%s\nExpected:\n%s",
  ["assertion.matches.negative"] = "Expected strings not to match.\nPassed in:\n%s\nDid not expect:\n%s",
  ["assertion.unique.positive"] = "Expected object to be unique:\n%s",
  ["assertion.unique.negative"] = "Expected object to not be unique:\n%s",
  ["assertion.error.positive"] = "Expected a different error.\nCaught:\n%s\nExpected:\n%s",
  ["assertion.error.negative"] = "Expected no error, but caught:\n%s",
  ["assertion.truthy.positive"] = "Expected to be truthy, but value was:\n%s",
  ["assertion.truthy.negative"] = "Expected to not be truthy, but value was:\n%s",
  ["assertion.falsy.positive"] = "Expected to be falsy, but value was:\n%s",
  ["assertion.falsy.negative"] = "Expected to not be falsy, but value was:\n%s",
  ["assertion.called.positive"] = "Expected to be called %s time(s), but was called %s time(s)",
  ["assertion.called.negative"] = "Expected not to be called exactly %s time(s), but it was.",
  ["assertion.called_at_least.positive"] = "Expected to be called at least %s time(s), but was called %s time(s)",
  ["assertion.called_at_most.positive"] = "Expected to be called at most %s time(s), but was called %s time(s)",
  ["assertion.called_more_than.positive"] = "Expected to be called more than %s time(s), but was called %s time(s)",
  ["assertion.called_less_than.positive"] = "Expected to be called less than %s time(s), but was called %s time(s)",
  ["assertion.called_with.positive"] = "Function was never called with matching arguments.\nCalled with (last call if any):\n%s\nExpected:\n%s",
  ["assertion.called_with.negative"] = "Function was called with matching arguments at least once.\nCalled with (last matching call):\n%s\nDid not expect:\n%s",
  ["assertion.returned_with.positive"] = "Function never returned matching arguments.\nReturned (last call if any):\n%s\nExpected:\n%s",
  ["assertion.returned_with.negative"] = "Function returned matching arguments at least once.\nReturned (last matching call):\n%s\nDid not expect:\n%s",
  ["assertion.returned_arguments.positive"] = "Expected %s results(s) to be returned, but got %s",
  ["assertion.returned_arguments.negative"] = "Expected not %s results(s) to be returned, but got %s",
  ["assertion.holes.positive"] = "Expected array to have holes, but none was found.",
  ["assertion.holes.negative"] = "Expected array to not have holes, hole found at position: %s",
  ["assertion.internal.argtolittle"] = "the '%s' function requires a minimum of %s arguments, got: %s",
  ["assertion.internal.badargtype"] = "bad argument #%s to '%s' (%s expected, got %s)",
}
say:set_namespace("en")
for k, v in pairs(messages) do say:set(k, v) end

local A = {}           -- the module (the `assert` object)
local registry = { assertion = {}, modifier = {}, matcher = {} }
local formatters = {}  -- tried last to first: custom ones first
local default_parameters = {
  TableFormatLevel = 3,
  TableFormatShowRecursion = false,
  TableErrorHighlightCharacter = "*",
  TableErrorHighlightColor = "none",
}
local parameters = {}
for k, v in pairs(default_parameters) do parameters[k] = v end
local spies = {}       -- spies made since the last snapshot, reverted by it

-- The message of the last failed assertion: the runner tells failures from errors by it.
A._last_failure = nil

-- Formatting ---------------------------------------------------------------

local function fmt_number(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "Inf" end
  if v == -math.huge then return "-Inf" end
  local str = string.format("%.20g", v)
  -- a float that prints like an integer keeps its ".0" (Lua 5.3+)
  if math.type and math.type(v) == "float" and not str:find("[%.,]") then
    str = str:gsub("%d+", "%0.0", 1)
  end
  return str
end

-- Keys in the order messages list them: the array part, then numbers, booleans (true
-- first), strings, tables, functions, userdata, threads.
local type_rank = { number = 1, boolean = 2, string = 3, table = 4, ["function"] = 5, userdata = 6, thread = 7 }

local function key_sorter(t)
  local len = #t
  local function rank(k)
    if type(k) == "number" and k >= 1 and k <= len and k == math.floor(k) then return 0 end
    return type_rank[type(k)] or 8
  end
  return function(a, b)
    local ra, rb = rank(a), rank(b)
    if ra ~= rb then return ra < rb end
    local ta = type(a)
    if ta == "string" or ta == "number" then return a < b end
    if ta == "boolean" then return a == true and b == false end
    return false
  end
end

local function highlight()
  return parameters.TableErrorHighlightCharacter or "*"
end

local function fmt_table(t, crumbs)
  local level_max = parameters.TableFormatLevel
  local seen = {}
  local function fmt_value(v, indent, depth, crumb_level)
    if type(v) ~= "table" or util.is_matcher(v) or util.is_arglist(v) then
      if type(v) == "string" then return "'" .. v .. "'" end
      if type(v) == "number" then return fmt_number(v) end
      if type(v) == "table" then return A.format_argument(v) end
      return tostring(v)
    end
    if seen[v] then return "{ ... recursive }" end
    if next(v) == nil then return "{ }" end
    if level_max >= 0 and depth >= level_max then return "{ ... more }" end
    seen[v] = true
    local keys = {}
    for k in next, v do keys[#keys + 1] = k end
    table.sort(keys, key_sorter(v))
    local crumb = crumbs and crumbs[crumb_level]
    local lines = {}
    for _, k in ipairs(keys) do
      local ks = type(k) == "number" and fmt_number(k) or tostring(k)
      local marked = crumb ~= nil and rawequal(k, crumb) or (crumb ~= nil and k == crumb)
      local mark = marked and highlight() or ""
      local pad = string.rep(" ", #indent + 2 - #mark)
      local val = fmt_value(v[k], indent .. "  ", depth + 1, marked and crumb_level - 1 or -1)
      lines[#lines + 1] = pad .. mark .. "[" .. ks .. "] = " .. val
    end
    seen[v] = nil
    return "{\n" .. table.concat(lines, "\n") .. " }"
  end
  return "(" .. tostring(t) .. ") " .. fmt_value(t, "", 0, crumbs and #crumbs or -1)
end

local function default_format(v, fmtargs)
  local ty = type(v)
  if ty == "nil" then return "(nil)" end
  if ty == "string" then return "(string) '" .. v .. "'" end
  if ty == "number" then return "(number) " .. fmt_number(v) end
  if ty == "boolean" then return "(boolean) " .. tostring(v) end
  if ty == "table" then
    local mt = getmetatable(v)
    if util.is_matcher(v) then
      if rawget(v, "name") == "_" then return "(matcher) _ *anything*" end
      local args, parts = rawget(v, "arguments") or { n = 0 }, {}
      for i = 1, args.n or #args do parts[i] = A.format_argument(args[i]) end
      return "(matcher) " .. (rawget(v, "mod") and "is." or "no.") .. tostring(rawget(v, "name")) ..
        "(" .. table.concat(parts, ", ") .. ")"
    end
    if util.is_arglist(v) then
      local parts = {}
      for i = 1, v.n do parts[i] = A.format_argument(v[i]) end
      return "(values list) (" .. table.concat(parts, ", ") .. ")"
    end
    return fmt_table(v, fmtargs and fmtargs.crumbs)
  end
  if ty == "function" then
    local info = type(debug) == "table" and debug.getinfo and debug.getinfo(v, "S")
    if info then return tostring(v) .. " @ line " .. tostring(info.linedefined) .. " in " .. tostring(info.source) end
    return tostring(v)
  end
  return "(" .. ty .. ") '" .. tostring(v) .. "'"
end

-- One argument through the formatters (custom ones first), as messages show it.
function A.format_argument(v, _, fmtargs)
  for i = #formatters, 1, -1 do
    local out = formatters[i](v, fmtargs)
    if out ~= nil then return out end
  end
  return default_format(v, fmtargs)
end

-- Registration and state -----------------------------------------------------

-- The words of a chain (`has.no_error` -> has, no, error) resolved into registered names,
-- longest first from the left, so that words split by dots still join
-- (`has.property` -> has_property, `called.at_least` -> called_at_least).
local function resolve(kind, words)
  local names, i = {}, 1
  while i <= #words do
    local found
    for j = #words, i, -1 do
      local name = table.concat(words, "_", i, j)
      if registry[kind][name] or registry.modifier[name] then
        found = j
        names[#names + 1] = name
        break
      end
    end
    if not found then return nil end
    i = found + 1
  end
  return names
end

local state_mt = {}

local function new_state(kind)
  return setmetatable({ mod = true, kind = kind, tokens = {} }, state_mt)
end

state_mt.__index = function(st, key)
  local kind = rawget(st, "kind")
  local tokens = rawget(st, "tokens")
  local n = #tokens
  for w in tostring(key):lower():gmatch("[^_]+") do tokens[#tokens + 1] = w end
  if not resolve(kind, tokens) then
    for i = #tokens, n + 1, -1 do tokens[i] = nil end
    error("luassert: unknown modifier/" .. kind .. ": '" .. tostring(key) .. "'", 2)
  end
  return st
end

local function message_for(a, st, args)
  local key = st.mod and a.positive or a.negative
  local text = key and say(key, A:format(args)) or nil
  local custom = rawget(st, "failure_message")
  if custom ~= nil then
    if not util.hastostring(custom) then custom = A.format_argument(custom) else custom = tostring(custom) end
    text = text and (custom .. "\n" .. text) or custom
  end
  return text or "assertion failed!"
end

-- Applies the modifiers among `names`, the last one with `args`.
local function apply_modifiers(st, names, args)
  local kind = rawget(st, "kind")
  for i, name in ipairs(names) do
    local m = registry.modifier[name]
    if m and not registry[kind][name] then
      m.callback(st, (i == #names and args) or { n = 0 }, 4)
    end
  end
end

state_mt.__call = function(st, ...)
  local args = { n = select("#", ...), ... }
  local kind = rawget(st, "kind")
  local names = resolve(kind, rawget(st, "tokens")) or {}
  local a
  for _, name in ipairs(names) do a = registry[kind][name] or a end
  if not a then
    -- only modifiers (`assert.spy(s)`, `assert.message("m")`): they take the arguments and
    -- the chain goes on from here
    apply_modifiers(st, names, args)
    st.tokens = {}
    return st
  end
  -- the assertion runs on a copy: a chain kept in a variable can be called again
  local run = {}
  for k, v in next, st do run[k] = v end
  setmetatable(run, state_mt)
  apply_modifiers(run, names, nil)
  if kind == "matcher" then
    return A._make_matcher(run, a, args)
  end
  local ok, retargs = a.callback(run, args, 3)
  if (not ok) == run.mod then
    local msg = message_for(a, run, args)
    A._last_failure = msg
    error(msg, 2)
  end
  if retargs then return unpack(retargs, 1, retargs.n or #retargs) end
  return ...
end

function A:register(kind, name, callback, positive, negative)
  local ns = registry[kind]
  if not ns then error("luassert: unknown kind '" .. tostring(kind) .. "' (assertion, modifier or matcher)", 2) end
  ns[name:lower()] = { name = name, callback = callback, positive = positive, negative = negative }
end

function A:unregister(kind, name)
  registry[kind][name:lower()] = nil
end

function A:add_formatter(fn) formatters[#formatters + 1] = fn end

function A:remove_formatter(fn)
  for i = #formatters, 1, -1 do
    if formatters[i] == fn then table.remove(formatters, i) end
  end
end

-- The arguments (a list with `n`) as messages show them: `nofmt[i]` keeps one as is,
-- `fmtargs[i]` passes extra options (crumbs) to the formatter.
function A:format(args)
  local n = args.n or #args
  local nofmt, fmtargs = args.nofmt or {}, args.fmtargs or {}
  for i = 1, n do
    if not nofmt[i] then args[i] = A.format_argument(args[i], nil, fmtargs[i]) end
  end
  return args
end

-- A level marker (`assert:level(2)`) that assertions' callers can pass as an argument.
local level_mt = {}
function A:level(n) return setmetatable({ level = n }, level_mt) end
function A:get_level(v)
  if getmetatable(v) == level_mt then return v.level end
  return nil
end

function A:set_parameter(name, value) parameters[name] = value end
function A:get_parameter(name) return parameters[name] end

-- luassert's hook for test doubles: a snapshot's revert() reverts the spies made after it.
function A:add_spy(s) spies[#spies + 1] = s end

-- A snapshot of formatters, parameters and spies: `revert()` undoes later changes
-- (busted takes one around every test).
function A:snapshot()
  local saved_formatters, saved_params, mark = {}, {}, #spies
  for i, f in ipairs(formatters) do saved_formatters[i] = f end
  for k, v in pairs(parameters) do saved_params[k] = v end
  local snap = {}
  function snap.revert()
    for i = #formatters, 1, -1 do formatters[i] = nil end
    for i, f in ipairs(saved_formatters) do formatters[i] = f end
    for k in pairs(parameters) do parameters[k] = nil end
    for k, v in pairs(saved_params) do parameters[k] = v end
    for i = #spies, mark + 1, -1 do
      local s = spies[i]
      spies[i] = nil
      if type(s) == "table" and s.revert then s:revert() end
    end
  end
  return snap
end

setmetatable(A, {
  __call = function(_, v, message, level, ...)
    if not v then
      A._last_failure = message or "assertion failed!"
      error(message or "assertion failed!", (type(level) == "number" and level or 1) + 1)
    end
    return v, message, level, ...
  end,
  __index = function(_, key)
    return new_state("assertion")[key]
  end,
})

A._new_state = new_state
A._registry = registry

-- Assertions ---------------------------------------------------------------

local function check_args(args, min, name, level)
  if (args.n or #args) < min then
    error(say("assertion.internal.argtolittle", { name, min, tostring(args.n or #args) }), level + 1)
  end
end

local function set_message(st, msg)
  if msg ~= nil then st.failure_message = msg end
end

-- move argument `from` to position `to` (message order: actual first)
local function actual_first(args)
  util.tinsert(args, 1, util.tremove(args, 2))
end

-- On a database server (`lualchemy test --db URL`) SQL text compares equal to the SQLite
-- spelling a spec states when it differs only in placeholders ($1) and quotes (`name`).
local function sql_same(e, a)
  local dialect = rawget(_G, "SPEC_DIALECT")
  if dialect == nil or dialect == "sqlite" or type(e) ~= "string" or type(a) ~= "string" then return false end
  return (a:gsub("%$%d+", "?"):gsub("`", '"')) == e
end

local function equals(st, args, level)
  check_args(args, 2, "equals", level)
  local ok = args[1] == args[2] or sql_same(args[1], args[2])
  set_message(st, args[3])
  actual_first(args)
  return ok
end

local function same(st, args, level)
  check_args(args, 2, "same", level)
  if type(args[1]) == "table" and type(args[2]) == "table" then
    local ok, crumbs = util.deepcompare(args[1], args[2], true)
    actual_first(args)
    args.fmtargs = args.fmtargs or {}
    args.fmtargs[1] = { crumbs = crumbs }
    args.fmtargs[2] = { crumbs = crumbs }
    set_message(st, args[3])
    return ok
  end
  local ok = util.deepcompare(args[1], args[2], true) or sql_same(args[1], args[2])
  actual_first(args)
  set_message(st, args[3])
  return ok
end

local function truthy(st, args)
  set_message(st, args[2])
  return args[1] ~= nil and args[1] ~= false
end

local function falsy(st, args)
  set_message(st, args[2])
  return args[1] == nil or args[1] == false
end

local function near(st, args, level)
  check_args(args, 3, "near", level)
  local e, a, tol = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  local names = { "expected", "actual", "tolerance" }
  for i, v in ipairs({ e, a, tol }) do
    if v == nil then
      error(say("assertion.internal.badargtype", { i, "near", "number or object convertible to number", type(args[i]) }) ..
        " (" .. names[i] .. ")", level + 1)
    end
  end
  set_message(st, args[4])
  util.tinsert(args, 1, util.tremove(args, 2))
  return a >= e - tol and a <= e + tol
end

local function matches(st, args, level)
  check_args(args, 2, "matches", level)
  local pattern, actual = args[1], args[2]
  local init, plain, msg = args[3], args[4], args[5]
  if type(init) == "string" and tonumber(init) == nil and plain == nil then init, msg = nil, init end
  if type(plain) == "string" and msg == nil then plain, msg = nil, plain end
  init = tonumber(init)
  if type(pattern) ~= "string" then
    error(say("assertion.internal.badargtype", { 1, "matches", "string", type(pattern) }), level + 1)
  end
  if type(actual) == "number" or util.hastostring(actual) then actual = tostring(actual) end
  if type(actual) ~= "string" then
    error(say("assertion.internal.badargtype", { 2, "matches", "string", type(args[2]) }), level + 1)
  end
  if init ~= nil and type(init) ~= "number" or (args[3] ~= nil and type(args[3]) == "string" and tonumber(args[3]) == nil and args[4] ~= nil) then
    error(say("assertion.internal.badargtype", { 3, "matches", "number", type(args[3]) }), level + 1)
  end
  set_message(st, msg)
  args.n = 2
  actual_first(args)
  if type(actual) ~= "string" then return false, {} end
  local found
  if plain then found = actual:find(pattern, init, true) and { pattern } or {}
  else found = { actual:match(pattern, init) } end
  if found[1] == nil then return false, {} end
  return true, found
end

local function unique(st, args, level)
  local list, deep = args[1], nil
  if type(args[2]) == "boolean" or (args[2] == nil and (args.n or 0) > 2) then
    deep = args[2]
    set_message(st, args[3])
  else
    if type(args[3]) == "boolean" then deep = args[3] end
    set_message(st, args[2])
  end
  if type(list) ~= "table" then
    error(say("assertion.internal.badargtype", { 1, "unique", "table", type(list) }), level + 1)
  end
  local seen = {}
  for _, v in pairs(list) do
    for _, w in ipairs(seen) do
      if (deep and util.deepcompare(v, w)) or (not deep and v == w) then return false end
    end
    seen[#seen + 1] = v
  end
  return true
end

-- The error `fn` raised: strings lose their "path:line: " prefix.
local function caught(fn, ...)
  local ok, err = pcall(fn, ...)
  if type(err) == "string" then err = err:gsub("^.-:%d+: ", "", 1) end
  return ok, err
end

local function has_error(st, args, level)
  local fn, expected, msg = args[1], args[2], args[3]
  if not util.callable(fn) then
    error(say("assertion.internal.badargtype", { 1, "error", "function or callable object", type(fn) }), level + 1)
  end
  local ok, err = caught(fn)
  local retargs = { err, expected, n = 2 }
  set_message(st, msg)
  args[1] = err
  args.n = (args.n >= 2 and 2 or 1)
  if expected == nil then args.n = 1 end
  if not ok and expected ~= nil then
    args[2] = expected
    args.nofmt = {}
  end
  if ok or expected == nil then
    if ok then
      -- nothing raised: "(no error)" caught, "(error)" or the error expected
      args[1], args.n = "(no error)", 2
      args.nofmt = { true }
      if expected == nil then args[2] = "(error)"; args.nofmt[2] = true else args[2] = expected end
    end
    return not ok, retargs
  end
  if type(expected) == "string" then
    if util.hastostring(err) then err = tostring(err); args[1] = err; retargs[1] = err end
    if type(err) == "string" then return expected == err, retargs end
  elseif type(expected) == "number" and type(err) == "string" then
    return tostring(expected) == tostring(tonumber(err)), retargs
  end
  return util.deepcompare(expected, err, true), retargs
end

local function error_matches(st, args, level)
  check_args(args, 2, "error_matches", level)
  local fn, pattern, init, plain, msg = args[1], args[2], args[3], args[4], args[5]
  if type(init) == "string" and tonumber(init) == nil and plain == nil then init, msg = nil, init end
  if type(plain) == "string" and msg == nil then plain, msg = nil, plain end
  init = tonumber(init)
  if not util.callable(fn) then
    error(say("assertion.internal.badargtype", { 1, "error_matches", "function or callable object", type(fn) }), level + 1)
  end
  if pattern ~= nil and type(pattern) ~= "string" then
    error(say("assertion.internal.badargtype", { 2, "error_matches", "string", type(pattern) }), level + 1)
  end
  local ok, err = caught(fn)
  set_message(st, msg)
  args[1], args[2], args.n = err, pattern, 2
  local retargs = { err, pattern, n = 2 }
  if ok then
    args[1], args.nofmt = "(no error)", { true }
    return false, retargs
  end
  if pattern == nil then return err == nil, retargs end
  if type(err) == "number" then err = tostring(err) end
  if util.hastostring(err) then err = tostring(err); args[1] = err; retargs[1] = err end
  if type(err) == "string" then
    local found
    if plain then found = err:find(pattern, init, true) and { pattern, n = 1 }
    else found = { err:match(pattern, init) } found.n = #found end
    if found and found[1] ~= nil then return true, found end
  end
  return false, retargs
end

local function returned_arguments(st, args, level)
  args[1] = tostring(args[1])
  args[2] = tostring(args.n - 1)
  args.nofmt = { true, true }
  if args.n < 2 then args.n = 2 end
  return args[1] == args[2]
end

local function type_check(typename)
  return function(st, args)
    set_message(st, args[2])
    local ok = type(args[1]) == typename
    args[2] = "type " .. typename
    args.n = 2
    args.nofmt = { [2] = true }
    return ok
  end
end

local function value_check(value)
  return function(st, args)
    set_message(st, args[2])
    args[2] = value
    args.n = 2
    return args[1] == value
  end
end

local function holes(st, args)
  local t, length = rawget(st, "payload"), args[1]
  if type(t) ~= "table" then error("luassert: 'holes' needs an array: use assert.array(t).has.holes()", 3) end
  if length == nil then
    length = 0
    for k in pairs(t) do
      if type(k) == "number" and k > length and k == math.floor(k) then length = k end
    end
  end
  for i = 1, length do
    if t[i] == nil then args[1], args.n = i, 1; return true end
  end
  return false
end

local M = A
M:register("modifier", "is", function() end)
for _, w in ipairs({ "a", "an", "the", "are", "was", "has", "does" }) do
  M:register("modifier", w, function() end)
end
M:register("modifier", "not", function(st) st.mod = not st.mod end)
M:register("modifier", "no", function(st) st.mod = not st.mod end)
M:register("modifier", "message", function(st, args) st.failure_message = args[1] end)
M:register("modifier", "array", function(st, args) st.payload = args[1] end)
M:register("assertion", "holes", holes, "assertion.holes.positive", "assertion.holes.negative")
M:register("assertion", "true", value_check(true), "assertion.same.positive", "assertion.same.negative")
M:register("assertion", "false", value_check(false), "assertion.same.positive", "assertion.same.negative")
M:register("assertion", "nil", type_check("nil"), "assertion.same.positive", "assertion.same.negative")
for _, t in ipairs({ "boolean", "number", "string", "table", "userdata", "function", "thread" }) do
  M:register("assertion", t, type_check(t), "assertion.same.positive", "assertion.same.negative")
end
M:register("assertion", "returned_arguments", returned_arguments,
  "assertion.returned_arguments.positive", "assertion.returned_arguments.negative")
M:register("assertion", "same", same, "assertion.same.positive", "assertion.same.negative")
M:register("assertion", "matches", matches, "assertion.matches.positive", "assertion.matches.negative")
M:register("assertion", "match", matches, "assertion.matches.positive", "assertion.matches.negative")
M:register("assertion", "near", near, "assertion.near.positive", "assertion.near.negative")
M:register("assertion", "equals", equals, "assertion.equals.positive", "assertion.equals.negative")
M:register("assertion", "equal", equals, "assertion.equals.positive", "assertion.equals.negative")
M:register("assertion", "unique", unique, "assertion.unique.positive", "assertion.unique.negative")
for _, n in ipairs({ "error", "errors" }) do
  M:register("assertion", n, has_error, "assertion.error.positive", "assertion.error.negative")
end
for _, n in ipairs({ "error_matches", "error_match", "matches_error", "match_error" }) do
  M:register("assertion", n, error_matches, "assertion.error.positive", "assertion.error.negative")
end
M:register("assertion", "truthy", truthy, "assertion.truthy.positive", "assertion.truthy.negative")
M:register("assertion", "falsy", falsy, "assertion.falsy.positive", "assertion.falsy.negative")

-- Matchers (`match.is_string()`, `match._`, `match.same(t)`) and the spy assertions
-- live in luassert.match / luassert.spy; they register themselves here.
return A

-- spec_runner.lua: a small busted-style spec runner embedded by the Rust host.
--
--   local M = <this chunk>
--   local passed, failed, pending = M.run({ "spec/a_spec.lua", ... }, opts)
--   local passed, failed, pending = M.run_string(code, chunkname, opts)
--
-- opts.print   output function (default `print`)
-- opts.filter  Lua pattern; only tests whose full name matches are run
-- opts.verbose print every test with ok / FAIL / PENDING
--
-- Each spec file is collected first (describe bodies run, building a tree of
-- blocks and tests), then the tree is run in declaration order. Failures are
-- printed as "FAIL <file>:<line>: <full test name>" plus the indented message.

local M = {}
-- Lua 5.1 and LuaJIT have neither (and a table's # is raw there)
local rawlen = rawlen or function(t) return #t end
local math_type = math.type or function(x) return x % 1 == 0 and "integer" or "float" end

-- Value formatting ----------------------------------------------------------

local MAX_DEPTH, MAX_ITEMS = 3, 50

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  if ok and type(s) == "string" then return s end
  return "<" .. type(v) .. ">"
end

local function quote(s)
  -- %q escapes a newline as "\<newline>"; keep output on one line instead.
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

local function key_order(a, b)
  if type(a) == "number" and type(b) == "number" then return a < b end
  return type(a) .. safe_tostring(a) < type(b) .. safe_tostring(b)
end

local fmt
local function is_ident(k) return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil end
local function fmt_key(k) return is_ident(k) and k or "[" .. fmt(k, MAX_DEPTH) .. "]" end
-- One step of deep_same's difference path: `.name` or `[key]`.
local function path_key(k) return is_ident(k) and ("." .. k) or fmt_key(k) end

-- Renders a value for failure messages: strings quoted, tables structurally
-- (raw access, metatables ignored) up to MAX_DEPTH levels / MAX_ITEMS items.
function fmt(v, depth, seen)
  if type(v) == "string" then return quote(v) end
  if type(v) ~= "table" then return safe_tostring(v) end
  depth, seen = depth or 0, seen or {}
  if seen[v] then return "<cycle>" end
  if depth >= MAX_DEPTH then return "{...}" end
  seen[v] = true
  local parts, len = {}, rawlen(v)
  for i = 1, len do
    if #parts >= MAX_ITEMS then break end
    parts[#parts + 1] = fmt(rawget(v, i), depth + 1, seen)
  end
  local keys = {}
  for k in next, v do
    if not (type(k) == "number" and math_type(k) == "integer" and k >= 1 and k <= len) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_order)
  for _, k in ipairs(keys) do
    if #parts >= MAX_ITEMS then break end
    parts[#parts + 1] = fmt_key(k) .. " = " .. fmt(rawget(v, k), depth + 1, seen)
  end
  if #parts < len + #keys then parts[#parts + 1] = "..." end
  seen[v] = nil
  if #parts == 0 then return "{}" end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

-- Text of an arbitrary error value (strings, Rust userdata errors, tables).
local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if type(e) == "table" and not (type(mt) == "table" and rawget(mt, "__tostring")) then return fmt(e) end
  return safe_tostring(e)
end

-- Deep comparison (assert.same) ---------------------------------------------

-- Returns true, or false plus the key path of the first difference.
-- `seen` records table pairs under comparison so cycles terminate.
local function deep_same(a, b, seen, path)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b, path end
  if rawequal(a, b) then return true end
  seen[a] = seen[a] or {}
  if seen[a][b] then return true end
  seen[a][b] = true
  for k, va in next, a do
    local ok, p = deep_same(va, rawget(b, k), seen, path .. path_key(k))
    if not ok then return false, p end
  end
  for k in next, b do
    if rawget(a, k) == nil then return false, path .. path_key(k) end
  end
  return true
end

-- Assertions ----------------------------------------------------------------

-- Assertion failures are plain strings raised with level 0 so they carry no
-- runner file/line prefix; the runner adds the spec location itself.
local function fail(msg, text)
  if msg ~= nil then text = safe_tostring(msg) .. "\n" .. text end
  error(text, 0)
end

local function expected_actual(what, e, a)
  return what .. "\nexpected: " .. fmt(e) .. "\nactual:   " .. fmt(a)
end

local A = {}

-- On a database server (`lualchemy test --db URL`), SQL text compares equal to the SQLite
-- text a spec expects when it differs only in the dialect's placeholders (`$1`) and quotes
-- (`` `name` ``): specs state SQL once.
-- SQL text in SQLite's spelling: `$1` placeholders as `?`, backquoted names double-quoted.
local function generic_sql(sql) return (sql:gsub("%$%d+", "?"):gsub("`", '"')) end

local function sql_same(e, a)
  if type(e) ~= "string" or type(a) ~= "string" or SPEC_DIALECT == "sqlite" then return false end
  return generic_sql(a) == e
end

-- The entry of `t` for the dialect the specs run on (SPEC_DIALECT); `mariadb` falls back to
-- `mysql`. A missing entry is an error: every dialect's expectation is stated.
local function for_dialect(t)
  local v = t[SPEC_DIALECT]
  if v == nil and SPEC_DIALECT == "mariadb" then v = t.mysql end
  assert(v ~= nil, "no expectation for dialect " .. tostring(SPEC_DIALECT))
  return v
end

function A.equal(e, a, msg)
  if not (e == a) and not sql_same(e, a) then fail(msg, expected_actual("values are not equal", e, a)) end
end

function A.not_equal(e, a, msg)
  if e == a then fail(msg, expected_actual("values are equal, expected them to differ", e, a)) end
end

function A.same(e, a, msg)
  local ok, path = deep_same(e, a, {}, "")
  if not ok then
    local where = path ~= "" and (" (first difference at " .. path:gsub("^%.", "") .. ")") or ""
    fail(msg, expected_actual("values are not the same" .. where, e, a))
  end
end

function A.not_same(e, a, msg)
  if deep_same(e, a, {}, "") then fail(msg, expected_actual("values are the same, expected them to differ", e, a)) end
end

local function check_value(name, pred)
  return function(v, msg)
    if not pred(v) then fail(msg, "expected " .. name .. "\nactual:   " .. fmt(v)) end
  end
end

A.truthy   = check_value("a truthy value", function(v) return v end)
A.falsy    = check_value("a falsy value", function(v) return not v end)
A.is_true  = check_value("true", function(v) return v == true end)
A.is_false = check_value("false", function(v) return v == false end)
A.is_nil   = check_value("nil", function(v) return v == nil end)
A.not_nil  = check_value("a non-nil value", function(v) return v ~= nil end)
for _, t in ipairs({ "string", "number", "table", "function", "boolean", "userdata" }) do
  A["is_" .. t] = check_value("a " .. t, function(v) return type(v) == t end)
end

-- A string `expected` matches the error's text exactly or as a plain
-- substring (so "path:line: " prefixes don't matter); other values use ==.
function A.has_error(fn, expected, msg)
  local ok, err = pcall(fn)
  if ok then
    fail(msg, "expected an error, but none was raised" .. (expected ~= nil and ("\nexpected: " .. fmt(expected)) or ""))
  end
  if expected == nil then return err end
  local matched = err == expected
  if type(expected) == "string" then matched = error_text(err):find(expected, 1, true) ~= nil end
  if not matched then
    fail(msg, "error does not match\nexpected: " .. fmt(expected) .. "\nactual:   " ..
      (type(err) == "string" and quote(err) or error_text(err)))
  end
  return err
end

function A.has_no_error(fn, msg)
  local ok, err = pcall(fn)
  if not ok then fail(msg, "expected no error\nactual:   " .. error_text(err)) end
end

function A.matches(pattern, str, msg)
  if type(str) ~= "string" or not str:find(pattern) then
    fail(msg, "string does not match pattern\npattern:  " .. fmt(pattern) .. "\nactual:   " .. fmt(str))
  end
end

function A.near(e, a, tolerance, msg)
  if type(e) ~= "number" or type(a) ~= "number" or math.abs(e - a) > tolerance then
    fail(msg, expected_actual("values are not within " .. safe_tostring(tolerance), e, a))
  end
end

-- Aliases.
A.equals, A.not_equals = A.equal, A.not_equal
A.is_truthy, A.is_falsy, A.is_not_nil = A.truthy, A.falsy, A.not_nil
A.has_errors, A.error, A.errors = A.has_error, A.has_error, A.has_error
A.no_error, A.no_errors, A.has_no_errors = A.has_no_error, A.has_no_error, A.has_no_error
A.match = A.matches

local assert_mt = {
  -- assert(v, msg, ...) behaves like Lua's assert and returns all arguments.
  __call = function(_, ...)
    local v, msg = ...
    if v then return ... end
    if msg == nil then msg = "assertion failed!" end
    error(msg, 0)
  end,
  __index = function(_, k) error("unknown assertion 'assert." .. tostring(k) .. "'", 2) end,
}
local assert_tbl = setmetatable(A, assert_mt)
-- Chaining words: assert.are.equal, assert.is.truthy, assert.has.error, ...
A.are, A.is, A.has = assert_tbl, assert_tbl, assert_tbl
A.has_no = { error = A.has_no_error, errors = A.has_no_error }
A.are_not = {
  equal = A.not_equal, equals = A.not_equal, same = A.not_same,
  is_nil = A.not_nil, ["nil"] = A.not_nil, truthy = A.falsy, falsy = A.truthy,
}
A.is_not = A.are_not

-- Collection and execution --------------------------------------------------

-- Private marker types: results of the xpcall message handler, and the error
-- object raised by pending() inside a running test.
local Caught, Pending = {}, {}

local function new_block(name, parent, line)
  return { name = name, parent = parent, line = line, items = {},
           setup = {}, teardown = {}, before_each = {}, after_each = {} }
end

local function full_name(block, test_name)
  local names = { test_name }
  while block and block.name do
    table.insert(names, 1, block.name)
    block = block.parent
  end
  return table.concat(names, " ")
end

local Runner = {}
Runner.__index = Runner

function Runner:report_failure(line, title, err)
  self.failed = self.failed + 1
  local where = self.file.display .. (line and (":" .. line) or "")
  self.out("FAIL " .. where .. ": " .. (title ~= "" and title or "(top level)"))
  for l in (error_text(err) .. "\n"):gmatch("(.-)\n") do self.out("    " .. l) end
end

-- Calls fn under xpcall. On error returns false plus { err, line }, where
-- line is the innermost stack frame belonging to the spec file being run.
function Runner:protect(fn)
  local ok, c = xpcall(fn, self.file.handler)
  if ok then return true end
  if getmetatable(c) ~= Caught then c = { err = c } end -- handler itself failed
  return false, c
end

-- Identity and current line of the function at stack `level` (counted like
-- debug.getinfo, 1 = the caller of frame). The identity is the chunk source
-- ("@path"). Without the debug library (mlua's Lua::new() omits it) this falls
-- back on error()'s position prefix, whose identity is the chunk's short_src.
local getinfo = type(debug) == "table" and debug.getinfo or nil
local function frame(level)
  if getinfo then
    local info = getinfo(level + 1, "Sl")
    if info then return info.source, info.currentline end
    return nil
  end
  local _, pos = pcall(error, "", level + 2) -- levels: error's caller is pcall
  local src, line = pos:match("^(.*):(%d+): $")
  return src, tonumber(line)
end

-- The identity `frame` reports for code in a chunk loaded as `chunkname`.
local function chunk_id(chunkname)
  if getinfo then return chunkname end
  return load("local _, pos = pcall(error, '', 2) return pos", chunkname)():match("^(.*):1: $")
end

-- xpcall message handler: wraps the error with the line of the innermost
-- stack frame that belongs to the spec chunk `id`.
local function make_handler(id)
  return function(e)
    for level = 2, 200 do
      local src, line = frame(level)
      if src == id then return setmetatable({ err = e, line = line }, Caught) end
      if getinfo and not src then break end -- top of the stack
    end
    return setmetatable({ err = e }, Caught)
  end
end

-- A fresh temporary path for a SQLite file database, not created yet (os.tmpname creates
-- the file), and the removal of such a database with its WAL, shared-memory and journal files.
local function tmp_db_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

local function remove_db(path)
  for _, suffix in ipairs({ "", "-wal", "-shm", "-journal" }) do os.remove(path .. suffix) end
end

-- The globals visible to a spec file.
function Runner:make_env()
  local runner = self
  local env = setmetatable({}, { __index = _G })
  -- helpers for specs that run on several databases (lualchemy test --db URL)
  env.generic_sql, env.for_dialect = generic_sql, for_dialect
  -- temporary SQLite files
  env.tmp_db_path, env.remove_db = tmp_db_path, remove_db

  local function current(what) -- the block being collected
    if runner.running or not runner.block then error(what .. "() cannot be used inside a running test or hook", 0) end
    return runner.block
  end

  local function caller_line() return select(2, frame(3)) end

  local function add_test(name, fn, line)
    if fn ~= nil and type(fn) ~= "function" then error("expected a function for '" .. tostring(name) .. "'", 0) end
    local block = current("it")
    block.items[#block.items + 1] = { name = tostring(name), fn = fn, line = line, block = block }
  end

  function env.describe(name, fn)
    local parent = current("describe")
    local block = new_block(tostring(name), parent, caller_line())
    parent.items[#parent.items + 1] = block
    runner.block = block
    local ok, c = runner:protect(fn)
    runner.block = parent
    if not ok then runner:report_failure(c.line or block.line, full_name(block) .. " (describe)", c.err) end
  end
  env.context = env.describe

  function env.it(name, fn) add_test(name, fn, caller_line()) end
  env.test = env.it

  function env.pending(name) -- (name, fn): the body of a pending test never runs
    if runner.running then error(setmetatable({ reason = name }, Pending)) end
    add_test(name, nil, caller_line())
  end

  for _, hook in ipairs({ "setup", "teardown", "before_each", "after_each" }) do
    env[hook] = function(fn)
      local list = current(hook)[hook]
      list[#list + 1] = fn
    end
  end
  env.lazy_setup, env.lazy_teardown = env.setup, env.teardown
  env.assert = assert_tbl
  return env
end

function Runner:selected(test)
  return not self.filter or full_name(test.block, test.name):find(self.filter) ~= nil
end

-- Number of selected, non-pending tests under a block.
function Runner:count_runnable(block)
  local n = 0
  for _, item in ipairs(block.items) do
    if item.items then n = n + self:count_runnable(item)
    elseif item.fn and self:selected(item) then n = n + 1 end
  end
  return n
end

function Runner:run_test(test, chain)
  local name = full_name(test.block, test.name)
  local ok, err = false, { err = setmetatable({}, Pending) } -- no body: pending
  if test.fn then
    self.running, ok = true, true
    local mark = self.scope and self.scope.enter()
    for i = 1, #chain do -- outer before_each hooks first
      for _, hook in ipairs(chain[i].before_each) do
        ok, err = self:protect(hook)
        if not ok then goto body_skipped end
      end
    end
    ok, err = self:protect(test.fn)
    ::body_skipped::
    for i = #chain, 1, -1 do -- inner after_each hooks first
      for _, hook in ipairs(chain[i].after_each) do
        local hok, herr = self:protect(hook)
        if ok and not hok then ok, err = false, herr end
      end
    end
    if mark then self.scope.leave(mark) end
    self.running = false
  end
  if ok then
    self.passed = self.passed + 1
    if self.verbose then self.out("ok      " .. name) end
  elseif getmetatable(err.err) == Pending then
    self.pending = self.pending + 1
    local reason = err.err.reason
    if self.verbose then self.out("PENDING " .. name .. (reason and (" (" .. safe_tostring(reason) .. ")") or "")) end
  else
    self:report_failure(err.line or test.line, name, err.err)
  end
end

-- Runs setup/teardown hooks of a block; returns false after the first error.
function Runner:run_hooks(block, kind)
  for _, hook in ipairs(block[kind]) do
    local ok, c = self:protect(hook)
    if not ok then
      self:report_failure(c.line or block.line, full_name(block, "(" .. kind .. ")"), c.err)
      return false
    end
  end
  return true
end

function Runner:run_block(block, chain)
  chain[#chain + 1] = block
  -- setup/teardown are lazy: only run when the block has a test to run.
  local active = self:count_runnable(block) > 0
  -- A failing setup counts as one failure; the block's tests are skipped.
  if not active or self:run_hooks(block, "setup") then
    for _, item in ipairs(block.items) do
      if item.items then
        self:run_block(item, chain)
      elseif self:selected(item) then
        self:run_test(item, chain)
      end
    end
  end
  if active then self:run_hooks(block, "teardown") end
  chain[#chain] = nil
end

-- file: { display = name for messages, source = chunk source ("@path"),
--         load = function(env) -> chunk | nil, err }
function Runner:run_file(file)
  file.handler = make_handler(chunk_id(file.source))
  self.file = file
  local root = new_block(nil, nil, nil)
  local chunk, err = file.load(self:make_env())
  if not chunk then
    self.failed = self.failed + 1
    self.out("FAIL " .. file.display .. ": could not load spec file")
    self.out("    " .. error_text(err))
    return
  end
  self.block = root
  local ok, c = self:protect(chunk)
  self.block = nil
  if not ok then self:report_failure(c.line, "", c.err) end
  self:run_block(root, {})
end

local function run_files(list, opts)
  opts = opts or {}
  local filter = opts.filter
  local valid, perr = pcall(string.find, "", filter or "")
  if not valid then error("invalid filter pattern " .. quote(tostring(filter)) .. ": " .. tostring(perr), 3) end
  -- opts.scope: { enter = fn() -> mark, leave = fn(mark) } around each file and test (the
  -- host releases the databases a test opened)
  local self = setmetatable({ out = opts.print or print, filter = filter, verbose = opts.verbose,
                              scope = opts.scope,
                              passed = 0, failed = 0, pending = 0, running = false }, Runner)
  for _, file in ipairs(list) do
    local mark = self.scope and self.scope.enter()
    self:run_file(file)
    if mark then self.scope.leave(mark) end
  end
  local summary = self.passed .. " passed, " .. self.failed .. " failed"
  if self.pending > 0 then summary = summary .. ", " .. self.pending .. " pending" end
  self.out(summary)
  return self.passed, self.failed, self.pending
end

--- Runs the given spec files. Returns passed, failed, pending.
function M.run(files, opts)
  local list = {}
  for i, path in ipairs(files or {}) do
    list[i] = { display = path, source = "@" .. path, load = function(env) return loadfile(path, "t", env) end }
  end
  return run_files(list, opts)
end

--- Runs specs from a string. chunkname follows load() conventions
--- ("@name" or "=name"; default "=spec"). Returns passed, failed, pending.
function M.run_string(code, chunkname, opts)
  chunkname = chunkname or "=spec"
  return run_files({ { display = (chunkname:gsub("^[@=]", "")), source = chunkname,
                       load = function(env) return load(code, chunkname, "t", env) end } }, opts)
end

M.fmt = fmt -- exposed for tests of the runner itself

return M

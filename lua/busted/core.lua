-- busted's runner: the describe / it tree of spec files, run in busted 2's order.
--
-- A file's chunk runs first and registers its top-level blocks; a describe block's body
-- runs when the block is reached, registering its tests and hooks, which then run:
-- strict_setup (`setup`) hooks, the children in order (a test: the ancestors' pending
-- lazy_setup hooks, before_each outer first, the body, after_each inner first, its
-- `finally`), then teardown hooks. Each file is insulated (globals and package.loaded
-- restored after it) unless it runs inside `expose`. Results go to a handler:
--   handler.test_end(test, status, info)  status: success | failure | error | pending
--   handler.error(block, info)            an error outside a test (file, describe, hook)

local luassert = require("luassert")
local mocks = require("lualchemy.busted.mocks")
local unpack = unpack or table.unpack

local M = {}

local Runner = {}
Runner.__index = Runner

local function tags_of(name)
  local tags = {}
  for t in tostring(name):gmatch("#([%w_%-]+)") do tags[#tags + 1] = t end
  return tags
end

local function new_block(kind, name, parent, fn, line)
  return {
    kind = kind, name = name, parent = parent, fn = fn, line = line,
    file = parent and parent.file, children = {},
    hooks = { strict_setup = {}, lazy_setup = {}, strict_teardown = {}, lazy_teardown = {},
              before_each = {}, after_each = {} },
    tags = tags_of(name or ""),
  }
end

-- "outer inner test": the names of the describe blocks above a test (files excluded).
local function full_name(node)
  local names = {}
  while node and node.kind ~= "file" and node.kind ~= "root" do
    if node.name ~= nil and node.name ~= "" then table.insert(names, 1, node.name) end
    node = node.parent
  end
  return table.concat(names, " ")
end
M.full_name = full_name

-- The identity and current line of the function at stack `level` (1 = caller).
local getinfo = type(debug) == "table" and debug.getinfo or nil
local function caller_line(level)
  if getinfo then
    local info = getinfo(level + 1, "Sl")
    if info then return info.currentline, info.short_src, info.source end
  end
  return nil
end

local function error_text(e)
  if type(e) == "string" then return e end
  if e == nil then return "nil" end
  local mt = getmetatable(e)
  if type(e) == "table" and not (type(mt) == "table" and mt.__tostring) then
    return luassert.format_argument(e)
  end
  local ok, s = pcall(tostring, e)
  return ok and s or ("<" .. type(e) .. ">")
end
M.error_text = error_text

-- Each block and test has its own environment, as in busted: globals a spec assigns inside
-- a describe body, hook or test land there and are seen by what runs inside that block
-- (read-through to the enclosing blocks and _G) but not after it. A function gets the
-- environment of the block it runs for (a hook: the block that registered it).
local function env_of(node)
  if node.env then return node.env end
  local parent_env = node.parent and env_of(node.parent) or _G
  if node.kind == "expose" then
    node.env = _G -- what an expose block assigns is global, and exported after it
  else
    node.env = setmetatable({}, { __index = parent_env })
  end
  return node.env
end

local setfenv_ = rawget(_G, "setfenv")
local function set_env(fn, env)
  if type(fn) ~= "function" then return end
  if setfenv_ then
    pcall(setfenv_, fn, env)
    return
  end
  if type(debug) ~= "table" or not debug.getupvalue or not debug.upvaluejoin then return end
  local i = 1
  while true do
    local name = debug.getupvalue(fn, i)
    if name == nil then return end
    if name == "_ENV" then
      -- a _ENV of its own, so that other functions of the file keep theirs
      debug.upvaluejoin(fn, i, function() return env end, 1)
      return
    end
    i = i + 1
  end
end

-- Globals and package.loaded, to put back after an insulated block.
local function snapshot_env()
  local g, loaded = {}, {}
  for k, v in next, _G do g[k] = v end
  for k, v in next, package.loaded do loaded[k] = v end
  return { g = g, loaded = loaded }
end

local function restore_env(snap)
  for k in next, _G do if snap.g[k] == nil then rawset(_G, k, nil) end end
  for k, v in next, snap.g do if rawget(_G, k) ~= v then rawset(_G, k, v) end end
  for k in next, package.loaded do if snap.loaded[k] == nil then package.loaded[k] = nil end end
  for k, v in next, snap.loaded do package.loaded[k] = v end
end

-- What an exposed block changed, written into the snapshots of the enclosing
-- insulated blocks so it outlives them.
local function expose_changes(before, snaps)
  for k, v in next, _G do
    if before.g[k] ~= v then for _, s in ipairs(snaps) do s.g[k] = v end end
  end
  for k, v in next, package.loaded do
    if before.loaded[k] ~= v then for _, s in ipairs(snaps) do s.loaded[k] = v end end
  end
end

function M.new(opts)
  local self = setmetatable({
    handler = opts.handler,
    opts = opts,
    counts = { success = 0, failure = 0, error = 0, pending = 0 },
    current = nil,     -- the block whose body is being collected
    running = nil,     -- the test being run
    insulation = {},   -- snapshots of the insulated blocks entered
    stopped = false,
    seed = opts.seed or os.time(),
  }, Runner)
  self.api = self:make_api()
  return self
end

-- Errors raised inside spec code: the message, where, and the traceback.
function Runner:handler_fn()
  return function(e)
    local raw = (type(debug) == "table" and debug.traceback) and debug.traceback("", 2) or ""
    local ok, r = pcall(function()
    local trace = raw
    -- the frames of the spec code only: not the assertion library's, not the runner's
    local lines = {}
    for line in (trace .. "\n"):gmatch("(.-)\n") do
      -- ("in function 'x'" up to Lua 5.4, "in global 'x'" on 5.5)
      if line:find("lualchemy/busted/core.lua", 1, true) or line:find("in %a+ 'xpcall'") then break end
      if not (line:find("lualchemy/busted/", 1, true) or line:find("in %a+ 'error'") or line == "") then
        lines[#lines + 1] = line
      end
    end
    if lines[#lines] and lines[#lines]:find("tail calls", 1, true) then lines[#lines] = nil end
    trace = table.concat(lines, "\n")
    local last = rawget(luassert, "_last_failure")
    local failure = type(last) == "string" and type(e) == "string" and #e >= #last and e:sub(-#last) == last
    return { err = e, trace = trace, failure = failure }
    end)
    if not ok then return { err = e, trace = "" } end
    return r
  end
end

function Runner:protect(fn, ...)
  local args = { n = select("#", ...), ... }
  luassert._last_failure = nil
  local ok, c = xpcall(function() return fn(unpack(args, 1, args.n)) end, self:handler_fn())
  if ok then return true end
  if type(c) ~= "table" or c.trace == nil then c = { err = c, trace = "" } end
  return false, c
end

-- The public API of a run: the globals a spec sees and `require("busted")`.
function Runner:make_api()
  local runner = self
  local api = {}

  local function collecting(what)
    if runner.running then
      error("'" .. what .. "' cannot be used inside a running test", 3)
    end
    if not runner.current then error("'" .. what .. "' used outside a spec file", 3) end
    return runner.current
  end

  local function add_block(kind, name, fn)
    local parent = collecting(kind)
    if type(name) == "function" and fn == nil then name, fn = nil, name end
    if type(fn) ~= "function" then
      error(kind .. " '" .. tostring(name) .. "': expected a function, got " .. type(fn), 3)
    end
    local line = caller_line(3)
    local b = new_block(kind, name ~= nil and tostring(name) or nil, parent, fn, line)
    parent.children[#parent.children + 1] = b
    return b
  end

  function api.describe(name, fn) add_block("describe", name, fn) end
  api.context = api.describe
  function api.insulate(name, fn) add_block("insulate", name, fn) end
  function api.expose(name, fn) add_block("expose", name, fn) end

  local function add_test(kind, name, fn, level)
    local parent = collecting(kind)
    if fn ~= nil and type(fn) ~= "function" then
      error(kind .. " '" .. tostring(name) .. "': expected a function, got " .. type(fn), level)
    end
    local t = new_block(fn and "it" or "pending", tostring(name), parent, fn, caller_line(level))
    parent.children[#parent.children + 1] = t
  end

  function api.it(name, fn) add_test("it", name, fn, 3) end
  api.spec, api.test = api.it, api.it

  function api.pending(name, fn)
    if runner.running then
      -- inside a test: the test ends as pending, its message where pending was called
      local line, src = caller_line(2)
      local msg = (src and (src .. ":" .. tostring(line) .. ": ") or "") .. tostring(name)
      error(setmetatable({ pending = true, message = msg }, { __tostring = function() return msg end }), 2)
    end
    local parent = collecting("pending")
    local t = new_block("pending", tostring(name), parent, nil, caller_line(2))
    t.body = fn
    parent.children[#parent.children + 1] = t
  end

  -- kind: the list it goes in; name: as the spec called it (failures show it)
  local function hook(kind, name)
    return function(fn)
      local b = collecting(name)
      if type(fn) ~= "function" then error(name .. ": expected a function, got " .. type(fn), 2) end
      local list = b.hooks[kind]
      list[#list + 1] = { fn = fn, line = caller_line(2), name = name }
    end
  end
  for _, k in ipairs({ "strict_setup", "lazy_setup", "strict_teardown", "lazy_teardown",
                       "before_each", "after_each" }) do
    api[k] = hook(k, k)
  end
  local lazy = runner.opts.lazy
  api.setup = hook(lazy and "lazy_setup" or "strict_setup", "setup")
  api.teardown = hook(lazy and "lazy_teardown" or "strict_teardown", "teardown")

  function api.finally(fn)
    local t = runner.running
    if not t then error("'finally' can only be used inside a test", 2) end
    t.finally = t.finally or {}
    t.finally[#t.finally + 1] = fn
  end

  function api.randomize(on)
    local b = collecting("randomize")
    b.randomize = (on == nil) or on
  end

  api.assert = luassert
  api.spy, api.stub, api.mock, api.match = mocks.spy, mocks.stub, mocks.mock, mocks.match
  function api.fail(msg) error(msg, 2) end
  -- busted.subscribe / publish exist for plugins; runs here have no event bus
  function api.subscribe() end
  function api.publish() end
  return api
end

-- Tests selected by --tags / --exclude-tags / --filter / --filter-out.
function Runner:selected(test)
  local o = self.opts
  local name = full_name(test)
  local tags = {}
  local n = test
  while n do
    for _, t in ipairs(n.tags or {}) do tags[t] = true end
    n = n.parent
  end
  if o.tags and #o.tags > 0 then
    local any = false
    for _, t in ipairs(o.tags) do if tags[t] then any = true end end
    if not any then return false end
  end
  for _, t in ipairs(o.exclude_tags or {}) do if tags[t] then return false end end
  if o.filter and #o.filter > 0 then
    local any = false
    for _, p in ipairs(o.filter) do if name:find(p) then any = true end end
    if not any then return false end
  end
  for _, p in ipairs(o.filter_out or {}) do if name:find(p) then return false end end
  return true
end

function Runner:report(node, status, info)
  self.counts[status] = self.counts[status] + 1
  if (status == "failure" or status == "error") and self.opts.no_keep_going then self.stopped = true end
  if node.kind == "it" or node.kind == "pending" then
    self.handler.test_end(node, status, info)
  else
    self.handler.error(node, status, info)
  end
end

local function failure_info(node, c)
  local pending = type(c.err) == "table" and getmetatable(c.err) and c.err.pending
  return {
    message = pending and c.err.message or error_text(c.err),
    trace = c.trace,
    status = pending and "pending" or (c.failure and "failure" or "error"),
    file = node.file and node.file.name,
    line = node.line,
  }
end

-- Runs the hooks of `kind` of one block; returns false and the info of the first error.
function Runner:run_hooks(block, kind, reverse)
  local list = block.hooks[kind]
  local from, to, step = 1, #list, 1
  if reverse then from, to, step = #list, 1, -1 end
  for i = from, to, step do
    set_env(list[i].fn, env_of(block))
    local ok, c = self:protect(list[i].fn)
    if not ok then
      c.hook = { kind = "hook", name = list[i].name, parent = block, file = block.file, line = list[i].line }
      return false, c, list[i].line
    end
  end
  return true
end

-- A failure in a hook: shown as "<block names> <hook>" at the hook's line.
function Runner:report_hook(c, in_test)
  local node = c.hook
  local info = failure_info(node, c)
  info.line = node.line
  info.in_test = in_test
  self:report(node, info.status == "failure" and "failure" or "error", info)
end

local function ancestors(node) -- outermost first, the node's parent last
  local chain = {}
  local b = node.parent
  while b do table.insert(chain, 1, b); b = b.parent end
  return chain
end

-- A lazy_setup of an ancestor that has not run yet runs before the first test under it.
function Runner:ensure_lazy_setup(chain)
  for _, b in ipairs(chain) do
    if not b.lazy_done then
      -- the block has run a test: its lazy_teardown hooks will run
      b.lazy_done = true
      local ok, c, line = self:run_hooks(b, "lazy_setup")
      if not ok then
        b.setup_failed = { c = c, line = line }
        self:report_hook(c)
      end
    end
    if b.setup_failed then return false end
  end
  return true
end

function Runner:run_test(t)
  if t.kind == "pending" then
    self:report(t, "pending", { file = t.file.name, line = t.line, message = nil })
    return
  end
  local chain = ancestors(t)
  if not self:ensure_lazy_setup(chain) then return end
  local snap = luassert:snapshot()
  local mark = self.opts.scope and self.opts.scope.enter()
  self.running = t
  local t0 = os.clock()
  local ok, c = true, nil
  for _, b in ipairs(chain) do
    if ok then
      local hok, hc = self:run_hooks(b, "before_each")
      if not hok then ok, c = false, hc end
    end
  end
  if ok then
    set_env(t.fn, env_of(t))
    ok, c = self:protect(t.fn)
  end
  -- the test's `finally` functions, then after_each inner first
  for _, f in ipairs(t.finally or {}) do
    set_env(f, env_of(t))
    local fok, fc = self:protect(f)
    if ok and not fok then ok, c = false, fc end
  end
  t.finally = nil
  for i = #chain, 1, -1 do
    local hok, hc = self:run_hooks(chain[i], "after_each")
    if ok and not hok then ok, c = false, hc end
  end
  self.running = nil
  snap.revert()
  if mark then self.opts.scope.leave(mark) end
  local info = { file = t.file.name, line = t.line, duration = os.clock() - t0 }
  if ok then
    self:report(t, "success", info)
  elseif c.hook then
    self:report_hook(c, true)
  else
    local fi = failure_info(t, c)
    fi.duration = info.duration
    self:report(t, fi.status, fi)
  end
end

local function shuffle(list, rnd)
  for i = #list, 2, -1 do
    local j = rnd(i)
    list[i], list[j] = list[j], list[i]
  end
end

-- Runs a block: its body (which registers its children, unless it fails), then the
-- children and hooks; a file or insulate block gets its globals and modules put back.
function Runner:run_block(b)
  if self.stopped then return end
  local insulated = b.kind == "insulate" or b.kind == "file"
  local env_snap
  if insulated then
    env_snap = snapshot_env()
    self.insulation[#self.insulation + 1] = env_snap
  end
  local expose_snap = b.kind == "expose" and snapshot_env() or nil
  local assert_snap = luassert:snapshot()
  -- collect: the body registers the block's children
  local body_ok = true
  if b.fn then
    local prev = self.current
    self.current = b
    set_env(b.fn, env_of(b))
    local ok, c = self:protect(b.fn)
    self.current = prev
    if not ok then
      -- the block's tests do not run
      body_ok = false
      local info = failure_info(b, c)
      if b.kind == "file" then
        info.line = tonumber(tostring(info.message):match(":(%d+):"))
      end
      self:report(b, info.status == "failure" and "failure" or "error", info)
    end
  end
  if not body_ok then
    -- nothing else to run
  elseif self.opts.list then
    self:list_block(b)
  else
    self:execute_children(b)
  end
  assert_snap.revert()
  if expose_snap then expose_changes(expose_snap, self.insulation) end
  if insulated then
    self.insulation[#self.insulation] = nil
    restore_env(env_snap)
  end
end

function Runner:execute_children(b)
  local ok, c = self:run_hooks(b, "strict_setup")
  if not ok then
    self:report_hook(c)
  else
    local children = b.children
    if self.opts.shuffle or b.randomize then
      children = { unpack(children) }
      shuffle(children, self.rnd)
    end
    for _, child in ipairs(children) do
      if self.stopped then break end
      if child.kind == "it" or child.kind == "pending" then
        if self:selected(child) then self:run_test(child) end
      else
        self:run_block(child)
      end
    end
  end
  if b.lazy_done and not b.setup_failed then
    local tok, tc = self:run_hooks(b, "lazy_teardown")
    if not tok then self:report_hook(tc) end
  end
  local tok, tc = self:run_hooks(b, "strict_teardown")
  if not tok then self:report_hook(tc) end
end

function Runner:list_block(b)
  for _, child in ipairs(b.children) do
    if child.kind == "it" or child.kind == "pending" then
      if self:selected(child) then
        self.opts.print(child.file.name .. ":" .. tostring(child.line) .. ": " .. full_name(child))
      end
    else
      self:run_block(child)
    end
  end
end

-- file: { name = path shown, load = function() -> chunk | nil, err }
function Runner:run_file(file, chunk)
  local node = new_block("file", file.name, nil, nil, nil)
  node.file = node
  node.fn = chunk
  local mark = self.opts.scope and self.opts.scope.enter()
  if self.handler.file_start then self.handler.file_start(file.name) end
  self:run_block(node)
  if self.handler.file_end then self.handler.file_end(file.name) end
  if mark then self.opts.scope.leave(mark) end
end

-- Runs the files; returns the counts { success, failure, error, pending }.
function Runner:run(files)
  math.randomseed(self.seed)
  self.rnd = function(n) return math.random(n) end
  if self.opts.shuffle then
    files = { unpack(files) }
    shuffle(files, self.rnd)
  end
  -- the busted API is visible as globals for the whole run
  for k, v in pairs(self.api) do rawset(_G, k, v) end
  package.loaded["busted"] = self.api
  -- every file is loaded first (busted reports files that do not compile before running)
  local chunks = {}
  for i, f in ipairs(files) do
    local chunk, err = f.load()
    chunks[i] = chunk
    if not chunk then
      local node = new_block("file", f.name, nil, nil, nil)
      node.file = node
      self:report(node, "error", { file = f.name, where = error_text(err), trace = "" })
    end
  end
  for i, f in ipairs(files) do
    if self.stopped then break end
    if chunks[i] then self:run_file(f, chunks[i]) end
  end
  return self.counts
end

return M

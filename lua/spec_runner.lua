-- spec_runner.lua: `lualchemy test`, busted 2's command line over the runner in
-- lua/busted/ (core.lua: the describe / it tree; luassert.lua, mocks.lua, say.lua: the
-- assertion language; output.lua: the output handlers).
--
--   local M = <this chunk>(host)
--   M.main(args) -> exit code      busted's options and .busted tasks
--   M.run(files, opts) -> passed, failed, pending   (the Rust host's own suite runner)
--
-- host: { walk = fn(dir) -> sorted list of file paths under dir, kind = fn(path) ->
-- "file" | "directory" | nil, isatty = boolean, exe = the binary's path, scope = the
-- database scope of --db } from host/src/spec.rs.

local host = ...
local output = require("lualchemy.busted.output")
local core = require("lualchemy.busted.core")

local M = {}

local function split_list(v)
  if v == nil then return {} end
  if type(v) == "table" then
    local out = {}
    for _, x in ipairs(v) do
      for _, y in ipairs(split_list(x)) do out[#out + 1] = y end
    end
    return out
  end
  local out = {}
  for item in tostring(v):gmatch("[^,]+") do
    local part = item:match("^%s*(.-)%s*$") -- a new local: Lua 5.5's loop variables are constant
    if part ~= "" then out[#out + 1] = part end
  end
  return out
end

-- Helpers the project's own specs use (SQLite temp files, several databases) -----------

local function tmp_db_path()
  local path = os.tmpname()
  os.remove(path)
  return path
end

local function remove_db(path)
  for _, suffix in ipairs({ "", "-wal", "-shm", "-journal" }) do os.remove(path .. suffix) end
end

-- SQL text in SQLite's spelling: `$1` placeholders as `?`, backquoted names double-quoted.
local function generic_sql(sql) return (sql:gsub("%$%d+", "?"):gsub("`", '"')) end

-- The entry of `t` for the dialect the specs run on (SPEC_DIALECT); `mariadb` falls back to
-- `mysql`. A missing entry is an error: every dialect's expectation is stated.
local function for_dialect(t)
  local v = t[SPEC_DIALECT]
  if v == nil and SPEC_DIALECT == "mariadb" then v = t.mysql end
  assert(v ~= nil, "no expectation for dialect " .. tostring(SPEC_DIALECT))
  return v
end

local function install_project_helpers()
  rawset(_G, "tmp_db_path", tmp_db_path)
  rawset(_G, "remove_db", remove_db)
  rawset(_G, "generic_sql", generic_sql)
  rawset(_G, "for_dialect", for_dialect)
  if rawget(_G, "SPEC_DIALECT") == nil then rawset(_G, "SPEC_DIALECT", "sqlite") end
end

-- Options ---------------------------------------------------------------------------

-- busted's options: name -> { key, takes a value, repeatable }
local OPTIONS = {
  ["lpath"] = { "lpath", true }, ["m"] = { "lpath", true },
  ["cpath"] = { "cpath", true },
  ["pattern"] = { "pattern", true, true }, ["p"] = { "pattern", true, true },
  ["exclude-pattern"] = { "exclude_pattern", true, true },
  ["tags"] = { "tags", true, true }, ["t"] = { "tags", true, true },
  ["exclude-tags"] = { "exclude_tags", true, true },
  ["filter"] = { "filter", true, true },
  ["filter-out"] = { "filter_out", true, true },
  ["output"] = { "output", true }, ["o"] = { "output", true },
  ["helper"] = { "helper", true },
  ["run"] = { "run", true }, ["r"] = { "run", true },
  ["seed"] = { "seed", true },
  ["config-file"] = { "config_file", true }, ["f"] = { "config_file", true },
  -- -C DIR: the host changes directory before this runs
  ["directory"] = { "directory", true }, ["C"] = { "directory", true },
  ["loaders"] = { "loaders", true },
  ["lang"] = { "lang", true },
  ["Xoutput"] = { "xoutput", true, true }, ["Xhelper"] = { "xhelper", true, true },
  ["shuffle"] = { "shuffle" }, ["shuffle-files"] = { "shuffle" }, ["shuffle-tests"] = { "shuffle" },
  ["sort"] = { "sort" }, ["sort-files"] = { "sort" }, ["sort-tests"] = { "sort" },
  ["verbose"] = { "verbose" }, ["v"] = { "verbose" },
  ["list"] = { "list" }, ["l"] = { "list" },
  ["no-keep-going"] = { "no_keep_going" }, ["keep-going"] = { "keep_going" },
  ["lazy"] = { "lazy" }, ["no-lazy"] = { "no_lazy" },
  ["auto-insulate"] = { "auto_insulate" }, ["no-auto-insulate"] = { "no_auto_insulate" },
  ["recursive"] = { "recursive" }, ["no-recursive"] = { "no_recursive" },
  ["coverage"] = { "coverage" }, ["c"] = { "coverage" }, ["no-coverage"] = { "no_coverage" },
  ["suppress-pending"] = { "suppress_pending" }, ["defer-print"] = { "defer_print" },
  ["ignore-lua"] = { "ignore_lua" }, ["enable-sound"] = { "sound" }, ["s"] = { "sound" },
  ["exit"] = { "exit" }, ["e"] = { "exit" }, ["no-color"] = { "no_color" },
}

local USAGE = [[
Usage: lualchemy test [OPTIONS] [ROOT...]
busted 2's options (a .busted file in the current directory gives defaults):
  -p, --pattern=PAT       spec file names to run (Lua pattern, default _spec)
      --exclude-pattern=PAT   spec file names to skip
  -t, --tags=TAGS         only tests with one of these #tags (comma-separated)
      --exclude-tags=TAGS skip tests with one of these tags
      --filter=PAT        only tests whose full name matches (repeatable)
      --filter-out=PAT    skip tests whose full name matches
  -o, --output=NAME       utfTerminal (default), plainTerminal, TAP, json, junit, gtest
  -m, --lpath=PATH        prepended to package.path (default ./src/?.lua;./src/?/?.lua;./src/?/init.lua)
      --cpath=PATH        prepended to package.cpath
      --helper=FILE       a Lua file run before the specs
  -r, --run=TASK          the .busted task to use (default: default)
      --shuffle, --seed=N run files and tests in random order
      --lazy              setup/teardown are lazy_setup/lazy_teardown
  -C, --directory=DIR     run from DIR
  -f, --config-file=FILE  the task file instead of ./.busted
  -v, --verbose           tracebacks on failures
  -l, --list              list the tests instead of running them
      --no-keep-going     stop at the first failure or error
      --db=URL            (lualchemy) run the project specs on a database server]]

-- Parses busted's command line into { key = value, roots = {...} }.
function M.parse_args(args)
  local o, roots = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value
    if a == "--" then
      for j = i + 1, #args do roots[#roots + 1] = args[j] end
      break
    elseif a:sub(1, 2) == "--" then
      name, value = a:match("^%-%-([^=]+)=(.*)$")
      if not name then name = a:sub(3) end
    elseif a:sub(1, 1) == "-" and #a > 1 then
      name = a:sub(2, 2)
      if #a > 2 then value = a:sub(3) end
    else
      roots[#roots + 1] = a
    end
    if name then
      if name == "h" or name == "help" then return nil, USAGE, true end
      if name == "version" then return nil, "busted 2.1.1 (lualchemy test)", true end
      local spec = OPTIONS[name]
      if not spec then return nil, "unknown option '" .. a .. "'\n" .. USAGE end
      local key, takes, repeatable = spec[1], spec[2], spec[3]
      if takes then
        if value == nil then
          i = i + 1
          value = args[i]
          if value == nil then return nil, "option '" .. a .. "' needs a value" end
        end
        if repeatable then
          o[key] = o[key] or {}
          local list = o[key]
          list[#list + 1] = value
        else
          o[key] = value
        end
      else
        if value ~= nil then return nil, "option '--" .. name .. "' takes no value" end
        o[key] = true
      end
    end
    i = i + 1
  end
  if #roots > 0 then o.roots = roots end
  return o
end

-- A .busted task's settings in the parsed options' shape.
local function task_options(task)
  local o = {}
  for k, v in pairs(task) do
    local spec = OPTIONS[k]
    if k == "ROOT" then
      o.roots = type(v) == "table" and v or { v }
    elseif spec then
      local key, takes, repeatable = spec[1], spec[2], spec[3]
      if takes and repeatable then o[key] = type(v) == "table" and v or { v }
      else o[key] = v end
    end
  end
  return o
end

local function read_config(path, run)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  local ok, tasks = pcall(chunk)
  if not ok then return nil, path .. ": " .. tostring(tasks) end
  if type(tasks) ~= "table" then return nil, path .. ": expected a table of tasks" end
  -- as busted 2.1 does: the `_all` task's settings, then the task --run NAME names (its
  -- settings instead of the default's)
  local merged = task_options(type(tasks._all) == "table" and tasks._all or {})
  local task = tasks.default or {}
  if run then
    if type(tasks[run]) ~= "table" then return nil, "task '" .. run .. "' not found in " .. path end
    task = tasks[run]
  end
  for k, v in pairs(task_options(task)) do merged[k] = v end
  return merged
end

local function basename(path) return (path:match("([^/\\]+)$")) or path end

local function matches_any(s, patterns)
  for _, p in ipairs(patterns) do
    if s:find(p) then return true end
  end
  return false
end

-- The spec files under the roots: files given as is, directories searched for file
-- names matching a pattern (and no exclude pattern) ending in .lua.
local function collect(roots, patterns, excludes)
  local files = {}
  for _, root in ipairs(roots) do
    local kind = host.kind(root)
    if kind == "file" then
      files[#files + 1] = root
    elseif kind == "directory" then
      for _, f in ipairs(host.walk(root)) do
        local b = basename(f)
        if f:match("%.lua$") and matches_any((b:gsub("%.lua$", "")), patterns) and
           not matches_any((b:gsub("%.lua$", "")), excludes) then
          files[#files + 1] = (f:gsub("^%./", ""))
        end
      end
    else
      return nil, "cannot find " .. root
    end
  end
  return files
end

-- Output goes through io.write, as busted's does, so that it keeps its place among what the
-- specs print; flushed, so that progress shows as it happens.
local function printer()
  local function write(s)
    io.write(s)
    io.flush()
  end
  return function(s) write(s .. "\n") end, write
end

-- Runs files (paths) with opts (parsed options); returns the counts.
local function run_files(paths, o)
  local print_line, write = o.print or select(1, printer()), o.write or select(2, printer())
  -- busted's default: utfTerminal on a terminal, plainTerminal otherwise
  local default = (host and host.isatty) and "utfTerminal" or "plainTerminal"
  local handler = output.new(o.output or default, {
    print = print_line, write = write, verbose = o.verbose,
    color = host and host.isatty and not o.no_color,
  })
  local runner = core.new({
    handler = handler, tags = split_list(o.tags), exclude_tags = split_list(o.exclude_tags),
    filter = o.filter, filter_out = o.filter_out, shuffle = o.shuffle,
    seed = tonumber(o.seed), list = o.list, no_keep_going = o.no_keep_going,
    lazy = o.lazy, scope = o.scope, print = print_line,
  })
  local files = {}
  for i, p in ipairs(paths) do
    files[i] = { name = p, load = function() return loadfile(p) end }
  end
  local t0 = os.clock()
  local counts = runner:run(files)
  if not o.list then handler.finish(counts, os.clock() - t0) end
  return counts
end

local DEFAULT_LPATH = "./src/?.lua;./src/?/?.lua;./src/?/init.lua"
local DEFAULT_CPATH = "./csrc/?.so;./csrc/?/?.so"
-- pure-Lua modules a distribution installs (Debian's lua5.x searches these too)
local LUA_VERSION = _VERSION:match("%d+%.%d+") or "5.4"
local SYSTEM_LPATH = ";/usr/share/lua/" .. LUA_VERSION .. "/?.lua;/usr/share/lua/" .. LUA_VERSION .. "/?/init.lua"

--- `lualchemy test ARGS`: returns the exit code (1 when a test failed or errored).
function M.main(args)
  -- `arg` as a script sees it: the interpreter at -1 (specs that re-run Lua use it)
  local a = { [-1] = host.exe, [0] = "test" }
  for i, v in ipairs(args) do a[i] = v end
  rawset(_G, "arg", a)
  local cli, err, help = M.parse_args(args)
  if not cli then
    io.stderr:write(err .. "\n")
    return help and 0 or 1
  end
  local o = {}
  local config_path = cli.config_file or ".busted"
  if host.kind(config_path) == "file" then
    local conf, cerr = read_config(config_path, cli.run)
    if not conf then
      io.stderr:write("lualchemy test: " .. tostring(cerr) .. "\n")
      return 1
    end
    for k, v in pairs(conf) do o[k] = v end
  elseif cli.run then
    io.stderr:write("lualchemy test: --run " .. cli.run .. ": no .busted file\n")
    return 1
  end
  for k, v in pairs(cli) do o[k] = v end
  if o.keep_going then o.no_keep_going = nil end
  o.scope = host.scope
  if o.no_lazy then o.lazy = nil end
  package.path = (o.lpath or DEFAULT_LPATH) .. ";" .. package.path .. SYSTEM_LPATH
  package.cpath = (o.cpath or DEFAULT_CPATH) .. ";" .. package.cpath
  install_project_helpers()
  if o.helper then
    local chunk, herr = loadfile(o.helper)
    if not chunk then
      io.stderr:write("lualchemy test: helper: " .. tostring(herr) .. "\n")
      return 1
    end
    local ok, perr = pcall(chunk, o.xhelper and (unpack or table.unpack)(o.xhelper))
    if not ok then
      io.stderr:write("lualchemy test: helper " .. o.helper .. ": " .. tostring(perr) .. "\n")
      return 1
    end
  end
  local files, ferr = collect(o.roots or { "spec" }, o.pattern or { "_spec" }, o.exclude_pattern or {})
  if not files then
    io.stderr:write("lualchemy test: " .. ferr .. "\n")
    return 1
  end
  local ok, result = pcall(run_files, files, o)
  if not ok then
    io.stderr:write("lualchemy test: " .. tostring(result) .. "\n")
    return 1
  end
  -- busted 2.1's exit code: 1 when a test failed or errored
  return (result.failure + result.error > 0) and 1 or 0
end

--- Runs the given spec files (the Rust host's own suite): opts.filter, opts.verbose,
--- opts.scope, opts.output. Returns passed, failed (failures + errors), pending.
function M.run(paths, opts)
  opts = opts or {}
  install_project_helpers()
  local o = {
    filter = opts.filter and { opts.filter } or nil, verbose = opts.verbose,
    scope = opts.scope, output = opts.output or "plainTerminal", print = opts.print,
  }
  local counts = run_files(paths, o)
  return counts.success, counts.failure + counts.error, counts.pending
end

return M

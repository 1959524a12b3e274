-- busted's output handlers: utfTerminal (default), plainTerminal, TAP, json, junit, gtest.
--
-- M.new(name, opts) -> handler with test_end(test, status, info), error(node, status,
-- info) and finish(counts, duration). opts.print writes a line, opts.write writes
-- without a newline, opts.verbose adds tracebacks, opts.color colours the terminal ones.

local core = require("lualchemy.busted.core")

local M = {}

local function where(info)
  if info.where then return info.where end -- a file that does not compile: its error
  return tostring(info.file or "?") .. " @ " .. tostring(info.line or "?")
end

local function plural(n, one, many) return n .. " " .. (n == 1 and one or many) end

local function element_name(node)
  local name = core.full_name(node)
  if node.kind ~= "it" and node.kind ~= "pending" then
    if node.kind == "file" then
      -- busted's names: a file that does not compile by its path, one that fails running
      -- as "suite <path>"
      return node.fn and ("suite " .. node.name) or node.name
    end
    if node.kind == "hook" then
      local outer = core.full_name(node.parent)
      return (outer ~= "" and (outer .. " ") or "") .. node.name
    end
    return name ~= "" and name or (node.file and node.file.name or "?")
  end
  return name
end

-- Collects results for the handlers that print at the end.
local function collector()
  local r = { success = {}, failure = {}, error = {}, pending = {}, all = {} }
  function r.add(node, status, info)
    local e = { node = node, status = status, info = info, name = element_name(node) }
    local list = r[status]
    list[#list + 1] = e
    r.all[#r.all + 1] = e
    return e
  end
  return r
end

local function message_of(e)
  return e.info.message ~= nil and tostring(e.info.message) or ""
end

-- Terminal handlers ----------------------------------------------------------

local function terminal(opts, utf)
  local color = utf and opts.color -- plainTerminal never colours
  local function paint(code, s) return color and ("\27[" .. code .. "m" .. s .. "\27[0m") or s end
  local marks = utf and {
    success = paint("32", "●"), failure = paint("31", "◼"), error = paint("35", "✱"), pending = paint("33", "◌"),
  } or { success = "+", failure = "-", error = "*", pending = "." }
  local arrow = utf and "→" or "->"
  local r = collector()
  local h = {}
  local function describe_entry(e, label, code)
    local at = e.info.where or (paint("36", tostring(e.info.file or "?")) .. " @ " .. paint("36", tostring(e.info.line or "?")))
    local lines = { paint(code, label) .. " " .. arrow .. " " .. at }
    lines[#lines + 1] = paint("1", e.name)
    local msg = message_of(e)
    if msg ~= "" then lines[#lines + 1] = msg end
    if opts.verbose and e.info.trace and e.info.trace ~= "" and label ~= "Pending" then
      lines[#lines + 1] = "\n" .. e.info.trace .. "\n"
    end
    return table.concat(lines, "\n")
  end
  function h.test_end(node, status, info)
    r.add(node, status, info)
    opts.write(marks[status])
  end
  function h.error(node, status, info)
    r.add(node, status, info)
    -- marks for what failed in a test's hooks or while a file ran, as busted prints them
    if info.in_test or (node.kind == "file" and node.fn) then opts.write(marks[status]) end
  end
  function h.finish(counts, duration)
    opts.write("\n")
    local function count(n, one, many, code) return paint(code, tostring(n)) .. " " .. (n == 1 and one or many) end
    opts.print(count(counts.success, "success", "successes", "32") .. " / " ..
      count(counts.failure, "failure", "failures", "31") .. " / " ..
      count(counts.error, "error", "errors", "35") .. " / " ..
      count(counts.pending, "pending", "pending", "33") .. " : " ..
      paint("1", string.format("%.6f", duration)) .. " seconds")
    for _, e in ipairs(r.pending) do opts.print("\n" .. describe_entry(e, "Pending", "33")) end
    for _, e in ipairs(r.failure) do opts.print("\n" .. describe_entry(e, "Failure", "31")) end
    for _, e in ipairs(r.error) do opts.print("\n" .. describe_entry(e, "Error", "35")) end
  end
  return h
end

M.utfTerminal = function(opts) return terminal(opts, true) end
M.plainTerminal = function(opts) return terminal(opts, false) end

-- TAP --------------------------------------------------------------------------

M.TAP = function(opts)
  local h, count = {}, 0
  -- each result as it comes, the plan last (as busted prints it)
  local function report(node, status, info)
    count = count + 1
    local name = element_name(node)
    if status == "success" then
      opts.print("ok " .. count .. " - " .. name)
    elseif status == "pending" then
      opts.print("ok " .. count .. " - # SKIP " .. name)
    else
      opts.print("not ok " .. count .. " - " .. name)
      opts.print("# " .. where(info))
      local msg = info.message ~= nil and tostring(info.message) or ""
      for line in ("Failure message: " .. msg .. "\n"):gmatch("(.-)\n") do
        opts.print("# " .. line)
      end
      if opts.verbose and info.trace and info.trace ~= "" then
        for line in (info.trace .. "\n"):gmatch("(.-)\n") do opts.print("# " .. line) end
      end
    end
  end
  h.test_end, h.error = report, report
  function h.finish() opts.print("1.." .. count) end
  return h
end

-- JSON -------------------------------------------------------------------------

local function json(v)
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.14g", v)
  end
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      local map = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
      return map[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  if t == "table" then
    if rawget(v, 1) ~= nil or next(v) == nil and getmetatable(v) == "array" then
      local parts = {}
      for i = 1, #v do parts[i] = json(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = json(k) .. ":" .. json(v[k]) end
    if #parts == 0 then return "[]" end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return json(tostring(v))
end
M.json_encode = json

M.json = function(opts)
  local r = collector()
  local h = {}
  function h.test_end(node, status, info) r.add(node, status, info) end
  function h.error(node, status, info) r.add(node, status, info) end
  function h.finish(_, duration)
    -- busted's shape: the full name, the element (its own name, descriptor, duration,
    -- attributes, where it was declared) and, for failures and errors, the message and
    -- where it was raised
    local function entries(list)
      local out = {}
      for i, e in ipairs(list) do
        local node = e.node
        local declared = {
          source = "@" .. tostring(e.info.file), short_src = e.info.file,
          currentline = node.line, message = node.name, what = "Lua",
        }
        local entry = {
          name = e.name,
          element = {
            name = node.name, descriptor = node.kind == "pending" and "pending" or node.kind,
            duration = e.info.duration or 0, attributes = {}, trace = declared,
          },
          trace = declared,
        }
        if e.status == "failure" or e.status == "error" then
          entry.message = message_of(e)
          entry.isError = e.status == "error"
          entry.trace = {
            source = declared.source, short_src = declared.short_src, what = "Lua",
            currentline = tonumber(entry.message:match(":(%d+):")) or node.line,
            message = entry.message,
            traceback = e.info.trace ~= nil and ("\n" .. e.info.trace .. "\n") or nil,
          }
        end
        out[i] = entry
      end
      return out
    end
    opts.print(json({
      successes = entries(r.success), failures = entries(r.failure),
      errors = entries(r.error), pendings = entries(r.pending), duration = duration,
    }))
  end
  return h
end

-- JUnit XML ----------------------------------------------------------------------

local function xml(s)
  return (tostring(s):gsub("[<>&\"']", { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;", ["'"] = "&apos;" }))
end

M.junit = function(opts)
  local r = collector()
  local h = {}
  function h.test_end(node, status, info) r.add(node, status, info) end
  function h.error(node, status, info) r.add(node, status, info) end
  function h.finish(counts, duration)
    local stamp = os.date("!%Y-%m-%dT%H:%M:%S")
    local attrs = string.format("tests='%d' failures='%d' errors='%d' skip='%d' time='%.2f'",
      #r.all, counts.failure, counts.error, counts.pending, duration)
    opts.print("<testsuites " .. attrs .. ">")
    opts.print("\t<testsuite name='Run 1 of 1' " .. attrs .. " timestamp='" .. stamp .. "'>")
    for _, e in ipairs(r.all) do
      local open = string.format("\t\t<testcase classname='%s:%s' name='%s' time='%.2f'",
        xml(e.info.file or ""), xml(e.info.line or ""), xml(e.name), e.info.duration or 0)
      if e.status == "success" then
        opts.print(open .. "/>")
      else
        opts.print(open .. ">")
        if e.status == "pending" then
          opts.print("\t\t\t<skipped/>")
        else
          local tag = e.status == "failure" and "failure" or "error"
          local text = message_of(e)
          if e.info.trace and e.info.trace ~= "" then text = text .. "\n" .. e.info.trace .. "\n" end
          opts.print("\t\t\t<" .. tag .. ">" .. xml(text) .. "</" .. tag .. ">")
        end
        opts.print("\t\t</testcase>")
      end
    end
    opts.print("\t</testsuite>")
    opts.print("</testsuites>")
  end
  return h
end

-- gtest --------------------------------------------------------------------------

M.gtest = function(opts)
  local r = collector()
  local h = {}
  -- the bracketed tags coloured on a terminal: green, red for failures and errors,
  -- yellow for skipped tests
  local function tag(text)
    if not opts.color then return text end
    local code = "32"
    if text:find("FAILED") or text:find("ERROR") then code = "31" elseif text:find("SKIPPED") then code = "33" end
    return "\27[" .. code .. "m" .. text .. "\27[0m"
  end
  local status_text = { success = tag("[       OK ]"), failure = tag("[  FAILED  ]"), error = tag("[  ERROR   ]"),
                        pending = tag("[ SKIPPED  ]") }
  local files, file_count, file_t0 = 0, 0, 0
  local function ms(seconds) return string.format("%.2f ms", seconds * 1000) end
  local tests, started = 0, false
  local function start()
    if started then return end
    started = true
    opts.print(tag("[==========]") .. " Running tests from scanned files.")
    opts.print(tag("[----------]") .. " Global test environment setup.")
  end
  function h.file_start(name)
    start()
    files, file_count, file_t0 = files + 1, 0, os.clock()
    opts.print(tag("[----------]") .. " Running tests from " .. name)
  end
  function h.file_end(name)
    opts.print(tag("[----------]") .. " " .. plural(file_count, "test", "tests") .. " from " .. name ..
      " (" .. ms(os.clock() - file_t0) .. " total)")
    opts.print("")
  end
  function h.test_end(node, status, info)
    local e = r.add(node, status, info)
    file_count, tests = file_count + 1, tests + 1
    opts.print(tag("[ RUN      ]") .. " " .. where(info) .. ": " .. e.name)
    if status == "failure" or status == "error" then
      opts.print(message_of(e))
      if opts.verbose and info.trace and info.trace ~= "" then opts.print(info.trace) end
    end
    opts.print(status_text[status] .. " " .. where(info) .. ": " .. e.name .. " (" .. ms(info.duration or 0) .. ")")
  end
  -- errors outside tests: their message (a file that does not compile: before the header)
  function h.error(node, status, info)
    local e = r.add(node, status, info)
    opts.print(info.where or message_of(e))
  end
  function h.finish(counts, duration)
    start()
    opts.print(tag("[----------]") .. " Global test environment teardown.")
    opts.print(tag("[==========]") .. " " .. plural(tests, "test", "tests") .. " from " ..
      plural(files, "test file", "test files") .. " ran. (" .. ms(duration) .. " total)")
    opts.print(tag("[  PASSED  ]") .. " " .. plural(counts.success, "test", "tests") .. ".")
    local function list(label, entries, one, many)
      if #entries == 0 then return end
      opts.print(tag(label) .. " " .. plural(#entries, one, many) .. ", listed below:")
      for _, e in ipairs(entries) do opts.print(tag(label) .. " " .. where(e.info) .. ": " .. e.name) end
    end
    list("[ SKIPPED  ]", r.pending, "test", "tests")
    list("[  FAILED  ]", r.failure, "test", "tests")
    list("[  ERROR   ]", r.error, "error", "errors")
    if #r.pending + #r.failure + #r.error > 0 then
      opts.print("")
      if #r.pending > 0 then opts.print(" " .. plural(#r.pending, "SKIPPED TEST", "SKIPPED TESTS")) end
      if #r.failure > 0 then opts.print(" " .. plural(#r.failure, "FAILED TEST", "FAILED TESTS")) end
      if #r.error > 0 then opts.print(" " .. plural(#r.error, "ERROR", "ERRORS")) end
    end
  end
  return h
end

function M.new(name, opts)
  local make = M[name]
  if not make then
    error("unknown output handler '" .. tostring(name) ..
      "' (utfTerminal, plainTerminal, TAP, json, junit, gtest)", 0)
  end
  return make(opts)
end

return M

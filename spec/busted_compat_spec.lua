-- lualchemy test as busted 2 / luassert: the assertion language, test doubles, say, and
-- (by running the binary on spec/fixtures/busted/) the runner, .busted, options, outputs.

local function fails_with(fn, expected)
  local ok, err = pcall(fn)
  assert(not ok, "expected the assertion to fail")
  err = tostring(err):gsub("^.-:%d+: ", "", 1)
  if expected then assert.equal(expected, err) end
  return err
end

describe("luassert's assertions", function()
  it("have their aliases and modifier chains", function()
    assert.are.same({ 1, { a = 2 } }, { 1, { a = 2 } })
    assert.is_not.equal(1, 2)
    assert.are_not.same({ 1 }, { 2 })
    assert.is.True(true)
    assert.is_true(true)
    assert.is_false(false)
    assert.False(false)
    assert.is_nil(nil)
    assert.Nil(nil)
    assert.is_not_nil(0)
    assert.truthy(0)
    assert.is_falsy(nil)
    assert.not_truthy(false)
    assert.equals("a", "a")
    assert.is_table({})
    assert.is_string("s")
    assert.is_number(1)
    assert.is_function(print)
    assert.is_boolean(false)
    assert.is_userdata(io.stdout)
    assert.is_thread(coroutine.create(function() end))
    assert.is_not_table("x")
    assert.matches("^h%a+", "hello")
    assert.match("l+", "hello")
    assert.does_not.match("^x", "hello")
    assert.near(1.0, 1.05, 0.1)
    assert.is_not.near(1.0, 1.5, 0.1)
    assert.unique({ 1, 2, 3 })
    assert.is_not.unique({ 1, 1 })
    assert.has_error(function() error("boom") end, "boom")
    assert.has.errors(function() error({ code = 1 }) end, { code = 1 })
    assert.has_no.errors(function() end)
    assert.not_error(function() end)
    assert.no_error(function() end)
    assert.error_matches(function() error("code 42") end, "code %d+")
    assert.matches_error(function() error("a.b") end, "a.b", nil, true)
    assert.returned_arguments(2, 1, 2)
    assert.array({ 1, nil, 3 }).has.holes()
    assert.array({ 1, 2 }).has.no.holes()
    assert.message("custom").is_true(true)
  end)

  it("are case-insensitive and chain with dots or underscores", function()
    assert.Is.Not.Equal(1, 2)
    assert.is_not_same({}, { 1 })
    assert.has_no_errors(function() end)
  end)

  it("return their arguments, and has_error the error", function()
    local a, b = assert.is_true(true, "message")
    assert.equal(true, a)
    assert.equal("message", b)
    assert.equal("boom", assert.has_error(function() error("boom") end))
    assert.equal("42", assert.matches("(%d+)", "x42"))
  end)

  it("fail with luassert's messages", function()
    fails_with(function() assert.are.equal(1, 2) end,
      "Expected objects to be equal.\nPassed in:\n(number) 2\nExpected:\n(number) 1")
    fails_with(function() assert.is_not.equal("a", "a") end,
      "Expected objects to not be equal.\nPassed in:\n(string) 'a'\nDid not expect:\n(string) 'a'")
    fails_with(function() assert.is_true(nil) end,
      "Expected objects to be the same.\nPassed in:\n(nil)\nExpected:\n(boolean) true")
    fails_with(function() assert.truthy(false) end, "Expected to be truthy, but value was:\n(boolean) false")
    fails_with(function() assert.is_number("x") end,
      "Expected objects to be the same.\nPassed in:\n(string) 'x'\nExpected:\ntype number")
    fails_with(function() assert.has_no.errors(function() error("bad", 0) end) end,
      "Expected no error, but caught:\n(string) 'bad'")
    fails_with(function() assert.has_error(function() end) end,
      "Expected a different error.\nCaught:\n(no error)\nExpected:\n(error)")
    fails_with(function() assert.equal(1, 2, "my message") end,
      "my message\nExpected objects to be equal.\nPassed in:\n(number) 2\nExpected:\n(number) 1")
    fails_with(function() assert.equal(1) end, "the 'equals' function requires a minimum of 2 arguments, got: 1")
    fails_with(function() assert(false, "plain") end, "plain")
    fails_with(function() assert.nonsense(1) end, "luassert: unknown modifier/assertion: 'nonsense'")
  end)

  it("compare deeply, mark the first difference, and format tables", function()
    local t = { 1, { a = "x" } }
    local err = fails_with(function() assert.same({ 1, { a = "y" } }, t) end)
    assert.equal("Expected objects to be the same.\nPassed in:\n(" .. tostring(t) .. ") {\n  [1] = 1\n *[2] = {\n   *[a] = 'x' } }",
      err:match("^(.-)\nExpected:\n"))
    local cyc1, cyc2 = {}, {}
    cyc1.self, cyc2.self = cyc1, cyc2
    assert.same(cyc1, cyc2)
    assert.same(0 / 0, 0 / 0)
  end)

  it("take new assertions with assert:register and say", function()
    local say = require("say")
    say:set("assertion.has_property.positive", "Expected %s\nto have property: %s")
    say:set("assertion.has_property.negative", "Expected %s\nto not have property: %s")
    local function has_property(state, arguments)
      return type(arguments[1]) == "table" and arguments[1][arguments[2]] ~= nil
    end
    assert:register("assertion", "has_property", has_property,
      "assertion.has_property.positive", "assertion.has_property.negative")
    assert.has_property({ name = "x" }, "name")
    assert.Not.has_property({ name = "x" }, "age")
    assert.matches("^Expected %(table: .-%) { }\nto have property: %(string%) 'name'$",
      fails_with(function() assert.has_property({}, "name") end))
    assert.equal("Expected 1\nto have property: 2", say("assertion.has_property.positive", { 1, 2 }))
    assert:unregister("assertion", "has_property")
  end)

  it("format values with added formatters, undone by a snapshot", function()
    local snap = assert:snapshot()
    assert:add_formatter(function(v) if type(v) == "number" then return "NUM" .. v end end)
    fails_with(function() assert.equal(1, 2) end, "Expected objects to be equal.\nPassed in:\nNUM2\nExpected:\nNUM1")
    snap:revert()
    fails_with(function() assert.equal(1, 2) end,
      "Expected objects to be equal.\nPassed in:\n(number) 2\nExpected:\n(number) 1")
  end)
end)

describe("spies, stubs, mocks and matchers", function()
  it("spy on calls and their arguments", function()
    local s = spy.new(function(x) return x * 2 end)
    assert.equal(4, s(2))
    s(3, "x")
    assert.spy(s).was.called(2)
    assert.spy(s).was.called_with(2)
    assert.spy(s).was.called_with(3, match._)
    assert.spy(s).was_not.called_with(9)
    assert.spy(s).was.returned_with(4)
    assert.spy(s).was.called_at_least(1)
    assert.spy(s).was.called_at_most(2)
    assert.spy(s).was.called_more_than(1)
    assert.spy(s).was.called_less_than(3)
    fails_with(function() assert.spy(s).was.called(5) end,
      "Expected to be called 5 time(s), but was called 2 time(s)")
    assert.is_true(spy.is_spy(s))
    s:clear()
    assert.spy(s).was_not.called()
  end)

  it("spy.on wraps a method and reverts", function()
    local obj = { greet = function(_, name) return "hi " .. name end }
    local original = obj.greet
    local s = spy.on(obj, "greet")
    assert.equal("hi ann", obj:greet("ann"))
    assert.spy(obj.greet).was.called_with(match.is_ref(obj), "ann")
    assert.spy(s).was.called_with(match.is_table(), match.is_string())
    s:revert()
    assert.equal(original, obj.greet)
  end)

  it("stub returns, invokes and answers per arguments", function()
    local obj = { f = function() return "real" end }
    local st = stub(obj, "f")
    assert.is_nil(obj.f())
    st.returns(1, 2)
    assert.same({ 1, 2 }, { obj.f() })
    st.invokes(function(x) return x + 1 end)
    assert.equal(3, obj.f(2))
    st.on_call_with("a").returns("A")
    assert.equal("A", obj.f("a"))
    assert.stub(obj.f).was.called(4)
    st:revert()
    assert.equal("real", obj.f())
  end)

  it("mock wraps every function of a table", function()
    local m = { a = function() return 1 end, nested = { b = function() return 2 end } }
    mock(m)
    assert.equal(1, m.a())
    assert.spy(m.a).was.called(1)
    assert.spy(m.nested.b).was_not.called()
    local stubs = mock({ c = function() return 3 end }, true)
    assert.is_nil(stubs.c())
    mock.revert(m)
    assert.is_false(spy.is_spy(m.a))
  end)

  it("match values in calls", function()
    local s = spy.new(function() end)
    s(1, "two", { 3 })
    assert.spy(s).was.called_with(match.is_number(), match.matches("^t"), match.same({ 3 }))
    assert.spy(s).was.called_with(match.any_of(match.is_nil(), match.equals(1)), match._, match.is_not_nil())
    assert.spy(s).was.called_with(match.all_of(match.is_number(), match.is_truthy()), match.none_of(match.is_number()), match._)
    assert.is_true(match.is_matcher(match._))
    assert.is_false(match.is_string()(1))
    assert.is_true(match.is_not.string()(1))
  end)

  it("are the modules real luassert names", function()
    assert.equal(spy, require("luassert.spy"))
    assert.equal(stub, require("luassert.stub"))
    assert.equal(mock, require("luassert.mock"))
    assert.equal(match, require("luassert.match"))
    assert.equal(assert, require("luassert"))
    assert.is_function(require("luassert.util").deepcompare)
    assert.is_function(require("busted").it)
  end)
end)

-- The binary run on the fixture suites (`lualchemy test` in their folders).
local root = "spec/fixtures/busted/"
-- The binary: the one running (lualchemy test), else the build's (cargo test runs the
-- specs in-process from the repository root; LUALCHEMY_BIN or CARGO_TARGET_DIR may say where).
local function binary()
  local exe = arg and arg[-1]
  if exe and exe:match("lualchemy$") then return exe end
  local target = os.getenv("CARGO_TARGET_DIR") or "target"
  for _, p in ipairs({ os.getenv("LUALCHEMY_BIN") or "", target .. "/debug/lualchemy", target .. "/release/lualchemy" }) do
    local f = p ~= "" and io.open(p)
    if f then
      f:close()
      return p:match("^/") and p or ("../../../../" .. p)
    end
  end
  error("no lualchemy binary found (build it, or set LUALCHEMY_BIN)")
end

local function run(dir, args)
  local exe = binary()
  if not exe:match("^/") and not exe:match("^%.%./") then exe = "../../../../" .. exe end
  local p = io.popen("cd " .. root .. dir .. " && " .. exe .. " test " .. args .. " 2>&1; echo \"rc=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc
end

describe("lualchemy test run on a busted suite", function()
  it("reads .busted, runs blocks in busted's order, insulates files", function()
    local out, rc = run("suite", "-o TAP")
    assert.equal(0, rc, out)
    assert.matches("\n1%.%.13\n$", out)
    assert.is_nil(out:find("not ok", 1, true), out)
    assert.matches("ok %d+ %- the order was busted's", out)
  end)

  it("takes a named task, tags, filters, --list", function()
    local out, rc = run("suite", "--run fast -o TAP")
    assert.equal(0, rc, out)
    assert.matches("\n1%.%.3\n$", out)
    out = run("suite", "--exclude-tags fast -o TAP")
    assert.matches("\n1%.%.10\n$", out)
    out = run("suite", "--filter order --filter environment -o TAP")
    assert.matches("\n1%.%.6\n$", out)
    out = run("suite", "--filter-out environment -o TAP")
    assert.matches("\n1%.%.8\n$", out)
    out = run("outcomes", "-C ../suite --run fast -o TAP")
    assert.matches("\n1%.%.3\n$", out)
    out = run("suite", "--list")
    assert.matches("checks/a_order_check.lua:14: outer first\n", out, nil, true)
  end)

  it("reports each outcome in every output, exits 1 on failures", function()
    if _VERSION == "Lua 5.1" and not jit then
      -- the expected tracebacks are Lua 5.4's; Lua 5.1's add "(tail call): ?" lines
      return pending("Lua 5.1 words its tracebacks apart")
    end
    local out, rc = run("outcomes", "-p _check -o TAP")
    assert.equal(1, rc)
    assert.matches("ok 1 - outcomes passes\nnot ok 2 - outcomes fails\n# spec/outcomes_check.lua @ 4\n" ..
      "# Failure message: spec/outcomes_check.lua:5: Expected objects to be equal.", out, nil, true)
    assert.matches("ok 4 - # SKIP outcomes is pending", out, nil, true)
    out = run("outcomes", "-p _check -o plainTerminal")
    assert.matches("+-*.+\n2 successes / 1 failure / 1 error / 1 pending : ", out, nil, true)
    assert.matches("Failure -> spec/outcomes_check.lua @ 4\noutcomes fails\nspec/outcomes_check.lua:5: Expected", out, nil, true)
    assert.matches("Error -> spec/outcomes_check.lua @ 7\noutcomes errors\nspec/outcomes_check.lua:8: boom", out, nil, true)
    out = run("outcomes", "-p _check")
    assert.matches("2 successes / 1 failure / 1 error / 1 pending", out, nil, true)
    out = run("outcomes", "-p _check -o json")
    assert.matches('"failures":[{', out, nil, true)
    assert.matches('"name":"outcomes errors"', out, nil, true)
    out = run("outcomes", "-p _check -o junit")
    assert.matches("<testcase classname='spec/outcomes_check.lua:4' name='outcomes fails'", out, nil, true)
    assert.matches("<error>spec/outcomes_check.lua:8: boom\nstack traceback:\n\tspec/outcomes_check.lua:8: in function &lt;spec/outcomes_check.lua:7&gt;\n</error>", out, nil, true)
    assert.matches("<skipped/>", out, nil, true)
    out, rc = run("outcomes", "-p _check --tags slow -o TAP")
    assert.equal(0, rc)
    assert.matches("\n1%.%.1\n$", out)
    out, rc = run("outcomes", "-p _check --no-keep-going -o TAP")
    assert.matches("\n1%.%.2\n$", out)
    out, rc = run("outcomes", "-p _check --shuffle --seed 7 -o TAP")
    assert.matches("\n1%.%.5\n$", out)
    assert.equal(1, rc)
  end)

  it("takes --helper, --lpath, --cpath, --lazy, --exclude-pattern; keeps each test's globals", function()
    local base = "-p _check --cpath ./native/?.so -o TAP "
    local out, rc = run("options", base .. "--helper extra/helper.lua --lpath ./lib/?.lua")
    assert.equal(0, rc, out)
    assert.matches("\n1%.%.19\n$", out)
    out, rc = run("options", base .. "--lazy")
    assert.equal(0, rc, out)
    out, rc = run("options", base .. "--exclude-pattern skipped")
    assert.equal(0, rc, out)
    assert.matches("\n1%.%.18\n$", out)
  end)

  it("orders randomize() blocks and --shuffle runs by the seed", function()
    local function order(args)
      local out = run("options", "-p _check --cpath ./native/?.so -o TAP " .. args)
      local names = {}
      for n in out:gmatch("ordered n(%d)") do names[#names + 1] = n end
      return table.concat(names)
    end
    local a = order("--seed 3")
    assert.equal(8, #a)
    assert.equal(a, order("--seed 3"))
    assert.are_not.equal(a, order("--seed 4"))
    assert.are_not.equal("12345678", a)
    assert.equal(order("--shuffle --seed 5"), order("--shuffle --seed 5"))
  end)

  it("prints what Debian's busted 2.1.1 printed for the same suite", function()
    if _VERSION == "Lua 5.1" and not jit then
      -- the expected tracebacks are Lua 5.4's; Lua 5.1's add "(tail call): ?" lines
      return pending("Lua 5.1 words its tracebacks apart")
    end
    -- busted_output/*.txt: busted's own output, times replaced by X
    local function read(path)
      local f = assert(io.open(root .. "outcomes/busted_output/" .. path))
      local text = f:read("*a")
      f:close()
      return text
    end
    local cases = {
      { "TAP.txt", "-o TAP" }, { "gtest.txt", "-o gtest" }, { "plainTerminal.txt", "-o plainTerminal" },
      { "plainTerminal-v.txt", "-o plainTerminal -v" }, { "utfTerminal.txt", "-o utfTerminal" },
    }
    for _, case in ipairs(cases) do
      local out = run("outcomes", "-p _check " .. case[2])
      out = out:gsub("%(%d+%.%d+ ms", "(X ms"):gsub(": %d+%.%d+ seconds", ": X seconds")
      assert.equal(read(case[1]), out, case[1])
    end
  end)

  it("reports errors outside tests as Debian's busted 2.1.1 did", function()
    local f = assert(io.open(root .. "errors/busted_output/plainTerminal.txt"))
    local expected = f:read("*a")
    f:close()
    local out, rc = run("errors", "-p _check -o plainTerminal")
    assert.equal(1, rc)
    -- the messages of indexing nil and of the parse error differ between Lua versions
    out = out:gsub(": %d+%.%d+ seconds", ": X seconds"):gsub("attempt to index local 'x' %(a nil value%)",
      "attempt to index a nil value (local 'x')"):gsub("'=' expected near 'is'", "syntax error near 'is'")
    assert.equal(expected, out)
  end)

  it("refuses unknown options and outputs", function()
    local out, rc = run("outcomes", "--frobnicate")
    assert.equal(1, rc)
    assert.matches("unknown option '--frobnicate'", out, nil, true)
    out, rc = run("outcomes", "-p _check -o nope")
    assert.equal(1, rc)
    assert.matches("unknown output handler 'nope'", out, nil, true)
  end)
end)

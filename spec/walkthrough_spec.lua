-- The ORM walkthrough (examples/01_declare.lua … 07_sessions.lua) runs unchanged on SQLite,
-- PostgreSQL and MySQL / MariaDB and prints the same results on each.
--
-- Run from the project root, as the other specs. Each script is loaded as it is, with a
-- `print` that collects its lines (every other global, `require("lualchemy")` included, is the
-- real one), run to the end, and its output compared line by line with
-- spec/fixtures/walkthrough/<name>.txt, the output of the SQLite run. Under
-- `lualchemy test --db URL` every `orm.create_engine("sqlite://")` of a script is a fresh
-- schema (PostgreSQL) or database (MySQL) on the server, so the same text proves the same
-- behaviour there.
--
-- What may differ between databases, and nothing else:
--   * normalise(): PostgreSQL's `$1` placeholders in printed SQL, the run-dependent address in
--     `<User at 0x...>`, the name of the spec's fresh namespace in server messages, and the
--     clock time PostgreSQL echoes back in a failing row;
--   * DIALECT_TEXT: the exact text a dialect prints instead of SQLite's (its DDL, its catalog
--     query, its error messages, `func.now()`, RETURNING, NULL ordering, keys consumed by
--     rolled-back INSERTs), each with the reason;
--
-- Regenerating a golden file: run the example on SQLite with the `print` of run_script below
-- and write normalise() of every line (only the `<User at 0x...>` address changes).

local EXAMPLES = {
  "01_declare", "02_create", "03_add_commit", "04_query", "05_update", "06_delete", "07_sessions",
  "08_lua54",
}

-- Differences that are not the walkthrough's behaviour, applied to every line on both sides.
local function normalise(line)
  -- PostgreSQL numbers its placeholders ($1, $2, ...); SQLite and MySQL print `?`.
  line = line:gsub("%$%d+", "?")
  -- `<User at 0x55f591b2b6a0>` is the object's address in memory: it changes on every run,
  -- on every database.
  line = line:gsub("(<[%w_]+ at )0x%x+>", "%10x<address>>")
  -- Under --db each engine's database is a fresh `lz_spec_<pid>_<n>`, which MySQL names in
  -- its error messages.
  line = line:gsub("lz_spec_%d+_%d+", "<spec database>")
  -- PostgreSQL shows the failing row of a CHECK violation, with the `now()` server default of
  -- its `created` column: the clock differs. (Only there: the DateTime values the examples
  -- store themselves must compare exactly.)
  if line:find("^DETAIL:  Failing row contains %(") then
    line = line:gsub("%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d%.?%d*", "<now>")
  end
  return line
end

-- Keys that PostgreSQL sequences and MySQL AUTO_INCREMENT hand out are not given back when
-- the INSERT that took them is rolled back (07 rolls back "ghost", "temp", "uncommitted",
-- "dropped" and the failing "clash" INSERT); SQLite's rowid takes max(id) + 1 again. As in
-- SQLAlchemy, so the later ids legitimately differ.
local CONSUMED_KEYS = {
  { "temp has id\t4", "temp has id\t5" },
  { "newcomer with id\t6\t", "newcomer with id\t10\t" },
  { "newcomer (id 6) and clash (id 7)", "newcomer (id 12) and clash (id 13)" },
}

-- The server-side SQL of func.now() (docs/DIALECTS.md: CURRENT_TIMESTAMP on SQLite, now() on
-- PostgreSQL and MySQL), in the UPDATEs 05 prints.
local NOW_FUNCTION = { { "updated_at=CURRENT_TIMESTAMP", "updated_at=now()" } }

-- The existence check create_all and drop_all run per table (the dialect's has_table_sql). 02
-- appends the table name only to SQLite's query, which names sqlite_master.
local function has_table_lines(query)
  local out = {}
  for _, t in ipairs({ "posts", "comments", "post_tag" }) do
    out[#out + 1] = { "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?   -- " .. t, query }
  end
  return out
end

local function join(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, pair in ipairs(list) do out[#out + 1] = pair end
  end
  return out
end

-- DIALECT_TEXT[example][dialect]: { sqlite_text, dialect_text } pairs. Every occurrence of
-- sqlite_text (plain text, possibly several lines) in the golden output is what that dialect
-- prints as dialect_text; each pair must occur at least once.
local DIALECT_TEXT = {
  ["01_declare"] = {
    -- the database's own message for the violated CHECK (length(label) > 0)
    postgresql = {
      { "CHECK constraint failed: length(label) > 0",
        'new row for relation "tags" violates check constraint "tags_label_check"\n' ..
        "DETAIL:  Failing row contains (, <now>, 2)." },
    },
    mysql = {
      { "CHECK constraint failed: length(label) > 0",
        '(4025, "CONSTRAINT `CONSTRAINT_1` failed for `<spec database>`.`tags`")' },
    },
  },
  ["02_create"] = {
    postgresql = join({
      -- DDL: an Integer primary key is SERIAL, DateTime is TIMESTAMP WITHOUT TIME ZONE
      { "\n\tid INTEGER NOT NULL, ", "\n\tid SERIAL NOT NULL, " },
      { "\tcreated DATETIME DEFAULT", "\tcreated TIMESTAMP WITHOUT TIME ZONE DEFAULT" },
      -- a missing table: SQLSTATE 42P01, a ProgrammingError (OperationalError on SQLite)
      { "OperationalError\tno such table: posts", 'ProgrammingError\trelation "posts" does not exist' },
    }, has_table_lines("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n " ..
      "ON n.oid = c.relnamespace WHERE c.relname = $1 AND c.relkind IN ('r', 'p') " ..
      "AND n.nspname = current_schema()")),
    mysql = join({
      -- DDL: AUTO_INCREMENT key, BOOL, DATETIME(6), and the table options of every CREATE
      { "\n\tid INTEGER NOT NULL, ", "\n\tid INTEGER NOT NULL AUTO_INCREMENT, " },
      { "\tpublished BOOLEAN DEFAULT", "\tpublished BOOL DEFAULT" },
      { "\tcreated DATETIME DEFAULT", "\tcreated DATETIME(6) DEFAULT" },
      { "\n)\n", "\n) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin\n" },
      -- a missing table: error 1146, a ProgrammingError (OperationalError on SQLite)
      { "OperationalError\tno such table: posts",
        "ProgrammingError\t(1146, \"Table '<spec database>.posts' doesn't exist\")" },
    }, has_table_lines("SELECT table_name FROM information_schema.tables " ..
      "WHERE table_schema = DATABASE() AND table_name = ?")),
  },
  ["03_add_commit"] = {
    -- PostgreSQL reads generated keys back with INSERT ... RETURNING, several rows in one
    -- multi-row VALUES (docs/DIALECTS.md). 03 shows parameters only for SQL with `?` in it,
    -- so on PostgreSQL these lines carry none.
    postgresql = {
      { '  INSERT INTO users (name, fullname) VALUES (?, ?)  ("ed", "Ed Jones")',
        "  INSERT INTO users (name, fullname) VALUES ($1, $2) RETURNING users.id" },
      { "  SELECT users.id, users.name, users.fullname FROM users WHERE users.id = ?  (1)",
        "  SELECT users.id, users.name, users.fullname FROM users WHERE users.id = $1" },
      { '  INSERT INTO users (name, fullname) VALUES (?, ?)  [("wendy", "Wendy Williams"), ' ..
        '("mary", "Mary Contrary"), ("fred", nil)]',
        "  INSERT INTO users (name, fullname) VALUES ($1, $2), ($3, $4), ($5, $6) RETURNING users.id" },
    },
  },
  ["04_query"] = {
    -- PostgreSQL sorts NULL above every value, so a NULL age comes first in age DESC;
    -- SQLite and MySQL sort it below (SQLAlchemy does not change either).
    postgresql = {
      { "order_by(User.age:desc(), User.name):\t{carl, ann, ed, Bob, dora}",
        "order_by(User.age:desc(), User.name):\t{dora, carl, ann, ed, Bob}" },
    },
  },
  ["05_update"] = { postgresql = NOW_FUNCTION, mysql = NOW_FUNCTION },
  ["07_sessions"] = {
    postgresql = join(CONSUMED_KEYS, {
      -- the database's message for the duplicate email, and the INSERT with RETURNING
      { "UNIQUE constraint failed: users.email",
        'duplicate key value violates unique constraint "users_email_key"\n' ..
        "DETAIL:  Key (email)=(ed@example.com) already exists." },
      { "INSERT INTO users (name, email) VALUES (?, ?)",
        "INSERT INTO users (name, email) VALUES ($1, $2) RETURNING users.id" },
    }),
    mysql = join(CONSUMED_KEYS, {
      -- the database's message for the duplicate email
      { "UNIQUE constraint failed: users.email",
        "(1062, \"Duplicate entry 'ed@example.com' for key 'email'\")" },
    }),
  },
}

local function lines_of(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = normalise(line) end
  return out
end

-- Every occurrence of `from` in `text` replaced by `to`, as plain text; and how many.
local function replace_plain(text, from, to)
  local out, pos, n = {}, 1, 0
  while true do
    local s, e = text:find(from, pos, true)
    if not s then break end
    out[#out + 1] = text:sub(pos, s - 1)
    out[#out + 1] = to
    pos, n = e + 1, n + 1
  end
  out[#out + 1] = text:sub(pos)
  return table.concat(out), n
end

local function read_golden(name)
  local path = "spec/fixtures/walkthrough/" .. name .. ".txt"
  local f = assert(io.open(path, "r"))
  local text = f:read("*a"):gsub("\n$", "")
  f:close()
  return text
end

-- The lines this database must print: the golden text with the dialect's own text put in.
local function expected_lines(name)
  local text = read_golden(name)
  for _, pair in ipairs((DIALECT_TEXT[name] or {})[SPEC_DIALECT] or {}) do
    local n
    text, n = replace_plain(text, pair[1], pair[2])
    assert.is_true(n > 0, ("%s: %q (DIALECT_TEXT, %s) is not in the golden output"):format(
      name, pair[1], SPEC_DIALECT))
  end
  return lines_of(text)
end

-- Runs examples/<name>.lua unchanged; returns whether it finished, its error, and the lines it
-- printed (normalised).
local function run_script(name)
  local printed = {}
  local env = setmetatable({
    -- as Lua's print: tostring of each argument, separated by tabs
    print = function(...)
      local parts = {}
      for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
      printed[#printed + 1] = table.concat(parts, "\t")
    end,
  }, { __index = _G })
  local chunk, load_err = loadfile("examples/" .. name .. ".lua", "t", env)
  assert.is_function(chunk, load_err)
  if setfenv then setfenv(chunk, env) end -- Lua 5.1's loadfile takes no environment
  local ok, err = pcall(chunk)
  return ok, err, lines_of(table.concat(printed, "\n"))
end

-- The lines that differ, for the failure message.
local function diff(expected, actual)
  local out = {}
  for i = 1, math.max(#expected, #actual) do
    if expected[i] ~= actual[i] then
      out[#out + 1] = ("line %d\n  expected: %s\n  actual:   %s"):format(i,
        expected[i] == nil and "(no line)" or ("%q"):format(expected[i]),
        actual[i] == nil and "(no line)" or ("%q"):format(actual[i]))
      if #out == 20 then break end
    end
  end
  return table.concat(out, "\n")
end

describe("the ORM walkthrough on " .. SPEC_DIALECT, function()
  for _, name in ipairs(EXAMPLES) do
    it("examples/" .. name .. ".lua runs unchanged and prints the golden output", function()
      -- an example of a newer Lua's syntax says so on its first line (docs/LUA_VERSIONS.md)
      local f = assert(io.open("examples/" .. name .. ".lua"))
      local unmet = LUA.unmet(f:read("*l") or "")
      f:close()
      if unmet then
        print("SKIP examples/" .. name .. ".lua: " .. unmet)
        return pending(unmet)
      end
      local expected = expected_lines(name)
      local ok, err, actual = run_script(name)
      assert.is_true(ok, "examples/" .. name .. ".lua failed on " .. SPEC_DIALECT .. ": " .. tostring(err))
      assert.same(expected, actual, "output of examples/" .. name .. ".lua on " .. SPEC_DIALECT ..
        " differs from spec/fixtures/walkthrough/" .. name .. ".txt:\n" .. diff(expected, actual))
    end)
  end
end)

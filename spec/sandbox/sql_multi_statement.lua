-- Multiple statements in one orm.text are refused: the second statement never runs
-- (table m keeps its rows), whatever hides the ';'. (A leading empty statement, as in
-- "; DELETE FROM m", is not tried: that is one statement, which a script may run anyway.)
-- the shared fixture (spec/sandbox/fixtures/main_db.lua): main.db under ALLOWED with two rows
local orm, engine, M, s, conn, rows, via_session, via_connection = main_db()
local attempts = {
  "SELECT 1; DROP TABLE m",
  "SELECT 1;DROP TABLE m;",
  "SELECT 1 /* ; */ ; DELETE FROM m",
  "SELECT 1 -- comment\n; DELETE FROM m",
  "SELECT ';'; DELETE FROM m",
  "DELETE FROM m WHERE 0; DELETE FROM m",
  "SELECT 1;\n\n  INSERT INTO m (name) VALUES ('injected')",
}
for _, sql in ipairs(attempts) do
  refused(("%q via session"):format(sql), via_session(sql))
  refused(("%q via connection"):format(sql), via_connection(sql))
  check(("m still has two rows after %q"):format(sql), rows() == 2, rows())
end
-- a bound value containing a second statement is data, not SQL
local r = s:execute(orm.text("SELECT count(*) FROM m WHERE name = :n"), { n = "x'; DROP TABLE m; --" }):scalar()
check("a bound value is data", r == 0, r)
check("m still has two rows", rows() == 2)
print("DONE")

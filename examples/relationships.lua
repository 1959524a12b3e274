-- Relationships, for a SQLAlchemy user: the four classic tutorial cases.
--
--   1. authors and books: one-to-many / many-to-one with back_populates and
--      cascade = "all, delete-orphan" (moving a book, orphaning one, deleting an author);
--   2. students and courses: many-to-many through a secondary orm.Table, changed from
--      either side;
--   3. employees and managers: a self-referential many-to-one with remote_side = "id" and
--      backref = "reports", walked up and down;
--   4. parents and children: one-to-many plus a one-to-one (uselist = false), and what a
--      delete without a delete cascade does to the children (their foreign key becomes NULL);
--   5. loading and querying through relationships: lazy loading, selectinload, joinedload
--      with unique(), join(Author.books), any() and has().
--
-- Every result printed is also checked with assert, so a regression fails loudly.
--
--   lualchemy examples/relationships.lua
local orm = require("lualchemy")

-- The echo callback counts the SELECTs the engine sends, to show what each loader costs.
local selects = 0
local engine = orm.create_engine("sqlite://", {
  echo = function(sql) if sql:find("^SELECT") then selects = selects + 1 end end,
})
local Base = orm.declarative_base()

local Author = Base:model("Author", {
  __tablename__ = "authors",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  -- "all, delete-orphan": books are added, merged and deleted with their author, and a book
  -- taken out of the collection is deleted (a book cannot exist without an author)
  books = orm.relationship("Book", { back_populates = "author", cascade = "all, delete-orphan", order_by = "id" }),
  __tostring = function(self) return ("Author(%s)"):format(self.name) end,
})
local Book = Base:model("Book", {
  __tablename__ = "books",
  id = orm.Column(orm.Integer, { primary_key = true }),
  title = orm.Column(orm.String(80), { nullable = false }),
  author_id = orm.Column(orm.Integer, orm.ForeignKey("authors.id"), { nullable = false }),
  author = orm.relationship("Author", { back_populates = "books" }),
  __tostring = function(self) return ("Book(%s)"):format(self.title) end,
})

-- A plain table for the many-to-many link: no model, just the two foreign keys.
local enrolments = orm.Table("enrolments", Base.metadata,
  orm.Column("student_id", orm.Integer, orm.ForeignKey("students.id"), { primary_key = true }),
  orm.Column("course_id", orm.Integer, orm.ForeignKey("courses.id"), { primary_key = true }))
local Student = Base:model("Student", {
  __tablename__ = "students",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  courses = orm.relationship("Course", { secondary = enrolments, back_populates = "students", order_by = "id" }),
})
local Course = Base:model("Course", {
  __tablename__ = "courses",
  id = orm.Column(orm.Integer, { primary_key = true }),
  title = orm.Column(orm.String(50), { nullable = false }),
  -- the secondary table can also be named by its table name
  students = orm.relationship("Student", { secondary = "enrolments", back_populates = "courses", order_by = "id" }),
})

local Employee = Base:model("Employee", {
  __tablename__ = "employees",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  manager_id = orm.Column(orm.Integer, orm.ForeignKey("employees.id")),
  -- remote_side = "id": the manager is the row whose id our manager_id holds (many-to-one);
  -- the backref creates the other direction, Employee.reports (one-to-many)
  manager = orm.relationship("Employee", { remote_side = "id", backref = "reports" }),
})

local Parent = Base:model("Parent", {
  __tablename__ = "parents",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  -- the default cascade ("save-update, merge"): no delete cascade
  children = orm.relationship("Child", { back_populates = "parent", order_by = "id" }),
  -- uselist = false: a one-to-one, a scalar instead of a collection
  address = orm.relationship("Address", { uselist = false, back_populates = "parent" }),
})
local Child = Base:model("Child", {
  __tablename__ = "children",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  parent_id = orm.Column(orm.Integer, orm.ForeignKey("parents.id")),
  parent = orm.relationship("Parent", { back_populates = "children" }),
})
local Address = Base:model("Address", {
  __tablename__ = "addresses",
  id = orm.Column(orm.Integer, { primary_key = true }),
  street = orm.Column(orm.String(80), { nullable = false }),
  parent_id = orm.Column(orm.Integer, orm.ForeignKey("parents.id")),
  parent = orm.relationship("Parent", { back_populates = "address" }),
})

Base.metadata:create_all(engine)
local session = orm.Session(engine)

-- Helpers: print a labelled result and assert it is what we expect.
local function check(label, got, want)
  print(("  %-50s %s"):format(label, tostring(got)))
  assert(got == want, ("%s: expected %s, got %s"):format(label, tostring(want), tostring(got)))
end
local function list(coll, field) -- a collection (or list) as "a, b, c"
  local out = {}
  for _, x in ipairs(coll.all and coll:all() or coll) do out[#out + 1] = tostring(field and x[field] or x) end
  return table.concat(out, ", ")
end
local function sql_rows(sql) -- raw rows, straight from the database, as "(a, b) (c, d)"
  local out = {}
  for row in session:execute(orm.text(sql)) do out[#out + 1] = tostring(row) end
  return table.concat(out, " ")
end

print("== 1. authors and books: one-to-many with back_populates ==")
local tolkien = Author{ name = "Tolkien", books = { Book{ title = "The Hobbit" }, Book{ title = "The Silmarillion" } } }
local austen = Author{ name = "Austen" }
-- setting the many-to-one side appends to the collection on the other side, at once
local emma = Book{ title = "Emma", author = austen }
check("Book{ author = austen } puts it in austen.books", list(austen.books), "Book(Emma)")
local persuasion = Book{ title = "Persuasion" }
austen.books:append(persuasion)
check("austen.books:append(b) sets b.author", persuasion.author, austen)
-- adding the authors adds their books too (the save-update cascade)
session:add_all({ tolkien, austen })
check("#session.new after adding 2 authors", #session.new, 6)
session:commit()
check("books rows, author_id set from the objects", sql_rows("SELECT title, author_id FROM books ORDER BY id"),
  "('The Hobbit', 1) ('The Silmarillion', 1) ('Emma', 2) ('Persuasion', 2)")

-- Moving a book to another author: assign its author; both collections follow.
local silmarillion = tolkien.books[2]
silmarillion.author = austen
check("tolkien.books after the move", list(tolkien.books), "Book(The Hobbit)")
check("austen.books holds it now", austen.books:contains(silmarillion), true)
check("#austen.books", #austen.books, 3)
session:commit()
check("the move is one UPDATE of books.author_id", session:scalar(orm.text("SELECT author_id FROM books WHERE title = 'The Silmarillion'")), austen.id)
silmarillion.author = tolkien -- and back, for the rest of the tour
session:commit()

-- delete-orphan: a book taken out of its author's collection is deleted at the flush.
austen.books:remove(persuasion)
check("persuasion.author after remove()", persuasion.author, nil)
session:commit()
check("books left (Persuasion was an orphan)", sql_rows("SELECT title FROM books ORDER BY id"),
  "('The Hobbit',) ('The Silmarillion',) ('Emma',)")

-- The delete cascade: deleting an author deletes its books (loaded first if need be).
session:delete(tolkien)
session:commit()
check("authors after deleting Tolkien", sql_rows("SELECT name FROM authors"), "('Austen',)")
check("books after deleting Tolkien", sql_rows("SELECT title FROM books"), "('Emma',)")
check("the deleted objects are detached", orm.inspect(tolkien).detached, true)

print("\n== 2. students and courses: many-to-many through a secondary table ==")
local ann, bob, cy = Student{ name = "ann" }, Student{ name = "bob" }, Student{ name = "cy" }
local math, physics, art = Course{ title = "math" }, Course{ title = "physics" }, Course{ title = "art" }
-- enrol from the student's side ...
ann.courses:append(math)
ann.courses:append(physics)
-- ... or from the course's side; the other side follows either way
art.students:extend({ bob, cy })
math.students:append(bob)
check("math.students (ann via ann.courses)", list(math.students, "name"), "ann, bob")
check("bob.courses (via the courses' side)", list(bob.courses, "title"), "art, math")
session:add_all({ ann, bob, cy }) -- the courses come along with the students
session:commit()
local function enrolled()
  return sql_rows([[SELECT s.name, c.title FROM enrolments e JOIN students s ON s.id = e.student_id
    JOIN courses c ON c.id = e.course_id ORDER BY s.name, c.title]])
end
check("association rows", enrolled(),
  "('ann', 'math') ('ann', 'physics') ('bob', 'art') ('bob', 'math') ('cy', 'art')")
-- unenrol from either side
ann.courses:remove(physics)
art.students:remove(bob)
check("physics.students after ann.courses:remove(physics)", #physics.students, 0)
check("bob.courses after art.students:remove(bob)", list(bob.courses, "title"), "math")
-- assigning a list replaces the collection: cy leaves art and joins math and physics
cy.courses = { math, physics }
session:commit()
check("association rows after the changes", enrolled(),
  "('ann', 'math') ('bob', 'math') ('cy', 'math') ('cy', 'physics')")
-- deleting a course deletes its association rows, not the students
session:delete(math)
session:commit()
check("rows after deleting math", enrolled(), "('cy', 'physics')")
check("students are all still there", session:scalar(orm.text("SELECT count(*) FROM students")), 3)
check("ann.courses after math was deleted", #ann.courses, 0)

print("\n== 3. employees and managers: self-referential, remote_side and backref ==")
local ceo = Employee{ name = "Grace" }
local cto, cfo = Employee{ name = "Ada", manager = ceo }, Employee{ name = "Carl", manager = ceo }
local dev1, dev2 = Employee{ name = "Linus", manager = cto }, Employee{ name = "Ken", manager = cto }
local intern = Employee{ name = "Tim" }
dev2.reports:append(intern) -- the backref side works too: intern.manager is now dev2
check("intern.manager (set through dev2.reports)", intern.manager.name, "Ken")
-- adding the CEO adds everyone below her, through the reports backref
session:add(ceo)
check("#session.new after session:add(ceo)", #session.new, 6)
session:commit() -- one flush; managers are inserted before their reports
check("manager_id of every row", sql_rows([[SELECT e.name, m.name FROM employees e
  LEFT JOIN employees m ON m.id = e.manager_id ORDER BY e.id]]),
  "('Grace', None) ('Ada', 'Grace') ('Carl', 'Grace') ('Linus', 'Ada') ('Ken', 'Ada') ('Tim', 'Ken')")
session:close()
-- walking up: follow .manager until nil (each step a lazy load, or the identity map)
local tim = session:scalars(orm.select(Employee):filter_by{ name = "Tim" }):one()
local chain, e = {}, tim
while e do chain[#chain + 1] = e.name; e = e.manager end
check("up from Tim", table.concat(chain, " -> "), "Tim -> Ken -> Ada -> Grace")
-- walking down: the reports collections, depth first
local top = session:scalars(orm.select(Employee):where(Employee.manager_id:is_(nil))):one()
local lines = {}
local function walk(emp, depth)
  lines[#lines + 1] = ("%s%s"):format(("  "):rep(depth), emp.name)
  for r in emp.reports:iter() do walk(r, depth + 1) end
end
walk(top, 0)
for _, line in ipairs(lines) do print("    " .. line) end
check("down from Grace", table.concat(lines, "|"), "Grace|  Ada|    Linus|    Ken|      Tim|  Carl")
-- a promotion: Linus now reports to Grace
local linus = top.reports[1].reports[1]
linus.manager = top
check("Ada's reports after the move", list(top.reports[1].reports, "name"), "Ken")
session:commit()
check("Linus' manager_id in the database", session:scalar(orm.text("SELECT manager_id FROM employees WHERE name = 'Linus'")), top.id)

print("\n== 4. parents and children: one-to-many, one-to-one, delete without cascade ==")
local home = Address{ street = "1 Elm St" }
local mum = Parent{ name = "Mum", children = { Child{ name = "Kim" }, Child{ name = "Lee" } }, address = home }
check("one-to-one: mum.address", mum.address.street, "1 Elm St")
check("... and the other side, home.parent == mum", home.parent == mum, true)
session:add(mum)
session:commit()
check("children rows", sql_rows("SELECT name, parent_id FROM children ORDER BY id"), "('Kim', 1) ('Lee', 1)")
check("address row", sql_rows("SELECT street, parent_id FROM addresses"), "('1 Elm St', 1)")
-- replacing a one-to-one: the old address loses its parent (no delete-orphan, so it stays)
mum.address = Address{ street = "2 Oak Ave" }
check("the old address' parent after the replace", home.parent, nil)
session:commit()
check("address rows", sql_rows("SELECT street, parent_id FROM addresses ORDER BY id"), "('1 Elm St', None) ('2 Oak Ave', 1)")
-- Deleting a parent without a delete cascade: the children stay, their parent_id becomes
-- NULL (the session loads them to do it, even when they were never loaded).
session:close()
local mum2 = session:scalars(orm.select(Parent)):one()
session:delete(mum2)
session:commit()
check("children after deleting their parent", sql_rows("SELECT name, parent_id FROM children ORDER BY id"),
  "('Kim', None) ('Lee', None)")
check("addresses after deleting the parent", sql_rows("SELECT street, parent_id FROM addresses ORDER BY id"),
  "('1 Elm St', None) ('2 Oak Ave', None)")
check("parents left", session:scalar(orm.text("SELECT count(*) FROM parents")), 0)

print("\n== 5. loading and querying through relationships ==")
session:add_all({
  Author{ name = "Le Guin", books = { Book{ title = "Earthsea" }, Book{ title = "The Dispossessed" } } },
  Author{ name = "Pratchett", books = { Book{ title = "Mort" }, Book{ title = "Guards! Guards!" }, Book{ title = "Small Gods" } } },
  Author{ name = "Borges" }, -- no books
})
session:commit()
session:close()
local by_name = orm.select(Author):order_by(Author.name)
local function shelf(authors) -- "Austen: 1, Borges: 0, ..." reading every collection
  local out = {}
  for _, a in ipairs(authors) do out[#out + 1] = a.name .. ": " .. #a.books end
  return table.concat(out, ", ")
end
-- The default, lazy = "select": one SELECT for the authors, then one per collection read.
selects = 0
check("lazy loading", shelf(session:scalars(by_name):all()), "Austen: 1, Borges: 0, Le Guin: 2, Pratchett: 3")
check("... SELECTs (1 + one per author)", selects, 5)
session:close()
-- selectinload: one more SELECT for all the collections at once (... WHERE author_id IN (...)).
selects = 0
check("selectinload(Author.books)", shelf(session:scalars(by_name:options(orm.selectinload(Author.books))):all()),
  "Austen: 1, Borges: 0, Le Guin: 2, Pratchett: 3")
check("... SELECTs", selects, 2)
session:close()
-- joinedload: one SELECT with a LEFT OUTER JOIN; an author's row repeats per book, so the
-- 2.0 result demands unique() (as SQLAlchemy 2.0 does)
selects = 0
local joined = by_name:options(orm.joinedload(Author.books))
check("joinedload(Author.books) + unique()", shelf(session:scalars(joined):unique():all()),
  "Austen: 1, Borges: 0, Le Guin: 2, Pratchett: 3")
check("... SELECTs", selects, 1)
local ok, err = pcall(function() return session:scalars(joined):all() end)
check("without unique(): an error", not ok and err.kind, "InvalidRequestError")
print("    " .. err.message)
session:close()

-- Relationships in queries: join along a relationship (the ON clause comes from it) ...
local stmt = orm.select(Author.name, orm.func.count(Book.id)):join(Author.books):group_by(Author.name):order_by(Author.name)
print("    " .. tostring(stmt):gsub("\n", "\n    "))
local function rows(s)
  local out = {}
  for row in session:execute(s) do out[#out + 1] = tostring(row) end
  return table.concat(out, " ")
end
check("join(Author.books), books per author", rows(stmt), "('Austen', 1) ('Le Guin', 2) ('Pratchett', 3)")
check("join(Book.author), the other way", rows(orm.select(Book.title):join(Book.author)
  :where(Author.name:eq("Pratchett")):order_by(Book.title)), "('Guards! Guards!',) ('Mort',) ('Small Gods',)")
check("join(Student.courses) through the secondary table", rows(orm.select(Student.name, Course.title)
  :join(Student.courses)), "('cy', 'physics')")
-- ... EXISTS against a collection (any) or a reference (has)
local names = function(s) return table.concat(session:scalars(s):all(), ", ") end
check("Author.books:any(Book.title:like('M%'))",
  names(orm.select(Author.name):where(Author.books:any(Book.title:like("M%")))), "Pratchett")
check("not_(Author.books:any()) (authors without books)",
  names(orm.select(Author.name):where(orm.not_(Author.books:any())):order_by(Author.name)), "Borges")
check("Book.author:has(Author.name:eq('Le Guin'))",
  names(orm.select(Book.title):where(Book.author:has(Author.name:eq("Le Guin"))):order_by(Book.title)),
  "Earthsea, The Dispossessed")
check("Student.courses:any(Course.title:eq('physics'))",
  names(orm.select(Student.name):where(Student.courses:any(Course.title:eq("physics")))), "cy")
check("Employee.manager:has(Employee.name:eq('Ada'))",
  names(orm.select(Employee.name):where(Employee.manager:has(Employee.name:eq("Ada")))), "Ken")
local austen_again = session:scalars(orm.select(Author):filter_by{ name = "Austen" }):one()
check("Book.author:eq(obj)  (compares the foreign key)",
  names(orm.select(Book.title):where(Book.author:eq(austen_again))), "Emma")

session:close()
print("\nall checks passed")

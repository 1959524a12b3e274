-- The reference workloads (../shared/bench/README.md) as lualchemy does them: one table per
-- workload with `setup` (untimed: engine, tables, seeding), `run` (the timed part; returns the
-- row count, then what must stay alive until the clock stops) and `teardown` (untimed).
-- Used by workloads.lua (the whole-program script) and by workloads.rs (the criterion bench),
-- so both time exactly the same Lua code.
--
-- Called with the sizes: N users, NQ lookups, W9_TXNS small transactions, NA authors (10 books
-- each), and optionally the URL of a database server to run W1-W8 on instead of a new
-- in-memory SQLite database (its tables are dropped and created again for each workload).
local N, NQ, W9_TXNS, NA, SERVER_URL = ...
local orm = require("lualchemy")

local Base = orm.declarative_base()

local User = Base:model("User", {
  __tablename__ = "users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100)),
  age = orm.Column(orm.Integer),
})

local Author = Base:model("Author", {
  __tablename__ = "authors",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
  books = orm.relationship("Book", { back_populates = "author" }),
})

local Book = Base:model("Book", {
  __tablename__ = "books",
  id = orm.Column(orm.Integer, { primary_key = true }),
  title = orm.Column(orm.String(100)),
  author_id = orm.Column(orm.Integer, orm.ForeignKey("authors.id")),
  author = orm.relationship("Author", { back_populates = "books" }),
})

-- W1E's model: W1's columns, with one registered no-op `before_insert` listener, to measure
-- what the event system costs a model that has listeners (docs/PERFORMANCE.md).
local ListenedUser = Base:model("ListenedUser", {
  __tablename__ = "listened_users",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50), { nullable = false }),
  email = orm.Column(orm.String(100)),
  age = orm.Column(orm.Integer),
})
orm.event.listen(ListenedUser, "before_insert", function(mapper, connection, target) end)

local function fresh(url)
  local engine = orm.create_engine(url or SERVER_URL or "sqlite://")
  if SERVER_URL and not url then Base.metadata:drop_all(engine) end
  Base.metadata:create_all(engine)
  return engine
end

local function seed_users(engine)
  local rows = {}
  for i = 1, N do
    rows[i] = { name = "user" .. i, email = "user" .. i .. "@example.com", age = i % 80 }
  end
  local s = orm.Session(engine)
  s:execute(orm.insert(User), rows)
  s:commit()
  s:close()
end

local function seeded()
  local engine = fresh()
  seed_users(engine)
  return engine
end

-- authors 1..NA (explicit ids) and 10 books each, bulk-inserted as the reference does
local function seeded_books()
  local engine = fresh()
  local authors, books = {}, {}
  for i = 1, NA do
    authors[i] = { id = i, name = "author" .. i }
    for j = 1, 10 do
      books[#books + 1] = { title = "book" .. i .. "-" .. j, author_id = i }
    end
  end
  local s = orm.Session(engine)
  s:execute(orm.insert(Author), authors)
  s:execute(orm.insert(Book), books)
  s:commit()
  s:close()
  return engine
end

-- W5 and W6: load every author, sum the sizes of their book collections
local function sum_books(engine, stmt)
  local s = orm.Session(engine)
  local authors = s:scalars(stmt):all()
  local total = 0
  for _, a in ipairs(authors) do
    total = total + #a.books
  end
  assert(total == NA * 10, "expected " .. NA * 10 .. " books, got " .. total)
  return total, s, authors
end

local function close_session(s) s:close() end

local W = {}

-- W1: N new objects of `Model`, added at once and committed.
local function insert_workload(Model)
  return {
    setup = function() return fresh() end,
    run = function(engine)
      local s = orm.Session(engine)
      local objs = {}
      for i = 1, N do
        objs[i] = Model { name = "user" .. i, email = "user" .. i .. "@example.com", age = i % 80 }
      end
      s:add_all(objs)
      s:commit()
      return N, s, objs
    end,
    teardown = close_session,
  }
end

W.W1 = insert_workload(User)
-- W1 on the model with a no-op before_insert listener (not a reference workload).
W.W1E = insert_workload(ListenedUser)

W.W2 = {
  setup = seeded,
  run = function(engine)
    local s = orm.Session(engine)
    local users = s:scalars(orm.select(User)):all()
    local n = 0
    for _, u in ipairs(users) do
      local name = u.name
      if name and name ~= "" then n = n + 1 end -- Python truthiness of a str
    end
    return n, s, users
  end,
  teardown = close_session,
}

W.W3 = {
  setup = seeded,
  run = function(engine)
    local s = orm.Session(engine)
    local users = s:scalars(orm.select(User)):all()
    for _, u in ipairs(users) do
      u.age = u.age + 1
    end
    s:commit()
    return #users, s, users
  end,
  teardown = close_session,
}

W.W4 = {
  setup = seeded,
  run = function(engine)
    local s = orm.Session(engine)
    for j = 0, NQ - 1 do
      local u = s:get(User, 1 + (j * 7919) % N)
      assert(u ~= nil, "get returned nil")
    end
    return NQ, s
  end,
  teardown = close_session,
}

W.W5 = {
  setup = seeded_books,
  run = function(engine)
    return sum_books(engine, orm.select(Author):options(orm.selectinload(Author.books)))
  end,
  teardown = close_session,
}

W.W6 = {
  setup = seeded_books,
  -- default lazy loading: one SELECT of books per author (N + 1)
  run = function(engine) return sum_books(engine, orm.select(Author)) end,
  teardown = close_session,
}

W.W7 = {
  setup = function() return fresh() end,
  run = function(engine)
    local s = orm.Session(engine)
    local authors = {}
    for i = 1, NA do
      local a = Author { name = "author" .. i }
      for j = 1, 10 do
        a.books:append(Book { title = "book" .. i .. "-" .. j })
      end
      authors[i] = a
    end
    s:add_all(authors)
    s:commit()
    return NA * 11, s, authors
  end,
  -- untimed check that the cascade inserted every row with its foreign key
  teardown = function(s)
    local na = s:scalar(orm.text("SELECT count(*) FROM authors"))
    local nb = s:scalar(orm.text(
      "SELECT count(*) FROM books JOIN authors ON authors.id = books.author_id"
        .. " WHERE books.title LIKE 'book' || substr(authors.name, 7) || '-%'"))
    assert(na == NA and nb == NA * 10, ("W7 inserted %s authors, %s books"):format(na, nb))
    s:close()
  end,
}

W.W8 = {
  setup = seeded,
  run = function(engine)
    local s = orm.Session(engine)
    local users = s:scalars(orm.select(User)):all()
    for _, u in ipairs(users) do
      s:delete(u)
    end
    s:commit()
    return #users, s, users
  end,
  teardown = close_session,
}

W.W9 = {
  -- an absolute path gives "sqlite:////abs/path.db"; lualchemy sets WAL on file databases
  setup = function(path) return fresh("sqlite:///" .. path) end,
  run = function(engine)
    for i = 1, W9_TXNS do
      local s = orm.Session(engine)
      s:add(User { name = "user" .. i, email = "e", age = 1 })
      s:commit()
      s:close()
    end
    return W9_TXNS, engine
  end,
  teardown = function(engine) engine:dispose() end,
}

return W

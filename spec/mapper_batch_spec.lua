-- __mapper_args__ = { batch = false }: the flush saves the mapper's rows one at a time,
-- each INSERT or UPDATE between its own before_ and after_ events, as SQLAlchemy's
-- batch=False (checked against SQLAlchemy 2.0.58); DELETEs stay batched, as there.
local orm = require("lualchemy")
local generic = generic_sql or function(s) return s end

local function setup(batch)
  local env = { trace = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql)
      local word = generic(sql):match("^(%u+)")
      if word == "INSERT" or word == "UPDATE" or word == "DELETE" then
        env.trace[#env.trace + 1] = "SQL " .. word
      end
    end,
  })
  local Base = orm.declarative_base()
  local args = nil
  if batch ~= nil then args = { batch = batch } end
  env.User = Base:model("User", {
    __tablename__ = "users",
    __mapper_args__ = args,
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(50)),
    seq = orm.Column(orm.Integer),
  })
  Base.metadata:create_all(env.engine)
  for _, ev in ipairs({ "before_insert", "after_insert", "before_update", "after_update", "before_delete", "after_delete" }) do
    orm.event.listen(env.User, ev, function(_, _, target)
      env.trace[#env.trace + 1] = ev .. " " .. target.name
    end)
  end
  return env
end

local function run(env)
  local s = orm.Session(env.engine)
  s:add_all({ env.User{ name = "a" }, env.User{ name = "b" }, env.User{ name = "c" } })
  s:flush()
  local users = s:scalars(orm.select(env.User):order_by(env.User.id)):all()
  for _, u in ipairs(users) do u.name = u.name .. "2" end
  s:flush()
  for _, u in ipairs(users) do s:delete(u) end
  s:flush()
  s:commit()
end

describe("__mapper_args__ batch", function()
  it("batch = false interleaves each row's statement with its events", function()
    local env = setup(false)
    run(env)
    assert.same({
      "before_insert a", "SQL INSERT", "after_insert a",
      "before_insert b", "SQL INSERT", "after_insert b",
      "before_insert c", "SQL INSERT", "after_insert c",
      "before_update a2", "SQL UPDATE", "after_update a2",
      "before_update b2", "SQL UPDATE", "after_update b2",
      "before_update c2", "SQL UPDATE", "after_update c2",
      "before_delete a2", "before_delete b2", "before_delete c2", "SQL DELETE",
      "after_delete a2", "after_delete b2", "after_delete c2",
    }, env.trace)
  end)

  it("a listener sees the rows saved before its own (each row's key is known to the next)", function()
    local env = setup(false)
    local User = env.User
    local counts = {}
    orm.event.listen(User, "before_insert", function(_, connection, target)
      local n = connection:execute(orm.select(orm.func.count()):select_from(User)):scalar()
      counts[#counts + 1] = n
      target.seq = n + 1
    end)
    local s = orm.Session(env.engine)
    s:add_all({ User{ name = "a" }, User{ name = "b" }, User{ name = "c" } })
    s:commit()
    assert.same({ 0, 1, 2 }, counts)
    local seqs = s:scalars(orm.select(User.seq):order_by(User.id)):all()
    assert.same({ 1, 2, 3 }, seqs)
  end)

  it("batch = true (the default) runs the before_ events of all rows first", function()
    local env = setup(nil)
    run(env)
    assert.same({ "before_insert a", "before_insert b", "before_insert c" },
      { env.trace[1], env.trace[2], env.trace[3] })
    assert.equal("SQL INSERT", env.trace[4])
  end)

  it("refuses a batch that is not a boolean, and unknown mapper args", function()
    local Base = orm.declarative_base()
    local ok, err = pcall(Base.model, Base, "T", { __tablename__ = "t", __mapper_args__ = { batch = "no" },
      id = orm.Column(orm.Integer, { primary_key = true }) })
    assert.is_false(ok)
    assert.equal("ArgumentError", err.kind)
    assert.truthy(tostring(err):find("batch", 1, true))
    ok, err = pcall(Base.model, Base, "T2", { __tablename__ = "t2", __mapper_args__ = { bacth = false },
      id = orm.Column(orm.Integer, { primary_key = true }) })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("bacth", 1, true) and tostring(err):find("batch", 1, true))
  end)
end)

describe("rows of nothing but defaults", function()
  it("each get their own INSERT ... DEFAULT VALUES and key (the servers batch other rows)", function()
    local engine = orm.create_engine("sqlite://")
    local Base = orm.declarative_base()
    local Bare = Base:model("Bare", {
      __tablename__ = "bare_rows",
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    Base.metadata:create_all(engine)
    local s = orm.Session(engine)
    local a, b, c = Bare{}, Bare{}, Bare{}
    s:add_all({ a, b, c })
    s:commit()
    assert.is_true(a.id ~= b.id and b.id ~= c.id and a.id ~= c.id)
    assert.equal(3, s:execute(orm.text("SELECT count(*) FROM bare_rows")):scalar())
    assert.equal(a, s:get(Bare, a.id))
    s:close()
    Base.metadata:drop_all(engine)
  end)
end)

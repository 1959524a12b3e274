-- Mixing inheritance kinds (SQLAlchemy 2.0.58, checked with echo=True): a single-table
-- subclass of a joined-table subclass (no __tablename__ under a class with its own table)
-- adds its columns to its parent's own table and tells its rows apart by the hierarchy's
-- discriminator.
local orm = require("lualchemy")

local generic = generic_sql or function(s) return s end

local function setup()
  local env = { log = {} }
  env.engine = orm.create_engine("sqlite://", {
    echo = function(sql) env.log[#env.log + 1] = generic(sql) end,
  })
  local Base = orm.declarative_base()
  env.Base = Base
  env.Employee = Base:model("Employee", {
    __tablename__ = "mx_employees",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    type = orm.Column(orm.String(20)),
    __mapper_args__ = { polymorphic_on = "type", polymorphic_identity = "employee" },
  })
  env.Engineer = env.Employee:model("Engineer", {
    __tablename__ = "mx_engineers",
    id = orm.Column(orm.Integer, orm.ForeignKey("mx_employees.id"), { primary_key = true }),
    language = orm.Column(orm.String(30)),
    __mapper_args__ = { polymorphic_identity = "engineer" },
  })
  env.Senior = env.Engineer:model("Senior", {
    level = orm.Column(orm.Integer),
    projects = orm.relationship("Project", { back_populates = "lead" }),
    __mapper_args__ = { polymorphic_identity = "senior" },
  })
  env.Project = Base:model("Project", {
    __tablename__ = "mx_projects",
    id = orm.Column(orm.Integer, { primary_key = true }),
    lead_id = orm.Column(orm.Integer, orm.ForeignKey("mx_engineers.id")),
    lead = orm.relationship("Senior", { back_populates = "projects" }),
  })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  function env.scalar(sql) return env.s:execute(orm.text(sql)):scalar() end
  function env.sql_since(n)
    local out = {}
    for i = n + 1, #env.log do
      local l = env.log[i]
      if not l:find("^BEGIN") and not l:find("^COMMIT") and not l:find("^ROLLBACK") then
        out[#out + 1] = (l:gsub("%s+", " "))
      end
    end
    return out
  end
  return env
end

local function seed(env)
  env.s:add_all({
    env.Employee({ name = "e1" }),
    env.Engineer({ name = "g2", language = "lua" }),
    env.Senior({ name = "s3", language = "c", level = 3 }),
  })
  env.s:commit()
  env.s:close()
end

local function classes(objs)
  local out = {}
  for i = 1, #objs do out[i] = orm.inspect(objs[i]).mapper.class_name .. ":" .. objs[i].name end
  return out
end

describe("a single-table subclass of a joined-table subclass", function()
  it("adds its columns to its parent's own table", function()
    local env = setup()
    local cols = {}
    for _, c in pairs(env.Base.metadata.tables.mx_engineers.columns) do cols[#cols + 1] = c.name end
    assert.same({ "id", "language", "level" }, cols)
    local i = orm.inspect(env.Senior)
    assert.is_true(i.single)
    assert.is_false(orm.inspect(env.Engineer).single)
    assert.equal("mx_engineers", i.local_table.name)
    assert.equal(env.Engineer, i.inherits.class)
    assert.equal(env.Senior, orm.inspect(env.Employee).polymorphic_map.senior)
  end)

  it("writes its rows in both tables, its columns in its parent's", function()
    local env = setup()
    seed(env)
    assert.equal(3, env.scalar("SELECT level FROM mx_engineers WHERE language = 'c'"))
    assert.equal("senior", env.scalar("SELECT type FROM mx_employees WHERE name = 's3'"))
    local sr = env.s:execute(orm.select(env.Senior)):scalars():one()
    sr.level = 4
    local n = #env.log
    env.s:commit()
    local sql = env.sql_since(n)
    assert.equal(1, #sql)
    assert.truthy(sql[1]:find("UPDATE mx_engineers SET level=? WHERE mx_engineers.id = ?", 1, true), sql[1])
    env.s:delete(sr)
    env.s:commit()
    assert.equal(1, env.scalar("SELECT count(*) FROM mx_engineers"))
    assert.equal(2, env.scalar("SELECT count(*) FROM mx_employees"))
    env.s:close()
  end)

  it("is queried through its parent's join, filtered by its identities", function()
    local env = setup()
    seed(env)
    local s = env.s
    assert.same({ "Employee:e1", "Engineer:g2", "Senior:s3" },
      classes(s:execute(orm.select(env.Employee):order_by(env.Employee.id)):scalars():all()))
    assert.same({ "Engineer:g2", "Senior:s3" },
      classes(s:execute(orm.select(env.Engineer):order_by(env.Engineer.id)):scalars():all()))
    local n = #env.log
    local srs = s:execute(orm.select(env.Senior):where(env.Senior.level:eq(3))):scalars():all()
    local sql = env.sql_since(n)
    assert.same({ "Senior:s3" }, classes(srs))
    assert.truthy(sql[1]:find("FROM mx_employees JOIN mx_engineers ON mx_employees.id = mx_engineers.id", 1, true), sql[1])
    assert.truthy(sql[1]:find("mx_employees.type IN (", 1, true), sql[1])
    assert.equal("c", srs[1].language)
    s:close()
    -- a row loaded through the base loads the subclass's columns on access
    local e = s:execute(orm.select(env.Employee):where(env.Employee.name:eq("s3"))):scalars():one()
    assert.equal(env.Senior, orm.inspect(e).mapper.class)
    assert.equal(3, e.level)
    s:close()
    assert.same({ "Employee:e1", "Engineer:g2", "Senior:s3" },
      classes(s:execute(orm.select(orm.with_polymorphic(env.Employee, "*")):order_by(env.Employee.id)):scalars():all()))
    s:close()
  end)

  it("has relationships of its own, and is a relationship's target", function()
    local env = setup()
    seed(env)
    local s = env.s
    local sr = s:execute(orm.select(env.Senior)):scalars():one()
    s:add(env.Project({ lead = sr }))
    s:commit()
    s:close()
    local p = s:execute(orm.select(env.Project):options(orm.joinedload(env.Project.lead))):scalars():one()
    assert.equal("s3", p.lead.name)
    assert.equal(1, #p.lead.projects)
    assert.equal(1, #s:execute(orm.select(env.Project):join(env.Project.lead):where(env.Senior.level:eq(3))):scalars():all())
    s:close()
  end)
end)

-- Self-referential eager loading past one level (issue 17): selectinload's recursion_depth
-- and a relationship's join_depth. A chain of nodes 1-2-3-4-5; the levels loaded and the
-- SELECTs counted are what SQLAlchemy 2.0.58 does with the same model and options.
local orm = require("lualchemy")

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

local function chain()
  local env = { selects = 0 }
  local Base = orm.declarative_base()
  env.Node = Base:model("Node", {
    __tablename__ = "rl_nodes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("rl_nodes.id")),
    children = orm.relationship("Node", { order_by = "Node.id" }),
    jchildren = orm.relationship("Node", { order_by = "Node.id", lazy = "joined", join_depth = 2, viewonly = true }),
  })
  env.engine = orm.create_engine("sqlite://", { echo = function(sql)
    if sql:find("^SELECT") then env.selects = env.selects + 1 end
  end })
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  for i = 1, 5 do env.s:add(env.Node{ id = i, parent_id = i > 1 and i - 1 or nil }) end
  env.s:commit()
  return env
end


local function unloaded_set(node)
  local set = {}
  for _, k in ipairs(orm.inspect(node).unloaded) do set[k] = true end
  return set
end

describe("selectinload(A.b, { recursion_depth = n })", function()
  for _, case in ipairs({
    { nil, 2, 1, false }, { 0, 2, 1, false }, { 1, 3, 2, false }, { 2, 4, 3, false },
    { 3, 5, 4, false }, { -1, 6, 4, true },
  }) do
    local depth, selects, loaded_levels, leaf_loaded = case[1], case[2], case[3], case[4]
    it(("recursion_depth = %s loads %d levels in %d SELECTs"):format(tostring(depth), loaded_levels, selects), function()
      local env = chain()
      env.s:expunge_all()
      env.selects = 0
      local opt = orm.selectinload(env.Node.children, { recursion_depth = depth })
      local root = env.s:scalars(orm.select(env.Node):where(env.Node.id:eq(1))
        :options(opt, orm.lazyload(env.Node.jchildren))):one()
      assert.equal(selects, env.selects)
      local n, node = 0, root
      while not unloaded_set(node).children and #node.children > 0 do
        n = n + 1
        node = node.children[1]
      end
      assert.equal(loaded_levels, n)
      assert.equal(leaf_loaded, not unloaded_set(node).children)
    end)
  end

  it("is refused on a relationship that is not self-referential", function()
    local Base = orm.declarative_base()
    local A = Base:model("A", { __tablename__ = "rl_a", id = orm.Column(orm.Integer, { primary_key = true }),
      bs = orm.relationship("B") })
    Base:model("B", { __tablename__ = "rl_b", id = orm.Column(orm.Integer, { primary_key = true }),
      a_id = orm.Column(orm.Integer, orm.ForeignKey("rl_a.id")) })
    local ok, err = pcall(orm.selectinload, A.bs, { recursion_depth = -1 })
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "recursion_depth option on relationship A.bs not valid"), tostring(err))
    ok, err = pcall(orm.selectinload, A.bs, { depth = 1 })
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "unknown option 'depth'"), tostring(err))
  end)
end)

describe("join_depth", function()
  it("loads that many levels of a self-referential joined default in one SELECT", function()
    local env = chain()
    env.s:expunge_all()
    env.selects = 0
    local root = env.s:execute(orm.select(env.Node):where(env.Node.id:eq(1))):unique():scalars():one()
    assert.equal(1, env.selects)
    local n, node = 0, root
    while not unloaded_set(node).jchildren and #node.jchildren > 0 do
      n = n + 1
      node = node.jchildren[1]
    end
    assert.equal(2, n)
    assert.is_true(unloaded_set(node).jchildren == true)
  end)

  it("must be a positive integer", function()
    local ok, err = pcall(orm.relationship, "Node", { join_depth = 0 })
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "join_depth must be a positive integer"), tostring(err))
  end)
end)

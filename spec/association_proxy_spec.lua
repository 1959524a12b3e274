-- orm.association_proxy (issue 17): reading and writing through an association object, as
-- SQLAlchemy 2.0.58's association_proxy does with the same models (the expected values were
-- observed there).
local orm = require("lualchemy")

local function has(s, needle) return type(s) == "string" and s:find(needle, 1, true) ~= nil end

local function setup()
  local env = {}
  local Base = orm.declarative_base()
  env.User = Base:model("User", {
    __tablename__ = "ap_users",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(20)),
    user_keywords = orm.relationship("UserKeyword", { back_populates = "user", cascade = "all, delete-orphan",
      order_by = "UserKeyword.keyword_id" }),
    keywords = orm.association_proxy("user_keywords", "keyword", {
      creator = function(kw) return env.UserKeyword{ keyword = kw } end }),
    special = orm.association_proxy("user_keywords", "special_key"),
    profile = orm.relationship("Profile", { uselist = false }),
    bio = orm.association_proxy("profile", "bio"),
  })
  env.Profile = Base:model("Profile", {
    __tablename__ = "ap_profiles",
    id = orm.Column(orm.Integer, { primary_key = true }),
    user_id = orm.Column(orm.Integer, orm.ForeignKey("ap_users.id")),
    bio = orm.Column(orm.String(20)),
  })
  env.UserKeyword = Base:model("UserKeyword", {
    __tablename__ = "ap_user_keywords",
    user_id = orm.Column(orm.Integer, orm.ForeignKey("ap_users.id"), { primary_key = true }),
    keyword_id = orm.Column(orm.Integer, orm.ForeignKey("ap_keywords.id"), { primary_key = true }),
    special_key = orm.Column(orm.String(20)),
    user = orm.relationship("User", { back_populates = "user_keywords" }),
    keyword = orm.relationship("Keyword"),
  })
  env.Keyword = Base:model("Keyword", {
    __tablename__ = "ap_keywords",
    id = orm.Column(orm.Integer, { primary_key = true }),
    word = orm.Column(orm.String(20)),
  })
  env.engine = orm.create_engine("sqlite://")
  Base.metadata:create_all(env.engine)
  env.s = orm.Session(env.engine)
  return env
end

local function words(proxy)
  local out = {}
  for k in proxy:iter() do out[#out + 1] = k.word end
  return table.concat(out, ",")
end

describe("orm.association_proxy through a collection", function()
  it("reads the members' values and writes new association objects with the creator", function()
    local env = setup()
    local u = env.User{ name = "u" }
    local k1, k2, k3 = env.Keyword{ id = 1, word = "a" }, env.Keyword{ id = 2, word = "b" }, env.Keyword{ id = 3, word = "c" }
    u.keywords:append(k1)
    u.keywords:extend({ k2, k3 })
    assert.equal(3, #u.keywords)
    assert.equal("a,b,c", words(u.keywords))
    assert.is_true(u.keywords:contains(k2))
    assert.equal(3, #u.user_keywords)
    assert.equal(k1, u.user_keywords[1].keyword)
    u.keywords:remove(k2)
    assert.equal("a,c", words(u.keywords))
    assert.equal(2, #u.user_keywords)
    assert.equal(k3, u.keywords[2])
    assert.is_false(u.keywords:contains(k2))
    env.s:add(u)
    env.s:commit()
    local rows = env.s:execute(orm.text("SELECT user_id, keyword_id FROM ap_user_keywords ORDER BY keyword_id")):all()
    assert.equal(2, #rows)
    assert.equal(3, rows[2][2])
  end)

  it("assigning a list replaces the association objects", function()
    local env = setup()
    local k1, k2 = env.Keyword{ id = 1, word = "a" }, env.Keyword{ id = 2, word = "b" }
    local u = env.User{ name = "u" }
    u.keywords:extend({ k1, k2 })
    env.s:add(u)
    env.s:commit()
    u.keywords = { env.Keyword{ id = 3, word = "c" } }
    assert.equal("c", words(u.keywords))
    env.s:commit() -- the dropped association objects are orphans: deleted
    assert.equal(3, env.s:execute(orm.text("SELECT keyword_id FROM ap_user_keywords")):scalar())
    assert.equal(1, env.s:execute(orm.text("SELECT COUNT(*) FROM ap_user_keywords")):scalar())
  end)

  it("removing a value not there raises", function()
    local env = setup()
    local u = env.User{ name = "u" }
    local ok, err = pcall(function() u.keywords:remove(env.Keyword{ word = "x" }) end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "not in the association proxy"), tostring(err))
  end)

  it("builds SQL on the class: contains(obj), any(cond); a column proxy's contains is LIKE", function()
    local env = setup()
    local s, User, Keyword = env.s, env.User, env.Keyword
    local k1 = Keyword{ id = 1, word = "a" }
    local u = User{ name = "u" }
    u.keywords:extend({ k1, Keyword{ id = 3, word = "c" } })
    s:add(u)
    s:add(User{ name = "other" })
    s:commit()
    local function names(cond)
      local out = {}
      for _, x in ipairs(s:scalars(orm.select(User):where(cond):order_by(User.id)):all()) do out[#out + 1] = x.name end
      return table.concat(out, ",")
    end
    assert.equal("u", names(User.keywords:contains(k1)))
    assert.equal("u", names(User.keywords:any(Keyword.word:eq("c"))))
    assert.equal("", names(User.keywords:any(Keyword.word:eq("b"))))
    local sql = tostring(orm.select(User):where(User.special:contains("q")))
    assert.truthy(has(sql, "ap_user_keywords.special_key LIKE '%' || ? || '%'"), sql)
  end)
end)

describe("orm.association_proxy through a scalar relationship", function()
  it("reads the related object's value; setting makes the object when there is none", function()
    local env = setup()
    local u = env.User{ name = "u" }
    env.s:add(u)
    env.s:commit()
    assert.is_nil(u.bio)
    u.bio = "hello" -- no creator: Profile{ bio = "hello" }
    assert.equal("hello", u.profile.bio)
    local profile = u.profile
    u.bio = "x" -- the same object changes
    assert.equal(profile, u.profile)
    assert.equal("x", profile.bio)
    env.s:commit()
    local found = env.s:scalars(orm.select(env.User):where(env.User.bio:eq("x"))):all()
    assert.equal(1, #found)
    assert.equal(0, #env.s:scalars(orm.select(env.User):where(env.User.bio:ne("x"))):all())
  end)

  it("refuses the collection comparisons, naming the proxy", function()
    local env = setup()
    local ok, err = pcall(function() return env.User.bio:contains("x") end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "profile.bio: contains() is for a collection"), tostring(err))
  end)
end)

describe("orm.association_proxy arguments", function()
  it("refuses an unknown option and a non-function creator, naming them", function()
    local ok, err = pcall(orm.association_proxy, "a", "b", { creater = function() end })
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "unknown option 'creater' (valid: creator)"), tostring(err))
    ok, err = pcall(orm.association_proxy, "a", "b", { creator = 1 })
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "creator must be a function"), tostring(err))
  end)

  it("names a missing relationship", function()
    local Base = orm.declarative_base()
    local M = Base:model("M", {
      __tablename__ = "ap_m",
      id = orm.Column(orm.Integer, { primary_key = true }),
      things = orm.association_proxy("nope", "x"),
    })
    local ok, err = pcall(function() return M{}.things end)
    assert.is_false(ok)
    assert.truthy(has(tostring(err), "M has no relationship 'nope'"), tostring(err))
  end)
end)

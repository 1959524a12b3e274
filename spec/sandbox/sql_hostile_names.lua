-- Everything a script passes as a name rather than a value is validated or quoted: SQL
-- in filter_by keys, order_by and label names, orm.func names, model table and column
-- names, index names and DDL fragments never runs (table m keeps its two rows).
-- the shared fixture (spec/sandbox/fixtures/main_db.lua): main.db under ALLOWED with two rows
local orm, engine, M, s, conn, rows, via_session, via_connection = main_db()
local HOSTILE = {
  "x; DROP TABLE m; --",
  "name\"; DROP TABLE m; --",
  "1=1) OR (1=1",
  "name` FROM m; DELETE FROM m; --",
  "m]; DELETE FROM m; --",
  "\0nul",
  "name') ; DELETE FROM m; --",
}
local function survives(what)
  pcall(function() s:rollback() end)
  local n = rows()
  check("m keeps two rows after " .. what, n == 2, n)
end
for i, h in ipairs(HOSTILE) do
  pcall(function() return s:scalars(orm.select(M):filter_by{ [h] = 1 }):all() end)
  pcall(function() return s:query(M):filter_by{ [h] = 1 }:all() end)
  pcall(function() return s:scalars(orm.select(M):order_by(h)):all() end)
  pcall(function() return s:execute(orm.select(M.name:label(h))):all() end)
  pcall(function() return s:scalar(orm.select(orm.func[h](M.id))) end)
  pcall(function() return s:execute(orm.select(M.id):group_by(h)):all() end)
  pcall(function() return s:execute(orm.select(M):subquery(h)):all() end)
  pcall(function() return s:execute(orm.select(M.id):cte(h)):all() end)
  pcall(function() return s:execute(orm.text("SELECT :" .. h), {}):all() end)
  survives("hostile names in queries #" .. i)
  local B2 = orm.declarative_base()
  pcall(function()
    local X = B2:model("X" .. i, {
      __tablename__ = h,
      id = orm.Column(orm.Integer, { primary_key = true }),
    })
    B2.metadata:create_all(engine)
  end)
  pcall(function()
    local B3 = orm.declarative_base()
    B3:model("Y" .. i, {
      __tablename__ = "y" .. i,
      id = orm.Column(orm.Integer, { primary_key = true }),
      v = orm.Column(h, orm.Integer),
      __table_args__ = { orm.Index(h, "v") },
    })
    B3.metadata:create_all(engine)
  end)
  pcall(function()
    local B4 = orm.declarative_base()
    B4:model("Z" .. i, {
      __tablename__ = "z" .. i,
      id = orm.Column(orm.Integer, { primary_key = true }),
      v = orm.Column(orm.Integer, { server_default = "0); DROP TABLE m; --" }),
      w = orm.Column(orm.String(h)),
    })
    B4.metadata:create_all(engine)
  end)
  pcall(function()
    local B5 = orm.declarative_base()
    B5:model("C" .. i, {
      __tablename__ = "c" .. i,
      id = orm.Column(orm.Integer, { primary_key = true }),
      __table_args__ = { orm.CheckConstraint("1); DROP TABLE m; --") },
    })
    B5.metadata:create_all(engine)
  end)
  pcall(function()
    local B6 = orm.declarative_base()
    B6:model("D" .. i, {
      __tablename__ = "d" .. i,
      id = orm.Column(orm.Integer, { primary_key = true }),
      m_id = orm.Column(orm.Integer, orm.ForeignKey(h .. ".id")),
    })
    B6.metadata:create_all(engine)
  end)
  pcall(function() return orm.CreateTable(orm.Table(h, orm.MetaData(), orm.Column("id", orm.Integer))):compile(engine) end)
  survives("hostile names in DDL #" .. i)
end
print("DONE")

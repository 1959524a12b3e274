-- An upserted settings store: saving a setting inserts it the first time and updates it
-- afterwards, in one statement, whatever the database (ON CONFLICT on SQLite and
-- PostgreSQL, ON DUPLICATE KEY UPDATE on MySQL / MariaDB); each save counts a hit.
--
--   lualchemy examples/settings_store.lua
local orm = require("lualchemy")

local engine = orm.create_engine("sqlite://")
local Base = orm.declarative_base()
local Setting = Base:model("Setting", {
  __tablename__ = "settings",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(40), { nullable = false, unique = true }),
  value = orm.Column(orm.String(100)),
  saves = orm.Column(orm.Integer, { nullable = false, default = 1 }),
})
Base.metadata:create_all(engine)

-- The upsert for the engine's database (engine.dialect: "sqlite", "postgresql", "mysql"
-- or "mariadb").
local function save_statement()
  local backend = engine.dialect
  if backend == "mysql" or backend == "mariadb" then
    local stmt = orm.mysql.insert(Setting)
    return stmt:on_duplicate_key_update{ value = stmt.inserted.value, saves = Setting.saves + 1 }
  end
  local stmt = (backend == "postgresql" and orm.postgresql or orm.sqlite).insert(Setting)
  return stmt:on_conflict_do_update{
    index_elements = { Setting.name },
    set_ = { value = stmt.excluded.value, saves = Setting.saves + 1 },
  }
end

local session = orm.Session(engine)
local function save(settings)
  session:execute(save_statement(), settings)
  session:commit()
end

print("== first save ==")
save({ { name = "volume", value = "5" }, { name = "lang", value = "en" } })
print("== second save: volume changes, theme is new ==")
save({ { name = "volume", value = "9" }, { name = "theme", value = "dark" } })

local rows = session:execute(orm.select(Setting.name, Setting.value, Setting.saves):order_by(Setting.name)):all()
for _, row in ipairs(rows) do
  print(("%-6s = %-4s (saved %d times)"):format(row.name, row.value, row.saves))
end
assert(#rows == 3 and rows[3].name == "volume" and rows[3].value == "9" and rows[3].saves == 2)

print("== the SQL ==")
print(tostring(save_statement()))

print("== keeping the first value: on_conflict_do_nothing ==")
session:execute(orm.sqlite.insert(Setting):on_conflict_do_nothing{ index_elements = { "name" } },
  { { name = "lang", value = "fr" } })
session:commit()
local lang = session:scalar(orm.select(Setting.value):where(Setting.name:eq("lang")))
print("lang", lang)
assert(lang == "en")

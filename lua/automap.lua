-- orm.automap_base(): SQLAlchemy's automap. `Base:prepare(engine)` reflects the database
-- and maps a class per table that has a primary key (named as the table), with
-- relationships from the foreign keys, named as automap names them: the many-to-one
-- side after the referred class lowercased (`addresses.users`), the one-to-many side
-- `<referring class lowercased>_collection` (`users.addresses_collection`); a table of
-- two foreign keys and nothing else is an association table: a many-to-many pair
-- through it, each side `<other class lowercased>_collection`.
-- Written in the Lua every version shares (docs/LUA_VERSIONS.md).
local orm = ...

local AutomapBase = {}
AutomapBase.__index = AutomapBase

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- A table of two foreign keys whose every column is in one of them (automap's test).
local function is_association(cols, fks)
  if #fks ~= 2 then return false end
  local in_fk = {}
  for _, fk in ipairs(fks) do
    for _, c in ipairs(fk.constrained_columns) do in_fk[c] = true end
  end
  for _, c in ipairs(cols) do
    if not in_fk[c.name] then return false end
  end
  return true
end

function AutomapBase:prepare(engine)
  if getmetatable(self) ~= AutomapBase then
    error("Base:prepare(engine): call it with ':' on the automap base", 2)
  end
  if type(engine) == "table" then engine = engine.autoload_with end
  if type(engine) ~= "userdata" then
    error("Base:prepare(engine): expected an engine (Base:prepare(engine) or Base:prepare{ autoload_with = engine })", 2)
  end
  local insp = orm.inspect(engine)
  local tables = {}
  for _, name in ipairs(insp:get_table_names()) do
    if self.classes[name] == nil then
      tables[#tables + 1] = {
        name = name,
        columns = insp:get_columns(name),
        pk = insp:get_pk_constraint(name).constrained_columns,
        fks = insp:get_foreign_keys(name),
        uniques = insp:get_unique_constraints(name),
      }
    end
  end
  local mapped, specs, associations = {}, {}, {}
  for _, t in ipairs(tables) do
    if is_association(t.columns, t.fks) then
      associations[#associations + 1] = t
    elseif #t.pk > 0 then
      mapped[t.name] = t
    end
  end
  -- the columns of each class, with their foreign keys
  for _, t in ipairs(tables) do
    if mapped[t.name] then
      local pk = set_of(t.pk)
      local spec = { __tablename__ = t.name }
      local single_fk = {}
      for _, fk in ipairs(t.fks) do
        if #fk.constrained_columns == 1 then single_fk[fk.constrained_columns[1]] = fk end
      end
      for _, c in ipairs(t.columns) do
        local opts = { primary_key = pk[c.name] or nil, nullable = c.nullable }
        if c.default ~= nil and not c.autoincrement then opts.server_default = orm.text(c.default) end
        if pk[c.name] and c.autoincrement == false then opts.autoincrement = false end
        local fk = single_fk[c.name]
        if fk then
          spec[c.name] = orm.Column(c.name, c.type, orm.ForeignKey(
            fk.referred_table .. "." .. fk.referred_columns[1],
            { ondelete = fk.options.ondelete, onupdate = fk.options.onupdate }), opts)
        else
          spec[c.name] = orm.Column(c.name, c.type, opts)
        end
      end
      local args = {}
      for _, fk in ipairs(t.fks) do
        if #fk.constrained_columns > 1 then
          local refs = {}
          for i, rc in ipairs(fk.referred_columns) do refs[i] = fk.referred_table .. "." .. rc end
          args[#args + 1] = orm.ForeignKeyConstraint(fk.constrained_columns, refs,
            { name = fk.name, ondelete = fk.options.ondelete, onupdate = fk.options.onupdate })
        end
      end
      for _, u in ipairs(t.uniques) do
        local a = {}
        for i, c in ipairs(u.column_names) do a[i] = c end
        a[#a + 1] = { name = u.name }
        args[#args + 1] = orm.UniqueConstraint((table.unpack or unpack)(a))
      end
      if #args > 0 then spec.__table_args__ = args end
      specs[t.name] = spec
    end
  end
  -- relationships: one pair per foreign key to a mapped class. A name already taken by
  -- a column is an error, as SQLAlchemy's mapper raises it.
  local function add(spec, cls, key, value)
    if spec[key] ~= nil then
      error(string.format(
        "automap: relationship '%s' on class %s conflicts with its column '%s'", key, cls, key), 0)
    end
    spec[key] = value
  end
  for _, t in ipairs(tables) do
    local spec = specs[t.name]
    if spec then
      local seen = {}
      for _, fk in ipairs(t.fks) do
        local target = fk.referred_table
        local target_spec = specs[target]
        -- one pair per referred class (two keys to one class would need foreign_keys)
        if target_spec and not seen[target] then
          seen[target] = true
          local scalar, collection = target:lower(), t.name:lower() .. "_collection"
          local options = { back_populates = collection }
          if target == t.name then
            -- self-referential: the many-to-one side's remote columns are the key's
            options.remote_side = #fk.referred_columns == 1 and fk.referred_columns[1]
              or fk.referred_columns
          end
          add(spec, t.name, scalar, orm.relationship(target, options))
          add(target_spec, target, collection, orm.relationship(t.name, { back_populates = scalar }))
        end
      end
    end
  end
  for _, a in ipairs(associations) do
    local left, right = a.fks[1].referred_table, a.fks[2].referred_table
    if specs[left] and specs[right] and left ~= right then
      -- by name: the table joins the metadata once the classes' tables are there
      local secondary = a.name
      local lkey, rkey = right:lower() .. "_collection", left:lower() .. "_collection"
      add(specs[left], left, lkey, orm.relationship(right, { secondary = secondary, back_populates = rkey }))
      add(specs[right], right, rkey, orm.relationship(left, { secondary = secondary, back_populates = lkey }))
    end
  end
  for _, t in ipairs(tables) do
    if specs[t.name] then
      self.classes[t.name] = self.registry:model(t.name, specs[t.name])
    end
  end
  for _, a in ipairs(associations) do
    orm.Table(a.name, self.metadata, { autoload_with = engine })
  end
  return self
end

return function()
  local base = orm.declarative_base()
  return setmetatable({
    -- the mapped classes by table name (Base.classes.users)
    classes = {},
    metadata = base.metadata,
    -- the declarative base the classes are made by
    registry = base,
  }, AutomapBase)
end

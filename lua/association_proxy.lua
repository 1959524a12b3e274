-- orm.association_proxy(target, attr [, { creator = fn }]): SQLAlchemy's association proxy,
-- a model attribute that reads and writes `attr` of the objects a relationship `target`
-- holds. Through a collection it is a list of those values (`#`, `[i]`, `:iter()`,
-- `:all()`, `:contains(v)`, `:append(v)` / `:extend(list)` making each new object with
-- `creator(v)`, `:remove(v)`, `:clear()`, assignment of a list); through a scalar
-- relationship it is the related object's value (setting it makes the object with
-- `creator(v)` when there is none). The default creator is `Target{ [attr] = v }` (Python's
-- `Target(v)`). On the class it builds SQL: `:contains(v)`, `:any(cond)` for a collection,
-- `:has(cond)`, `:eq(v)` / `:ne(v)` for a scalar, through the relationship's EXISTS.
--
-- Built on orm.hybrid_property (an instance getter and setter, a class expression), in the
-- Lua every version shares (docs/LUA_VERSIONS.md).
local orm = ...

local raise = orm.Error._raise
local setmetatable, getmetatable, type, pairs, tostring, ipairs =
  setmetatable, getmetatable, type, pairs, tostring, ipairs

local function arg_error(msg)
  raise("ArgumentError", msg)
end

-- the relationship `target` of the model of `obj` (its inspect() info)
local function relationship_of(obj, target, attr)
  local mapper = orm.inspect(obj).mapper
  local rel = mapper.relationships[target]
  if rel == nil then
    arg_error(("association_proxy('%s', '%s') on %s: %s has no relationship '%s'"):format(
      target, attr, mapper.class_name, mapper.class_name, target))
  end
  return rel
end

local function make(proxy, obj, value)
  if proxy.creator then return proxy.creator(value) end
  local rel = relationship_of(obj, proxy.target, proxy.attr)
  return rel.target({ [proxy.attr] = value })
end

-- The list a collection proxy reads: a view of the collection `obj[target]`. On Lua 5.1
-- and LuaJIT, where `#` honours `__len` on a userdata only, it is a userdata (newproxy)
-- whose fields live in a weak table; elsewhere a table.
local List = {}
local fields_of = setmetatable({}, { __mode = "k" })
local newproxy = newproxy
local proto

local function list(proxy, obj)
  local f = { _proxy = proxy, _obj = obj }
  if newproxy then
    local u = newproxy(proto)
    fields_of[u] = f
    return u
  end
  return setmetatable(f, List)
end

local function fields(self)
  return fields_of[self] or self
end

function List:_collection()
  local f = fields(self)
  return f._obj[f._proxy.target]
end

function List:all()
  local out, attr = {}, fields(self)._proxy.attr
  for x in self:_collection():iter() do out[#out + 1] = x[attr] end
  return out
end

function List:iter()
  local items, i = self:all(), 0
  return function()
    i = i + 1
    return items[i]
  end
end

function List:contains(value)
  local attr = fields(self)._proxy.attr
  for x in self:_collection():iter() do
    if x[attr] == value then return true end
  end
  return false
end

function List:append(value)
  local f = fields(self)
  self:_collection():append(make(f._proxy, f._obj, value))
end

function List:extend(values)
  for _, v in ipairs(values) do self:append(v) end
end

-- removes the first member whose value is `value`; an error when there is none
function List:remove(value)
  local proxy = fields(self)._proxy
  local attr, coll = proxy.attr, self:_collection()
  for x in coll:iter() do
    if x[attr] == value then
      coll:remove(x)
      return
    end
  end
  arg_error(("%s.remove(x): x not in the association proxy of '%s'"):format(proxy.target, proxy.attr))
end

function List:clear()
  self:_collection():clear()
end

List.__len = function(self) return #self:_collection() end
List.__tostring = function(self)
  local proxy = fields(self)._proxy
  return ("<association proxy %s.%s of %d values>"):format(proxy.target, proxy.attr, #self:_collection())
end
-- `proxy[i]`: the value of the i-th member; method names come from List itself
List.__index = function(self, k)
  if type(k) == "number" then
    local x = self:_collection()[k]
    if x == nil then return nil end
    return x[fields(self)._proxy.attr]
  end
  return List[k]
end
if newproxy then
  proto = newproxy(true)
  local mt = getmetatable(proto)
  for _, k in ipairs({ "__index", "__len", "__tostring" }) do mt[k] = List[k] end
end

-- The class side: SQL through the relationship.
local Comparator = {}
Comparator.__index = Comparator

local function is_relationship(cls, key)
  return orm.inspect(cls).relationships[key] ~= nil
end

function Comparator:_target_attr()
  local rel_info = orm.inspect(self._cls).relationships[self._proxy.target]
  return rel_info.target, rel_info.target[self._proxy.attr], rel_info
end

-- a collection: EXISTS a member whose value is `value` (a column: SQL `contains`, as
-- SQLAlchemy's); a scalar: the related object's value equals it
function Comparator:contains(value)
  local target, tattr, info = self:_target_attr()
  if not info.uselist then
    arg_error(("association proxy %s.%s: contains() is for a collection; use eq()"):format(info.key, self._proxy.attr))
  end
  local cond
  if is_relationship(target, self._proxy.attr) then cond = tattr:eq(value) else cond = tattr:contains(value) end
  return self._cls[self._proxy.target]:any(cond)
end

function Comparator:any(cond)
  local target, tattr, info = self:_target_attr()
  if not info.uselist then
    arg_error(("association proxy %s.%s: any() is for a collection; use has()"):format(info.key, self._proxy.attr))
  end
  if is_relationship(target, self._proxy.attr) then
    cond = cond == nil and tattr:has() or tattr:has(cond)
  end
  return self._cls[self._proxy.target]:any(cond)
end

function Comparator:has(cond)
  local target, tattr, info = self:_target_attr()
  if info.uselist then
    arg_error(("association proxy %s.%s: has() is for a scalar relationship; use any()"):format(info.key, self._proxy.attr))
  end
  if is_relationship(target, self._proxy.attr) then
    cond = cond == nil and tattr:has() or tattr:has(cond)
  end
  return self._cls[self._proxy.target]:has(cond)
end

for _, op in ipairs({ "eq", "ne" }) do
  Comparator[op] = function(self, value)
    local _, tattr, info = self:_target_attr()
    if info.uselist then
      arg_error(("association proxy %s.%s: %s() is for a scalar relationship; use contains() or any()"):format(info.key, self._proxy.attr, op))
    end
    return self._cls[self._proxy.target]:has(tattr[op](tattr, value))
  end
end

local OPTIONS = { creator = true }

return function(target, attr, opts)
  if type(target) ~= "string" or type(attr) ~= "string" then
    arg_error(("orm.association_proxy(target_collection, attr [, { creator = fn }]) takes two names, got %s, %s")
      :format(type(target), type(attr)))
  end
  local proxy = { target = target, attr = attr }
  if opts ~= nil then
    if type(opts) ~= "table" then arg_error("orm.association_proxy: options must be a table, got " .. type(opts)) end
    for k in pairs(opts) do
      if not OPTIONS[k] then
        arg_error(("orm.association_proxy: unknown option '%s' (valid: creator)"):format(tostring(k)))
      end
    end
    if opts.creator ~= nil and type(opts.creator) ~= "function" then
      arg_error("orm.association_proxy: creator must be a function, got " .. type(opts.creator))
    end
    proxy.creator = opts.creator
  end
  local h = orm.hybrid_property(function(self)
    local info = relationship_of(self, target, attr)
    if info.uselist then return list(proxy, self) end
    local related = self[target]
    if related == nil then return nil end
    return related[attr]
  end)
  h = h:setter(function(self, value)
    local info = relationship_of(self, target, attr)
    if info.uselist then
      if fields_of[value] or getmetatable(value) == List then
        value = value:all()
      elseif type(value) ~= "table" then
        arg_error(("association proxy %s.%s: assign a list of values, got %s"):format(info.key, attr, type(value)))
      end
      local coll = self[target]
      coll:clear()
      for _, v in ipairs(value) do coll:append(make(proxy, self, v)) end
      return
    end
    local related = self[target]
    if related == nil then
      self[target] = make(proxy, self, value)
    else
      related[attr] = value
    end
  end)
  h = h:expression(function(cls)
    return setmetatable({ _proxy = proxy, _cls = cls }, Comparator)
  end)
  return h
end

-- Runs op lists (difftest/gen.py) through lualchemy and prints one JSON observation per
-- step, in the shape sa_runner.py prints for SQLAlchemy (see docs/TESTING.md).
-- Usage: lualchemy difftest/lua_runner.lua JOB.lua
-- JOB.lua returns { db = "memory" | "file", dir = DIR, cases = { { seed = N, ops = {...} } } },
-- written by run.py; a JSON null is the sentinel NULL.
local orm = require("lualchemy")

NULL = setmetatable({}, { __name = "NULL" })
local job = dofile(arg[1])

-- JSON output ---------------------------------------------------------------------------
local ARR = {}
local function arr(t) return setmetatable(t or {}, ARR) end
local JNULL = setmetatable({}, { __name = "JNULL" })

local function enc_str(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local encode
function encode(v, out)
  local t = type(v)
  if v == nil or v == JNULL or v == NULL then out[#out + 1] = "null"
  elseif t == "boolean" then out[#out + 1] = tostring(v)
  elseif t == "number" then
    if math.type(v) == "integer" then out[#out + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = enc_str(tostring(v))
    else out[#out + 1] = string.format("%.17g", v) end
  elseif t == "string" then out[#out + 1] = enc_str(v)
  elseif t == "table" and getmetatable(v) == ARR then
    out[#out + 1] = "["
    for i = 1, v.n or #v do
      if i > 1 then out[#out + 1] = "," end
      encode(v[i], out)
    end
    out[#out + 1] = "]"
  elseif t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
      if i > 1 then out[#out + 1] = "," end
      out[#out + 1] = enc_str(k)
      out[#out + 1] = ":"
      encode(v[k], out)
    end
    out[#out + 1] = "}"
  else
    out[#out + 1] = enc_str("<" .. t .. ">")
  end
end

local function emit(v)
  local out = {}
  encode(v, out)
  io.write(table.concat(out), "\n")
end

-- schema (the same as sa_runner.py) ------------------------------------------------------
local function models()
  local Base = orm.declarative_base()
  local child_tag = orm.Table("child_tag", Base.metadata,
    orm.Column("child_id", orm.Integer, orm.ForeignKey("children.id"), { primary_key = true }),
    orm.Column("tag_id", orm.Integer, orm.ForeignKey("tags.id"), { primary_key = true }))
  local M = { Base = Base }
  M.Parent = Base:model("Parent", {
    __tablename__ = "parents",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30), { unique = true, nullable = false }),
    score = orm.Column(orm.Integer),
    children = orm.relationship("Child", { back_populates = "parent", cascade = "all, delete-orphan",
      order_by = "id" }),
  })
  M.Child = Base:model("Child", {
    __tablename__ = "children",
    id = orm.Column(orm.Integer, { primary_key = true }),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("parents.id")),
    label = orm.Column(orm.String(30), { nullable = false }),
    parent = orm.relationship("Parent", { back_populates = "children" }),
    tags = orm.relationship("Tag", { secondary = child_tag, back_populates = "children", order_by = "id" }),
  })
  M.Tag = Base:model("Tag", {
    __tablename__ = "tags",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30), { nullable = false }),
    children = orm.relationship("Child", { secondary = child_tag, back_populates = "tags", order_by = "id" }),
  })
  M.Node = Base:model("Node", {
    __tablename__ = "nodes",
    id = orm.Column(orm.Integer, { primary_key = true }),
    name = orm.Column(orm.String(30)),
    parent_id = orm.Column(orm.Integer, orm.ForeignKey("nodes.id")),
    parent = orm.relationship("Node", { remote_side = "id", back_populates = "children" }),
    children = orm.relationship("Node", { back_populates = "parent", order_by = "id" }),
  })
  return M
end

local M = models()
local TABLES = { "parents", "children", "tags", "child_tag", "nodes" }
local COLS = { Parent = { "id", "name", "score" }, Child = { "id", "parent_id", "label" },
  Tag = { "id", "name" }, Node = { "id", "name", "parent_id" } }
local RELS = { Parent = { children = true }, Child = { parent = false, tags = true },
  Tag = { children = true }, Node = { parent = false, children = true } }
local RELKEYS = { Parent = { "children" }, Child = { "parent", "tags" }, Tag = { "children" },
  Node = { "parent", "children" } }

-- --events (run.py): the session events compared, in the order fired
EVENTS = os.getenv("DIFFTEST_EVENTS") ~= nil and os.getenv("DIFFTEST_EVENTS") ~= ""
SESSION_EVENTS = { "after_begin", "before_commit", "after_commit", "after_rollback",
  "before_flush", "after_flush", "after_flush_postexec" }

local SKIP = setmetatable({}, { __name = "SKIP" })
local BOOM = "difftest boom"

local function err_kind(e)
  if e == SKIP then return nil end
  if type(e) == "userdata" then
    local ok, k = pcall(function() return e.kind end)
    if ok and k then return k end
  end
  local s = tostring(e)
  if s:find(BOOM, 1, true) then return "Boom" end
  return "LuaError: " .. s
end

-- runner --------------------------------------------------------------------------------
local Runner = {}
Runner.__index = Runner

local function class_name(o) return orm.inspect(o).mapper.class_name end

function Runner.new(url)
  local self = setmetatable({}, Runner)
  self.events = {}
  -- DIFFTEST_ECHO=1: every statement on stderr (the observations go to stdout)
  local echo = os.getenv("DIFFTEST_ECHO") and function(sql, params)
    local parts = {}
    for k = 1, type(params) == "table" and #params or 0 do parts[k] = tostring(params[k]) end
    io.stderr:write("lua: ", sql, "  (", table.concat(parts, ", "), ")\n")
  end or nil
  -- on a file, each session one real transaction from its first statement, reads
  -- included, as sa_runner.py's engine (BEGIN from its "begin" event): one snapshot
  self.engine = orm.create_engine(url, {
    echo = echo,
    sqlite_begin = url ~= "sqlite://" and "deferred" or nil,
  })
  M.Base.metadata:create_all(self.engine)
  self.h, self.rev, self.s = {}, {}, {}
  self.cls = {}
  return self
end

function Runner:obj(h)
  if h == nil or h == NULL then return nil end
  local o = self.h[h]
  if o == nil then error(SKIP) end
  return o
end

function Runner:bindone(h, o)
  self.h[h] = o
  self.rev[o] = h
end

function Runner:bind(h0, objs)
  if h0 == nil then return end
  local n = 0
  for _, o in ipairs(objs) do
    if self.rev[o] == nil and n < 3 then
      self:bindone(h0 + n, o)
      n = n + 1
    end
  end
end

function Runner:ref(o)
  if o == nil then return JNULL end
  local h = self.rev[o]
  if h then return "h" .. h end
  local i = orm.inspect(o)
  local ident = i.identity
  return string.format("%s:%s", self.cls[o] or class_name(o), ident and tostring(ident[1]) or "?")
end

function Runner:sess(n)
  local s = self.s[n]
  if s == nil then error(SKIP) end
  return s
end

function Runner:observe()
  local out = {}
  for h, o in pairs(self.h) do
    local i = orm.inspect(o)
    local state = i.transient and "transient" or i.pending and "pending" or i.persistent and "persistent"
      or i.deleted and "deleted" or "detached"
    local cls = self.cls[o]
    local attrs = i.attrs
    local a = {}
    local new = state == "transient" or state == "pending"
    for _, k in ipairs(COLS[cls]) do
      local st = attrs[k]
      if st.loaded then
        local v = st.loaded_value
        -- a new object's nil equals an unset column (no column has a default)
        if v == nil and not new then v = JNULL end
        a[k] = v
      end
    end
    for _, k in ipairs(RELKEYS[cls]) do
      local st = attrs[k]
      if st.loaded then
        local v = st.loaded_value
        if RELS[cls][k] then
          local refs = {}
          for _, x in ipairs(v) do refs[#refs + 1] = self:ref(x) end
          table.sort(refs)
          a[k] = arr(refs)
        else
          a[k] = self:ref(v)
        end
      end
    end
    local ident = i.identity
    local id = JNULL
    if ident then
      id = arr({})
      for j, x in ipairs(ident) do id[j] = x end
    end
    out["h" .. h] = { st = state, id = id, a = a }
  end
  return out
end

local function list_of(coll)
  local t = {}
  for _, x in ipairs(coll) do t[#t + 1] = x end
  return t
end

local function contains(coll, o)
  for _, x in ipairs(coll) do if x == o then return true end end
  return false
end

function Runner:where(w)
  if w[1] == "score_gt" then return M.Parent.score:gt(w[2]) end
  if w[1] == "name_in" then return M.Parent.name:in_(w[2]) end
  if w[1] == "label_eq" then return M.Child.label:eq(w[2]) end
  error("unknown where " .. tostring(w[1]))
end

function Runner:query(s, op)
  local q, a = op.q, op.arg
  local P, C, T, N = M.Parent, M.Child, M.Tag, M.Node
  local objs
  if q == "parents_score" then
    objs = s:scalars(orm.select(P):where(P.score:ge(a)):order_by(P.id)):all()
  elseif q == "children_of" then
    objs = s:scalars(orm.select(C):join(C.parent):where(P.name:eq(a)):order_by(C.id)):all()
  elseif q == "top_parents" then
    objs = s:scalars(orm.select(P):order_by(P.name:desc()):limit(a)):all()
  elseif q == "parents_with_label" then
    objs = s:scalars(orm.select(P):where(P.children:any(C.label:eq(a))):order_by(P.id)):all()
  elseif q == "root_nodes" then
    objs = s:scalars(orm.select(N):where(N.parent_id:is_(nil)):order_by(N.id)):all()
  elseif q == "count_children" then
    return s:scalar(orm.select(orm.func.count()):select_from(C))
  elseif q == "group_children" then
    local rows = s:execute(orm.select(C.parent_id, orm.func.count(C.id)):group_by(C.parent_id)
      :order_by(C.parent_id)):all()
    local out = arr()
    for _, r in ipairs(rows) do
      local a1, a2 = r[1], r[2]
      out[#out + 1] = arr({ a1 == nil and JNULL or a1, a2, n = 2 })
    end
    return out
  elseif q == "sum_score" then
    return s:scalar(orm.select(orm.func.sum(P.score)))
  elseif q == "tags_of" then
    local r = s:scalars(orm.select(T.name):join(T.children):where(C.label:eq(a)):order_by(T.name)):all()
    return arr(list_of(r))
  elseif q == "name_of" then
    return s:scalar(orm.select(P.score):where(P.name:eq(a)))
  else
    error("unknown query " .. q)
  end
  objs = list_of(objs)
  self:bind(op.h0, objs)
  local refs = arr()
  for _, o in ipairs(objs) do refs[#refs + 1] = self:ref(o) end
  return refs
end

local function keys_sorted(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

function Runner:run_op(op)
  local k = op.op
  if k == "session" then
    local sess = orm.Session(self.engine, { expire_on_commit = op.expire_on_commit,
      autoflush = op.autoflush })
    if EVENTS then
      for _, name in ipairs(SESSION_EVENTS) do
        orm.event.listen(sess, name, function() self.events[#self.events + 1] = "s" .. op.s .. " " .. name end)
      end
    end
    self.s[op.s] = sess
    return nil
  elseif k == "new" then
    local cls = M[op.cls]
    local parent = op.parent and self:obj(op.parent)
    local s = op.s and self:sess(op.s)
    local init = {}
    for key, v in pairs(op.vals) do if v ~= NULL then init[key] = v end end
    local o = cls(init)
    for _, key in ipairs(keys_sorted(op.vals)) do
      if op.vals[key] == NULL then o[key] = nil end
    end
    if parent then o.parent = parent end
    self:bindone(op.h, o)
    self.cls[o] = op.cls
    if s then s:add(o) end
    return nil
  elseif k == "add" then
    self:sess(op.s):add(self:obj(op.h))
  elseif k == "delete" then
    local s, o = self:sess(op.s), self:obj(op.h)
    local i = orm.inspect(o)
    if i.deleted or i.was_deleted then return "deleted" end -- known.py ORACLE_QUIRKS DELETE_OF_DELETED
    s:delete(o)
  elseif k == "set" then
    local o = self:obj(op.h)
    local v = op.val
    if v == NULL then v = nil end
    o[op.attr] = v
  elseif k == "append" or k == "remove" then
    local p, c = self:obj(op.h), self:obj(op.t)
    local coll = p[op.rel]
    if k == "remove" and not contains(coll, c) then return "absent" end
    -- known.py DELIBERATE APPEND_TWICE_RAISES (BEHAVIOUR.md): a member is not appended again
    if k == "append" and contains(coll, c) then return "member" end
    coll[k](coll, c)
  elseif k == "setref" then
    local o = self:obj(op.h)
    o[op.rel] = self:obj(op.t)
  elseif k == "read" then
    local o = self:obj(op.h)
    local v = o[op.attr]
    if op.attr == "children" or op.attr == "tags" then
      local l = list_of(v)
      self:bind(op.h0, l)
      local refs = arr()
      for _, x in ipairs(l) do refs[#refs + 1] = self:ref(x) end
      return refs
    elseif op.attr == "parent" then
      if v ~= nil then self:bind(op.h0, { v }) end
      return self:ref(v)
    end
    return v
  elseif k == "expire" then
    local attrs = op.attrs
    self:sess(op.s):expire(self:obj(op.h), attrs)
  elseif k == "refresh" then
    self:sess(op.s):refresh(self:obj(op.h))
  elseif k == "expire_all" or k == "flush" or k == "commit" or k == "rollback" then
    local s = self:sess(op.s)
    s[k](s)
  elseif k == "close" then
    self:sess(op.s):close()
    self.s[op.s] = nil
  elseif k == "nested" then
    local s = self:sess(op.s)
    local inner = arr()
    s:begin_nested(function()
      for j, o in ipairs(op.ops) do
        local ok, e = pcall(self.run_op, self, o)
        if ok then inner[j] = JNULL
        elseif e == SKIP then inner[j] = "skip"
        else error(e, 0) end
      end
      inner.n = #op.ops
      if op.fail then error(BOOM, 0) end
    end)
    return inner
  elseif k == "get" then
    local s = self:sess(op.s)
    local o = s:get(M[op.cls], op.id)
    if o ~= nil and self.rev[o] == nil then
      self:bindone(op.h, o)
      self.cls[o] = op.cls
    end
    return self:ref(o)
  elseif k == "query" then
    return self:query(self:sess(op.s), op)
  elseif k == "bulk_update" then
    local s = self:sess(op.s)
    local val = op.val
    local v
    if val[1] == "const" then v = val[2]
    elseif val[1] == "plus" then v = M.Parent.score + 1
    else v = orm.null() end
    local stmt = orm.update(M.Parent):where(self:where(op.where)):values{ score = v }
    local r = s:execute(stmt, nil, { synchronize_session = op.sync })
    return r.rowcount
  elseif k == "bulk_delete" then
    local s = self:sess(op.s)
    local stmt = orm.delete(M[op.cls]):where(self:where(op.where))
    local r = s:execute(stmt, nil, { synchronize_session = op.sync })
    return r.rowcount
  elseif k == "core" then
    return self:core(self:sess(op.s), op)
  elseif k == "conn_count" then
    local c = self.engine:connect()
    local ok, n = pcall(function()
      return c:execute(orm.text("SELECT count(*) FROM " .. op.table)):scalar()
    end)
    c:close()
    if not ok then error(n, 0) end
    return n
  else
    error("unknown op " .. tostring(k))
  end
  return nil
end

-- A Core statement on the plain tables (no ORM attribute in it).
function Runner:core(s, op)
  local parents, children = M.Parent.__table__, M.Child.__table__
  local kind = op.stmt
  if kind == "count" then
    local t = op.table == "parents" and parents or children
    local stmt = orm.select(orm.func.count()):select_from(t)
    if op.label ~= nil then stmt = stmt:where(children.c.label:eq(op.label)) end
    return s:execute(stmt):scalar()
  elseif kind == "sum" then
    return s:execute(orm.select(orm.func.sum(parents.c.score))):scalar()
  elseif kind == "update" then
    local v = op.val
    if v == nil or v == NULL then v = orm.null() end
    return s:execute(orm.update(parents):where(parents.c.score:gt(op.arg)):values{ score = v }).rowcount
  elseif kind == "delete" then
    return s:execute(orm.delete(children):where(children.c.label:eq(op.label))).rowcount
  elseif kind == "insert" then
    local rows = {}
    for i, x in ipairs(op.labels) do
      rows[i] = { label = (x == NULL) and orm.null() or x }
    end
    return s:execute(orm.insert(children), rows).rowcount
  end
  error("unknown core statement " .. tostring(kind))
end

function Runner:finish()
  for _, n in ipairs(keys_sorted(self.s)) do pcall(self.s[n].close, self.s[n]) end
  self.s = {}
  local c = self.engine:connect()
  local tables = {}
  for _, t in ipairs(TABLES) do
    local rows = arr()
    for _, r in ipairs(c:execute(orm.text("SELECT * FROM " .. t .. " ORDER BY 1, 2")):all()) do
      local row = arr({ n = #r })
      for j = 1, #r do
        local v = r[j]
        if v == nil then v = JNULL end
        row[j] = v
      end
      rows[#rows + 1] = row
    end
    tables[t] = rows
  end
  c:close()
  return tables
end

-- bind "new" objects' class names (class_name of inspect is the fallback)
local function run_case(case)
  local url = "sqlite://"
  local path
  if job.db == "file" then
    path = job.dir .. "/lua_" .. case.seed .. ".db"
    for _, suf in ipairs({ "", "-wal", "-shm", "-journal" }) do os.remove(path .. suf) end
    url = "sqlite:///" .. path
  end
  local r = Runner.new(url)
  setmetatable(r.cls, { __index = function(_, o) return class_name(o) end, __mode = "k" })
  for i, op in ipairs(case.ops) do
    if os.getenv("DIFFTEST_ECHO") then io.stderr:write("lua: -- step ", i - 1, " ", op.op, "\n") end
    local ok, res = pcall(r.run_op, r, op)
    local e, deliberate = JNULL, nil
    if not ok then
      if res == SKIP then res = "skip"
      else
        -- BEHAVIOUR.md 10 (known.py STALE_DELETE_RAISES): where SQLAlchemy only warns
        if tostring(res):find("expected to delete", 1, true) then deliberate = "STALE_DELETE_RAISES" end
        e = err_kind(res)
        if os.getenv("DIFFTEST_ECHO") then io.stderr:write("lua: -- error ", e, ": ", tostring(res), "\n") end
        res = nil
      end
    end
    if res == nil then res = JNULL end
    local ev
    if EVENTS then ev = arr(r.events); r.events = {} end
    emit({ seed = case.seed, i = i - 1, err = e, res = res, objs = r:observe(), deliberate = deliberate,
      ev = ev })
  end
  emit({ seed = case.seed, i = "final", tables = r:finish() })
  r.engine:dispose()
  if path then
    for _, suf in ipairs({ "", "-wal", "-shm", "-journal" }) do os.remove(path .. suf) end
  end
end

for _, case in ipairs(job.cases) do run_case(case) end
io.stdout:flush()

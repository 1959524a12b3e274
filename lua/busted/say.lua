-- say: the string registry busted and luassert use for their messages
-- (`require("say")`). Keys live in namespaces (languages); a lookup falls back to
-- the fallback namespace ("en") when the current one lacks the key.
--
--   s:set_namespace("fr"); s:set("greeting", "bonjour %s")
--   s("greeting", { "Ana" })  --> "bonjour Ana"

local registry = { en = {} }
local current, fallback = "en", "en"

local say = {}

function say:set_namespace(name)
  current = name
  registry[name] = registry[name] or {}
end

function say:set_fallback(name)
  fallback = name
  registry[name] = registry[name] or {}
end

function say:set(key, value)
  registry[current][key] = value
end

-- The text under `key` in the current namespace (or the fallback), formatted with
-- `vars` (a list, possibly with `n`). Missing variables render as "nil".
local function lookup(key, vars)
  local text = registry[current] and registry[current][key]
  if text == nil then text = registry[fallback] and registry[fallback][key] end
  if text == nil then return nil end
  if vars == nil then return text end
  local args, n = {}, vars.n or #vars
  for i = 1, n do args[i] = tostring(vars[i]) end
  local ok, out = pcall(string.format, text, (unpack or table.unpack)(args, 1, n))
  if ok then return out end
  return text
end

return setmetatable(say, {
  __call = function(_, key, vars) return lookup(key, vars) end,
  __index = function(_, key) return lookup(key) end,
})

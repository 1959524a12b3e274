-- Climb: walk every table reachable from _ENV, the string metatable and the module
-- (following pairs, and metatables wherever getmetatable answers with a table) and look for
-- anything that would let a script out.
local orm = require("lualchemy")
-- names that are dangerous wherever they appear
local dangerous = {
  io = true, popen = true, loadlib = true, dofile = true, loadfile = true,
  getregistry = true, sethook = true, gethook = true, searchers = true, cpath = true,
  upvaluejoin = true, setupvalue = true, getupvalue = true, setlocal = true, getlocal = true,
  setuservalue = true, getuservalue = true, setcstacklimit = true, package = true,
  loadstring = true, newproxy = true,
}
-- names that are dangerous in a table that looks like os (has clock) or string (has format)
local os_like = { execute = true, exit = true, getenv = true, tmpname = true, rename = true,
  remove = true, setlocale = true }
local function is_dangerous(holder, k)
  if dangerous[k] then return true end
  if os_like[k] and rawget(holder, "clock") ~= nil then return true end
  if k == "dump" and rawget(holder, "format") ~= nil then return true end
  return false
end
local seen, queue, found = {}, {}, 0
local function push(v, path)
  local tv = type(v)
  if (tv == "table" or tv == "userdata" or tv == "function") and not seen[v] then
    seen[v] = true
    queue[#queue + 1] = { v, path }
  end
end
push(_ENV, "_ENV")
push(getmetatable(""), "getmetatable('')")
push(orm, "orm")
push(string, "string")
local head = 1
while head <= #queue and head < 20000 do
  local v, path = queue[head][1], queue[head][2]
  head = head + 1
  local mt = getmetatable(v)
  if type(mt) == "table" then push(mt, "getmetatable(" .. path .. ")") end
  if type(v) == "table" then
    for k, x in next, v do
      local key = tostring(k)
      if type(k) == "string" and is_dangerous(v, k) and x ~= nil then
        -- os.exit etc. only count where they would work: a function, a table of them
        if type(x) == "function" or type(x) == "table" then
          breach("reachable: " .. path .. "." .. key .. " (" .. type(x) .. ")")
          found = found + 1
        end
      end
      push(x, path .. "." .. key)
      if type(k) == "table" then push(k, path .. "[key]") end
    end
  end
end
print(("crawled %d values, found %d dangerous"):format(head - 1, found))
check("the crawl saw the module and the string library", head > 20)
print("DONE")

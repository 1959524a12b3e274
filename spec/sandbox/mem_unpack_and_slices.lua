-- C functions that push millions of values or build huge results in one call.
local big = {}
for i = 1, 100000 do big[i] = i end
refused("table.unpack({}, 1, 1e8)", function() return select("#", table.unpack({}, 1, 100000000)) end)
refused("table.unpack({}, -2^31, 2^31)", function() return table.unpack({}, -2147483648, 2147483647) end)
refused("unpack({}, 1, math.maxinteger)", function() return unpack({}, 1, math.maxinteger) end)
refused("string.byte of a 2 MB slice", function() return select("#", string.byte(string.rep("a", 2000000), 1, -1)) end)
refused("string.char of 1e7 values", function() return string.char(table.unpack(big, 1, 10000000)) end)
refused("string.format('%099999999d')", function() return string.format("%099999999d", 1) end)
refused("string.rep with a huge separator", function() return string.rep("a", 1000000, string.rep("b", 1000)) end)
refused("string.rep(2^31, 2^31)", function() return string.rep(string.rep("a", 2^20), 2^31) end)
refused("table.concat with a huge separator", function() return table.concat(big, string.rep(",", 10000)) end)
refused("utf8.char of a million code points", function() return utf8.char(table.unpack(big, 1, 1000000)) end)
check("the heap is under the limit", collectgarbage("count") < 16 * 1024)
print("DONE")

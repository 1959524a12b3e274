-- table.move over 2^40 indices is one C call that runs no VM instruction (and needs no
-- memory: it copies nils): only a bounded table.move or the timeout can end it.
local r = table.move({}, 1, 2^40, 1, {})
print("SURVIVED " .. tostring(r))

-- An error value whose __tostring raises reaches the host uncaught: exit 1 with a message,
-- no panic.
error(setmetatable({}, { __tostring = function() error(setmetatable({}, { __tostring = function() error("deeper") end })) end }))
print("SURVIVED")

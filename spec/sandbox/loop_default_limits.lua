-- An endless loop under the default limits (100000000 instructions, 10 s): one of them
-- ends it within the default timeout plus one second.
while true do end
print("SURVIVED")

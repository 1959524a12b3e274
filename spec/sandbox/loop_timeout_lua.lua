-- An endless loop with a budget it will never exhaust: the wall-clock timeout ends it.
while true do end
print("SURVIVED")

-- The simplest endless loop: the instruction limit ends it.
while true do end
print("SURVIVED")

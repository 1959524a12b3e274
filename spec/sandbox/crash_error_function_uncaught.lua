-- error(function) from a validator, uncaught: exit 1 with a message, no panic.
local orm = require("lualchemy")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  name = orm.Column(orm.String(50)),
})
M:validates("name", function() error(function() return "I am an error" end) end)
M{ name = "x" }
print("SURVIVED")

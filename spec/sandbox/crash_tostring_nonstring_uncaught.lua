-- A model instance whose __tostring returns a table, raised as an error value, reaches the
-- host uncaught: exit 1 with a message, no panic.
local orm = require("lualchemy")
local Base = orm.declarative_base()
local M = Base:model("M", {
  __tablename__ = "m",
  id = orm.Column(orm.Integer, { primary_key = true }),
  __tostring = function() return {} end,
})
error(M{})
print("SURVIVED")

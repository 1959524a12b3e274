//! A Rust host that adds lualchemy to its own Lua state and hands scripts an engine it
//! opened itself.

use lualchemy::engine::{Engine, EngineOptions};

fn main() -> mlua::Result<()> {
    let lua = mlua::Lua::new();
    lualchemy::install(&lua)?;
    let engine =
        Engine::new("sqlite://", EngineOptions::default()).map_err(mlua::Error::external)?;
    lua.globals()
        .set("host_engine", lualchemy::engine_value(&lua, engine)?)?;
    lua.load(
        r#"
        local orm = require("lualchemy")
        local Base = orm.declarative_base()
        local Note = Base:model("Note", {
          __tablename__ = "notes",
          id = orm.Column(orm.Integer, { primary_key = true }),
          body = orm.Mapped("str"),
        })
        Base.metadata:create_all(host_engine)
        local s = orm.Session(host_engine)
        s:add(Note{ body = "written by a script on the host's engine" })
        s:commit()
        print(s:scalars(orm.select(Note)):one().body)
        "#,
    )
    .exec()
}

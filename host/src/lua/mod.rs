//! The thin mlua binding: one file per family of Lua values. `install` builds the
//! `lualchemy` module into a Lua state.

pub mod bulk_persistence;
pub mod compat;
pub mod composite;
pub mod computed;
pub mod connection_dml;
pub mod convert;
pub mod dml;
pub mod engine;
pub mod error;
pub mod events;
pub mod expr;
pub mod fast_get;
pub mod inheritance;
pub mod inspector;
pub mod instance;
pub mod json;
pub mod keyed_collection;
pub mod loader_options;
pub mod migrate;
pub mod migrate_autogenerate;
pub mod model;
pub mod options;
pub mod relationship;
pub mod result;
pub mod schema;
pub mod session;
pub mod session_binds;
pub mod statement;
pub mod type_decorator;
pub mod upsert;
pub mod values;
pub mod window;
pub mod write_only;

use mlua::{Lua, Value as LuaValue};

pub use engine::LuaEngine;

/// Lua-side methods of userdata types (see `lua/prelude.lua`), by type name.
struct Extensions(mlua::Table);

/// The table of a userdata type's Lua-side methods, as its metatable's `__index` fallback
/// (looked up by the VM, with no call into Rust).
pub(crate) fn extension_table(lua: &Lua, type_name: &str) -> mlua::Result<LuaValue> {
    match lua.app_data_ref::<Extensions>() {
        Some(ext) => ext.0.raw_get(type_name),
        None => Ok(LuaValue::Nil),
    }
}

/// Looks up a Lua-side method of a userdata type.
pub(crate) fn extension(lua: &Lua, type_name: &str, key: LuaValue) -> mlua::Result<LuaValue> {
    match lua.app_data_ref::<Extensions>() {
        Some(ext) => match ext.0.raw_get::<Option<mlua::Table>>(type_name)? {
            Some(t) => t.raw_get(key),
            None => Ok(LuaValue::Nil),
        },
        None => Ok(LuaValue::Nil),
    }
}

/// Builds the module table and registers it as `require("lualchemy")`.
pub fn install(lua: &Lua) -> mlua::Result<mlua::Table> {
    let orm = lua.create_table()?;
    instance::install(lua)?;
    orm.set("Error", error::install(lua)?)?;
    schema::install(lua, &orm)?;
    expr::install(lua, &orm)?;
    statement::install(lua, &orm)?;
    upsert::install(lua, &orm)?;
    values::install(lua, &orm)?;
    dml::install(lua, &orm)?;
    model::install(lua, &orm)?;
    inheritance::install(lua, &orm)?;
    computed::install(lua, &orm)?;
    type_decorator::install(lua, &orm)?;
    composite::install(lua, &orm)?;
    relationship::install(lua, &orm)?;
    keyed_collection::install(lua, &orm)?;
    loader_options::install(lua, &orm)?;
    events::install(lua, &orm)?;
    session::install(lua, &orm)?;
    fast_get::install(lua, &orm)?;
    engine::install(lua, &orm)?;
    orm.set("migrate", migrate::module(lua)?)?;
    orm.set("_VERSION", env!("CARGO_PKG_VERSION"))?;
    let prelude: mlua::Table = lua
        .load(include_str!("../../lua/prelude.lua"))
        .set_name("=lualchemy/prelude.lua")
        .call(orm.clone())?;
    lua.set_app_data(Extensions(prelude));
    let automap: mlua::Function = lua
        .load(include_str!("../../../lua/automap.lua"))
        .set_name("=lualchemy/automap.lua")
        .call(orm.clone())?;
    orm.set("automap_base", automap)?;
    let scoped_session: mlua::Function = lua
        .load(include_str!("../../../lua/scoped_session.lua"))
        .set_name("=lualchemy/scoped_session.lua")
        .call(orm.clone())?;
    orm.set("scoped_session", scoped_session)?;
    let association_proxy: mlua::Function = lua
        .load(include_str!("../../../lua/association_proxy.lua"))
        .set_name("=lualchemy/association_proxy.lua")
        .call(orm.clone())?;
    orm.set("association_proxy", association_proxy)?;
    lua.set_named_registry_value("lualchemy.raising", orm.get::<mlua::Function>("_raising")?)?;
    lua.set_named_registry_value("lualchemy.module", orm.clone())?;
    let package: Option<mlua::Table> = lua.globals().get("package")?;
    if let Some(package) = package {
        let loaded: mlua::Table = package.get("loaded")?;
        loaded.set("lualchemy", orm.clone())?;
        // require("lualchemy.testing"): the database fixtures of lua/testing.lua
        let preload: mlua::Table = package.get("preload")?;
        // require("lualchemy.migrate"): the migration commands (lua/migrate.rs)
        let o = orm.clone();
        preload.set(
            "lualchemy.migrate",
            lua.create_function(move |_, ()| o.get::<mlua::Table>("migrate"))?,
        )?;
        preload.set(
            "lualchemy.testing",
            lua.create_function(|lua, ()| {
                lua.load(include_str!("../../../lua/testing.lua"))
                    .set_name("=lualchemy/testing.lua")
                    .call::<mlua::Value>(())
            })?,
        )?;
    } else {
        let o = orm.clone();
        lua.globals().set(
            "require",
            lua.create_function(move |_, name: String| {
                if name == "lualchemy" {
                    Ok(o.clone())
                } else {
                    Err(mlua::Error::runtime(format!("module '{name}' not found")))
                }
            })?,
        )?;
    }
    Ok(orm)
}

//! lualchemy: SQLAlchemy's ORM for Lua.
//!
//! The core (`schema`, `sql`, `engine`, `orm`) is plain Rust and knows nothing of Lua; the
//! `lua` module is the thin mlua binding that exposes it as `require("lualchemy")`.

pub mod datetime;
pub mod engine;
pub mod error;
pub mod listeners;
pub mod schema;
pub mod sql;
pub mod value;

pub use error::{Error, ErrorKind, Result};
pub use value::Value;
pub mod lua;
pub mod memory;
pub mod orm;
pub mod sandbox;
pub mod spec;

/// Adds `require("lualchemy")` to a host's Lua state and returns the module table. Unless
/// the host gave the state a memory limit of its own, gives it one below what the process
/// can still obtain, so that running out of memory is Lua's "not enough memory" error
/// rather than an abort (`memory`).
pub fn install(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    memory::protect(lua);
    lua::install(lua)
}

/// Hands an engine that the host opened to scripts, as the same value `orm.create_engine`
/// returns.
pub fn engine_value(lua: &mlua::Lua, engine: engine::Engine) -> mlua::Result<mlua::AnyUserData> {
    lua.create_userdata(lua::LuaEngine(engine))
}

//! lualchemy: SQLAlchemy's ORM for Lua.
//!
//! The core (`schema`, `sql`, `engine`, `orm`) is plain Rust and knows nothing of Lua; the
//! `lua` module is the thin mlua binding that exposes it as `require("lualchemy")`.

pub mod datetime;
pub mod engine;
pub mod error;
pub mod listeners;
pub mod migrate;
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

/// The entry point of the loadable module (`--features module`): a stock interpreter's
/// `require("lualchemy")` finds `liblualchemy.so` (installed as `lualchemy.so`) on
/// `package.cpath` and calls `luaopen_lualchemy`, which returns the same module table the
/// binary's `require("lualchemy")` does. The interpreter is the host: it decides which
/// libraries scripts see, and lualchemy's sandbox (instruction budget, memory and time
/// limits, `allow_dir`) is not applied (docs/INSTALL.md).
#[cfg(feature = "module")]
#[mlua::lua_module(name = "lualchemy")]
fn module_entry(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    install(lua)
}

//! lualchemy: SQLAlchemy's ORM for Lua.
//!
//! The core (`schema`, `sql`, `engine`, `orm`) is plain Rust and knows nothing of Lua; the
//! `lua` module is the thin mlua binding that exposes it as `require("lualchemy")`.

pub mod engine;
pub mod error;
pub mod schema;
pub mod sql;
pub mod value;

pub use error::{Error, ErrorKind, Result};
pub use value::Value;
pub mod orm;

//! The engine: a database URL, a pool of connections and the statement cache each
//! connection keeps; every statement sent goes through `Connection`, which reports it to
//! the engine's echo sink. `driver/` holds the drivers (SQLite, PostgreSQL, MySQL).

pub mod connection;
pub(crate) mod driver;
pub mod echo;
pub mod events;
pub mod hardening;
pub mod options;
pub mod pool;
mod read_hold;
pub mod reflection;
pub mod row;
pub mod url;

pub use connection::Connection;
pub use echo::{EchoParams, EchoSink, PrintEcho, Rows};
pub use options::{EngineOptions, SqliteBegin};
pub use pool::Engine;
pub use row::Row;
pub use url::Url;

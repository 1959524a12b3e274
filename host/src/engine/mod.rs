//! The engine: a database URL, a pool of connections and the statement cache each
//! connection keeps; every statement sent goes through `Connection`, which reports it to
//! the engine's echo sink.

pub mod connection;
pub mod echo;
pub mod events;
pub mod hardening;
pub mod pool;
pub mod url;

pub use connection::Connection;
pub use echo::{EchoParams, EchoSink, PrintEcho};
pub use pool::{Engine, EngineOptions};
pub use url::Url;

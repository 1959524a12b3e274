//! What `create_engine` takes besides the URL: echo, the pool size, how SQLite transactions
//! begin, the SQLite busy timeout and a server's connect timeout, with their defaults.

use std::rc::Rc;
use std::time::Duration;

use super::echo::EchoSink;
use crate::arg_err;
use crate::error::Result;

/// How a SQLite transaction begins (`sqlite_begin`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteBegin {
    /// As pysqlite's legacy transaction control, SQLAlchemy's default on SQLite: no BEGIN
    /// for reads; the transaction begins (`BEGIN`) at its first statement that writes (an
    /// INSERT, UPDATE, DELETE or DDL) or at its first SAVEPOINT. Reads before it see every
    /// commit so far and hold no lock once they end.
    #[default]
    AtFirstWrite,
    /// `BEGIN DEFERRED` at the transaction's first statement: its reads see one snapshot.
    Deferred,
    /// `BEGIN IMMEDIATE` at the first statement: the write lock from the start, so a
    /// read-then-write transaction never finds its snapshot stale.
    Immediate,
    /// `BEGIN EXCLUSIVE` at the first statement.
    Exclusive,
}

impl SqliteBegin {
    pub const NAMES: &'static str = "\"deferred\", \"immediate\" or \"exclusive\"";

    pub fn parse(name: &str) -> Result<SqliteBegin> {
        match name.to_ascii_lowercase().as_str() {
            "deferred" => Ok(SqliteBegin::Deferred),
            "immediate" => Ok(SqliteBegin::Immediate),
            "exclusive" => Ok(SqliteBegin::Exclusive),
            _ => Err(arg_err!(
                "create_engine: sqlite_begin must be {}, got '{name}'",
                Self::NAMES
            )),
        }
    }

    /// The statement that begins a transaction at its first statement; `None` when the
    /// BEGIN waits for the first write.
    pub fn eager_sql(self) -> Option<&'static str> {
        match self {
            SqliteBegin::AtFirstWrite => None,
            SqliteBegin::Deferred => Some("BEGIN DEFERRED"),
            SqliteBegin::Immediate => Some("BEGIN IMMEDIATE"),
            SqliteBegin::Exclusive => Some("BEGIN EXCLUSIVE"),
        }
    }
}

/// A number of seconds given as an option: finite and not negative.
pub fn seconds(what: &str, secs: f64) -> Result<Duration> {
    if secs.is_finite() && secs >= 0.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(arg_err!(
            "create_engine: {what} must be a number of seconds (0 or more), got {secs}"
        ))
    }
}

#[derive(Clone, Default)]
pub struct EngineOptions {
    pub echo: Option<Rc<dyn EchoSink>>,
    /// Idle connections kept (0: the default, 5).
    pub pool_size: usize,
    /// SQLite hardened for untrusted scripts (see `engine/hardening.rs`).
    pub hardening: Option<super::hardening::Hardening>,
    /// How SQLite transactions begin (`sqlite_begin`).
    pub sqlite_begin: SqliteBegin,
    /// How long a SQLite statement waits for a lock another connection holds
    /// (`connect_args = { timeout = seconds }`, pysqlite's). `None`: 5 seconds for a file
    /// (pysqlite's default); none for an in-memory database, whose connections all belong
    /// to this engine in this thread, so no wait could ever end with the lock released.
    pub sqlite_timeout: Option<Duration>,
    /// A server's connect timeout (`connect_args = { connect_timeout = seconds }`), over
    /// the URL's `?connect_timeout=`.
    pub connect_timeout: Option<Duration>,
}

impl EngineOptions {
    /// The busy timeout of a SQLite connection.
    pub(crate) fn busy_timeout(&self, memory: bool) -> Duration {
        self.sqlite_timeout.unwrap_or(if memory {
            Duration::ZERO
        } else {
            Duration::from_secs(5)
        })
    }
}

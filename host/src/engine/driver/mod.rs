//! The database drivers behind a connection: SQLite in-process through rusqlite, and the
//! servers through their client crates, each behind a cargo feature. A driver runs SQL text
//! that a dialect compiled; it knows nothing of statements or of the ORM.

#[cfg(any(feature = "postgres", feature = "mysql"))]
mod failure;
#[cfg(feature = "mysql")]
pub(crate) mod mysql;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod sqlite;

use super::echo::EchoParams;
use super::events::EngineEvent;
use super::pool::Engine;
use super::url::Url;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::dialect::Backend;

/// What a server driver hands each result row to.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) type RowFn<'a> = &'a mut dyn FnMut(&super::row::Row<'_>) -> Result<()>;

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// Hands a server driver's decoded rows (`ncols` values each, one row after another) to
/// `f`, once the statement is done with the connection (so `f` may use it).
pub(crate) fn hand_rows(
    values: &[crate::value::Value],
    ncols: usize,
    f: Option<RowFn<'_>>,
) -> Result<()> {
    if let (Some(f), true) = (f, ncols > 0) {
        for row in values.chunks(ncols) {
            f(&super::row::Row::Values(row))?;
        }
    }
    Ok(())
}

/// One open database connection.
pub(crate) enum Driver {
    Sqlite(rusqlite::Connection),
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::PgDriver>),
    #[cfg(feature = "mysql")]
    Mysql(Box<mysql::MyDriver>),
}

impl Driver {
    /// The SQLite connection, when this is one.
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match self {
            Driver::Sqlite(c) => Some(c),
            #[cfg(any(feature = "postgres", feature = "mysql"))]
            _ => None,
        }
    }

    /// Opens a connection and fires the engine's `connect` event.
    pub fn open(engine: &Engine) -> Result<Driver> {
        let driver = Self::open_raw(engine)?;
        super::events::dispatch(engine, EngineEvent::Connect, "", &EchoParams::None)?;
        Ok(driver)
    }

    fn open_raw(engine: &Engine) -> Result<Driver> {
        match &engine.0.url {
            Url::SqliteMemory | Url::SqliteFile(_) => sqlite::open(engine).map(Driver::Sqlite),
            Url::Server(s) => match s.backend {
                #[cfg(feature = "postgres")]
                Backend::Postgres => {
                    postgres::PgDriver::connect(s).map(|d| Driver::Postgres(Box::new(d)))
                }
                #[cfg(feature = "mysql")]
                Backend::Mysql | Backend::Mariadb => {
                    mysql::MyDriver::connect(s).map(|d| Driver::Mysql(Box::new(d)))
                }
                #[allow(unreachable_patterns)]
                other => Err(Error::new(
                    ErrorKind::ArgumentError,
                    format!(
                        "the {} dialect is not in this build of lualchemy (cargo feature '{}')",
                        other.name(),
                        if other == Backend::Postgres {
                            "postgres"
                        } else {
                            "mysql"
                        }
                    ),
                )),
            },
        }
    }

    pub fn in_transaction(&self) -> bool {
        match self {
            Driver::Sqlite(c) => !c.is_autocommit(),
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.in_transaction(),
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.in_transaction(),
        }
    }

    /// False once the connection is closed or broken: the pool opens a new one instead.
    pub fn is_usable(&self) -> bool {
        match self {
            Driver::Sqlite(_) => true,
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.is_usable(),
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.is_usable(),
        }
    }

    /// Ends a transaction a connection returned to the pool left open.
    pub fn reset(&self) {
        match self {
            Driver::Sqlite(c) => {
                if !c.is_autocommit() {
                    let _ = c.execute_batch("ROLLBACK");
                }
            }
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.reset(),
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.reset(),
        }
    }
}

/// Runs a server driver's connect on a thread of its own and waits at most `url`'s connect
/// timeout for it: the drivers' own timeouts cover the TCP connect, not a server (or a
/// proxy) that accepts the connection and then never answers the handshake.
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) fn connect_within<T: Send + 'static>(
    url: &super::url::ServerUrl,
    what: &str,
    connect: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("lualchemy-connect".into())
        .spawn(move || {
            // the receiver is gone when the wait timed out: the connection is dropped
            let _ = tx.send(connect());
        })
        .map_err(|e| Error::new(ErrorKind::OperationalError, e.to_string()))?;
    let detail = match rx.recv_timeout(url.connect_timeout) {
        Ok(Ok(conn)) => return Ok(conn),
        Ok(Err(detail)) => detail,
        Err(_) => format!(
            "no answer within the connect timeout of {:.1} s",
            url.connect_timeout.as_secs_f64()
        ),
    };
    Err(Error::new(
        ErrorKind::OperationalError,
        format!(
            "could not connect to {what} at {}: {detail}",
            url.describe()
        ),
    ))
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
/// Keeps a server driver's transaction flag in step with the control statements it runs
/// (the servers' client crates do not report it).
pub(crate) fn track_transaction(flag: &std::cell::Cell<bool>, sql: &str, ok: bool) {
    let head = sql.trim_start().as_bytes();
    let starts =
        |w: &str| head.len() >= w.len() && head[..w.len()].eq_ignore_ascii_case(w.as_bytes());
    if starts("BEGIN") || starts("START TRANSACTION") {
        flag.set(ok || flag.get());
    } else if starts("COMMIT") || (starts("ROLLBACK") && !starts("ROLLBACK TO")) {
        // a failed COMMIT leaves no transaction on either server
        flag.set(false);
    }
}

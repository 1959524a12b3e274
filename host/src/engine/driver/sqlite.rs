//! SQLite in-process: memory databases, or files in WAL mode with a busy timeout; foreign
//! keys on; hardened for untrusted scripts when the engine says so.

use super::super::pool::Engine;
use super::super::url::Url;
use crate::error::{Error, ErrorKind, Result};

pub(crate) fn open(engine: &Engine) -> Result<rusqlite::Connection> {
    let wrap = |e: rusqlite::Error| Error::from_db(e, "connect", &[]);
    let conn = match &engine.0.url {
        Url::SqliteFile(path) => {
            let c = rusqlite::Connection::open(path).map_err(|e| {
                Error::new(
                    ErrorKind::OperationalError,
                    format!("unable to open database file '{path}': {e}"),
                )
            })?;
            c.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(wrap)?;
            c.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
            c
        }
        _ => rusqlite::Connection::open_in_memory().map_err(wrap)?,
    };
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(wrap)?;
    let mut conn = conn;
    if let Some(h) = &engine.0.hardening {
        h.apply(&mut conn).map_err(wrap)?;
    }
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

//! SQLite in-process: files in WAL mode, or an in-memory engine's `memdb` database; a busy
//! timeout (`connect_args.timeout`); foreign keys on; hardened for untrusted scripts when
//! the engine says so. Also the check that a file database is still where it was opened.

use std::os::raw::{c_int, c_void};

use rusqlite::OpenFlags;

use super::super::pool::Engine;
use super::super::url::Url;
use crate::error::{Error, ErrorKind, Result};

pub(crate) fn open(engine: &Engine) -> Result<rusqlite::Connection> {
    let wrap = |e: rusqlite::Error| Error::from_db(e, "connect", &[]);
    let options = engine.options();
    let conn = match &engine.0.url {
        Url::SqliteFile(path) => {
            let c = rusqlite::Connection::open(path).map_err(|e| {
                Error::new(
                    ErrorKind::OperationalError,
                    format!("unable to open database file '{path}': {e}"),
                )
            })?;
            c.busy_timeout(options.busy_timeout(false)).map_err(wrap)?;
            c.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
            c
        }
        _ => {
            let c = open_memory_raw(&engine.memory_uri()?)?;
            // with no busy timeout yet, so that it never waits: the pragma reads the
            // schema, which another connection's write transaction locks; a connection
            // opened then keeps SQLite's default cache (its first statement says the
            // database is locked, as it would have)
            c.busy_timeout(std::time::Duration::ZERO).map_err(wrap)?;
            match c.pragma_update(None, "cache_size", MEMORY_CACHE_KIB) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
                r => r.map_err(wrap)?,
            }
            c.busy_timeout(options.busy_timeout(true)).map_err(wrap)?;
            c
        }
    };
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(wrap)?;
    let mut conn = conn;
    if let Some(h) = &options.hardening {
        h.apply(&mut conn).map_err(wrap)?;
    }
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

/// The page cache of an in-memory engine's connection, in KiB (`PRAGMA cache_size`
/// negative): its pages already live in the `memdb` buffer, so a cache miss is a copy out of
/// memory, not a read; SQLite's default (2,000 KiB a connection) held a second copy of a
/// scanned table (W2: 1.8 MB of its peak). 512 KiB keeps a B-tree's inner pages and a
/// write transaction's dirty pages.
const MEMORY_CACHE_KIB: i64 = -512;

/// A connection to the `memdb` database `uri` (`file:/name?vfs=memdb`), created empty by
/// the first connection to name it and shared by every connection of the process that
/// names it while one is open.
pub(crate) fn open_memory_raw(uri: &str) -> Result<rusqlite::Connection> {
    rusqlite::Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::OperationalError,
            format!("unable to open the in-memory database: {e}"),
        )
    })
}

/// Refuses to write to a database file that was deleted or renamed since the connection
/// opened it (SQLite's `SQLITE_FCNTL_HAS_MOVED`): its commits would go to a file no one
/// can open again.
pub(crate) fn check_not_moved(conn: &rusqlite::Connection, path: &str) -> Result<()> {
    let mut moved: c_int = 0;
    // SAFETY: the handle is open for the call; the file control writes one int
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_HAS_MOVED,
            &mut moved as *mut c_int as *mut c_void,
        )
    };
    if rc == rusqlite::ffi::SQLITE_OK && moved != 0 {
        return Err(Error::new(
            ErrorKind::OperationalError,
            format!(
                "the database file '{path}' was deleted or moved while open: nothing more is \
                 written to it, as what this connection wrote would be lost (no one could open \
                 it again); open the database again where it now is"
            ),
        ));
    }
    Ok(())
}

//! An in-memory engine's read transaction held across reads.
//!
//! A session that only reads runs each SELECT in SQLite's autocommit mode (its BEGIN waits
//! for the first write, as pysqlite's does), so every read begins and ends a read transaction
//! of its own. On an in-memory engine, whose database no other process can open, nothing can
//! commit between two reads of a connection while no other connection of the engine is
//! checked out: one read transaction kept open across them reads exactly what the separate
//! ones would. So the first SELECT of a transaction still waiting for its BEGIN, on the only
//! connection of the engine that is checked out, sends a BEGIN of its own (not reported to
//! echo or the cursor events), and the transaction stays open until, whichever comes first:
//!
//! - another connection of the engine is checked out (`Engine::connect`),
//! - this connection runs anything but a SELECT (a write, DDL, a PRAGMA, `VACUUM`), or
//!   begins, commits or rolls back a transaction, or takes a SAVEPOINT,
//! - it goes back to the pool.
//!
//! It is ended with a COMMIT that writes nothing. A file database is never held: another
//! process may write to it at any time.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::connection::{ConnInner, Connection};
use super::url::Url;
use crate::error::{Error, Result};

/// The engine's side: how many of its connections are checked out, and which one holds a
/// read transaction.
pub(crate) struct ReadHolds {
    /// Only an in-memory engine holds reads.
    enabled: bool,
    checked_out: Cell<usize>,
    holder: RefCell<Weak<ConnInner>>,
}

impl ReadHolds {
    pub(crate) fn new(url: &Url) -> ReadHolds {
        ReadHolds {
            enabled: matches!(url, Url::SqliteMemory),
            checked_out: Cell::new(0),
            holder: RefCell::new(Weak::new()),
        }
    }

    /// A connection is about to be checked out: the one holding a read transaction ends
    /// it, so that the new one reads and writes as if there had been none.
    pub(crate) fn checking_out(&self) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let holder = std::mem::take(&mut *self.holder.borrow_mut());
        if let Some(c) = holder.upgrade() {
            c.end_read_hold()?;
        }
        Ok(())
    }

    pub(crate) fn checked_out(&self) {
        self.checked_out.set(self.checked_out.get() + 1);
    }

    /// A connection came back (its transaction, a held read included, rolled back).
    pub(crate) fn checked_in(&self) {
        self.checked_out
            .set(self.checked_out.get().saturating_sub(1));
    }

    /// True when a connection of this engine may hold a read: an in-memory engine with that
    /// connection the only one checked out.
    #[inline]
    fn may_hold(&self) -> bool {
        self.enabled && self.checked_out.get() == 1
    }
}

impl ConnInner {
    /// Ends this connection's held read transaction, if it has one.
    pub(crate) fn end_read_hold(&self) -> Result<()> {
        if self.read_held.replace(false) {
            if let Some(c) = self.driver.sqlite() {
                if !c.is_autocommit() {
                    c.execute_batch("COMMIT")
                        .map_err(|e| Error::from_db(e, "COMMIT", &[]))?;
                }
            }
        }
        Ok(())
    }
}

impl Connection {
    /// Before a SELECT in a transaction still waiting for its BEGIN: holds a read
    /// transaction when the engine allows it and SQLite has none open.
    #[cold]
    pub(super) fn maybe_hold_read(&self, c: &rusqlite::Connection) -> Result<()> {
        let engine = &self.engine().0;
        if !engine.reads.may_hold() || !c.is_autocommit() {
            return Ok(());
        }
        let inner: &Rc<ConnInner> = self.inner_rc();
        c.execute_batch("BEGIN")
            .map_err(|e| Error::from_db(e, "BEGIN", &[]))?;
        inner.read_held.set(true);
        *engine.reads.holder.borrow_mut() = Rc::downgrade(inner);
        Ok(())
    }

    /// Ends this connection's held read transaction, if it has one.
    #[inline]
    pub(super) fn end_read_hold(&self) -> Result<()> {
        self.inner_rc().end_read_hold()
    }
}

#[cfg(test)]
mod tests {
    use super::super::options::EngineOptions;
    use super::super::pool::Engine;
    use crate::value::Value;

    fn engine(url: &str) -> Engine {
        let e = Engine::new(url, EngineOptions::default()).unwrap();
        let c = e.connect().unwrap();
        c.execute("CREATE TABLE t (x INTEGER)", &[]).unwrap();
        e
    }

    fn count(c: &super::Connection) -> i64 {
        let mut n = 0;
        c.query("SELECT count(*) FROM t", &[], |r| {
            if let Value::Integer(v) = r.value(0)? {
                n = v;
            }
            Ok(())
        })
        .unwrap();
        n
    }

    fn held(c: &super::Connection) -> bool {
        c.inner_rc().read_held.get()
    }

    #[test]
    fn a_lone_connection_holds_its_reads_until_another_is_checked_out() {
        let e = engine("sqlite://");
        let a = e.connect().unwrap();
        a.begin().unwrap();
        assert_eq!(count(&a), 0);
        assert!(held(&a));
        let b = e.connect().unwrap();
        assert!(!held(&a));
        b.begin().unwrap();
        b.execute("INSERT INTO t VALUES (1)", &[]).unwrap();
        b.commit().unwrap();
        // a second connection is checked out: no hold, every read sees the last commit
        assert_eq!(count(&a), 1);
        assert!(!held(&a));
        drop(b);
        assert_eq!(count(&a), 1);
        assert!(held(&a));
        // a write ends it before its BEGIN
        a.execute("INSERT INTO t VALUES (2)", &[]).unwrap();
        assert!(!held(&a));
        a.commit().unwrap();
        a.begin().unwrap();
        assert_eq!(count(&a), 2);
        assert!(held(&a));
        a.commit().unwrap();
        assert!(!held(&a));
        assert!(a.inner_rc().driver.sqlite().unwrap().is_autocommit());
    }

    #[test]
    fn a_file_engine_holds_nothing() {
        let dir = std::env::temp_dir().join(format!("lualchemy-hold-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let e = engine(&format!("sqlite:///{}", dir.display()));
        let a = e.connect().unwrap();
        a.begin().unwrap();
        assert_eq!(count(&a), 0);
        assert!(!held(&a));
        drop(a);
        drop(e);
        let _ = std::fs::remove_file(&dir);
    }
}

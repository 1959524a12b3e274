//! A session bound to a `Connection` instead of an engine: how its transaction joins the
//! one the connection is in (SQLAlchemy 2.0's `join_transaction_mode`), and what its
//! commit, rollback and close then do on the connection. This is what lets a test begin a
//! transaction, hand the connection to code that commits and rolls back freely, and roll
//! everything back at the end.

use std::rc::Rc;

use crate::engine::connection::TxOwnership;
use crate::engine::connection::WeakConnection;
use crate::engine::Connection;
use crate::error::{Error, ErrorKind, Result};

use super::session::SessionCore;

/// `join_transaction_mode`: what a session bound to a connection already in a transaction
/// does with that transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JoinMode {
    /// SQLAlchemy's default: `create_savepoint` when the connection is inside a SAVEPOINT,
    /// else `rollback_only`.
    #[default]
    ConditionalSavepoint,
    /// The session's transaction is a SAVEPOINT of its own: commit releases it, rollback
    /// and close roll back to it; the connection's transaction is never ended.
    CreateSavepoint,
    /// The session never commits the connection's transaction (or SAVEPOINT), but its
    /// rollback rolls it back; close leaves it alone.
    RollbackOnly,
    /// The session takes the connection's transaction (or SAVEPOINT) as its own: commit
    /// commits (releases) it, rollback and close roll it back.
    ControlFully,
}

impl JoinMode {
    pub const NAMES: &'static str =
        "\"conditional_savepoint\", \"create_savepoint\", \"rollback_only\" or \"control_fully\"";

    pub fn parse(name: &str) -> Result<JoinMode> {
        Ok(match name {
            "conditional_savepoint" => JoinMode::ConditionalSavepoint,
            "create_savepoint" => JoinMode::CreateSavepoint,
            "rollback_only" => JoinMode::RollbackOnly,
            "control_fully" => JoinMode::ControlFully,
            other => {
                return Err(Error::new(
                    ErrorKind::ArgumentError,
                    format!(
                        "invalid selection for join_transaction_mode: \"{other}\" (expected {})",
                        Self::NAMES
                    ),
                ))
            }
        })
    }
}

/// What the session's transaction is on its connection, so commit, rollback and close
/// know what to send.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum RootTx {
    /// No transaction of the session's own: the session runs inside one someone else ends
    /// (an event listener's connection), and never ends it.
    #[default]
    Joined,
    /// The session's own: the transaction it began, or (`Some`) a SAVEPOINT it created or
    /// took over. Commit commits (releases); rollback and close roll back (to the savepoint).
    Owner(Option<String>),
    /// `rollback_only`: commit leaves the transaction (or SAVEPOINT) alone, rollback rolls it
    /// back, close leaves it alone.
    RollbackOnly(Option<String>),
}

impl RootTx {
    /// From how `Connection::begin` went for a session bound to an engine.
    pub fn from_begin(owner: TxOwnership) -> RootTx {
        match owner {
            TxOwnership::Owner => RootTx::Owner(None),
            TxOwnership::Joined => RootTx::Joined,
        }
    }

    /// The session's commit.
    pub fn commit(&self, conn: &Connection) -> Result<()> {
        match self {
            RootTx::Owner(None) => conn.commit(),
            RootTx::Owner(Some(sp)) if conn.has_savepoint(sp) => conn.release_savepoint(sp),
            _ => Ok(()),
        }
    }

    /// The session's rollback.
    pub fn rollback(&self, conn: &Connection) -> Result<()> {
        match self {
            RootTx::Owner(None) | RootTx::RollbackOnly(None) => conn.rollback(),
            RootTx::Owner(Some(sp)) | RootTx::RollbackOnly(Some(sp)) if conn.has_savepoint(sp) => {
                conn.rollback_to_savepoint(sp)
            }
            _ => Ok(()),
        }
    }

    /// The session's close (or its end without close): ends what it owns.
    pub fn close(&self, conn: &Connection) -> Result<()> {
        match self {
            RootTx::Owner(_) => self.rollback(conn),
            _ => Ok(()),
        }
    }
}

/// Begins the session's transaction on the connection it is bound to, as SQLAlchemy's
/// `SessionTransaction._connection_for_bind` does for a `Connection` bind: a connection
/// outside a transaction gets one the session owns; one inside a transaction is joined
/// according to the mode.
pub fn begin_on(bound: &WeakConnection, mode: JoinMode) -> Result<(Rc<Connection>, RootTx)> {
    let conn = bound.upgrade().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidRequestError,
            "This Session is bound to a Connection that has been closed: bind it to an open one",
        )
    })?;
    if !conn.in_transaction() {
        conn.begin()?;
        return Ok((Rc::new(conn), RootTx::Owner(None)));
    }
    let mode = match mode {
        JoinMode::ConditionalSavepoint if conn.in_nested_transaction() => JoinMode::CreateSavepoint,
        JoinMode::ConditionalSavepoint => JoinMode::RollbackOnly,
        m => m,
    };
    let innermost = || {
        if conn.in_nested_transaction() {
            conn.innermost_savepoint()
        } else {
            None
        }
    };
    let root = match mode {
        JoinMode::CreateSavepoint => {
            let name = conn.next_savepoint_name();
            conn.savepoint(&name)?;
            RootTx::Owner(Some(name))
        }
        JoinMode::RollbackOnly => RootTx::RollbackOnly(innermost()),
        JoinMode::ControlFully => RootTx::Owner(innermost()),
        JoinMode::ConditionalSavepoint => unreachable!("resolved above"),
    };
    Ok((Rc::new(conn), root))
}

impl SessionCore {
    /// Binds the session to a connection (`orm.Session(connection)`): its transactions run
    /// on that connection, joined to the one it is in as `join_transaction_mode` says. SQL is
    /// compiled for the connection's engine. The session does not keep the connection
    /// checked out: once its owner closes it, the session refuses work until bound again.
    pub fn bind_connection(&self, conn: &Connection) {
        self.set_bind(Some(conn.engine().clone()));
        *self.bound_conn.borrow_mut() = Some(conn.downgrade());
    }

    /// The connection the session is bound to, while it is open.
    pub fn bound_connection(&self) -> Option<Connection> {
        self.bound_conn
            .borrow()
            .as_ref()
            .and_then(WeakConnection::upgrade)
    }
}

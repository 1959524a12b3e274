//! A checked-out connection: executes SQL through SQLite's prepared statement cache and
//! reports every statement to the engine's echo sink.

use std::rc::Rc;

use super::echo::EchoParams;
use super::events::EngineEvent;
use super::pool::Engine;
use crate::error::{Error, Result};
use crate::value::Value;

pub(crate) struct ConnInner {
    raw: rusqlite::Connection,
}

impl ConnInner {
    pub(crate) fn open(engine: &Engine) -> Result<ConnInner> {
        Ok(ConnInner {
            raw: engine.open_raw()?,
        })
    }
    pub(crate) fn raw(&self) -> &rusqlite::Connection {
        &self.raw
    }
    pub(crate) fn in_transaction(&self) -> bool {
        !self.raw.is_autocommit()
    }
}

/// A connection checked out of an engine's pool; it goes back when the last clone drops.
pub struct Connection {
    inner: Option<Rc<ConnInner>>,
    engine: Engine,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            if Rc::strong_count(&inner) == 1 {
                self.engine.checkin(inner);
            }
        }
    }
}

/// How a transaction began on a connection that may be shared (in-memory engines): the
/// first to begin owns it and ends it; later ones join it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOwnership {
    Owner,
    Joined,
}

impl Connection {
    /// Another handle on the same database connection (and its transaction).
    pub fn share(&self) -> Connection {
        Connection {
            inner: self.inner.clone(),
            engine: self.engine.clone(),
        }
    }

    pub(crate) fn new(inner: Rc<ConnInner>, engine: Engine) -> Connection {
        Connection {
            inner: Some(inner),
            engine,
        }
    }

    fn raw(&self) -> &rusqlite::Connection {
        &self.inner.as_ref().expect("connection in use").raw
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn in_transaction(&self) -> bool {
        !self.raw().is_autocommit()
    }

    /// The engine's cursor events around a statement.
    #[inline]
    fn cursor_event(&self, event: EngineEvent, sql: &str, params: &EchoParams<'_>) -> Result<()> {
        if self.engine.0.listeners.is_empty() {
            return Ok(());
        }
        super::events::dispatch(&self.engine, event, sql, params)
    }

    fn echo(&self, sql: &str, params: EchoParams<'_>) {
        if let Some(sink) = self.engine.0.echo.borrow().as_ref() {
            sink.statement(sql, &params);
        }
    }

    /// Runs a statement without parameters or results (transaction control, DDL).
    pub fn execute_control(&self, sql: &str, echo_as: &str) -> Result<()> {
        self.echo(echo_as, EchoParams::None);
        self.raw()
            .execute_batch(sql)
            .map_err(|e| Error::from_db(e, sql, &[]))
    }

    pub fn begin(&self) -> Result<TxOwnership> {
        if self.in_transaction() {
            return Ok(TxOwnership::Joined);
        }
        self.echo("BEGIN (implicit)", EchoParams::None);
        self.raw()
            .execute_batch("BEGIN")
            .map_err(|e| Error::from_db(e, "BEGIN", &[]))?;
        Ok(TxOwnership::Owner)
    }

    pub fn commit(&self) -> Result<()> {
        if self.in_transaction() {
            self.execute_control("COMMIT", "COMMIT")?;
        }
        Ok(())
    }

    pub fn rollback(&self) -> Result<()> {
        if self.in_transaction() {
            self.execute_control("ROLLBACK", "ROLLBACK")?;
        }
        Ok(())
    }

    pub fn savepoint(&self, name: &str) -> Result<()> {
        let sql = format!("SAVEPOINT {name}");
        self.execute_control(&sql, &sql)
    }
    pub fn release_savepoint(&self, name: &str) -> Result<()> {
        let sql = format!("RELEASE SAVEPOINT {name}");
        self.execute_control(&sql, &sql)
    }
    pub fn rollback_to_savepoint(&self, name: &str) -> Result<()> {
        let sql = format!("ROLLBACK TO SAVEPOINT {name}");
        self.execute_control(&sql, &sql)
    }

    /// Executes one statement through the statement cache; returns the rows changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        self.echo(sql, EchoParams::One(params));
        self.cursor_event(
            EngineEvent::BeforeCursorExecute,
            sql,
            &EchoParams::One(params),
        )?;
        let wrap = |e| Error::from_db(e, sql, params);
        let mut stmt = self.raw().prepare_cached(sql).map_err(wrap)?;
        let n = stmt.execute(rusqlite::params_from_iter(params));
        self.cursor_event(
            EngineEvent::AfterCursorExecute,
            sql,
            &EchoParams::One(params),
        )?;
        n.map_err(wrap)
    }

    /// Executes one prepared statement once per parameter set (SQLAlchemy's executemany),
    /// reported to echo once; `each` receives the row index and the rowid it produced.
    pub fn execute_many(
        &self,
        sql: &str,
        rows: &[Vec<Value>],
        mut each: impl FnMut(usize, i64, usize) -> Result<()>,
    ) -> Result<()> {
        let reported = match rows {
            [one] => EchoParams::One(one),
            _ => EchoParams::Many(rows),
        };
        self.echo(
            sql,
            match rows {
                [one] => EchoParams::One(one),
                _ => EchoParams::Many(rows),
            },
        );
        self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &reported)?;
        let raw = self.raw();
        let mut stmt = raw.prepare_cached(sql).map_err(|e| {
            Error::from_db(e, sql, rows.first().map(|r| r.as_slice()).unwrap_or(&[]))
        })?;
        for (i, row) in rows.iter().enumerate() {
            let changed = stmt
                .execute(rusqlite::params_from_iter(row))
                .map_err(|e| Error::from_db(e, sql, row))?;
            each(i, raw.last_insert_rowid(), changed)?;
        }
        self.cursor_event(EngineEvent::AfterCursorExecute, sql, &reported)
    }

    /// Runs a query, calling `f` with each row.
    pub fn query(
        &self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
    ) -> Result<()> {
        self.echo(sql, EchoParams::One(params));
        self.cursor_event(
            EngineEvent::BeforeCursorExecute,
            sql,
            &EchoParams::One(params),
        )?;
        let wrap = |e| Error::from_db(e, sql, params);
        let mut stmt = self.raw().prepare_cached(sql).map_err(wrap)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(wrap)?;
        while let Some(row) = rows.next().map_err(wrap)? {
            f(row)?;
        }
        drop(rows);
        drop(stmt);
        self.cursor_event(
            EngineEvent::AfterCursorExecute,
            sql,
            &EchoParams::One(params),
        )
    }

    /// Column names of a query's result.
    pub fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        let stmt = self
            .raw()
            .prepare_cached(sql)
            .map_err(|e| Error::from_db(e, sql, &[]))?;
        Ok(stmt.column_names().map(String::from).collect())
    }

    pub fn last_insert_rowid(&self) -> i64 {
        self.raw().last_insert_rowid()
    }

    /// True when the table exists (the query is reported like any other).
    pub fn has_table(&self, name: &str) -> Result<bool> {
        let sql = self.engine.dialect().has_table_sql();
        let mut found = false;
        self.query(sql, &[Value::text(name)], |_| {
            found = true;
            Ok(())
        })?;
        Ok(found)
    }
}

/// Reads column `i` of a row as a core value.
#[inline]
pub fn row_value(row: &rusqlite::Row<'_>, i: usize) -> Result<Value> {
    row.get_ref(i)
        .map(Value::from_sql)
        .map_err(|e| Error::from_db(e, "fetch", &[]))
}

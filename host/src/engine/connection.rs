//! A checked-out connection: executes SQL through its driver's prepared statement cache
//! and reports every statement to the engine's echo sink and cursor events.

use std::cell::Cell;
use std::rc::Rc;

use super::driver::Driver;
use super::echo::EchoParams;
use super::events::EngineEvent;
use super::pool::Engine;
use super::row::Row;
use crate::error::{Error, Result};
use crate::value::Value;

pub(crate) struct ConnInner {
    /// SQLite: the statements of `query_hot`, kept prepared. Declared before `driver`, so
    /// they are finalized before the connection they borrow closes.
    hot: std::cell::RefCell<Vec<HotStatement>>,
    pub(crate) driver: Driver,
    /// The pool's generation when opened (`Engine::dispose` ends a generation).
    pub(crate) generation: u64,
    /// SQLite: a transaction is begun whose `BEGIN` waits for its first statement that
    /// writes (pysqlite's legacy transaction control, SQLAlchemy's default on SQLite).
    deferred: Cell<bool>,
    /// Counts the transactions begun on this connection: a transaction object knows it is
    /// still the current one by its number.
    tx_seq: Cell<u64>,
    /// The SAVEPOINTs open in the current transaction, outermost first.
    savepoints: std::cell::RefCell<Vec<String>>,
    /// Numbers the SAVEPOINT names (`sa_savepoint_N`), unique on the connection.
    savepoint_seq: Cell<u32>,
    /// Counts the checkouts that ended: a `WeakConnection` is good for one checkout only.
    lease: Cell<u64>,
    /// SQLite, in-memory engine: a read transaction of this connection's own is open,
    /// begun for the reads of a transaction still waiting for its BEGIN and kept across
    /// them while no other connection of the engine is checked out (see `read_hold.rs`).
    pub(super) read_held: Cell<bool>,
}

impl ConnInner {
    pub(crate) fn open(engine: &Engine, generation: u64) -> Result<ConnInner> {
        Ok(ConnInner {
            hot: Default::default(),
            driver: Driver::open(engine)?,
            generation,
            deferred: Cell::new(false),
            tx_seq: Cell::new(0),
            savepoints: Default::default(),
            savepoint_seq: Cell::new(0),
            lease: Cell::new(0),
            read_held: Cell::new(false),
        })
    }

    /// Ends what a connection returned to the pool left open.
    pub(crate) fn reset(&self) {
        // the driver's reset rolls the held read transaction back with the rest
        self.read_held.set(false);
        self.deferred.set(false);
        self.savepoints.borrow_mut().clear();
        self.driver.reset();
    }
}

/// A statement of `Connection::query_hot` with the SQL it was prepared from (`None` while
/// it runs). It borrows the SQLite connection of the same `ConnInner`, which lives at a fixed
/// place (in its `Rc`) and is dropped after it (see `ConnInner::hot`): hence `'static`.
struct HotStatement {
    sql: Box<str>,
    stmt: Option<rusqlite::Statement<'static>>,
}

/// How many statements a connection keeps prepared for `query_hot`; the next ones go through
/// the statement cache as any query.
const HOT_STATEMENTS: usize = 8;

/// A connection checked out of an engine's pool; it goes back when the last clone drops.
pub struct Connection {
    inner: Option<Rc<ConnInner>>,
    engine: Engine,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            if Rc::strong_count(&inner) == 1 {
                // the checkout ends: its `WeakConnection`s no longer upgrade
                inner.lease.set(inner.lease.get() + 1);
                self.engine.checkin(inner);
            }
        }
    }
}

/// What `Connection::run_text` got back.
pub struct TextOutcome {
    /// The result's column names; empty for a statement that returns no rows.
    pub names: Vec<String>,
    /// The rows' values, one row after another.
    pub values: Vec<Value>,
    /// Rows changed, for a statement that returns no rows.
    pub affected: usize,
}

/// How a transaction began on a connection that may be shared (a listener's connection
/// runs in the flush's transaction): the first to begin owns it and ends it; later ones
/// join it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxOwnership {
    Owner,
    Joined,
}

/// A handle on a checked-out connection that does not keep it checked out (a session bound
/// to a connection): once every `Connection` of that checkout is gone, and the connection is
/// back in the pool, it no longer upgrades.
pub struct WeakConnection {
    inner: std::rc::Weak<ConnInner>,
    lease: u64,
    engine: Engine,
}

impl WeakConnection {
    /// The connection, while the checkout it was taken from lasts.
    pub fn upgrade(&self) -> Option<Connection> {
        let inner = self.inner.upgrade()?;
        (inner.lease.get() == self.lease).then(|| Connection {
            inner: Some(inner),
            engine: self.engine.clone(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Connection {
    /// A handle that does not keep this checkout alive (see `WeakConnection`).
    pub fn downgrade(&self) -> WeakConnection {
        let inner = self.inner.as_ref().expect("connection in use");
        WeakConnection {
            inner: Rc::downgrade(inner),
            lease: inner.lease.get(),
            engine: self.engine.clone(),
        }
    }

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

    fn inner(&self) -> &ConnInner {
        self.inner.as_ref().expect("connection in use")
    }

    pub(super) fn inner_rc(&self) -> &Rc<ConnInner> {
        self.inner.as_ref().expect("connection in use")
    }

    fn driver(&self) -> &Driver {
        &self.inner().driver
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// True inside a transaction, begun on the database or (SQLite) waiting for its first
    /// write.
    pub fn in_transaction(&self) -> bool {
        self.inner().deferred.get() || self.driver().in_transaction()
    }

    /// The engine's cursor events around a statement.
    #[inline]
    fn cursor_event(&self, event: EngineEvent, sql: &str, params: &EchoParams<'_>) -> Result<()> {
        if self.engine.0.listeners.is_empty() {
            return Ok(());
        }
        super::events::dispatch(&self.engine, event, sql, params)
    }

    fn echo(&self, sql: &str, params: &EchoParams<'_>) -> Result<()> {
        let sink = self.engine.0.echo.borrow().clone();
        match sink {
            Some(sink) => sink.statement(sql, params),
            None => Ok(()),
        }
    }

    /// Runs a statement without parameters or results (DDL, server administration): on
    /// SQLite, inside a transaction still waiting for its BEGIN, that BEGIN goes first.
    pub fn execute_control(&self, sql: &str, echo_as: &str) -> Result<()> {
        if let Some(c) = self.driver().sqlite() {
            self.end_read_hold()?;
            if self.inner().deferred.get() && !is_vacuum(sql) {
                self.begin_deferred(c)?;
            }
        }
        self.control(sql, echo_as)
    }

    /// Transaction control: reported, then sent as is.
    fn control(&self, sql: &str, echo_as: &str) -> Result<()> {
        if sql.starts_with("ROLLBACK") {
            // a rollback happens whatever the echo function does; its error follows
            let echoed = self.echo(echo_as, &EchoParams::None);
            self.batch(sql)?;
            return echoed;
        }
        self.echo(echo_as, &EchoParams::None)?;
        self.batch(sql)
    }

    fn batch(&self, sql: &str) -> Result<()> {
        match self.driver() {
            Driver::Sqlite(c) => c
                .execute_batch(sql)
                .map_err(|e| self.sqlite_err(e, sql, &[])),
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.execute_batch(sql),
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.execute_batch(sql),
        }
    }

    /// Begins a transaction (reported as SQLAlchemy does, "BEGIN (implicit)"). On SQLite
    /// the engine's `sqlite_begin` says when: by default the BEGIN waits for the first
    /// statement that writes (`before_sqlite`), else it is sent now as that BEGIN.
    pub fn begin(&self) -> Result<TxOwnership> {
        if self.in_transaction() {
            return Ok(TxOwnership::Joined);
        }
        self.echo("BEGIN (implicit)", &EchoParams::None)?;
        let inner = self.inner();
        inner.tx_seq.set(inner.tx_seq.get() + 1);
        inner.savepoints.borrow_mut().clear();
        match self.driver() {
            Driver::Sqlite(c) => match self.engine.0.options.sqlite_begin.eager_sql() {
                None => self.inner().deferred.set(true),
                Some(sql) => self.begin_sqlite(c, sql)?,
            },
            #[allow(unreachable_patterns)]
            _ => self.batch("BEGIN")?,
        }
        Ok(TxOwnership::Owner)
    }

    /// Sends a SQLite BEGIN, once the database file is known to be still there.
    fn begin_sqlite(&self, c: &rusqlite::Connection, sql: &str) -> Result<()> {
        self.end_read_hold()?;
        self.check_file(c)?;
        c.execute_batch(sql)
            .map_err(|e| self.sqlite_err(e, sql, &[]))
    }

    /// Sends the BEGIN a SQLite transaction waited for.
    #[cold]
    fn begin_deferred(&self, c: &rusqlite::Connection) -> Result<()> {
        self.begin_sqlite(c, "BEGIN")?;
        self.inner().deferred.set(false);
        Ok(())
    }

    /// Before a prepared SQLite statement runs: the BEGIN its transaction waited for, when
    /// the statement writes (VACUUM excepted: it cannot run inside a transaction).
    #[inline]
    fn before_sqlite(
        &self,
        c: &rusqlite::Connection,
        stmt: &rusqlite::Statement<'_>,
        sql: &str,
    ) -> Result<()> {
        let inner = self.inner();
        if !inner.deferred.get() {
            return Ok(());
        }
        if stmt.readonly() && is_select(sql) {
            if !inner.read_held.get() {
                self.maybe_hold_read(c)?;
            }
            return Ok(());
        }
        self.end_read_hold()?;
        if !stmt.readonly() && !is_vacuum(sql) {
            self.begin_deferred(c)?;
        }
        Ok(())
    }

    /// A file database deleted or moved since it was opened takes no more writes.
    fn check_file(&self, c: &rusqlite::Connection) -> Result<()> {
        match &self.engine.0.url {
            super::url::Url::SqliteFile(path) => super::driver::sqlite::check_not_moved(c, path),
            _ => Ok(()),
        }
    }

    /// A SQLite error with what "database is locked" means here and what to do about it.
    #[cold]
    fn sqlite_err(&self, e: rusqlite::Error, sql: &str, params: &[Value]) -> Error {
        let busy = match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
                Some(f.extended_code)
            }
            _ => None,
        };
        let mut err = Error::from_db(e, sql, params);
        if let Some(code) = busy {
            err.message = self.busy_message(code);
        }
        err
    }

    fn busy_message(&self, extended_code: i32) -> String {
        if extended_code == rusqlite::ffi::SQLITE_BUSY_SNAPSHOT {
            return "database is locked: another connection committed after this transaction \
                    began reading, so its snapshot is stale and it cannot write (SQLite's \
                    SQLITE_BUSY_SNAPSHOT; waiting cannot help). Roll back and retry the whole \
                    transaction, or create the engine with sqlite_begin = \"immediate\" so that \
                    transactions take the write lock when they begin"
                .to_string();
        }
        match &self.engine.0.url {
            super::url::Url::SqliteMemory => "database is locked: another session or connection \
                of this in-memory engine has a write transaction open (it flushed or wrote and \
                has not committed or rolled back yet), and an in-memory database lets no other \
                connection read or write until that transaction ends. Commit or roll back the \
                other one first, or use a file database, whose readers do not wait for writers"
                .to_string(),
            _ => format!(
                "database is locked: another connection held the lock for longer than the busy \
                 timeout ({:.1} s). Commit or roll back the other transaction, retry, or wait \
                 longer with create_engine(url, {{ connect_args = {{ timeout = seconds }} }})",
                self.engine.0.options.busy_timeout(false).as_secs_f64()
            ),
        }
    }

    /// The number of the transaction begun last (see `begin`); with `in_transaction`, tells
    /// whether a transaction object is still the current one.
    pub fn transaction_id(&self) -> u64 {
        self.inner().tx_seq.get()
    }

    /// True while a SAVEPOINT is open.
    pub fn in_nested_transaction(&self) -> bool {
        !self.inner().savepoints.borrow().is_empty()
    }

    /// True while the SAVEPOINT of that name is open (not released or rolled back to, and
    /// its transaction not ended).
    pub fn has_savepoint(&self, name: &str) -> bool {
        self.inner().savepoints.borrow().iter().any(|n| n == name)
    }

    /// A SAVEPOINT name not used before on this connection (`sa_savepoint_N`, as
    /// SQLAlchemy names them), so that a session's and the connection's own never clash
    /// (MySQL drops an older savepoint of the same name).
    pub fn next_savepoint_name(&self) -> String {
        let seq = &self.inner().savepoint_seq;
        seq.set(seq.get() + 1);
        format!("sa_savepoint_{}", seq.get())
    }

    /// The name of the SAVEPOINT opened last and still open.
    pub fn innermost_savepoint(&self) -> Option<String> {
        self.inner().savepoints.borrow().last().cloned()
    }

    /// Forgets the savepoint of that name and those opened after it.
    fn end_savepoint(&self, name: &str) {
        let mut open = self.inner().savepoints.borrow_mut();
        if let Some(i) = open.iter().rposition(|n| n == name) {
            open.truncate(i);
        }
    }

    pub fn commit(&self) -> Result<()> {
        self.inner().savepoints.borrow_mut().clear();
        if self.inner().deferred.replace(false) {
            // nothing was written: the transaction never reached the database
            self.end_read_hold()?;
            return self.echo("COMMIT", &EchoParams::None);
        }
        if self.driver().in_transaction() {
            if let Some(c) = self.driver().sqlite() {
                self.check_file(c)?;
            }
            self.control("COMMIT", "COMMIT")?;
        }
        Ok(())
    }

    pub fn rollback(&self) -> Result<()> {
        self.inner().savepoints.borrow_mut().clear();
        if self.inner().deferred.replace(false) {
            let ended = self.end_read_hold();
            self.echo("ROLLBACK", &EchoParams::None)?;
            return ended;
        }
        if self.driver().in_transaction() {
            self.control("ROLLBACK", "ROLLBACK")?;
        }
        Ok(())
    }

    /// A SAVEPOINT; on SQLite the transaction's BEGIN goes first if it still waits for it
    /// (a SAVEPOINT outside a transaction would begin one that its RELEASE commits).
    pub fn savepoint(&self, name: &str) -> Result<()> {
        let sql = format!("SAVEPOINT {name}");
        if let Some(c) = self.driver().sqlite() {
            self.end_read_hold()?;
            if self.inner().deferred.get() {
                self.begin_deferred(c)?;
            }
        }
        self.savepoint_statement(&sql)?;
        self.inner().savepoints.borrow_mut().push(name.to_string());
        Ok(())
    }
    pub fn release_savepoint(&self, name: &str) -> Result<()> {
        let sql = format!("RELEASE SAVEPOINT {name}");
        self.end_savepoint(name);
        self.savepoint_statement(&sql)
    }
    pub fn rollback_to_savepoint(&self, name: &str) -> Result<()> {
        let sql = format!("ROLLBACK TO SAVEPOINT {name}");
        self.end_savepoint(name);
        self.savepoint_statement(&sql)
    }

    /// A SAVEPOINT, RELEASE or ROLLBACK TO: transaction control that, as SQLAlchemy's
    /// savepoint clauses, is a statement the cursor events see (BEGIN, COMMIT and ROLLBACK
    /// are not). A ROLLBACK TO is sent whatever the echo function or a listener does; their
    /// error follows.
    fn savepoint_statement(&self, sql: &str) -> Result<()> {
        let report = EchoParams::None;
        if sql.starts_with("ROLLBACK") {
            let before = self
                .echo(sql, &report)
                .and_then(|_| self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &report));
            self.batch(sql)?;
            before?;
        } else {
            self.echo(sql, &report)?;
            self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &report)?;
            self.batch(sql)?;
        }
        self.cursor_event(EngineEvent::AfterCursorExecute, sql, &report)
    }

    /// Executes one statement through the statement cache; returns the rows changed.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<usize> {
        self.execute_reported(sql, params, EchoParams::One(params))
    }

    /// `execute`, reporting `params` to echo and the cursor events as `report` says.
    fn execute_reported(
        &self,
        sql: &str,
        params: &[Value],
        report: EchoParams<'_>,
    ) -> Result<usize> {
        self.echo(sql, &report)?;
        self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &report)?;
        let n = self.run(sql, params);
        self.cursor_event(EngineEvent::AfterCursorExecute, sql, &report)?;
        n
    }

    fn run(&self, sql: &str, params: &[Value]) -> Result<usize> {
        match self.driver() {
            Driver::Sqlite(c) => {
                let wrap = |e| self.sqlite_err(e, sql, params);
                let mut stmt = c.prepare_cached(sql).map_err(wrap)?;
                self.before_sqlite(c, &stmt, sql)?;
                stmt.execute(rusqlite::params_from_iter(params))
                    .map_err(wrap)
            }
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.run(sql, params, None),
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.run(sql, params, None),
        }
    }

    /// Executes one prepared statement once per parameter set (SQLAlchemy's executemany),
    /// reported to echo once; `each` receives the row index and the rowid it produced.
    pub fn execute_many(
        &self,
        sql: &str,
        rows: &[Vec<Value>],
        each: impl FnMut(usize, i64, usize) -> Result<()>,
    ) -> Result<()> {
        self.execute_rows(sql, super::Rows::Vecs(rows), each)
    }

    /// `execute_many` of rows as vectors or slices.
    pub fn execute_rows(
        &self,
        sql: &str,
        rows: super::Rows<'_>,
        mut each: impl FnMut(usize, i64, usize) -> Result<()>,
    ) -> Result<()> {
        let reported = if rows.len() == 1 {
            EchoParams::One(rows.get(0))
        } else {
            EchoParams::Many(rows)
        };
        self.echo(sql, &reported)?;
        self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &reported)?;
        match self.driver() {
            Driver::Sqlite(raw) => {
                let mut stmt = raw
                    .prepare_cached(sql)
                    .map_err(|e| self.sqlite_err(e, sql, rows.iter().next().unwrap_or(&[])))?;
                self.before_sqlite(raw, &stmt, sql)?;
                for (i, row) in rows.iter().enumerate() {
                    let changed = stmt
                        .execute(rusqlite::params_from_iter(row))
                        .map_err(|e| self.sqlite_err(e, sql, row))?;
                    each(i, raw.last_insert_rowid(), changed)?;
                }
            }
            // a server: one execution per row (its driver caches the prepared statement)
            #[allow(unreachable_patterns)]
            _ => {
                for (i, row) in rows.iter().enumerate() {
                    let changed = self.run(sql, row)?;
                    each(i, self.last_insert_rowid(), changed)?;
                }
            }
        }
        self.cursor_event(EngineEvent::AfterCursorExecute, sql, &reported)
    }

    /// Executes an INSERT of many rows (SQLAlchemy's "insertmanyvalues"): `single` is `ins`
    /// compiled for one row, `rows` the values of its slots. `each(i, key)` gets row `i`'s
    /// generated value of column `generated`. SQLite runs its prepared statement once per
    /// row and reads the rowid; a server gets multi-row INSERTs in batches, with
    /// `RETURNING` the key where the dialect has it, else (MySQL) one execution per row
    /// and the last-insert id. Returns the rows inserted.
    pub fn insert_rows(
        &self,
        ins: &crate::sql::Insert,
        single: &crate::sql::Compiled,
        rows: super::Rows<'_>,
        generated: Option<usize>,
        mut each: impl FnMut(usize, Option<Value>) -> Result<()>,
    ) -> Result<usize> {
        use crate::sql::dialect::Dml;
        let d = self.engine.dialect();
        let returning = generated.is_some() && d.supports_returning(Dml::Insert);
        // SQLite's dialect batches nothing: its prepared statement per row is the fastest
        if d.insert_batch_rows() <= 1 || (generated.is_some() && !returning) {
            let owned: Vec<Vec<Value>>;
            let bound = if single.slots_in_order() {
                rows
            } else {
                owned = rows
                    .iter()
                    .map(|r| single.bind(r, &|_| None))
                    .collect::<Result<_>>()?;
                super::Rows::Vecs(&owned)
            };
            let mut total = 0;
            self.execute_rows(&single.sql, bound, |i, rowid, n| {
                total += n;
                each(i, generated.map(|_| Value::Integer(rowid)))
            })?;
            return Ok(total);
        }
        let owned: Vec<Vec<Value>>;
        let rows: &[Vec<Value>] = match rows {
            super::Rows::Vecs(v) => v,
            super::Rows::Slices(_) => {
                owned = rows.to_vecs();
                &owned
            }
        };
        let width = rows.first().map_or(0, |r| r.len()).max(1);
        // a row of nothing but defaults is `DEFAULT VALUES`: one row per statement
        let per = if ins.values.is_empty() {
            1
        } else {
            d.insert_batch_rows().min(d.max_params() / width).max(1)
        };
        let mut stmt = ins.clone();
        if let (true, Some(g)) = (returning, generated) {
            stmt.returning = vec![crate::sql::Expr::column(&ins.table, g)];
        }
        let mut done = 0;
        let mut compiled: Option<(usize, crate::sql::Compiled)> = None;
        for chunk in rows.chunks(per) {
            if compiled.as_ref().is_none_or(|(n, _)| *n != chunk.len()) {
                compiled = Some((
                    chunk.len(),
                    crate::sql::compiler::compile_insert_rows(&stmt, chunk.len(), d)?,
                ));
            }
            let c = &compiled.as_ref().expect("compiled above").1;
            let flat: Vec<Value> = chunk.concat();
            let params = c.bind(&flat, &|_| None)?;
            if returning {
                let mut k = done;
                self.query_reported(&c.sql, &params, EchoParams::Batch(&params), |row| {
                    each(k, Some(row.value(0)?))?;
                    k += 1;
                    Ok(())
                })?;
            } else {
                self.execute_reported(&c.sql, &params, EchoParams::Batch(&params))?;
                for k in done..done + chunk.len() {
                    each(k, None)?;
                }
            }
            done += chunk.len();
        }
        let auto = ins.table.autoincrement_column();
        if generated.is_none() && auto.is_some_and(|a| ins.values.iter().any(|(c, _)| *c == a)) {
            let col = &ins.table.columns[auto.expect("checked above")].name;
            if let Some(sql) = d.sync_sequence_sql(&ins.table.name, col) {
                self.query(&sql, &[], |_| Ok(()))?;
            }
        }
        Ok(done)
    }

    /// Executes an UPDATE of many rows: `single` is `up` compiled for one row, `rows` the
    /// values of its slots. `check(expected, matched)` gets the rows a statement should have
    /// matched and those it did: per row on SQLite, per batch on a server, which gets one
    /// UPDATE joined to its rows, up to 1,000 (PostgreSQL: a VALUES list; MySQL: a UNION ALL
    /// of SELECTs), saving the round trips as psycopg's pipelined executemany does.
    pub fn update_rows(
        &self,
        up: &crate::sql::Update,
        single: &crate::sql::Compiled,
        rows: &[Vec<Value>],
        mut check: impl FnMut(usize, usize) -> Result<()>,
    ) -> Result<()> {
        let d = self.engine.dialect();
        let width = rows.first().map_or(0, |r| r.len()).max(1);
        let per = d.update_batch_rows().min(d.max_params() / width);
        if per <= 1 || rows.len() == 1 || !single.is_static_but_slots() {
            let bound = single.bind_rows(rows)?;
            return self.execute_many(&single.sql, &bound, |_, _, changed| check(1, changed));
        }
        let mut compiled: Option<(usize, crate::sql::Compiled)> = None;
        for chunk in rows.chunks(per) {
            if compiled.as_ref().is_none_or(|(n, _)| *n != chunk.len()) {
                compiled = Some((
                    chunk.len(),
                    crate::sql::compiler::compile_update_rows(up, chunk.len(), d)?,
                ));
            }
            let c = &compiled.as_ref().expect("compiled above").1;
            let params = c.bind(&chunk.concat(), &|_| None)?;
            let matched = self.execute_reported(&c.sql, &params, EchoParams::Batch(&params))?;
            check(chunk.len(), matched)?;
        }
        Ok(())
    }

    /// Runs a query, calling `f` with each row.
    pub fn query(
        &self,
        sql: &str,
        params: &[Value],
        f: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        self.query_reported(sql, params, EchoParams::One(params), f)
    }

    /// `query` for a statement run again and again with new parameters (the SELECT by
    /// primary key of `session:get` and of loading an expired object): on SQLite it stays
    /// prepared on the connection, found by its text, instead of going through the statement
    /// cache (whose lookup hashes the text twice and allocates a key on each use).
    pub fn query_hot(
        &self,
        sql: &str,
        params: &[Value],
        mut f: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let Some(c) = self.driver().sqlite() else {
            return self.query(sql, params, f);
        };
        let Some((slot, mut stmt)) = self.take_hot(c, sql)? else {
            return self.query(sql, params, f);
        };
        let report = EchoParams::One(params);
        let r = self.run_hot(c, &mut stmt, sql, params, &report, &mut f);
        self.inner().hot.borrow_mut()[slot].stmt = Some(stmt);
        r?;
        self.cursor_event(EngineEvent::AfterCursorExecute, sql, &report)
    }

    /// The prepared statement of `sql` and its slot, taken out while it runs (a query run
    /// from inside `f` with the same SQL, none other being free, uses the cache); prepared
    /// on first use. `None` when the connection keeps as many as it may.
    fn take_hot(
        &self,
        c: &rusqlite::Connection,
        sql: &str,
    ) -> Result<Option<(usize, rusqlite::Statement<'static>)>> {
        let inner = self.inner();
        let mut hot = inner.hot.borrow_mut();
        if let Some(i) = hot.iter().position(|h| &*h.sql == sql) {
            return Ok(hot[i].stmt.take().map(|s| (i, s)));
        }
        if hot.len() >= HOT_STATEMENTS {
            return Ok(None);
        }
        let stmt = c.prepare(sql).map_err(|e| self.sqlite_err(e, sql, &[]))?;
        // SAFETY: see `HotStatement`: the connection outlives the statement and stays put.
        let stmt = unsafe {
            std::mem::transmute::<rusqlite::Statement<'_>, rusqlite::Statement<'static>>(stmt)
        };
        hot.push(HotStatement {
            sql: sql.into(),
            stmt: None,
        });
        Ok(Some((hot.len() - 1, stmt)))
    }

    /// `query_hot`'s run of its statement, reported as `query_reported` reports it; the
    /// statement is reset when its rows are dropped.
    fn run_hot(
        &self,
        c: &rusqlite::Connection,
        stmt: &mut rusqlite::Statement<'static>,
        sql: &str,
        params: &[Value],
        report: &EchoParams<'_>,
        f: &mut impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        self.echo(sql, report)?;
        self.cursor_event(EngineEvent::BeforeCursorExecute, sql, report)?;
        let wrap = |e| self.sqlite_err(e, sql, params);
        self.before_sqlite(c, stmt, sql)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(wrap)?;
        while let Some(row) = rows.next().map_err(wrap)? {
            f(&Row::Sqlite(row))?;
        }
        Ok(())
    }

    /// `query`, reporting `params` to echo and the cursor events as `report` says.
    fn query_reported(
        &self,
        sql: &str,
        params: &[Value],
        report: EchoParams<'_>,
        mut f: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        self.echo(sql, &report)?;
        self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &report)?;
        match self.driver() {
            Driver::Sqlite(c) => {
                let wrap = |e| self.sqlite_err(e, sql, params);
                let mut stmt = c.prepare_cached(sql).map_err(wrap)?;
                self.before_sqlite(c, &stmt, sql)?;
                let mut rows = stmt
                    .query(rusqlite::params_from_iter(params))
                    .map_err(wrap)?;
                while let Some(row) = rows.next().map_err(wrap)? {
                    f(&Row::Sqlite(row))?;
                }
            }
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => {
                d.run(sql, params, Some(&mut f))?;
            }
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => {
                d.run(sql, params, Some(&mut f))?;
            }
        }
        self.cursor_event(EngineEvent::AfterCursorExecute, sql, &report)
    }

    /// Runs a statement whose shape only the database knows (`orm.text`): its result's
    /// column names, and its rows (one value after another) when it has columns, else the
    /// rows it changed. Reported once, as any statement.
    pub fn run_text(&self, sql: &str, params: &[Value]) -> Result<TextOutcome> {
        #[cfg(feature = "mysql")]
        if let Driver::Mysql(d) = self.driver() {
            // the server names the columns only once the statement runs
            let report = EchoParams::One(params);
            self.echo(sql, &report)?;
            self.cursor_event(EngineEvent::BeforeCursorExecute, sql, &report)?;
            let mut values = Vec::new();
            let (affected, names) = d.run_described(
                sql,
                params,
                Some(&mut |row: &Row<'_>| {
                    if let Row::Values(v) = row {
                        values.extend_from_slice(v);
                    }
                    Ok(())
                }),
            )?;
            self.cursor_event(EngineEvent::AfterCursorExecute, sql, &report)?;
            return Ok(TextOutcome {
                names,
                values,
                affected,
            });
        }
        let names = self.column_names(sql)?;
        if names.is_empty() {
            let affected = self.execute(sql, params)?;
            return Ok(TextOutcome {
                names,
                values: Vec::new(),
                affected,
            });
        }
        let mut values = Vec::new();
        self.query(sql, params, |row| {
            for i in 0..names.len() {
                values.push(row.value(i)?);
            }
            Ok(())
        })?;
        Ok(TextOutcome {
            names,
            values,
            affected: 0,
        })
    }

    /// Column names of a query's result.
    pub fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        match self.driver() {
            Driver::Sqlite(c) => {
                let stmt = c
                    .prepare_cached(sql)
                    .map_err(|e| self.sqlite_err(e, sql, &[]))?;
                Ok(stmt.column_names().map(String::from).collect())
            }
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.column_names(sql),
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.column_names(sql),
        }
    }

    /// The key the last INSERT generated (SQLite's rowid, MySQL's last-insert id; 0 on
    /// PostgreSQL, which returns keys with RETURNING).
    pub fn last_insert_rowid(&self) -> i64 {
        match self.driver() {
            Driver::Sqlite(c) => c.last_insert_rowid(),
            #[cfg(feature = "postgres")]
            Driver::Postgres(_) => 0,
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.last_insert_id(),
        }
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

/// A query that may run in a held read transaction (see `read_hold.rs`): a SELECT, plain or
/// with a `WITH` clause; anything else ends the held transaction first.
#[inline]
fn is_select(sql: &str) -> bool {
    let b = sql.as_bytes();
    b.len() >= 6 && (b[..6].eq_ignore_ascii_case(b"SELECT") || b[..4].eq_ignore_ascii_case(b"WITH"))
}

/// `VACUUM` cannot run inside a transaction: it never waits for nor sends a BEGIN.
fn is_vacuum(sql: &str) -> bool {
    let head = sql.trim_start().as_bytes();
    head.len() >= 6 && head[..6].eq_ignore_ascii_case(b"vacuum")
}

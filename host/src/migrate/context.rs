//! Where a migration's statements go: a connection (online), or text collected for
//! `upgrade --sql` (offline). The runner's transaction per revision lives here: begin,
//! the revision's operations, the version table moved, commit; on failure a rollback that
//! leaves the database at the last revision that completed.
//!
//! SQLite: foreign-key enforcement is switched off around each revision (its PRAGMA takes
//! effect only outside a transaction), so that the table rebuilds of batch mode neither
//! cascade deletes nor break references; `PRAGMA foreign_key_check` runs before the commit
//! and a violation rolls the revision back.

use std::cell::{Cell, RefCell};

use super::revision_map::Step;
use super::version_table;
use crate::engine::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::sql::dialect::{for_backend, Backend};
use crate::sql::Dialect;
use crate::value::Value;

pub enum Bind {
    Online(Connection),
    /// The SQL text so far.
    Offline(RefCell<String>),
}

pub struct MigrationContext {
    pub bind: Bind,
    backend: Option<Backend>,
    dialect: Box<dyn Dialect>,
    /// SQLite: foreign keys were enforced before the current revision began.
    foreign_keys_were_on: Cell<bool>,
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidRequestError, msg.into())
}

impl MigrationContext {
    pub fn online(conn: Connection) -> MigrationContext {
        let backend = crate::engine::Url::parse(conn.engine().url())
            .ok()
            .and_then(|u| u.backend());
        MigrationContext {
            bind: Bind::Online(conn),
            backend,
            dialect: for_backend(backend),
            foreign_keys_were_on: Cell::new(false),
        }
    }

    pub fn offline(backend: Option<Backend>) -> MigrationContext {
        MigrationContext {
            bind: Bind::Offline(RefCell::new(String::new())),
            backend,
            dialect: for_backend(backend),
            foreign_keys_were_on: Cell::new(false),
        }
    }

    /// The engine's own dialect online (it knows MariaDB from MySQL by asking the server).
    pub fn dialect(&self) -> &dyn Dialect {
        match &self.bind {
            Bind::Online(c) => c.engine().dialect(),
            Bind::Offline(_) => &*self.dialect,
        }
    }

    pub fn backend(&self) -> Option<Backend> {
        self.backend
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend.is_none()
    }

    pub fn connection(&self) -> Option<&Connection> {
        match &self.bind {
            Bind::Online(c) => Some(c),
            Bind::Offline(_) => None,
        }
    }

    /// True where DDL runs inside a transaction (SQLite, PostgreSQL); MySQL and MariaDB
    /// commit each DDL statement on their own.
    pub fn transactional_ddl(&self) -> bool {
        !matches!(self.backend, Some(Backend::Mysql | Backend::Mariadb))
    }

    /// The SQL collected offline.
    pub fn output(&self) -> String {
        match &self.bind {
            Bind::Offline(s) => s.borrow().clone(),
            Bind::Online(_) => String::new(),
        }
    }

    /// Appends a line to the offline output (a comment, `BEGIN;`).
    fn emit(&self, text: &str) {
        if let Bind::Offline(s) = &self.bind {
            s.borrow_mut().push_str(text);
        }
    }

    /// Runs a statement without results (DDL, or SQL text), or writes it out offline.
    pub fn execute(&self, sql: &str) -> Result<()> {
        match &self.bind {
            Bind::Online(c) => c.execute_control(sql, sql),
            Bind::Offline(s) => {
                let mut s = s.borrow_mut();
                s.push_str(sql.trim_end());
                s.push_str(";\n\n");
                Ok(())
            }
        }
    }

    /// Runs a query (online only).
    pub fn query(&self, sql: &str, params: &[Value], ncols: usize) -> Result<Vec<Vec<Value>>> {
        let conn = self
            .connection()
            .ok_or_else(|| err("offline mode (--sql) cannot read the database"))?;
        let mut rows = Vec::new();
        conn.query(sql, params, |row| {
            let mut r = Vec::with_capacity(ncols);
            for i in 0..ncols {
                r.push(row.value(i)?);
            }
            rows.push(r);
            Ok(())
        })?;
        Ok(rows)
    }

    /// The revision the database is at (offline: the base).
    pub fn current(&self) -> Result<Option<String>> {
        let Some(conn) = self.connection() else {
            return Ok(None);
        };
        if !conn.has_table(version_table::TABLE)? {
            return Ok(None);
        }
        let rows = self.query(&version_table::select(), &[], 1)?;
        match rows.as_slice() {
            [] => Ok(None),
            [r] => match &r[0] {
                Value::Text(t) => Ok(Some(t.to_string())),
                other => Err(err(format!(
                    "{}: unexpected version_num {other:?}",
                    version_table::TABLE
                ))),
            },
            _ => Err(err(format!(
                "{} holds {} rows: lualchemy migrates one line of revisions",
                version_table::TABLE,
                rows.len()
            ))),
        }
    }

    /// Creates the version table when missing (offline: always written out).
    pub fn ensure_version_table(&self) -> Result<()> {
        match &self.bind {
            Bind::Offline(_) => self.execute(&version_table::create(self.dialect())),
            Bind::Online(c) => {
                if c.has_table(version_table::TABLE)? {
                    return Ok(());
                }
                c.begin()?;
                let done = self
                    .execute(&version_table::create(self.dialect()))
                    .and_then(|_| c.commit());
                if done.is_err() {
                    let _ = c.rollback();
                }
                done
            }
        }
    }

    fn pragma_foreign_keys(&self) -> Result<bool> {
        let rows = self.query("PRAGMA foreign_keys", &[], 1)?;
        Ok(matches!(
            rows.first().map(|r| &r[0]),
            Some(Value::Integer(1))
        ))
    }

    /// Before a revision's operations: its transaction (SQLite: enforcement off first).
    pub fn begin_step(&self, step: &Step) -> Result<()> {
        let arrow = format!(
            "-- Running {} {} -> {}\n\n",
            if step.upgrade { "upgrade" } else { "downgrade" },
            step.from.as_deref().unwrap_or(""),
            step.to.as_deref().unwrap_or("")
        );
        match &self.bind {
            Bind::Offline(_) => {
                self.emit(&arrow);
                if self.transactional_ddl() {
                    self.emit("BEGIN;\n\n");
                }
                Ok(())
            }
            Bind::Online(c) => {
                if c.in_transaction() {
                    return Err(err(
                        "the migration's connection is already in a transaction: commit or roll it back before running migrations",
                    ));
                }
                if self.is_sqlite() {
                    let on = self.pragma_foreign_keys()?;
                    self.foreign_keys_were_on.set(on);
                    if on {
                        c.execute_control("PRAGMA foreign_keys=OFF", "PRAGMA foreign_keys=OFF")?;
                    }
                }
                c.begin()?;
                Ok(())
            }
        }
    }

    /// After a revision's operations: the version moved, foreign keys checked (SQLite),
    /// commit.
    pub fn finish_step(&self, step: &Step) -> Result<()> {
        if let Some(sql) = version_table::move_version(step.from.as_deref(), step.to.as_deref()) {
            self.execute(&sql)?;
        }
        match &self.bind {
            Bind::Offline(_) => {
                if self.transactional_ddl() {
                    self.emit("COMMIT;\n\n");
                }
                Ok(())
            }
            Bind::Online(c) => {
                if self.is_sqlite() && self.foreign_keys_were_on.get() {
                    let bad = self.query("PRAGMA foreign_key_check", &[], 4)?;
                    if !bad.is_empty() {
                        let list: Vec<String> = bad
                            .iter()
                            .take(10)
                            .map(|r| {
                                format!(
                                    "{} row {} (references {})",
                                    show(&r[0]),
                                    show(&r[1]),
                                    show(&r[2])
                                )
                            })
                            .collect();
                        return Err(Error::new(
                            ErrorKind::IntegrityError,
                            format!(
                                "revision '{}' leaves {} row(s) whose foreign key points at no row: {}",
                                step.revision,
                                bad.len(),
                                list.join("; ")
                            ),
                        ));
                    }
                }
                c.commit()?;
                self.restore_foreign_keys()
            }
        }
    }

    /// A revision failed: its transaction rolled back.
    pub fn abort_step(&self) -> Result<()> {
        if let Bind::Online(c) = &self.bind {
            let r = c.rollback();
            self.restore_foreign_keys()?;
            r?;
        }
        Ok(())
    }

    fn restore_foreign_keys(&self) -> Result<()> {
        if let Bind::Online(c) = &self.bind {
            if self.foreign_keys_were_on.replace(false) {
                c.execute_control("PRAGMA foreign_keys=ON", "PRAGMA foreign_keys=ON")?;
            }
        }
        Ok(())
    }

    /// `stamp REV|base`: the version table says `rev`, nothing else runs.
    pub fn stamp(&self, rev: Option<&str>) -> Result<()> {
        self.ensure_version_table()?;
        if let Bind::Online(c) = &self.bind {
            c.begin()?;
        }
        let run = || -> Result<()> {
            self.execute(&version_table::clear())?;
            if let Some(sql) = version_table::move_version(None, rev) {
                self.execute(&sql)?;
            }
            if let Bind::Online(c) = &self.bind {
                c.commit()?;
            }
            Ok(())
        };
        let r = run();
        if r.is_err() {
            self.abort_step()?;
        }
        r
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Text(t) => t.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Null => "NULL".into(),
        other => format!("{other:?}"),
    }
}

//! Reflection: what a live database says about its tables (SQLAlchemy's `Inspector`), read
//! from each database's catalog by the module of its dialect (`sqlite.rs`: PRAGMAs and
//! `sqlite_master`; `postgres.rs`: `pg_catalog`; `mysql.rs`: `information_schema`), and the
//! `schema::Table` built from it (`reflect_table`). Types come back as lualchemy types,
//! read from the database's type names as SQLAlchemy reads them (`type_names.rs`).

mod mysql;
mod postgres;
mod sqlite;
mod table;
mod type_names;

use super::{Connection, Engine, Row};
use crate::error::Result;
use crate::schema::SqlType;
use crate::value::Value;

pub use table::reflect_table;
pub use type_names::type_from_name;

/// One column as `get_columns` reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReflectedColumn {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    /// The server default's SQL text.
    pub default: Option<String>,
    pub primary_key: bool,
    /// `None` where the database does not say (SQLite).
    pub autoincrement: Option<bool>,
}

/// `get_pk_constraint`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReflectedPrimaryKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

/// One entry of `get_foreign_keys`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReflectedForeignKey {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referred_table: String,
    pub referred_columns: Vec<String>,
    /// `ON DELETE` / `ON UPDATE` actions other than the default.
    pub ondelete: Option<String>,
    pub onupdate: Option<String>,
}

/// One entry of `get_indexes` or `get_unique_constraints` (`unique` is always true there).
#[derive(Clone, Debug, PartialEq)]
pub struct ReflectedIndex {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub unique: bool,
}

/// One entry of `get_check_constraints`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReflectedCheck {
    pub name: Option<String>,
    pub sqltext: String,
}

/// What one database's catalog answers; each method reads one table's part.
trait Catalog {
    fn table_names(&self, c: &Connection) -> Result<Vec<String>>;
    fn columns(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedColumn>>;
    fn pk_constraint(&self, c: &Connection, table: &str) -> Result<ReflectedPrimaryKey>;
    fn foreign_keys(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedForeignKey>>;
    fn indexes(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>>;
    fn unique_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>>;
    fn check_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedCheck>>;
}

/// The catalog of a dialect, by its name.
fn catalog_for(dialect: &str) -> &'static dyn Catalog {
    match dialect {
        "postgresql" => &postgres::PostgresCatalog,
        "mysql" | "mariadb" => &mysql::MysqlCatalog,
        _ => &sqlite::SqliteCatalog,
    }
}

/// SQLAlchemy's `Inspector` on an engine: each call reads the catalog afresh on a pooled
/// connection (nothing is cached, so a table created since is seen).
pub struct Inspector {
    engine: Engine,
    catalog: &'static dyn Catalog,
    /// Reads on this connection (and in its transaction) instead of a pooled one.
    conn: Option<Connection>,
}

impl Inspector {
    pub fn new(engine: Engine) -> Inspector {
        let catalog = catalog_for(engine.dialect().name());
        Inspector {
            engine,
            catalog,
            conn: None,
        }
    }

    /// An Inspector reading on `conn`, so that it sees what the connection's open
    /// transaction did (a migration's DDL).
    pub fn on_connection(conn: Connection) -> Inspector {
        let engine = conn.engine().clone();
        let catalog = catalog_for(engine.dialect().name());
        Inspector {
            engine,
            catalog,
            conn: Some(conn),
        }
    }

    /// The connection it reads on, when it was given one.
    pub fn connection(&self) -> Option<&Connection> {
        self.conn.as_ref()
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        if let Some(conn) = &self.conn {
            return f(conn);
        }
        let conn = self.engine.connect()?;
        f(&conn)
    }

    /// Runs `f` for a table that must exist: `NoSuchTableError` otherwise.
    fn of_table<T>(
        &self,
        table: &str,
        f: impl FnOnce(&dyn Catalog, &Connection) -> Result<T>,
    ) -> Result<T> {
        self.with(|c| {
            if !c.has_table(table)? {
                return Err(no_such_table(table));
            }
            f(self.catalog, c)
        })
    }

    /// The tables of the default schema, sorted by name.
    pub fn table_names(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut names = self.catalog.table_names(c)?;
            names.sort();
            Ok(names)
        })
    }

    pub fn has_table(&self, table: &str) -> Result<bool> {
        self.with(|c| c.has_table(table))
    }

    pub fn columns(&self, table: &str) -> Result<Vec<ReflectedColumn>> {
        self.of_table(table, |cat, c| cat.columns(c, table))
    }

    pub fn pk_constraint(&self, table: &str) -> Result<ReflectedPrimaryKey> {
        self.of_table(table, |cat, c| cat.pk_constraint(c, table))
    }

    pub fn foreign_keys(&self, table: &str) -> Result<Vec<ReflectedForeignKey>> {
        self.of_table(table, |cat, c| cat.foreign_keys(c, table))
    }

    pub fn indexes(&self, table: &str) -> Result<Vec<ReflectedIndex>> {
        self.of_table(table, |cat, c| cat.indexes(c, table))
    }

    pub fn unique_constraints(&self, table: &str) -> Result<Vec<ReflectedIndex>> {
        self.of_table(table, |cat, c| cat.unique_constraints(c, table))
    }

    pub fn check_constraints(&self, table: &str) -> Result<Vec<ReflectedCheck>> {
        self.of_table(table, |cat, c| cat.check_constraints(c, table))
    }
}

/// SQLAlchemy's `NoSuchTableError`, raised as the `InvalidRequestError` it derives from.
pub fn no_such_table(table: &str) -> crate::error::Error {
    crate::error::Error::new(
        crate::error::ErrorKind::InvalidRequestError,
        format!("NoSuchTableError: {table}"),
    )
}

/// Runs a catalog query, collecting the first `n` values of each row.
fn rows(c: &Connection, sql: &str, params: &[Value], n: usize) -> Result<Vec<Vec<Value>>> {
    let mut out = Vec::new();
    c.query(sql, params, |r: &Row<'_>| {
        out.push((0..n).map(|i| r.value(i)).collect::<Result<Vec<_>>>()?);
        Ok(())
    })?;
    Ok(out)
}

/// A catalog value as text (servers may send names as bytes).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(_) => v.as_str().map(str::to_string),
        Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(r) => Some(r.to_string()),
    }
}

/// A catalog flag: a boolean, a number, or `t` / `YES` text.
fn flag(v: &Value) -> bool {
    match v {
        Value::Integer(i) => *i != 0,
        other => matches!(
            text(other)
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("t" | "true" | "yes" | "1")
        ),
    }
}

/// Appends `row`'s column to the entry named `name`, or starts a new entry: catalogs list
/// multi-column keys and indexes one row per column, in order.
fn group_rows<T>(
    out: &mut Vec<T>,
    same: impl Fn(&T) -> bool,
    extend: impl FnOnce(&mut T),
    new: impl FnOnce() -> T,
) {
    match out.last_mut() {
        Some(last) if same(last) => extend(last),
        _ => out.push(new()),
    }
}

#[cfg(test)]
mod tests;

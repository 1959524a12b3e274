//! `compare_metadata`: the models' MetaData against the live database, read by the
//! Inspector, as Alembic's autogenerate compares them and in its order:
//!
//! 1. tables the models add (in the MetaData's foreign-key order), each followed by its
//!    indexes;
//! 2. tables the database has and the models do not (referring tables first), each after
//!    its indexes, with its row count;
//! 3. for each table both have, by name: added columns (models' order), changed columns
//!    (type, nullability, server default; one entry a column), indexes and unique
//!    constraints (removed, changed, added), foreign keys (removed, added), then removed
//!    columns (database order) with the number of rows that hold a value.
//!
//! The version table (`alembic_version`) is left out on both sides. A column that vanished
//! while exactly one column of the same type appeared in the same table (and no other
//! vanished column has that type) is a rename, where the added column would be.

use std::rc::Rc;

use crate::engine::reflection::{reflect_table, Inspector, ReflectedColumn};
use crate::engine::Connection;
use crate::error::Result;
use crate::schema::metadata::sort_by_dependency;
use crate::schema::{Column, MetaData, SqlType, Table};
use crate::sql::dialect::Dialect;
use crate::value::Value;

use super::constraints::{compare_foreign_keys, compare_indexes, metadata_indexes, Reflected};
use super::defaults::defaults_differ;
use super::diff::{ColumnChange, Diff};
use super::types::types_differ;

/// The table a migration runner keeps its revision in; autogenerate never reports it.
pub const VERSION_TABLE: &str = "alembic_version";

/// The differences between `metadata` and the database `inspector` reads.
pub fn compare_metadata(inspector: &Inspector, metadata: &MetaData) -> Result<Vec<Diff>> {
    let engine = inspector.engine().clone();
    let own;
    let conn: &Connection = match inspector.connection() {
        Some(c) => c,
        None => {
            own = engine.connect()?;
            &own
        }
    };
    let dialect = engine.dialect();
    let conn_tables: Vec<String> = inspector
        .table_names()?
        .into_iter()
        .filter(|n| n != VERSION_TABLE)
        .collect();
    let meta_tables: Vec<Rc<Table>> = metadata
        .sorted_tables()
        .into_iter()
        .filter(|t| t.name != VERSION_TABLE)
        .collect();
    let mut out = Vec::new();

    for t in &meta_tables {
        if !conn_tables.contains(&t.name) {
            out.push(Diff::AddTable(t.clone()));
            let mut indexes = metadata_indexes(t);
            indexes.sort_by(|a, b| a.name.cmp(&b.name));
            for index in indexes {
                out.push(Diff::AddIndex {
                    table: t.name.clone(),
                    index,
                });
            }
        }
    }

    // referring tables before the tables they refer to, else by name
    let mut removed = Vec::new();
    for name in conn_tables.iter().rev() {
        if !meta_tables.iter().any(|t| &t.name == name) {
            let mut table = reflect_table(inspector, name)?;
            for r in inspector.columns(name)? {
                if let Some(i) = table.column_index(&r.name) {
                    table.columns[i].ty = written_type(&r, dialect);
                }
            }
            removed.push(Rc::new(table));
        }
    }
    let mut removed = sort_by_dependency(&removed, &[]);
    removed.reverse();
    let mysql = matches!(dialect.name(), "mysql" | "mariadb");
    for table in removed {
        let mut indexes = table.indexes.clone();
        if mysql {
            // the indexes InnoDB made for foreign keys go with the table
            let fk_names: Vec<String> = inspector
                .foreign_keys(&table.name)?
                .into_iter()
                .filter_map(|f| f.name)
                .collect();
            indexes.retain(|ix| {
                ix.unique || !(ix.columns.contains(&ix.name) || fk_names.contains(&ix.name))
            });
        }
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        for index in indexes {
            out.push(Diff::RemoveIndex {
                table: table.name.clone(),
                index,
            });
        }
        let rows = count(conn, dialect, &table.name, None)?;
        out.push(Diff::RemoveTable { table, rows });
    }

    let mut existing: Vec<&Rc<Table>> = meta_tables
        .iter()
        .filter(|t| conn_tables.contains(&t.name))
        .collect();
    existing.sort_by(|a, b| a.name.cmp(&b.name));
    for table in existing {
        compare_table(inspector, conn, dialect, table, &mut out)?;
    }
    Ok(out)
}

/// `SELECT count(*)` of a table's rows, or of those where `column` is not NULL.
fn count(conn: &Connection, d: &dyn Dialect, table: &str, column: Option<&str>) -> Result<u64> {
    let mut sql = String::from("SELECT count(*) FROM ");
    d.quote_identifier(table, &mut sql);
    if let Some(c) = column {
        sql.push_str(" WHERE ");
        d.quote_identifier(c, &mut sql);
        sql.push_str(" IS NOT NULL");
    }
    let mut n = 0u64;
    conn.query(&sql, &[], |r| {
        n = match r.value(0)? {
            Value::Integer(i) => i.max(0) as u64,
            Value::Real(f) => f.max(0.0) as u64,
            other => other.as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
        };
        Ok(())
    })?;
    Ok(n)
}

/// The type a reflected column is written with, to make it again: as lualchemy reads it,
/// but MySQL's `tinyint(1)`, which is what its BOOL is, is `orm.Boolean`.
fn written_type(r: &ReflectedColumn, dialect: &dyn Dialect) -> SqlType {
    if matches!(dialect.name(), "mysql" | "mariadb")
        && r.type_name.trim().eq_ignore_ascii_case("tinyint(1)")
    {
        return SqlType::Boolean;
    }
    r.ty.clone()
}

/// A reflected column as a schema column (for a dropped column's downgrade).
fn reflected_column(r: &ReflectedColumn, dialect: &dyn Dialect) -> Column {
    let mut c = Column::new(&r.name, written_type(r, dialect));
    c.nullable = r.nullable;
    c.primary_key = r.primary_key;
    if r.autoincrement != Some(true) {
        c.server_default = r.default.clone();
    }
    c
}

/// What changed on a column both sides have, if anything.
fn column_change(
    table: &Table,
    meta: &Column,
    conn: &ReflectedColumn,
    dialect: &dyn Dialect,
) -> Option<ColumnChange> {
    let mut change = ColumnChange {
        table: table.name.clone(),
        column: meta.name.clone(),
        existing_type: written_type(conn, dialect),
        existing_nullable: conn.nullable,
        existing_server_default: if conn.autoincrement == Some(true) {
            None
        } else {
            conn.default.clone()
        },
        type_: None,
        nullable: None,
        server_default: None,
    };
    if types_differ(&meta.ty, &conn.type_name, dialect) {
        change.type_ = Some(meta.ty.clone());
    }
    // a key column is NOT NULL whatever the database says of it (SQLite's
    // `INTEGER PRIMARY KEY` reads as nullable)
    if meta.nullable != conn.nullable && !(meta.primary_key && conn.primary_key) {
        change.nullable = Some(meta.nullable);
    }
    // a generated key's default is the database's own (nextval, AUTO_INCREMENT)
    let generated = conn.autoincrement == Some(true)
        || conn
            .default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
    if !(generated && meta.primary_key)
        && defaults_differ(
            meta.server_default.as_deref(),
            change.existing_server_default.as_deref(),
            &meta.ty,
        )
    {
        change.server_default = Some(meta.server_default.clone());
    }
    (change.type_.is_some() || change.nullable.is_some() || change.server_default.is_some())
        .then_some(change)
}

fn compare_table(
    inspector: &Inspector,
    conn: &Connection,
    dialect: &dyn Dialect,
    table: &Table,
    out: &mut Vec<Diff>,
) -> Result<()> {
    let name = &table.name;
    let conn_cols = inspector.columns(name)?;
    let added: Vec<&Column> = table
        .columns
        .iter()
        .filter(|c| !conn_cols.iter().any(|r| r.name == c.name))
        .collect();
    let vanished: Vec<&ReflectedColumn> = conn_cols
        .iter()
        .filter(|r| table.column(&r.name).is_none())
        .collect();
    // renames: an added column with exactly one vanished column of its type, which has
    // exactly one added column of its type
    let same_type = |a: &Column, r: &ReflectedColumn| !types_differ(&a.ty, &r.type_name, dialect);
    let renamed_from = |a: &Column| -> Option<&ReflectedColumn> {
        let candidates: Vec<&&ReflectedColumn> =
            vanished.iter().filter(|r| same_type(a, r)).collect();
        match candidates.as_slice() {
            [r] if added.iter().filter(|b| same_type(b, r)).count() == 1 => Some(r),
            _ => None,
        }
    };
    let mut renamed: Vec<&str> = Vec::new();
    for a in &added {
        match renamed_from(a) {
            Some(r) => {
                renamed.push(&r.name);
                out.push(Diff::RenameColumn {
                    table: name.clone(),
                    old: r.name.clone(),
                    new: a.name.clone(),
                    existing_type: written_type(r, dialect),
                    existing_nullable: r.nullable,
                });
                if let Some(mut change) = column_change(table, a, r, dialect) {
                    change.type_ = None;
                    if change.nullable.is_some() || change.server_default.is_some() {
                        out.push(Diff::ModifyColumn(change));
                    }
                }
            }
            None => out.push(Diff::AddColumn {
                table: name.clone(),
                column: (*a).clone(),
            }),
        }
    }
    for meta in &table.columns {
        if let Some(r) = conn_cols.iter().find(|r| r.name == meta.name) {
            if let Some(change) = column_change(table, meta, r, dialect) {
                out.push(Diff::ModifyColumn(change));
            }
        }
    }
    let mut reflected = Reflected {
        indexes: inspector.indexes(name)?,
        uniques: inspector.unique_constraints(name)?,
        foreign_keys: inspector.foreign_keys(name)?,
    };
    // after a rename, the database's indexes and keys name the column by its new name
    for d in out.iter() {
        if let Diff::RenameColumn {
            table: t, old, new, ..
        } = d
        {
            if t == name {
                let rename = |cols: &mut Vec<String>| {
                    for c in cols.iter_mut().filter(|c| *c == old) {
                        *c = new.clone();
                    }
                };
                reflected
                    .indexes
                    .iter_mut()
                    .for_each(|ix| rename(&mut ix.columns));
                reflected
                    .uniques
                    .iter_mut()
                    .for_each(|u| rename(&mut u.columns));
                reflected
                    .foreign_keys
                    .iter_mut()
                    .for_each(|f| rename(&mut f.columns));
            }
        }
    }
    compare_indexes(table, &reflected, dialect.name(), out);
    compare_foreign_keys(table, &reflected, out);
    for r in vanished {
        if renamed.contains(&r.name.as_str()) {
            continue;
        }
        let rows = count(conn, dialect, name, Some(&r.name))?;
        out.push(Diff::RemoveColumn {
            table: name.clone(),
            column: reflected_column(r, dialect),
            rows,
        });
    }
    Ok(())
}

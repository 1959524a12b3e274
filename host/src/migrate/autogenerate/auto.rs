//! `auto(metadata, engine)`: the safe part of a migration, applied at start-up (a mod's
//! update meeting an old save): new tables (with their indexes), new columns that are
//! nullable or have a server default (with a foreign key of their own), new indexes.
//! Everything else autogenerate finds is left for a revision and reported as skipped, with
//! the reason; nothing that would touch existing data is ever done, and nothing raises for
//! a change it leaves. Each applied change runs in a SAVEPOINT (SQLite, PostgreSQL), so one
//! the database refuses (a unique index over duplicates) is rolled back alone and reported
//! as skipped with the database's message; the whole runs in one transaction, committed at
//! the end.

use crate::engine::reflection::Inspector;
use crate::engine::{Connection, Engine};
use crate::error::Result;
use crate::schema::{ForeignKey, MetaData};
use crate::sql::{ddl, ddl_alter};

use super::compare::compare_metadata;
use super::diff::Diff;

/// One line of the report: what change, on which table (and column or index), and for a
/// skipped one, why.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoEntry {
    /// Alembic's name of the difference (`add_table`, `add_column`, `modify_type`, ...).
    pub change: String,
    pub table: String,
    pub column: Option<String>,
    /// The index's or constraint's name, for those.
    pub name: Option<String>,
    pub reason: Option<String>,
}

/// What `auto` did and left.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoReport {
    pub applied: Vec<AutoEntry>,
    pub skipped: Vec<AutoEntry>,
}

fn entry(d: &Diff) -> AutoEntry {
    let (column, name) = match d {
        Diff::AddColumn { column, .. } | Diff::RemoveColumn { column, .. } => {
            (Some(column.name.clone()), None)
        }
        Diff::RenameColumn { old, .. } => (Some(old.clone()), None),
        Diff::ModifyColumn(c) => (Some(c.column.clone()), None),
        Diff::AddIndex { index, .. } | Diff::RemoveIndex { index, .. } => {
            (None, Some(index.name.clone()))
        }
        Diff::AddUnique { unique, .. } | Diff::RemoveUnique { unique, .. } => {
            (None, unique.name.clone())
        }
        Diff::AddForeignKey { fk, .. } | Diff::RemoveForeignKey { fk, .. } => {
            (fk.columns.first().cloned(), fk.name.clone())
        }
        _ => (None, None),
    };
    AutoEntry {
        change: d.kind().to_string(),
        table: d.table_name().to_string(),
        column,
        name,
        reason: None,
    }
}

/// Why a difference is left for a revision.
fn why_not(d: &Diff) -> &'static str {
    match d {
        Diff::RemoveTable { .. } => "drops a table: write a revision",
        Diff::RemoveColumn { .. } => "drops a column: write a revision",
        Diff::RenameColumn { .. } => "looks like a rename: write a revision",
        Diff::ModifyColumn(_) => "changes an existing column: write a revision",
        Diff::AddColumn { .. } => {
            "NOT NULL without a server default (or a key or unique column): existing rows would have no value; write a revision"
        }
        Diff::RemoveIndex { .. } => "drops an index: write a revision",
        Diff::AddUnique { .. } | Diff::RemoveUnique { .. } => {
            "changes a unique constraint of an existing table: write a revision"
        }
        Diff::AddForeignKey { .. } | Diff::RemoveForeignKey { .. } => {
            "changes a foreign key of an existing table: write a revision"
        }
        Diff::AddTable(_) | Diff::AddIndex { .. } => "",
    }
}

/// A column that can be added to a table holding rows: nullable or with a server default,
/// not part of the key, not unique.
fn safe_column(column: &crate::schema::Column) -> bool {
    !column.primary_key && !column.unique && (column.nullable || column.server_default.is_some())
}

/// The statements that apply `d` safely, or `None` when it is not safe.
fn safe_statements(d: &Diff, all: &[Diff], engine: &Engine) -> Option<Vec<String>> {
    let dialect = engine.dialect();
    match d {
        Diff::AddTable(t) => Some(vec![ddl::create_table(t, dialect)]),
        Diff::AddIndex { table, index } => Some(vec![ddl_alter::create_index(
            dialect,
            &index.name,
            table,
            &index.columns,
            index.unique,
        )]),
        Diff::AddColumn { table, column } => {
            if !safe_column(column) {
                return None;
            }
            // its own foreign key: a new column is NULL (or its default) in every row
            let mut column = column.clone();
            column.foreign_keys = all
                .iter()
                .filter_map(|x| match x {
                    Diff::AddForeignKey { table: t, fk }
                        if t == table && fk.columns == [column.name.clone()] =>
                    {
                        Some(ForeignKey {
                            target: format!(
                                "{}.{}",
                                fk.referred_table,
                                fk.referred_columns.first().map_or("", |c| c.as_str())
                            ),
                            name: fk.name.clone(),
                            ondelete: fk.ondelete.clone(),
                            onupdate: fk.onupdate.clone(),
                        })
                    }
                    _ => None,
                })
                .collect();
            ddl_alter::add_column(dialect, table, &column).ok()
        }
        _ => None,
    }
}

/// Whether `d` is a foreign key that goes with a column `auto` adds.
fn rides_with_added_column(d: &Diff, all: &[Diff]) -> bool {
    match d {
        Diff::AddForeignKey { table, fk } => all.iter().any(|x| {
            matches!(x, Diff::AddColumn { table: t, column }
                if t == table && fk.columns == [column.name.clone()] && safe_column(column))
        }),
        _ => false,
    }
}

/// Applies the safe differences between `metadata` and `engine`'s database.
pub fn auto(engine: &Engine, metadata: &MetaData) -> Result<AutoReport> {
    let conn = engine.connect()?;
    let owner = conn.begin()?;
    let result = run(engine, &conn, metadata);
    if owner == crate::engine::connection::TxOwnership::Owner {
        match &result {
            Ok(_) => conn.commit()?,
            Err(_) => conn.rollback()?,
        }
    }
    result
}

fn run(engine: &Engine, conn: &Connection, metadata: &MetaData) -> Result<AutoReport> {
    let diffs = compare_metadata(&Inspector::on_connection(conn.share()), metadata)?;
    let mut report = AutoReport::default();
    let savepoints = engine.dialect().name() != "mysql" && engine.dialect().name() != "mariadb";
    let mut failed_tables: Vec<String> = Vec::new();
    for d in &diffs {
        let mut e = entry(d);
        if rides_with_added_column(d, &diffs) {
            continue;
        }
        if matches!(d, Diff::AddIndex { table, .. } if failed_tables.contains(table)) {
            e.reason = Some("its table could not be created".into());
            report.skipped.push(e);
            continue;
        }
        let Some(statements) = safe_statements(d, &diffs, engine) else {
            e.reason = Some(why_not(d).into());
            report.skipped.push(e);
            continue;
        };
        let sp = conn.next_savepoint_name();
        if savepoints {
            conn.savepoint(&sp)?;
        }
        let mut outcome = Ok(());
        for sql in &statements {
            outcome = conn.execute(sql, &[]).map(|_| ());
            if outcome.is_err() {
                break;
            }
        }
        match outcome {
            Ok(()) => {
                if savepoints {
                    conn.release_savepoint(&sp)?;
                }
                report.applied.push(e);
            }
            Err(err) => {
                if savepoints {
                    conn.rollback_to_savepoint(&sp)?;
                }
                if let Diff::AddTable(t) = d {
                    failed_tables.push(t.name.clone());
                }
                e.reason = Some(format!("the database refused it: {}", err.message));
                report.skipped.push(e);
            }
        }
    }
    Ok(report)
}

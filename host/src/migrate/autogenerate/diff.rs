//! What autogenerate found: one `Diff` per difference between the models' MetaData and the
//! database, in Alembic's order (`compare.rs`), each carrying what rendering it and its
//! reverse needs (`render.rs`).

use std::rc::Rc;

use crate::schema::{Column, Index, SqlType, Table};

/// A foreign key as compared: a column-level `ForeignKey` or a table's constraint.
#[derive(Clone, Debug, PartialEq)]
pub struct ForeignKeyInfo {
    pub name: Option<String>,
    pub columns: Vec<String>,
    pub referred_table: String,
    pub referred_columns: Vec<String>,
    pub ondelete: Option<String>,
    pub onupdate: Option<String>,
}

/// A unique constraint as compared (`name` is `None` for an unnamed one).
#[derive(Clone, Debug, PartialEq)]
pub struct UniqueInfo {
    pub name: Option<String>,
    pub columns: Vec<String>,
}

/// What changes on one column that both sides have: Alembic's `modify_type`,
/// `modify_nullable` and `modify_default`, grouped as its `AlterColumnOp` groups them, with
/// the `existing_*` values the ALTER needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnChange {
    pub table: String,
    pub column: String,
    /// The type in the database (as lualchemy reads it).
    pub existing_type: SqlType,
    pub existing_nullable: bool,
    /// The server default's SQL text in the database.
    pub existing_server_default: Option<String>,
    /// The models' type, when it renders differently.
    pub type_: Option<SqlType>,
    /// The models' nullability, when it differs.
    pub nullable: Option<bool>,
    /// The models' server default (SQL text, `None` for none), when it differs.
    pub server_default: Option<Option<String>>,
}

/// One difference, named as Alembic's `compare_metadata` names it.
#[derive(Clone, Debug)]
pub enum Diff {
    /// A table of the models the database lacks.
    AddTable(Rc<Table>),
    /// A table of the database the models lack (as reflected), with its row count.
    RemoveTable {
        table: Rc<Table>,
        rows: u64,
    },
    AddColumn {
        table: String,
        column: Column,
    },
    /// A column the models lack (as reflected), with the number of rows where it is not NULL.
    RemoveColumn {
        table: String,
        column: Column,
        rows: u64,
    },
    /// A column that vanished while one of the same type appeared in the same table.
    RenameColumn {
        table: String,
        old: String,
        new: String,
        existing_type: SqlType,
        existing_nullable: bool,
    },
    ModifyColumn(ColumnChange),
    AddIndex {
        table: String,
        index: Index,
    },
    RemoveIndex {
        table: String,
        index: Index,
    },
    AddUnique {
        table: String,
        unique: UniqueInfo,
    },
    RemoveUnique {
        table: String,
        unique: UniqueInfo,
    },
    AddForeignKey {
        table: String,
        fk: ForeignKeyInfo,
    },
    RemoveForeignKey {
        table: String,
        fk: ForeignKeyInfo,
    },
}

impl Diff {
    /// Alembic's name for the difference (`add_table`, `modify_type`, ...; a column change
    /// is named by its first part).
    pub fn kind(&self) -> &'static str {
        match self {
            Diff::AddTable(_) => "add_table",
            Diff::RemoveTable { .. } => "remove_table",
            Diff::AddColumn { .. } => "add_column",
            Diff::RemoveColumn { .. } => "remove_column",
            Diff::RenameColumn { .. } => "rename_column",
            Diff::ModifyColumn(c) => {
                if c.type_.is_some() {
                    "modify_type"
                } else if c.nullable.is_some() {
                    "modify_nullable"
                } else {
                    "modify_default"
                }
            }
            Diff::AddIndex { .. } => "add_index",
            Diff::RemoveIndex { .. } => "remove_index",
            Diff::AddUnique { .. } => "add_constraint",
            Diff::RemoveUnique { .. } => "remove_constraint",
            Diff::AddForeignKey { .. } => "add_fk",
            Diff::RemoveForeignKey { .. } => "remove_fk",
        }
    }

    /// The table the difference is about.
    pub fn table_name(&self) -> &str {
        match self {
            Diff::AddTable(t) | Diff::RemoveTable { table: t, .. } => &t.name,
            Diff::ModifyColumn(c) => &c.table,
            Diff::AddColumn { table, .. }
            | Diff::RemoveColumn { table, .. }
            | Diff::RenameColumn { table, .. }
            | Diff::AddIndex { table, .. }
            | Diff::RemoveIndex { table, .. }
            | Diff::AddUnique { table, .. }
            | Diff::RemoveUnique { table, .. }
            | Diff::AddForeignKey { table, .. }
            | Diff::RemoveForeignKey { table, .. } => table,
        }
    }

    /// Rows a live rendering would lose: a dropped table's rows, a dropped column's values.
    pub fn rows_lost(&self) -> u64 {
        match self {
            Diff::RemoveTable { rows, .. } | Diff::RemoveColumn { rows, .. } => *rows,
            _ => 0,
        }
    }
}

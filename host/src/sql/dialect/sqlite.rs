//! SQLite.

use super::Dialect;

#[derive(Clone, Copy, Debug, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn has_table_sql(&self) -> &'static str {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
    }
}

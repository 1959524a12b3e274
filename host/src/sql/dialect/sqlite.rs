//! SQLite.

use super::Dialect;

#[derive(Clone, Copy, Debug, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    /// SQLite's booleans are the integers 1 and 0 (`IS 1`, as SQLAlchemy renders it there).
    fn boolean_literal(&self, value: bool) -> &'static str {
        if value {
            "1"
        } else {
            "0"
        }
    }

    fn lock_style(&self) -> crate::sql::locking::LockStyle {
        crate::sql::locking::LockStyle::None
    }

    fn row_value_in_values(&self) -> bool {
        true
    }

    fn has_table_sql(&self) -> &'static str {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?"
    }
}

//! SQLite hardened for untrusted scripts, as SQLite's security guide advises: defensive
//! mode, untrusted schemas, no extensions, no ATTACH (which also closes `VACUUM INTO`), an
//! authorizer that refuses ATTACH, `load_extension`, `fts3_tokenizer` and every PRAGMA
//! outside a read-only allow-list, limits on lengths, expression depth and VDBE ops, and a
//! progress handler that interrupts statements past a deadline.

use std::time::Instant;

use rusqlite::config::DbConfig;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;

/// PRAGMAs a hardened connection runs: read-only ones, which no argument makes write.
const READ_ONLY_PRAGMAS: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "table_info",
    "table_xinfo",
    "table_list",
];

#[derive(Clone, Debug)]
pub struct Hardening {
    /// Statements still running at this instant are interrupted.
    pub deadline: Option<Instant>,
    /// The longest string or blob a statement may make (bytes).
    pub max_length: i32,
    /// The longest SQL text (bytes).
    pub max_sql_length: i32,
}

impl Default for Hardening {
    fn default() -> Self {
        Hardening {
            deadline: None,
            max_length: 16 * 1024 * 1024,
            max_sql_length: 1024 * 1024,
        }
    }
}

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Authorization::Deny,
        // the listed PRAGMAs only read, whatever their argument (a table or index name:
        // `table_info(users)`, reflection's catalog queries)
        AuthAction::Pragma { pragma_name, .. } => {
            let name = pragma_name.to_ascii_lowercase();
            // `foreign_keys`: the connection's own enforcement switch, which the migration
            // runner turns off around a revision and back on (SQLite's ALTER procedure)
            if READ_ONLY_PRAGMAS.contains(&name.as_str()) || name == "foreign_keys" {
                Authorization::Allow
            } else {
                Authorization::Deny
            }
        }
        AuthAction::Function { function_name } => {
            let f = function_name.to_ascii_lowercase();
            if f == "load_extension" || f == "fts3_tokenizer" {
                Authorization::Deny
            } else {
                Authorization::Allow
            }
        }
        _ => Authorization::Allow,
    }
}

impl Hardening {
    /// Applies the hardening to a freshly opened connection.
    pub fn apply(&self, conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
        // extension loading: rusqlite is built without it, so it is never enabled
        conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, self.max_length)?;
        conn.set_limit(Limit::SQLITE_LIMIT_SQL_LENGTH, self.max_sql_length)?;
        conn.set_limit(Limit::SQLITE_LIMIT_EXPR_DEPTH, 100)?;
        conn.set_limit(Limit::SQLITE_LIMIT_VDBE_OP, 250_000_000)?;
        conn.authorizer(Some(authorize))?;
        if let Some(deadline) = self.deadline {
            conn.progress_handler(1000, Some(move || Instant::now() > deadline))?;
        }
        Ok(())
    }
}

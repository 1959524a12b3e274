//! The version table, Alembic's `alembic_version`: one row, the revision the database
//! is at (none at the base).

use crate::sql::Dialect;

pub const TABLE: &str = "alembic_version";

/// `CREATE TABLE alembic_version (...)`, as Alembic creates it.
pub fn create(d: &dyn Dialect) -> String {
    let mut s = String::from("CREATE TABLE ");
    d.quote_identifier(TABLE, &mut s);
    s.push_str(
        " (\n    version_num VARCHAR(32) NOT NULL, \n    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)",
    );
    s
}

fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// `SELECT version_num FROM alembic_version`.
pub fn select() -> String {
    format!("SELECT version_num FROM {TABLE}")
}

/// The statement that moves the version from `from` to `to` (INSERT from the base,
/// DELETE to it, else UPDATE), with the ids inline as Alembic's offline SQL has them.
pub fn move_version(from: Option<&str>, to: Option<&str>) -> Option<String> {
    Some(match (from, to) {
        (None, None) => return None,
        (None, Some(t)) => format!("INSERT INTO {TABLE} (version_num) VALUES ({})", literal(t)),
        (Some(f), None) => format!(
            "DELETE FROM {TABLE} WHERE {TABLE}.version_num = {}",
            literal(f)
        ),
        (Some(f), Some(t)) => format!(
            "UPDATE {TABLE} SET version_num={} WHERE {TABLE}.version_num = {}",
            literal(t),
            literal(f)
        ),
    })
}

/// `DELETE FROM alembic_version` (stamp).
pub fn clear() -> String {
    format!("DELETE FROM {TABLE}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_read_as_alembic_offline_sql() {
        assert_eq!(
            move_version(Some("a1"), Some("b2")).unwrap(),
            "UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1'"
        );
        assert_eq!(
            move_version(None, Some("a1")).unwrap(),
            "INSERT INTO alembic_version (version_num) VALUES ('a1')"
        );
        assert_eq!(
            move_version(Some("a1"), None).unwrap(),
            "DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1'"
        );
        assert!(create(&crate::sql::dialect::SqliteDialect)
            .contains("CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)"));
    }
}

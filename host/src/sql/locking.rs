//! `select(...):with_for_update{...}`: row locks a SELECT takes, rendered as each database
//! spells them (SQLite has none and renders nothing, as SQLAlchemy does).

use super::select::FromItem;

#[derive(Clone, Debug, Default)]
pub struct ForUpdate {
    /// A shared lock: `FOR SHARE` (PostgreSQL), `LOCK IN SHARE MODE` (MySQL, MariaDB).
    pub read: bool,
    pub nowait: bool,
    pub skip_locked: bool,
    /// `OF t1, t2` (PostgreSQL only): the FROM items whose rows are locked.
    pub of: Vec<FromItem>,
}

/// How a dialect renders a `ForUpdate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockStyle {
    /// Nothing: the database locks whole files (SQLite).
    None,
    /// `FOR UPDATE | FOR SHARE [OF ...] [NOWAIT | SKIP LOCKED]`.
    Postgres,
    /// `FOR UPDATE | LOCK IN SHARE MODE [NOWAIT | SKIP LOCKED]`, no `OF`.
    Mysql,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::{MysqlDialect, PostgresDialect, SqliteDialect};
    use crate::sql::window::tests::scores;
    use crate::sql::{compile, Dialect, Expr, Select, Statement};

    fn locked(fu: ForUpdate, d: &dyn Dialect) -> String {
        let t = scores();
        let mut s = Select::new(vec![Expr::column(&t, 0)]);
        s.order_by.push(Expr::column(&t, 0));
        s.limit = Some(3);
        s.for_update = Some(fu);
        compile(&Statement::Select(s), d).unwrap().sql
    }

    #[test]
    fn for_update_renders_per_dialect_after_the_limit() {
        let plain = ForUpdate::default();
        assert!(locked(plain.clone(), &PostgresDialect).ends_with("LIMIT $1 FOR UPDATE"));
        assert!(
            locked(plain.clone(), &MysqlDialect { mariadb: true }).ends_with("LIMIT ? FOR UPDATE")
        );
        assert!(locked(plain, &SqliteDialect).ends_with("LIMIT ?"));
        let of = ForUpdate {
            nowait: true,
            of: vec![crate::sql::FromItem::Table(scores())],
            ..Default::default()
        };
        assert!(locked(of.clone(), &PostgresDialect).ends_with("FOR UPDATE OF scores NOWAIT"));
        assert!(locked(of, &MysqlDialect { mariadb: false }).ends_with("FOR UPDATE NOWAIT"));
        let shared = ForUpdate {
            read: true,
            skip_locked: true,
            ..Default::default()
        };
        assert!(locked(shared.clone(), &PostgresDialect).ends_with("FOR SHARE SKIP LOCKED"));
        assert!(locked(shared, &MysqlDialect { mariadb: true })
            .ends_with("LOCK IN SHARE MODE SKIP LOCKED"));
    }
}

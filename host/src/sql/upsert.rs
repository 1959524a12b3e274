//! INSERT ... ON CONFLICT (SQLite, PostgreSQL) and INSERT ... ON DUPLICATE KEY UPDATE
//! (MySQL, MariaDB): the upserts of `orm.sqlite.insert`, `orm.postgresql.insert` and
//! `orm.mysql.insert`.

use super::expr::Expr;

/// The database family a dialect-specific insert was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpsertFlavor {
    Sqlite,
    Postgresql,
    Mysql,
}

impl UpsertFlavor {
    /// The module the insert came from: `orm.<module>.insert`.
    pub fn module(self) -> &'static str {
        match self {
            UpsertFlavor::Sqlite => "sqlite",
            UpsertFlavor::Postgresql => "postgresql",
            UpsertFlavor::Mysql => "mysql",
        }
    }

    /// True when a dialect named `dialect` (`Dialect::name`) runs this flavor's SQL.
    pub fn runs_on(self, dialect: &str) -> bool {
        match self {
            UpsertFlavor::Sqlite => dialect == "sqlite",
            UpsertFlavor::Postgresql => dialect == "postgresql",
            UpsertFlavor::Mysql => dialect == "mysql" || dialect == "mariadb",
        }
    }
}

/// What the conflict is on: `ON CONFLICT (cols) [WHERE ...]` / `ON CONFLICT ON CONSTRAINT
/// name` / nothing (any unique constraint; DO NOTHING only).
#[derive(Clone, Debug, Default)]
pub struct ConflictTarget {
    /// Column indexes of the target table (`index_elements`).
    pub columns: Vec<usize>,
    /// `index_where`: the partial index's condition.
    pub index_where: Option<Expr>,
    /// `constraint`: a named constraint (PostgreSQL).
    pub constraint: Option<String>,
}

impl ConflictTarget {
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.constraint.is_none()
    }
}

#[derive(Clone, Debug)]
pub enum OnConflict {
    DoNothing(ConflictTarget),
    DoUpdate {
        target: ConflictTarget,
        /// (column index, value), in the table's column order.
        set: Vec<(usize, Expr)>,
        where_: Option<Expr>,
    },
    /// MySQL's `ON DUPLICATE KEY UPDATE col = value, ...`.
    DuplicateKeyUpdate(Vec<(usize, Expr)>),
}

/// The upsert part of an INSERT built by a dialect-specific `insert`.
#[derive(Clone, Debug)]
pub struct Upsert {
    pub flavor: UpsertFlavor,
    /// `None`: a plain INSERT (no conflict clause yet), still bound to its dialect.
    pub clause: Option<OnConflict>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::{MysqlDialect, PostgresDialect, SqliteDialect};
    use crate::sql::window::tests::scores;
    use crate::sql::{compile, BinOp, Dialect, Insert, Statement};
    use crate::value::Value;

    fn insert(flavor: UpsertFlavor, clause: OnConflict) -> Statement {
        let t = scores();
        let mut i = Insert::new(&t);
        i.values = vec![(1, Expr::Slot(0)), (3, Expr::Slot(1))];
        i.upsert = Some(Upsert {
            flavor,
            clause: Some(clause),
        });
        Statement::Insert(i)
    }

    fn render(s: &Statement, d: &dyn Dialect) -> String {
        compile(s, d).unwrap().sql
    }

    #[test]
    fn on_conflict_renders_target_set_and_where() {
        let t = scores();
        let target = ConflictTarget {
            columns: vec![1],
            ..Default::default()
        };
        let nothing = insert(UpsertFlavor::Sqlite, OnConflict::DoNothing(target.clone()));
        assert_eq!(
            render(&nothing, &SqliteDialect),
            "INSERT INTO scores (player, points) VALUES (?, ?) ON CONFLICT (player) DO NOTHING"
        );
        let any = insert(
            UpsertFlavor::Sqlite,
            OnConflict::DoNothing(ConflictTarget::default()),
        );
        assert!(render(&any, &SqliteDialect).ends_with("ON CONFLICT DO NOTHING"));
        let update = OnConflict::DoUpdate {
            target,
            set: vec![
                (
                    2,
                    Expr::Bind(
                        Value::Text("x".into()),
                        crate::schema::SqlType::String(None),
                    ),
                ),
                (
                    3,
                    Expr::binary(
                        Expr::Excluded(t.clone(), 3),
                        BinOp::Add,
                        Expr::column(&t, 3),
                    ),
                ),
            ],
            where_: Some(Expr::binary(
                Expr::column(&t, 3),
                BinOp::Lt,
                Expr::Excluded(t.clone(), 3),
            )),
        };
        let pg = insert(UpsertFlavor::Postgresql, update);
        let c = compile(&pg, &PostgresDialect).unwrap();
        assert_eq!(
            c.sql,
            "INSERT INTO scores (player, points) VALUES ($1, $2) ON CONFLICT (player) DO UPDATE SET game = $3, points = excluded.points + scores.points WHERE scores.points < excluded.points"
        );
        assert_eq!(c.params.len(), 3);
        let named = insert(
            UpsertFlavor::Postgresql,
            OnConflict::DoNothing(ConflictTarget {
                constraint: Some("uq_player".into()),
                ..Default::default()
            }),
        );
        assert!(render(&named, &PostgresDialect)
            .ends_with("ON CONFLICT ON CONSTRAINT uq_player DO NOTHING"));
    }

    #[test]
    fn on_duplicate_key_update_reads_the_inserted_row_with_values() {
        let t = scores();
        let s = insert(
            UpsertFlavor::Mysql,
            OnConflict::DuplicateKeyUpdate(vec![(
                3,
                Expr::binary(
                    Expr::Excluded(t.clone(), 3),
                    BinOp::Add,
                    Expr::column(&t, 3),
                ),
            )]),
        );
        for d in [
            MysqlDialect { mariadb: false },
            MysqlDialect { mariadb: true },
        ] {
            assert_eq!(
                render(&s, &d),
                "INSERT INTO scores (player, points) VALUES (?, ?) ON DUPLICATE KEY UPDATE points = VALUES(points) + scores.points"
            );
        }
    }

    #[test]
    fn a_dialect_insert_on_another_database_names_both() {
        let s = insert(
            UpsertFlavor::Postgresql,
            OnConflict::DoNothing(ConflictTarget::default()),
        );
        let e = compile(&s, &SqliteDialect).unwrap_err().to_string();
        assert!(
            e.contains("orm.postgresql.insert(scores)") && e.contains("sqlite"),
            "{e}"
        );
        let m = insert(UpsertFlavor::Mysql, OnConflict::DuplicateKeyUpdate(vec![]));
        let e = compile(&m, &PostgresDialect).unwrap_err().to_string();
        assert!(
            e.contains("orm.mysql.insert") && e.contains("postgresql"),
            "{e}"
        );
        let ok = insert(
            UpsertFlavor::Mysql,
            OnConflict::DuplicateKeyUpdate(vec![(3, Expr::bind(Value::Integer(1)))]),
        );
        assert!(compile(&ok, &MysqlDialect { mariadb: true }).is_ok());
    }
}

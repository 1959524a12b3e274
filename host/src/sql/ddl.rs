//! DDL: CREATE TABLE, CREATE INDEX, DROP TABLE, laid out as SQLAlchemy emits them.

use super::dialect::Dialect;
use crate::schema::{Constraint, Table};

fn idents(d: &dyn Dialect, names: &[String], out: &mut String) {
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        d.quote_identifier(n, out);
    }
}

fn constraint_name(d: &dyn Dialect, name: &Option<String>, out: &mut String) {
    if let Some(n) = name {
        out.push_str("CONSTRAINT ");
        d.quote_identifier(n, out);
        out.push(' ');
    }
}

/// `FOREIGN KEY(cols) REFERENCES target (target_cols) [ON DELETE ..] [ON UPDATE ..]`.
fn foreign_key_clause(
    d: &dyn Dialect,
    cols: &[String],
    target: &str,
    target_cols: &[String],
    (ondelete, onupdate): (&Option<String>, &Option<String>),
    out: &mut String,
) {
    out.push_str("FOREIGN KEY(");
    idents(d, cols, out);
    out.push_str(") REFERENCES ");
    d.quote_identifier(target, out);
    out.push_str(" (");
    idents(d, target_cols, out);
    out.push(')');
    fk_actions(ondelete, onupdate, out);
}

fn fk_actions(ondelete: &Option<String>, onupdate: &Option<String>, out: &mut String) {
    if let Some(a) = ondelete {
        out.push_str(" ON DELETE ");
        out.push_str(a);
    }
    if let Some(a) = onupdate {
        out.push_str(" ON UPDATE ");
        out.push_str(a);
    }
}

pub fn create_table(t: &Table, d: &dyn Dialect) -> String {
    create_table_deferring(t, d, &[])
}

/// CREATE TABLE without the foreign keys to the tables in `deferred` (added afterwards by
/// `add_foreign_keys`).
pub fn create_table_deferring(t: &Table, d: &dyn Dialect, deferred: &[&str]) -> String {
    let mut out = String::from("CREATE TABLE ");
    d.quote_identifier(&t.name, &mut out);
    out.push_str(" (");
    let mut first = true;
    let mut sep = |out: &mut String| {
        out.push_str(if first { "\n\t" } else { ", \n\t" });
        first = false;
    };
    let autoincrement = t.autoincrement_column();
    for (i, c) in t.columns.iter().enumerate() {
        sep(&mut out);
        d.quote_identifier(&c.name, &mut out);
        out.push(' ');
        let generated = autoincrement == Some(i);
        out.push_str(&d.column_type_ddl(&c.ty, generated));
        if let Some(sd) = &c.server_default {
            out.push_str(" DEFAULT ");
            out.push_str(sd);
        }
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
        if generated {
            out.push_str(d.autoincrement_suffix());
        }
    }
    let pk = t.primary_key();
    if !pk.is_empty() {
        sep(&mut out);
        out.push_str("PRIMARY KEY (");
        let names: Vec<String> = pk.iter().map(|&i| t.columns[i].name.clone()).collect();
        idents(d, &names, &mut out);
        out.push(')');
    }
    for c in &t.columns {
        if c.unique && !c.index {
            sep(&mut out);
            out.push_str("UNIQUE (");
            d.quote_identifier(&c.name, &mut out);
            out.push(')');
        }
    }
    for con in &t.constraints {
        if let Constraint::ForeignKey { target_table, .. } = con {
            if deferred.contains(&target_table.as_str()) {
                continue;
            }
        }
        sep(&mut out);
        match con {
            Constraint::Unique { name, columns } => {
                constraint_name(d, name, &mut out);
                out.push_str("UNIQUE (");
                idents(d, columns, &mut out);
                out.push(')');
            }
            Constraint::Check { name, sql } => {
                constraint_name(d, name, &mut out);
                out.push_str("CHECK (");
                out.push_str(sql);
                out.push(')');
            }
            Constraint::ForeignKey {
                name,
                columns,
                target_table,
                target_columns,
                ondelete,
                onupdate,
            } => {
                if deferred.contains(&target_table.as_str()) {
                    continue;
                }
                constraint_name(d, name, &mut out);
                foreign_key_clause(
                    d,
                    columns,
                    target_table,
                    target_columns,
                    (ondelete, onupdate),
                    &mut out,
                );
            }
            Constraint::PrimaryKey { .. } => {}
        }
    }
    for c in &t.columns {
        for fk in &c.foreign_keys {
            let (tt, tc) = fk.target_parts();
            if deferred.contains(&tt) {
                continue;
            }
            sep(&mut out);
            constraint_name(d, &fk.name, &mut out);
            foreign_key_clause(
                d,
                std::slice::from_ref(&c.name),
                tt,
                &[tc.to_string()],
                (&fk.ondelete, &fk.onupdate),
                &mut out,
            );
        }
    }
    out.push_str("\n)");
    out.push_str(d.table_options());
    out
}

/// The CREATE INDEX statements of a table: `index=True` columns (named `ix_<table>_<col>`,
/// unique when the column is) and the table's `Index` objects.
pub fn create_indexes(t: &Table, d: &dyn Dialect) -> Vec<String> {
    let mut out = Vec::new();
    let mut one = |name: &str, unique: bool, cols: &[String]| {
        let mut s = String::from(if unique {
            "CREATE UNIQUE INDEX "
        } else {
            "CREATE INDEX "
        });
        d.quote_identifier(name, &mut s);
        s.push_str(" ON ");
        d.quote_identifier(&t.name, &mut s);
        s.push_str(" (");
        idents(d, cols, &mut s);
        s.push(')');
        out.push(s);
    };
    for c in &t.columns {
        if c.index {
            one(
                &format!("ix_{}_{}", t.name, c.name),
                c.unique,
                std::slice::from_ref(&c.name),
            );
        }
    }
    for ix in &t.indexes {
        one(&ix.name, ix.unique, &ix.columns);
    }
    out
}

/// One of a table's foreign keys to a given table, named (a deferred key gets
/// `fk_<table>_<columns>` when it has no name, so that it can be dropped).
struct ForeignKeyTo<'a> {
    name: String,
    columns: Vec<String>,
    target_columns: Vec<String>,
    ondelete: &'a Option<String>,
    onupdate: &'a Option<String>,
}

/// `t`'s foreign keys to `target`: column-level ones, then table constraints.
fn foreign_keys_to<'a>(t: &'a Table, target: &str) -> Vec<ForeignKeyTo<'a>> {
    let mut out = Vec::new();
    for c in &t.columns {
        for fk in &c.foreign_keys {
            let (tt, tc) = fk.target_parts();
            if tt == target {
                out.push(ForeignKeyTo {
                    name: fk
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("fk_{}_{}", t.name, c.name)),
                    columns: vec![c.name.clone()],
                    target_columns: vec![tc.to_string()],
                    ondelete: &fk.ondelete,
                    onupdate: &fk.onupdate,
                });
            }
        }
    }
    for con in &t.constraints {
        if let Constraint::ForeignKey {
            name,
            columns,
            target_table,
            target_columns,
            ondelete,
            onupdate,
        } = con
        {
            if target_table == target {
                out.push(ForeignKeyTo {
                    name: name
                        .clone()
                        .unwrap_or_else(|| format!("fk_{}_{}", t.name, columns.join("_"))),
                    columns: columns.clone(),
                    target_columns: target_columns.clone(),
                    ondelete,
                    onupdate,
                });
            }
        }
    }
    out
}

/// `ALTER TABLE t ADD CONSTRAINT ... FOREIGN KEY` for `t`'s foreign keys to `target`.
pub fn add_foreign_keys(t: &Table, d: &dyn Dialect, target: &str) -> Vec<String> {
    foreign_keys_to(t, target)
        .into_iter()
        .map(|fk| {
            let mut s = String::from("ALTER TABLE ");
            d.quote_identifier(&t.name, &mut s);
            s.push_str(" ADD CONSTRAINT ");
            d.quote_identifier(&fk.name, &mut s);
            s.push(' ');
            foreign_key_clause(
                d,
                &fk.columns,
                target,
                &fk.target_columns,
                (fk.ondelete, fk.onupdate),
                &mut s,
            );
            s
        })
        .collect()
}

/// `ALTER TABLE t DROP ...` for the foreign keys `add_foreign_keys` added.
pub fn drop_foreign_keys(t: &Table, d: &dyn Dialect, target: &str) -> Vec<String> {
    foreign_keys_to(t, target)
        .into_iter()
        .map(|fk| {
            let mut s = String::from("ALTER TABLE ");
            d.quote_identifier(&t.name, &mut s);
            s.push(' ');
            s.push_str(d.drop_foreign_key());
            s.push(' ');
            d.quote_identifier(&fk.name, &mut s);
            s
        })
        .collect()
}

pub fn drop_table(t: &Table, d: &dyn Dialect) -> String {
    let mut out = String::from("DROP TABLE ");
    d.quote_identifier(&t.name, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ForeignKey, Index, SqlType};
    use crate::sql::dialect::SqliteDialect;

    #[test]
    fn create_table_reads_like_sqlalchemy() {
        let mut id = Column::new("id", SqlType::Integer);
        id.primary_key = true;
        let mut name = Column::new("name", SqlType::String(Some(50)));
        name.nullable = false;
        let mut email = Column::new("email", SqlType::String(Some(100)));
        email.unique = true;
        let mut boss = Column::new("boss_id", SqlType::Integer);
        boss.foreign_keys.push(ForeignKey {
            target: "users.id".into(),
            name: None,
            ondelete: Some("CASCADE".into()),
            onupdate: None,
        });
        boss.index = true;
        let t = Table::new(
            "users",
            vec![id, name, email, boss],
            vec![Constraint::Check {
                name: None,
                sql: "id > 0".into(),
            }],
            vec![Index {
                name: "ix_n".into(),
                columns: vec!["name".into()],
                unique: false,
            }],
        )
        .unwrap();
        assert_eq!(
            create_table(&t, &SqliteDialect),
            "CREATE TABLE users (\n\tid INTEGER NOT NULL, \n\tname VARCHAR(50) NOT NULL, \n\temail VARCHAR(100), \n\tboss_id INTEGER, \n\tPRIMARY KEY (id), \n\tUNIQUE (email), \n\tCHECK (id > 0), \n\tFOREIGN KEY(boss_id) REFERENCES users (id) ON DELETE CASCADE\n)"
        );
        assert_eq!(
            create_indexes(&t, &SqliteDialect),
            vec![
                "CREATE INDEX ix_users_boss_id ON users (boss_id)",
                "CREATE INDEX ix_n ON users (name)"
            ]
        );
    }

    fn two_tables_pointing_at_each_other() -> (Table, Table) {
        let key = |name: &str| {
            let mut c = Column::new(name, SqlType::Integer);
            c.primary_key = true;
            c.nullable = false;
            c
        };
        let fk = |name: &str, target: &str| {
            let mut c = Column::new(name, SqlType::Integer);
            c.foreign_keys.push(ForeignKey {
                target: target.into(),
                name: None,
                ondelete: None,
                onupdate: None,
            });
            c
        };
        let a = Table::new("a", vec![key("id"), fk("b_id", "b.id")], vec![], vec![]).unwrap();
        let b = Table::new("b", vec![key("id"), fk("a_id", "a.id")], vec![], vec![]).unwrap();
        (a, b)
    }

    #[test]
    fn server_dialects_name_their_own_types_and_keys() {
        use crate::sql::dialect::{MysqlDialect, PostgresDialect};
        let (a, _) = two_tables_pointing_at_each_other();
        assert_eq!(
            create_table_deferring(&a, &PostgresDialect, &["b"]),
            "CREATE TABLE a (\n\tid SERIAL NOT NULL, \n\tb_id INTEGER, \n\tPRIMARY KEY (id)\n)"
        );
        let my = MysqlDialect { mariadb: false };
        assert_eq!(
            create_table(&a, &my),
            "CREATE TABLE a (\n\tid INTEGER NOT NULL AUTO_INCREMENT, \n\tb_id INTEGER, \n\t\
             PRIMARY KEY (id), \n\tFOREIGN KEY(b_id) REFERENCES b (id)\n) \
             DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
        let variant =
            SqlType::String(None).with_variant(SqlType::String(Some(255)), &["mysql".into()]);
        assert_eq!(my.type_ddl(&variant), "VARCHAR(255)");
        assert_eq!(PostgresDialect.type_ddl(&variant), "VARCHAR");
        assert_eq!(PostgresDialect.type_ddl(&SqlType::LargeBinary), "BYTEA");
        assert_eq!(my.type_ddl(&SqlType::DateTime), "DATETIME(6)");
        assert_eq!(variant.kind(), SqlType::String(None).kind());
    }

    #[test]
    fn a_deferred_foreign_key_is_added_and_dropped_by_name() {
        use crate::sql::dialect::{MysqlDialect, PostgresDialect};
        let (_, b) = two_tables_pointing_at_each_other();
        assert_eq!(
            add_foreign_keys(&b, &PostgresDialect, "a"),
            vec!["ALTER TABLE b ADD CONSTRAINT fk_b_a_id FOREIGN KEY(a_id) REFERENCES a (id)"]
        );
        assert_eq!(
            drop_foreign_keys(&b, &PostgresDialect, "a"),
            vec!["ALTER TABLE b DROP CONSTRAINT fk_b_a_id"]
        );
        assert_eq!(
            drop_foreign_keys(&b, &MysqlDialect { mariadb: true }, "a"),
            vec!["ALTER TABLE b DROP FOREIGN KEY fk_b_a_id"]
        );
        assert!(add_foreign_keys(&b, &PostgresDialect, "c").is_empty());
    }
}

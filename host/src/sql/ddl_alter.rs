//! ALTER DDL for migrations (Alembic's operations): ADD / DROP / ALTER COLUMN, RENAME,
//! indexes and named constraints, per dialect, laid out as Alembic emits them.
//!
//! SQLite's `ALTER TABLE` adds, drops and renames columns and renames tables, nothing
//! more: the other changes raise an error that points to batch mode (`batch_alter_table`,
//! the table rebuild of `migrate::batch`), as Alembic's SQLite implementation does.

use super::dialect::Dialect;
use crate::error::{Error, ErrorKind, Result};
use crate::schema::{Column, ForeignKey, SqlType};

/// What `drop_constraint`'s `type_` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstraintKind {
    Unique,
    ForeignKey,
    Check,
    PrimaryKey,
}

impl ConstraintKind {
    /// The names Alembic's `type_` takes.
    pub const NAMES: &'static str = "'unique', 'foreignkey', 'check' or 'primary'";

    pub fn parse(name: &str) -> Result<ConstraintKind> {
        Ok(match name {
            "unique" => ConstraintKind::Unique,
            "foreignkey" => ConstraintKind::ForeignKey,
            "check" => ConstraintKind::Check,
            "primary" => ConstraintKind::PrimaryKey,
            other => {
                return Err(Error::new(
                    ErrorKind::ArgumentError,
                    format!(
                        "drop_constraint: type_ must be {}, got '{other}'",
                        Self::NAMES
                    ),
                ))
            }
        })
    }
}

/// `op.alter_column(table, name, {...})`: what changes, and what the column was (MySQL's
/// MODIFY restates the whole column).
#[derive(Clone, Debug, Default)]
pub struct AlterColumn {
    pub name: String,
    pub type_: Option<SqlType>,
    pub nullable: Option<bool>,
    /// `Some(None)`: drop the server default.
    pub server_default: Option<Option<String>>,
    pub new_column_name: Option<String>,
    pub existing_type: Option<SqlType>,
    pub existing_nullable: Option<bool>,
    pub existing_server_default: Option<String>,
}

fn is_sqlite(d: &dyn Dialect) -> bool {
    d.name() == "sqlite"
}

fn is_mysql(d: &dyn Dialect) -> bool {
    matches!(d.name(), "mysql" | "mariadb")
}

fn sqlite_refuses(what: &str, table: &str) -> Error {
    Error::new(
        ErrorKind::InvalidRequestError,
        format!(
            "SQLite's ALTER TABLE cannot {what} (table '{table}'): run it inside \
             op.batch_alter_table(\"{table}\", function(batch_op) ... end), which rebuilds the table"
        ),
    )
}

fn alter_table(d: &dyn Dialect, table: &str) -> String {
    let mut s = String::from("ALTER TABLE ");
    d.quote_identifier(table, &mut s);
    s
}

/// `ALTER TABLE t ADD [CONSTRAINT name] ` (an unnamed constraint is named by the database).
fn add_constraint(d: &dyn Dialect, table: &str, name: Option<&str>) -> String {
    let mut s = alter_table(d, table);
    s.push_str(" ADD ");
    if let Some(n) = name {
        s.push_str("CONSTRAINT ");
        d.quote_identifier(n, &mut s);
        s.push(' ');
    }
    s
}

/// How a refusal names a constraint.
fn constraint_label(name: Option<&str>) -> String {
    name.map_or_else(
        || "add an unnamed constraint".into(),
        |n| format!("add constraint '{n}'"),
    )
}

fn idents(d: &dyn Dialect, names: &[String], out: &mut String) {
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        d.quote_identifier(n, out);
    }
}

/// A column as ADD COLUMN names it: `name TYPE [DEFAULT x] [NOT NULL]` (MySQL: the
/// nullability before the default).
fn column_spec(d: &dyn Dialect, c: &Column, out: &mut String) {
    d.quote_identifier(&c.name, out);
    out.push(' ');
    out.push_str(&d.column_type_ddl(&c.ty, false));
    let default = |out: &mut String| {
        if let Some(sd) = &c.server_default {
            out.push_str(" DEFAULT ");
            out.push_str(sd);
        }
    };
    if is_mysql(d) {
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
        default(out);
    } else {
        default(out);
        if !c.nullable {
            out.push_str(" NOT NULL");
        }
    }
}

fn references(d: &dyn Dialect, fk: &ForeignKey, out: &mut String) {
    let (t, c) = fk.target_parts();
    out.push_str(" REFERENCES ");
    d.quote_identifier(t, out);
    out.push_str(" (");
    d.quote_identifier(c, out);
    out.push(')');
    if let Some(a) = &fk.ondelete {
        out.push_str(" ON DELETE ");
        out.push_str(a);
    }
    if let Some(a) = &fk.onupdate {
        out.push_str(" ON UPDATE ");
        out.push_str(a);
    }
}

/// `op.add_column`: ADD COLUMN, then an ADD CONSTRAINT per foreign key of the column (on
/// SQLite, which cannot add a constraint, the key is a REFERENCES clause of the column).
pub fn add_column(d: &dyn Dialect, table: &str, c: &Column) -> Result<Vec<String>> {
    let mut s = alter_table(d, table);
    s.push_str(" ADD COLUMN ");
    column_spec(d, c, &mut s);
    if is_sqlite(d) {
        if c.primary_key || c.unique {
            return Err(sqlite_refuses("add a PRIMARY KEY or UNIQUE column", table));
        }
        for fk in &c.foreign_keys {
            if let Some(n) = &fk.name {
                s.push_str(" CONSTRAINT ");
                d.quote_identifier(n, &mut s);
            }
            references(d, fk, &mut s);
        }
        return Ok(vec![s]);
    }
    let mut out = vec![s];
    for fk in &c.foreign_keys {
        let (t, tc) = fk.target_parts();
        out.push(create_foreign_key(
            d,
            fk.name.as_deref(),
            table,
            t,
            std::slice::from_ref(&c.name),
            &[tc.to_string()],
            (fk.ondelete.as_deref(), fk.onupdate.as_deref()),
        )?);
    }
    if c.unique {
        out.push(create_unique_constraint(
            d,
            None,
            table,
            std::slice::from_ref(&c.name),
        )?);
    }
    Ok(out)
}

/// `op.drop_column`.
pub fn drop_column(d: &dyn Dialect, table: &str, column: &str) -> String {
    let mut s = alter_table(d, table);
    s.push_str(" DROP COLUMN ");
    d.quote_identifier(column, &mut s);
    s
}

/// `op.alter_column`: the statements, in Alembic's order (type, nullability, default,
/// then the rename; MySQL: one MODIFY or CHANGE restating the column).
pub fn alter_column(d: &dyn Dialect, table: &str, a: &AlterColumn) -> Result<Vec<String>> {
    if is_mysql(d) {
        return alter_column_mysql(d, table, a);
    }
    if is_sqlite(d) && (a.type_.is_some() || a.nullable.is_some() || a.server_default.is_some()) {
        return Err(sqlite_refuses(
            &format!(
                "change the type, nullability or default of column '{}'",
                a.name
            ),
            table,
        ));
    }
    let head = |out: &mut String| {
        out.push_str(" ALTER COLUMN ");
        d.quote_identifier(&a.name, out);
    };
    let mut out = Vec::new();
    if let Some(ty) = &a.type_ {
        let mut s = alter_table(d, table);
        head(&mut s);
        s.push_str(" TYPE ");
        s.push_str(&d.type_ddl(ty));
        out.push(s);
    }
    if let Some(n) = a.nullable {
        let mut s = alter_table(d, table);
        head(&mut s);
        s.push_str(if n { " DROP NOT NULL" } else { " SET NOT NULL" });
        out.push(s);
    }
    if let Some(sd) = &a.server_default {
        let mut s = alter_table(d, table);
        head(&mut s);
        match sd {
            Some(sql) => {
                s.push_str(" SET DEFAULT ");
                s.push_str(sql);
            }
            None => s.push_str(" DROP DEFAULT"),
        }
        out.push(s);
    }
    if let Some(new) = &a.new_column_name {
        let mut s = alter_table(d, table);
        s.push_str(if is_sqlite(d) {
            " RENAME COLUMN "
        } else {
            " RENAME "
        });
        d.quote_identifier(&a.name, &mut s);
        s.push_str(" TO ");
        d.quote_identifier(new, &mut s);
        out.push(s);
    }
    Ok(out)
}

fn alter_column_mysql(d: &dyn Dialect, table: &str, a: &AlterColumn) -> Result<Vec<String>> {
    let restate = a.type_.is_some() || a.nullable.is_some() || a.new_column_name.is_some();
    if !restate {
        let mut out = Vec::new();
        if let Some(sd) = &a.server_default {
            let mut s = alter_table(d, table);
            s.push_str(" ALTER COLUMN ");
            d.quote_identifier(&a.name, &mut s);
            match sd {
                Some(sql) => {
                    s.push_str(" SET DEFAULT ");
                    s.push_str(sql);
                }
                None => s.push_str(" DROP DEFAULT"),
            }
            out.push(s);
        }
        return Ok(out);
    }
    let Some(ty) = a.type_.as_ref().or(a.existing_type.as_ref()) else {
        return Err(Error::new(
            ErrorKind::ArgumentError,
            format!(
                "alter_column('{table}', '{}'): MySQL and MariaDB restate the whole column \
                 (MODIFY / CHANGE), so they need the column's type: give type_ or existing_type",
                a.name
            ),
        ));
    };
    let mut s = alter_table(d, table);
    match &a.new_column_name {
        Some(new) => {
            s.push_str(" CHANGE ");
            d.quote_identifier(&a.name, &mut s);
            s.push(' ');
            d.quote_identifier(new, &mut s);
        }
        None => {
            s.push_str(" MODIFY ");
            d.quote_identifier(&a.name, &mut s);
        }
    }
    s.push(' ');
    s.push_str(&d.type_ddl(ty));
    let nullable = a.nullable.or(a.existing_nullable).unwrap_or(true);
    s.push_str(if nullable { " NULL" } else { " NOT NULL" });
    let default = match &a.server_default {
        Some(sd) => sd.clone(),
        None => a.existing_server_default.clone(),
    };
    if let Some(sql) = default {
        s.push_str(" DEFAULT ");
        s.push_str(&sql);
    }
    Ok(vec![s])
}

/// `op.rename_table`.
pub fn rename_table(d: &dyn Dialect, old: &str, new: &str) -> String {
    let mut s = alter_table(d, old);
    s.push_str(" RENAME TO ");
    d.quote_identifier(new, &mut s);
    s
}

/// `op.create_index`.
pub fn create_index(
    d: &dyn Dialect,
    name: &str,
    table: &str,
    columns: &[String],
    unique: bool,
) -> String {
    let mut s = String::from(if unique {
        "CREATE UNIQUE INDEX "
    } else {
        "CREATE INDEX "
    });
    d.quote_identifier(name, &mut s);
    s.push_str(" ON ");
    d.quote_identifier(table, &mut s);
    s.push_str(" (");
    idents(d, columns, &mut s);
    s.push(')');
    s
}

/// `op.drop_index` (MySQL names the table: `DROP INDEX ix ON t`).
pub fn drop_index(d: &dyn Dialect, name: &str, table: Option<&str>) -> Result<String> {
    let mut s = String::from("DROP INDEX ");
    d.quote_identifier(name, &mut s);
    if is_mysql(d) {
        let Some(t) = table else {
            return Err(Error::new(
                ErrorKind::ArgumentError,
                format!("drop_index('{name}'): MySQL and MariaDB need the table_name option"),
            ));
        };
        s.push_str(" ON ");
        d.quote_identifier(t, &mut s);
    }
    Ok(s)
}

/// `op.create_unique_constraint`.
pub fn create_unique_constraint(
    d: &dyn Dialect,
    name: Option<&str>,
    table: &str,
    columns: &[String],
) -> Result<String> {
    if is_sqlite(d) {
        return Err(sqlite_refuses(&constraint_label(name), table));
    }
    let mut s = add_constraint(d, table, name);
    s.push_str("UNIQUE (");
    idents(d, columns, &mut s);
    s.push(')');
    Ok(s)
}

/// `op.create_check_constraint(name, table, condition)`.
pub fn create_check_constraint(
    d: &dyn Dialect,
    name: Option<&str>,
    table: &str,
    condition: &str,
) -> Result<String> {
    if is_sqlite(d) {
        return Err(sqlite_refuses(&constraint_label(name), table));
    }
    let mut s = add_constraint(d, table, name);
    s.push_str("CHECK (");
    s.push_str(condition);
    s.push(')');
    Ok(s)
}

/// `op.create_foreign_key(name, source, referent, local_cols, remote_cols, {ondelete,
/// onupdate})`.
pub fn create_foreign_key(
    d: &dyn Dialect,
    name: Option<&str>,
    source: &str,
    referent: &str,
    local: &[String],
    remote: &[String],
    (ondelete, onupdate): (Option<&str>, Option<&str>),
) -> Result<String> {
    if is_sqlite(d) {
        return Err(sqlite_refuses(&constraint_label(name), source));
    }
    let mut s = add_constraint(d, source, name);
    s.push_str("FOREIGN KEY(");
    idents(d, local, &mut s);
    s.push_str(") REFERENCES ");
    d.quote_identifier(referent, &mut s);
    s.push_str(" (");
    idents(d, remote, &mut s);
    s.push(')');
    if let Some(a) = ondelete {
        s.push_str(" ON DELETE ");
        s.push_str(a);
    }
    if let Some(a) = onupdate {
        s.push_str(" ON UPDATE ");
        s.push_str(a);
    }
    Ok(s)
}

/// `op.drop_constraint(name, table, { type_ = ... })` (MySQL drops each kind its own way).
pub fn drop_constraint(
    d: &dyn Dialect,
    name: &str,
    table: &str,
    kind: Option<ConstraintKind>,
) -> Result<String> {
    if is_sqlite(d) {
        return Err(sqlite_refuses(&format!("drop constraint '{name}'"), table));
    }
    let mut s = alter_table(d, table);
    if is_mysql(d) {
        let Some(kind) = kind else {
            return Err(Error::new(
                ErrorKind::ArgumentError,
                format!(
                    "drop_constraint('{name}', '{table}'): MySQL and MariaDB need type_ ({})",
                    ConstraintKind::NAMES
                ),
            ));
        };
        match kind {
            ConstraintKind::ForeignKey => s.push_str(" DROP FOREIGN KEY "),
            ConstraintKind::Unique => s.push_str(" DROP INDEX "),
            // Alembic writes MySQL's `DROP CHECK`, which MariaDB rejects; `DROP CONSTRAINT`
            // drops a CHECK on both (MySQL 8.0.19+), and a mysql:// URL may be either server
            ConstraintKind::Check => s.push_str(" DROP CONSTRAINT "),
            ConstraintKind::PrimaryKey => {
                s.push_str(" DROP PRIMARY KEY");
                return Ok(s);
            }
        }
    } else {
        s.push_str(" DROP CONSTRAINT ");
    }
    d.quote_identifier(name, &mut s);
    Ok(s)
}

/// `op.drop_table`.
pub fn drop_table(d: &dyn Dialect, name: &str) -> String {
    let mut s = String::from("DROP TABLE ");
    d.quote_identifier(name, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::{MysqlDialect, PostgresDialect, SqliteDialect};

    const MY: MysqlDialect = MysqlDialect { mariadb: false };
    const MARIA: MysqlDialect = MysqlDialect { mariadb: true };

    fn col(name: &str, ty: SqlType) -> Column {
        Column::new(name, ty)
    }

    #[test]
    fn add_column_reads_as_alembic() {
        let mut x = col("x", SqlType::Integer);
        x.nullable = false;
        x.server_default = Some("'0'".into());
        assert_eq!(
            add_column(&SqliteDialect, "t", &x).unwrap(),
            vec!["ALTER TABLE t ADD COLUMN x INTEGER DEFAULT '0' NOT NULL"]
        );
        assert_eq!(
            add_column(&PostgresDialect, "t", &x).unwrap(),
            vec!["ALTER TABLE t ADD COLUMN x INTEGER DEFAULT '0' NOT NULL"]
        );
        assert_eq!(
            add_column(&MY, "t", &x).unwrap(),
            vec!["ALTER TABLE t ADD COLUMN x INTEGER NOT NULL DEFAULT '0'"]
        );
    }

    #[test]
    fn a_named_foreign_key_of_an_added_column_reaches_the_ddl() {
        let mut u = col("u_id", SqlType::Integer);
        u.foreign_keys.push(ForeignKey {
            target: "users.id".into(),
            name: Some("fk_x".into()),
            ondelete: Some("CASCADE".into()),
            onupdate: None,
        });
        assert_eq!(
            add_column(&PostgresDialect, "t", &u).unwrap(),
            vec![
                "ALTER TABLE t ADD COLUMN u_id INTEGER",
                "ALTER TABLE t ADD CONSTRAINT fk_x FOREIGN KEY(u_id) REFERENCES users (id) ON DELETE CASCADE"
            ]
        );
        assert_eq!(
            add_column(&SqliteDialect, "t", &u).unwrap(),
            vec!["ALTER TABLE t ADD COLUMN u_id INTEGER CONSTRAINT fk_x REFERENCES users (id) ON DELETE CASCADE"]
        );
    }

    #[test]
    fn unnamed_constraints_are_named_by_the_database() {
        // as Alembic's add_column with an unnamed ForeignKey / unique=True column
        let mut u = col("u_id", SqlType::Integer);
        u.unique = true;
        u.foreign_keys.push(ForeignKey {
            target: "users.id".into(),
            name: None,
            ondelete: None,
            onupdate: None,
        });
        assert_eq!(
            add_column(&PostgresDialect, "t", &u).unwrap(),
            vec![
                "ALTER TABLE t ADD COLUMN u_id INTEGER",
                "ALTER TABLE t ADD FOREIGN KEY(u_id) REFERENCES users (id)",
                "ALTER TABLE t ADD UNIQUE (u_id)"
            ]
        );
        let y = vec!["y".to_string()];
        assert_eq!(
            create_check_constraint(&MY, None, "t", "y > 1").unwrap(),
            "ALTER TABLE t ADD CHECK (y > 1)"
        );
        let e = create_unique_constraint(&SqliteDialect, None, "t", &y).unwrap_err();
        assert!(
            e.message.contains("add an unnamed constraint (table 't')"),
            "{}",
            e.message
        );
    }

    #[test]
    fn alter_column_per_dialect() {
        let ty = AlterColumn {
            name: "y".into(),
            type_: Some(SqlType::String(Some(50))),
            existing_type: Some(SqlType::String(Some(20))),
            ..Default::default()
        };
        assert_eq!(
            alter_column(&PostgresDialect, "t", &ty).unwrap(),
            vec!["ALTER TABLE t ALTER COLUMN y TYPE VARCHAR(50)"]
        );
        assert_eq!(
            alter_column(&MY, "t", &ty).unwrap(),
            vec!["ALTER TABLE t MODIFY y VARCHAR(50) NULL"]
        );
        let err = alter_column(&SqliteDialect, "t", &ty).unwrap_err();
        assert!(err.message.contains("batch_alter_table"), "{}", err.message);

        let nn = AlterColumn {
            name: "y".into(),
            nullable: Some(false),
            existing_type: Some(SqlType::String(Some(20))),
            ..Default::default()
        };
        assert_eq!(
            alter_column(&PostgresDialect, "t", &nn).unwrap(),
            vec!["ALTER TABLE t ALTER COLUMN y SET NOT NULL"]
        );
        assert_eq!(
            alter_column(&MY, "t", &nn).unwrap(),
            vec!["ALTER TABLE t MODIFY y VARCHAR(20) NOT NULL"]
        );
        let no_type = AlterColumn {
            existing_type: None,
            ..nn
        };
        let err = alter_column(&MY, "t", &no_type).unwrap_err();
        assert!(err.message.contains("existing_type"), "{}", err.message);

        let def = AlterColumn {
            name: "y".into(),
            server_default: Some(Some("'abc'".into())),
            ..Default::default()
        };
        for d in [&PostgresDialect as &dyn Dialect, &MY] {
            assert_eq!(
                alter_column(d, "t", &def).unwrap(),
                vec!["ALTER TABLE t ALTER COLUMN y SET DEFAULT 'abc'"]
            );
        }
        let drop = AlterColumn {
            name: "y".into(),
            server_default: Some(None),
            ..Default::default()
        };
        assert_eq!(
            alter_column(&PostgresDialect, "t", &drop).unwrap(),
            vec!["ALTER TABLE t ALTER COLUMN y DROP DEFAULT"]
        );
    }

    #[test]
    fn renaming_a_column() {
        let r = AlterColumn {
            name: "y".into(),
            new_column_name: Some("z".into()),
            existing_type: Some(SqlType::String(Some(20))),
            ..Default::default()
        };
        assert_eq!(
            alter_column(&SqliteDialect, "t", &r).unwrap(),
            vec!["ALTER TABLE t RENAME COLUMN y TO z"]
        );
        assert_eq!(
            alter_column(&PostgresDialect, "t", &r).unwrap(),
            vec!["ALTER TABLE t RENAME y TO z"]
        );
        assert_eq!(
            alter_column(&MY, "t", &r).unwrap(),
            vec!["ALTER TABLE t CHANGE y z VARCHAR(20) NULL"]
        );
        let r2 = AlterColumn {
            type_: Some(SqlType::Text),
            existing_nullable: Some(false),
            ..r
        };
        assert_eq!(
            alter_column(&PostgresDialect, "t", &r2).unwrap(),
            vec![
                "ALTER TABLE t ALTER COLUMN y TYPE TEXT",
                "ALTER TABLE t RENAME y TO z"
            ]
        );
        assert_eq!(
            alter_column(&MY, "t", &r2).unwrap(),
            vec!["ALTER TABLE t CHANGE y z TEXT NOT NULL"]
        );
    }

    #[test]
    fn tables_indexes_and_constraints() {
        assert_eq!(
            rename_table(&SqliteDialect, "t", "t2"),
            "ALTER TABLE t RENAME TO t2"
        );
        let cols = vec!["y".to_string(), "x".to_string()];
        assert_eq!(
            create_index(&PostgresDialect, "ix_t_yu", "t", &cols, true),
            "CREATE UNIQUE INDEX ix_t_yu ON t (y, x)"
        );
        assert_eq!(
            drop_index(&SqliteDialect, "ix_t_y", Some("t")).unwrap(),
            "DROP INDEX ix_t_y"
        );
        assert_eq!(
            drop_index(&MY, "ix_t_y", Some("t")).unwrap(),
            "DROP INDEX ix_t_y ON t"
        );
        let y = vec!["y".to_string()];
        assert_eq!(
            create_unique_constraint(&PostgresDialect, Some("uq_t_y"), "t", &y).unwrap(),
            "ALTER TABLE t ADD CONSTRAINT uq_t_y UNIQUE (y)"
        );
        assert!(create_unique_constraint(&SqliteDialect, Some("uq_t_y"), "t", &y).is_err());
        assert_eq!(
            create_check_constraint(&PostgresDialect, Some("ck_t_y"), "t", "length(y) > 1")
                .unwrap(),
            "ALTER TABLE t ADD CONSTRAINT ck_t_y CHECK (length(y) > 1)"
        );
        assert_eq!(
            create_foreign_key(
                &MY,
                Some("fk_t_u"),
                "t",
                "users",
                &["u_id".to_string()],
                &["id".to_string()],
                (Some("CASCADE"), None)
            )
            .unwrap(),
            "ALTER TABLE t ADD CONSTRAINT fk_t_u FOREIGN KEY(u_id) REFERENCES users (id) ON DELETE CASCADE"
        );
        let drop = |d: &dyn Dialect, k| drop_constraint(d, "c", "t", Some(k)).unwrap();
        assert_eq!(
            drop(&PostgresDialect, ConstraintKind::ForeignKey),
            "ALTER TABLE t DROP CONSTRAINT c"
        );
        assert_eq!(
            drop(&MY, ConstraintKind::ForeignKey),
            "ALTER TABLE t DROP FOREIGN KEY c"
        );
        assert_eq!(
            drop(&MY, ConstraintKind::Unique),
            "ALTER TABLE t DROP INDEX c"
        );
        assert_eq!(
            drop(&MY, ConstraintKind::Check),
            "ALTER TABLE t DROP CONSTRAINT c"
        );
        assert_eq!(
            drop(&MARIA, ConstraintKind::Check),
            "ALTER TABLE t DROP CONSTRAINT c"
        );
        assert!(drop_constraint(&MY, "c", "t", None).is_err());
        assert!(ConstraintKind::parse("nope")
            .unwrap_err()
            .message
            .contains("'unique'"));
        assert_eq!(drop_table(&SqliteDialect, "t"), "DROP TABLE t");
    }
}

//! `ALTER TABLE ... ADD COLUMN` and `ALTER TABLE ... ADD FOREIGN KEY`, the two statements
//! `auto` needs beyond `sql::ddl` (the migration operations' ALTER DDL may take their place).

use crate::schema::Column;
use crate::sql::dialect::Dialect;

use super::diff::ForeignKeyInfo;

fn idents(d: &dyn Dialect, names: &[String], out: &mut String) {
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        d.quote_identifier(n, out);
    }
}

fn references(d: &dyn Dialect, fk: &ForeignKeyInfo, out: &mut String) {
    out.push_str("REFERENCES ");
    d.quote_identifier(&fk.referred_table, out);
    out.push_str(" (");
    idents(d, &fk.referred_columns, out);
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

/// `ALTER TABLE t ADD COLUMN c TYPE [DEFAULT x] [NOT NULL] [REFERENCES ...]` (the inline
/// key is SQLite's only way to give an existing table one).
pub fn add_column(
    d: &dyn Dialect,
    table: &str,
    c: &Column,
    inline_fk: Option<&ForeignKeyInfo>,
) -> String {
    let mut s = String::from("ALTER TABLE ");
    d.quote_identifier(table, &mut s);
    s.push_str(" ADD COLUMN ");
    d.quote_identifier(&c.name, &mut s);
    s.push(' ');
    s.push_str(&d.column_type_ddl(&c.ty, false));
    if let Some(sd) = &c.server_default {
        s.push_str(" DEFAULT ");
        s.push_str(sd);
    }
    if !c.nullable {
        s.push_str(" NOT NULL");
    }
    if let Some(fk) = inline_fk {
        s.push(' ');
        references(d, fk, &mut s);
    }
    s
}

/// `ALTER TABLE t ADD [CONSTRAINT name] FOREIGN KEY(cols) REFERENCES ...`.
pub fn add_foreign_key(d: &dyn Dialect, table: &str, fk: &ForeignKeyInfo) -> String {
    let mut s = String::from("ALTER TABLE ");
    d.quote_identifier(table, &mut s);
    s.push_str(" ADD ");
    if let Some(n) = &fk.name {
        s.push_str("CONSTRAINT ");
        d.quote_identifier(n, &mut s);
        s.push(' ');
    }
    s.push_str("FOREIGN KEY(");
    idents(d, &fk.columns, &mut s);
    s.push_str(") ");
    references(d, fk, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SqlType;
    use crate::sql::dialect::{MysqlDialect, SqliteDialect};

    #[test]
    fn writes_add_column_and_add_foreign_key() {
        let mut c = Column::new("level", SqlType::Boolean);
        c.nullable = false;
        c.server_default = Some("'0'".into());
        assert_eq!(
            add_column(&SqliteDialect, "users", &c, None),
            "ALTER TABLE users ADD COLUMN level BOOLEAN DEFAULT '0' NOT NULL"
        );
        let fk = ForeignKeyInfo {
            name: Some("fk_p".into()),
            columns: vec!["p_id".into()],
            referred_table: "parents".into(),
            referred_columns: vec!["id".into()],
            ondelete: Some("CASCADE".into()),
            onupdate: None,
        };
        let p = Column::new("p_id", SqlType::Integer);
        assert_eq!(
            add_column(&SqliteDialect, "kids", &p, Some(&fk)),
            "ALTER TABLE kids ADD COLUMN p_id INTEGER REFERENCES parents (id) ON DELETE CASCADE"
        );
        assert_eq!(
            add_foreign_key(&MysqlDialect { mariadb: true }, "kids", &fk),
            "ALTER TABLE kids ADD CONSTRAINT fk_p FOREIGN KEY(p_id) REFERENCES parents (id) ON DELETE CASCADE"
        );
    }
}

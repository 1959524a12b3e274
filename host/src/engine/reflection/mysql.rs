//! MySQL's and MariaDB's catalog: `information_schema`, for the tables of the current
//! database.

use super::{
    group_rows, rows, text, type_from_name, Catalog, ReflectedCheck, ReflectedColumn,
    ReflectedForeignKey, ReflectedIndex, ReflectedPrimaryKey,
};
use crate::engine::Connection;
use crate::error::Result;
use crate::value::Value;

pub struct MysqlCatalog;

/// A referential action as SQL (`None`: RESTRICT / NO ACTION, the default, which
/// `SHOW CREATE TABLE` does not print and SQLAlchemy does not report).
fn action(rule: Option<String>) -> Option<String> {
    rule.filter(|r| r != "RESTRICT" && r != "NO ACTION")
}

impl MysqlCatalog {
    /// The indexes of the table: name, unique, column, one row per column in order.
    fn index_rows(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        let r = rows(
            c,
            "SELECT index_name, non_unique, column_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name <> 'PRIMARY' \
             ORDER BY index_name, seq_in_index",
            &[Value::text(table)],
            3,
        )?;
        let mut out: Vec<ReflectedIndex> = Vec::new();
        for r in r {
            let name = text(&r[0]);
            let col = text(&r[2]);
            group_rows(
                &mut out,
                |ix| ix.name == name,
                |ix| ix.columns.extend(col.clone()),
                || ReflectedIndex {
                    name: name.clone(),
                    columns: col.clone().into_iter().collect(),
                    unique: r[1].as_i64() == Some(0) || text(&r[1]).as_deref() == Some("0"),
                },
            );
        }
        Ok(out)
    }
}

impl Catalog for MysqlCatalog {
    fn table_names(&self, c: &Connection) -> Result<Vec<String>> {
        let r = rows(
            c,
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name",
            &[],
            1,
        )?;
        Ok(r.iter().filter_map(|r| text(&r[0])).collect())
    }

    fn columns(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedColumn>> {
        let r = rows(
            c,
            "SELECT column_name, column_type, is_nullable, column_default, extra, column_key \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            &[Value::text(table)],
            6,
        )?;
        Ok(r.iter()
            .map(|r| {
                let extra = text(&r[4]).unwrap_or_default().to_ascii_lowercase();
                ReflectedColumn {
                    name: text(&r[0]).unwrap_or_default(),
                    ty: type_from_name(&text(&r[1]).unwrap_or_default(), "mysql"),
                    type_name: text(&r[1]).unwrap_or_default(),
                    nullable: text(&r[2]).as_deref() == Some("YES"),
                    // MariaDB writes a missing default as the text NULL
                    default: text(&r[3]).filter(|d| d != "NULL"),
                    primary_key: text(&r[5]).as_deref() == Some("PRI"),
                    autoincrement: Some(extra.contains("auto_increment")),
                }
            })
            .collect())
    }

    fn pk_constraint(&self, c: &Connection, table: &str) -> Result<ReflectedPrimaryKey> {
        let r = rows(
            c,
            "SELECT column_name FROM information_schema.key_column_usage \
             WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' \
             ORDER BY ordinal_position",
            &[Value::text(table)],
            1,
        )?;
        Ok(ReflectedPrimaryKey {
            name: None,
            columns: r.iter().filter_map(|r| text(&r[0])).collect(),
        })
    }

    fn foreign_keys(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedForeignKey>> {
        let r = rows(
            c,
            "SELECT k.constraint_name, k.column_name, k.referenced_table_name, \
             k.referenced_column_name, r.delete_rule, r.update_rule \
             FROM information_schema.key_column_usage k \
             JOIN information_schema.referential_constraints r \
               ON r.constraint_schema = k.table_schema AND r.table_name = k.table_name \
              AND r.constraint_name = k.constraint_name \
             WHERE k.table_schema = DATABASE() AND k.table_name = ? \
               AND k.referenced_table_name IS NOT NULL \
             ORDER BY k.constraint_name, k.ordinal_position",
            &[Value::text(table)],
            6,
        )?;
        let mut out: Vec<ReflectedForeignKey> = Vec::new();
        for r in r {
            let name = text(&r[0]);
            let (col, refcol) = (
                text(&r[1]).unwrap_or_default(),
                text(&r[3]).unwrap_or_default(),
            );
            group_rows(
                &mut out,
                |fk| fk.name == name,
                |fk| {
                    fk.columns.push(col.clone());
                    fk.referred_columns.push(refcol.clone());
                },
                || ReflectedForeignKey {
                    name: name.clone(),
                    columns: vec![col.clone()],
                    referred_table: text(&r[2]).unwrap_or_default(),
                    referred_columns: vec![refcol.clone()],
                    ondelete: action(text(&r[4])),
                    onupdate: action(text(&r[5])),
                },
            );
        }
        Ok(out)
    }

    /// Every index but the primary key's, unique ones included (as SQLAlchemy's MySQL
    /// dialect lists them, and the index InnoDB adds for a foreign key).
    fn indexes(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        self.index_rows(c, table)
    }

    /// A unique constraint is a unique index on MySQL.
    fn unique_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        let mut out = self.index_rows(c, table)?;
        out.retain(|ix| ix.unique);
        Ok(out)
    }

    fn check_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedCheck>> {
        let r = rows(
            c,
            "SELECT cc.constraint_name, cc.check_clause \
             FROM information_schema.check_constraints cc \
             JOIN information_schema.table_constraints tc \
               ON tc.constraint_schema = cc.constraint_schema \
              AND tc.constraint_name = cc.constraint_name \
             WHERE tc.table_schema = DATABASE() AND tc.table_name = ? \
               AND tc.constraint_type = 'CHECK' ORDER BY cc.constraint_name",
            &[Value::text(table)],
            2,
        )?;
        Ok(r.iter()
            .map(|r| ReflectedCheck {
                name: text(&r[0]),
                sqltext: text(&r[1]).unwrap_or_default(),
            })
            // MariaDB's own check on a JSON column (`json_valid(`j`)`, named as the column),
            // which no one wrote and SQLAlchemy does not report
            .filter(|c| {
                c.name
                    .as_ref()
                    .is_none_or(|n| c.sqltext != format!("json_valid(`{n}`)"))
            })
            .collect())
    }
}

//! PostgreSQL's catalog: `pg_catalog` for the tables of the current schema.

use super::{
    flag, group_rows, rows, text, type_from_name, Catalog, ReflectedCheck, ReflectedColumn,
    ReflectedForeignKey, ReflectedIndex, ReflectedPrimaryKey,
};
use crate::engine::Connection;
use crate::error::Result;
use crate::value::Value;

pub struct PostgresCatalog;

/// The oid of the table named `$1` in the current schema.
const TABLE_OID: &str = "(SELECT c.oid FROM pg_catalog.pg_class c \
     JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relname = $1 AND n.nspname = current_schema())";

/// A referential action's code in `pg_constraint` as SQL (`None`: NO ACTION, the default).
fn action(code: Option<String>) -> Option<String> {
    Some(
        match code.as_deref()? {
            "r" => "RESTRICT",
            "c" => "CASCADE",
            "n" => "SET NULL",
            "d" => "SET DEFAULT",
            _ => return None,
        }
        .to_string(),
    )
}

impl PostgresCatalog {
    /// The constraints of `kind` (`p`, `u`, `f`) on the table, one row per column pair:
    /// name, column, referred table, referred column, delete and update action.
    fn constraint_columns(
        &self,
        c: &Connection,
        table: &str,
        kind: &str,
    ) -> Result<Vec<Vec<Value>>> {
        let sql = format!(
            "SELECT con.conname::text, a.attname::text, rt.relname::text, ra.attname::text, \
             con.confdeltype::text, con.confupdtype::text \
             FROM pg_catalog.pg_constraint con \
             CROSS JOIN LATERAL unnest(con.conkey, coalesce(con.confkey, con.conkey)) \
                WITH ORDINALITY AS k(attnum, refnum, ord) \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             LEFT JOIN pg_catalog.pg_class rt ON rt.oid = con.confrelid \
             LEFT JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid \
                AND ra.attnum = k.refnum \
             WHERE con.conrelid = {TABLE_OID} AND con.contype::text = $2 \
             ORDER BY con.conname, k.ord"
        );
        rows(c, &sql, &[Value::text(table), Value::text(kind)], 6)
    }
}

impl Catalog for PostgresCatalog {
    fn table_names(&self, c: &Connection) -> Result<Vec<String>> {
        let r = rows(
            c,
            "SELECT c.relname::text FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             ORDER BY c.relname",
            &[],
            1,
        )?;
        Ok(r.iter().filter_map(|r| text(&r[0])).collect())
    }

    fn columns(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedColumn>> {
        let sql = format!(
            "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod), \
             a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, \
             EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p WHERE p.conrelid = a.attrelid \
                AND p.contype = 'p' AND a.attnum = ANY (p.conkey)) \
             FROM pg_catalog.pg_attribute a \
             LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = {TABLE_OID} AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum"
        );
        let r = rows(c, &sql, &[Value::text(table)], 6)?;
        Ok(r.iter()
            .map(|r| {
                let default = text(&r[3]);
                let identity = text(&r[4]).is_some_and(|s| !s.is_empty());
                ReflectedColumn {
                    name: text(&r[0]).unwrap_or_default(),
                    ty: type_from_name(&text(&r[1]).unwrap_or_default(), "postgresql"),
                    type_name: text(&r[1]).unwrap_or_default(),
                    nullable: !flag(&r[2]),
                    autoincrement: Some(
                        identity
                            || default
                                .as_deref()
                                .is_some_and(|d| d.starts_with("nextval(")),
                    ),
                    default,
                    primary_key: flag(&r[5]),
                }
            })
            .collect())
    }

    fn pk_constraint(&self, c: &Connection, table: &str) -> Result<ReflectedPrimaryKey> {
        let r = self.constraint_columns(c, table, "p")?;
        Ok(ReflectedPrimaryKey {
            name: r.first().and_then(|r| text(&r[0])),
            columns: r.iter().filter_map(|r| text(&r[1])).collect(),
        })
    }

    fn foreign_keys(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedForeignKey>> {
        let mut out: Vec<ReflectedForeignKey> = Vec::new();
        for r in self.constraint_columns(c, table, "f")? {
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

    fn indexes(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        let sql = format!(
            "SELECT i.relname::text, ix.indisunique, a.attname::text \
             FROM pg_catalog.pg_index ix \
             JOIN pg_catalog.pg_class i ON i.oid = ix.indexrelid \
             CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = ix.indrelid \
                AND a.attnum = k.attnum \
             WHERE ix.indrelid = {TABLE_OID} AND NOT ix.indisprimary \
             ORDER BY i.relname, k.ord"
        );
        let mut out: Vec<ReflectedIndex> = Vec::new();
        for r in rows(c, &sql, &[Value::text(table)], 3)? {
            let name = text(&r[0]);
            let col = text(&r[2]);
            group_rows(
                &mut out,
                |ix| ix.name == name,
                |ix| ix.columns.extend(col.clone()),
                || ReflectedIndex {
                    name: name.clone(),
                    columns: col.clone().into_iter().collect(),
                    unique: flag(&r[1]),
                },
            );
        }
        Ok(out)
    }

    fn unique_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        let mut out: Vec<ReflectedIndex> = Vec::new();
        for r in self.constraint_columns(c, table, "u")? {
            let name = text(&r[0]);
            let col = text(&r[1]).unwrap_or_default();
            group_rows(
                &mut out,
                |u| u.name == name,
                |u| u.columns.push(col.clone()),
                || ReflectedIndex {
                    name: name.clone(),
                    columns: vec![col.clone()],
                    unique: true,
                },
            );
        }
        Ok(out)
    }

    fn check_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedCheck>> {
        let sql = format!(
            "SELECT con.conname::text, pg_catalog.pg_get_constraintdef(con.oid, true) \
             FROM pg_catalog.pg_constraint con \
             WHERE con.conrelid = {TABLE_OID} AND con.contype = 'c' ORDER BY con.conname"
        );
        Ok(rows(c, &sql, &[Value::text(table)], 2)?
            .iter()
            .map(|r| ReflectedCheck {
                name: text(&r[0]),
                sqltext: check_text(&text(&r[1]).unwrap_or_default()),
            })
            .collect())
    }
}

/// `CHECK (score >= 0::double precision)` (the server's pretty form, as SQLAlchemy reads
/// it) → `score >= 0::double precision`.
fn check_text(def: &str) -> String {
    let mut s = def.trim();
    if let Some(rest) = s.strip_prefix("CHECK") {
        s = rest.trim();
    }
    if let Some(i) = s.rfind(" NOT VALID") {
        s = s[..i].trim();
    }
    if s.starts_with('(') && s.ends_with(')') && balanced(&s[1..s.len() - 1]) {
        s = &s[1..s.len() - 1];
    }
    s.to_string()
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_text_drops_the_wrapping() {
        assert_eq!(
            super::check_text("CHECK (score >= 0::double precision)"),
            "score >= 0::double precision"
        );
        assert_eq!(
            super::check_text("CHECK ((a > 1) OR b < 2)"),
            "(a > 1) OR b < 2"
        );
        assert_eq!(
            super::check_text("CHECK ((a) = (b)) NOT VALID"),
            "(a) = (b)"
        );
    }
}

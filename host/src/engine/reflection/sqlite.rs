//! SQLite's catalog: `sqlite_master` and the table-valued PRAGMA functions
//! (`pragma_table_info`, `pragma_foreign_key_list`, `pragma_index_list`,
//! `pragma_index_info`). What the PRAGMAs do not tell (constraint names, CHECK text) is read
//! from the table's CREATE TABLE statement, as SQLAlchemy does.

use super::{
    flag, group_rows, rows, text, type_from_name, Catalog, ReflectedCheck, ReflectedColumn,
    ReflectedForeignKey, ReflectedIndex, ReflectedPrimaryKey,
};
use crate::engine::Connection;
use crate::error::Result;
use crate::value::Value;

pub struct SqliteCatalog;

/// The CREATE TABLE statement of `table`.
fn table_sql(c: &Connection, table: &str) -> Result<String> {
    let r = rows(
        c,
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
        &[Value::text(table)],
        1,
    )?;
    Ok(r.first().and_then(|r| text(&r[0])).unwrap_or_default())
}

/// A token of a CREATE TABLE statement: a word or identifier (unquoted), or punctuation.
#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Str,
    Punct(char),
}

fn tokenize(sql: &str) -> Vec<(Tok, usize, usize)> {
    let b: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '`' || c == '[' || c == '\'' {
            let close = if c == '[' { ']' } else { c };
            let mut s = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == close {
                    if i + 1 < b.len() && b[i + 1] == close && close != ']' {
                        s.push(close);
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(b[i]);
                i += 1;
            }
            i += 1;
            out.push((if c == '\'' { Tok::Str } else { Tok::Quoted(s) }, start, i));
        } else if c.is_alphanumeric() || c == '_' {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$') {
                i += 1;
            }
            out.push((Tok::Word(b[start..i].iter().collect()), start, i));
        } else {
            i += 1;
            out.push((Tok::Punct(c), start, i));
        }
    }
    out
}

/// A table-level or column-level constraint found in the CREATE TABLE text.
struct ParsedConstraint {
    name: Option<String>,
    /// `UNIQUE`, `CHECK`, `FOREIGN` or `PRIMARY`.
    kind: String,
    /// The names inside the first parentheses (UNIQUE / FOREIGN KEY columns).
    columns: Vec<String>,
    /// The text inside the first parentheses (CHECK's expression).
    inner: String,
}

fn ident(t: &Tok) -> Option<String> {
    match t {
        Tok::Word(w) | Tok::Quoted(w) => Some(w.clone()),
        _ => None,
    }
}

/// The constraints of a CREATE TABLE statement, named or not, in order.
fn parse_constraints(sql: &str) -> Vec<ParsedConstraint> {
    let toks = tokenize(sql);
    let chars: Vec<char> = sql.chars().collect();
    let kw = |i: usize, w: &str| matches!(toks.get(i), Some((Tok::Word(x), ..)) if x.eq_ignore_ascii_case(w));
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let mut name = None;
        let mut j = i;
        if kw(i, "constraint") {
            name = toks.get(i + 1).and_then(|t| ident(&t.0));
            j = i + 2;
        }
        let kind = ["unique", "check", "foreign", "primary"]
            .into_iter()
            .find(|k| kw(j, k));
        let Some(kind) = kind else {
            i += 1;
            continue;
        };
        // the parenthesised group after the keyword(s)
        let mut k = j + 1;
        while k < toks.len() && !matches!(toks[k].0, Tok::Punct('(' | ',' | ')')) {
            k += 1;
        }
        let mut columns = Vec::new();
        let mut inner = String::new();
        if matches!(toks.get(k), Some((Tok::Punct('('), ..))) {
            let open_end = toks[k].2;
            let mut depth = 0;
            let mut m = k;
            while m < toks.len() {
                match toks[m].0 {
                    Tok::Punct('(') => depth += 1,
                    Tok::Punct(')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ref t if depth == 1 => {
                        if let Some(id) = ident(t) {
                            columns.push(id);
                        }
                    }
                    _ => {}
                }
                m += 1;
            }
            let close = toks.get(m).map(|t| t.1).unwrap_or(chars.len());
            inner = chars[open_end..close]
                .iter()
                .collect::<String>()
                .trim()
                .to_string();
            k = m;
        }
        out.push(ParsedConstraint {
            name,
            kind: kind.to_string(),
            columns,
            inner,
        });
        i = k.max(i + 1);
    }
    out
}

impl Catalog for SqliteCatalog {
    fn table_names(&self, c: &Connection) -> Result<Vec<String>> {
        let r = rows(
            c,
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name",
            &[],
            1,
        )?;
        Ok(r.iter().filter_map(|r| text(&r[0])).collect())
    }

    fn columns(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedColumn>> {
        let r = rows(
            c,
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid",
            &[Value::text(table)],
            5,
        )?;
        Ok(r.iter()
            .map(|r| ReflectedColumn {
                name: text(&r[0]).unwrap_or_default(),
                ty: type_from_name(&text(&r[1]).unwrap_or_default(), "sqlite"),
                type_name: text(&r[1]).unwrap_or_default(),
                nullable: !flag(&r[2]),
                default: text(&r[3]),
                primary_key: flag(&r[4]),
                autoincrement: None,
            })
            .collect())
    }

    fn pk_constraint(&self, c: &Connection, table: &str) -> Result<ReflectedPrimaryKey> {
        let r = rows(
            c,
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
            &[Value::text(table)],
            1,
        )?;
        let name = parse_constraints(&table_sql(c, table)?)
            .into_iter()
            .find(|p| p.kind == "primary" && p.name.is_some())
            .and_then(|p| p.name);
        Ok(ReflectedPrimaryKey {
            name,
            columns: r.iter().filter_map(|r| text(&r[0])).collect(),
        })
    }

    fn foreign_keys(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedForeignKey>> {
        let r = rows(
            c,
            "SELECT id, \"table\", \"from\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            &[Value::text(table)],
            6,
        )?;
        let mut grouped: Vec<(i64, ReflectedForeignKey)> = Vec::new();
        for row in &r {
            let id = row[0].as_i64().unwrap_or(0);
            let col = text(&row[2]).unwrap_or_default();
            let to = text(&row[3]);
            let action = |v: &Value| text(v).filter(|a| a != "NO ACTION");
            group_rows(
                &mut grouped,
                |(g, _)| *g == id,
                |(_, fk)| {
                    fk.columns.push(col.clone());
                    fk.referred_columns.extend(to.clone());
                },
                || {
                    (
                        id,
                        ReflectedForeignKey {
                            name: None,
                            columns: vec![col.clone()],
                            referred_table: text(&row[1]).unwrap_or_default(),
                            referred_columns: to.clone().into_iter().collect(),
                            ondelete: action(&row[5]),
                            onupdate: action(&row[4]),
                        },
                    )
                },
            );
        }
        // PRAGMA lists keys last declared first; SQLAlchemy lists them as declared
        grouped.reverse();
        let parsed = parse_constraints(&table_sql(c, table)?);
        let mut out = Vec::new();
        for (_, mut fk) in grouped {
            if fk.referred_columns.is_empty() {
                // `REFERENCES users` alone: the referred table's primary key
                fk.referred_columns = self.pk_constraint(c, &fk.referred_table)?.columns;
            }
            fk.name = parsed
                .iter()
                .find(|p| {
                    p.kind == "foreign"
                        && p.columns
                            .iter()
                            .map(|s| s.to_ascii_lowercase())
                            .eq(fk.columns.iter().map(|s| s.to_ascii_lowercase()))
                })
                .and_then(|p| p.name.clone());
            out.push(fk);
        }
        Ok(out)
    }

    fn indexes(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        let mut out = self.index_list(c, table, "c")?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn unique_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedIndex>> {
        let mut out = self.index_list(c, table, "u")?;
        let parsed = parse_constraints(&table_sql(c, table)?);
        for u in &mut out {
            u.name = parsed
                .iter()
                .find(|p| p.kind == "unique" && p.columns == u.columns)
                .and_then(|p| p.name.clone());
        }
        Ok(out)
    }

    fn check_constraints(&self, c: &Connection, table: &str) -> Result<Vec<ReflectedCheck>> {
        Ok(parse_constraints(&table_sql(c, table)?)
            .into_iter()
            .filter(|p| p.kind == "check")
            .map(|p| ReflectedCheck {
                name: p.name,
                sqltext: p.inner,
            })
            .collect())
    }
}

impl SqliteCatalog {
    /// The indexes of `table` created by `origin` (`c`: CREATE INDEX, `u`: UNIQUE), with
    /// their columns, in creation order.
    fn index_list(&self, c: &Connection, table: &str, origin: &str) -> Result<Vec<ReflectedIndex>> {
        let list = rows(
            c,
            "SELECT name, \"unique\" FROM pragma_index_list(?) WHERE origin = ? ORDER BY seq DESC",
            &[Value::text(table), Value::text(origin)],
            2,
        )?;
        let mut out = Vec::new();
        for ix in list {
            let name = text(&ix[0]).unwrap_or_default();
            let cols = rows(
                c,
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
                &[Value::text(&name)],
                1,
            )?;
            out.push(ReflectedIndex {
                name: Some(name),
                // an expression's part has no column name
                columns: cols.iter().filter_map(|r| text(&r[0])).collect(),
                unique: flag(&ix[1]),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_constraints_in_create_table() {
        let p = parse_constraints(
            "CREATE TABLE t (id INTEGER NOT NULL, \"a b\" TEXT UNIQUE, x INT CHECK (x > (1)), \
             CONSTRAINT uq_x UNIQUE (x, \"a b\"), CONSTRAINT \"ck y\" CHECK (x < 'a)'), \
             CONSTRAINT fk_t FOREIGN KEY(x) REFERENCES u (id), PRIMARY KEY (id))",
        );
        let kinds: Vec<_> = p
            .iter()
            .map(|c| (c.kind.as_str(), c.name.as_deref()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("unique", None),
                ("check", None),
                ("unique", Some("uq_x")),
                ("check", Some("ck y")),
                ("foreign", Some("fk_t")),
                ("primary", None)
            ]
        );
        assert_eq!(p[1].inner, "x > (1)");
        assert_eq!(p[2].columns, ["x", "a b"]);
        assert_eq!(p[3].inner, "x < 'a)'");
        assert_eq!(p[4].columns, ["x"]);
    }
}

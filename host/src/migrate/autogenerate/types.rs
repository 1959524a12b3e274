//! Whether a column's type changed, as Alembic's default `compare_type` decides (1.13+):
//! the models' type compiled for the database against the type the database reports, each
//! read as a first word, further words and parenthesized arguments; they differ when the
//! first words differ (outside the dialect's synonyms) or when both give the same number of
//! words or arguments and these differ. So `VARCHAR(30)` and `String(30)` are the same type,
//! `VARCHAR(30)` and `String(50)` are not, and an `INTEGER` reported as `int(11)` is not a
//! change.

use crate::engine::reflection::type_from_name;
use crate::schema::SqlType;
use crate::sql::dialect::Dialect;

/// A type name split as Alembic's `_tokenize_column_type` splits it.
#[derive(Debug, PartialEq)]
struct TypeWords {
    first: String,
    rest: Vec<String>,
    args: Vec<String>,
}

fn words(definition: &str) -> TypeWords {
    let lower = definition.to_ascii_lowercase();
    let mut terms = Vec::new();
    let mut args = Vec::new();
    let mut chars = lower.char_indices().peekable();
    while let Some((i, ch)) = chars.next() {
        if ch == '(' {
            let end = lower[i..].find(')').map(|e| i + e).unwrap_or(lower.len());
            args = lower[i + 1..end]
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            while chars.peek().is_some_and(|(j, _)| *j <= end) {
                chars.next();
            }
        } else if ch.is_alphanumeric() || ch == '_' || ch == '-' {
            let mut word = ch.to_string();
            while let Some((_, c)) = chars.peek() {
                if c.is_alphanumeric() || *c == '_' || *c == '-' {
                    word.push(*c);
                    chars.next();
                } else {
                    break;
                }
            }
            terms.push(word);
        }
    }
    let mut terms = terms.into_iter();
    TypeWords {
        first: terms.next().unwrap_or_default(),
        rest: terms.collect(),
        args,
    }
}

/// Names that the catalogs spell otherwise than the type compiler: what SQLAlchemy's
/// reflected type would compile to.
fn canonical_name(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let (base, tail) = match lower.find('(') {
        Some(i) => (lower[..i].trim_end(), &lower[i..]),
        None => (lower.as_str(), ""),
    };
    let base = match base {
        "character varying" => "varchar",
        "character" => "char",
        "int" | "int4" => "integer",
        "int8" => "bigint",
        "int2" => "smallint",
        "float8" => "double precision",
        "float4" => "real",
        "bool" => "boolean",
        other => other,
    };
    format!("{base}{tail}")
}

/// The database's name for a reflected type as it compares, or `None` when lualchemy cannot
/// tell what it is (Alembic skips a `NullType`).
fn reflected_definition(raw: &str, dialect: &dyn Dialect) -> Option<String> {
    let ty = type_from_name(raw, dialect.name());
    if ty == SqlType::Null {
        return None;
    }
    // a SQLite name read by affinity compares as its affinity type
    if dialect.name() == "sqlite" && type_from_name(raw, "postgresql") == SqlType::Null {
        return Some(dialect.type_ddl(&ty));
    }
    Some(canonical_name(raw))
}

/// Alembic's `type_synonyms`: names that are the same type on a dialect.
fn synonyms(dialect: &str) -> &'static [&'static [&'static str]] {
    match dialect {
        "postgresql" => &[&["numeric", "decimal"], &["float", "double precision"]],
        "mysql" | "mariadb" => &[
            &["numeric", "decimal"],
            &["bool", "tinyint"],
            &["json", "longtext"],
        ],
        _ => &[&["numeric", "decimal"]],
    }
}

/// The values of a MySQL `enum('a','b')` name.
fn enum_values(raw: &str) -> Option<Vec<String>> {
    let lower = raw.trim();
    if !lower.to_ascii_lowercase().starts_with("enum(") {
        return None;
    }
    let inner = lower[5..].strip_suffix(')')?;
    Some(
        inner
            .split("','")
            .map(|v| v.trim_matches('\'').replace("''", "'"))
            .collect(),
    )
}

/// True when the models' type `ty` and the database's type named `reflected` differ on
/// `dialect`. Types lualchemy cannot read are never reported as changed.
pub fn types_differ(ty: &SqlType, reflected: &str, dialect: &dyn Dialect) -> bool {
    let ty = ty.for_dialect(dialect.name());
    if *ty == SqlType::Null {
        return false;
    }
    // MySQL's native ENUM: the set of values, in any order
    if let (SqlType::Enum(items), Some(values)) = (ty, enum_values(reflected)) {
        if matches!(dialect.name(), "mysql" | "mariadb") {
            let mut a: Vec<&String> = items.iter().collect();
            let mut b: Vec<&String> = values.iter().collect();
            a.sort();
            b.sort();
            return a != b;
        }
    }
    let Some(conn) = reflected_definition(reflected, dialect) else {
        return false;
    };
    let conn = words(&conn);
    let meta = words(&dialect.type_ddl(ty));
    let same_first = conn.first == meta.first
        || synonyms(dialect.name()).iter().any(|batch| {
            let all = |w: &TypeWords| {
                let mut s = w.first.clone();
                for r in &w.rest {
                    s.push(' ');
                    s.push_str(r);
                }
                s
            };
            let (ca, ma) = (all(&conn), all(&meta));
            (batch.contains(&ca.as_str()) && batch.contains(&ma.as_str()))
                || (batch.contains(&conn.first.as_str()) && batch.contains(&meta.first.as_str()))
        });
    if !same_first {
        return true;
    }
    if conn.rest.len() == meta.rest.len() && conn.rest != meta.rest {
        return true;
    }
    conn.args.len() == meta.args.len() && conn.args != meta.args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::{MysqlDialect, PostgresDialect, SqliteDialect};

    #[test]
    fn splits_names_as_alembic() {
        assert_eq!(
            words("NUMERIC(10, 2)"),
            TypeWords {
                first: "numeric".into(),
                rest: vec![],
                args: vec!["10".into(), "2".into()]
            }
        );
        assert_eq!(
            words("TIMESTAMP WITHOUT TIME ZONE").rest,
            vec!["without", "time", "zone"]
        );
    }

    #[test]
    fn same_types_on_sqlite() {
        let d = &SqliteDialect;
        assert!(!types_differ(&SqlType::String(Some(30)), "VARCHAR(30)", d));
        assert!(types_differ(&SqlType::String(Some(50)), "VARCHAR(30)", d));
        assert!(!types_differ(&SqlType::Boolean, "BOOLEAN", d));
        assert!(!types_differ(&SqlType::Integer, "INT", d));
        assert!(!types_differ(
            &SqlType::Numeric(Some(10), Some(2)),
            "DECIMAL(10, 2)",
            d
        ));
        assert!(types_differ(&SqlType::Text, "VARCHAR(30)", d));
        assert!(types_differ(&SqlType::DateTime, "TIMESTAMP", d));
        // read by affinity: NVARCHAR2 is TEXT
        assert!(!types_differ(&SqlType::Text, "NVARCHAR2(9)", d));
        // a column declared without a type is not compared
        assert!(!types_differ(&SqlType::Integer, "", d));
    }

    #[test]
    fn same_types_on_servers() {
        let pg = &PostgresDialect;
        assert!(!types_differ(
            &SqlType::String(Some(30)),
            "character varying(30)",
            pg
        ));
        assert!(types_differ(
            &SqlType::String(Some(31)),
            "character varying(30)",
            pg
        ));
        assert!(!types_differ(&SqlType::Float, "double precision", pg));
        assert!(!types_differ(
            &SqlType::DateTime,
            "timestamp without time zone",
            pg
        ));
        assert!(!types_differ(
            &SqlType::Numeric(Some(10), Some(2)),
            "numeric(10,2)",
            pg
        ));
        assert!(types_differ(&SqlType::BigInteger, "integer", pg));
        let my = &MysqlDialect { mariadb: true };
        assert!(!types_differ(&SqlType::Boolean, "tinyint(1)", my));
        assert!(!types_differ(&SqlType::Integer, "int(11)", my));
        assert!(!types_differ(&SqlType::Json, "longtext", my));
        assert!(!types_differ(&SqlType::DateTime, "datetime(6)", my));
        assert!(types_differ(&SqlType::SmallInteger, "tinyint(4)", my));
        let e = |v: &[&str]| SqlType::Enum(v.iter().map(|s| s.to_string()).collect());
        assert!(!types_differ(&e(&["b", "a"]), "enum('a','b')", my));
        assert!(types_differ(&e(&["a", "c"]), "enum('a','b')", my));
    }
}

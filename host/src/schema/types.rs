//! Column types: what the DDL names them and how a value of each is stored.

use std::fmt;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
pub enum SqlType {
    Integer,
    BigInteger,
    SmallInteger,
    String(Option<u32>),
    Text,
    Float,
    Numeric(Option<u32>, Option<u32>),
    Boolean,
    Date,
    DateTime,
    Time,
    LargeBinary,
    Json,
    Enum(Rc<[String]>),
    /// The type of an expression whose type is not known (`orm.text`, `literal_column`).
    Null,
    /// `base:with_variant(other, "mysql", ...)`: another type on the named dialects.
    Variant(Rc<TypeVariant>),
    /// `orm.TypeDecorator{ impl = ... }`: the `impl` type in the database, values through
    /// the host's processing (`type_decorator.rs`).
    Decorated(Rc<super::DecoratedType>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TypeVariant {
    pub base: SqlType,
    /// (dialect name, type); the first match wins.
    pub variants: Vec<(String, SqlType)>,
}

/// How a stored value converts to and from the host language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    Integer,
    Real,
    Text,
    Boolean,
    Date,
    DateTime,
    Time,
    Blob,
    Json,
    Enum,
    Any,
    /// A decorated type's values, converted by the host's functions under this id.
    Custom(u32),
}

impl SqlType {
    /// The type a dialect uses: a variant's type for that dialect, else the type itself.
    pub fn for_dialect(&self, dialect: &str) -> &SqlType {
        match self {
            SqlType::Variant(v) => v
                .variants
                .iter()
                .find(|(d, _)| d == dialect)
                .map(|(_, t)| t.for_dialect(dialect))
                .unwrap_or_else(|| v.base.for_dialect(dialect)),
            SqlType::Decorated(d) => d.impl_.for_dialect(dialect),
            t => t,
        }
    }

    /// The type without variants (what values convert by).
    pub fn base(&self) -> &SqlType {
        match self {
            SqlType::Variant(v) => v.base.base(),
            t => t,
        }
    }

    /// `self:with_variant(other, dialects...)`.
    pub fn with_variant(&self, other: SqlType, dialects: &[String]) -> SqlType {
        let (base, mut variants) = match self {
            SqlType::Variant(v) => (v.base.clone(), v.variants.clone()),
            t => (t.clone(), Vec::new()),
        };
        for d in dialects {
            variants.insert(0, (d.clone(), other.clone()));
        }
        SqlType::Variant(Rc::new(TypeVariant { base, variants }))
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            SqlType::Variant(v) => v.base.kind(),
            SqlType::Integer | SqlType::BigInteger | SqlType::SmallInteger => ValueKind::Integer,
            SqlType::String(_) | SqlType::Text => ValueKind::Text,
            SqlType::Float | SqlType::Numeric(..) => ValueKind::Real,
            SqlType::Boolean => ValueKind::Boolean,
            SqlType::Date => ValueKind::Date,
            SqlType::DateTime => ValueKind::DateTime,
            SqlType::Time => ValueKind::Time,
            SqlType::LargeBinary => ValueKind::Blob,
            SqlType::Json => ValueKind::Json,
            SqlType::Enum(_) => ValueKind::Enum,
            SqlType::Null => ValueKind::Any,
            SqlType::Decorated(d) => ValueKind::Custom(d.id),
        }
    }

    pub fn is_integer(&self) -> bool {
        match self.base() {
            SqlType::Decorated(d) => d.impl_.is_integer(),
            t => matches!(
                t,
                SqlType::Integer | SqlType::BigInteger | SqlType::SmallInteger
            ),
        }
    }

    /// The values of an `orm.Enum` (through variants and decorators), if this is one.
    pub fn enum_values(&self) -> Option<&Rc<[String]>> {
        match self.base() {
            SqlType::Enum(items) => Some(items),
            _ => None,
        }
    }

    /// The type's name in a `type_annotation_map` / `orm.Mapped` annotation.
    pub fn from_annotation(name: &str) -> Option<SqlType> {
        Some(match name {
            "int" | "integer" => SqlType::Integer,
            "bigint" => SqlType::BigInteger,
            "smallint" => SqlType::SmallInteger,
            "str" | "string" => SqlType::String(None),
            "text" => SqlType::Text,
            "float" => SqlType::Float,
            "decimal" | "numeric" => SqlType::Numeric(None, None),
            "bool" | "boolean" => SqlType::Boolean,
            "datetime" => SqlType::DateTime,
            "date" => SqlType::Date,
            "time" => SqlType::Time,
            "bytes" => SqlType::LargeBinary,
            "json" => SqlType::Json,
            _ => return None,
        })
    }
}

/// SQLAlchemy's check of a value read for an `Enum` column (`what` names it): a
/// `LookupError` when the value is not among the enum's values.
pub fn check_enum_value(
    values: &[String],
    v: &crate::value::Value,
    what: &dyn Fn() -> String,
) -> crate::error::Result<()> {
    use crate::value::Value;
    let shown = match v {
        Value::Null => return Ok(()),
        Value::Text(s) if values.iter().any(|e| e == &**s) => return Ok(()),
        Value::Text(s) => format!("'{}'", &**s),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Blob(_) => "a blob".to_string(),
    };
    Err(crate::error::Error::new(
        crate::error::ErrorKind::LookupError,
        format!(
            "{}: {shown} is not among the defined enum values. Possible values: {}",
            what(),
            values.join(", ")
        ),
    ))
}

/// The generic type name, as SQLAlchemy's `str(type)`: `VARCHAR(50)`, `INTEGER`.
impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Integer => f.write_str("INTEGER"),
            SqlType::BigInteger => f.write_str("BIGINT"),
            SqlType::SmallInteger => f.write_str("SMALLINT"),
            SqlType::String(Some(n)) => write!(f, "VARCHAR({n})"),
            SqlType::String(None) => f.write_str("VARCHAR"),
            SqlType::Text => f.write_str("TEXT"),
            SqlType::Float => f.write_str("FLOAT"),
            SqlType::Numeric(Some(p), Some(s)) => write!(f, "NUMERIC({p}, {s})"),
            SqlType::Numeric(Some(p), None) => write!(f, "NUMERIC({p})"),
            SqlType::Numeric(..) => f.write_str("NUMERIC"),
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::DateTime => f.write_str("DATETIME"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::LargeBinary => f.write_str("BLOB"),
            SqlType::Json => f.write_str("JSON"),
            SqlType::Enum(items) => {
                let n = items.iter().map(|s| s.chars().count()).max().unwrap_or(0);
                write!(f, "VARCHAR({n})")
            }
            SqlType::Null => f.write_str("NULL"),
            SqlType::Variant(v) => v.base.fmt(f),
            SqlType::Decorated(d) => d.impl_.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_sqlalchemy() {
        assert_eq!(SqlType::String(Some(50)).to_string(), "VARCHAR(50)");
        assert_eq!(SqlType::String(None).to_string(), "VARCHAR");
        assert_eq!(
            SqlType::Numeric(Some(10), Some(2)).to_string(),
            "NUMERIC(10, 2)"
        );
        assert_eq!(
            SqlType::Enum(Rc::from(vec!["a".to_string(), "bbb".to_string()])).to_string(),
            "VARCHAR(3)"
        );
        assert_eq!(SqlType::from_annotation("str"), Some(SqlType::String(None)));
    }

    #[test]
    fn enum_values_read_back_are_checked() {
        use crate::value::Value;
        let values = vec!["a".to_string(), "b".to_string()];
        let what = || "T.e".to_string();
        assert!(check_enum_value(&values, &Value::text("a"), &what).is_ok());
        assert!(check_enum_value(&values, &Value::Null, &what).is_ok());
        let e = check_enum_value(&values, &Value::text("zz"), &what).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::LookupError);
        assert_eq!(
            e.message,
            "T.e: 'zz' is not among the defined enum values. Possible values: a, b"
        );
        let ty = SqlType::Enum(Rc::from(values.clone()));
        let v = ty.with_variant(SqlType::Text, &["mysql".to_string()]);
        assert_eq!(v.enum_values().map(|v| v.len()), Some(2));
    }
}

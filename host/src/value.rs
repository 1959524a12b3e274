//! The values the core stores and binds: SQLite's storage classes, cheap to clone.

use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Null,
    Integer(i64),
    Real(f64),
    Text(Text),
    Blob(Rc<[u8]>),
}

/// Text up to this many bytes is stored inside the value, with no allocation.
const INLINE: usize = 22;

/// A text value: short strings (names, e-mail addresses, codes) live inline in the 24 bytes
/// of a `Value`; longer ones are shared. Most column values of a typical row then cost no
/// allocation at all, which is most of the memory of a loaded object.
#[derive(Clone)]
pub enum Text {
    Inline(u8, [u8; INLINE]),
    Shared(Rc<str>),
}

impl Text {
    pub fn new(s: &str) -> Text {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            Text::Inline(s.len() as u8, buf)
        } else {
            Text::Shared(Rc::from(s))
        }
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        match self {
            // SAFETY: built from a &str in `Text::new`, whole characters only.
            Text::Inline(n, buf) => unsafe { std::str::from_utf8_unchecked(&buf[..*n as usize]) },
            Text::Shared(s) => s,
        }
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}
impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn text(s: &str) -> Value {
        Value::Text(Text::new(s))
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    /// SQL-style truthiness used by in-Python evaluation (`synchronize_session="evaluate"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

/// What a host value was before it became a `Value` (a boolean is stored as an integer):
/// for a dialect that must say a bound parameter's type (`orm.text` binds on PostgreSQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindKind {
    Integer,
    Real,
    Boolean,
    Other,
}

/// Values compare as SQLite compares storage classes of equal type; an integer and a real of
/// the same magnitude are equal (net-change detection treats `1` and `1.0` as unchanged).
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Integer(a), Value::Integer(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::Integer(a), Value::Real(b)) | (Value::Real(b), Value::Integer(a)) => {
                (*a as f64) == *b
            }
            (Value::Text(a), Value::Text(b)) => a == b,
            (Value::Blob(a), Value::Blob(b)) => a == b,
            _ => false,
        }
    }
}
impl Eq for Value {}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Value::Null => 0u8.hash(state),
            Value::Integer(i) => {
                1u8.hash(state);
                i.hash(state)
            }
            Value::Real(r) => {
                // Integral reals hash like the integer they equal.
                if r.fract() == 0.0 && r.abs() < 9.0e15 {
                    1u8.hash(state);
                    (*r as i64).hash(state)
                } else {
                    2u8.hash(state);
                    r.to_bits().hash(state)
                }
            }
            Value::Text(s) => {
                3u8.hash(state);
                s.hash(state)
            }
            Value::Blob(b) => {
                4u8.hash(state);
                b.hash(state)
            }
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Integer(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::text(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Integer(v as i64)
    }
}

impl rusqlite::ToSql for Value {
    #[inline]
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Value {
    #[inline]
    pub fn from_sql(v: rusqlite::types::ValueRef<'_>) -> Value {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            // valid UTF-8 (the usual case) is checked by the fast validator; only invalid
            // text takes the lossy conversion's slower walk
            ValueRef::Text(t) => Value::Text(match std::str::from_utf8(t) {
                Ok(s) => Text::new(s),
                Err(_) => Text::new(&String::from_utf8_lossy(t)),
            }),
            ValueRef::Blob(b) => Value::Blob(Rc::from(b)),
        }
    }
}

/// Renders one value the way Python's repr shows it in SQLAlchemy's log.
pub fn format_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(r) => {
            if r.fract() == 0.0 && r.is_finite() {
                let _ = write!(out, "{r:.1}");
            } else {
                let _ = write!(out, "{r}");
            }
        }
        Value::Text(s) => {
            out.push('\'');
            for c in s.chars() {
                match c {
                    '\'' => out.push_str("\\'"),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('\'');
        }
        Value::Blob(b) => {
            let _ = write!(out, "<{} bytes>", b.len());
        }
    }
}

/// A parameter tuple as SQLAlchemy logs it: `('ed', 1)`, `(1,)`, `()`.
pub fn format_params(params: &[Value]) -> String {
    let mut out = String::from("(");
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        format_value(&mut out, p);
    }
    if params.len() == 1 {
        out.push(',');
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_render_like_python_tuples() {
        assert_eq!(format_params(&[]), "()");
        assert_eq!(format_params(&[Value::Integer(1)]), "(1,)");
        assert_eq!(
            format_params(&[Value::text("ed"), Value::Null, Value::Real(2.0)]),
            "('ed', None, 2.0)"
        );
    }

    #[test]
    fn integral_real_equals_integer() {
        assert_eq!(Value::Integer(3), Value::Real(3.0));
        assert_ne!(Value::Integer(3), Value::text("3"));
    }
}

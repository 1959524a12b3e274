//! Whether a column's server default changed (Alembic's `compare_server_default`, which
//! lualchemy always runs): both sides' SQL text normalized the way each database reports
//! a default — outer parentheses, PostgreSQL's `::type` casts, the quotes of a literal
//! (`'5'` is `5`), the case of a keyword (`CURRENT_TIMESTAMP`, MariaDB's
//! `current_timestamp()`, PostgreSQL's `now()`), a boolean's spelling — and compared.

use crate::schema::{SqlType, ValueKind};

/// Removes one pair of parentheses around the whole text.
fn strip_parens(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    // `(a) + (b)` is not wrapped as a whole
    let mut depth = 0i32;
    for ch in inner.chars() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            _ => {}
        }
    }
    (depth == 0).then_some(inner)
}

/// Removes PostgreSQL's trailing cast (`'a'::character varying`, `0::numeric(10,2)`).
pub fn strip_cast(s: &str) -> &str {
    let mut in_quote = false;
    let mut last = None;
    let b = s.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'\'' => in_quote = !in_quote,
            b':' if !in_quote && i + 1 < b.len() && b[i + 1] == b':' => last = Some(i),
            _ => {}
        }
    }
    match last {
        Some(i)
            if s[i + 2..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " _(),".contains(c)) =>
        {
            s[..i].trim_end()
        }
        _ => s,
    }
}

/// A default's SQL text as it compares.
pub fn normalize(sql: Option<&str>, ty: &SqlType) -> Option<String> {
    let mut s = sql?.trim();
    loop {
        let before = s;
        if let Some(inner) = strip_parens(s) {
            s = inner.trim();
        }
        s = strip_cast(s);
        if s == before {
            break;
        }
    }
    let value = match s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        Some(lit) => lit.replace("''", "'"),
        None => {
            let lower = s.to_ascii_lowercase();
            match lower.as_str() {
                "now()" | "current_timestamp()" | "current_timestamp" => {
                    "current_timestamp".to_string()
                }
                "current_date()" => "current_date".to_string(),
                _ => lower,
            }
        }
    };
    // a number reads as the database writes it (MariaDB's `0.00` for a NUMERIC(10, 2) `'0'`)
    if matches!(ty.kind(), ValueKind::Integer | ValueKind::Real) {
        if let Ok(n) = value.parse::<f64>() {
            return Some(n.to_string());
        }
    }
    if matches!(ty.base(), SqlType::Boolean) {
        match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "t" => return Some("true".into()),
            "0" | "false" | "f" => return Some("false".into()),
            _ => {}
        }
    }
    Some(value)
}

/// True when the models' default and the database's default differ.
pub fn defaults_differ(metadata: Option<&str>, reflected: Option<&str>, ty: &SqlType) -> bool {
    normalize(metadata, ty) != normalize(reflected, ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults_as_each_database_reports_them() {
        let s = SqlType::String(Some(10));
        assert!(!defaults_differ(
            Some("'x'"),
            Some("'x'::character varying"),
            &s
        ));
        assert!(defaults_differ(Some("'y'"), Some("'x'"), &s));
        assert!(!defaults_differ(Some("'5'"), Some("5"), &SqlType::Integer));
        assert!(!defaults_differ(
            Some("'0'"),
            Some("0.00"),
            &SqlType::Numeric(Some(10), Some(2))
        ));
        assert!(defaults_differ(Some("'1'"), Some("0.00"), &SqlType::Float));
        assert!(!defaults_differ(
            Some("(CURRENT_TIMESTAMP)"),
            Some("current_timestamp()"),
            &SqlType::DateTime
        ));
        assert!(!defaults_differ(
            Some("'1'"),
            Some("true"),
            &SqlType::Boolean
        ));
        assert!(defaults_differ(Some("'a'"), None, &s));
        assert!(!defaults_differ(None, None, &s));
        assert!(!defaults_differ(Some("'it''s'"), Some("'it''s'::text"), &s));
    }
}

//! PostgreSQL: `$n` placeholders, SERIAL keys, RETURNING, native ILIKE, BYTEA, JSON,
//! `TIMESTAMP WITHOUT TIME ZONE`; multi-row INSERTs in batches of up to 1,000 rows.

use super::{quote_with, Dialect};
use crate::schema::SqlType;
use crate::value::Value;

#[derive(Clone, Copy, Debug, Default)]
pub struct PostgresDialect;

/// Words PostgreSQL reserves beyond SQLite's list (sorted).
const RESERVED: &[&str] = &[
    "analyse",
    "array",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "collation",
    "concurrently",
    "current_catalog",
    "current_role",
    "current_schema",
    "current_user",
    "fetch",
    "freeze",
    "grant",
    "ilike",
    "lateral",
    "leading",
    "localtime",
    "localtimestamp",
    "only",
    "overlaps",
    "placing",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "tablesample",
    "trailing",
    "variadic",
    "verbose",
];

impl Dialect for PostgresDialect {
    fn name(&self) -> &'static str {
        "postgresql"
    }

    fn quote_identifier(&self, ident: &str, out: &mut String) {
        quote_with(ident, RESERVED, '"', out)
    }

    fn placeholder(&self, n: usize, out: &mut String) {
        out.push('$');
        out.push_str(&n.to_string());
    }

    fn type_ddl(&self, ty: &SqlType) -> String {
        match ty.for_dialect(self.name()) {
            SqlType::DateTime => "TIMESTAMP WITHOUT TIME ZONE".into(),
            SqlType::Time => "TIME WITHOUT TIME ZONE".into(),
            SqlType::LargeBinary => "BYTEA".into(),
            SqlType::Float => "FLOAT".into(),
            other => other.to_string(),
        }
    }

    fn column_type_ddl(&self, ty: &SqlType, autoincrement: bool) -> String {
        match (ty.for_dialect(self.name()), autoincrement) {
            (SqlType::Integer, true) => "SERIAL".into(),
            (SqlType::BigInteger, true) => "BIGSERIAL".into(),
            (SqlType::SmallInteger, true) => "SMALLSERIAL".into(),
            (t, _) => self.type_ddl(t),
        }
    }

    /// Numbers and booleans bound in `orm.text` say their type, as psycopg 3 sends Python's
    /// (`SELECT :a + :b` has no type to guess from): the narrowest integer type that holds
    /// the value, so that an `integer` parameter of a function takes it; strings stay
    /// untyped, for the server to read as the column or function they meet needs.
    fn text_bind_cast(&self, kind: crate::value::BindKind, value: &Value) -> Option<&'static str> {
        use crate::value::BindKind;
        match kind {
            BindKind::Integer | BindKind::Real => self.untyped_bind_cast(value),
            BindKind::Boolean => Some("::BOOLEAN"),
            BindKind::Other => None,
        }
    }

    fn checks_foreign_keys_at_create(&self) -> bool {
        true
    }

    fn offset_without_limit(&self) -> &'static str {
        ""
    }

    /// As SQLAlchemy's psycopg dialect renders bind casts: a bare `$1` would be text, or
    /// of no type the server can determine.
    fn untyped_bind_cast(&self, v: &Value) -> Option<&'static str> {
        match v {
            Value::Integer(i) if i32::try_from(*i).is_ok() => Some("::INTEGER"),
            Value::Integer(_) => Some("::BIGINT"),
            Value::Real(_) => Some("::FLOAT"),
            // a string where any type would do (concat's arguments) must say it is one
            Value::Text(_) => Some("::VARCHAR"),
            _ => None,
        }
    }

    fn repeated_bind(&self) -> super::RepeatedBind {
        super::RepeatedBind::SamePlaceholder
    }

    fn true_division(&self) -> super::TrueDivision {
        super::TrueDivision::CastNumeric
    }

    fn native_ilike(&self) -> bool {
        true
    }

    fn now(&self) -> &'static str {
        "now()"
    }

    fn sync_sequence_sql(&self, table: &str, column: &str) -> Option<String> {
        let (mut t, mut c) = (String::new(), String::new());
        self.quote_identifier(table, &mut t);
        self.quote_identifier(column, &mut c);
        // the next generated key follows the largest in the table, as SQLite's rowid
        Some(format!(
            "SELECT setval(pg_get_serial_sequence('{}', '{}'), max({c})) FROM {t}",
            t.replace('\'', "''"),
            column.replace('\'', "''"),
        ))
    }

    fn insert_batch_rows(&self) -> usize {
        1000
    }

    fn update_batch_rows(&self) -> usize {
        1000
    }

    fn max_params(&self) -> usize {
        65535
    }

    fn has_table_sql(&self) -> &'static str {
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
         ON n.oid = c.relnamespace WHERE c.relname = $1 AND c.relkind IN ('r', 'p') \
         AND n.nspname = current_schema()"
    }
}

#[cfg(test)]
pub(crate) const RESERVED_FOR_TESTS: &[&str] = RESERVED;

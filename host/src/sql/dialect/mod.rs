//! What differs between databases: identifier quoting, placeholders, type names, the
//! catalog queries. The compiler asks the dialect; the ORM never does.

pub mod backend;
pub mod mysql;
pub mod postgres;
pub mod sqlite;

use crate::schema::SqlType;

pub use backend::Backend;
pub use mysql::MysqlDialect;
pub use postgres::PostgresDialect;
pub use sqlite::SqliteDialect;

/// The dialect of an engine's database (`None`: SQLite).
pub fn for_backend(backend: Option<Backend>) -> Box<dyn Dialect> {
    match backend {
        None => Box::new(SqliteDialect),
        Some(Backend::Postgres) => Box::new(PostgresDialect),
        Some(Backend::Mysql) => Box::new(MysqlDialect { mariadb: false }),
        Some(Backend::Mariadb) => Box::new(MysqlDialect { mariadb: true }),
    }
}

/// The statements RETURNING may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dml {
    Insert,
    Update,
    Delete,
}

/// How a dialect makes `/` true division (SQLAlchemy's `visit_truediv_binary`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrueDivision {
    /// `/` already divides integers exactly (MySQL): `a / b`; `a // b` is `FLOOR(a / b)`.
    Native,
    /// `a / (b + 0.0)` (SQLite).
    AddZero,
    /// `a / CAST(b AS NUMERIC)`, or as `b`'s own type when it is FLOAT or NUMERIC
    /// (PostgreSQL).
    CastNumeric,
}

/// How GROUP BY / HAVING repeat a selected label's expression that binds parameters, so
/// the database sees the same expression as in the columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepeatedBind {
    /// The expression with new placeholders (SQLite compares the values).
    Again,
    /// The expression with the column's own numbered placeholders (PostgreSQL's `$1`).
    SamePlaceholder,
    /// The label's name (MySQL, whose `?` cannot repeat).
    LabelName,
}

/// The dialect that renders a statement no engine is compiling it for (`tostring(stmt)`):
/// SQLite's, whose SQL reads as the generic SQL SQLAlchemy's string compiler shows.
pub fn default_dialect() -> &'static dyn Dialect {
    &SqliteDialect
}

pub trait Dialect {
    fn name(&self) -> &'static str;

    /// Appends `ident`, quoted when it needs quoting (reserved word, upper case, odd chars).
    fn quote_identifier(&self, ident: &str, out: &mut String) {
        quote_with(ident, &[], '"', out)
    }

    /// Appends the placeholder for the `n`th (1-based) parameter.
    fn placeholder(&self, _n: usize, out: &mut String) {
        out.push('?');
    }

    /// The type's name in CREATE TABLE and CAST.
    fn type_ddl(&self, ty: &SqlType) -> String {
        ty.for_dialect(self.name()).to_string()
    }

    /// A column's type in CREATE TABLE; `autoincrement` for the integer primary key the
    /// database generates (SQLite's rowid alias needs nothing more than its type).
    fn column_type_ddl(&self, ty: &SqlType, _autoincrement: bool) -> String {
        self.type_ddl(ty.for_dialect(self.name()))
    }

    /// What follows `NOT NULL` on the generated key column (MySQL's `AUTO_INCREMENT`).
    fn autoincrement_suffix(&self) -> &'static str {
        ""
    }

    fn supports_returning(&self, _on: Dml) -> bool {
        true
    }

    /// What stands in for "no limit" when only an OFFSET is given.
    fn offset_without_limit(&self) -> &'static str {
        " LIMIT -1"
    }

    /// True when the database has a case-insensitive LIKE operator (`ILIKE`); otherwise
    /// both sides are lowered.
    fn native_ilike(&self) -> bool {
        false
    }

    /// How `a / b` (true division, SQLAlchemy 2.0's `/`) renders where `/` of two integers
    /// would truncate.
    fn true_division(&self) -> TrueDivision {
        TrueDivision::AddZero
    }

    /// How a selected label's expression with parameters is repeated in GROUP BY / HAVING.
    fn repeated_bind(&self) -> RepeatedBind {
        RepeatedBind::Again
    }

    /// `func.now()`.
    fn now(&self) -> &'static str {
        "CURRENT_TIMESTAMP"
    }

    /// `a || b`: SQL's concatenation operator, or a function call where `||` means OR.
    fn concat_function(&self) -> Option<&'static str> {
        None
    }

    /// What follows the placeholder of a number bound with no SQL type (`orm.literal(3)`,
    /// a CASE result), where the database would otherwise take it for text.
    fn untyped_bind_cast(&self, _v: &crate::value::Value) -> Option<&'static str> {
        None
    }

    /// After rows were inserted with explicit values for `table`'s generated key column:
    /// a statement that moves its sequence past them (PostgreSQL's SERIAL does not follow
    /// explicit values as SQLite's rowid and MySQL's AUTO_INCREMENT do).
    fn sync_sequence_sql(&self, _table: &str, _column: &str) -> Option<String> {
        None
    }

    /// True when CREATE TABLE checks that the tables its foreign keys name exist: tables
    /// that reference each other then get those keys by ALTER TABLE.
    fn checks_foreign_keys_at_create(&self) -> bool {
        false
    }

    /// What drops a named foreign key in ALTER TABLE.
    fn drop_foreign_key(&self) -> &'static str {
        "DROP CONSTRAINT"
    }

    /// What follows the closing parenthesis of CREATE TABLE.
    fn table_options(&self) -> &'static str {
        ""
    }

    /// What follows the placeholder of an `orm.text` bind of `value` (a host value of
    /// `kind`), where the database would otherwise guess its type from the SQL around it.
    fn text_bind_cast(
        &self,
        _kind: crate::value::BindKind,
        _value: &crate::value::Value,
    ) -> Option<&'static str> {
        None
    }

    /// `IS true` / `IS false`: how the dialect spells a boolean literal.
    fn boolean_literal(&self, value: bool) -> &'static str {
        if value {
            "true"
        } else {
            "false"
        }
    }

    /// An INSERT of nothing but defaults.
    fn default_values(&self) -> &'static str {
        " DEFAULT VALUES"
    }

    /// The most rows one multi-row INSERT carries (bounded by the parameter limit too).
    fn insert_batch_rows(&self) -> usize {
        1
    }

    /// The most rows one UPDATE joined to a VALUES list carries (1: one UPDATE per row).
    fn update_batch_rows(&self) -> usize {
        1
    }

    /// A batched UPDATE joins a derived table of the rows (`UPDATE t JOIN (SELECT ...
    /// UNION ALL ...)`, MySQL) instead of `UPDATE ... FROM (VALUES ...)` (PostgreSQL).
    fn batched_update_joins(&self) -> bool {
        false
    }

    /// How `with_for_update{...}` renders (SQLite: not at all, as SQLAlchemy's).
    fn lock_style(&self) -> crate::sql::locking::LockStyle {
        crate::sql::locking::LockStyle::Postgres
    }

    /// True when aggregates take `FILTER (WHERE ...)`; otherwise `f(x) FILTER (WHERE c)`
    /// renders as `f(CASE WHEN c THEN x END)`, which the aggregates that skip NULLs read
    /// the same way.
    fn native_filter(&self) -> bool {
        true
    }

    /// `(a, b) IN (VALUES (?, ?), ...)` rather than `IN ((?, ?), ...)`: SQLite takes a row
    /// value on the left of IN only against a subquery.
    fn row_value_in_values(&self) -> bool {
        false
    }

    /// The most parameters one statement may bind.
    fn max_params(&self) -> usize {
        32766
    }

    /// A query returning one row when `table` exists.
    fn has_table_sql(&self) -> &'static str;
}

const RESERVED: &[&str] = &[
    "add",
    "after",
    "all",
    "alter",
    "analyze",
    "and",
    "as",
    "asc",
    "attach",
    "autoincrement",
    "before",
    "begin",
    "between",
    "by",
    "cascade",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "commit",
    "conflict",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "database",
    "default",
    "deferrable",
    "deferred",
    "delete",
    "desc",
    "detach",
    "distinct",
    "do",
    "drop",
    "each",
    "else",
    "end",
    "escape",
    "except",
    "exclusive",
    "exists",
    "explain",
    "fail",
    "false",
    "filter",
    "for",
    "foreign",
    "from",
    "full",
    "generated",
    "glob",
    "group",
    "having",
    "if",
    "ignore",
    "immediate",
    "in",
    "index",
    "indexed",
    "initially",
    "inner",
    "insert",
    "instead",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "key",
    "left",
    "like",
    "limit",
    "match",
    "materialized",
    "natural",
    "not",
    "nothing",
    "notnull",
    "null",
    "of",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "over",
    "plan",
    "pragma",
    "primary",
    "query",
    "raise",
    "recursive",
    "references",
    "reindex",
    "rename",
    "replace",
    "restrict",
    "returning",
    "right",
    "rollback",
    "row",
    "select",
    "set",
    "table",
    "temp",
    "temporary",
    "then",
    "to",
    "transaction",
    "trigger",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "vacuum",
    "values",
    "view",
    "virtual",
    "when",
    "where",
    "window",
    "with",
];

/// SQLAlchemy quotes names that are reserved words, contain upper case, or are not plain
/// identifiers.
pub fn needs_quotes(ident: &str) -> bool {
    needs_quotes_with(ident, &[])
}

/// Appends `ident`, in `quote`s (doubled inside) when it is reserved (SQLite's words or the
/// dialect's `extra`) or not a plain lower-case identifier.
pub fn quote_with(ident: &str, extra: &[&str], quote: char, out: &mut String) {
    if needs_quotes_with(ident, extra) {
        out.push(quote);
        for c in ident.chars() {
            if c == quote {
                out.push(quote);
            }
            out.push(c);
        }
        out.push(quote);
    } else {
        out.push_str(ident);
    }
}

/// `needs_quotes`, with a dialect's own reserved words (sorted) besides SQLite's.
pub fn needs_quotes_with(ident: &str, extra: &[&str]) -> bool {
    if extra.binary_search(&ident).is_ok() {
        return true;
    }
    let mut chars = ident.chars();
    let plain_start = matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_');
    let plain_rest = ident
        .chars()
        .skip(1)
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    // RESERVED is sorted: a binary search, not a scan, per identifier compiled
    !(plain_start && plain_rest) || RESERVED.binary_search(&ident).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_for_binary_search() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(needs_quotes("nothing") && needs_quotes("select") && !needs_quotes("title"));
    }

    #[test]
    fn quotes_only_what_needs_it() {
        let d = SqliteDialect;
        let q = |s: &str| {
            let mut out = String::new();
            d.quote_identifier(s, &mut out);
            out
        };
        assert_eq!(q("users"), "users");
        assert_eq!(q("order"), "\"order\"");
        assert_eq!(q("Users"), "\"Users\"");
        assert_eq!(q("a\"b"), "\"a\"\"b\"");
        assert_eq!(q("x; DROP TABLE t"), "\"x; DROP TABLE t\"");
    }
}

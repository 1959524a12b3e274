//! What differs between databases: identifier quoting, placeholders, type names, the
//! catalog queries. The compiler asks the dialect; the ORM never does.

pub mod sqlite;

use crate::schema::SqlType;

pub use sqlite::SqliteDialect;

/// The dialect that renders a statement no engine is compiling it for (`tostring(stmt)`):
/// SQLite's, whose SQL reads as the generic SQL SQLAlchemy's string compiler shows.
pub fn default_dialect() -> &'static dyn Dialect {
    &SqliteDialect
}

pub trait Dialect {
    fn name(&self) -> &'static str;

    /// Appends `ident`, quoted when it needs quoting (reserved word, upper case, odd chars).
    fn quote_identifier(&self, ident: &str, out: &mut String) {
        if needs_quotes(ident) {
            out.push('"');
            out.push_str(&ident.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(ident);
        }
    }

    /// Appends the placeholder for the `n`th (1-based) parameter.
    fn placeholder(&self, _n: usize, out: &mut String) {
        out.push('?');
    }

    /// The type's name in CREATE TABLE.
    fn type_ddl(&self, ty: &SqlType) -> String {
        ty.to_string()
    }

    fn supports_returning(&self) -> bool {
        true
    }

    /// LIMIT/OFFSET clause (both already bound as parameters by the caller when present).
    fn limit_offset(&self, limit: bool, offset: bool, out: &mut String) {
        if limit {
            out.push_str(" LIMIT ?");
        }
        if offset {
            if !limit {
                out.push_str(" LIMIT -1");
            }
            out.push_str(" OFFSET ?");
        }
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

//! MySQL and MariaDB: backquoted names, `?` placeholders, AUTO_INCREMENT keys read back
//! through the last-insert id (MariaDB named as such: `INSERT ... RETURNING`), `concat()`,
//! native ENUM, DATETIME(6) and TIME(6) so microseconds survive, DOUBLE for `Float`.

use super::{quote_with, Dialect, Dml};
use crate::schema::SqlType;

#[derive(Clone, Copy, Debug, Default)]
pub struct MysqlDialect {
    /// MariaDB 10.5+: RETURNING on INSERT and DELETE.
    pub mariadb: bool,
}

/// Words MySQL and MariaDB reserve beyond SQLite's list (sorted).
const RESERVED: &[&str] = &[
    "accessible",
    "bigint",
    "binary",
    "blob",
    "both",
    "call",
    "change",
    "char",
    "character",
    "condition",
    "continue",
    "convert",
    "cube",
    "cume_dist",
    "current_role",
    "current_user",
    "cursor",
    "databases",
    "day_hour",
    "day_microsecond",
    "day_minute",
    "day_second",
    "dec",
    "decimal",
    "declare",
    "delayed",
    "dense_rank",
    "describe",
    "distinctrow",
    "div",
    "double",
    "dual",
    "empty",
    "enclosed",
    "escaped",
    "exit",
    "fetch",
    "first_value",
    "float",
    "float4",
    "float8",
    "force",
    "fulltext",
    "function",
    "generated",
    "get",
    "grant",
    "grouping",
    "groups",
    "high_priority",
    "hour_microsecond",
    "hour_minute",
    "hour_second",
    "ignore_server_ids",
    "infile",
    "inout",
    "int",
    "int1",
    "int2",
    "int3",
    "int4",
    "int8",
    "integer",
    "interval",
    "iterate",
    "json_table",
    "keys",
    "kill",
    "lag",
    "last_value",
    "lateral",
    "lead",
    "leading",
    "leave",
    "linear",
    "lines",
    "load",
    "localtime",
    "localtimestamp",
    "lock",
    "long",
    "longblob",
    "longtext",
    "loop",
    "low_priority",
    "master_ssl_verify_server_cert",
    "maxvalue",
    "mediumblob",
    "mediumint",
    "mediumtext",
    "middleint",
    "minute_microsecond",
    "minute_second",
    "mod",
    "modifies",
    "nth_value",
    "ntile",
    "numeric",
    "optimize",
    "option",
    "optionally",
    "out",
    "outfile",
    "over",
    "page_checksum",
    "parse_vcol_expr",
    "percent_rank",
    "position",
    "precision",
    "procedure",
    "purge",
    "range",
    "rank",
    "read",
    "reads",
    "real",
    "regexp",
    "release",
    "repeat",
    "require",
    "resignal",
    "return",
    "returning",
    "revoke",
    "rlike",
    "row_number",
    "rows",
    "schema",
    "schemas",
    "second_microsecond",
    "sensitive",
    "separator",
    "show",
    "signal",
    "slow",
    "smallint",
    "spatial",
    "specific",
    "sql",
    "sql_big_result",
    "sql_calc_found_rows",
    "sql_small_result",
    "sqlexception",
    "sqlstate",
    "sqlwarning",
    "ssl",
    "starting",
    "stats_auto_recalc",
    "stats_persistent",
    "stats_sample_pages",
    "status",
    "stored",
    "straight_join",
    "system",
    "terminated",
    "tinyblob",
    "tinyint",
    "tinytext",
    "trailing",
    "undo",
    "unlock",
    "unsigned",
    "usage",
    "use",
    "utc_date",
    "utc_time",
    "utc_timestamp",
    "varbinary",
    "varchar",
    "varying",
    "virtual",
    "while",
    "write",
    "xor",
    "year_month",
    "zerofill",
];

impl Dialect for MysqlDialect {
    fn name(&self) -> &'static str {
        if self.mariadb {
            "mariadb"
        } else {
            "mysql"
        }
    }

    fn quote_identifier(&self, ident: &str, out: &mut String) {
        quote_with(ident, RESERVED, '`', out)
    }

    fn type_ddl(&self, ty: &SqlType) -> String {
        match ty.for_dialect(self.name()) {
            // MySQL has no VARCHAR without a length; SQLAlchemy raises, lualchemy takes 255
            SqlType::String(None) => "VARCHAR(255)".into(),
            SqlType::Boolean => "BOOL".into(),
            SqlType::DateTime => "DATETIME(6)".into(),
            SqlType::Time => "TIME(6)".into(),
            SqlType::Float => "DOUBLE".into(),
            SqlType::Enum(items) => {
                let quoted: Vec<String> = items
                    .iter()
                    .map(|s| format!("'{}'", s.replace('\'', "''")))
                    .collect();
                format!("ENUM({})", quoted.join(","))
            }
            other => other.to_string(),
        }
    }

    fn checks_foreign_keys_at_create(&self) -> bool {
        true
    }

    fn drop_foreign_key(&self) -> &'static str {
        "DROP FOREIGN KEY"
    }

    /// Text compares and sorts by code point, case-sensitive, as on SQLite and PostgreSQL
    /// (MySQL's default collation ignores case).
    fn table_options(&self) -> &'static str {
        " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }

    fn autoincrement_suffix(&self) -> &'static str {
        " AUTO_INCREMENT"
    }

    fn supports_returning(&self, on: Dml) -> bool {
        self.mariadb && on != Dml::Update
    }

    fn offset_without_limit(&self) -> &'static str {
        " LIMIT 18446744073709551615"
    }

    fn repeated_bind(&self) -> super::RepeatedBind {
        super::RepeatedBind::LabelName
    }

    fn true_division(&self) -> super::TrueDivision {
        super::TrueDivision::Native
    }

    fn now(&self) -> &'static str {
        "now()"
    }

    fn concat_function(&self) -> Option<&'static str> {
        Some("concat")
    }

    fn default_values(&self) -> &'static str {
        " () VALUES ()"
    }

    fn insert_batch_rows(&self) -> usize {
        1000
    }

    fn update_batch_rows(&self) -> usize {
        1000
    }

    fn batched_update_joins(&self) -> bool {
        true
    }

    fn max_params(&self) -> usize {
        65535
    }

    fn native_filter(&self) -> bool {
        false
    }

    fn lock_style(&self) -> crate::sql::locking::LockStyle {
        crate::sql::locking::LockStyle::Mysql
    }

    fn has_table_sql(&self) -> &'static str {
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() \
         AND table_name = ?"
    }
}

#[cfg(test)]
mod tests {
    use super::super::postgres::RESERVED_FOR_TESTS as PG;
    use super::*;

    #[test]
    fn reserved_words_are_sorted() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(PG.windows(2).all(|w| w[0] < w[1]));
        let mut s = String::new();
        MysqlDialect { mariadb: false }.quote_identifier("rank", &mut s);
        assert_eq!(s, "`rank`");
    }
}

//! Before a column's type changes: the rows whose value would not fit the new type (a
//! string longer than the new length, an integer out of the new range, a fraction going
//! to an integer type), found by a query so the change can be refused rather than
//! truncate data.

use crate::schema::SqlType;
use crate::sql::Dialect;

/// The SELECT of the primary keys (`pk`, in order) of the rows of `table` whose `column`
/// does not fit `new`; `None` when any value fits.
pub fn offending_rows_sql(
    d: &dyn Dialect,
    table: &str,
    pk: &[String],
    column: &str,
    new: &SqlType,
) -> Option<String> {
    let mut col = String::new();
    d.quote_identifier(column, &mut col);
    let cond = match new.for_dialect(d.name()) {
        SqlType::String(Some(n)) => {
            let len = if matches!(d.name(), "mysql" | "mariadb") {
                "CHAR_LENGTH"
            } else {
                "length"
            };
            format!("{len}({col}) > {n}")
        }
        SqlType::SmallInteger => int_range(&col, -32768, 32767, d),
        SqlType::Integer => int_range(&col, -2147483648, 2147483647, d),
        _ => return None,
    };
    let mut s = String::from("SELECT ");
    for (i, p) in pk.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        d.quote_identifier(p, &mut s);
    }
    s.push_str(" FROM ");
    d.quote_identifier(table, &mut s);
    s.push_str(" WHERE ");
    s.push_str(&cond);
    s.push_str(" ORDER BY ");
    for (i, p) in pk.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        d.quote_identifier(p, &mut s);
    }
    Some(s)
}

/// Out of range, or (a REAL or NUMERIC value) with a fraction.
fn int_range(col: &str, lo: i64, hi: i64, d: &dyn Dialect) -> String {
    let fraction = if d.name() == "sqlite" {
        format!(" OR (typeof({col}) = 'real' AND {col} <> CAST({col} AS INTEGER))")
    } else {
        String::new()
    };
    format!("({col} < {lo} OR {col} > {hi}{fraction})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::dialect::{MysqlDialect, SqliteDialect};

    #[test]
    fn the_check_per_new_type() {
        let pk = vec!["id".to_string()];
        assert_eq!(
            offending_rows_sql(&SqliteDialect, "t", &pk, "name", &SqlType::String(Some(10)))
                .unwrap(),
            "SELECT id FROM t WHERE length(name) > 10 ORDER BY id"
        );
        assert_eq!(
            offending_rows_sql(
                &MysqlDialect { mariadb: true },
                "t",
                &pk,
                "name",
                &SqlType::String(Some(10))
            )
            .unwrap(),
            "SELECT id FROM t WHERE CHAR_LENGTH(name) > 10 ORDER BY id"
        );
        assert!(
            offending_rows_sql(&SqliteDialect, "t", &pk, "n", &SqlType::SmallInteger)
                .unwrap()
                .contains("n < -32768 OR n > 32767")
        );
        assert!(offending_rows_sql(&SqliteDialect, "t", &pk, "n", &SqlType::Text).is_none());
    }
}

//! A database's type name (`VARCHAR(50)`, `int(11)`, `double precision`,
//! `timestamp without time zone`) as the lualchemy type SQLAlchemy would read it as.

use crate::schema::SqlType;

/// The type of `name` as `dialect` (`sqlite`, `postgresql`, `mysql`, `mariadb`) reports it.
/// Names no type matches follow SQLite's affinity rules on SQLite (as SQLAlchemy's
/// `_resolve_type_affinity`) and read as the untyped `NullType` elsewhere.
pub fn type_from_name(name: &str, dialect: &str) -> SqlType {
    let lower = name.trim().to_ascii_lowercase();
    let (base, args) = match lower.find('(') {
        Some(i) => {
            let inner = lower[i + 1..].split(')').next().unwrap_or("");
            let args: Vec<u32> = inner
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            // `varchar(50) character set ...`: what follows the arguments is not the type
            (lower[..i].trim().to_string(), args)
        }
        None => (lower.clone(), Vec::new()),
    };
    let base = base
        .trim_end_matches(" unsigned")
        .trim_end_matches(" zerofill")
        .trim();
    let arg = |i: usize| args.get(i).copied();
    let known = match base {
        "integer" | "int" | "int4" | "mediumint" | "serial" => Some(SqlType::Integer),
        "bigint" | "int8" | "bigserial" => Some(SqlType::BigInteger),
        "smallint" | "int2" | "tinyint" | "smallserial" => Some(SqlType::SmallInteger),
        "varchar" | "character varying" | "nvarchar" | "char" | "character" | "nchar"
        | "bpchar" => Some(SqlType::String(arg(0))),
        "text" | "clob" | "tinytext" | "mediumtext" | "longtext" => Some(SqlType::Text),
        "float" | "real" | "double" | "double precision" | "float4" | "float8" => {
            Some(SqlType::Float)
        }
        "numeric" | "decimal" => Some(SqlType::Numeric(arg(0), arg(1))),
        "boolean" | "bool" => Some(SqlType::Boolean),
        "date" => Some(SqlType::Date),
        "datetime" | "timestamp" | "timestamp without time zone" => Some(SqlType::DateTime),
        "time" | "time without time zone" => Some(SqlType::Time),
        "blob" | "bytea" | "binary" | "varbinary" | "tinyblob" | "mediumblob" | "longblob" => {
            Some(SqlType::LargeBinary)
        }
        "json" | "jsonb" => Some(SqlType::Json),
        _ => None,
    };
    if let Some(t) = known {
        return t;
    }
    if dialect != "sqlite" {
        return SqlType::Null;
    }
    // SQLite's affinity, in the order its documentation gives
    let upper = base.to_ascii_uppercase();
    if upper.contains("INT") {
        SqlType::Integer
    } else if ["CHAR", "CLOB", "TEXT"].iter().any(|w| upper.contains(w)) {
        SqlType::Text
    } else if upper.is_empty() || upper.contains("BLOB") {
        SqlType::Null
    } else if ["REAL", "FLOA", "DOUB"].iter().any(|w| upper.contains(w)) {
        SqlType::Float
    } else {
        SqlType::Numeric(None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_types_as_sqlalchemy() {
        let t = |n: &str, d: &str| type_from_name(n, d);
        assert_eq!(t("VARCHAR(50)", "sqlite"), SqlType::String(Some(50)));
        assert_eq!(
            t("NUMERIC(10, 2)", "sqlite"),
            SqlType::Numeric(Some(10), Some(2))
        );
        assert_eq!(t("BOOLEAN", "sqlite"), SqlType::Boolean);
        assert_eq!(t("DATETIME", "sqlite"), SqlType::DateTime);
        assert_eq!(t("int(11)", "mysql"), SqlType::Integer);
        assert_eq!(t("tinyint(1)", "mariadb"), SqlType::SmallInteger);
        assert_eq!(
            t("decimal(10,2)", "mariadb"),
            SqlType::Numeric(Some(10), Some(2))
        );
        assert_eq!(t("double precision", "postgresql"), SqlType::Float);
        assert_eq!(
            t("timestamp without time zone", "postgresql"),
            SqlType::DateTime
        );
        assert_eq!(
            t("character varying(100)", "postgresql"),
            SqlType::String(Some(100))
        );
        // SQLite's affinity for names it does not know
        assert_eq!(t("MEDIUMINTEGER", "sqlite"), SqlType::Integer);
        assert_eq!(t("NVARCHAR2(9)", "sqlite"), SqlType::Text);
        assert_eq!(t("", "sqlite"), SqlType::Null);
        assert_eq!(t("MONEY", "sqlite"), SqlType::Numeric(None, None));
        assert_eq!(t("tsvector", "postgresql"), SqlType::Null);
    }
}

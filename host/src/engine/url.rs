//! Database URLs: `sqlite://`, `sqlite:///:memory:`, `sqlite:///rel.db`, `sqlite:////abs.db`.

use crate::arg_err;
use crate::error::Result;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Url {
    SqliteMemory,
    SqliteFile(String),
}

impl Url {
    pub fn parse(url: &str) -> Result<Url> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| arg_err!("Could not parse SQLAlchemy URL from string '{url}'"))?;
        let driver = scheme.split('+').next().unwrap_or(scheme);
        match driver {
            "sqlite" => {
                let path = rest.strip_prefix('/').unwrap_or(rest);
                let path = path.split('?').next().unwrap_or("");
                if path.is_empty() || path == ":memory:" {
                    Ok(Url::SqliteMemory)
                } else {
                    Ok(Url::SqliteFile(path.to_string()))
                }
            }
            "postgresql" | "postgres" | "mysql" | "mariadb" => Err(arg_err!("the {driver} dialect is not available in this build of lualchemy (URL '{url}'); only sqlite is")),
            _ => Err(arg_err!("Can't load plugin: sqlalchemy.dialects:{driver} (URL '{url}')")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls() {
        assert_eq!(Url::parse("sqlite://").unwrap(), Url::SqliteMemory);
        assert_eq!(Url::parse("sqlite:///:memory:").unwrap(), Url::SqliteMemory);
        assert_eq!(
            Url::parse("sqlite:///rel/path.db").unwrap(),
            Url::SqliteFile("rel/path.db".into())
        );
        assert_eq!(
            Url::parse("sqlite:////abs/path.db").unwrap(),
            Url::SqliteFile("/abs/path.db".into())
        );
        assert!(Url::parse("nonsense").is_err());
        assert!(Url::parse("oracle://x")
            .unwrap_err()
            .message
            .contains("oracle"));
    }
}

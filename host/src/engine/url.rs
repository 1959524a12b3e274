//! Database URLs: `sqlite://`, `sqlite:///:memory:`, `sqlite:///rel.db`, `sqlite:////abs.db`,
//! `postgresql://user:pass@host:port/db` (also `postgres://`, `postgresql+psycopg://`) and
//! `mysql://user:pass@host:port/db` (also `mariadb://`, `mysql+pymysql://`).

use std::time::Duration;

use crate::arg_err;
use crate::error::Result;
use crate::sql::dialect::Backend;

/// Where a server database is and how to log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub backend: Backend,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub database: Option<String>,
    /// `?connect_timeout=SECONDS`; 10 seconds when not given.
    pub connect_timeout: Duration,
    /// PostgreSQL's `?options=...` (libpq's: `-c search_path=app`), %-decoded.
    pub options: Option<String>,
    /// PostgreSQL's `?application_name=...` (`lualchemy` when not given).
    pub application_name: Option<String>,
}

impl ServerUrl {
    /// `host:port/db`, for error messages (never the password).
    pub fn describe(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let db = self.database.as_deref().unwrap_or("");
        format!("{}{port}/{db}", self.host)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Url {
    SqliteMemory,
    SqliteFile(String),
    Server(ServerUrl),
}

/// Decodes `%XX` escapes (passwords with `@` or `/` in them).
fn unescape(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            let v = u8::from_str_radix(hex, 16)
                .map_err(|_| arg_err!("bad %-escape '%{hex}' in database URL"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| arg_err!("database URL is not valid UTF-8 once unescaped"))
}

impl Url {
    pub fn parse(url: &str) -> Result<Url> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| arg_err!("Could not parse SQLAlchemy URL from string '{url}'"))?;
        let driver = scheme.split('+').next().unwrap_or(scheme);
        let backend = match driver {
            "sqlite" => {
                let path = rest.strip_prefix('/').unwrap_or(rest);
                let path = path.split('?').next().unwrap_or("");
                return Ok(if path.is_empty() || path == ":memory:" {
                    Url::SqliteMemory
                } else {
                    Url::SqliteFile(path.to_string())
                });
            }
            "postgresql" | "postgres" => Backend::Postgres,
            "mysql" => Backend::Mysql,
            "mariadb" => Backend::Mariadb,
            _ => {
                return Err(arg_err!(
                    "Can't load plugin: sqlalchemy.dialects:{driver} (URL '{url}')"
                ))
            }
        };
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let (auth, hostpart) = match rest.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, rest),
        };
        let (user, password) = match auth {
            Some(a) => match a.split_once(':') {
                Some((u, p)) => (Some(unescape(u)?), Some(unescape(p)?)),
                None => (Some(unescape(a)?), None),
            },
            None => (None, None),
        };
        let (hostport, database) = match hostpart.split_once('/') {
            Some((h, d)) if !d.is_empty() => (h, Some(unescape(d)?)),
            Some((h, _)) => (h, None),
            None => (hostpart, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| arg_err!("invalid port '{p}' in database URL '{url}'"))?,
                ),
            ),
            None => (hostport, None),
        };
        let mut connect_timeout = Duration::from_secs(10);
        let mut options = None;
        let mut application_name = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("connect_timeout", v)) => {
                    let secs: f64 = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| *s > 0.0 && s.is_finite())
                        .ok_or_else(|| arg_err!("invalid connect_timeout '{v}' in '{url}'"))?;
                    connect_timeout = Duration::from_secs_f64(secs);
                }
                Some(("application_name", v)) if backend == Backend::Postgres => {
                    application_name = Some(unescape(v)?);
                }
                Some(("options", v)) if backend == Backend::Postgres => {
                    options = Some(unescape(&v.replace('+', " "))?);
                }
                _ => {
                    return Err(arg_err!(
                        "unsupported database URL parameter '{pair}' in '{url}' (lualchemy \
                         knows connect_timeout, and options and application_name on PostgreSQL)"
                    ))
                }
            }
        }
        Ok(Url::Server(ServerUrl {
            backend,
            user,
            password,
            host: if host.is_empty() {
                "localhost".to_string()
            } else {
                host.to_string()
            },
            port,
            database,
            connect_timeout,
            options,
            application_name,
        }))
    }

    pub fn backend(&self) -> Option<Backend> {
        match self {
            Url::Server(s) => Some(s.backend),
            _ => None,
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

    #[test]
    fn server_urls() {
        let Url::Server(u) =
            Url::parse("postgresql+psycopg://scott:ti%40ger@db.example:5433/app").unwrap()
        else {
            panic!("not a server URL")
        };
        assert_eq!(u.backend, Backend::Postgres);
        assert_eq!(u.user.as_deref(), Some("scott"));
        assert_eq!(u.password.as_deref(), Some("ti@ger"));
        assert_eq!((u.host.as_str(), u.port), ("db.example", Some(5433)));
        assert_eq!(u.database.as_deref(), Some("app"));
        assert_eq!(u.describe(), "db.example:5433/app");
        let Url::Server(m) = Url::parse("mariadb://root@127.0.0.1/test?connect_timeout=2").unwrap()
        else {
            panic!("not a server URL")
        };
        assert_eq!(m.backend, Backend::Mariadb);
        assert_eq!(m.password, None);
        assert_eq!(m.connect_timeout, Duration::from_secs(2));
        assert_eq!(
            Url::parse("postgres://h/db").unwrap().backend(),
            Some(Backend::Postgres)
        );
        assert!(Url::parse("mysql://h:notaport/db").is_err());
        assert!(Url::parse("mysql://h/db?sslmode=x").is_err());
        let Url::Server(p) = Url::parse("postgresql://h/db?options=-c%20search_path%3Dx").unwrap()
        else {
            panic!("not a server URL")
        };
        assert_eq!(p.options.as_deref(), Some("-c search_path=x"));
    }
}

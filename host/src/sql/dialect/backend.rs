//! Which server database a dialect speaks for: the SQL side's name for a database kind
//! (SQLite is the absence of one). The engine's URL parser produces it; the dialects and
//! drivers read it.

/// The database servers lualchemy talks to over the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    /// MySQL, or MariaDB named as `mysql://`: generated keys from the last-insert id.
    Mysql,
    /// MariaDB named as `mariadb://`: generated keys from `INSERT ... RETURNING` (10.5+).
    Mariadb,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Mysql => "mysql",
            Backend::Mariadb => "mariadb",
        }
    }
}

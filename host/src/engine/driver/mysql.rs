//! MySQL and MariaDB through the `mysql` crate: server-side prepared statements (its own
//! statement cache), the binary protocol, result values decoded by column type.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use mysql::consts::ColumnType as T;
use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, Params, Value as MyValue};

use super::super::url::ServerUrl;
use super::failure::{io_reason, lower, without_os_code, Failure};
use crate::datetime;
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;

/// The character set number of binary strings (BLOB, VARBINARY).
const BINARY_CHARSET: u16 = 63;

pub(crate) struct MyDriver {
    conn: RefCell<Conn>,
    /// `MySQL at host:port/database`, for the messages of a lost connection.
    server: String,
    in_tx: Cell<bool>,
    broken: Cell<bool>,
}

/// Server error codes that end the connection: 1927 "Connection was killed" (`KILL`),
/// 4031 the server's idle timeout, 1053 "Server shutdown in progress" (the codes a server
/// sends among SQLAlchemy's `is_disconnect` ones).
const DISCONNECT_CODES: [u16; 3] = [1053, 1927, 4031];

/// Maps a driver error onto SQLAlchemy's kinds, as PyMySQL does: a server error by SQLSTATE
/// class, with "no such table" a ProgrammingError; a connection lost on the way an
/// OperationalError.
fn classify(e: &mysql::Error) -> Failure {
    use mysql::DriverError as D;
    let op = ErrorKind::OperationalError;
    match e {
        mysql::Error::MySqlError(m) => {
            let kind = match (&m.state[..2.min(m.state.len())], m.code) {
                // 1364: a NOT NULL column left out of an INSERT
                ("23", _) | (_, 1048 | 1062 | 1364 | 1451 | 1452 | 3819 | 4025) => {
                    ErrorKind::IntegrityError
                }
                ("22", _) | (_, 1264 | 1265 | 1366 | 1406) => ErrorKind::DataError,
                ("42", _) => ErrorKind::ProgrammingError,
                _ => op,
            };
            let reason = format!("({}, \"{}\")", m.code, m.message);
            Failure::new(kind, reason, DISCONNECT_CODES.contains(&m.code))
        }
        mysql::Error::IoError(io) => Failure::new(op, io_reason(io), true),
        // the codec's error type is not exported: its I/O cause, or its text
        mysql::Error::CodecError(c) => {
            let reason = match std::error::Error::source(c) {
                Some(src) => match src.downcast_ref::<std::io::Error>() {
                    Some(io) => io_reason(io),
                    None => lower(src),
                },
                None => format!("protocol error: {}", lower(c)),
            };
            Failure::new(op, reason, true)
        }
        // the statement's fault; the connection is fine
        mysql::Error::DriverError(D::MismatchedStmtParams(expected, given)) => Failure::new(
            ErrorKind::ProgrammingError,
            format!("the statement takes {expected} parameters, {given} given"),
            false,
        ),
        mysql::Error::DriverError(d @ (D::Params(_) | D::MixedParams | D::BulkExecute(_))) => {
            Failure::new(ErrorKind::ProgrammingError, lower(d), false)
        }
        mysql::Error::DriverError(D::ConnectTimeout | D::Timeout) => {
            Failure::new(op, "no answer from the server (timed out)", true)
        }
        mysql::Error::DriverError(D::CouldNotConnect(Some((_, desc, kind)))) => {
            let reason = match kind {
                std::io::ErrorKind::ConnectionRefused => "connection refused (is the server \
                    running and accepting TCP connections on that port?)"
                    .to_string(),
                _ => lower(without_os_code(desc)),
            };
            Failure::new(op, reason, true)
        }
        mysql::Error::DriverError(d) => Failure::new(op, lower(d), true),
        mysql::Error::UrlError(u) => Failure::new(ErrorKind::ArgumentError, lower(u), false),
        // not produced here: values are decoded by hand (from_mysql)
        mysql::Error::FromValueError(_) | mysql::Error::FromRowError(_) => {
            Failure::new(ErrorKind::DBAPIError, e.to_string(), false)
        }
    }
}

/// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`).
fn is_rollback(sql: &str) -> bool {
    let w: Vec<&str> = sql.split_whitespace().take(2).collect();
    w.first()
        .is_some_and(|w| w.eq_ignore_ascii_case("ROLLBACK"))
        && !w.get(1).is_some_and(|w| w.eq_ignore_ascii_case("TO"))
}

/// The server's name in messages.
fn server_name(url: &ServerUrl) -> &'static str {
    match url.backend {
        crate::sql::dialect::Backend::Mariadb => "MariaDB",
        _ => "MySQL",
    }
}

impl MyDriver {
    pub fn connect(url: &ServerUrl) -> Result<MyDriver> {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(url.host.clone()))
            .tcp_port(url.port.unwrap_or(3306))
            .user(Some(url.user.clone().unwrap_or_else(|| "root".into())))
            .pass(url.password.clone())
            .db_name(url.database.clone())
            .tcp_connect_timeout(Some(url.connect_timeout))
            .stmt_cache_size(256)
            // an UPDATE reports the rows it matched, not only those it changed, as the
            // unit of work's stale-data check needs (SQLAlchemy asks for the same)
            .additional_capabilities(mysql::consts::CapabilityFlags::CLIENT_FOUND_ROWS)
            .init(vec![
                // a value that does not fit is an error, not a silent truncation (as on
                // PostgreSQL and SQLite); times in UTC, as SQLite's CURRENT_TIMESTAMP
                "SET SESSION sql_mode = 'TRADITIONAL'",
                "SET SESSION time_zone = '+00:00'",
                // a transaction reads what others committed, as on PostgreSQL (MySQL's
                // default, REPEATABLE READ, would keep a session's first snapshot)
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ]);
        let conn = super::connect_within(url, server_name(url), move || {
            Conn::new(opts).map_err(|e| classify(&e).reason)
        })?;
        Ok(MyDriver {
            conn: RefCell::new(conn),
            server: format!("{} at {}", server_name(url), url.describe()),
            in_tx: Cell::new(false),
            broken: Cell::new(false),
        })
    }

    fn wrap(&self, e: mysql::Error, sql: &str, params: &[Value]) -> Error {
        classify(&e).into_error(&self.server, &self.broken, sql, params)
    }

    pub fn in_transaction(&self) -> bool {
        self.in_tx.get()
    }

    pub fn is_usable(&self) -> bool {
        !self.broken.get() && self.conn.borrow_mut().ping().is_ok()
    }

    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        if self.broken.get() && is_rollback(sql) {
            // the server ended the transaction with the connection: a rollback of a lost
            // connection has nothing to undo (as SQLAlchemy's of an invalidated one), so the
            // session rolls back and goes on with a new connection from the pool
            self.in_tx.set(false);
            return Ok(());
        }
        let r = self.conn.borrow_mut().query_drop(sql);
        super::track_transaction(&self.in_tx, sql, r.is_ok());
        r.map_err(|e| self.wrap(e, sql, &[]))
    }

    pub fn last_insert_id(&self) -> i64 {
        self.conn.borrow().last_insert_id() as i64
    }

    /// Runs `sql`, handing each row's values to `f` once the statement is done (so `f` may
    /// use the connection); returns the rows affected.
    pub fn run(&self, sql: &str, params: &[Value], f: Option<super::RowFn<'_>>) -> Result<usize> {
        self.run_described(sql, params, f)
            .map(|(affected, _)| affected)
    }

    /// `run`, also returning the names of the result's columns as the server sent them
    /// (MariaDB describes no columns for a prepared INSERT ... RETURNING before it runs).
    pub fn run_described(
        &self,
        sql: &str,
        params: &[Value],
        f: Option<super::RowFn<'_>>,
    ) -> Result<(usize, Vec<String>)> {
        let mut conn = self.conn.borrow_mut();
        let stmt = conn.prep(sql).map_err(|e| self.wrap(e, sql, params))?;
        let bound: Vec<MyValue> = params.iter().map(to_mysql).collect();
        let args = if bound.is_empty() {
            Params::Empty
        } else {
            Params::Positional(bound)
        };
        let mut values: Vec<Value> = Vec::new();
        // the result's own columns: MariaDB describes none for a prepared INSERT ...
        // RETURNING
        let names: Vec<String>;
        {
            let mut result = conn
                .exec_iter(&stmt, args)
                .map_err(|e| self.wrap(e, sql, params))?;
            names = result
                .columns()
                .as_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            for row in result.by_ref() {
                let row = row.map_err(|e| self.wrap(e, sql, params))?;
                // the result's own column types (a prepared statement's can be vaguer)
                let kinds: Vec<(T, bool)> = row
                    .columns_ref()
                    .iter()
                    .map(|c| (c.column_type(), c.character_set() == BINARY_CHARSET))
                    .collect();
                for (v, &(ty, binary)) in row.unwrap().into_iter().zip(&kinds) {
                    values.push(from_mysql(v, ty, binary));
                }
            }
        }
        // read once the result is consumed: the OK packet that ends it carries the count
        let affected = conn.affected_rows() as usize;
        drop(conn);
        super::hand_rows(&values, names.len(), f)?;
        Ok((affected, names))
    }

    pub fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        let stmt = self
            .conn
            .borrow_mut()
            .prep(sql)
            .map_err(|e| self.wrap(e, sql, &[]))?;
        Ok(stmt
            .columns()
            .iter()
            .map(|c| c.name_str().into_owned())
            .collect())
    }

    pub fn reset(&self) {
        if self.in_tx.get() {
            let _ = self.execute_batch("ROLLBACK");
        }
    }
}

fn to_mysql(v: &Value) -> MyValue {
    match v {
        Value::Null => MyValue::NULL,
        Value::Integer(i) => MyValue::Int(*i),
        Value::Real(r) => MyValue::Double(*r),
        Value::Text(t) => MyValue::Bytes(t.as_bytes().to_vec()),
        Value::Blob(b) => MyValue::Bytes(b.to_vec()),
    }
}

fn from_mysql(v: MyValue, ty: T, binary: bool) -> Value {
    match v {
        MyValue::NULL => Value::Null,
        MyValue::Int(i) => Value::Integer(i),
        MyValue::UInt(u) => match i64::try_from(u) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Real(u as f64),
        },
        MyValue::Float(f) => Value::Real(f as f64),
        MyValue::Double(d) => Value::Real(d),
        MyValue::Bytes(b) => match ty {
            T::MYSQL_TYPE_DECIMAL | T::MYSQL_TYPE_NEWDECIMAL => {
                let s = String::from_utf8_lossy(&b);
                match s.parse::<i64>() {
                    Ok(i) => Value::Integer(i),
                    Err(_) => Value::Real(s.parse().unwrap_or(f64::NAN)),
                }
            }
            _ if binary && ty != T::MYSQL_TYPE_JSON => Value::Blob(Rc::from(b)),
            _ => match String::from_utf8(b) {
                Ok(s) => Value::text(&s),
                Err(e) => Value::Blob(Rc::from(e.into_bytes())),
            },
        },
        MyValue::Date(y, mo, d, h, mi, s, us) => {
            let date = format!("{y:04}-{mo:02}-{d:02}");
            if ty == T::MYSQL_TYPE_DATE || ty == T::MYSQL_TYPE_NEWDATE {
                Value::text(&date)
            } else {
                let micros = ((h as i64 * 60 + mi as i64) * 60 + s as i64) * 1_000_000 + us as i64;
                Value::text(&format!("{date} {}", datetime::format_time(micros)))
            }
        }
        MyValue::Time(neg, days, h, mi, s, us) => {
            let micros = (((days as i64 * 24 + h as i64) * 60 + mi as i64) * 60 + s as i64)
                * 1_000_000
                + us as i64;
            let t = datetime::format_time(micros);
            Value::text(&if neg { format!("-{t}") } else { t })
        }
    }
}

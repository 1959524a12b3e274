//! PostgreSQL through the `postgres` crate: prepared statements cached per connection,
//! parameters encoded in the binary format of the type the server inferred for each
//! placeholder, result values decoded by column type into the core's values.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use super::super::url::ServerUrl;
use super::failure::{io_reason, Failure};
use crate::datetime;
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;

/// Statements kept prepared on one connection.
const STATEMENT_CACHE: usize = 256;

/// 2000-01-01, PostgreSQL's epoch, in days and microseconds after 1970-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

pub(crate) struct PgDriver {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    /// `PostgreSQL at host:port/database`, for the messages of a lost connection.
    server: String,
    in_tx: Cell<bool>,
    broken: Cell<bool>,
}

type BoxError = Box<dyn StdError + Sync + Send>;

/// SQLSTATEs after which the server closes the connection: class 08 (connection exception)
/// and 57P01 / 57P02 / 57P03 (`pg_terminate_backend`, a shutdown, a server starting up or
/// going down).
fn ends_connection(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

/// Maps a driver error onto SQLAlchemy's kinds, as psycopg does: a server error by SQLSTATE
/// class; a connection lost on the way (closed, an I/O failure, the protocol out of step)
/// an OperationalError.
fn classify(e: &postgres::Error) -> Failure {
    let op = ErrorKind::OperationalError;
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = match &code[..2] {
            "23" => ErrorKind::IntegrityError,
            "22" => ErrorKind::DataError,
            "42" => ErrorKind::ProgrammingError,
            "08" | "40" | "53" | "57" | "58" => op,
            // 25P02: the transaction failed and waits for ROLLBACK; XX: internal
            "25" | "XX" => ErrorKind::InternalError,
            _ => ErrorKind::DBAPIError,
        };
        let mut msg = db.message().to_string();
        if let Some(d) = db.detail() {
            msg.push_str("\nDETAIL:  ");
            msg.push_str(d);
        }
        return Failure::new(kind, msg, ends_connection(code));
    }
    if e.is_closed() {
        return Failure::new(op, "server closed the connection unexpectedly", true);
    }
    match e.source() {
        // a parameter this driver could not encode, a value it could not decode
        Some(src) if src.downcast_ref::<EncodeError>().is_some() => {
            Failure::new(ErrorKind::DataError, src.to_string(), false)
        }
        Some(src) => match src.downcast_ref::<std::io::Error>() {
            Some(io) => Failure::new(op, io_reason(io), true),
            None => Failure::new(op, format!("{e}: {src}"), true),
        },
        None => {
            let text = e.to_string();
            if text.starts_with("expected ") {
                // the statement's parameter count: its fault, the connection is fine
                Failure::new(ErrorKind::ProgrammingError, text, false)
            } else {
                // the protocol out of step, a timeout: the connection cannot be trusted
                Failure::new(op, text, true)
            }
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

impl PgDriver {
    pub fn connect(url: &ServerUrl) -> Result<PgDriver> {
        let mut config = Config::new();
        config
            .host(&url.host)
            .port(url.port.unwrap_or(5432))
            .user(url.user.as_deref().unwrap_or("postgres"))
            .connect_timeout(url.connect_timeout)
            .application_name(url.application_name.as_deref().unwrap_or("lualchemy"))
            // times in UTC, as SQLite's CURRENT_TIMESTAMP
            .options(&match &url.options {
                Some(o) => format!("-c TimeZone=UTC {o}"),
                None => "-c TimeZone=UTC".to_string(),
            });
        if let Some(p) = &url.password {
            config.password(p);
        }
        if let Some(db) = &url.database {
            config.dbname(db);
        }
        let client = super::connect_within(url, "PostgreSQL", move || {
            config.connect(NoTls).map_err(|e| {
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string())
            })
        })?;
        Ok(PgDriver {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            server: format!(
                "PostgreSQL at {}:{}/{}",
                url.host,
                url.port.unwrap_or(5432),
                url.database.as_deref().unwrap_or("")
            ),
            in_tx: Cell::new(false),
            broken: Cell::new(false),
        })
    }

    fn wrap(&self, e: postgres::Error, sql: &str, params: &[Value]) -> Error {
        classify(&e).into_error(&self.server, &self.broken, sql, params)
    }

    fn statement(&self, sql: &str) -> Result<Statement, postgres::Error> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.borrow_mut().prepare(sql)?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    pub fn in_transaction(&self) -> bool {
        self.in_tx.get()
    }

    /// A round trip to the server (as SQLAlchemy's `pool_pre_ping`): a connection the
    /// server dropped while it sat in the pool is found here, not by the next statement.
    pub fn is_usable(&self) -> bool {
        let mut client = self.client.borrow_mut();
        !self.broken.get()
            && !client.is_closed()
            && client.is_valid(std::time::Duration::from_secs(5)).is_ok()
    }

    /// Transaction control and DDL: no parameters, no rows.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        if self.broken.get() && is_rollback(sql) {
            // the server ended the transaction with the connection: a rollback of a lost
            // connection has nothing to undo (as SQLAlchemy's of an invalidated one), so the
            // session rolls back and goes on with a new connection from the pool
            self.in_tx.set(false);
            return Ok(());
        }
        let r = self.client.borrow_mut().batch_execute(sql);
        super::track_transaction(&self.in_tx, sql, r.is_ok());
        r.map_err(|e| self.wrap(e, sql, &[]))
    }

    /// Runs `sql` and hands each row's values to `f` once the statement is done (so `f` may
    /// use the connection); returns the rows affected.
    pub fn run(&self, sql: &str, params: &[Value], f: Option<super::RowFn<'_>>) -> Result<usize> {
        let stmt = self.statement(sql).map_err(|e| self.wrap(e, sql, params))?;
        let ncols = stmt.columns().len();
        let mut values: Vec<Value> = Vec::new();
        let affected = {
            let mut client = self.client.borrow_mut();
            let mut rows = client
                .query_raw(&stmt, params.iter().map(PgParam))
                .map_err(|e| self.wrap(e, sql, params))?;
            while let Some(row) = rows.next().map_err(|e| self.wrap(e, sql, params))? {
                for i in 0..ncols {
                    let v: PgValue = row.try_get(i).map_err(|e| self.wrap(e, sql, params))?;
                    values.push(v.0);
                }
            }
            rows.rows_affected().unwrap_or(0) as usize
        };
        super::hand_rows(&values, ncols, f)?;
        Ok(affected)
    }

    pub fn column_names(&self, sql: &str) -> Result<Vec<String>> {
        let stmt = self.statement(sql).map_err(|e| self.wrap(e, sql, &[]))?;
        Ok(stmt
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect())
    }

    /// Rolls back whatever a connection returned to the pool still has open.
    pub fn reset(&self) {
        if self.in_tx.get() {
            let _ = self.execute_batch("ROLLBACK");
        }
    }
}

// ---- parameters ------------------------------------------------------------------------

#[derive(Debug)]
struct EncodeError(String);

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl StdError for EncodeError {}

fn refuse(v: &Value, ty: &Type) -> BoxError {
    Box::new(EncodeError(format!(
        "cannot send {} {} as PostgreSQL type {}",
        v.type_name(),
        crate::value::format_params(std::slice::from_ref(v)),
        ty.name()
    )))
}

/// A core value bound to a placeholder: encoded as the type the server expects there.
#[derive(Debug)]
struct PgParam<'a>(&'a Value);

fn as_int(v: &Value, ty: &Type) -> Result<i64, BoxError> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Real(r) if r.fract() == 0.0 && r.abs() < 9.2e18 => Ok(*r as i64),
        Value::Text(t) => t.trim().parse().map_err(|_| refuse(v, ty)),
        _ => Err(refuse(v, ty)),
    }
}

fn as_real(v: &Value, ty: &Type) -> Result<f64, BoxError> {
    match v {
        Value::Integer(i) => Ok(*i as f64),
        Value::Real(r) => Ok(*r),
        Value::Text(t) => t.trim().parse().map_err(|_| refuse(v, ty)),
        _ => Err(refuse(v, ty)),
    }
}

fn as_text(v: &Value) -> std::borrow::Cow<'_, [u8]> {
    match v {
        Value::Text(t) => std::borrow::Cow::Borrowed(t.as_bytes()),
        Value::Blob(b) => std::borrow::Cow::Borrowed(b),
        Value::Integer(i) => std::borrow::Cow::Owned(i.to_string().into_bytes()),
        Value::Real(r) => std::borrow::Cow::Owned(r.to_string().into_bytes()),
        Value::Null => std::borrow::Cow::Borrowed(b""),
    }
}

fn small<T: TryFrom<i64>>(i: i64, ty: &Type) -> Result<T, BoxError> {
    T::try_from(i).map_err(|_| {
        Box::new(EncodeError(format!(
            "integer {i} out of range for PostgreSQL type {}",
            ty.name()
        ))) as BoxError
    })
}

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let v = self.0;
        if v.is_null() {
            return Ok(IsNull::Yes);
        }
        match *ty {
            Type::BOOL => out.put_u8(match v {
                Value::Text(t) => match &**t {
                    "true" | "t" | "1" => 1,
                    "false" | "f" | "0" => 0,
                    _ => return Err(refuse(v, ty)),
                },
                _ => (as_real(v, ty)? != 0.0) as u8,
            }),
            Type::INT2 => out.put_i16(small(as_int(v, ty)?, ty)?),
            Type::INT4 => out.put_i32(small(as_int(v, ty)?, ty)?),
            Type::INT8 => out.put_i64(as_int(v, ty)?),
            Type::OID => out.put_u32(small(as_int(v, ty)?, ty)?),
            Type::FLOAT4 => out.put_f32(as_real(v, ty)? as f32),
            Type::FLOAT8 => out.put_f64(as_real(v, ty)?),
            Type::NUMERIC => {
                let text = match v {
                    Value::Integer(i) => i.to_string(),
                    Value::Real(r) if r.is_finite() => r.to_string(),
                    Value::Text(t) => t.trim().to_string(),
                    _ => return Err(refuse(v, ty)),
                };
                encode_numeric(&text, out).ok_or_else(|| refuse(v, ty))?;
            }
            Type::JSONB => {
                out.put_u8(1);
                out.put_slice(&as_text(v));
            }
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let micros = v
                    .as_str()
                    .and_then(datetime::parse_datetime)
                    .ok_or_else(|| refuse(v, ty))?;
                out.put_i64(micros - PG_EPOCH_MICROS);
            }
            Type::DATE => {
                let days = v
                    .as_str()
                    .and_then(datetime::parse_date)
                    .ok_or_else(|| refuse(v, ty))?;
                out.put_i32(small(days - PG_EPOCH_DAYS, ty)?);
            }
            Type::TIME => {
                let micros = v
                    .as_str()
                    .and_then(datetime::parse_time)
                    .ok_or_else(|| refuse(v, ty))?;
                out.put_i64(micros);
            }
            Type::BYTEA
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::JSON
            | Type::UNKNOWN
            | Type::XML => out.put_slice(&as_text(v)),
            _ if matches!(ty.kind(), Kind::Enum(_)) => out.put_slice(&as_text(v)),
            _ => return Err(refuse(v, ty)),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A decimal string (`-12.3400`) in NUMERIC's binary form: base-10000 digits.
fn encode_numeric(text: &str, out: &mut BytesMut) -> Option<()> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let dscale = frac.len();
    // pad the integer part on the left and the fraction on the right to whole groups
    let int_pad = (4 - int.len() % 4) % 4;
    let frac_pad = (4 - frac.len() % 4) % 4;
    let mut all = String::with_capacity(int.len() + frac.len() + 8);
    all.extend(std::iter::repeat_n('0', int_pad));
    all.push_str(int);
    all.push_str(frac);
    all.extend(std::iter::repeat_n('0', frac_pad));
    let groups: Vec<i16> = all
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).ok()?.parse().ok())
        .collect::<Option<_>>()?;
    let int_groups = (int.len() + int_pad) / 4;
    let mut weight = int_groups as i32 - 1;
    // strip leading and trailing zero groups
    let first = groups.iter().position(|&g| g != 0);
    let (digits, weight) = match first {
        None => (&groups[0..0], 0),
        Some(f) => {
            let last = groups.iter().rposition(|&g| g != 0).unwrap_or(f);
            weight -= f as i32;
            (&groups[f..=last], weight)
        }
    };
    out.put_i16(digits.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if neg && !digits.is_empty() { 0x4000 } else { 0 });
    out.put_u16(dscale as u16);
    for d in digits {
        out.put_i16(*d);
    }
    Some(())
}

/// NUMERIC's binary form as a decimal string.
fn decode_numeric(raw: &[u8]) -> Option<String> {
    let rd =
        |i: usize| -> Option<i16> { Some(i16::from_be_bytes([*raw.get(i)?, *raw.get(i + 1)?])) };
    let ndigits = rd(0)? as usize;
    let weight = rd(2)? as i32;
    let sign = rd(4)? as u16;
    let dscale = rd(6)? as usize;
    if sign == 0xC000 {
        return Some("NaN".into());
    }
    let digit = |k: i32| -> i16 {
        if k < 0 || k as usize >= ndigits {
            0
        } else {
            rd(8 + 2 * k as usize).unwrap_or(0)
        }
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 || ndigits == 0 {
        s.push('0');
    } else {
        for k in 0..=weight {
            if k == 0 {
                s.push_str(&digit(k).to_string());
            } else {
                s.push_str(&format!("{:04}", digit(k)));
            }
        }
    }
    if dscale > 0 {
        s.push('.');
        let mut frac = String::new();
        let mut k = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(k)));
            k += 1;
        }
        frac.truncate(dscale);
        s.push_str(&frac);
    }
    Some(s)
}

// ---- results ---------------------------------------------------------------------------

/// A result column's value decoded by its type.
struct PgValue(Value);

fn bad_value(ty: &Type) -> BoxError {
    Box::new(EncodeError(format!(
        "malformed {} value from the server",
        ty.name()
    )))
}

impl<'a> FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<PgValue, BoxError> {
        let int = |n: usize| -> Result<i64, BoxError> {
            let b = raw.get(..n).ok_or_else(|| bad_value(ty))?;
            Ok(match n {
                2 => i16::from_be_bytes([b[0], b[1]]) as i64,
                4 => i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as i64,
                _ => i64::from_be_bytes(b.try_into().map_err(|_| bad_value(ty))?),
            })
        };
        let text = |b: &[u8]| Value::text(&String::from_utf8_lossy(b));
        Ok(PgValue(match *ty {
            Type::BOOL => Value::Integer((raw.first() == Some(&1)) as i64),
            Type::INT2 => Value::Integer(int(2)?),
            Type::INT4 => Value::Integer(int(4)?),
            Type::INT8 => Value::Integer(int(8)?),
            Type::OID => Value::Integer(int(4)? as u32 as i64),
            Type::FLOAT4 => Value::Real(f32::from_bits(int(4)? as u32) as f64),
            Type::FLOAT8 => Value::Real(f64::from_bits(int(8)? as u64)),
            Type::NUMERIC => {
                let s = decode_numeric(raw).ok_or_else(|| bad_value(ty))?;
                match s.parse::<i64>() {
                    Ok(i) if !s.contains('.') => Value::Integer(i),
                    _ => Value::Real(s.parse().unwrap_or(f64::NAN)),
                }
            }
            Type::BYTEA => Value::Blob(std::rc::Rc::from(raw)),
            Type::JSONB => text(raw.get(1..).unwrap_or_default()),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                Value::text(&datetime::format_datetime(int(8)? + PG_EPOCH_MICROS))
            }
            Type::DATE => Value::text(&datetime::format_date(int(4)? + PG_EPOCH_DAYS)),
            Type::TIME => Value::text(&datetime::format_time(int(8)?)),
            _ => match std::str::from_utf8(raw) {
                Ok(s) => Value::text(s),
                Err(_) => Value::Blob(std::rc::Rc::from(raw)),
            },
        }))
    }

    fn from_sql_null(_: &Type) -> Result<PgValue, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(s: &str) -> String {
        let mut b = BytesMut::new();
        encode_numeric(s, &mut b).expect("encodes");
        decode_numeric(&b).expect("decodes")
    }

    #[test]
    fn numeric_binary_round_trips() {
        for s in [
            "0",
            "1",
            "-1",
            "12.34",
            "0.0001",
            "10000",
            "123456789.987654321",
            "-0.5",
            "1.10",
        ] {
            assert_eq!(round_trip(s), s);
        }
        assert_eq!(round_trip("007.50"), "7.50");
        assert!(encode_numeric("1e5", &mut BytesMut::new()).is_none());
    }
}

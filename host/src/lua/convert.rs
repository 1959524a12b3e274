//! Value conversion between Lua and the core, by column kind: strict on the way in (a
//! clear error names the attribute), faithful on the way out.

use std::rc::Rc;

use mlua::{Lua, Value as LuaValue};

use super::compat;
use super::error::{arg, LuaResult};
use crate::schema::ValueKind;
use crate::value::{BindKind, Text, Value};

/// `orm.null()`: NULL where a Lua table cannot hold nil.
#[derive(Clone, Copy)]
pub struct Null;
impl mlua::UserData for Null {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(mlua::MetaMethod::ToString, |_, _, ()| Ok("NULL"));
        // `orm.null():label("x")`: NULL as a selected column
        m.add_method("label", |_, _, name: String| {
            Ok(super::expr::LuaExpr::new(crate::sql::Expr::Label(
                std::rc::Rc::from(name.as_str()),
                Box::new(crate::sql::Expr::Null),
            )))
        });
    }
}

pub fn is_null(v: &LuaValue) -> bool {
    match v {
        LuaValue::Nil => true,
        LuaValue::UserData(ud) => ud.is::<Null>(),
        _ => false,
    }
}

/// A value as error messages show it: its type, and the value for scalars.
pub fn lua_debug(v: &LuaValue) -> String {
    match v {
        LuaValue::String(s) => format!("string ({:?})", s.to_string_lossy()),
        LuaValue::Integer(i) => format!("integer ({i})"),
        LuaValue::Number(n) => format!("number ({n})"),
        LuaValue::Boolean(b) => format!("boolean ({b})"),
        other => other.type_name().to_string(),
    }
}

fn text(s: &mlua::LuaString, what: &dyn Fn() -> String) -> LuaResult<Text> {
    match std::str::from_utf8(&s.as_bytes()) {
        Ok(t) => Ok(Text::new(t)),
        Err(e) => Err(arg(format!(
            "{}: a String value must be valid UTF-8 ({e})",
            what()
        ))),
    }
}

/// Converts a Lua value for a column of `kind`; `what` names the attribute for errors.
pub fn lua_to_value(
    _lua: &Lua,
    v: &LuaValue,
    kind: ValueKind,
    what: &dyn Fn() -> String,
) -> LuaResult<Value> {
    if let ValueKind::Custom(id) = kind {
        return super::type_decorator::bind(_lua, id, v, what);
    }
    if is_null(v) {
        return Ok(Value::Null);
    }
    let bad = |expected: &str| {
        arg(format!(
            "{}: expected {expected}, got {}",
            what(),
            lua_debug(v)
        ))
    };
    Ok(match kind {
        ValueKind::Integer => match v {
            LuaValue::Integer(i) => Value::Integer(compat::check_integer(*i, what)?),
            LuaValue::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => {
                Value::Integer(*n as i64)
            }
            LuaValue::Boolean(b) => Value::Integer(*b as i64),
            _ => return Err(bad("an integer")),
        },
        ValueKind::Real => match v {
            LuaValue::Integer(i) => Value::Real(*i as f64),
            LuaValue::Number(n) => Value::Real(*n),
            _ => return Err(bad("a number")),
        },
        ValueKind::Text | ValueKind::Enum => match v {
            LuaValue::String(s) => Value::Text(text(s, what)?),
            _ => return Err(bad("a string")),
        },
        ValueKind::Boolean => match v {
            LuaValue::Boolean(b) => Value::Integer(*b as i64),
            LuaValue::Integer(0 | 1) => Value::Integer(v.as_integer().unwrap_or(0)),
            _ => return Err(bad("a boolean")),
        },
        ValueKind::Blob => match v {
            LuaValue::String(s) => Value::Blob(Rc::from(&*s.as_bytes())),
            _ => return Err(bad("a string of bytes")),
        },
        ValueKind::Json => Value::text(&json_encode(v, what)?),
        ValueKind::DateTime | ValueKind::Date | ValueKind::Time => {
            Value::text(&datetime_in(v, kind, what)?)
        }
        ValueKind::Any => match v {
            LuaValue::Integer(i) => Value::Integer(compat::check_integer(*i, what)?),
            LuaValue::Number(n) => Value::Real(*n),
            LuaValue::Boolean(b) => Value::Integer(*b as i64),
            LuaValue::String(s) => match std::str::from_utf8(&s.as_bytes()) {
                Ok(t) => Value::text(t),
                Err(_) => Value::Blob(Rc::from(&*s.as_bytes())),
            },
            _ => return Err(bad("a number, string or boolean")),
        },
        ValueKind::Custom(_) => unreachable!("converted above"),
    })
}

/// Converts a stored value for Lua, by the column's kind.
pub fn value_to_lua(lua: &Lua, v: &Value, kind: ValueKind) -> LuaResult<LuaValue> {
    value_to_lua_named(lua, v, kind, &|| {
        "a value read from the database".to_string()
    })
}

/// `value_to_lua`, naming what holds the value (`what`) in the error for an integer this Lua
/// cannot hold exactly (beyond 2^53 on Lua 5.1, 5.2, LuaJIT and Luau: `compat`).
pub fn value_to_lua_named(
    lua: &Lua,
    v: &Value,
    kind: ValueKind,
    what: &dyn Fn() -> String,
) -> LuaResult<LuaValue> {
    if let ValueKind::Custom(id) = kind {
        return super::type_decorator::result(lua, id, v, what);
    }
    Ok(match v {
        Value::Null => LuaValue::Nil,
        Value::Integer(i) => match kind {
            ValueKind::Boolean => LuaValue::Boolean(*i != 0),
            ValueKind::Real => LuaValue::Number(*i as f64),
            _ => LuaValue::Integer(compat::check_integer(*i, what)?),
        },
        Value::Real(r) => match kind {
            ValueKind::Integer if r.fract() == 0.0 => LuaValue::Integer(*r as i64),
            _ => LuaValue::Number(*r),
        },
        Value::Text(s) => match kind {
            ValueKind::Json => json_decode(lua, s)?,
            _ => LuaValue::String(lua.create_string(s.as_bytes())?),
        },
        Value::Blob(b) => LuaValue::String(lua.create_string(b)?),
    })
}

/// The `{ name = value }` parameters of `orm.text` binds, converted by their Lua type, with
/// that type.
pub fn named_params(
    lua: &Lua,
    params: &Option<LuaValue>,
) -> LuaResult<Vec<(String, Value, BindKind)>> {
    let mut out = Vec::new();
    if let Some(LuaValue::Table(t)) = params {
        for pair in t.pairs::<String, LuaValue>() {
            let (k, v) = pair?;
            let value = lua_to_value(lua, &v, ValueKind::Any, &|| format!("parameter '{k}'"))?;
            let kind = match v {
                LuaValue::Integer(_) => BindKind::Integer,
                LuaValue::Number(_) => BindKind::Real,
                LuaValue::Boolean(_) => BindKind::Boolean,
                _ => BindKind::Other,
            };
            out.push((k, value, kind));
        }
    }
    Ok(out)
}

/// `orm.text` compiled for `dialect` with its `{ name = value }` parameters: the SQL and the
/// values in placeholder order.
pub fn text_with_params(
    lua: &Lua,
    text: &str,
    params: &Option<LuaValue>,
    dialect: &dyn crate::sql::Dialect,
) -> LuaResult<(crate::sql::Compiled, Vec<Value>)> {
    use super::error::IntoLuaResult;
    let named = named_params(lua, params)?;
    let find = |n: &str| named.iter().find(|(k, ..)| k == n);
    let cast_of = |n: &str| find(n).and_then(|(_, v, kind)| dialect.text_bind_cast(*kind, v));
    let c = crate::sql::compiler::compile_text(text, dialect, &cast_of);
    let values = c.bind(&[], &|n| find(n).map(|(_, v, _)| v.clone())).lua()?;
    Ok((c, values))
}

// ---- dates and times -------------------------------------------------------------------

use crate::datetime::civil_from_days;

fn check_digits(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| {
            if p == b'9' {
                c.is_ascii_digit()
            } else {
                c == p
            }
        })
}

fn valid_time(t: &str) -> bool {
    let (hms, frac) = match t.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    check_digits(hms, "99:99:99")
        && frac
            .is_none_or(|f| !f.is_empty() && f.len() <= 6 && f.bytes().all(|c| c.is_ascii_digit()))
}

/// Accepts an ISO-8601 string, `os.time()` seconds (UTC) or an `os.date("*t")` table.
fn datetime_in(v: &LuaValue, kind: ValueKind, what: &dyn Fn() -> String) -> LuaResult<String> {
    let bad = || {
        let form = match kind {
            ValueKind::Date => "'YYYY-MM-DD'",
            ValueKind::Time => "'HH:MM:SS[.ffffff]'",
            _ => "'YYYY-MM-DD HH:MM:SS[.ffffff]'",
        };
        arg(format!(
            "{}: expected a {form} string, os.time() seconds or an os.date('*t') table, got {}",
            what(),
            lua_debug(v)
        ))
    };
    let (date, time) = match v {
        LuaValue::String(s) => {
            let s = s.to_str().map_err(|_| bad())?.to_string();
            // stored in one form on every database (what PostgreSQL and MySQL give back):
            // six fraction digits when there is a fraction, none when there is not
            use crate::datetime as dt;
            return match kind {
                ValueKind::Date if check_digits(&s, "9999-99-99") => Ok(s),
                ValueKind::Time if valid_time(&s) => {
                    dt::parse_time(&s).map(dt::format_time).ok_or_else(bad)
                }
                ValueKind::DateTime => {
                    let s = s.replacen('T', " ", 1);
                    match s.split_once(' ') {
                        Some((d, t)) if check_digits(d, "9999-99-99") && valid_time(t) => {
                            dt::parse_datetime(&s)
                                .map(dt::format_datetime)
                                .ok_or_else(bad)
                        }
                        None if check_digits(&s, "9999-99-99") => Ok(format!("{s} 00:00:00")),
                        _ => Err(bad()),
                    }
                }
                _ => Err(bad()),
            };
        }
        LuaValue::Integer(_) | LuaValue::Number(_) => {
            let secs = match v {
                LuaValue::Integer(i) => *i,
                LuaValue::Number(n) => n.floor() as i64,
                _ => unreachable!(),
            };
            let (y, m, d) = civil_from_days(secs.div_euclid(86400));
            let sod = secs.rem_euclid(86400);
            (
                format!("{y:04}-{m:02}-{d:02}"),
                format!("{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60),
            )
        }
        LuaValue::Table(t) => {
            let get = |k: &str, dflt: i64| -> LuaResult<i64> {
                Ok(t.get::<Option<i64>>(k)?.unwrap_or(dflt))
            };
            let (y, mo, d) = (get("year", 1970)?, get("month", 1)?, get("day", 1)?);
            let (h, mi, s) = (get("hour", 0)?, get("min", 0)?, get("sec", 0)?);
            (
                format!("{y:04}-{mo:02}-{d:02}"),
                format!("{h:02}:{mi:02}:{s:02}"),
            )
        }
        _ => return Err(bad()),
    };
    Ok(match kind {
        ValueKind::Date => date,
        ValueKind::Time => time,
        _ => format!("{date} {time}"),
    })
}

// ---- JSON ------------------------------------------------------------------------------

fn to_json(v: &LuaValue, depth: usize, what: &dyn Fn() -> String) -> LuaResult<serde_json::Value> {
    use serde_json::Value as J;
    if depth > 100 {
        return Err(arg(format!(
            "{}: JSON value nested too deeply (a cycle?)",
            what()
        )));
    }
    Ok(match v {
        LuaValue::Nil => J::Null,
        LuaValue::UserData(ud) if ud.is::<Null>() => J::Null,
        LuaValue::Boolean(b) => J::Bool(*b),
        LuaValue::Integer(i) => J::from(*i),
        LuaValue::Number(n) => serde_json::Number::from_f64(*n)
            .map(J::Number)
            .ok_or_else(|| arg(format!("{}: {n} cannot be stored as JSON", what())))?,
        LuaValue::String(s) => J::String(text(s, what)?.to_string()),
        LuaValue::Table(t) => {
            let n = t.raw_len();
            let mut count = 0usize;
            for pair in t.pairs::<LuaValue, LuaValue>() {
                pair?;
                count += 1;
            }
            if n > 0 && count == n {
                let mut arr = Vec::with_capacity(n);
                for i in 1..=n {
                    arr.push(to_json(&t.raw_get::<LuaValue>(i)?, depth + 1, what)?);
                }
                J::Array(arr)
            } else {
                let mut map = serde_json::Map::new();
                for pair in t.pairs::<LuaValue, LuaValue>() {
                    let (k, val) = pair?;
                    let key = match &k {
                        LuaValue::String(s) => text(s, what)?.to_string(),
                        LuaValue::Integer(i) => i.to_string(),
                        LuaValue::Number(n) => n.to_string(),
                        other => {
                            return Err(arg(format!(
                                "{}: a JSON object key must be a string, got {}",
                                what(),
                                other.type_name()
                            )))
                        }
                    };
                    map.insert(key, to_json(&val, depth + 1, what)?);
                }
                J::Object(map)
            }
        }
        other => {
            return Err(arg(format!(
                "{}: a {} cannot be stored as JSON",
                what(),
                other.type_name()
            )))
        }
    })
}

pub fn json_encode(v: &LuaValue, what: &dyn Fn() -> String) -> LuaResult<String> {
    Ok(to_json(v, 0, what)?.to_string())
}

fn from_json(lua: &Lua, j: &serde_json::Value) -> LuaResult<LuaValue> {
    use serde_json::Value as J;
    Ok(match j {
        J::Null => LuaValue::Nil,
        J::Bool(b) => LuaValue::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => LuaValue::Integer(i),
            None => LuaValue::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => LuaValue::String(lua.create_string(s)?),
        J::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, v) in a.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, v)?)?;
            }
            LuaValue::Table(t)
        }
        J::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, v) in o {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            LuaValue::Table(t)
        }
    })
}

pub fn json_decode(lua: &Lua, s: &str) -> LuaResult<LuaValue> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(j) => from_json(lua, &j),
        Err(_) => Ok(LuaValue::String(lua.create_string(s)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_checked() {
        assert!(valid_time("10:00:00.123456") && !valid_time("10:00") && !valid_time("10:00:00."));
    }
}

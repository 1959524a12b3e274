//! Options tables (`{ primary_key = true }`): a key the receiver does not know is an
//! `ArgumentError` naming it and the keys it knows, never silently ignored.

use mlua::Value as LuaValue;

use super::error::{arg, LuaResult};

/// The error of an unknown key `key` among `valid` for `what` (`orm.Column`).
pub fn unknown_option(what: &str, key: &str, valid: &[&str]) -> mlua::Error {
    arg(format!(
        "{what}: unknown option '{key}' (valid options: {})",
        valid.join(", ")
    ))
}

/// Checks that every key of `t` is one of `valid`; with `list`, integer keys (the table's
/// list part, such as `__table_args__`'s constraints) are allowed too.
pub fn check_keys(t: &mlua::Table, valid: &[&str], what: &str, list: bool) -> LuaResult<()> {
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, _) = pair?;
        match &k {
            LuaValue::String(s) => {
                let s = s.to_str()?;
                if !valid.contains(&&*s) {
                    return Err(unknown_option(what, &s, valid));
                }
            }
            LuaValue::Integer(_) if list => {}
            other => {
                return Err(unknown_option(
                    what,
                    &other
                        .to_string()
                        .unwrap_or_else(|_| other.type_name().into()),
                    valid,
                ))
            }
        }
    }
    Ok(())
}

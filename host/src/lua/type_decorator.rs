//! `orm.TypeDecorator{ impl = orm.String(100), process_bind_param = fn, process_result_value
//! = fn }`: a type whose values pass through the program's functions on their way to and
//! from the database (`schema::DecoratedType` is its core side).
//!
//! The functions live in the Lua state's registry of decorators, under the type's id, and
//! `convert.rs` calls them for `ValueKind::Custom(id)`: `process_bind_param` when a value is
//! converted for the database (an attribute assigned, a constructor argument, a value an
//! expression compares the column with), then the `impl` type's conversion;
//! `process_result_value` on the `impl` type's Lua value each time a stored value is read.
//! They are called as listeners are (`events::call`), so what they raise reaches the
//! caller of a session method or an attribute access as the very value raised.

use std::collections::HashMap;
use std::rc::Rc;

use mlua::{Function, Lua, MultiValue, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::schema::LuaType;
use crate::schema::{DecoratedType, SqlType, ValueKind};
use crate::value::Value;

/// What `orm.TypeDecorator` takes.
const OPTIONS: &[&str] = &[
    "impl",
    "process_bind_param",
    "process_result_value",
    "cache_ok",
    "name",
];

/// One decorated type's functions.
#[derive(Clone)]
struct Processors {
    name: String,
    impl_kind: ValueKind,
    bind: Option<Function>,
    result: Option<Function>,
}

/// The decorated types of a Lua state, by id.
#[derive(Default)]
struct Registry(HashMap<u32, Processors>);

fn processors(lua: &Lua, id: u32) -> LuaResult<Processors> {
    lua.app_data_ref::<Registry>()
        .and_then(|r| r.0.get(&id).cloned())
        .ok_or_else(|| arg(format!("a TypeDecorator (id {id}) of another Lua state")))
}

fn function_option(t: &mlua::Table, key: &str, name: &str) -> LuaResult<Option<Function>> {
    match t.raw_get::<LuaValue>(key)? {
        LuaValue::Nil => Ok(None),
        LuaValue::Function(f) => Ok(Some(f)),
        other => Err(arg(format!(
            "orm.TypeDecorator {name}: '{key}' must be a function(value, dialect), got {}",
            other.type_name()
        ))),
    }
}

/// `orm.TypeDecorator{ ... }`.
fn type_decorator(lua: &Lua, spec: LuaValue) -> LuaResult<LuaType> {
    let LuaValue::Table(t) = spec else {
        return Err(arg(format!(
            "orm.TypeDecorator takes a table {{ impl = type, process_bind_param = fn, process_result_value = fn }}, got {}",
            spec.type_name()
        )));
    };
    super::options::check_keys(&t, OPTIONS, "orm.TypeDecorator", false)?;
    let name = match t.raw_get::<LuaValue>("name")? {
        LuaValue::Nil => "TypeDecorator".to_string(),
        LuaValue::String(s) => s.to_str()?.to_string(),
        other => {
            return Err(arg(format!(
                "orm.TypeDecorator: 'name' must be a string, got {}",
                other.type_name()
            )))
        }
    };
    let impl_ = match t.raw_get::<LuaValue>("impl")? {
        LuaValue::UserData(ud) if ud.is::<LuaType>() => ud.borrow::<LuaType>()?.0.clone(),
        other => {
            return Err(arg(format!(
                "orm.TypeDecorator {name}: 'impl' must be a type such as orm.String(100), got {}",
                other.type_name()
            )))
        }
    };
    if matches!(impl_, SqlType::Null) {
        return Err(arg(format!(
            "orm.TypeDecorator {name}: 'impl' must be a column type"
        )));
    }
    let bind = function_option(&t, "process_bind_param", &name)?;
    let result = function_option(&t, "process_result_value", &name)?;
    if bind.is_some() || result.is_some() {
        // what the functions raise reaches the callers of the session methods unchanged
        super::events::raise_values_from_now_on(lua)?;
    }
    let decorated = DecoratedType::new(impl_.clone(), &name);
    let p = Processors {
        name,
        impl_kind: impl_.kind(),
        bind,
        result,
    };
    if lua.app_data_ref::<Registry>().is_none() {
        lua.set_app_data(Registry::default());
    }
    lua.app_data_mut::<Registry>()
        .expect("set above")
        .0
        .insert(decorated.id, p);
    Ok(LuaType(SqlType::Decorated(Rc::new(decorated))))
}

fn first(out: MultiValue) -> LuaValue {
    out.into_iter().next().unwrap_or(LuaValue::Nil)
}

/// A Lua value for a decorated column: `process_bind_param(value, nil)`, then the `impl`
/// type's conversion.
pub fn bind(lua: &Lua, id: u32, v: &LuaValue, what: &dyn Fn() -> String) -> LuaResult<Value> {
    let p = processors(lua, id)?;
    let processed = match &p.bind {
        Some(f) => {
            let v = if super::convert::is_null(v) {
                LuaValue::Nil
            } else {
                v.clone()
            };
            let args = MultiValue::from_vec(vec![v, LuaValue::Nil]);
            first(super::events::call(lua, f, args).lua()?)
        }
        None => v.clone(),
    };
    super::convert::lua_to_value(lua, &processed, p.impl_kind, &|| {
        format!("{} ({}.process_bind_param)", what(), p.name)
    })
}

/// A stored value of a decorated column for Lua: the `impl` type's value, through
/// `process_result_value(value, nil)`.
pub fn result(lua: &Lua, id: u32, v: &Value, what: &dyn Fn() -> String) -> LuaResult<LuaValue> {
    let p = processors(lua, id)?;
    let raw = super::convert::value_to_lua_named(lua, v, p.impl_kind, what)?;
    match &p.result {
        Some(f) => {
            let args = MultiValue::from_vec(vec![raw, LuaValue::Nil]);
            Ok(first(super::events::call(lua, f, args).lua()?))
        }
        None => Ok(raw),
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set("TypeDecorator", lua.create_function(type_decorator)?)?;
    Ok(())
}

//! JSON element access on column expressions: `Model.data["key"]` (Lua indexing, after the
//! expression's methods), `Model.data[1]` (Lua's first element, JSON's index 0),
//! `Model.data[{ "a", 1, "b" }]` (a path), and `:as_string()`, `:as_integer()`,
//! `:as_float()`, `:as_boolean()`, `:as_json()`. The SQL is `sql::json`'s.

use std::rc::Rc;

use mlua::{Lua, Value as LuaValue};

use super::error::{arg, LuaResult};
use super::expr::LuaExpr;
use crate::schema::SqlType;
use crate::sql::json::{JsonAs, JsonElement, JsonStep};
use crate::sql::Expr;

fn step(v: &LuaValue, what: &dyn Fn() -> String) -> LuaResult<JsonStep> {
    match v {
        LuaValue::String(s) => Ok(JsonStep::Key(Rc::from(&*s.to_str()?))),
        LuaValue::Integer(i) if *i >= 1 => Ok(JsonStep::Index(i - 1)),
        LuaValue::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n < 9.0e15 => {
            Ok(JsonStep::Index(*n as i64 - 1))
        }
        other => Err(arg(format!(
            "{}: a JSON key must be a string or an index from 1 (Lua's first element), got {}",
            what(),
            super::convert::lua_debug(other)
        ))),
    }
}

/// JSON, or a TypeDecorator over JSON (whose comparisons are its impl's, as in SQLAlchemy).
fn is_json(ty: &SqlType) -> bool {
    match ty.base() {
        SqlType::Json => true,
        SqlType::Decorated(d) => is_json(&d.impl_),
        _ => false,
    }
}

fn describe(e: &LuaExpr) -> String {
    match &e.attr {
        Some(a) => a.mapper.attr_path(a.index),
        None => "expression".to_string(),
    }
}

/// `expr[key]` for a key that is not a method: a JSON element of a JSON expression; `nil`
/// for other string keys of other expressions (what indexing them always gave).
pub fn index(lua: &Lua, this: &LuaExpr, key: &LuaValue) -> LuaResult<LuaValue> {
    let ty = this.expr.sql_type();
    if !is_json(&ty) {
        if matches!(key, LuaValue::String(_)) {
            return Ok(LuaValue::Nil);
        }
        return Err(arg(format!(
            "{}: indexing a SQL expression (JSON element access) needs a JSON expression, not {ty}",
            describe(this)
        )));
    }
    let what = || format!("{}[...]", describe(this));
    let (steps, path) = match key {
        LuaValue::Table(t) => {
            let mut steps = Vec::new();
            for v in t.sequence_values::<LuaValue>() {
                steps.push(step(&v?, &what)?);
            }
            if steps.is_empty() {
                return Err(arg(format!(
                    "{}: a JSON path needs at least one step",
                    what()
                )));
            }
            (steps, true)
        }
        other => (vec![step(other, &what)?], false),
    };
    let e = Expr::Json(Box::new(JsonElement {
        target: this.expr.clone(),
        steps,
        path,
        as_: JsonAs::Json,
    }));
    Ok(LuaValue::UserData(lua.create_userdata(LuaExpr::new(e))?))
}

/// `element:as_string()` and the like.
pub fn read_as(lua: &Lua, this: &LuaExpr, method: &str, as_: JsonAs) -> LuaResult<LuaExpr> {
    let _ = lua;
    match &this.expr {
        Expr::Json(j) => Ok(LuaExpr::new(Expr::Json(Box::new(j.read_as(as_))))),
        _ => Err(arg(format!(
            "{}: :{method}() reads a JSON element (Model.data[\"key\"]:{method}()), not a whole expression",
            describe(this)
        ))),
    }
}

//! The Lua side of window functions and the SQL that follows a function call:
//! `fn:over{ partition_by, order_by, rows, range }`, `fn:filter(cond)`,
//! `fn:within_group(...)`, and row values (`orm.tuple_(a, b)`).

use mlua::{Lua, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::expr::{clause_arg, expr_arg, operand};
use crate::schema::SqlType;
use crate::sql::window::{Frame, FrameBound, FuncClause};
use crate::sql::Expr;

/// One expression or a list of them (`partition_by = User.team` or `{ a, b }`).
fn expr_list(lua: &Lua, v: &LuaValue) -> LuaResult<Vec<Expr>> {
    match v {
        LuaValue::Nil => Ok(Vec::new()),
        LuaValue::Table(t) => (1..=t.raw_len())
            .map(|i| expr_arg(lua, &t.raw_get::<LuaValue>(i)?))
            .collect(),
        v => Ok(vec![expr_arg(lua, v)?]),
    }
}

/// A frame offset: nil (unbounded), 0 (current row), -n (n preceding), n (n following).
fn offset(v: &LuaValue, key: &str, end: &str) -> LuaResult<Option<i64>> {
    match v {
        LuaValue::Nil => Ok(None),
        LuaValue::Integer(n) => Ok(Some(*n)),
        LuaValue::Number(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(*f as i64)),
        other => Err(arg(format!(
            ":over{{ {key} = {{ start, end }} }}: the {end} must be nil (unbounded), 0 (current row), a negative (preceding) or positive (following) integer, got {}",
            match other {
                LuaValue::Number(f) => f.to_string(),
                o => o.type_name().to_string(),
            }
        ))),
    }
}

fn frame(v: &LuaValue, key: &str) -> LuaResult<Option<Frame>> {
    let t = match v {
        LuaValue::Nil => return Ok(None),
        LuaValue::Table(t) => t,
        other => {
            return Err(arg(format!(
                ":over{{ {key} = ... }} expects a {{ start, end }} table, got {}",
                other.type_name()
            )))
        }
    };
    let start = offset(&t.raw_get(1)?, key, "start")?;
    let end = offset(&t.raw_get(2)?, key, "end")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(arg(format!(
                ":over{{ {key} = {{ {s}, {e} }} }}: the frame starts after it ends"
            )));
        }
    }
    Ok(Some(Frame {
        range: key != "rows",
        start: FrameBound::from_offset(start, true),
        end: FrameBound::from_offset(end, false),
    }))
}

/// `fn:over{ partition_by = ..., order_by = ..., rows = { start, end } | range = {...} }`.
pub fn over(lua: &Lua, func: &Expr, opts: Option<mlua::Table>) -> LuaResult<Expr> {
    let (mut partition_by, mut order_by, mut fr) = (Vec::new(), Vec::new(), None);
    if let Some(t) = opts {
        for pair in t.pairs::<String, LuaValue>() {
            let (k, v) = pair?;
            match k.as_str() {
                "partition_by" => partition_by = expr_list(lua, &v)?,
                "order_by" => order_by = expr_list(lua, &v)?,
                "rows" | "range" | "range_" => {
                    if fr.is_some() {
                        return Err(arg(":over{}: give 'rows' or 'range', not both"));
                    }
                    fr = frame(&v, &k)?;
                }
                other => {
                    return Err(super::options::unknown_option(
                        ":over",
                        other,
                        &["partition_by", "order_by", "rows", "range"],
                    ))
                }
            }
        }
    }
    FuncClause::over(func.clone(), partition_by, order_by, fr).lua()
}

/// `fn:filter(cond, ...)`: several conditions are ANDed.
pub fn filter(func: &Expr, conds: &[LuaValue]) -> LuaResult<Expr> {
    let mut items = conds
        .iter()
        .map(|c| clause_arg(c, ":filter()"))
        .collect::<LuaResult<Vec<_>>>()?;
    let cond = match items.len() {
        0 => return Err(arg(":filter() needs a condition")),
        1 => items.pop().expect("one item"),
        _ => Expr::and(items),
    };
    FuncClause::filter(func.clone(), cond).lua()
}

pub fn within_group(lua: &Lua, func: &Expr, order_by: &[LuaValue]) -> LuaResult<Expr> {
    let order_by = order_by
        .iter()
        .map(|v| expr_arg(lua, v))
        .collect::<LuaResult<Vec<_>>>()?;
    FuncClause::within_group(func.clone(), order_by).lua()
}

/// `orm.tuple_(a, b, ...)`.
pub fn tuple(lua: &Lua, items: &[LuaValue]) -> LuaResult<Expr> {
    if items.is_empty() {
        return Err(arg("orm.tuple_() needs at least one element"));
    }
    Ok(Expr::Tuple(
        items
            .iter()
            .map(|v| expr_arg(lua, v))
            .collect::<LuaResult<Vec<_>>>()?,
    ))
}

/// An operand compared with a tuple: another tuple expression, or a Lua list of values
/// bound as the tuple's element types.
pub fn tuple_operand(lua: &Lua, v: &LuaValue, cols: &[Expr], what: &str) -> LuaResult<Expr> {
    match v {
        LuaValue::Table(t) => {
            if t.raw_len() != cols.len() {
                return Err(arg(format!(
                    "{what}: a tuple of {} elements cannot take {} values",
                    cols.len(),
                    t.raw_len()
                )));
            }
            let items = cols
                .iter()
                .enumerate()
                .map(|(i, c)| operand(lua, &t.raw_get::<LuaValue>(i + 1)?, &c.sql_type()))
                .collect::<LuaResult<Vec<_>>>()?;
            Ok(Expr::Tuple(items))
        }
        v => {
            let e = operand(lua, v, &SqlType::Null)?;
            match &e {
                Expr::Tuple(items) if items.len() == cols.len() => Ok(e),
                _ => Err(arg(format!(
                    "{what}: expects a tuple of {} values (a Lua list or orm.tuple_)",
                    cols.len()
                ))),
            }
        }
    }
}

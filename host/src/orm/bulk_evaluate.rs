//! The new values of a bulk UPDATE worked out in memory for the objects of the session it
//! matched, as SQLAlchemy's evaluator does after `session.execute(update(...))`: a SET value
//! made of literals, NULL, the object's own loaded columns and arithmetic is computed with
//! Python's rules and becomes the attribute's loaded value; anything else is unevaluable and
//! the attribute expires (it reloads from the row).
//!
//! The WHERE criteria of `synchronize_session = "auto"` / `"evaluate"` are evaluated the same
//! way, against each object of the identity map (`criterion`): the objects whose loaded
//! values satisfy them are the ones the statement is taken to have matched, whatever their
//! rows hold.

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::sql::expr::UnaryOp;
use crate::sql::{BinOp, Expr};
use crate::value::Value;

use super::instance::Instance;
use super::mapper::Mapper;

/// What a criterion gives for an object in memory.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Evaluated {
    Value(Value),
    /// A column it reads is not loaded (SQLAlchemy's `_EXPIRED_OBJECT`): the object counts
    /// as matched, and loses what it cannot know.
    Expired,
}

/// Why SQLAlchemy's evaluator cannot compile `expr` for objects of `target`, or `None` when
/// it can: columns of the target's table, values, NULL, AND / OR / NOT, comparisons,
/// IS [NOT], IN / NOT IN a list of values, and `+ - * / %` and concatenation.
pub(crate) fn unevaluable(expr: &Expr, target: &Mapper) -> Option<String> {
    match expr {
        Expr::Column(c) if c.from.is_none() && c.table.id == target.table.id => None,
        Expr::Column(c) => Some(format!(
            "Cannot evaluate column {}.{}: not a column of {}",
            c.table.name, c.table.columns[c.index].name, target.class_name
        )),
        Expr::Bind(..) | Expr::Null => None,
        Expr::Grouping(x) | Expr::Unary(UnaryOp::Not, x) => unevaluable(x, target),
        Expr::List(BinOp::And | BinOp::Or, xs) => xs.iter().find_map(|x| unevaluable(x, target)),
        Expr::Binary(l, op, r) => match op {
            BinOp::Like | BinOp::NotLike | BinOp::ILike | BinOp::NotILike | BinOp::FloorDiv => {
                Some(format!("Cannot evaluate operator{}", op.sql().trim_end()))
            }
            _ => unevaluable(l, target).or_else(|| unevaluable(r, target)),
        },
        Expr::In { expr, items, .. } => unevaluable(expr, target).or_else(|| {
            items
                .iter()
                .all(|i| matches!(i, Expr::Bind(..) | Expr::Null))
                .then_some(())
                .map_or(
                    Some("Cannot evaluate IN of anything but values".into()),
                    |_| None,
                )
        }),
        _ => Some("Cannot evaluate this expression".into()),
    }
}

/// The value of criterion `expr` for `inst` (an object of `target` or of a mapper inheriting
/// from it), with SQL's NULL as Python's None: SQLAlchemy's evaluator. `expr` has passed
/// `unevaluable`. A comparison Python refuses (a number with a string) is an error, as
/// Python's `TypeError` is.
pub(crate) fn criterion(expr: &Expr, inst: &Instance) -> Result<Evaluated> {
    use Evaluated::{Expired, Value as V};
    Ok(match expr {
        Expr::Column(c) => {
            let st = inst.state();
            if st.loaded.contains(c.index) {
                V(st.values[c.index].clone())
            } else {
                Expired
            }
        }
        Expr::Bind(v, _) => V(v.clone()),
        Expr::Null => V(Value::Null),
        Expr::Grouping(x) => criterion(x, inst)?,
        Expr::Unary(UnaryOp::Not, x) => match criterion(x, inst)? {
            V(Value::Null) => V(Value::Null),
            V(v) => V(boolean(!truthy(&v))),
            Expired => Expired,
        },
        Expr::List(op @ (BinOp::And | BinOp::Or), xs) => junction(*op, xs.iter(), inst)?,
        Expr::Binary(l, op @ (BinOp::And | BinOp::Or), r) => {
            junction(*op, [&**l, &**r].into_iter(), inst)?
        }
        Expr::Binary(l, op, r) => {
            let (a, b) = match (criterion(l, inst)?, criterion(r, inst)?) {
                (V(a), V(b)) => (a, b),
                _ => return Ok(Expired),
            };
            match op {
                BinOp::Is => V(boolean(py_eq(&a, &b))),
                BinOp::IsNot => V(boolean(!py_eq(&a, &b))),
                _ if matches!(a, Value::Null) || matches!(b, Value::Null) => V(Value::Null),
                BinOp::Eq => V(boolean(py_eq(&a, &b))),
                BinOp::Ne => V(boolean(!py_eq(&a, &b))),
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    let o = py_cmp(&a, &b).ok_or_else(|| type_error(*op, &a, &b))?;
                    V(boolean(match op {
                        BinOp::Lt => o == Ordering::Less,
                        BinOp::Le => o != Ordering::Greater,
                        BinOp::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    }))
                }
                _ => V(arithmetic(&a, *op, &b).ok_or_else(|| type_error(*op, &a, &b))?),
            }
        }
        Expr::In {
            expr,
            items,
            negate,
        } => match criterion(expr, inst)? {
            Expired => Expired,
            V(Value::Null) => V(Value::Null),
            V(a) => {
                let found = items.iter().any(|i| match i {
                    Expr::Bind(v, _) => py_eq(&a, v),
                    _ => false,
                });
                V(boolean(found != *negate))
            }
        },
        _ => return Err(Error::invalid("Cannot evaluate this expression in Python")),
    })
}

/// AND / OR with Python's short cut and SQL's NULL, as SQLAlchemy's evaluator: an expired
/// operand met before the answer is known makes the whole expired.
fn junction<'a>(
    op: BinOp,
    xs: impl Iterator<Item = &'a Expr>,
    inst: &Instance,
) -> Result<Evaluated> {
    let mut has_null = false;
    for x in xs {
        let v = match criterion(x, inst)? {
            Evaluated::Expired => return Ok(Evaluated::Expired),
            Evaluated::Value(v) => v,
        };
        let null = matches!(v, Value::Null);
        if op == BinOp::And && !truthy(&v) {
            return Ok(Evaluated::Value(if null {
                Value::Null
            } else {
                boolean(false)
            }));
        }
        if op == BinOp::Or && truthy(&v) {
            return Ok(Evaluated::Value(boolean(true)));
        }
        has_null |= null;
    }
    Ok(Evaluated::Value(if op == BinOp::And {
        boolean(true)
    } else if has_null {
        Value::Null
    } else {
        boolean(false)
    }))
}

fn boolean(b: bool) -> Value {
    Value::Integer(b as i64)
}

/// Python's truth of a value (NULL is None: false).
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Integer(i) => *i != 0,
        Value::Real(f) => *f != 0.0,
        Value::Text(_) => v.as_str().is_some_and(|s| !s.is_empty()),
        Value::Blob(b) => !b.is_empty(),
    }
}

/// Python's `==`: numbers by value, strings and bytes by content, anything else unequal.
fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Text(_), Value::Text(_)) => a.as_str() == b.as_str(),
        (Value::Blob(x), Value::Blob(y)) => x == y,
        _ => py_cmp(a, b) == Some(Ordering::Equal),
    }
}

/// Python's ordering of two values: numbers with numbers, strings with strings (by code
/// point), bytes with bytes; `None` where Python raises `TypeError`.
fn py_cmp(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Some(x.cmp(y)),
        (Value::Text(_), Value::Text(_)) => Some(a.as_str()?.cmp(b.as_str()?)),
        (Value::Blob(x), Value::Blob(y)) => Some(x.cmp(y)),
        _ => real(a)?.partial_cmp(&real(b)?),
    }
}

fn type_error(op: BinOp, a: &Value, b: &Value) -> Error {
    Error::invalid(format!(
        "Could not evaluate the criteria in Python: {a:?}{}{b:?} is not defined (Python raises TypeError); use synchronize_session = \"fetch\" or false",
        op.sql().trim_end()
    ))
}

/// The value `expr` takes for `inst`, or `None` when it cannot be worked out in memory.
pub(crate) fn evaluate(expr: &Expr, inst: &Instance) -> Option<Value> {
    match expr {
        Expr::Bind(v, _) => Some(v.clone()),
        Expr::Null => Some(Value::Null),
        Expr::Grouping(e) => evaluate(e, inst),
        Expr::Column(c) => {
            if c.from.is_some() || c.table.id != inst.mapper.table.id {
                return None;
            }
            let st = inst.state();
            st.loaded
                .contains(c.index)
                .then(|| st.values[c.index].clone())
        }
        Expr::Binary(l, op, r) => {
            let (a, b) = (evaluate(l, inst)?, evaluate(r, inst)?);
            arithmetic(&a, *op, &b)
        }
        _ => None,
    }
}

/// `a op b` as Python computes it (NULL in, NULL out, as SQLAlchemy's evaluator does).
fn arithmetic(a: &Value, op: BinOp, b: &Value) -> Option<Value> {
    if matches!(a, Value::Null) || matches!(b, Value::Null) {
        return matches!(
            op,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Concat
        )
        .then_some(Value::Null);
    }
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinOp::Add => x.checked_add(y).map(Value::Integer),
                BinOp::Sub => x.checked_sub(y).map(Value::Integer),
                BinOp::Mul => x.checked_mul(y).map(Value::Integer),
                BinOp::Div if y != 0 => Some(Value::Real(x as f64 / y as f64)),
                // Python's modulo takes the divisor's sign
                BinOp::Mod if y != 0 => x.checked_rem(y).map(|m| {
                    Value::Integer(if m != 0 && (m < 0) != (y < 0) {
                        m + y
                    } else {
                        m
                    })
                }),
                _ => None,
            }
        }
        (Value::Text(_), Value::Text(_)) if matches!(op, BinOp::Concat | BinOp::Add) => {
            Some(Value::text(&format!("{}{}", a.as_str()?, b.as_str()?)))
        }
        _ => {
            let (x, y) = (real(a)?, real(b)?);
            match op {
                BinOp::Add => Some(Value::Real(x + y)),
                BinOp::Sub => Some(Value::Real(x - y)),
                BinOp::Mul => Some(Value::Real(x * y)),
                BinOp::Div if y != 0.0 => Some(Value::Real(x / y)),
                _ => None,
            }
        }
    }
}

fn real(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(f) => Some(*f),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_follows_python() {
        let i = Value::Integer;
        assert_eq!(arithmetic(&i(6), BinOp::Add, &i(1)), Some(i(7)));
        assert_eq!(arithmetic(&i(-7), BinOp::Mod, &i(3)), Some(i(2)));
        assert_eq!(arithmetic(&i(7), BinOp::Div, &i(2)), Some(Value::Real(3.5)));
        assert_eq!(
            arithmetic(&Value::Null, BinOp::Add, &i(1)),
            Some(Value::Null)
        );
        assert_eq!(arithmetic(&i(1), BinOp::Div, &i(0)), None);
        assert_eq!(arithmetic(&i(1), BinOp::Eq, &i(1)), None);
    }

    #[test]
    fn comparisons_follow_python() {
        let i = Value::Integer;
        let t = |s: &str| Value::text(s);
        assert!(py_eq(&i(2), &Value::Real(2.0)));
        assert!(!py_eq(&i(2), &t("2")));
        assert!(py_eq(&t("é"), &t("é")));
        assert_eq!(py_cmp(&t("b"), &t("ab")), Some(Ordering::Greater));
        assert_eq!(py_cmp(&i(1), &Value::Real(1.5)), Some(Ordering::Less));
        // Python's TypeError
        assert_eq!(py_cmp(&i(1), &t("a")), None);
        assert!(!truthy(&Value::Null));
        assert!(!truthy(&t("")));
        assert!(truthy(&i(-1)));
    }
}

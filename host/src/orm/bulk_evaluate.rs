//! The new values of a bulk UPDATE worked out in memory for the objects of the session it
//! matched, as SQLAlchemy's evaluator does after `session.execute(update(...))`: a SET value
//! made of literals, NULL, the object's own loaded columns and arithmetic is computed with
//! Python's rules and becomes the attribute's loaded value; anything else is unevaluable and
//! the attribute expires (it reloads from the row).

use crate::sql::{BinOp, Expr};
use crate::value::Value;

use super::instance::Instance;

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
}

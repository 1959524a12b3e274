//! The expression tree: columns, bound values, operators, functions.

use std::rc::Rc;

use super::select::{Derived, FromItem, Select};
use super::window::FuncClause;
use crate::schema::{SqlType, Table};
use crate::value::Value;

/// A column of a table as it appears in an expression.
#[derive(Clone, Debug)]
pub struct ColumnRef {
    pub table: Rc<Table>,
    pub index: usize,
    /// The alias, subquery or CTE this column belongs to (`table` is then its stand-in).
    pub from: Option<Rc<Derived>>,
    /// Reached through a plain Table (`Table.c.name`, a Core join's inferred ON) rather
    /// than a mapped class's attribute: SQLAlchemy's plain Core column, which does not
    /// make a statement ORM-enabled (`Select::is_orm_enabled`). Every other column counts
    /// as an ORM one.
    pub core: bool,
}

impl ColumnRef {
    pub fn new(table: &Rc<Table>, index: usize) -> ColumnRef {
        ColumnRef {
            table: table.clone(),
            index,
            from: None,
            core: false,
        }
    }

    /// Whether this column makes a statement that holds it ORM-enabled: a mapped class's
    /// attribute does, a plain Table's column does not, a subquery's or CTE's column does
    /// when its SELECT is ORM-enabled.
    pub fn is_orm_enabled(&self) -> bool {
        match &self.from {
            Some(d) if !matches!(d.kind, super::DerivedKind::Alias(_)) => d.is_orm_enabled(),
            _ => !self.core,
        }
    }

    pub fn name(&self) -> &str {
        &self.table.columns[self.index].name
    }
    pub fn sql_type(&self) -> &SqlType {
        &self.table.columns[self.index].ty
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    /// True division (SQLAlchemy 2.0's `/`): exact for integers too.
    Div,
    /// Floor division (`//`): the database's integer division where both sides are
    /// integers, else `FLOOR(a / b)`, as SQLAlchemy renders it.
    FloorDiv,
    Mod,
    Concat,
    Like,
    NotLike,
    ILike,
    NotILike,
    Is,
    IsNot,
    And,
    Or,
}

impl BinOp {
    pub fn sql(self) -> &'static str {
        match self {
            BinOp::Eq => " = ",
            BinOp::Ne => " != ",
            BinOp::Lt => " < ",
            BinOp::Le => " <= ",
            BinOp::Gt => " > ",
            BinOp::Ge => " >= ",
            BinOp::Add => " + ",
            BinOp::Sub => " - ",
            BinOp::Mul => " * ",
            BinOp::Div | BinOp::FloorDiv => " / ",
            BinOp::Mod => " % ",
            BinOp::Concat => " || ",
            BinOp::Like | BinOp::ILike => " LIKE ",
            BinOp::NotLike | BinOp::NotILike => " NOT LIKE ",
            BinOp::Is => " IS ",
            BinOp::IsNot => " IS NOT ",
            BinOp::And => " AND ",
            BinOp::Or => " OR ",
        }
    }

    /// Binding strength; a child binding more loosely than its parent is parenthesized.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 2,
            BinOp::And => 3,
            BinOp::Eq
            | BinOp::Ne
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Is
            | BinOp::IsNot => 5,
            BinOp::Like | BinOp::NotLike | BinOp::ILike | BinOp::NotILike => 5,
            BinOp::Concat => 6,
            BinOp::Add | BinOp::Sub => 7,
            BinOp::Mul | BinOp::Div | BinOp::FloorDiv | BinOp::Mod => 8,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() <= 5
    }
}

/// The type of `l op r` for an arithmetic operator, as SQLAlchemy's type adaptation gives
/// it: integers divided (`/`) are NUMERIC; an integer meeting a FLOAT or NUMERIC takes that
/// type; otherwise the left side's type (the right's when the left has none).
fn arithmetic_type(op: BinOp, lt: SqlType, rt: SqlType) -> SqlType {
    let numeric = |t: &SqlType| matches!(t.base(), SqlType::Float | SqlType::Numeric(..));
    if lt == SqlType::Null {
        return if op == BinOp::Div && rt.is_integer() {
            SqlType::Numeric(None, None)
        } else {
            rt
        };
    }
    if lt.is_integer() {
        if numeric(&rt) {
            return rt;
        }
        if op == BinOp::Div && (rt.is_integer() || rt == SqlType::Null) {
            return SqlType::Numeric(None, None);
        }
    }
    lt
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
    Distinct,
    Asc,
    Desc,
}

/// The annotations of a `primaryjoin` column (SQLAlchemy's `foreign()` and `remote()`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Annotation {
    pub foreign: bool,
    pub remote: bool,
}

#[derive(Clone, Debug)]
pub enum Expr {
    Column(ColumnRef),
    /// A value sent as a bound parameter.
    Bind(Value, SqlType),
    /// A parameter supplied at each execution of a compiled statement (batched DML).
    Slot(usize),
    Null,
    /// SQL text spliced as is: `literal_column`, `text` without binds. Only ever built from
    /// the program's own strings, never from values.
    Raw(Rc<str>, SqlType),
    /// `orm.text(...)` with `:name` binds, resolved at execution.
    Text(Rc<str>),
    Binary(Box<Expr>, BinOp, Box<Expr>),
    Unary(UnaryOp, Box<Expr>),
    /// AND / OR of several clauses.
    List(BinOp, Vec<Expr>),
    In {
        expr: Box<Expr>,
        items: Vec<Expr>,
        negate: bool,
    },
    InSelect {
        expr: Box<Expr>,
        select: Box<Select>,
        negate: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negate: bool,
    },
    Func {
        name: Rc<str>,
        args: Vec<Expr>,
    },
    Label(Rc<str>, Box<Expr>),
    Cast(Box<Expr>, SqlType),
    Case {
        whens: Vec<(Expr, Expr)>,
        else_: Option<Box<Expr>>,
    },
    Grouping(Box<Expr>),
    /// `*`, as in `count(*)`.
    Star,
    ScalarSelect(Box<Select>),
    Exists(Box<Select>),
    /// A function call with OVER / FILTER / WITHIN GROUP after it.
    FuncClause(Box<FuncClause>),
    /// `(a, b)`: `orm.tuple_(...)`, compared or tested with IN as a row value.
    Tuple(Vec<Expr>),
    /// The row an upsert proposed, for the column `index` of `table`: `excluded.col`
    /// (SQLite, PostgreSQL) or `VALUES(col)` (MySQL's `inserted.col`).
    Excluded(Rc<Table>, usize),
    /// A JSON element: `data["key"]`, `data[{ "a", 1 }]:as_integer()` (`json.rs`).
    Json(Box<super::json::JsonElement>),
    /// `orm.foreign(col)` / `orm.remote(col)` in a relationship's `primaryjoin`: which
    /// column is the foreign key and which the target's side. SQL is the expression itself.
    Annotated(Box<Expr>, Annotation),
}

impl Expr {
    pub fn column(table: &Rc<Table>, index: usize) -> Expr {
        Expr::Column(ColumnRef::new(table, index))
    }

    /// A plain Table's column (`Table.c.name`): see `ColumnRef::core`.
    pub fn core_column(table: &Rc<Table>, index: usize) -> Expr {
        Expr::Column(ColumnRef {
            core: true,
            ..ColumnRef::new(table, index)
        })
    }

    /// Whether the expression names a mapped class's attribute anywhere, nested SELECTs
    /// included: SQLAlchemy's ORM-enabled statements (autoflushed by a session) are those
    /// that do.
    pub fn is_orm_enabled(&self) -> bool {
        if self.any_column(&|c| c.is_orm_enabled()) {
            return true;
        }
        // (the nested SELECTs gathered only when its own columns did not answer)
        let mut selects = Vec::new();
        self.collect_selects(&mut selects);
        selects.iter().any(|s| s.is_orm_enabled())
    }

    /// Whether `f` holds for a column of the expression (nested SELECTs not searched).
    pub fn any_column(&self, f: &dyn Fn(&ColumnRef) -> bool) -> bool {
        match self {
            Expr::Column(c) => f(c),
            _ => self.any_child(&mut |e| e.any_column(f)),
        }
    }

    /// Whether `f` holds for a direct operand of the expression (the expressions it is
    /// built of; nested SELECTs are not operands).
    fn any_child<'a>(&'a self, f: &mut dyn FnMut(&'a Expr) -> bool) -> bool {
        match self {
            Expr::Binary(a, _, b) => f(a) || f(b),
            Expr::Unary(_, e)
            | Expr::Label(_, e)
            | Expr::Cast(e, _)
            | Expr::Grouping(e)
            | Expr::Annotated(e, _) => f(e),
            Expr::List(_, items) | Expr::Func { args: items, .. } | Expr::Tuple(items) => {
                items.iter().any(&mut *f)
            }
            Expr::FuncClause(c) => c.children().into_iter().any(f),
            Expr::Json(j) => f(&j.target),
            Expr::In { expr, items, .. } => f(expr) || items.iter().any(f),
            Expr::InSelect { expr, .. } => f(expr),
            Expr::Between {
                expr, low, high, ..
            } => f(expr) || f(low) || f(high),
            Expr::Case { whens, else_ } => {
                whens.iter().any(|(c, v)| f(c) || f(v)) || else_.as_deref().is_some_and(&mut *f)
            }
            _ => false,
        }
    }

    pub fn bind(v: Value) -> Expr {
        Expr::Bind(v, SqlType::Null)
    }

    /// The type of the expression's values, used to convert results.
    pub fn sql_type(&self) -> SqlType {
        match self {
            Expr::Column(c) => c.sql_type().clone(),
            Expr::Bind(_, t) | Expr::Raw(_, t) | Expr::Cast(_, t) => t.clone(),
            Expr::Binary(l, op, r) => {
                if op.is_comparison() || matches!(op, BinOp::And | BinOp::Or) {
                    SqlType::Boolean
                } else if *op == BinOp::Concat {
                    SqlType::String(None)
                } else {
                    arithmetic_type(*op, l.operand_type(), r.operand_type())
                }
            }
            Expr::Unary(UnaryOp::Not, _)
            | Expr::List(..)
            | Expr::In { .. }
            | Expr::InSelect { .. }
            | Expr::Between { .. }
            | Expr::Exists(_) => SqlType::Boolean,
            Expr::Unary(_, e) | Expr::Label(_, e) | Expr::Grouping(e) | Expr::Annotated(e, _) => {
                e.sql_type()
            }
            Expr::Func { name, args } => match name.to_ascii_lowercase().as_str() {
                "count" | "length" | "char_length" => SqlType::Integer,
                "now" | "current_timestamp" => SqlType::DateTime,
                "avg" => SqlType::Float,
                "lower" | "upper" | "trim" | "group_concat" | "substr" | "replace" => {
                    SqlType::String(None)
                }
                "max" | "min" | "sum" | "coalesce" | "abs" | "round" | "ifnull" => {
                    args.first().map(|a| a.sql_type()).unwrap_or(SqlType::Null)
                }
                _ => SqlType::Null,
            },
            Expr::Case { whens, .. } => whens
                .first()
                .map(|(_, v)| v.sql_type())
                .unwrap_or(SqlType::Null),
            Expr::FuncClause(c) => c.sql_type(),
            Expr::Excluded(t, i) => t.columns[*i].ty.clone(),
            Expr::Json(j) => j.sql_type(),
            Expr::ScalarSelect(s) => s
                .columns
                .first()
                .map(|c| c.sql_type())
                .unwrap_or(SqlType::Null),
            _ => SqlType::Null,
        }
    }

    /// The type of an arithmetic operand: an untyped number bound as a parameter (a Lua
    /// float against an integer column) counts as what it holds.
    pub(crate) fn operand_type(&self) -> SqlType {
        match self {
            Expr::Bind(Value::Real(_), SqlType::Null) => SqlType::Float,
            Expr::Bind(Value::Integer(_), SqlType::Null) => SqlType::Integer,
            e => e.sql_type(),
        }
    }

    /// The name a result column of this expression goes by (`row.name`).
    pub fn result_name(&self) -> Option<String> {
        match self {
            Expr::Column(c) => Some(c.table.columns[c.index].key.clone()),
            Expr::Label(n, _) => Some(n.to_string()),
            Expr::Func { name, .. } => Some(name.to_string()),
            Expr::Unary(UnaryOp::Distinct, e) => e.result_name(),
            _ => None,
        }
    }

    pub fn binary(l: Expr, op: BinOp, r: Expr) -> Expr {
        Expr::Binary(Box::new(l), op, Box::new(r))
    }

    /// `a = b`, rendering `IS NULL` when `b` is NULL, as SQLAlchemy's `== None` does.
    pub fn compare(l: Expr, op: BinOp, r: Expr) -> Expr {
        let r_null = matches!(r, Expr::Null) || matches!(&r, Expr::Bind(Value::Null, _));
        match (op, r_null) {
            (BinOp::Eq, true) => Expr::binary(l, BinOp::Is, Expr::Null),
            (BinOp::Ne, true) => Expr::binary(l, BinOp::IsNot, Expr::Null),
            _ => Expr::binary(l, op, r),
        }
    }

    pub fn and(items: Vec<Expr>) -> Expr {
        Expr::List(BinOp::And, items)
    }

    /// A copy of the expression with each column `f` maps replaced (an ORDER BY of a table
    /// re-aimed at its alias, say). Nested SELECTs are kept as they are.
    pub fn adapt(&self, f: &dyn Fn(&ColumnRef) -> Option<Expr>) -> Expr {
        self.adapt_with(f, false)
    }

    /// `adapt`, also inside nested SELECTs (scalar subqueries, EXISTS, IN): a correlated
    /// subquery's reference to the outer table follows it.
    pub fn adapt_deep(&self, f: &dyn Fn(&ColumnRef) -> Option<Expr>) -> Expr {
        self.adapt_with(f, true)
    }

    fn adapt_with(&self, f: &dyn Fn(&ColumnRef) -> Option<Expr>, deep: bool) -> Expr {
        let a = |e: &Expr| Box::new(e.adapt_with(f, deep));
        let s = |sel: &Select| -> Box<Select> {
            Box::new(if deep { sel.adapt_deep(f) } else { sel.clone() })
        };
        match self {
            Expr::Column(c) => f(c).unwrap_or_else(|| self.clone()),
            Expr::Binary(l, op, r) => Expr::Binary(a(l), *op, a(r)),
            Expr::Unary(op, e) => Expr::Unary(*op, a(e)),
            Expr::Label(n, e) => Expr::Label(n.clone(), a(e)),
            Expr::Cast(e, t) => Expr::Cast(a(e), t.clone()),
            Expr::Grouping(e) => Expr::Grouping(a(e)),
            Expr::Annotated(e, n) => Expr::Annotated(a(e), *n),
            Expr::List(op, items) => {
                Expr::List(*op, items.iter().map(|e| e.adapt_with(f, deep)).collect())
            }
            Expr::Func { name, args } => Expr::Func {
                name: name.clone(),
                args: args.iter().map(|e| e.adapt_with(f, deep)).collect(),
            },
            Expr::In {
                expr,
                items,
                negate,
            } => Expr::In {
                expr: a(expr),
                items: items.iter().map(|e| e.adapt_with(f, deep)).collect(),
                negate: *negate,
            },
            Expr::InSelect {
                expr,
                select,
                negate,
            } => Expr::InSelect {
                expr: a(expr),
                select: s(select),
                negate: *negate,
            },
            Expr::FuncClause(c) => {
                Expr::FuncClause(Box::new(c.map(&|e: &Expr| e.adapt_with(f, deep))))
            }
            Expr::Tuple(items) => {
                Expr::Tuple(items.iter().map(|e| e.adapt_with(f, deep)).collect())
            }
            Expr::Json(j) => Expr::Json(Box::new(super::json::JsonElement {
                target: j.target.adapt_with(f, deep),
                ..(**j).clone()
            })),
            Expr::ScalarSelect(sel) if deep => Expr::ScalarSelect(s(sel)),
            Expr::Exists(sel) if deep => Expr::Exists(s(sel)),
            Expr::Between {
                expr,
                low,
                high,
                negate,
            } => Expr::Between {
                expr: a(expr),
                low: a(low),
                high: a(high),
                negate: *negate,
            },
            Expr::Case { whens, else_ } => Expr::Case {
                whens: whens
                    .iter()
                    .map(|(c, v)| (c.adapt_with(f, deep), v.adapt_with(f, deep)))
                    .collect(),
                else_: else_.as_ref().map(|e| a(e)),
            },
            _ => self.clone(),
        }
    }

    /// Whether the expression nests deeper than `limit` levels (looks no deeper than that).
    pub fn deeper_than(&self, limit: usize) -> bool {
        limit == 0 || self.any_child(&mut |e| e.deeper_than(limit - 1))
    }

    /// The SELECTs nested in this expression (scalar subqueries, EXISTS, IN).
    pub fn collect_selects<'a>(&'a self, out: &mut Vec<&'a Select>) {
        match self {
            Expr::ScalarSelect(s) | Expr::Exists(s) => out.push(s),
            Expr::InSelect { expr, select, .. } => {
                expr.collect_selects(out);
                out.push(select);
            }
            _ => {
                self.any_child(&mut |e| {
                    e.collect_selects(out);
                    false
                });
            }
        }
    }

    /// Every FROM item this expression reads, in order of first appearance (for deriving
    /// FROM). Subqueries nested in the expression keep their own FROM.
    pub fn collect_froms(&self, out: &mut Vec<FromItem>) {
        match self {
            Expr::Column(c) => {
                if !out.iter().any(|f| f.table_id() == c.table.id) {
                    out.push(match &c.from {
                        Some(d) => FromItem::Derived(d.clone()),
                        None => FromItem::Table(c.table.clone()),
                    });
                }
            }
            _ => {
                self.any_child(&mut |e| {
                    e.collect_froms(out);
                    false
                });
            }
        }
    }
}

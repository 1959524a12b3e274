//! SQL expressions as Lua values: column attributes (`User.name`), their operators, and the
//! `orm.and_ / or_ / not_ / func / text / literal` constructors.

use std::rc::Rc;

use mlua::{AnyUserData, Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue, Variadic};

use super::convert::{is_null, lua_to_value};
use super::error::{arg, IntoLuaResult, LuaResult};
use super::statement::LuaSelect;
use crate::orm::Mapper;
use crate::schema::{SqlType, ValueKind};
use crate::sql::expr::UnaryOp;
use crate::sql::select::anon_name;
use crate::sql::{compile_expr, BinOp, Derived, DerivedKind, Expr, Select};

/// A mapped attribute behind an expression: which class and attribute.
#[derive(Clone)]
pub struct AttrRef {
    pub mapper: Rc<Mapper>,
    pub index: usize,
}

#[derive(Clone)]
pub struct LuaExpr {
    pub expr: Expr,
    pub attr: Option<AttrRef>,
    /// The name the expression goes by when selected (a column property's or hybrid's key).
    pub label: Option<Rc<str>>,
}

impl LuaExpr {
    pub fn new(expr: Expr) -> LuaExpr {
        LuaExpr {
            expr,
            attr: None,
            label: None,
        }
    }

    /// The expression as a SELECT list item: labelled by its name, if it has one.
    pub fn selected(&self) -> Expr {
        match &self.label {
            Some(l) => Expr::Label(l.clone(), Box::new(self.expr.clone())),
            None => self.expr.clone(),
        }
    }
}

/// `orm.aliased(Model [, name])`: the class's attributes as columns of an alias of its
/// table; usable in `orm.select`, as a join target and in conditions.
#[derive(Clone)]
pub struct LuaAliased {
    pub mapper: Rc<Mapper>,
    pub derived: Rc<Derived>,
}

impl UserData for LuaAliased {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_function(
            MetaMethod::Index,
            |lua, (ud, key): (AnyUserData, String)| {
                let this = ud.borrow::<LuaAliased>()?.clone();
                match this.mapper.attr_index(&key) {
                    Some(i) => Ok(LuaValue::UserData(lua.create_userdata(LuaExpr {
                        expr: this.derived.column(i),
                        attr: Some(AttrRef {
                            mapper: this.mapper.clone(),
                            index: i,
                        }),
                        label: None,
                    })?)),
                    None => match super::computed::alias_attr(
                        lua,
                        &ud,
                        &this.mapper,
                        &this.derived,
                        &key,
                    )? {
                        Some(v) => Ok(v),
                        None => match alias_relationship(lua, &this, &key)? {
                            Some(v) => Ok(v),
                            None => Err(arg(format!(
                                "aliased({}, name='{}') has no attribute '{key}'",
                                this.mapper.class_name, this.derived.table.name
                            ))),
                        },
                    },
                }
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "aliased({}, name='{}')",
                this.mapper.class_name, this.derived.table.name
            ))
        });
    }
}

/// `alias.posts`: the relationship `key` of the alias's class, read on the alias.
fn alias_relationship(lua: &Lua, this: &LuaAliased, key: &str) -> LuaResult<Option<LuaValue>> {
    super::relationship::ensure_configured(lua, [&this.mapper])?;
    let Some(rel) = this.mapper.relationship(key) else {
        return Ok(None);
    };
    if this.mapper.reads_union() {
        return Err(arg(format!(
            "aliased({}, name='{}').{key}: relationship attributes of an alias of a concrete-table union are not supported; use :join(target, onclause)",
            this.mapper.class_name, this.derived.table.name
        )));
    }
    let attr = crate::orm::alias_relationships::RelAttr {
        rel,
        parent: Some(this.derived.clone()),
        of_type: None,
    };
    Ok(Some(LuaValue::UserData(
        lua.create_userdata(super::relationship::LuaRelAttr(attr))?,
    )))
}

/// `stmt:subquery([name])` / `stmt:cte([name])`: a FROM item with its columns as `.c.<name>`.
#[derive(Clone)]
pub struct LuaSubquery {
    pub derived: Rc<Derived>,
}

impl LuaSubquery {
    fn what(&self) -> &'static str {
        match self.derived.kind {
            DerivedKind::Cte(_) | DerivedKind::CteAlias(_) => "CTE",
            _ => "subquery",
        }
    }
}

/// The `.c` of a subquery or CTE.
#[derive(Clone)]
pub struct LuaColumns(pub LuaSubquery);

impl UserData for LuaColumns {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: String| {
            let d = &this.0.derived;
            match d.table.column_index(&key) {
                Some(i) => new_ud(lua, d.column(i)),
                None => Err(arg(format!(
                    "{} '{}' has no column '{key}' (it has: {})",
                    this.0.what(),
                    d.table.name,
                    d.table
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        });
    }
}

impl UserData for LuaSubquery {
    fn add_fields<F: mlua::UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("c", |_, this| Ok(LuaColumns(this.clone())));
        f.add_field_method_get("columns", |_, this| Ok(LuaColumns(this.clone())));
        f.add_field_method_get("name", |_, this| Ok(this.derived.table.name.clone()));
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<{} {}>", this.what(), this.derived.table.name))
        });
        // `cte:alias([name])`: the CTE read again under another name
        m.add_method("alias", |_, this, name: Option<String>| {
            let name = name_or_anon(name, "alias()")?;
            Ok(LuaSubquery {
                derived: Derived::cte_alias(&this.derived, &name).lua()?,
            })
        });
        // `cte:union_all(select)`: the recursive member of a `WITH RECURSIVE` CTE, which
        // may read `cte.c` (SQLAlchemy's `cte.union_all(...)`)
        for (name, all) in [("union", false), ("union_all", true)] {
            m.add_method(name, move |_, this, other: LuaValue| {
                let part = super::statement::select_of(&other, &format!("CTE:{name}()"))?;
                Ok(LuaSubquery {
                    derived: this.derived.union_member(part, all).lua()?,
                })
            });
        }
    }
}

/// An ORDER BY given by name: `"name"` ascending, `"-name"` descending. Returns the name and
/// a function that turns the named expression into the ORDER BY term.
pub fn order_by_name(name: &str) -> (&str, impl Fn(Expr) -> Expr) {
    let (desc, key) = match name.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, name),
    };
    let term = move |e: Expr| {
        if desc {
            Expr::Unary(crate::sql::expr::UnaryOp::Desc, Box::new(e))
        } else {
            e
        }
    };
    (key, term)
}

/// An optional name argument, or a fresh `anon_N`.
pub fn name_or_anon(v: Option<String>, what: &str) -> LuaResult<String> {
    match v {
        Some(n) if n.is_empty() => Err(arg(format!("{what}: the name may not be empty"))),
        Some(n) => Ok(n),
        None => Ok(anon_name()),
    }
}

/// `orm.text(sql)`.
#[derive(Clone)]
pub struct LuaText(pub Rc<str>);
impl UserData for LuaText {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.to_string()));
    }
}

/// Converts a Lua value used as an operand; plain values become bound parameters of the
/// type of `like` (the other operand).
pub fn operand(lua: &Lua, v: &LuaValue, like: &SqlType) -> LuaResult<Expr> {
    if is_null(v) {
        return Ok(Expr::Null);
    }
    if let LuaValue::UserData(ud) = v {
        if let Ok(e) = ud.borrow::<LuaExpr>() {
            return Ok(e.expr.clone());
        }
        if let Some(e) = super::computed::spec_of(ud) {
            return Ok(e);
        }
        if let Ok(t) = ud.borrow::<LuaText>() {
            return Ok(Expr::Text(t.0.clone()));
        }
        if let Ok(s) = ud.borrow::<LuaSelect>() {
            return Ok(Expr::ScalarSelect(Box::new(s.q.select.clone())));
        }
        if ud.is::<LuaSubquery>() {
            return Err(arg("a subquery cannot be used as a SQL value; use its columns (sub.c.name) or stmt:scalar_subquery()"));
        }
        if ud.is::<super::model::LuaModel>()
            || ud.is::<LuaAliased>()
            || super::instance::instance_of(lua, v).is_some()
        {
            return Err(arg("a mapped class or object cannot be used as a SQL value; compare its columns instead"));
        }
    }
    let kind = like.kind();
    let value = lua_to_value(lua, v, kind, &|| "SQL expression operand".to_string())?;
    Ok(Expr::Bind(value, like.clone()))
}

/// An expression argument: a Lua expression value, or a plain value bound as a parameter.
pub fn expr_arg(lua: &Lua, v: &LuaValue) -> LuaResult<Expr> {
    operand(lua, v, &SqlType::Null)
}

/// A boolean clause argument (`where`, `and_`): an expression or `orm.text`.
pub fn clause_arg(v: &LuaValue, what: &str) -> LuaResult<Expr> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(e) = ud.borrow::<LuaExpr>() {
            return Ok(e.expr.clone());
        }
        if let Some(e) = super::computed::spec_of(ud) {
            return Ok(e);
        }
        if let Ok(t) = ud.borrow::<LuaText>() {
            return Ok(Expr::Text(t.0.clone()));
        }
    }
    let hint = if matches!(v, LuaValue::Boolean(_)) {
        " (Lua turned a == or < comparison into a boolean: use :eq(), :lt() and the like)"
    } else {
        ""
    };
    Err(arg(format!(
        "{what} expects a SQL expression, got {}{hint}",
        v.type_name()
    )))
}

/// A SQL type argument (`orm.Integer`, `orm.String(20)`).
fn type_arg(ty: &AnyUserData, what: &str) -> LuaResult<SqlType> {
    Ok(ty
        .borrow::<super::schema::LuaType>()
        .map_err(|_| arg(format!("{what} expects a type such as orm.Integer")))?
        .0
        .clone())
}

fn this_type(e: &LuaExpr) -> SqlType {
    e.expr.sql_type()
}

fn new_ud(lua: &Lua, e: Expr) -> LuaResult<AnyUserData> {
    if e.deeper_than(MAX_EXPR_DEPTH) {
        return Err(arg(format!(
            "SQL expression nested more than {MAX_EXPR_DEPTH} levels deep"
        )));
    }
    lua.create_userdata(LuaExpr::new(e))
}

/// How deep an expression built from Lua may nest: deeper ones are refused when built, so
/// that compiling, copying and dropping them never exhausts the stack.
pub const MAX_EXPR_DEPTH: usize = 500;

/// The type of an expression operand (a column expression or an `orm.Column`).
fn operand_type(v: &LuaValue) -> Option<SqlType> {
    let LuaValue::UserData(ud) = v else {
        return None;
    };
    if let Ok(e) = ud.borrow::<LuaExpr>() {
        return Some(e.expr.sql_type());
    }
    super::computed::spec_of(ud).map(|e| e.sql_type())
}

/// Both operand orders of a binary metamethod: `expr + 1` and `1 + expr`.
pub(crate) fn arith(lua: &Lua, a: &LuaValue, b: &LuaValue, op: BinOp) -> LuaResult<AnyUserData> {
    let ty = operand_type(a)
        .or_else(|| operand_type(b))
        .unwrap_or(SqlType::Null);
    let ty = if op == BinOp::Concat {
        SqlType::String(None)
    } else {
        ty
    };
    let l = arith_operand(lua, a, &ty)?;
    let r = arith_operand(lua, b, &ty)?;
    new_ud(lua, Expr::binary(l, op, r))
}

/// An arithmetic operand: a Lua float against an integer expression (`level * 1.5`) is
/// bound as the float it is, untyped, so the result is a float as in SQLAlchemy.
fn arith_operand(lua: &Lua, v: &LuaValue, ty: &SqlType) -> LuaResult<Expr> {
    match v {
        LuaValue::Number(n) if ty.is_integer() => {
            Ok(Expr::Bind(crate::value::Value::Real(*n), SqlType::Null))
        }
        _ => operand(lua, v, ty),
    }
}

fn like_pattern(lua: &Lua, v: &LuaValue, prefix: bool, suffix: bool) -> LuaResult<Expr> {
    let mut e = operand(lua, v, &SqlType::String(None))?;
    if prefix {
        e = Expr::binary(
            Expr::Raw(Rc::from("'%'"), SqlType::String(None)),
            BinOp::Concat,
            e,
        );
    }
    if suffix {
        e = Expr::binary(
            e,
            BinOp::Concat,
            Expr::Raw(Rc::from("'%'"), SqlType::String(None)),
        );
    }
    Ok(e)
}

fn list_items(
    lua: &Lua,
    v: &LuaValue,
    ty: &SqlType,
    method: &str,
) -> LuaResult<Result<Vec<Expr>, Box<Select>>> {
    match v {
        LuaValue::Table(t) => {
            let mut items = Vec::with_capacity(t.raw_len());
            for i in 1..=t.raw_len() {
                items.push(operand(lua, &t.raw_get::<LuaValue>(i)?, ty)?);
            }
            Ok(Ok(items))
        }
        LuaValue::UserData(ud) if ud.is::<LuaSelect>() => {
            Ok(Err(Box::new(ud.borrow::<LuaSelect>()?.q.select.clone())))
        }
        other => Err(arg(format!(
            ":{method}() expects a list (a Lua table) or a select, got {}",
            other.type_name()
        ))),
    }
}

impl UserData for LuaExpr {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        for (name, op) in [
            ("eq", BinOp::Eq),
            ("ne", BinOp::Ne),
            ("lt", BinOp::Lt),
            ("le", BinOp::Le),
            ("gt", BinOp::Gt),
            ("ge", BinOp::Ge),
        ] {
            m.add_method(name, move |lua, this, v: LuaValue| {
                let r = match &this.expr {
                    Expr::Tuple(cols) => {
                        super::window::tuple_operand(lua, &v, cols, &format!("tuple_:{name}()"))?
                    }
                    _ => operand(lua, &v, &this_type(this))?,
                };
                new_ud(lua, Expr::compare(this.expr.clone(), op, r))
            });
        }
        // (name, operator, % before the value, % after it): like() takes the pattern as
        // given; startswith / endswith / contains put the wildcards around the value
        for (name, op, before, after) in [
            ("like", BinOp::Like, false, false),
            ("ilike", BinOp::ILike, false, false),
            ("not_like", BinOp::NotLike, false, false),
            ("not_ilike", BinOp::NotILike, false, false),
            ("startswith", BinOp::Like, false, true),
            ("endswith", BinOp::Like, true, false),
            ("contains", BinOp::Like, true, true),
        ] {
            m.add_method(name, move |lua, this, v: LuaValue| {
                let pattern = like_pattern(lua, &v, before, after)?;
                new_ud(lua, Expr::binary(this.expr.clone(), op, pattern))
            });
        }
        for (name, negate) in [("in_", false), ("not_in", true)] {
            m.add_method(name, move |lua, this, v: LuaValue| {
                if let (Expr::Tuple(cols), LuaValue::Table(t)) = (&this.expr, &v) {
                    let what = format!("tuple_:{name}()");
                    let items = (1..=t.raw_len())
                        .map(|i| super::window::tuple_operand(lua, &t.raw_get(i)?, cols, &what))
                        .collect::<LuaResult<Vec<_>>>()?;
                    return new_ud(
                        lua,
                        Expr::In {
                            expr: Box::new(this.expr.clone()),
                            items,
                            negate,
                        },
                    );
                }
                let e = match list_items(lua, &v, &this_type(this), name)? {
                    Ok(items) => Expr::In {
                        expr: Box::new(this.expr.clone()),
                        items,
                        negate,
                    },
                    Err(select) => Expr::InSelect {
                        expr: Box::new(this.expr.clone()),
                        select,
                        negate,
                    },
                };
                new_ud(lua, e)
            });
        }
        m.add_method("between", |lua, this, (a, b): (LuaValue, LuaValue)| {
            let ty = this_type(this);
            let e = Expr::Between {
                expr: Box::new(this.expr.clone()),
                low: Box::new(operand(lua, &a, &ty)?),
                high: Box::new(operand(lua, &b, &ty)?),
                negate: false,
            };
            new_ud(lua, e)
        });
        for (name, op) in [
            ("is_", BinOp::Is),
            ("is_not", BinOp::IsNot),
            ("isnot", BinOp::IsNot),
        ] {
            m.add_method(name, move |lua, this, v: LuaValue| {
                let r = operand(lua, &v, &this_type(this))?;
                new_ud(lua, Expr::binary(this.expr.clone(), op, r))
            });
        }
        for (name, op) in [
            ("asc", UnaryOp::Asc),
            ("desc", UnaryOp::Desc),
            ("distinct", UnaryOp::Distinct),
        ] {
            m.add_method(name, move |lua, this, ()| {
                new_ud(lua, Expr::Unary(op, Box::new(this.expr.clone())))
            });
        }
        // `orm.exists():where(...)`: narrows the EXISTS subquery
        for name in ["where", "filter"] {
            m.add_method(name, move |lua, this, args: Variadic<LuaValue>| {
                if matches!(this.expr, Expr::Func { .. }) && name == "filter" {
                    // `func.count(x):filter(cond)`: FILTER (WHERE cond)
                    return new_ud(lua, super::window::filter(&this.expr, &args)?);
                }
                let Expr::Exists(s) = &this.expr else {
                    return Err(arg(format!(
                        ":{name}() applies to statements, orm.exists() and (filter) function calls, not to a column expression"
                    )));
                };
                let mut s = s.clone();
                for a in args.iter() {
                    s.where_.push(clause_arg(a, &format!("orm.exists():{name}()"))?);
                }
                new_ud(lua, Expr::Exists(s))
            });
        }
        m.add_method("over", |lua, this, opts: Option<mlua::Table>| {
            new_ud(lua, super::window::over(lua, &this.expr, opts)?)
        });
        m.add_method("within_group", |lua, this, args: Variadic<LuaValue>| {
            new_ud(lua, super::window::within_group(lua, &this.expr, &args)?)
        });
        m.add_method("label", |lua, this, name: String| {
            new_ud(
                lua,
                Expr::Label(Rc::from(name.as_str()), Box::new(this.expr.clone())),
            )
        });
        m.add_method("cast", |lua, this, ty: AnyUserData| {
            let ty = type_arg(&ty, ":cast()")?;
            new_ud(lua, Expr::Cast(Box::new(this.expr.clone()), ty))
        });
        for (mm, op) in [
            (MetaMethod::Add.name(), BinOp::Add),
            (MetaMethod::Sub.name(), BinOp::Sub),
            (MetaMethod::Mul.name(), BinOp::Mul),
            (MetaMethod::Div.name(), BinOp::Div),
            ("__idiv", BinOp::FloorDiv),
            (MetaMethod::Mod.name(), BinOp::Mod),
            (MetaMethod::Concat.name(), BinOp::Concat),
        ] {
            if op == BinOp::FloorDiv && !super::compat::IDIV {
                continue; // no `//` in this Lua
            }
            m.add_meta_function(mm, move |lua, (a, b): (LuaValue, LuaValue)| {
                arith(lua, &a, &b, op)
            });
        }
        // `User.age < 30` would make Lua turn the result into a boolean: refuse it
        for mm in [MetaMethod::Lt, MetaMethod::Le] {
            m.add_meta_function(
                mm,
                move |_, (a, _b): (LuaValue, LuaValue)| -> LuaResult<bool> {
                    Err(compare_error(mm == MetaMethod::Le, &a))
                },
            );
        }
        // `&`, `|`, `~` as and_ / or_ / not_, where Lua has the operators (5.3+)
        if super::compat::BITWISE {
            m.add_meta_function("__band", |lua, (a, b): (LuaValue, LuaValue)| {
                new_ud(
                    lua,
                    Expr::and(vec![clause_arg(&a, "&")?, clause_arg(&b, "&")?]),
                )
            });
            m.add_meta_function("__bor", |lua, (a, b): (LuaValue, LuaValue)| {
                new_ud(
                    lua,
                    Expr::List(BinOp::Or, vec![clause_arg(&a, "|")?, clause_arg(&b, "|")?]),
                )
            });
            m.add_meta_method("__bnot", |lua, this, _: LuaValue| {
                new_ud(lua, Expr::Unary(UnaryOp::Not, Box::new(this.expr.clone())))
            });
        }
        // JSON element access: `data["key"]`, `data[1]`, `data[{ "a", 1 }]`
        m.add_meta_method(MetaMethod::Index, |lua, this, key: LuaValue| {
            super::json::index(lua, this, &key)
        });
        for (name, as_) in [
            ("as_json", crate::sql::json::JsonAs::Json),
            ("as_string", crate::sql::json::JsonAs::String),
            ("as_integer", crate::sql::json::JsonAs::Integer),
            ("as_float", crate::sql::json::JsonAs::Float),
            ("as_boolean", crate::sql::json::JsonAs::Boolean),
        ] {
            m.add_method(name, move |lua, this, ()| {
                super::json::read_as(lua, this, name, as_)
            });
        }
        m.add_meta_method(MetaMethod::Unm, |lua, this, _: LuaValue| {
            new_ud(lua, Expr::Unary(UnaryOp::Neg, Box::new(this.expr.clone())))
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            let c = compile_expr(&this.expr, crate::sql::dialect::default_dialect()).lua()?;
            Ok(c.sql)
        });
    }
}

/// The error of `expr < value` and the like: Lua makes a boolean of what `__lt` / `__le`
/// return, so SQL comparisons are methods.
/// `left` is the left operand of Lua's `<` / `<=` (`a > b` reaches `__lt` as `b < a`).
pub(crate) fn compare_error(or_equal: bool, left: &LuaValue) -> mlua::Error {
    let expr_left = operand_type(left).is_some();
    let (op, method) = match (expr_left, or_equal) {
        (true, false) => ("<", "lt"),
        (true, true) => ("<=", "le"),
        (false, false) => (">", "gt"),
        (false, true) => (">=", "ge"),
    };
    arg(format!(
        "a SQL expression cannot be compared with Lua's '{op}' (Lua turns the result into a boolean): use :{method}(), as in User.age:{method}(30) (:eq, :ne, :lt, :le, :gt, :ge)"
    ))
}

/// The module's expression constructors.
pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "and_",
        lua.create_function(|lua, args: Variadic<LuaValue>| {
            let items = args
                .iter()
                .map(|a| clause_arg(a, "orm.and_"))
                .collect::<LuaResult<Vec<_>>>()?;
            new_ud(lua, Expr::and(items))
        })?,
    )?;
    orm.set(
        "or_",
        lua.create_function(|lua, args: Variadic<LuaValue>| {
            let items = args
                .iter()
                .map(|a| clause_arg(a, "orm.or_"))
                .collect::<LuaResult<Vec<_>>>()?;
            new_ud(lua, Expr::List(BinOp::Or, items))
        })?,
    )?;
    orm.set(
        "not_",
        lua.create_function(|lua, a: LuaValue| {
            new_ud(
                lua,
                Expr::Unary(UnaryOp::Not, Box::new(clause_arg(&a, "orm.not_")?)),
            )
        })?,
    )?;
    orm.set(
        "text",
        lua.create_function(|_, s: String| Ok(LuaText(Rc::from(s.as_str()))))?,
    )?;
    orm.set(
        "null",
        lua.create_function(|_, ()| Ok(super::convert::Null))?,
    )?;
    orm.set(
        "literal",
        lua.create_function(|lua, v: LuaValue| {
            let value = lua_to_value(lua, &v, ValueKind::Any, &|| "orm.literal".into())?;
            new_ud(lua, Expr::Bind(value, SqlType::Null))
        })?,
    )?;
    orm.set(
        "distinct",
        lua.create_function(|lua, v: LuaValue| {
            new_ud(
                lua,
                Expr::Unary(UnaryOp::Distinct, Box::new(expr_arg(lua, &v)?)),
            )
        })?,
    )?;
    // `orm.true_()` / `orm.false_()`: the boolean constants (`join(lateral, orm.true_())`)
    for (name, sql) in [("true_", "true"), ("false_", "false")] {
        orm.set(
            name,
            lua.create_function(move |lua, ()| {
                new_ud(lua, Expr::Raw(Rc::from(sql), SqlType::Boolean))
            })?,
        )?;
    }
    // annotations of a relationship's primaryjoin: which column is the foreign key, which
    // the target's (SQLAlchemy's foreign() / remote()); as SQL, the column itself
    for (name, foreign) in [("foreign", true), ("remote", false)] {
        orm.set(
            name,
            lua.create_function(move |lua, v: LuaValue| {
                let what = format!("orm.{name}");
                let e = clause_arg(&v, &what)?;
                let (mut a, inner) = match e {
                    Expr::Annotated(inner, a) => (a, *inner),
                    other => (Default::default(), other),
                };
                if foreign {
                    a.foreign = true;
                } else {
                    a.remote = true;
                }
                new_ud(lua, Expr::Annotated(Box::new(inner), a))
            })?,
        )?;
    }
    orm.set(
        "literal_column",
        lua.create_function(|lua, (text, ty): (String, Option<AnyUserData>)| {
            let ty = match ty {
                Some(t) => type_arg(&t, "orm.literal_column")?,
                None => SqlType::Null,
            };
            new_ud(lua, Expr::Raw(Rc::from(text.as_str()), ty))
        })?,
    )?;
    orm.set(
        "cast",
        lua.create_function(|lua, (v, ty): (LuaValue, AnyUserData)| {
            let ty = type_arg(&ty, "orm.cast")?;
            new_ud(lua, Expr::Cast(Box::new(expr_arg(lua, &v)?), ty))
        })?,
    )?;
    orm.set(
        "case",
        lua.create_function(|lua, args: Variadic<LuaValue>| {
            let mut whens = Vec::new();
            let mut else_ = None;
            for (n, a) in args.iter().enumerate() {
                let LuaValue::Table(t) = a else {
                    return Err(arg(format!(
                        "orm.case(): argument {} must be a {{ condition, value }} pair or {{ else_ = value }}, got {}",
                        n + 1,
                        a.type_name()
                    )));
                };
                let e: LuaValue = t.get("else_")?;
                if !e.is_nil() {
                    else_ = Some(Box::new(expr_arg(lua, &e)?));
                    continue;
                }
                if t.raw_len() != 2 {
                    return Err(arg(format!(
                        "orm.case(): argument {} must be a {{ condition, value }} pair",
                        n + 1
                    )));
                }
                let cond = clause_arg(&t.raw_get::<LuaValue>(1)?, "orm.case() condition")?;
                let value = expr_arg(lua, &t.raw_get::<LuaValue>(2)?)?;
                whens.push((cond, value));
            }
            if whens.is_empty() {
                return Err(arg("orm.case() needs at least one { condition, value } pair"));
            }
            new_ud(lua, Expr::Case { whens, else_ })
        })?,
    )?;
    orm.set(
        "exists",
        lua.create_function(|lua, args: Variadic<LuaValue>| {
            // `orm.exists(select)`, `orm.exists(cols...)`, or `orm.exists()` (SELECT *),
            // the last two narrowed with `:where(...)`
            let s = match args.first() {
                None => crate::sql::Select::new(vec![Expr::Star]),
                Some(LuaValue::UserData(ud)) if ud.is::<LuaSelect>() && args.len() == 1 => {
                    ud.borrow::<LuaSelect>()?.q.select.clone()
                }
                Some(_) => {
                    super::statement::new_select(&args)
                        .map_err(|e| arg(format!("orm.exists(): {e}")))?
                        .q
                        .select
                }
            };
            new_ud(lua, Expr::Exists(Box::new(s)))
        })?,
    )?;
    orm.set(
        "aliased",
        lua.create_function(|_, (m, name): (LuaValue, Option<LuaValue>)| {
            let mapper = match &m {
                LuaValue::UserData(ud) if ud.is::<super::model::LuaModel>() => {
                    ud.borrow::<super::model::LuaModel>()?.mapper.clone()
                }
                LuaValue::UserData(ud) if ud.is::<LuaAliased>() => {
                    ud.borrow::<LuaAliased>()?.mapper.clone()
                }
                other => {
                    return Err(arg(format!(
                        "orm.aliased() expects a mapped class, got {}",
                        other.type_name()
                    )))
                }
            };
            let union = mapper.reads_union();
            let name = match name {
                None | Some(LuaValue::Nil) => None,
                Some(LuaValue::String(s)) => Some(s.to_str()?.to_string()),
                // aliased(Model, stmt:subquery()): the entity read from a subquery that
                // selects its columns
                Some(LuaValue::UserData(ud)) if ud.is::<LuaSubquery>() && union => {
                    return Err(super::error::invalid(format!(
                        "orm.aliased({}, subquery): a class read through the polymorphic union of its concrete-table hierarchy is aliased as its union (give a name, or none)",
                        mapper.class_name
                    )));
                }
                Some(LuaValue::UserData(ud)) if ud.is::<LuaSubquery>() => {
                    let derived = ud.borrow::<LuaSubquery>()?.derived.clone();
                    let names = |cols: &[crate::schema::Column]| {
                        cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>()
                    };
                    if names(&derived.table.columns) != names(&mapper.table.columns) {
                        return Err(arg(format!(
                            "orm.aliased({}, subquery): the subquery '{}' must select the columns of {} (select({}) ...), it has: {}",
                            mapper.class_name,
                            derived.table.name,
                            mapper.class_name,
                            mapper.class_name,
                            names(&derived.table.columns).join(", ")
                        )));
                    }
                    return Ok(LuaAliased { mapper, derived });
                }
                Some(other) => {
                    return Err(arg(format!(
                        "orm.aliased({}, name): the name must be a string or a subquery, got {}",
                        mapper.class_name,
                        other.type_name()
                    )))
                }
            };
            let name = name_or_anon(name, "orm.aliased()")?;
            // a class read through its concrete union: an alias of the union (SQLAlchemy's
            // aliased(Employee) selects from `(... UNION ALL ...) AS name`)
            let derived = match mapper.polymorphic_union_aliased(&name).lua()? {
                Some(u) if union => u,
                _ => Derived::alias(&mapper.table, &name).lua()?,
            };
            Ok(LuaAliased { mapper, derived })
        })?,
    )?;
    orm.set(
        "tuple_",
        lua.create_function(|lua, args: Variadic<LuaValue>| {
            new_ud(lua, super::window::tuple(lua, &args)?)
        })?,
    )?;
    let func = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.set(
        "__index",
        lua.create_function(|lua, (_t, name): (LuaValue, String)| {
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(arg(format!(
                    "orm.func.{name}: not a valid SQL function name"
                )));
            }
            let name: Rc<str> = Rc::from(name.as_str());
            lua.create_function(move |lua, args: Variadic<LuaValue>| {
                let args = args
                    .iter()
                    .map(|a| expr_arg(lua, a))
                    .collect::<LuaResult<Vec<_>>>()?;
                new_ud(
                    lua,
                    Expr::Func {
                        name: name.clone(),
                        args,
                    },
                )
            })
        })?,
    )?;
    func.set_metatable(Some(mt))?;
    orm.set("func", func)?;
    Ok(())
}

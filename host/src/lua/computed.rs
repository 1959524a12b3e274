//! Computed attributes and validation: `orm.hybrid_property`, `orm.hybrid_method`,
//! `orm.column_property`, `orm.synonym` declared in a model spec, `Model:validates(...)`,
//! what they add to the class value (`User.full_name` as SQL) and to instances, and the
//! attribute parts of `orm.inspect`.
//!
//! On instances, hybrid properties and synonyms are entries of the model's attribute-key
//! table (`instance.rs`, `KEYS`) at `DESCRIPTOR + n`, whose getter and setter the raw
//! `__index` / `__newindex` call directly: an error raised in one reaches the caller as the
//! very value raised, since no Rust frame stands between. A validated column's key entry
//! carries the `VALIDATED` bit, which sends writes to its validator (again called from the
//! raw functions) before they are stored; reads are unaffected. Models without any of this
//! keep the plain entries and pay nothing. Column properties are values of the instance
//! after its columns (see `orm::mapper::ColumnProperty`), read through the slow path.
//!
//! An `orm.Column` used in an expression before the model exists (`first .. " " .. last`
//! for a column property) stands for a one-column placeholder table until `Base:model`
//! binds the column to its table; the property's expression is then re-aimed at it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use mlua::{
    AnyUserData, Function, Lua, MetaMethod, ObjectLike, UserData, UserDataFields, UserDataMethods,
    Value as LuaValue, Variadic,
};

use super::convert::value_to_lua;
use super::error::{arg, kind_err, IntoLuaResult, LuaResult};
use super::expr::{LuaAliased, LuaExpr};
use super::instance::{push_instance, DESCRIPTOR, GETTERS, SETTERS, VALIDATED, VALIDATORS};
use super::model::{model_host, LuaModel};
use super::schema::{ColumnSpec, LuaColumnSpec};
use crate::error::ErrorKind;
use crate::orm::collections::RelState;
use crate::orm::mapper::ColumnProperty;
use crate::orm::session::SessionCore;
use crate::orm::{Instance, Mapper, Status};
use crate::schema::{Column, SqlType, Table};
use crate::sql::{BinOp, Derived, Expr, FromItem};

/// `orm.hybrid_property(getter)` / `orm.hybrid_method(fn)`, as declared.
#[derive(Clone)]
pub struct LuaHybrid {
    pub method: bool,
    pub getter: Function,
    pub expr: Option<Function>,
    pub setter: Option<Function>,
}

impl LuaHybrid {
    fn what(&self) -> &'static str {
        if self.method {
            "hybrid_method"
        } else {
            "hybrid_property"
        }
    }
}

impl UserData for LuaHybrid {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        // each returns a new hybrid, so a chain reads like SQLAlchemy's decorators
        m.add_method("expression", |_, this, f: LuaValue| {
            let f = function_arg(&f, &format!("{}:expression()", this.what()))?;
            Ok(LuaHybrid {
                expr: Some(f),
                ..this.clone()
            })
        });
        m.add_method("setter", |_, this, f: LuaValue| {
            if this.method {
                return Err(arg(
                    "hybrid_method has no setter (only hybrid_property does)",
                ));
            }
            let f = function_arg(&f, "hybrid_property:setter()")?;
            Ok(LuaHybrid {
                setter: Some(f),
                ..this.clone()
            })
        });
        m.add_method("getter", |_, this, f: LuaValue| {
            let f = function_arg(&f, &format!("{}:getter()", this.what()))?;
            Ok(LuaHybrid {
                getter: f,
                ..this.clone()
            })
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<{}>", this.what()))
        });
    }
}

/// `orm.column_property(expr)`, as declared.
#[derive(Clone)]
pub struct LuaColumnProperty(pub Expr);
impl UserData for LuaColumnProperty {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, _, ()| Ok("<column_property>"));
    }
}

/// `orm.synonym(name)`, as declared.
#[derive(Clone)]
pub struct LuaSynonym(pub String);
impl UserData for LuaSynonym {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<synonym for '{}'>", this.0))
        });
    }
}

fn function_arg(v: &LuaValue, what: &str) -> LuaResult<Function> {
    match v {
        LuaValue::Function(f) => Ok(f.clone()),
        other => Err(arg(format!(
            "{what} expects a function, got {}",
            other.type_name()
        ))),
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    for (name, method) in [("hybrid_property", false), ("hybrid_method", true)] {
        orm.set(
            name,
            lua.create_function(move |_, (f, more): (LuaValue, mlua::MultiValue)| {
                let getter = function_arg(&f, &format!("orm.{name}()"))?;
                if !more.is_empty() {
                    return Err(arg(format!(
                        "orm.{name}(fn) takes one function; give the SQL side with :expression(fn){}",
                        if method { "" } else { " and a setter with :setter(fn)" }
                    )));
                }
                Ok(LuaHybrid {
                    method,
                    getter,
                    expr: None,
                    setter: None,
                })
            })?,
        )?;
    }
    orm.set(
        "column_property",
        lua.create_function(|lua, v: LuaValue| {
            let e = super::expr::expr_arg(lua, &v)?;
            if matches!(e, Expr::Bind(..) | Expr::Null) {
                return Err(arg(format!(
                    "orm.column_property() expects a SQL expression (columns, operators, a scalar subquery), got {}",
                    v.type_name()
                )));
            }
            let e = match e {
                Expr::Label(_, inner) => *inner, // the attribute's key names it
                e => e,
            };
            Ok(LuaColumnProperty(e))
        })?,
    )?;
    orm.set(
        "synonym",
        lua.create_function(|_, name: LuaValue| match name {
            LuaValue::String(s) if !s.as_bytes().is_empty() => {
                Ok(LuaSynonym(s.to_str()?.to_string()))
            }
            other => Err(arg(format!(
                "orm.synonym() expects the name of the attribute it stands for, got {}",
                other.type_name()
            ))),
        })?,
    )?;
    Ok(())
}

// ---- columns used before their table exists ----

#[derive(Default)]
struct Pending {
    by_order: HashMap<u64, Rc<Table>>,
    /// placeholder table id -> column creation order
    orders: HashMap<u32, u64>,
}

thread_local! {
    static PENDING: RefCell<Pending> = RefCell::new(Pending::default());
}

/// The expression of an `orm.Column` not yet bound to a table: a column of a placeholder
/// table, the same for every use of that `orm.Column`.
pub fn spec_column(spec: &ColumnSpec) -> Expr {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(t) = p.by_order.get(&spec.order) {
            return Expr::column(t, 0);
        }
        let ty = spec.ty.clone().unwrap_or(SqlType::Null);
        let name = spec.name.clone().unwrap_or_else(|| "column".to_string());
        let t = Rc::new(
            Table::new(
                &format!("<unattached column {name}>"),
                vec![Column::new(&name, ty)],
                vec![],
                vec![],
            )
            .expect("a one-column table"),
        );
        p.orders.insert(t.id, spec.order);
        p.by_order.insert(spec.order, t.clone());
        Expr::column(&t, 0)
    })
}

fn pending_order(table_id: u32) -> Option<u64> {
    PENDING.with(|p| p.borrow().orders.get(&table_id).copied())
}

/// The expression behind an `orm.Column` value, if it is one.
pub fn spec_of(ud: &AnyUserData) -> Option<Expr> {
    ud.borrow::<LuaColumnSpec>().ok().map(|s| spec_column(&s.0))
}

/// An `orm.Column` value in an expression: arithmetic, `..`, and the column-expression
/// methods (`first:lower()`, `first:eq(x)`), as on `User.first`.
pub fn add_column_spec_methods<M: UserDataMethods<LuaColumnSpec>>(m: &mut M) {
    let ops = [
        (MetaMethod::Add.name(), BinOp::Add),
        (MetaMethod::Sub.name(), BinOp::Sub),
        (MetaMethod::Mul.name(), BinOp::Mul),
        (MetaMethod::Div.name(), BinOp::Div),
        ("__idiv", BinOp::FloorDiv),
        (MetaMethod::Mod.name(), BinOp::Mod),
        (MetaMethod::Concat.name(), BinOp::Concat),
    ];
    for (mm, op) in ops {
        if op == BinOp::FloorDiv && !super::compat::IDIV {
            continue; // no `//` in this Lua
        }
        m.add_meta_function(mm, move |lua, (a, b): (LuaValue, LuaValue)| {
            super::expr::arith(lua, &a, &b, op)
        });
    }
    for mm in [MetaMethod::Lt, MetaMethod::Le] {
        m.add_meta_function(
            mm,
            move |_, (a, _b): (LuaValue, LuaValue)| -> LuaResult<bool> {
                Err(super::expr::compare_error(mm == MetaMethod::Le, &a))
            },
        );
    }
    m.add_meta_method(MetaMethod::Unm, |lua, this, _: LuaValue| {
        let e = spec_column(&this.0);
        lua.create_userdata(LuaExpr::new(Expr::Unary(
            crate::sql::expr::UnaryOp::Neg,
            Box::new(e),
        )))
    });
    // `first:eq("x")`: the method of the column expression, called with it
    m.add_meta_method(MetaMethod::Index, |lua, this, key: String| {
        let e = lua.create_userdata(LuaExpr::new(spec_column(&this.0)))?;
        let f: LuaValue = e.get(key.as_str())?;
        match f {
            LuaValue::Function(f) => Ok(LuaValue::Function(lua.create_function(
                move |_, (_this, args): (LuaValue, mlua::MultiValue)| {
                    f.call::<mlua::MultiValue>((e.clone(), args))
                },
            )?)),
            _ => Ok(LuaValue::Nil),
        }
    });
}

// ---- declaration ----

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescKind {
    HybridProperty,
    HybridMethod,
    /// The attribute it stands for.
    Synonym(String),
}

impl DescKind {
    pub fn name(&self) -> &'static str {
        match self {
            DescKind::HybridProperty => "hybrid_property",
            DescKind::HybridMethod => "hybrid_method",
            DescKind::Synonym(_) => "synonym",
        }
    }
}

/// A hybrid or a synonym of a model.
pub struct Desc {
    pub key: String,
    pub kind: DescKind,
    pub hybrid: Option<LuaHybrid>,
}

/// A model's computed attributes, kept in its `ModelHost`.
#[derive(Default)]
pub struct Computed {
    /// Hybrids and synonyms, by key; a hybrid property or synonym `n` is `DESCRIPTOR + n`
    /// among the instance attribute indices.
    pub descs: Vec<Desc>,
    /// Column indices with a validator.
    pub validated: RefCell<Vec<usize>>,
}

impl Computed {
    pub fn desc(&self, key: &str) -> Option<&Desc> {
        self.descs.iter().find(|d| d.key == key)
    }
}

/// What a spec declared besides columns and relationships.
#[derive(Default)]
pub struct Declared {
    pub props: Vec<(String, Expr)>,
    pub descs: Vec<Desc>,
}

/// Takes the computed attributes out of a model's members (own and inherited).
pub fn split_members(
    members: Vec<(String, LuaValue)>,
) -> LuaResult<(Vec<(String, LuaValue)>, Declared)> {
    let mut rest = Vec::with_capacity(members.len());
    let mut d = Declared::default();
    for (k, v) in members {
        // a later (own) member replaces an inherited one of the same name
        d.props.retain(|(pk, _)| *pk != k);
        d.descs.retain(|x| x.key != k);
        rest.retain(|(rk, _): &(String, LuaValue)| *rk != k);
        match &v {
            LuaValue::UserData(ud) if ud.is::<LuaHybrid>() => {
                let h = ud.borrow::<LuaHybrid>()?.clone();
                d.descs.push(Desc {
                    key: k,
                    kind: if h.method {
                        DescKind::HybridMethod
                    } else {
                        DescKind::HybridProperty
                    },
                    hybrid: Some(h),
                });
            }
            LuaValue::UserData(ud) if ud.is::<LuaSynonym>() => {
                let target = ud.borrow::<LuaSynonym>()?.0.clone();
                d.descs.push(Desc {
                    key: k,
                    kind: DescKind::Synonym(target),
                    hybrid: None,
                });
            }
            LuaValue::UserData(ud) if ud.is::<LuaColumnProperty>() => {
                d.props
                    .push((k, ud.borrow::<LuaColumnProperty>()?.0.clone()));
            }
            _ => rest.push((k, v)),
        }
    }
    d.props.sort_by(|a, b| a.0.cmp(&b.0));
    d.descs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((rest, d))
}

/// Binds the column properties' expressions to the model's table: each `orm.Column` of the
/// model used in them becomes the table's column.
pub fn resolve_props(
    model: &str,
    columns: &[(String, ColumnSpec)],
    table: &Rc<Table>,
    props: &[(String, Expr)],
) -> LuaResult<Vec<ColumnProperty>> {
    let mut by_order: HashMap<u64, usize> = HashMap::new();
    for (i, (_, spec)) in columns.iter().enumerate() {
        by_order.insert(spec.order, i);
    }
    let mut out = Vec::with_capacity(props.len());
    for (key, e) in props {
        let missing = Cell::new(false);
        // a plain Table's columns in it become the class's: selecting or filtering by the
        // property is an ORM statement, as SQLAlchemy annotates it with its class
        let bound = e.adapt_deep(&|c| {
            let Some(order) = pending_order(c.table.id) else {
                return c.core.then(|| {
                    Expr::Column(crate::sql::ColumnRef {
                        core: false,
                        ..c.clone()
                    })
                });
            };
            match by_order.get(&order) {
                Some(&i) => Some(Expr::column(table, i)),
                None => {
                    missing.set(true);
                    None
                }
            }
        });
        if missing.get() {
            return Err(arg(format!(
                "{model}.{key}: the column_property reads an orm.Column that is not an attribute of {model} (declare that column in the model spec too)"
            )));
        }
        out.push(ColumnProperty {
            key: key.clone(),
            kind: bound.sql_type().kind(),
            expr: bound,
        });
    }
    Ok(out)
}

/// Checks hybrids and synonyms against the model's other attributes.
pub fn check_descs(mapper: &Mapper, rel_keys: &[String], descs: &[Desc]) -> LuaResult<()> {
    let name = &mapper.class_name;
    for d in descs {
        if mapper.attr_index(&d.key).is_some()
            || mapper.prop_index(&d.key).is_some()
            || rel_keys.contains(&d.key)
        {
            return Err(arg(format!(
                "{name}.{}: a {} may not share its name with another attribute",
                d.key,
                d.kind.name()
            )));
        }
        if let DescKind::Synonym(target) = &d.kind {
            let known = mapper.attr_index(target).is_some()
                || mapper.prop_index(target).is_some()
                || rel_keys.contains(target)
                || descs
                    .iter()
                    .any(|o| o.key == *target && o.kind == DescKind::HybridProperty);
            if !known {
                return Err(arg(format!(
                    "{name}.{}: synonym() names '{target}', which is not a column, column_property, relationship or hybrid_property of {name}",
                    d.key
                )));
            }
        }
    }
    Ok(())
}

/// Makes a model's hybrids and synonyms reachable from its instances: key entries and
/// getter / setter tables in the instance metatable, hybrid methods in the class table.
pub fn install_model(
    lua: &Lua,
    mapper: &Mapper,
    class: &mlua::Table,
    descs: &[Desc],
) -> LuaResult<()> {
    if descs.is_empty() {
        return Ok(());
    }
    let mt = super::instance::class_metatable(lua, mapper)?;
    let keys: mlua::Table = mt.raw_get(super::instance::KEYS)?;
    let getters = lua.create_table()?;
    let setters = lua.create_table()?;
    let make: Function = lua
        .load(
            "local name = ...
             return function(self) return self[name] end, function(self, v) self[name] = v end",
        )
        .set_name("=lualchemy/synonym")
        .into_function()?;
    for (n, d) in descs.iter().enumerate() {
        match (&d.kind, &d.hybrid) {
            (DescKind::HybridMethod, Some(h)) => {
                // obj:method(...) calls the function with the instance
                class.raw_set(d.key.as_str(), h.getter.clone())?;
            }
            (DescKind::HybridProperty, Some(h)) => {
                keys.raw_set(d.key.as_str(), (DESCRIPTOR + n) as i64)?;
                super::instance::keys_changed(mapper);
                getters.raw_set(n + 1, h.getter.clone())?;
                if let Some(s) = &h.setter {
                    setters.raw_set(n + 1, s.clone())?;
                }
            }
            (DescKind::Synonym(target), _) => {
                let (g, s): (Function, Function) = make.call(target.as_str())?;
                keys.raw_set(d.key.as_str(), (DESCRIPTOR + n) as i64)?;
                super::instance::keys_changed(mapper);
                getters.raw_set(n + 1, g)?;
                setters.raw_set(n + 1, s)?;
            }
            _ => {}
        }
    }
    mt.raw_set(GETTERS, getters)?;
    mt.raw_set(SETTERS, setters)?;
    Ok(())
}

/// The error of a write to an attribute that cannot be written.
pub fn read_only(mapper: &Mapper, key: &str, why: &str) -> mlua::Error {
    kind_err(
        ErrorKind::AttributeError,
        format!("can't set attribute '{}.{key}': {why}", mapper.class_name),
    )
}

/// The message of a write to a hybrid property without a setter (raised by `instance.rs`).
pub fn no_setter_message(mapper: &Mapper, key: &str) -> String {
    let what = match model_host(mapper).computed.desc(key).map(|d| &d.kind) {
        Some(DescKind::Synonym(_)) => "the synonym has no setter",
        _ => "the hybrid_property has no setter (add one with :setter(function(self, value) ... end))",
    };
    format!("can't set attribute '{}.{key}': {what}", mapper.class_name)
}

// ---- the class side ----

thread_local! {
    /// Models with computed attributes, by table id (for `filter_by` on a table).
    static MODELS: RefCell<HashMap<u32, std::rc::Weak<Mapper>>> = RefCell::new(HashMap::new());
}

/// Records a model that has hybrids, synonyms or column properties.
pub fn register_model(mapper: &Rc<Mapper>) {
    MODELS.with(|m| {
        let mut m = m.borrow_mut();
        m.retain(|_, w| w.strong_count() > 0);
        m.insert(mapper.table.id, Rc::downgrade(mapper));
    });
}

fn computed_model(table_id: u32) -> Option<Rc<Mapper>> {
    MODELS.with(|m| m.borrow().get(&table_id).and_then(|w| w.upgrade()))
}

/// The expression a hybrid's class side returned, named by the hybrid's key when selected.
fn named(lua: &Lua, v: LuaValue, key: &str) -> LuaResult<LuaValue> {
    if let LuaValue::UserData(ud) = &v {
        if let Ok(e) = ud.borrow::<LuaExpr>() {
            if matches!(e.expr, Expr::Label(..)) {
                return Ok(v.clone());
            }
            let mut e = e.clone();
            e.label = Some(Rc::from(key));
            return Ok(LuaValue::UserData(lua.create_userdata(e)?));
        }
    }
    Ok(v)
}

/// `cls.key` of a hybrid or synonym, `cls` being the model or an alias of it.
fn desc_class_side(lua: &Lua, cls: &AnyUserData, d: &Desc) -> LuaResult<LuaValue> {
    match (&d.kind, &d.hybrid) {
        (DescKind::Synonym(target), _) => cls.get::<LuaValue>(target.as_str()),
        (DescKind::HybridMethod, Some(h)) => Ok(LuaValue::Function(
            h.expr.clone().unwrap_or_else(|| h.getter.clone()),
        )),
        (DescKind::HybridProperty, Some(h)) => {
            let f = h.expr.as_ref().unwrap_or(&h.getter);
            let v = f.call::<LuaValue>(cls.clone())?;
            named(lua, v, &d.key)
        }
        _ => Ok(LuaValue::Nil),
    }
}

/// A column property's expression on the class (`User.full`), named by its key when
/// selected.
fn prop_expr(lua: &Lua, p: &ColumnProperty, expr: Expr) -> LuaResult<LuaValue> {
    Ok(LuaValue::UserData(lua.create_userdata(LuaExpr {
        expr,
        attr: None,
        label: Some(Rc::from(p.key.as_str())),
    })?))
}

/// `User.key` for a hybrid, synonym or column property; `None` for anything else.
pub fn class_attr(
    lua: &Lua,
    model: &AnyUserData,
    mapper: &Mapper,
    key: &str,
) -> LuaResult<Option<LuaValue>> {
    let host = model_host(mapper);
    if let Some(d) = host.computed.desc(key) {
        return desc_class_side(lua, model, d).map(Some);
    }
    if let Some(i) = mapper.prop_index(key) {
        let p = &mapper.props[i - mapper.attrs.len()];
        return prop_expr(lua, p, p.expr.clone()).map(Some);
    }
    Ok(None)
}

/// `alias.key` for a hybrid, synonym or column property of an `orm.aliased(Model)`.
pub fn alias_attr(
    lua: &Lua,
    alias: &AnyUserData,
    mapper: &Mapper,
    derived: &Rc<Derived>,
    key: &str,
) -> LuaResult<Option<LuaValue>> {
    let host = model_host(mapper);
    if let Some(d) = host.computed.desc(key) {
        return desc_class_side(lua, alias, d).map(Some);
    }
    if let Some(i) = mapper.prop_index(key) {
        let p = &mapper.props[i - mapper.attrs.len()];
        let tid = mapper.table.id;
        let e = p.expr.adapt_deep(&|c| {
            (c.table.id == tid && c.from.is_none()).then(|| derived.column(c.index))
        });
        return prop_expr(lua, p, e).map(Some);
    }
    Ok(None)
}

/// `filter_by{ key = v }` for a key that is no column of the target: a hybrid, synonym or
/// column property of the entity the target is (its table or an alias of it).
pub fn filter_by_expr(lua: &Lua, target: &FromItem, key: &str) -> LuaResult<Option<Expr>> {
    match filter_by_attr(lua, target, key)? {
        Some(LuaValue::UserData(ud)) if ud.is::<LuaExpr>() => {
            Ok(Some(ud.borrow::<LuaExpr>()?.expr.clone()))
        }
        _ => Ok(None),
    }
}

/// The class side of a hybrid, synonym, column property or composite `key` of the entity
/// `target` is the table (or an alias) of, for `filter_by`.
pub fn filter_by_attr(lua: &Lua, target: &FromItem, key: &str) -> LuaResult<Option<LuaValue>> {
    Ok(match target {
        FromItem::Table(t) => {
            let Some(m) = computed_model(t.id) else {
                return Ok(None);
            };
            class_attr(lua, &model_host(&m).class_ud(lua)?, &m, key)?
        }
        FromItem::Derived(d) => {
            let crate::sql::select::DerivedKind::Alias(t) = &d.kind else {
                return Ok(None);
            };
            let Some(m) = computed_model(t.id) else {
                return Ok(None);
            };
            let ud = lua.create_userdata(LuaAliased {
                mapper: m.clone(),
                derived: d.clone(),
            })?;
            alias_attr(lua, &ud, &m, d, key)?
        }
    })
}

// ---- validators ----

/// `Model:validates(name, ..., fn)`: `fn(self, key, value)` runs on every set of the named
/// columns (the constructor's keyword arguments included) and returns the value to store;
/// an error raised in it rejects the value.
pub fn validates(lua: &Lua, model: &AnyUserData, args: Variadic<LuaValue>) -> LuaResult<()> {
    let mapper = model.borrow::<LuaModel>()?.mapper.clone();
    let name = &mapper.class_name;
    let (f, names) = match args.split_last() {
        Some((LuaValue::Function(f), names)) if !names.is_empty() => (f.clone(), names),
        _ => {
            return Err(arg(format!(
                "{name}:validates(name, ..., fn): expects attribute names, then the function fn(self, key, value)"
            )))
        }
    };
    let host = model_host(&mapper);
    let mt = super::instance::class_metatable(lua, &mapper)?;
    let keys: mlua::Table = mt.raw_get(super::instance::KEYS)?;
    let validators: mlua::Table = match mt.raw_get::<Option<mlua::Table>>(VALIDATORS)? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            mt.raw_set(VALIDATORS, t.clone())?;
            t
        }
    };
    let mut cols = Vec::new();
    for n in names {
        let LuaValue::String(s) = n else {
            return Err(arg(format!(
                "{name}:validates(): attribute names are strings, got {}",
                n.type_name()
            )));
        };
        let mut key = s.to_str()?.to_string();
        // a synonym validates the attribute it stands for
        let mut hops = 0;
        while let Some(DescKind::Synonym(t)) = host.computed.desc(&key).map(|d| &d.kind) {
            key = t.clone();
            hops += 1;
            if hops > 8 {
                break;
            }
        }
        let Some(i) = mapper.attr_index(&key) else {
            let what = if mapper.prop_index(&key).is_some() {
                "a column_property is read-only"
            } else if mapper.relationship(&key).is_some()
                || mapper.rel_specs.borrow().iter().any(|r| r.key == key)
            {
                "validators on relationships are not supported"
            } else if host.computed.desc(&key).is_some() {
                "a hybrid attribute validates in its setter"
            } else {
                "no such column"
            };
            return Err(arg(format!("{name}:validates('{key}'): {what}")));
        };
        if host.computed.validated.borrow().contains(&i) {
            return Err(arg(format!(
                "{name}:validates('{key}'): a validation function for mapped attribute '{key}' on mapper {name} already exists"
            )));
        }
        cols.push((key, i));
    }
    let _ = validators;
    for (key, i) in cols {
        super::events::install_set_hook(lua, &mt, i, &key, Some(f.clone()), None)?;
        keys.raw_set(key.as_str(), (i | VALIDATED) as i64)?;
        super::instance::keys_changed(&mapper);
        host.computed.validated.borrow_mut().push(i);
    }
    Ok(())
}

// ---- instances ----

/// Reads column property value `i` of an instance: loaded with the row, reloaded (with
/// the other unloaded attributes, in one SELECT) once expired or once a flushed change of
/// the row made it stale.
pub fn read_prop(lua: &Lua, inst: &Rc<Instance>, i: usize) -> LuaResult<LuaValue> {
    inst.expire_flushed_props();
    SessionCore::ensure_loaded(inst, i).lua()?;
    let v = inst.state().values[i].clone();
    value_to_lua(lua, &v, inst.mapper.value_kind(i))
}

/// What one attribute of `orm.inspect(obj).attrs` reads.
#[derive(Clone)]
enum Which {
    Value(usize),
    Rel(usize),
}

/// `orm.inspect(obj).attrs.<key>`: SQLAlchemy's `AttributeState`.
pub struct AttrState {
    inst: Rc<Instance>,
    key: String,
    which: Which,
}

fn list(lua: &Lua, items: Vec<LuaValue>) -> LuaResult<mlua::Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (n, v) in items.into_iter().enumerate() {
        t.raw_set(n + 1, v)?;
    }
    Ok(t)
}

impl AttrState {
    /// `added`, `unchanged`, `deleted` (SQLAlchemy's History), without loading anything.
    fn history(&self, lua: &Lua) -> LuaResult<mlua::Table> {
        self.inst.expire_flushed_props();
        let (added, unchanged, deleted): (Vec<LuaValue>, Vec<LuaValue>, Vec<LuaValue>) =
            match self.which {
                Which::Value(i) => {
                    let kind = self.inst.mapper.value_kind(i);
                    let h = self.inst.history(i);
                    let conv = |l: &[crate::value::Value]| -> LuaResult<Vec<LuaValue>> {
                        l.iter().map(|v| value_to_lua(lua, v, kind)).collect()
                    };
                    (conv(&h.added)?, conv(&h.unchanged)?, conv(&h.deleted)?)
                }
                Which::Rel(r) => {
                    let objs = |l: &[Rc<Instance>]| -> LuaResult<Vec<LuaValue>> {
                        l.iter().map(|o| push_instance(lua, o)).collect()
                    };
                    match self.inst.rel_state(r) {
                        RelState::Collection(c) => {
                            let unchanged: Vec<Rc<Instance>> = c
                                .items
                                .iter()
                                .filter(|i| !c.added.iter().any(|a| Rc::ptr_eq(a, i)))
                                .cloned()
                                .collect();
                            (objs(&c.added)?, objs(&unchanged)?, objs(&c.removed)?)
                        }
                        RelState::Scalar(s) if s.changed => {
                            // (a rollback that cleared the key of the object it holds makes
                            // it a change with the same object)
                            let replaced = s
                                .replaced
                                .filter(|r| !s.value.as_ref().is_some_and(|v| Rc::ptr_eq(v, r)));
                            (
                                objs(s.value.as_slice())?,
                                Vec::new(),
                                objs(replaced.as_slice())?,
                            )
                        }
                        RelState::Scalar(s) => (Vec::new(), objs(s.value.as_slice())?, Vec::new()),
                        _ => (Vec::new(), Vec::new(), Vec::new()),
                    }
                }
            };
        let t = lua.create_table()?;
        t.raw_set("added", list(lua, added)?)?;
        t.raw_set("unchanged", list(lua, unchanged)?)?;
        t.raw_set("deleted", list(lua, deleted)?)?;
        Ok(t)
    }

    /// The value held now, without loading (nil when not loaded).
    fn loaded_value(&self, lua: &Lua) -> LuaResult<LuaValue> {
        match self.which {
            Which::Value(i) => {
                self.inst.expire_flushed_props();
                let st = self.inst.state();
                if !st.loaded.contains(i) {
                    return Ok(LuaValue::Nil);
                }
                let v = st.values[i].clone();
                drop(st);
                value_to_lua(lua, &v, self.inst.mapper.value_kind(i))
            }
            Which::Rel(r) => {
                if !self.inst.rel_loaded(r) {
                    return Ok(LuaValue::Nil);
                }
                super::relationship::get(lua, &self.inst, r)
            }
        }
    }
}

impl UserData for AttrState {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("key", |_, this| Ok(this.key.clone()));
        f.add_field_method_get("history", |lua, this| this.history(lua));
        f.add_field_method_get("loaded_value", |lua, this| this.loaded_value(lua));
        // whether the attribute holds a value now (never loads): tells a loaded nil or
        // empty reference from an unloaded one, which `loaded_value` cannot
        f.add_field_method_get("loaded", |_, this| {
            Ok(match this.which {
                Which::Value(i) => {
                    this.inst.expire_flushed_props();
                    this.inst.state().loaded.contains(i)
                }
                Which::Rel(r) => this.inst.rel_loaded(r),
            })
        });
        // the attribute as `obj.key` reads it (loading it if needed)
        f.add_field_method_get("value", |lua, this| {
            let obj = push_instance(lua, &this.inst)?;
            match obj {
                LuaValue::UserData(ud) => ud.get::<LuaValue>(this.key.as_str()),
                _ => Ok(LuaValue::Nil),
            }
        });
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "<AttributeState {}.{}>",
                this.inst.mapper.class_name, this.key
            ))
        });
    }
}

/// `orm.inspect(obj).attrs`: the state of each column, column property and relationship
/// by key; a synonym reads the state of the attribute it stands for.
pub fn instance_attrs(lua: &Lua, inst: &Rc<Instance>) -> LuaResult<mlua::Table> {
    let m = &inst.mapper;
    super::relationship::ensure_configured(lua, [m])?;
    let t = lua.create_table()?;
    let mut by_key: Vec<(String, Which)> = (0..m.width())
        .map(|i| (m.value_key(i).to_string(), Which::Value(i)))
        .collect();
    for r in m.relationships.borrow().iter() {
        by_key.push((r.key.clone(), Which::Rel(r.index)));
    }
    for d in &model_host(m).computed.descs {
        if let DescKind::Synonym(target) = &d.kind {
            if let Some((_, w)) = by_key.iter().find(|(k, _)| k == target) {
                let w = w.clone();
                by_key.push((d.key.clone(), w));
            }
        }
    }
    for (key, which) in by_key {
        t.raw_set(
            key.as_str(),
            AttrState {
                inst: inst.clone(),
                key: key.clone(),
                which,
            },
        )?;
    }
    Ok(t)
}

/// `orm.inspect(obj).modified`: an attribute or relationship was set since the object
/// was loaded or last flushed (for a new object: since it was made).
pub fn modified(inst: &Instance) -> bool {
    let st = inst.state();
    match st.status {
        Status::Transient | Status::Pending => !st.loaded.is_empty() || st.rels_changed(),
        _ => !st.committed.is_empty() || st.rels_changed(),
    }
}

/// `orm.inspect(Model).attrs` (and `all_orm_descriptors`): every attribute by key, each a
/// table with `.key` and `.kind` (`"column"`, `"column_property"`, `"relationship"`,
/// `"synonym"`, `"hybrid_property"`, `"hybrid_method"`) besides what its kind describes.
/// `kinds`: only those kinds (`None`: all).
pub fn mapper_attrs(lua: &Lua, m: &Rc<Mapper>, kinds: Option<&[&str]>) -> LuaResult<mlua::Table> {
    super::relationship::ensure_configured(lua, [m])?;
    let want = |k: &str| kinds.is_none_or(|ks| ks.contains(&k));
    let t = lua.create_table()?;
    if want("column") {
        for i in 0..m.attrs.len() {
            let c = super::model::column_info(lua, m, i)?;
            c.raw_set("kind", "column")?;
            t.raw_set(m.attrs[i].key.as_str(), c)?;
        }
    }
    if want("column_property") {
        for (n, p) in m.props.iter().enumerate() {
            let c = lua.create_table()?;
            c.raw_set("key", p.key.as_str())?;
            c.raw_set("kind", "column_property")?;
            c.raw_set("expression", prop_expr(lua, p, p.expr.clone())?)?;
            c.raw_set("index", m.attrs.len() + n + 1)?;
            t.raw_set(p.key.as_str(), c)?;
        }
    }
    if want("relationship") {
        let rels = m.relationships.borrow().clone();
        for rel in rels.iter() {
            let r = super::model::relationship_info(lua, rel)?;
            r.raw_set("kind", "relationship")?;
            t.raw_set(rel.key.as_str(), r)?;
        }
    }
    for d in &model_host(m).computed.descs {
        if !want(d.kind.name()) {
            continue;
        }
        let c = lua.create_table()?;
        c.raw_set("key", d.key.as_str())?;
        c.raw_set("kind", d.kind.name())?;
        match (&d.kind, &d.hybrid) {
            (DescKind::Synonym(target), _) => c.raw_set("name", target.as_str())?,
            (_, Some(h)) => {
                c.raw_set(
                    "extension_type",
                    if h.method {
                        "HYBRID_METHOD"
                    } else {
                        "HYBRID_PROPERTY"
                    },
                )?;
                c.raw_set("writable", h.setter.is_some())?;
            }
            _ => {}
        }
        t.raw_set(d.key.as_str(), c)?;
    }
    Ok(t)
}

/// `User.key = value` after declaration: hybrids, synonyms and column properties belong in
/// the model spec (instances and queries are built from it), and replace nothing later.
pub fn check_class_assignment(mapper: &Mapper, key: &str, value: &LuaValue) -> LuaResult<()> {
    let name = &mapper.class_name;
    if mapper.prop_index(key).is_some() || model_host(mapper).computed.desc(key).is_some() {
        return Err(arg(format!(
            "{name}.{key} is a mapped attribute and cannot be replaced"
        )));
    }
    if let LuaValue::UserData(ud) = value {
        if ud.is::<LuaHybrid>() || ud.is::<LuaSynonym>() || ud.is::<LuaColumnProperty>() {
            return Err(arg(format!(
                "{name}.{key}: hybrids, synonyms and column properties are declared in the model spec (Base:model(\"{name}\", {{ {key} = ... }}))"
            )));
        }
    }
    Ok(())
}

//! Relationships in Lua: `orm.relationship(target, opts)` and `orm.backref(name, opts)` in a
//! model spec, their configuration at first use (every model of a declarative base at once,
//! as SQLAlchemy's `configure_mappers()`), the class attribute `User.posts`, and collections
//! as Lua values (`#`, `[i]`, `ipairs`, `:append`, `table.insert`, ...).

use std::cell::RefCell;
use std::rc::Rc;

use mlua::{AnyUserData, Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::instance::{expect_instance, instances_of, push_instance, push_instances};
use super::model::{DeclBase, LuaModel};
use crate::orm::collections::{Events, RelState};
use crate::orm::relationships::{
    configure, Cascade, Lazy, Relationship, RelationshipSpec, SecondaryRef,
};
use crate::orm::session::SessionCore;
use crate::orm::{Instance, Mapper};
use crate::sql::Expr;

/// `orm.relationship("Post", { ... })` before it is given a key in a model spec.
#[derive(Clone)]
pub struct LuaRelSpec {
    pub spec: RelationshipSpec,
    /// Its number of the creation counter (`schema::next_creation_order`): a model declares
    /// its relationships in this order.
    pub order: u64,
    /// Parts that may name models declared later: evaluated at configure time.
    pub deferred: Deferred,
}

#[derive(Clone, Default)]
pub struct Deferred {
    /// `primaryjoin = function() return ... end` (or an expression)
    pub primaryjoin: Option<LuaValue>,
    /// `order_by = "title"` / an expression / a function returning one
    pub order_by: Option<LuaValue>,
    /// `secondary = table` (a Table value or its name)
    pub secondary: Option<LuaValue>,
    /// `foreign_keys` / `remote_side` given as a function returning the columns
    pub columns: Vec<(String, LuaValue)>,
    /// `collection_class = orm.attribute_keyed_dict(...)` / `orm.keyfunc_mapping(...)`
    pub keyed_by: Option<super::keyed_collection::KeyedBy>,
}

/// Columns named for `foreign_keys` / `remote_side`: a name (`"author_id"`,
/// `"Post.author_id"`), a column attribute (`Post.author_id`), or a list of them.
fn column_names(v: &LuaValue, what: &str) -> LuaResult<Vec<String>> {
    let one = |v: &LuaValue| -> LuaResult<String> {
        match v {
            LuaValue::String(s) => Ok(s.to_str()?.to_string()),
            LuaValue::UserData(ud) if ud.is::<super::expr::LuaExpr>() => {
                let e = ud.borrow::<super::expr::LuaExpr>()?;
                match &e.attr {
                    Some(a) => Ok(format!(
                        "{}.{}",
                        a.mapper.class_name, a.mapper.attrs[a.index].key
                    )),
                    None => Err(arg(format!(
                        "{what} expects column names or column attributes"
                    ))),
                }
            }
            other => Err(arg(format!(
                "{what} expects column names or column attributes, got {}",
                other.type_name()
            ))),
        }
    };
    match v {
        LuaValue::Table(t) => t.sequence_values::<LuaValue>().map(|x| one(&x?)).collect(),
        other => Ok(vec![one(other)?]),
    }
}

impl UserData for LuaRelSpec {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<relationship to {}>", this.spec.target))
        });
    }
}

/// `orm.backref("name", opts)`.
#[derive(Clone)]
pub struct LuaBackref(pub LuaRelSpec);
impl UserData for LuaBackref {}

/// The options `orm.relationship` / `orm.backref` take.
const RELATIONSHIP_OPTIONS: &[&str] = &[
    "back_populates",
    "backref",
    "secondary",
    "uselist",
    "remote_side",
    "foreign_keys",
    "primaryjoin",
    "order_by",
    "lazy",
    "join_depth",
    "cascade",
    "passive_deletes",
    "viewonly",
    "post_update",
    "collection_class",
];

/// Options of `orm.relationship` / `orm.backref`.
fn parse(lua: &Lua, key: &str, target: &str, opts: Option<mlua::Table>) -> LuaResult<LuaRelSpec> {
    let mut spec = RelationshipSpec::new(key, target);
    let mut deferred = Deferred::default();
    let order = super::schema::next_creation_order();
    let Some(o) = opts else {
        return Ok(LuaRelSpec {
            spec,
            order,
            deferred,
        });
    };
    let what = |k: &str| format!("orm.relationship(\"{target}\"): {k}");
    for pair in o.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        let string = |v: &LuaValue| -> LuaResult<String> {
            match v {
                LuaValue::String(s) => Ok(s.to_str()?.to_string()),
                other => Err(arg(format!(
                    "{} must be a string, got {}",
                    what(&k),
                    other.type_name()
                ))),
            }
        };
        match k.as_str() {
            "back_populates" => spec.back_populates = Some(string(&v)?),
            "backref" => {
                let (name, opts) = match &v {
                    LuaValue::String(s) => (
                        s.to_str()?.to_string(),
                        LuaRelSpec {
                            spec: RelationshipSpec::new("", ""),
                            order,
                            deferred: Deferred::default(),
                        },
                    ),
                    LuaValue::UserData(ud) if ud.is::<LuaBackref>() => {
                        let b = ud.borrow::<LuaBackref>()?;
                        (b.0.spec.key.clone(), b.0.clone())
                    }
                    other => {
                        return Err(arg(format!(
                            "{} must be a name or orm.backref(name, opts), got {}",
                            what(&k),
                            other.type_name()
                        )))
                    }
                };
                spec.backref = Some((name, Box::new(opts.spec)));
            }
            "secondary" => deferred.secondary = Some(v),
            "uselist" => spec.uselist = v.as_boolean(),
            "join_depth" => {
                spec.join_depth = match v {
                    LuaValue::Integer(n) if n >= 1 => Some(n as u32),
                    LuaValue::Number(n) if n.fract() == 0.0 && n >= 1.0 => Some(n as u32),
                    other => {
                        return Err(arg(format!(
                            "{} must be a positive integer, got {}",
                            what(&k),
                            super::convert::lua_debug(&other)
                        )))
                    }
                }
            }
            // a function is called at configure time (it may name models declared later)
            "remote_side" | "foreign_keys" if matches!(v, LuaValue::Function(_)) => {
                deferred.columns.push((k.clone(), v))
            }
            "remote_side" => spec.remote_side = column_names(&v, &what(&k))?,
            "foreign_keys" => spec.foreign_keys = column_names(&v, &what(&k))?,
            "primaryjoin" => deferred.primaryjoin = Some(v),
            "order_by" => deferred.order_by = Some(v),
            "lazy" => {
                let s = match &v {
                    LuaValue::Boolean(true) => "select".to_string(),
                    LuaValue::Boolean(false) => "joined".to_string(),
                    other => string(other)?,
                };
                spec.lazy =
                    Lazy::parse(&s).map_err(|e| arg(format!("{}: {}", what(&k), e.message)))?
            }
            "cascade" => {
                spec.cascade = Cascade::parse(&string(&v)?)
                    .map_err(|e| arg(format!("{}: {}", what(&k), e.message)))?
            }
            "passive_deletes" => spec.passive_deletes = v.as_boolean().unwrap_or(v.is_string()),
            "viewonly" => spec.viewonly = v.as_boolean().unwrap_or(false),
            "post_update" => spec.post_update = v.as_boolean().unwrap_or(false),
            "collection_class" => {
                deferred.keyed_by = Some(super::keyed_collection::keyed_by(&v, &what(&k))?);
                spec.keyed = true;
            }
            other => {
                return Err(super::options::unknown_option(
                    &format!("orm.relationship(\"{target}\")"),
                    other,
                    RELATIONSHIP_OPTIONS,
                ))
            }
        }
    }
    let _ = lua;
    Ok(LuaRelSpec {
        spec,
        order,
        deferred,
    })
}

/// Bases with relationships not configured yet, per Lua state.
#[derive(Default)]
struct Unconfigured(RefCell<Vec<Rc<DeclBase>>>);

/// Records a relationship of a model being declared (`key = orm.relationship(...)`).
pub fn declare(
    lua: &Lua,
    base: &Rc<DeclBase>,
    mapper: &Rc<Mapper>,
    key: &str,
    rs: &LuaRelSpec,
) -> LuaResult<()> {
    let mut spec = rs.spec.clone();
    spec.key = key.to_string();
    mapper.rel_specs.borrow_mut().push(spec);
    base.deferred
        .borrow_mut()
        .push((mapper.id, key.to_string(), rs.deferred.clone()));
    mark_unconfigured(lua, base)
}

/// A new model on a base with relationships: configure again at next use.
pub fn mark_unconfigured(lua: &Lua, base: &Rc<DeclBase>) -> LuaResult<()> {
    if lua.app_data_ref::<Unconfigured>().is_none() {
        lua.set_app_data(Unconfigured::default());
    }
    {
        let list = lua.app_data_ref::<Unconfigured>().expect("set above");
        if !list.0.borrow().iter().any(|b| Rc::ptr_eq(b, base)) {
            list.0.borrow_mut().push(base.clone());
        }
    }
    let b = base.clone();
    let hook = lua.create_function(move |lua, ()| configure_one(lua, &b))?;
    for m in base.mappers.borrow().iter() {
        super::instance::set_configure_hook(lua, m, Some(hook.clone()))?;
    }
    Ok(())
}

/// Configures the pending bases that hold any of `mappers` (cheap when nothing is
/// pending); an error of one base does not reach users of another.
pub fn ensure_configured<'a>(
    lua: &Lua,
    mappers: impl IntoIterator<Item = &'a Rc<Mapper>>,
) -> LuaResult<()> {
    let pending: Vec<Rc<DeclBase>> = match lua.app_data_ref::<Unconfigured>() {
        Some(u) if !u.0.borrow().is_empty() => u.0.borrow().clone(),
        _ => return Ok(()),
    };
    let ids: Vec<u32> = mappers.into_iter().map(|m| m.id).collect();
    for base in pending {
        let ours = base.mappers.borrow().iter().any(|m| ids.contains(&m.id));
        if ours {
            configure_one(lua, &base)?;
        }
    }
    Ok(())
}

/// Configures one base (the constructor's hook); on failure it stays pending, so the error
/// repeats at the next use.
fn configure_one(lua: &Lua, base: &Rc<DeclBase>) -> LuaResult<()> {
    if let Some(u) = lua.app_data_ref::<Unconfigured>() {
        u.0.borrow_mut().retain(|b| !Rc::ptr_eq(b, base));
    }
    if let Err(e) = configure_base(lua, base) {
        mark_unconfigured(lua, base)?;
        return Err(e);
    }
    Ok(())
}

fn configure_base(lua: &Lua, base: &Rc<DeclBase>) -> LuaResult<()> {
    let mappers: Vec<Rc<Mapper>> = base.mappers.borrow().clone();
    // evaluate the deferred Lua parts now that every model exists
    let deferred: Vec<(u32, String, Deferred)> = base.deferred.borrow().clone();
    for (id, key, d) in &deferred {
        let Some(m) = mappers.iter().find(|m| m.id == *id) else {
            continue;
        };
        let mut specs = m.rel_specs.borrow_mut();
        let Some(spec) = specs.iter_mut().find(|s| s.key == *key) else {
            continue;
        };
        let what = format!("relationship {}.{key}", m.class_name);
        if let Some(v) = &d.primaryjoin {
            spec.primaryjoin = Some(expr_of(v, &what, "primaryjoin")?);
        }
        for (opt, f) in &d.columns {
            let LuaValue::Function(f) = f else { continue };
            let names = column_names(&f.call::<LuaValue>(())?, &format!("{what}: {opt}"))?;
            if opt == "remote_side" {
                spec.remote_side = names;
            } else {
                spec.foreign_keys = names;
            }
        }
        if let Some(v) = &d.secondary {
            spec.secondary = Some(match v {
                LuaValue::String(s) => SecondaryRef::Name(s.to_str()?.to_string()),
                LuaValue::UserData(ud) if ud.is::<super::schema::LuaTableObj>() => {
                    SecondaryRef::Table(ud.borrow::<super::schema::LuaTableObj>()?.0.clone())
                }
                other => {
                    return Err(arg(format!(
                        "{what}: secondary must be a Table or its name, got {}",
                        other.type_name()
                    )))
                }
            });
        }
        if let Some(v) = &d.order_by {
            let target = mappers.iter().find(|t| t.class_name == spec.target);
            spec.order_by = order_of(v, target, &what)?;
        }
        if let Some(k) = &d.keyed_by {
            super::keyed_collection::register(lua, m, key, k)?;
        }
    }
    base.deferred.borrow_mut().clear();
    let md = base.metadata.clone();
    configure(&mappers, &|n| md.get(n)).lua()?;
    // instances read relationship keys through the slow path: index = columns + column
    // properties + r
    for m in &mappers {
        let mt = super::instance::class_metatable(lua, m)?;
        super::instance::set_configure_hook(lua, m, None)?;
        let keys: mlua::Table = mt.raw_get(1)?;
        for r in m.relationships.borrow().iter() {
            keys.raw_set(r.key.as_str(), (m.width() + r.index) as i64)?;
            super::instance::keys_changed(m);
        }
    }
    Ok(())
}

fn expr_of(v: &LuaValue, what: &str, opt: &str) -> LuaResult<Expr> {
    let v = match v {
        LuaValue::Function(f) => f.call::<LuaValue>(())?,
        other => other.clone(),
    };
    super::expr::clause_arg(&v, &format!("{what}: {opt}"))
}

fn order_of(v: &LuaValue, target: Option<&Rc<Mapper>>, what: &str) -> LuaResult<Vec<Expr>> {
    let v = match v {
        LuaValue::Function(f) => f.call::<LuaValue>(())?,
        other => other.clone(),
    };
    let one = |v: &LuaValue| -> LuaResult<Expr> {
        if let (LuaValue::String(s), Some(t)) = (v, target) {
            let name = s.to_str()?.to_string();
            let (key, term) = super::expr::order_by_name(&name);
            // "Post.id" names the target's attribute as SQLAlchemy's string form does
            let prefix = format!("{}.", t.class_name);
            let key = key.strip_prefix(&prefix).unwrap_or(key);
            let i = t.attr_index(key).ok_or_else(|| {
                arg(format!(
                    "{what}: order_by: {} has no attribute '{key}'",
                    t.class_name
                ))
            })?;
            return Ok(term(Expr::column(&t.table, i)));
        }
        super::expr::clause_arg(v, &format!("{what}: order_by"))
    };
    match &v {
        LuaValue::Table(t) => t.sequence_values::<LuaValue>().map(|x| one(&x?)).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// `User.posts` on the class, `orm.aliased(User).posts` on an alias, and either aimed at an
/// alias of the target with `:of_type(alias)`.
pub struct LuaRelAttr(pub crate::orm::alias_relationships::RelAttr);
/// An object for collection `rel`: anything else is refused naming the collection.
pub(crate) fn member(lua: &Lua, v: &LuaValue, rel: &Relationship) -> LuaResult<Rc<Instance>> {
    super::instance::instance_of(lua, v).ok_or_else(|| {
        super::error::kind_err(
            crate::error::ErrorKind::UnmappedInstanceError,
            format!(
                "{}: expected an instance of {}, got {}",
                rel.path(),
                rel.target().class_name,
                super::convert::lua_debug(v)
            ),
        )
    })
}

/// The objects of a plain list for collection `rel`.
fn members(lua: &Lua, list: &mlua::Table, rel: &Relationship) -> LuaResult<Vec<Rc<Instance>>> {
    instances_of(lua, list).or_else(|_| {
        list.sequence_values::<LuaValue>()
            .map(|v| member(lua, &v?, rel))
            .collect()
    })
}

/// An optional object argument (`nil` / `orm.null()` allowed).
fn object_arg(lua: &Lua, v: &LuaValue, rel: &Relationship) -> LuaResult<Option<Rc<Instance>>> {
    if super::convert::is_null(v) {
        return Ok(None);
    }
    super::instance::instance_of(lua, v)
        .map(Some)
        .ok_or_else(|| {
            arg(format!(
                "{}: expected an object of {}, got {}",
                rel.path(),
                rel.target().class_name,
                super::convert::lua_debug(v)
            ))
        })
}

impl UserData for LuaRelAttr {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.0.path()));
        // `Node.parent:of_type(Parent)`: the relationship aimed at an alias of its target
        m.add_method("of_type", |_, this, target: LuaValue| {
            let rel = &this.0.rel;
            let mut next = this.0.clone();
            next.of_type = match &target {
                LuaValue::UserData(ud) if ud.is::<super::expr::LuaAliased>() => {
                    let a = ud.borrow::<super::expr::LuaAliased>()?;
                    if a.mapper.id != rel.target().id || a.mapper.reads_union() {
                        return Err(arg(format!(
                            "{}:of_type(): expected an orm.aliased() of {}, got aliased({}, name='{}')",
                            this.0.path(),
                            rel.target().class_name,
                            a.mapper.class_name,
                            a.derived.table.name
                        )));
                    }
                    Some(a.derived.clone())
                }
                LuaValue::UserData(ud) if ud.is::<super::model::LuaModel>() => {
                    let m = ud.borrow::<super::model::LuaModel>()?.mapper.clone();
                    if m.id != rel.target().id {
                        return Err(arg(format!(
                            "{}:of_type({}): only the target class {} or an orm.aliased() of it is supported",
                            this.0.path(),
                            m.class_name,
                            rel.target().class_name
                        )));
                    }
                    None
                }
                other => {
                    return Err(arg(format!(
                        "{}:of_type(): expected an orm.aliased() of {}, got {}",
                        this.0.path(),
                        rel.target().class_name,
                        super::convert::lua_debug(other)
                    )))
                }
            };
            Ok(LuaRelAttr(next))
        });
        // `User.posts:any(cond)` / `Post.author:has(cond)`: a correlated EXISTS
        for (name, collection) in [("any", true), ("has", false)] {
            m.add_method(name, move |lua, this, crit: Option<LuaValue>| {
                let rel = &this.0.rel;
                let attr = &this.0;
                if rel.uselist != collection {
                    return Err(arg(format!(
                        "{}:{name}() applies to {}; use :{}()",
                        attr.path(),
                        if collection {
                            "collections"
                        } else {
                            "scalar (many-to-one / one-to-one) relationships"
                        },
                        if collection { "has" } else { "any" }
                    )));
                }
                let crit = match crit {
                    None | Some(LuaValue::Nil) => None,
                    Some(v) => Some(super::expr::clause_arg(
                        &v,
                        &format!("{}:{name}()", attr.path()),
                    )?),
                };
                lua.create_userdata(super::expr::LuaExpr::new(attr.exists(crit).lua()?))
            });
        }
        for (name, negate) in [("eq", false), ("ne", true)] {
            m.add_method(name, move |lua, this, v: LuaValue| {
                let rel = &this.0.rel;
                let attr = &this.0;
                if rel.uselist {
                    return Err(arg(format!(
                        "{}:{name}() compares a scalar relationship; for a collection use :contains(obj) or :any()",
                        attr.path()
                    )));
                }
                let obj = object_arg(lua, &v, rel)?;
                lua.create_userdata(super::expr::LuaExpr::new(
                    attr.compare_object(obj.as_ref(), negate).lua()?,
                ))
            });
        }
        m.add_method("contains", |lua, this, v: LuaValue| {
            let rel = &this.0.rel;
            let attr = &this.0;
            if !rel.uselist {
                return Err(arg(format!(
                    "{}:contains() applies to collections; use :eq(obj)",
                    attr.path()
                )));
            }
            let obj = object_arg(lua, &v, rel)?;
            lua.create_userdata(super::expr::LuaExpr::new(
                attr.compare_object(obj.as_ref(), false).lua()?,
            ))
        });
    }
}

/// A relationship's value on an instance: the related object (or nil), or the collection.
pub fn get(lua: &Lua, inst: &Rc<Instance>, r: usize) -> LuaResult<LuaValue> {
    let rel = relationship(inst, r)?;
    match rel.lazy {
        Lazy::WriteOnly => return super::write_only::write_only(lua, inst, rel),
        Lazy::Dynamic => return super::write_only::dynamic(lua, inst, rel),
        _ => {}
    }
    if !inst.rel_loaded(r) {
        SessionCore::load_for_read(inst, &rel).lua()?;
    }
    if rel.uselist {
        return Ok(LuaValue::UserData(lua.create_userdata(LuaCollection {
            inst: inst.clone(),
            rel,
        })?));
    }
    match inst.rel_state(r) {
        RelState::Scalar(s) => match s.value {
            Some(v) => push_instance(lua, &v),
            None => Ok(LuaValue::Nil),
        },
        _ => Ok(LuaValue::Nil),
    }
}

fn relationship(inst: &Instance, r: usize) -> LuaResult<Rc<Relationship>> {
    inst.mapper
        .relationships
        .borrow()
        .get(r)
        .cloned()
        .ok_or_else(|| arg(format!("{}: no relationship {r}", inst.mapper.class_name)))
}

/// `obj.rel = value`: an object or nil for a scalar, a list of objects for a collection.
pub fn set(lua: &Lua, inst: &Rc<Instance>, r: usize, value: &LuaValue) -> LuaResult<()> {
    let rel = relationship(inst, r)?;
    if rel.uselist {
        let items = match value {
            LuaValue::Table(t) if rel.keyed => {
                super::keyed_collection::members_of_dict(lua, inst, &rel, t)?
            }
            LuaValue::Table(t) => members(lua, t, &rel)?,
            LuaValue::UserData(ud) if ud.is::<LuaCollection>() => {
                let c = ud.borrow::<LuaCollection>()?;
                items_of(&c)?
            }
            other => {
                return Err(arg(format!(
                    "{} is a collection: assign a list of {} objects, got {}",
                    rel.path(),
                    rel.target().class_name,
                    other.type_name()
                )))
            }
        };
        return Events.replace(inst, &rel, &items).lua();
    }
    let v = match value {
        LuaValue::Nil => None,
        other => Some(expect_instance(lua, other).map_err(|_| {
            arg(format!(
                "{}: expected an instance of {} or nil, got {}",
                rel.path(),
                rel.target().class_name,
                other.type_name()
            ))
        })?),
    };
    Events.set_scalar(inst, &rel, v).lua()
}

/// A collection as Lua sees it: a view of the object's relationship.
pub struct LuaCollection {
    pub(crate) inst: Rc<Instance>,
    pub(crate) rel: Rc<Relationship>,
}

pub(crate) fn items_of(c: &LuaCollection) -> LuaResult<Vec<Rc<Instance>>> {
    if !c.inst.rel_loaded(c.rel.index) {
        SessionCore::load_for_read(&c.inst, &c.rel).lua()?;
    }
    Ok(match c.inst.rel_state(c.rel.index) {
        RelState::Collection(col) => col.items,
        _ => Vec::new(),
    })
}

impl UserData for LuaCollection {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Len, |_, this, ()| Ok(items_of(this)?.len()));
        m.add_meta_method(
            MetaMethod::Index,
            |lua, this, k: LuaValue| -> LuaResult<LuaValue> {
                if this.rel.keyed {
                    return super::keyed_collection::index(lua, this, &k);
                }
                match k {
                    LuaValue::Integer(i) => match items_of(this)?.get((i as usize).wrapping_sub(1))
                    {
                        Some(x) if i >= 1 => push_instance(lua, x),
                        _ => Ok(LuaValue::Nil),
                    },
                    LuaValue::Number(n) if n.fract() == 0.0 => {
                        match items_of(this)?.get((n as usize).wrapping_sub(1)) {
                            Some(x) if n >= 1.0 => push_instance(lua, x),
                            _ => Ok(LuaValue::Nil),
                        }
                    }
                    LuaValue::String(s) => {
                        let name = s.to_str()?.to_string();
                        let methods: mlua::Table =
                            lua.named_registry_value("lualchemy.collection_methods")?;
                        methods.raw_get(name)
                    }
                    _ => Ok(LuaValue::Nil),
                }
            },
        );
        // `coll[#coll + 1] = x` (and so `table.insert(coll, x)`) appends
        m.add_meta_method(MetaMethod::NewIndex, |lua, this, (k, v): (LuaValue, LuaValue)| {
            if this.rel.keyed {
                return super::keyed_collection::set_item(lua, this, &k, &v);
            }
            let n = items_of(this)?.len() as i64;
            match k {
                LuaValue::Integer(i) if i == n + 1 => {
                    let x = member(lua, &v, &this.rel)?;
                    Events.append(&this.inst, &this.rel, &x).lua()
                }
                _ => Err(arg(format!(
                    "{}: only appending (coll[#coll + 1] = obj) is supported; use :append, :remove or assign a list",
                    this.rel.path()
                ))),
            }
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "<collection {} of {} items>",
                this.rel.path(),
                items_of(this)?.len()
            ))
        });
    }
}

fn coll_arg(ud: &AnyUserData) -> LuaResult<mlua::UserDataRef<LuaCollection>> {
    ud.borrow::<LuaCollection>()
        .map_err(|_| arg("expected a collection (call methods with ':')"))
}

/// The collection methods, shared by every collection.
fn collection_methods(lua: &Lua) -> LuaResult<mlua::Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "append",
        lua.create_function(|lua, (c, x): (AnyUserData, LuaValue)| {
            let c = coll_arg(&c)?;
            let x = member(lua, &x, &c.rel)?;
            Events.append(&c.inst, &c.rel, &x).lua()
        })?,
    )?;
    t.raw_set(
        "remove",
        lua.create_function(|lua, (c, x): (AnyUserData, LuaValue)| {
            let c = coll_arg(&c)?;
            let x = member(lua, &x, &c.rel)?;
            if !Events.remove(&c.inst, &c.rel, &x).lua()? {
                return Err(arg(format!(
                    "{}.remove(x): x not in collection",
                    c.rel.path()
                )));
            }
            Ok(())
        })?,
    )?;
    t.raw_set(
        "extend",
        lua.create_function(|lua, (c, list): (AnyUserData, mlua::Table)| {
            let c = coll_arg(&c)?;
            for x in list.sequence_values::<LuaValue>() {
                let x = member(lua, &x?, &c.rel)?;
                Events.append(&c.inst, &c.rel, &x).lua()?;
            }
            Ok(())
        })?,
    )?;
    t.raw_set(
        "clear",
        lua.create_function(|_, c: AnyUserData| {
            let c = coll_arg(&c)?;
            Events.clear(&c.inst, &c.rel).lua()
        })?,
    )?;
    t.raw_set(
        "contains",
        lua.create_function(|lua, (c, x): (AnyUserData, LuaValue)| {
            let c = coll_arg(&c)?;
            let Some(x) = super::instance::instance_of(lua, &x) else {
                return Ok(false);
            };
            Ok(items_of(&c)?.iter().any(|i| Rc::ptr_eq(i, &x)))
        })?,
    )?;
    t.raw_set(
        "all",
        lua.create_function(|lua, c: AnyUserData| {
            let c = coll_arg(&c)?;
            push_instances(lua, items_of(&c)?.iter())
        })?,
    )?;
    t.raw_set(
        "iter",
        lua.create_function(|lua, c: AnyUserData| {
            let items = {
                let c = coll_arg(&c)?;
                push_instances(lua, items_of(&c)?.iter())?
            };
            let mut i = 0;
            lua.create_function_mut(move |_, ()| {
                i += 1;
                items.raw_get::<LuaValue>(i)
            })
        })?,
    )?;
    Ok(t)
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    lua.set_named_registry_value("lualchemy.collection_methods", collection_methods(lua)?)?;
    orm.set(
        "relationship",
        lua.create_function(|lua, (target, opts): (LuaValue, Option<mlua::Table>)| {
            let target = match &target {
                LuaValue::String(s) => s.to_str()?.to_string(),
                LuaValue::UserData(ud) if ud.is::<LuaModel>() => {
                    ud.borrow::<LuaModel>()?.mapper.class_name.clone()
                }
                other => {
                    return Err(arg(format!(
                        "orm.relationship() expects a model or its class name, got {}",
                        other.type_name()
                    )))
                }
            };
            parse(lua, "", &target, opts)
        })?,
    )?;
    orm.set(
        "with_parent",
        lua.create_function(|lua, (obj, attr): (LuaValue, LuaValue)| {
            let rel = match &attr {
                LuaValue::UserData(ud) if ud.is::<LuaRelAttr>() => ud.borrow::<LuaRelAttr>()?.0.clone(),
                other => {
                    return Err(arg(format!(
                        "orm.with_parent(obj, Model.relationship): expected a relationship attribute, got {}",
                        super::convert::lua_debug(other)
                    )))
                }
            };
            let obj = expect_instance(lua, &obj)?;
            lua.create_userdata(super::expr::LuaExpr::new(rel.with_parent(&obj).lua()?))
        })?,
    )?;
    orm.set(
        "backref",
        lua.create_function(|lua, (name, opts): (String, Option<mlua::Table>)| {
            let mut r = parse(lua, &name, "", opts)?;
            r.spec.key = name;
            Ok(LuaBackref(r))
        })?,
    )?;
    Ok(())
}

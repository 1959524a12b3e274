//! Declarative models: `orm.declarative_base`, `Base:model(name, spec)`, the class value
//! (`User`, with `User.name` as a column expression and `User{...}` as the constructor),
//! and instances as userdata whose state lives in Rust.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use mlua::{
    AnyUserData, Lua, MetaMethod, UserData, UserDataFields, UserDataMethods, Value as LuaValue,
};

use super::convert::value_to_lua;
use super::error::{arg, kind_err, IntoLuaResult, LuaResult};
use super::expr::{AttrRef, LuaExpr};
use super::schema::{
    metadata_value, table_arg, table_value, ColumnSpec, LuaColumnSpec, LuaMetaData, LuaType,
    TableArg,
};
use crate::error::ErrorKind;
use crate::orm::{Instance, Mapper, Status};
use crate::schema::{MetaData, SqlType, Table};
use crate::sql::Expr;
use crate::value::Value;

pub struct DeclBase {
    pub metadata: Rc<MetaData>,
    pub type_map: HashMap<String, SqlType>,
    pub type_map_table: mlua::Table,
    /// The models of the base (their mappers: a Lua value held from Rust would take a
    /// slot of mlua's reference stack for good, which LuaJIT caps near 8,000).
    pub mappers: RefCell<Vec<Rc<Mapper>>>,
    /// Lua parts of declared relationships, evaluated at configure time:
    /// (mapper id, relationship key, parts).
    pub deferred: RefCell<Vec<(u32, String, super::relationship::Deferred)>>,
    /// The base's identity among the classes `binds` can name (`next_class_id`).
    pub class_id: usize,
}

/// A new identity for a declarative base or an abstract model, the keys of a session's
/// `binds` besides mapped classes and tables (`orm/session_binds.rs`).
pub fn next_class_id() -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Clone)]
pub struct LuaBase(pub Rc<DeclBase>);

/// What a model inherits: columns and methods of an abstract base or a mixin.
#[derive(Clone, Default)]
pub struct Inherited {
    pub columns: Vec<(String, ColumnSpec)>,
    pub members: Vec<(String, LuaValue)>,
    /// The abstract models it comes from, nearest first (their class ids).
    pub lineage: Vec<usize>,
}

/// `Base:model("Common", { __abstract__ = true, ... })`: no table, only things to inherit.
#[derive(Clone)]
pub struct LuaAbstract {
    pub name: String,
    pub base: Rc<DeclBase>,
    pub inherited: Inherited,
}

/// The binding's per-class data, kept in `Mapper::host`.
pub struct ModelHost {
    /// Methods, `__tostring` and other class members (a table; `class()`).
    class: mlua::RegistryKey,
    /// The class value itself (`class_ud()`). Both are kept in the registry: a Lua value
    /// held from Rust takes a slot of mlua's reference stack for good, which LuaJIT caps
    /// near 8,000 (a test suite declares thousands of models).
    class_ud: mlua::RegistryKey,
    /// Registry reference of the instances' metatable (see `instance.rs`).
    pub mt_ref: std::ffi::c_int,
    /// Hybrids, synonyms and validators (see `computed.rs`).
    pub computed: super::computed::Computed,
    /// The declarative base it was declared on (`Model:model` declares subclasses there).
    pub base: std::rc::Weak<DeclBase>,
    /// An `orm.AbstractConcreteBase`'s columns, copied into each subclass's table.
    pub concrete_columns: RefCell<Vec<(String, ColumnSpec)>>,
    /// An `orm.AbstractConcreteBase`'s relationships, given to each concrete subclass too
    /// (SQLAlchemy's `declared_attr` relationships of the abstract base).
    pub concrete_rels: RefCell<Vec<(String, super::relationship::LuaRelSpec)>>,
    /// What the constructor reads per object without a metatable lookup (see `instance.rs`).
    pub ctor: super::instance::CtorCache,
}

impl ModelHost {
    pub fn class(&self, lua: &Lua) -> LuaResult<mlua::Table> {
        lua.registry_value(&self.class)
    }

    pub fn class_ud(&self, lua: &Lua) -> LuaResult<AnyUserData> {
        lua.registry_value(&self.class_ud)
    }
}

pub fn model_host(m: &Mapper) -> &ModelHost {
    m.host
        .get()
        .and_then(|h| h.downcast_ref::<ModelHost>())
        .expect("a mapper made by the Lua binding")
}

#[derive(Clone)]
pub struct LuaModel {
    pub mapper: Rc<Mapper>,
}

pub fn mapper_of(v: &LuaValue) -> LuaResult<Rc<Mapper>> {
    match v {
        LuaValue::UserData(ud) if ud.is::<LuaModel>() => {
            Ok(ud.borrow::<LuaModel>()?.mapper.clone())
        }
        other => Err(kind_err(
            ErrorKind::UnmappedInstanceError,
            format!("expected a mapped class, got {}", other.type_name()),
        )),
    }
}

/// The class-less mapper through which Core DML (`orm.insert(table)`, `orm.update(table)`,
/// `orm.delete(table)`) reaches a plain Table: one per table, kept for the Lua state's life.
pub fn table_mapper(lua: &Lua, table: &Rc<crate::schema::Table>) -> LuaResult<Rc<Mapper>> {
    struct TableMappers(RefCell<HashMap<u32, Rc<Mapper>>>);
    if lua.app_data_ref::<TableMappers>().is_none() {
        lua.set_app_data(TableMappers(RefCell::new(HashMap::new())));
    }
    let cache = lua.app_data_ref::<TableMappers>().expect("set above");
    if let Some(m) = cache.0.borrow().get(&table.id) {
        return Ok(m.clone());
    }
    let m = Rc::new(Mapper::for_table(table.clone()).lua()?);
    cache.0.borrow_mut().insert(table.id, m.clone());
    Ok(m)
}

/// The mapper a DML statement writes through: a mapped class's, or a plain Table's.
pub fn dml_mapper(lua: &Lua, v: &AnyUserData, what: &str) -> LuaResult<Rc<Mapper>> {
    if let Ok(m) = v.borrow::<LuaModel>() {
        // SQLAlchemy: "subject table for an INSERT, UPDATE or DELETE expected, got ... pjoin"
        if m.mapper.reads_union() {
            return Err(arg(format!(
                "orm.{what}({}): subject table for an INSERT, UPDATE or DELETE expected: {} is read through the polymorphic union of its concrete-table hierarchy (write the table of one of its classes)",
                m.mapper.class_name, m.mapper.class_name
            )));
        }
        return Ok(m.mapper.clone());
    }
    if let Ok(t) = v.borrow::<super::schema::LuaTableObj>() {
        return table_mapper(lua, &t.0);
    }
    Err(arg(format!(
        "orm.{what}() expects a mapped class or a Table"
    )))
}

/// `orm.ConcreteBase` / `orm.AbstractConcreteBase`: listed in a base model's `__mixins__`,
/// they make it the base of a concrete-table hierarchy (Python's `class
/// Employee(ConcreteBase, Base)`).
#[derive(Clone, Copy)]
pub struct LuaConcreteMarker {
    pub abstract_: bool,
}

impl UserData for LuaConcreteMarker {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(if this.abstract_ {
                "orm.AbstractConcreteBase"
            } else {
                "orm.ConcreteBase"
            })
        });
    }
}

/// What a concrete subclass of `parent` takes from the `orm.AbstractConcreteBase` models
/// above it (nearest first): `of` reads one model's columns or relationships.
fn concrete_inherited<T: Clone>(parent: &Rc<Mapper>, of: impl Fn(&ModelHost) -> Vec<T>) -> Vec<T> {
    let mut out = Vec::new();
    let mut m = Some(parent.clone());
    while let Some(x) = m {
        if x.is_abstract_concrete() {
            out.extend(of(model_host(&x)));
        }
        m = x.inherits().cloned();
    }
    out
}

/// A concrete class's `polymorphic_identity`: a string or an integer (it is written in the
/// polymorphic union's SQL).
fn concrete_identity(name: &str, v: &LuaValue) -> LuaResult<Value> {
    match v {
        LuaValue::String(s) => Ok(Value::text(&s.to_str()?)),
        LuaValue::Integer(i) => Ok(Value::Integer(*i)),
        other => Err(arg(format!(
            "model {name}: __mapper_args__.polymorphic_identity of a concrete class must be a string or an integer, got {}",
            other.type_name()
        ))),
    }
}

fn collect_mixin(t: &mlua::Table, into: &mut Inherited) -> LuaResult<()> {
    for pair in t.pairs::<String, LuaValue>() {
        let (k, v) = pair?;
        match &v {
            LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => into
                .columns
                .push((k, ud.borrow::<LuaColumnSpec>()?.0.clone())),
            _ => into.members.push((k, v)),
        }
    }
    Ok(())
}

/// The double-underscore keys of a model spec that declare the mapping.
const SPEC_KEYS: &[&str] = &[
    "__tablename__",
    "__table_args__",
    "__abstract__",
    "__mixins__",
];

/// The metamethods a model's instances take from its class (lua/instance.rs).
const CLASS_METAMETHODS: &[&str] = &["__tostring", "__eq", "__lt", "__le", "__concat"];

/// `Base:model(name, spec)` / `Abstract:model(name, spec)`.
pub fn declare(
    lua: &Lua,
    base: &Rc<DeclBase>,
    parent: Option<&Inherited>,
    name: &str,
    spec: mlua::Table,
    parent_model: Option<&Rc<Mapper>>,
) -> LuaResult<LuaValue> {
    let mut own = Inherited::default();
    let mut inherited = parent.cloned().unwrap_or_default();
    let mut tablename: Option<String> = None;
    let mut table_args: Option<mlua::Table> = None;
    let mut abstract_ = false;
    let mut version_id_col: Option<LuaValue> = None;
    let mut batch = parent_model.map(|p| p.batch).unwrap_or(true);
    let mut poly_on: Option<LuaValue> = None;
    let mut poly_identity: Option<LuaValue> = None;
    let mut poly_inline = false;
    let mut poly_selectin = false;
    let mut concrete = false;
    let mut concrete_base: Option<LuaConcreteMarker> = None;
    let mut rels: Vec<(String, super::relationship::LuaRelSpec)> = Vec::new();
    for pair in spec.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let key = match &k {
            LuaValue::String(s) => s.to_str()?.to_string(),
            other => {
                return Err(arg(format!(
                    "model {name}: spec keys must be attribute names, got {}",
                    other.type_name()
                )))
            }
        };
        match key.as_str() {
            "__tablename__" => match &v {
                LuaValue::String(s) => tablename = Some(s.to_str()?.to_string()),
                _ => return Err(arg(format!("model {name}: __tablename__ must be a string"))),
            },
            "__table_args__" => match v {
                LuaValue::Table(t) => {
                    super::options::check_keys(
                        &t,
                        super::schema::TABLE_OPTIONS,
                        &format!("model {name}: __table_args__"),
                        true,
                    )?;
                    table_args = Some(t)
                }
                _ => return Err(arg(format!("model {name}: __table_args__ must be a table"))),
            },
            "__abstract__" => abstract_ = v.as_boolean().unwrap_or(false),
            "__mixins__" => match &v {
                LuaValue::Table(list) => {
                    for m in list.sequence_values::<LuaValue>() {
                        match m? {
                            LuaValue::Table(t) => collect_mixin(&t, &mut inherited)?,
                            LuaValue::UserData(ud) if ud.is::<LuaConcreteMarker>() => {
                                concrete_base = Some(*ud.borrow::<LuaConcreteMarker>()?)
                            }
                            other => {
                                return Err(arg(format!(
                                    "model {name}: __mixins__ holds plain tables, got {}",
                                    other.type_name()
                                )))
                            }
                        }
                    }
                }
                _ => {
                    return Err(arg(format!(
                        "model {name}: __mixins__ must be a list of tables"
                    )))
                }
            },
            "__mapper_args__" => match &v {
                LuaValue::Table(t) => {
                    super::options::check_keys(
                        t,
                        &[
                            "version_id_col",
                            "batch",
                            "polymorphic_on",
                            "polymorphic_identity",
                            "polymorphic_load",
                            "concrete",
                        ],
                        &format!("model {name}: __mapper_args__"),
                        false,
                    )?;
                    version_id_col = Some(t.get::<LuaValue>("version_id_col")?);
                    concrete = match t.get::<LuaValue>("concrete")? {
                        LuaValue::Nil => false,
                        LuaValue::Boolean(b) => b,
                        other => {
                            return Err(arg(format!(
                                "model {name}: __mapper_args__.concrete must be a boolean, got {}",
                                other.type_name()
                            )))
                        }
                    };
                    poly_on = Some(t.get::<LuaValue>("polymorphic_on")?).filter(|v| !v.is_nil());
                    poly_identity =
                        Some(t.get::<LuaValue>("polymorphic_identity")?).filter(|v| !v.is_nil());
                    let load = t.get::<LuaValue>("polymorphic_load")?;
                    poly_selectin =
                        matches!(&load, LuaValue::String(s) if &*s.to_str()? == "selectin");
                    poly_inline = match load {
                        LuaValue::Nil => false,
                        LuaValue::String(s) if &*s.to_str()? == "inline" => true,
                        LuaValue::String(s) if &*s.to_str()? == "selectin" => false,
                        other => {
                            return Err(arg(format!(
                                "model {name}: __mapper_args__.polymorphic_load must be \"inline\" or \"selectin\", got {}",
                                super::convert::lua_debug(&other)
                            )))
                        }
                    };
                    batch = match t.get::<LuaValue>("batch")? {
                        LuaValue::Nil => parent_model.map(|p| p.batch).unwrap_or(true),
                        LuaValue::Boolean(b) => b,
                        other => {
                            return Err(arg(format!(
                                "model {name}: __mapper_args__.batch must be a boolean, got {}",
                                other.type_name()
                            )))
                        }
                    };
                }
                _ => {
                    return Err(arg(format!(
                        "model {name}: __mapper_args__ must be a table"
                    )))
                }
            },
            k if k.starts_with("__") && !CLASS_METAMETHODS.contains(&k) => {
                return Err(arg(format!(
                    "model {name}: unknown key '{k}' in the model spec (the double-underscore keys it knows: {})",
                    SPEC_KEYS.iter().chain(CLASS_METAMETHODS).copied().collect::<Vec<_>>().join(", ")
                )));
            }
            _ => {
                match &v {
                    LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => own
                        .columns
                        .push((key, ud.borrow::<LuaColumnSpec>()?.0.clone())),
                    LuaValue::UserData(ud) if ud.is::<super::relationship::LuaRelSpec>() => {
                        rels.push((key, ud.borrow::<super::relationship::LuaRelSpec>()?.clone()))
                    }
                    LuaValue::UserData(ud) if ud.is::<LuaExpr>() || ud.is::<LuaModel>() => {
                        return Err(arg(format!("{name}.{key}: this kind of attribute is not supported in a model spec yet")));
                    }
                    _ => own.members.push((key, v)),
                }
            }
        }
    }
    // a concrete subclass has the columns of the abstract concrete bases above it
    if let Some(p) = parent_model.filter(|p| p.concrete().is_some()) {
        inherited.columns.extend(concrete_inherited(p, |h| {
            h.concrete_columns.borrow().clone()
        }));
        // and its relationships, unless the subclass declares one of the same key
        for (k, r) in concrete_inherited(p, |h| h.concrete_rels.borrow().clone()) {
            if !rels.iter().any(|(o, _)| *o == k) {
                rels.push((k, r));
            }
        }
    }
    // A model's own columns first, then inherited ones, each in creation order.
    own.columns.sort_by_key(|(_, s)| s.order);
    inherited.columns.sort_by_key(|(_, s)| s.order);
    let mut columns = own.columns.clone();
    for (k, s) in &inherited.columns {
        if !columns.iter().any(|(ok, _)| ok == k) {
            columns.push((k.clone(), s.clone()));
        }
    }
    let mut members = inherited.members.clone();
    members.extend(own.members.clone());
    if abstract_ && parent_model.is_some() {
        return Err(arg(format!(
            "model {name}: __abstract__ on a subclass of a mapped model is not supported (declare the abstract model on the declarative base)"
        )));
    }
    if abstract_ {
        // hybrids, synonyms and column properties are inherited as members
        return Ok(LuaValue::UserData(
            lua.create_userdata(LuaAbstract {
                name: name.to_string(),
                base: base.clone(),
                inherited: Inherited {
                    columns,
                    members,
                    lineage: std::iter::once(next_class_id())
                        .chain(inherited.lineage.iter().copied())
                        .collect(),
                },
            })?,
        ));
    }
    let members = super::composite::resolve(lua, name, &columns, members)?;
    let (members, declared) = super::computed::split_members(members)?;
    if concrete_base.is_some() && parent_model.is_some() {
        return Err(arg(format!(
            "model {name}: orm.ConcreteBase / orm.AbstractConcreteBase go on the base of a hierarchy, not on a subclass (give it __mapper_args__ = {{ concrete = true }})"
        )));
    }
    if let Some(parent) = parent_model {
        return declare_subclass(
            lua,
            base,
            parent,
            name,
            SubclassSpec {
                tablename,
                table_args: table_args.clone(),
                columns,
                members,
                declared,
                rels,
                poly_on,
                poly_identity,
                poly_inline,
                poly_selectin,
                version: version_id_col.filter(|v| !v.is_nil()).is_some(),
                concrete,
            },
        );
    }
    if concrete && concrete_base.is_none() {
        return Err(arg(format!(
            "model {name}: __mapper_args__.concrete on a model that inherits from no mapped model (a concrete subclass is declared with Base:model on its base: Employee:model(\"Manager\", ...))"
        )));
    }
    if let Some(marker) = concrete_base {
        if poly_on.is_some() {
            return Err(arg(format!(
                "model {name}: polymorphic_on on a concrete base: the polymorphic union's '{}' column is the discriminator",
                crate::orm::concrete::DISCRIMINATOR
            )));
        }
        if poly_inline || poly_selectin {
            return Err(arg(format!(
                "model {name}: polymorphic_load is not supported in a concrete-table hierarchy (a query of the base loads every class's columns)"
            )));
        }
        if version_id_col.as_ref().is_some_and(|v| !v.is_nil()) {
            return Err(arg(format!(
                "model {name}: version_id_col in a concrete-table hierarchy is not supported yet"
            )));
        }
        if marker.abstract_ && tablename.is_some() {
            return Err(arg(format!(
                "model {name}: an orm.AbstractConcreteBase has no table of its own (remove __tablename__, or use orm.ConcreteBase)"
            )));
        }
        if !marker.abstract_ && poly_identity.is_none() {
            return Err(arg(format!(
                "model {name}: an orm.ConcreteBase needs __mapper_args__.polymorphic_identity (the union's '{}' value of its own rows)",
                crate::orm::concrete::DISCRIMINATOR
            )));
        }
    }
    if concrete_base.is_some_and(|m| m.abstract_) {
        return declare_abstract_concrete(
            lua,
            base,
            name,
            columns,
            members,
            declared,
            rels,
            poly_identity,
        );
    }
    let tablename = tablename.ok_or_else(|| {
        arg(format!("Class {name} does not have a __table__ or __tablename__ specified and does not inherit from an existing table-mapped class"))
    })?;
    let mut cols = Vec::new();
    for (key, s) in &columns {
        cols.push(s.build(lua, key, &base.type_map, &base.metadata, name)?);
    }
    // `version_id_col = "version"` (the attribute's key; or the orm.Column value itself)
    let version = match &version_id_col {
        None | Some(LuaValue::Nil) => None,
        Some(LuaValue::String(s)) => {
            let key = s.to_str()?.to_string();
            Some(columns.iter().position(|(k, _)| *k == key).ok_or_else(|| {
                arg(format!(
                    "model {name}: __mapper_args__.version_id_col '{key}' is not a column of {name}"
                ))
            })?)
        }
        Some(LuaValue::UserData(ud)) if ud.is::<LuaColumnSpec>() => {
            let order = ud.borrow::<LuaColumnSpec>()?.0.order;
            Some(
                columns
                    .iter()
                    .position(|(_, s)| s.order == order)
                    .ok_or_else(|| {
                        arg(format!(
                    "model {name}: __mapper_args__.version_id_col is not a column of {name}"
                ))
                    })?,
            )
        }
        Some(other) => {
            return Err(arg(format!(
            "model {name}: __mapper_args__.version_id_col must name a column (\"version\"), got {}",
            other.type_name()
        )))
        }
    };
    if let Some(i) = version {
        // the counter starts at 1 on INSERT
        if cols[i].default.is_none() {
            cols[i].default = Some(crate::schema::ColumnDefault::Value(Value::Integer(1)));
        }
    }
    let table = Rc::new(model_table(name, &tablename, cols, table_args.as_ref())?);
    let props = super::computed::resolve_props(name, &columns, &table, &declared.props)?;
    let mut mapper = Mapper::new(name, table.clone())
        .lua()?
        .with_props(props)
        .lua()?;
    if let Some(i) = version {
        mapper = mapper.with_version_col(i).lua()?;
    }
    mapper.batch = batch;
    mapper.class_lineage = inherited.lineage.clone();
    mapper.class_lineage.push(base.class_id);
    if concrete_base.is_some() {
        crate::orm::concrete::check_table(name, &table).lua()?;
        if !mapper.props.is_empty() {
            return Err(arg(format!(
                "model {name}: column_property is not supported in a concrete-table hierarchy yet"
            )));
        }
        mapper.inherit = Some(Box::new(crate::orm::mapper::Inheritance {
            parent: None,
            on: None,
            identity: match &poly_identity {
                Some(v) => Some(concrete_identity(name, v)?),
                None => None,
            },
            map: Rc::new(crate::orm::mapper::PolyMap::default()),
            inline: false,
            selectin: false,
            concrete: Some(crate::orm::concrete::Concrete::Base),
        }));
    }
    // the base of an inheritance hierarchy: `polymorphic_on` names its discriminator
    else if poly_on.is_some() || poly_identity.is_some() || poly_inline || poly_selectin {
        let on = match &poly_on {
            None => None,
            Some(v) => Some(poly_on_index(name, &columns, v)?),
        };
        if on.is_none() && poly_identity.is_some() {
            return Err(arg(format!(
                "model {name}: __mapper_args__.polymorphic_identity needs polymorphic_on (the discriminator column) in the hierarchy"
            )));
        }
        if !mapper.props.is_empty() {
            return Err(arg(format!(
                "model {name}: column_property is not supported on a model with polymorphic_on yet"
            )));
        }
        let identity = match (&poly_identity, on) {
            (Some(v), Some(on)) => Some(identity_value(lua, name, v, &mapper, on)?),
            _ => None,
        };
        mapper.inherit = Some(Box::new(crate::orm::mapper::Inheritance {
            parent: None,
            on,
            identity,
            map: Rc::new(crate::orm::mapper::PolyMap::default()),
            inline: poly_inline,
            selectin: poly_selectin,
            concrete: None,
        }));
    }
    let mapper = Rc::new(mapper);
    register_identity(&mapper);
    let rel_keys: Vec<String> = rels.iter().map(|(k, _)| k.clone()).collect();
    super::computed::check_descs(&mapper, &rel_keys, &declared.descs)?;
    base.metadata.add(table).lua()?;
    let class = lua.create_table()?;
    for (k, v) in members {
        class.raw_set(k, v)?;
    }
    let computed = !declared.descs.is_empty() || !mapper.props.is_empty();
    let ud = attach_host(lua, base, &mapper, &class, declared.descs, computed)?;
    super::computed::install_model(lua, &mapper, &class, &model_host(&mapper).computed.descs)?;
    let related = !rels.is_empty()
        || base
            .mappers
            .borrow()
            .iter()
            .any(|m| !m.relationships.borrow().is_empty() || m.needs_configure());
    base.mappers.borrow_mut().push(mapper.clone());
    in_declaration_order(&mut rels);
    for (key, r) in &rels {
        super::relationship::declare(lua, base, &mapper, key, r)?;
    }
    if related {
        super::relationship::mark_unconfigured(lua, base)?;
    }
    Ok(LuaValue::UserData(ud))
}

/// `Base:model("Employee", { __mixins__ = { orm.AbstractConcreteBase }, ... })`: the base of
/// a concrete-table hierarchy with no table of its own. Its columns (a primary key among
/// them or not) are copied into each subclass's table; it is mapped to a stand-in table of
/// those columns that a query reads through its subclasses' polymorphic union, and never
/// written.
#[allow(clippy::too_many_arguments)]
fn declare_abstract_concrete(
    lua: &Lua,
    base: &Rc<DeclBase>,
    name: &str,
    columns: Vec<(String, ColumnSpec)>,
    members: Vec<(String, LuaValue)>,
    declared: super::computed::Declared,
    rels: Vec<(String, super::relationship::LuaRelSpec)>,
    poly_identity: Option<LuaValue>,
) -> LuaResult<LuaValue> {
    if !declared.props.is_empty() {
        return Err(arg(format!(
            "model {name}: column_property is not supported in a concrete-table hierarchy yet"
        )));
    }
    if poly_identity.is_some() {
        return Err(arg(format!(
            "model {name}: an orm.AbstractConcreteBase has no rows of its own: polymorphic_identity goes on its concrete subclasses"
        )));
    }
    let mut cols = Vec::new();
    for (key, s) in &columns {
        cols.push(s.build(lua, key, &base.type_map, &base.metadata, name)?);
    }
    let table = Rc::new(
        Table::new(
            crate::orm::concrete::UNION_NAME,
            cols,
            Vec::new(),
            Vec::new(),
        )
        .map_err(|mut e| {
            e.message = format!("model {name}: {}", e.message);
            e
        })
        .lua()?,
    );
    crate::orm::concrete::check_table(name, &table).lua()?;
    let mut mapper = Mapper::new_abstract(name, table).lua()?;
    mapper.class_lineage.push(base.class_id);
    mapper.inherit = Some(Box::new(crate::orm::mapper::Inheritance {
        parent: None,
        on: None,
        identity: None,
        map: Rc::new(crate::orm::mapper::PolyMap::default()),
        inline: false,
        selectin: false,
        concrete: Some(crate::orm::concrete::Concrete::AbstractBase),
    }));
    let mapper = Rc::new(mapper);
    super::computed::check_descs(&mapper, &[], &declared.descs)?;
    let class = lua.create_table()?;
    for (k, v) in members {
        class.raw_set(k, v)?;
    }
    let computed = !declared.descs.is_empty();
    let ud = attach_host(lua, base, &mapper, &class, declared.descs, computed)?;
    *model_host(&mapper).concrete_columns.borrow_mut() = columns;
    super::computed::install_model(lua, &mapper, &class, &model_host(&mapper).computed.descs)?;
    base.mappers.borrow_mut().push(mapper.clone());
    // its relationships: its own (for queries of it, read through the union) and each
    // concrete subclass's copy, as SQLAlchemy's declared_attr relationships
    let mut rels = rels;
    in_declaration_order(&mut rels);
    for (key, r) in &rels {
        super::relationship::declare(lua, base, &mapper, key, r)?;
    }
    *model_host(&mapper).concrete_rels.borrow_mut() = rels;
    Ok(LuaValue::UserData(ud))
}

/// A model spec's relationships in the order the spec made them (`orm.relationship(...)`
/// calls, by their creation number), as SQLAlchemy's mapper holds its properties in the
/// order of the class body: the cascades walk a model's relationships in this order (the
/// save-update cascade's is the order of the INSERTs it leads to). The reverse of a `backref` comes after the
/// relationships a model declares (it is made when the models are configured), also as
/// SQLAlchemy's. A relationship value given to two keys: by key.
/// The model's userdata (`User`), with its class table, instance metatable and computed
/// attributes kept on the mapper (`ModelHost`).
fn attach_host(
    lua: &Lua,
    base: &Rc<DeclBase>,
    mapper: &Rc<Mapper>,
    class: &mlua::Table,
    descs: Vec<super::computed::Desc>,
    computed: bool,
) -> LuaResult<AnyUserData> {
    let ud = lua.create_userdata(LuaModel {
        mapper: mapper.clone(),
    })?;
    let mt_ref = super::instance::make_class(lua, mapper, class, &ud)?;
    if computed {
        super::computed::register_model(mapper);
    }
    let _ = mapper.host.set(Box::new(ModelHost {
        class: lua.create_registry_value(class.clone())?,
        class_ud: lua.create_registry_value(ud.clone())?,
        mt_ref,
        computed: super::computed::Computed {
            descs,
            ..Default::default()
        },
        base: Rc::downgrade(base),
        concrete_columns: RefCell::new(Vec::new()),
        concrete_rels: RefCell::new(Vec::new()),
        ctor: Default::default(),
    }));
    Ok(ud)
}

fn in_declaration_order(rels: &mut [(String, super::relationship::LuaRelSpec)]) {
    rels.sort_by(|a, b| a.1.order.cmp(&b.1.order).then_with(|| a.0.cmp(&b.0)));
}

/// The attribute index `polymorphic_on` names: a column's key, or the column itself.
fn poly_on_index(name: &str, columns: &[(String, ColumnSpec)], v: &LuaValue) -> LuaResult<usize> {
    match v {
        LuaValue::String(s) => {
            let key = s.to_str()?.to_string();
            columns.iter().position(|(k, _)| *k == key).ok_or_else(|| {
                arg(format!(
                    "model {name}: __mapper_args__ 'polymorphic_on' names '{key}', which is not a column of {name}"
                ))
            })
        }
        LuaValue::UserData(ud) if ud.is::<LuaColumnSpec>() => {
            let order = ud.borrow::<LuaColumnSpec>()?.0.order;
            columns
                .iter()
                .position(|(_, s)| s.order == order)
                .ok_or_else(|| {
                    arg(format!(
                        "model {name}: __mapper_args__.polymorphic_on is not a column of {name}"
                    ))
                })
        }
        other => Err(arg(format!(
            "model {name}: __mapper_args__.polymorphic_on must name a column (\"kind\"), got {}",
            other.type_name()
        ))),
    }
}

/// The discriminator value of `polymorphic_identity`, converted for the column.
fn identity_value(
    lua: &Lua,
    name: &str,
    v: &LuaValue,
    mapper: &Mapper,
    on: usize,
) -> LuaResult<Value> {
    super::convert::lua_to_value(lua, v, mapper.attrs[on].kind, &|| {
        format!("model {name}: __mapper_args__.polymorphic_identity")
    })
}

/// Puts a mapper with a `polymorphic_identity` in its hierarchy's map.
fn register_identity(mapper: &Rc<Mapper>) {
    if let Some(inh) = &mapper.inherit {
        if let Some(v) = &inh.identity {
            inh.map
                .entries
                .borrow_mut()
                .push((v.clone(), Rc::downgrade(mapper)));
        }
    }
}

/// What `Parent:model(name, spec)` declares beyond the columns and members.
struct SubclassSpec {
    tablename: Option<String>,
    table_args: Option<mlua::Table>,
    columns: Vec<(String, ColumnSpec)>,
    members: Vec<(String, LuaValue)>,
    declared: super::computed::Declared,
    rels: Vec<(String, super::relationship::LuaRelSpec)>,
    poly_on: Option<LuaValue>,
    poly_identity: Option<LuaValue>,
    poly_inline: bool,
    poly_selectin: bool,
    version: bool,
    /// `__mapper_args__ = { concrete = true }`: a concrete-table subclass.
    concrete: bool,
}

/// A concrete subclass's table (`concrete = true`): its own, with all its columns (those of
/// the abstract concrete bases above it included), added to the metadata.
fn concrete_table(
    lua: &Lua,
    base: &Rc<DeclBase>,
    parent: &Rc<Mapper>,
    name: &str,
    spec: &SubclassSpec,
) -> LuaResult<Rc<Table>> {
    let Some(tablename) = &spec.tablename else {
        return Err(arg(format!(
            "model {name}: a concrete subclass needs its own __tablename__ (concrete-table inheritance from {})",
            parent.class_name
        )));
    };
    if spec.poly_inline || spec.poly_selectin {
        return Err(arg(format!(
            "model {name}: polymorphic_load is not supported in a concrete-table hierarchy (a query of the base loads every class's columns)"
        )));
    }
    // (a concrete subclass of a plain model is read from its own table only: no union)
    if spec.poly_identity.is_none() && parent.concrete().is_some() {
        return Err(arg(format!(
            "model {name}: a concrete subclass needs __mapper_args__.polymorphic_identity (its rows' '{}' value in the polymorphic union)",
            crate::orm::concrete::DISCRIMINATOR
        )));
    }
    let mut cols = Vec::new();
    for (key, s) in &spec.columns {
        cols.push(s.build(lua, key, &base.type_map, &base.metadata, name)?);
    }
    let table = Rc::new(model_table(
        name,
        tablename,
        cols,
        spec.table_args.as_ref(),
    )?);
    crate::orm::concrete::check_table(name, &table).lua()?;
    base.metadata.add(table.clone()).lua()?;
    Ok(table)
}

/// A model's table: `cols` with the constraints and indexes of its `__table_args__`; an
/// error names the model.
fn model_table(
    name: &str,
    tablename: &str,
    cols: Vec<crate::schema::Column>,
    table_args: Option<&mlua::Table>,
) -> LuaResult<Table> {
    let mut constraints = Vec::new();
    let mut indexes = Vec::new();
    if let Some(args) = table_args {
        for v in args.sequence_values::<LuaValue>() {
            match table_arg(&v?, name)? {
                Some(TableArg::Constraint(c)) => constraints.push(c),
                Some(TableArg::Index(i)) => indexes.push(i),
                None => {}
            }
        }
    }
    Table::new(tablename, cols, constraints, indexes)
        .map_err(|mut e| {
            e.message = format!("model {name}: {}", e.message);
            e
        })
        .lua()
}

/// A single-table subclass's table: the parent's with the subclass's own columns after its
/// columns (the same table: its columns are added to the metadata's).
fn single_table(
    lua: &Lua,
    base: &Rc<DeclBase>,
    parent: &Rc<Mapper>,
    name: &str,
    spec: &SubclassSpec,
) -> LuaResult<Rc<Table>> {
    // the subclass's own columns (not those of the parent, which it has)
    let mut cols = Vec::new();
    for (key, s) in &spec.columns {
        if parent.attr_index(key).is_some() {
            continue;
        }
        let c = s.build(lua, key, &base.type_map, &base.metadata, name)?;
        if c.primary_key {
            return Err(arg(format!(
                "model {name}: {key}: a single-table subclass cannot add a primary key column"
            )));
        }
        cols.push(c);
    }
    // under a joined-table subclass: its columns go to the parent's own table (the last
    // of its join), in the metadata with every sibling's, and the subclass maps the join
    // with them
    if parent.table.joined.is_some() {
        let table = crate::schema::joined::with_local_columns(name, &parent.table, &cols).lua()?;
        let own = table
            .joined
            .as_ref()
            .expect("a join")
            .tables
            .last()
            .expect("a table")
            .clone();
        let full = base.metadata.get(&own.name).unwrap_or(own);
        let new_cols: Vec<crate::schema::Column> = cols
            .into_iter()
            .filter(|c| full.column(&c.name).is_none())
            .collect();
        if !new_cols.is_empty() {
            base.metadata
                .replace(Rc::new(full.extended(new_cols).lua()?));
        }
        return Ok(Rc::new(table));
    }
    let full = base
        .metadata
        .get(&parent.table.name)
        .unwrap_or(parent.table.clone());
    let table = Rc::new(parent.table.extended(cols.clone()).lua()?);
    let new_cols: Vec<crate::schema::Column> = cols
        .into_iter()
        .filter(|c| full.column(&c.name).is_none())
        .collect();
    if !new_cols.is_empty() {
        base.metadata
            .replace(Rc::new(full.extended(new_cols).lua()?));
    }
    Ok(table)
}

/// A joined-table subclass's table (`__tablename__` on a subclass): its own table, with its
/// columns (a primary key that is a foreign key to the parent's), added to the metadata; the
/// mapper maps the parent's tables joined to it.
fn joined_table(
    lua: &Lua,
    base: &Rc<DeclBase>,
    parent: &Rc<Mapper>,
    name: &str,
    tablename: &str,
    spec: &SubclassSpec,
) -> LuaResult<Rc<Table>> {
    if parent.version_col.is_some() {
        return Err(arg(format!(
            "model {name}: joined-table inheritance from {}, a model with version_id_col, is not supported yet",
            parent.class_name
        )));
    }
    let mut cols = Vec::new();
    for (key, s) in &spec.columns {
        cols.push(s.build(lua, key, &base.type_map, &base.metadata, name)?);
    }
    let local = model_table(name, tablename, cols, spec.table_args.as_ref())?;
    if local.primary_key().is_empty() {
        return Err(arg(format!(
            "model {name}: table '{tablename}' needs a primary key, a foreign key to {}'s (joined-table inheritance)",
            parent.class_name
        )));
    }
    let local = Rc::new(local);
    let joined = crate::schema::joined::join_tables(name, &parent.table, &local).lua()?;
    base.metadata.add(local).lua()?;
    Ok(Rc::new(joined))
}

/// `Unit:model("Archer", spec)`: a subclass of a mapped model: single-table inheritance
/// (its columns are added to the parent's table, its rows told apart by the
/// discriminator), or joined-table inheritance when it has its own `__tablename__`.
fn declare_subclass(
    lua: &Lua,
    base: &Rc<DeclBase>,
    parent: &Rc<Mapper>,
    name: &str,
    spec: SubclassSpec,
) -> LuaResult<LuaValue> {
    if spec.table_args.is_some() && spec.tablename.is_none() {
        return Err(arg(format!(
            "model {name}: Can't place __table_args__ on an inherited class with no table."
        )));
    }
    if spec.poly_on.is_some() {
        return Err(arg(format!(
            "model {name}: __mapper_args__.polymorphic_on belongs on the base of the hierarchy ({})",
            parent.class_name
        )));
    }
    if spec.version {
        return Err(arg(format!(
            "model {name}: __mapper_args__.version_id_col belongs on the base of the hierarchy ({})",
            parent.class_name
        )));
    }
    if !spec.declared.props.is_empty() {
        return Err(arg(format!(
            "model {name}: column_property is not supported on an inheriting model yet"
        )));
    }
    if !parent.props.is_empty() {
        return Err(arg(format!(
            "model {name}: inheriting from {}, a model with column_property, is not supported yet",
            parent.class_name
        )));
    }
    // a concrete subclass of a class outside a concrete hierarchy (a plain model, or a class
    // of a single- or joined-table hierarchy) is mapped to its own table with no
    // discriminator and no polymorphic loading from its parent, as SQLAlchemy maps it
    let own_table = spec.concrete && parent.concrete().is_none();
    let (on, map) = match &parent.inherit {
        Some(inh) if !own_table => (inh.on, inh.map.clone()),
        _ => (None, Rc::new(crate::orm::mapper::PolyMap::default())),
    };
    if own_table && parent.version_col.is_some() {
        return Err(arg(format!(
            "model {name}: concrete = true under {}, which has a version_id_col, is not supported (the version counter is a column of {}'s table)",
            parent.class_name, parent.class_name
        )));
    }
    if parent.concrete().is_some() && !spec.concrete {
        return Err(arg(format!(
            "model {name}: a subclass of {}, a class of a concrete-table hierarchy, must be concrete too (__mapper_args__ = {{ concrete = true }} and its own __tablename__): a single- or joined-table subclass under a concrete class is not supported",
            parent.class_name
        )));
    }
    let table = match &spec.tablename {
        _ if spec.concrete => concrete_table(lua, base, parent, name, &spec)?,
        Some(tablename) => joined_table(lua, base, parent, name, tablename, &spec)?,
        None => single_table(lua, base, parent, name, &spec)?,
    };
    let mut mapper = Mapper::new(name, table.clone()).lua()?;
    mapper.version_col = parent.version_col;
    mapper.batch = parent.batch;
    mapper.class_lineage = parent.class_lineage.clone();
    // a concrete class's objects have keys of their own class (rows of two tables may
    // share a key value)
    mapper.ident_id = if spec.concrete {
        mapper.id
    } else {
        parent.ident_id
    };
    let identity = match (&spec.poly_identity, on) {
        (Some(v), _) if spec.concrete => Some(concrete_identity(name, v)?),
        (Some(v), Some(on)) => Some(identity_value(lua, name, v, &mapper, on)?),
        (Some(_), None) => {
            return Err(arg(format!(
                "model {name}: __mapper_args__.polymorphic_identity needs polymorphic_on (the discriminator column) on the base of the hierarchy ({})",
                parent.class_name
            )))
        }
        (None, _) => None,
    };
    if let Some(other) = identity.as_ref().and_then(|v| map.get(v)) {
        return Err(arg(format!(
            "model {name}: __mapper_args__.polymorphic_identity {} is already the identity of {}",
            super::convert::lua_debug(spec.poly_identity.as_ref().expect("given")),
            other.class_name
        )));
    }
    mapper.inherit = Some(Box::new(crate::orm::mapper::Inheritance {
        parent: Some(parent.clone()),
        on,
        identity,
        map,
        inline: spec.poly_inline,
        selectin: spec.poly_selectin,
        concrete: spec.concrete.then_some(crate::orm::concrete::Concrete::Sub),
    }));
    let mapper = Rc::new(mapper);
    register_identity(&mapper);
    let rel_keys: Vec<String> = spec.rels.iter().map(|(k, _)| k.clone()).collect();
    // hybrids and synonyms of the parent are the subclass's too (its own replace them)
    let own_descs = spec.declared.descs;
    let mut descs: Vec<super::computed::Desc> = model_host(parent)
        .computed
        .descs
        .iter()
        .filter(|d| !own_descs.iter().any(|o| o.key == d.key))
        .map(|d| super::computed::Desc {
            key: d.key.clone(),
            kind: d.kind.clone(),
            hybrid: d.hybrid.clone(),
        })
        .collect();
    descs.extend(own_descs);
    super::computed::check_descs(&mapper, &rel_keys, &descs)?;
    // methods: the subclass's own, then the parent's class table's (looked up on a miss)
    let class = lua.create_table()?;
    for (k, v) in spec.members {
        class.raw_set(k, v)?;
    }
    let parent_class = model_host(parent).class(lua)?;
    let cmt = lua.create_table()?;
    cmt.raw_set("__index", parent_class)?;
    class.set_metatable(Some(cmt))?;
    let computed = !descs.is_empty();
    let ud = attach_host(lua, base, &mapper, &class, descs, computed)?;
    super::computed::install_model(lua, &mapper, &class, &model_host(&mapper).computed.descs)?;
    base.mappers.borrow_mut().push(mapper.clone());
    let mut rels = spec.rels;
    in_declaration_order(&mut rels);
    for (key, r) in &rels {
        super::relationship::declare(lua, base, &mapper, key, r)?;
    }
    // the subclass takes its parent's relationships at configure time
    super::relationship::mark_unconfigured(lua, base)?;
    Ok(LuaValue::UserData(ud))
}

impl UserData for LuaBase {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("metadata", |lua, this| {
            metadata_value(lua, &this.0.metadata)
        });
        f.add_field_method_get("registry", |lua, this| {
            let t = lua.create_table()?;
            let mappers = lua.create_table()?;
            for (i, m) in this.0.mappers.borrow().iter().enumerate() {
                mappers.raw_set(i + 1, MapperInfo(m.clone()))?;
            }
            t.raw_set("mappers", mappers)?;
            t.raw_set("metadata", metadata_value(lua, &this.0.metadata)?)?;
            t.raw_set("type_annotation_map", this.0.type_map_table.clone())?;
            Ok(t)
        });
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("model", |lua, this, (name, spec): (String, mlua::Table)| {
            let model = declare(lua, &this.0, None, &name, spec, None)?;
            super::events::on_new_model(lua, Rc::as_ptr(&this.0) as *const _, &model)?;
            Ok(model)
        });
    }
}

impl UserData for LuaAbstract {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_function(
            "model",
            |lua, (ud, name, spec): (AnyUserData, String, mlua::Table)| {
                let model = {
                    let this = ud.borrow::<LuaAbstract>()?;
                    declare(lua, &this.base, Some(&this.inherited), &name, spec, None)?
                };
                super::events::on_new_model(lua, ud.to_pointer(), &model)?;
                Ok(model)
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<abstract class '{}'>", this.name))
        });
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set("ConcreteBase", LuaConcreteMarker { abstract_: false })?;
    orm.set(
        "AbstractConcreteBase",
        LuaConcreteMarker { abstract_: true },
    )?;
    orm.set(
        "declarative_base",
        lua.create_function(|lua, opts: Option<mlua::Table>| {
            let mut metadata = MetaData::new();
            let mut type_map = HashMap::new();
            let type_map_table = lua.create_table()?;
            if let Some(o) = opts {
                super::options::check_keys(&o, &["metadata", "type_annotation_map"], "orm.declarative_base", false)?;
                if let Some(md) = o.get::<Option<AnyUserData>>("metadata")? {
                    metadata = md.borrow::<LuaMetaData>().map_err(|_| arg("declarative_base: metadata must be an orm.MetaData()"))?.0.clone();
                }
                if let Some(tm) = o.get::<Option<mlua::Table>>("type_annotation_map")? {
                    for pair in tm.pairs::<String, AnyUserData>() {
                        let (k, v) = pair?;
                        let ty = v.borrow::<LuaType>().map_err(|_| arg(format!("type_annotation_map['{k}'] must be a type such as orm.String(50)")))?.0.clone();
                        type_map.insert(k.clone(), ty);
                        type_map_table.raw_set(k, v)?;
                    }
                }
            }
            Ok(LuaBase(Rc::new(DeclBase { metadata, type_map, type_map_table, mappers: RefCell::new(Vec::new()), deferred: RefCell::new(Vec::new()), class_id: next_class_id() })))
        })?,
    )?;
    orm.set(
        "inspect",
        lua.create_function(|lua, v: LuaValue| -> LuaResult<LuaValue> {
            if let LuaValue::UserData(ud) = &v {
                if ud.is::<super::engine::LuaEngine>() {
                    let engine = super::engine::engine_of(&v)?;
                    return super::inspector::inspector_value(lua, engine);
                }
                if let Ok(m) = ud.borrow::<LuaModel>() {
                    return Ok(LuaValue::UserData(
                        lua.create_userdata(MapperInfo(m.mapper.clone()))?,
                    ));
                }
                if let Some(i) = super::instance::instance_of(lua, &v) {
                    return Ok(LuaValue::UserData(lua.create_userdata(InstanceInfo(i))?));
                }
            }
            Err(kind_err(
                ErrorKind::ArgumentError,
                format!(
                    "No inspection system is available for object of type {}",
                    v.type_name()
                ),
            ))
        })?,
    )?;
    Ok(())
}

impl UserData for LuaModel {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        // `User{...}`: a raw C function (see `instance.rs`)
        f.add_meta_field_with(MetaMethod::Call, super::instance::constructor);
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(
            MetaMethod::Index,
            |lua, this, key: LuaValue| -> LuaResult<LuaValue> {
                let mapper = &this.mapper;
                if let LuaValue::String(s) = &key {
                    let k = s.to_str()?;
                    if let Some(i) = mapper.attr_index(&k) {
                        let e = LuaExpr {
                            expr: Expr::column(&mapper.table, i),
                            attr: Some(AttrRef {
                                mapper: mapper.clone(),
                                index: i,
                            }),
                            label: None,
                        };
                        return Ok(LuaValue::UserData(lua.create_userdata(e)?));
                    }
                    // hybrids, synonyms, column properties: their SQL side
                    let host = model_host(mapper);
                    if let Some(v) =
                        super::computed::class_attr(lua, &host.class_ud(lua)?, mapper, &k)?
                    {
                        return Ok(v);
                    }
                    match &*k {
                        "__table__" => {
                            return Ok(LuaValue::UserData(table_value(lua, &mapped_table(mapper))?))
                        }
                        "__tablename__" => {
                            return Ok(LuaValue::String(lua.create_string(&mapper.table.name)?))
                        }
                        "__name__" => {
                            return Ok(LuaValue::String(lua.create_string(&mapper.class_name)?))
                        }
                        "__mapper__" => {
                            return Ok(LuaValue::UserData(
                                lua.create_userdata(MapperInfo(mapper.clone()))?,
                            ))
                        }
                        _ => {}
                    }
                }
                let v: LuaValue = model_host(mapper).class(lua)?.get(key.clone())?;
                if v.is_nil() {
                    if let LuaValue::String(s) = &key {
                        let k = s.to_str()?;
                        if &*k == "model" {
                            // `Unit:model("Archer", spec)`: a subclass
                            return Ok(LuaValue::Function(lua.create_function(
                                |lua, (cls, name, spec): (AnyUserData, String, mlua::Table)| {
                                    let parent = cls.borrow::<LuaModel>()?.mapper.clone();
                                    let base =
                                        model_host(&parent).base.upgrade().ok_or_else(|| {
                                            arg(format!(
                                                "{}:model: the declarative base of {} is gone",
                                                parent.class_name, parent.class_name
                                            ))
                                        })?;
                                    let model =
                                        declare(lua, &base, None, &name, spec, Some(&parent))?;
                                    super::events::on_new_model(
                                        lua,
                                        Rc::as_ptr(&base) as *const _,
                                        &model,
                                    )?;
                                    // listeners a parent registered with propagate = true
                                    let mut p = Some(parent.clone());
                                    while let Some(m) = p {
                                        let ud = model_host(&m).class_ud(lua)?;
                                        super::events::on_new_model(lua, ud.to_pointer(), &model)?;
                                        p = m.inherits().cloned();
                                    }
                                    Ok(model)
                                },
                            )?));
                        }
                        if &*k == "validates" {
                            return Ok(LuaValue::Function(lua.create_function(
                                |lua, (cls, args): (AnyUserData, mlua::Variadic<LuaValue>)| {
                                    super::computed::validates(lua, &cls, args)
                                },
                            )?));
                        }
                        super::relationship::ensure_configured(lua, [mapper])?;
                        if let Some(r) = mapper.relationship(&k) {
                            return Ok(LuaValue::UserData(lua.create_userdata(
                                super::relationship::LuaRelAttr(
                                    crate::orm::alias_relationships::RelAttr::new(r),
                                ),
                            )?));
                        }
                    }
                    // SQLAlchemy raises AttributeError for `User.nmae`; a typo must not
                    // silently become nil inside a query. Dunder probes stay nil.
                    if let LuaValue::String(s) = &key {
                        let k = s.to_str()?;
                        if let Some(m) = session_method(&k) {
                            return Err(dot_call(m));
                        }
                        if !k.starts_with("__") {
                            return Err(arg(format!(
                                "type object '{}' has no attribute '{k}' (mapped attributes: {})",
                                mapper.class_name,
                                mapper
                                    .attrs
                                    .iter()
                                    .map(|a| a.key.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )));
                        }
                    }
                }
                Ok(v)
            },
        );
        m.add_meta_method(
            MetaMethod::NewIndex,
            |lua, this, (key, value): (String, LuaValue)| {
                if this.mapper.attr_index(&key).is_some() {
                    return Err(arg(format!(
                        "{}.{key} is a mapped column and cannot be replaced",
                        this.mapper.class_name
                    )));
                }
                super::computed::check_class_assignment(&this.mapper, &key, &value)?;
                model_host(&this.mapper).class(lua)?.raw_set(key, value)
            },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<class '{}'>", this.mapper.class_name))
        });
    }
}

/// The table a model maps, as its `__table__`: for a class of a single-table hierarchy the
/// whole table (with every subclass's columns), as the metadata holds it.
fn mapped_table(m: &Rc<Mapper>) -> Rc<Table> {
    if m.inherit.is_some() {
        if let Some(t) = model_host(m)
            .base
            .upgrade()
            .and_then(|b| b.metadata.get(&m.table.name))
        {
            return t;
        }
    }
    m.table.clone()
}

/// `orm.inspect(Model)`.
pub struct MapperInfo(pub Rc<Mapper>);

pub(super) fn column_info(lua: &Lua, m: &Rc<Mapper>, i: usize) -> LuaResult<mlua::Table> {
    let c = &m.table.columns[i];
    let t = lua.create_table()?;
    t.raw_set("key", m.attrs[i].key.as_str())?;
    t.raw_set("name", c.name.as_str())?;
    t.raw_set("type", LuaType(c.ty.clone()))?;
    t.raw_set("primary_key", c.primary_key)?;
    t.raw_set("nullable", c.nullable)?;
    t.raw_set(
        "expression",
        LuaExpr {
            expr: Expr::column(&m.table, i),
            attr: Some(AttrRef {
                mapper: m.clone(),
                index: i,
            }),
            label: None,
        },
    )?;
    Ok(t)
}

pub(super) fn relationship_info(
    lua: &Lua,
    rel: &crate::orm::relationships::Relationship,
) -> LuaResult<mlua::Table> {
    use crate::orm::relationships::Direction;
    let t = lua.create_table()?;
    t.set("key", rel.key.as_str())?;
    t.set("target", model_host(&rel.target()).class_ud(lua)?)?;
    t.set(
        "direction",
        match rel.direction {
            Direction::OneToMany => "ONETOMANY",
            Direction::ManyToOne => "MANYTOONE",
            Direction::ManyToMany => "MANYTOMANY",
        },
    )?;
    t.set("uselist", rel.uselist)?;
    if let Some(sec) = &rel.secondary {
        t.set("secondary", sec.name.as_str())?;
    }
    if let Some(back) = rel.reverse() {
        t.set("back_populates", back.key.as_str())?;
    }
    t.set("lazy", rel.lazy.name())?;
    let c = &rel.cascade;
    let cascade = lua.create_table()?;
    for (name, on) in [
        ("save-update", c.save_update),
        ("merge", c.merge),
        ("expunge", c.expunge),
        ("delete", c.delete),
        ("delete-orphan", c.delete_orphan),
        ("refresh-expire", c.refresh_expire),
    ] {
        cascade.set(name, on)?;
    }
    t.set("cascade", cascade)?;
    t.set("viewonly", rel.viewonly)?;
    t.set("post_update", rel.post_update)?;
    t.set("passive_deletes", rel.passive_deletes)?;
    Ok(t)
}

impl UserData for MapperInfo {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("class", |lua, this| model_host(&this.0).class_ud(lua));
        f.add_field_method_get("class_name", |_, this| Ok(this.0.class_name.clone()));
        // inheritance: the parent's inspection, the identity, the classes by identity
        f.add_field_method_get("inherits", |_, this| {
            Ok(this.0.inherits().map(|p| MapperInfo(p.clone())))
        });
        f.add_field_method_get("polymorphic_identity", |lua, this| -> LuaResult<LuaValue> {
            if this.0.concrete().is_some() {
                let v = this.0.inherit.as_ref().and_then(|i| i.identity.as_ref());
                return match v {
                    Some(v) => value_to_lua(lua, v, crate::schema::ValueKind::Any),
                    None => Ok(LuaValue::Nil),
                };
            }
            match this
                .0
                .inherit
                .as_ref()
                .and_then(|i| i.identity.as_ref().zip(i.on))
            {
                Some((v, on)) => value_to_lua(lua, v, this.0.attrs[on].kind),
                None => Ok(LuaValue::Nil),
            }
        });
        f.add_field_method_get("polymorphic_on", |lua, this| -> LuaResult<LuaValue> {
            match this.0.inherit.as_ref().and_then(|i| i.on) {
                Some(on) => Ok(LuaValue::Table(column_info(lua, &this.0, on)?)),
                None => Ok(LuaValue::Nil),
            }
        });
        f.add_field_method_get("polymorphic_map", |lua, this| {
            let t = lua.create_table()?;
            if let Some(inh) = &this.0.inherit {
                let kind = inh.on.map(|on| this.0.attrs[on].kind);
                for (v, m) in inh.map.mappers() {
                    t.raw_set(
                        value_to_lua(lua, &v, kind.unwrap_or(crate::schema::ValueKind::Any))?,
                        model_host(&m).class_ud(lua)?,
                    )?;
                }
            }
            Ok(t)
        });
        f.add_field_method_get("base_mapper", |_, this| {
            let mut m = this.0.clone();
            while let Some(p) = m.inherits().cloned() {
                m = p;
            }
            Ok(MapperInfo(m))
        });
        f.add_field_method_get("single", |_, this| {
            Ok(this.0.inherits().is_some() && !this.0.adds_table() && this.0.concrete().is_none())
        });
        f.add_field_method_get("concrete", |_, this| Ok(this.0.concrete().is_some()));
        f.add_field_method_get("local_table", |lua, this| {
            table_value(lua, &mapped_table(&this.0))
        });
        f.add_field_method_get("columns", |lua, this| {
            let t = lua.create_table()?;
            for i in 0..this.0.attrs.len() {
                t.raw_set(i + 1, column_info(lua, &this.0, i)?)?;
            }
            Ok(t)
        });
        f.add_field_method_get("primary_key", |lua, this| {
            let t = lua.create_table()?;
            for (n, &i) in this.0.pk.iter().enumerate() {
                t.raw_set(n + 1, column_info(lua, &this.0, i)?)?;
            }
            Ok(t)
        });
        // in declaration order, and by key: `.key .target .direction .uselist .secondary
        // .back_populates .lazy .cascade .viewonly .post_update .passive_deletes`
        f.add_field_method_get("relationships", |lua, this| {
            super::relationship::ensure_configured(lua, [&this.0])?;
            let t = lua.create_table()?;
            let rels = this.0.relationships.borrow().clone();
            for (n, rel) in rels.iter().enumerate() {
                let r = relationship_info(lua, rel)?;
                t.raw_set(n + 1, r.clone())?;
                t.raw_set(rel.key.as_str(), r)?;
            }
            Ok(t)
        });
        // every attribute by key, each with `.kind` (see `computed::mapper_attrs`):
        // columns, column properties, relationships, synonyms and hybrids
        f.add_field_method_get("attrs", |lua, this| {
            super::computed::mapper_attrs(lua, &this.0, None)
        });
        f.add_field_method_get("all_orm_descriptors", |lua, this| {
            super::computed::mapper_attrs(lua, &this.0, None)
        });
        f.add_field_method_get("column_attrs", |lua, this| {
            super::computed::mapper_attrs(lua, &this.0, Some(&["column", "column_property"]))
        });
        f.add_field_method_get("synonyms", |lua, this| {
            super::computed::mapper_attrs(lua, &this.0, Some(&["synonym"]))
        });
    }
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("{:?}", this.0))
        });
    }
}

/// `orm.inspect(obj)`.
pub struct InstanceInfo(pub Rc<Instance>);

impl UserData for InstanceInfo {
    fn add_fields<F: UserDataFields<Self>>(f: &mut F) {
        f.add_field_method_get("transient", |_, this| {
            Ok(this.0.status() == Status::Transient)
        });
        f.add_field_method_get("pending", |_, this| Ok(this.0.status() == Status::Pending));
        f.add_field_method_get("persistent", |_, this| {
            Ok(this.0.status() == Status::Persistent)
        });
        f.add_field_method_get("deleted", |_, this| Ok(this.0.status() == Status::Deleted));
        f.add_field_method_get(
            "detached",
            |_, this| Ok(this.0.status() == Status::Detached),
        );
        f.add_field_method_get("was_deleted", |_, this| Ok(this.0.state().was_deleted()));
        f.add_field_method_get("modified", |_, this| Ok(super::computed::modified(&this.0)));
        f.add_field_method_get("expired", |_, this| Ok(this.0.is_expired()));
        f.add_field_method_get("identity", |lua, this| -> LuaResult<LuaValue> {
            let key = this.0.state().key.clone();
            match key {
                Some(k) if this.0.status() != Status::Transient => {
                    let t = lua.create_table()?;
                    for (i, (v, &a)) in k.values().iter().zip(&this.0.mapper.pk).enumerate() {
                        t.raw_set(i + 1, value_to_lua(lua, v, this.0.mapper.attrs[a].kind)?)?;
                    }
                    Ok(LuaValue::Table(t))
                }
                _ => Ok(LuaValue::Nil),
            }
        });
        f.add_field_method_get("session", |lua, this| -> LuaResult<LuaValue> {
            match this.0.session() {
                Some(s) => super::session::session_value(lua, &s),
                None => Ok(LuaValue::Nil),
            }
        });
        f.add_field_method_get("object", |lua, this| {
            super::instance::push_instance(lua, &this.0)
        });
        f.add_field_method_get("attrs", |lua, this| {
            super::computed::instance_attrs(lua, &this.0)
        });
        f.add_field_method_get("mapper", |_, this| Ok(MapperInfo(this.0.mapper.clone())));
        f.add_field_method_get("has_identity", |_, this| {
            Ok(this.0.state().key.is_some() && this.0.status() != Status::Transient)
        });
        // the keys of the columns, column properties and relationships not loaded
        f.add_field_method_get("unloaded", |lua, this| {
            let m = &this.0.mapper;
            let mut keys: Vec<String> = {
                let st = this.0.state();
                (0..m.width())
                    .filter(|&i| !st.loaded.contains(i))
                    .map(|i| m.value_key(i).to_string())
                    .collect()
            };
            for rel in m.relationships.borrow().iter() {
                if !this.0.rel_loaded(rel.index) {
                    keys.push(rel.key.clone());
                }
            }
            lua.create_sequence_from(keys)
        });
    }
}

/// The session method behind `_name`, the Rust method lua/prelude.lua's `name` calls: a
/// class reached it as `self` when the method was called with a dot
/// (`session.get(User, 1)`).
fn session_method(key: &str) -> Option<&str> {
    const METHODS: &[&str] = &[
        "add",
        "add_all",
        "delete",
        "flush",
        "commit",
        "rollback",
        "close",
        "expunge",
        "expunge_all",
        "merge",
        "refresh",
        "get",
        "execute",
        "scalars",
        "scalar",
        "begin",
        "begin_nested",
    ];
    let name = key.strip_prefix('_')?;
    METHODS.iter().find(|m| **m == name).copied()
}

/// The error of a session method called with '.' instead of ':'.
pub fn dot_call(method: &str) -> mlua::Error {
    arg(format!(
        "call session methods with ':': session:{method}(...), not session.{method}(...)"
    ))
}

//! Dictionary collections: `collection_class = orm.attribute_keyed_dict("keyword")` (or
//! `orm.column_keyed_dict(Note.keyword)`, `orm.keyfunc_mapping(fn)`), SQLAlchemy's keyed
//! dict collections. The core keeps the members as a list (`Relationship::keyed` says the
//! binding reads it as a dictionary); here each member's key is computed when it is read,
//! from its attribute or by the function, and `coll[key]`, `coll[key] = obj`,
//! `coll[key] = nil`, `:get`, `:set`, `:keys`, `:values`, `:pairs` work by it.
//!
//! A key is always the member's own: `coll[k] = obj` whose key is not `k` raises, where
//! SQLAlchemy files it under `k` until the collection loads again (docs/BEHAVIOUR.md).

use std::rc::Rc;

use mlua::{Function, Lua, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::instance::push_instance;
use super::relationship::{items_of, member, LuaCollection};
use crate::orm::collections::Events;
use crate::orm::relationships::Relationship;
use crate::orm::{Instance, Mapper};

/// How a dictionary collection keys its members.
#[derive(Clone)]
pub enum KeyedBy {
    /// The value of this attribute of the member.
    Attribute(String),
    /// What this function returns for the member.
    Function(Function),
}

/// `orm.attribute_keyed_dict(name)`, `orm.column_keyed_dict(Model.col)`,
/// `orm.keyfunc_mapping(fn)` as values.
pub struct LuaCollectionClass(pub KeyedBy);

impl mlua::UserData for LuaCollectionClass {}

/// The `collection_class` option's value.
pub fn keyed_by(v: &LuaValue, what: &str) -> LuaResult<KeyedBy> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(c) = ud.borrow::<LuaCollectionClass>() {
            return Ok(c.0.clone());
        }
    }
    Err(arg(format!(
        "{what} must be orm.attribute_keyed_dict(name), orm.column_keyed_dict(Model.column) or orm.keyfunc_mapping(fn), got {}",
        super::convert::lua_debug(v)
    )))
}

const REGISTRY: &str = "lualchemy.keyed_collections";

fn registry_key(mapper_id: u32, rel_key: &str) -> String {
    format!("{mapper_id}:{rel_key}")
}

/// Records how `mapper`'s relationship `key` keys its members (at configure time).
pub fn register(lua: &Lua, mapper: &Mapper, key: &str, k: &KeyedBy) -> LuaResult<()> {
    let t: mlua::Table = match lua.named_registry_value::<Option<mlua::Table>>(REGISTRY)? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            lua.set_named_registry_value(REGISTRY, t.clone())?;
            t
        }
    };
    let v = match k {
        KeyedBy::Attribute(a) => LuaValue::String(lua.create_string(a)?),
        KeyedBy::Function(f) => LuaValue::Function(f.clone()),
    };
    t.raw_set(registry_key(mapper.id, key), v)
}

/// How `rel` keys its members: the attribute's name, or the function.
fn keyer(lua: &Lua, rel: &Relationship) -> LuaResult<LuaValue> {
    let t: mlua::Table = lua.named_registry_value(REGISTRY)?;
    match t.raw_get(registry_key(rel.parent().id, &rel.key))? {
        LuaValue::Nil => Err(arg(format!(
            "{}: the dictionary collection is not configured",
            rel.path()
        ))),
        by => Ok(by),
    }
}

/// The key of `x` by `keyer`'s answer `by`.
fn key_by(lua: &Lua, by: &LuaValue, x: &Rc<Instance>) -> LuaResult<LuaValue> {
    let obj = push_instance(lua, x)?;
    match (by, &obj) {
        (LuaValue::String(attr), LuaValue::UserData(ud)) => mlua::ObjectLike::get(ud, attr),
        (LuaValue::String(attr), LuaValue::Table(t)) => t.get(attr),
        (LuaValue::Function(f), _) => f.call(obj),
        _ => Ok(LuaValue::Nil),
    }
}

/// The key of `x` in the collection `rel`.
fn key_of(lua: &Lua, rel: &Relationship, x: &Rc<Instance>) -> LuaResult<LuaValue> {
    key_by(lua, &keyer(lua, rel)?, x)
}

/// The member whose key is `k`.
fn find(lua: &Lua, c: &LuaCollection, k: &LuaValue) -> LuaResult<Option<Rc<Instance>>> {
    let by = keyer(lua, &c.rel)?;
    for x in items_of(c)? {
        if key_by(lua, &by, &x)?.equals(k)? {
            return Ok(Some(x));
        }
    }
    Ok(None)
}

/// `coll[k]`: a method of the collection, else the member whose key is `k` (a key that is
/// also a method's name is read with `coll:get(k)`).
pub fn index(lua: &Lua, c: &LuaCollection, k: &LuaValue) -> LuaResult<LuaValue> {
    if let LuaValue::String(s) = k {
        let methods: mlua::Table =
            lua.named_registry_value("lualchemy.keyed_collection_methods")?;
        let m: LuaValue = methods.raw_get(s.clone())?;
        if !m.is_nil() {
            return Ok(m);
        }
    }
    match find(lua, c, k)? {
        Some(x) => push_instance(lua, &x),
        None => Ok(LuaValue::Nil),
    }
}

/// `coll[k] = obj` (replacing the member keyed `k`) and `coll[k] = nil` (removing it).
pub fn set_item(lua: &Lua, c: &LuaCollection, k: &LuaValue, v: &LuaValue) -> LuaResult<()> {
    let old = find(lua, c, k)?;
    if v.is_nil() {
        if let Some(o) = old {
            Events.remove(&c.inst, &c.rel, &o).lua()?;
        }
        return Ok(());
    }
    let x = member(lua, v, &c.rel)?;
    check_key(lua, &c.rel, &x, k)?;
    if let Some(o) = old.filter(|o| !Rc::ptr_eq(o, &x)) {
        Events.remove(&c.inst, &c.rel, &o).lua()?;
    }
    if !items_of(c)?.iter().any(|i| Rc::ptr_eq(i, &x)) {
        Events.append(&c.inst, &c.rel, &x).lua()?;
    }
    Ok(())
}

fn check_key(lua: &Lua, rel: &Relationship, x: &Rc<Instance>, k: &LuaValue) -> LuaResult<()> {
    let own = key_of(lua, rel, x)?;
    if !own.equals(k)? {
        return Err(arg(format!(
            "{}: {} has the key {}, not {}; a dictionary collection files each member under its own key",
            rel.path(),
            x.describe(),
            super::convert::lua_debug(&own),
            super::convert::lua_debug(k)
        )));
    }
    Ok(())
}

/// `obj.rel = { k = member, ... }`: the members, each checked against its key.
pub fn members_of_dict(
    lua: &Lua,
    _inst: &Rc<Instance>,
    rel: &Relationship,
    t: &mlua::Table,
) -> LuaResult<Vec<Rc<Instance>>> {
    let mut out = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        let x = member(lua, &v, rel)?;
        check_key(lua, rel, &x, &k)?;
        out.push(x);
    }
    Ok(out)
}

fn coll(ud: &mlua::AnyUserData) -> LuaResult<mlua::UserDataRef<LuaCollection>> {
    ud.borrow::<LuaCollection>()
        .map_err(|_| arg("expected a collection (call methods with ':')"))
}

/// The methods of a dictionary collection: the list methods, and by key.
fn methods(lua: &Lua) -> LuaResult<mlua::Table> {
    let shared: mlua::Table = lua.named_registry_value("lualchemy.collection_methods")?;
    let t = lua.create_table()?;
    for pair in shared.pairs::<LuaValue, LuaValue>() {
        let (k, v) = pair?;
        t.raw_set(k, v)?;
    }
    t.raw_set(
        "get",
        lua.create_function(move |lua, (ud, k): (mlua::AnyUserData, LuaValue)| {
            let c = coll(&ud)?;
            match find(lua, &c, &k)? {
                Some(x) => push_instance(lua, &x),
                None => Ok(LuaValue::Nil),
            }
        })?,
    )?;
    t.raw_set(
        "set",
        lua.create_function(
            move |lua, (ud, k, v): (mlua::AnyUserData, LuaValue, LuaValue)| {
                set_item(lua, &*coll(&ud)?, &k, &v)
            },
        )?,
    )?;
    t.raw_set(
        "keys",
        lua.create_function(move |lua, ud: mlua::AnyUserData| {
            let c = coll(&ud)?;
            let by = keyer(lua, &c.rel)?;
            let out = lua.create_table()?;
            for (i, x) in items_of(&c)?.iter().enumerate() {
                out.raw_set(i + 1, key_by(lua, &by, x)?)?;
            }
            Ok(out)
        })?,
    )?;
    t.raw_set(
        "values",
        lua.create_function(move |lua, ud: mlua::AnyUserData| {
            let c = coll(&ud)?;
            super::instance::push_instances(lua, items_of(&c)?.iter())
        })?,
    )?;
    t.raw_set(
        "pairs",
        lua.create_function(move |lua, ud: mlua::AnyUserData| {
            let c = coll(&ud)?;
            let items = items_of(&c)?;
            let by = keyer(lua, &c.rel)?;
            let (keys, values) = (lua.create_table()?, lua.create_table()?);
            for (i, x) in items.iter().enumerate() {
                keys.raw_set(i + 1, key_by(lua, &by, x)?)?;
                values.raw_set(i + 1, push_instance(lua, x)?)?;
            }
            let mut i = 0;
            lua.create_function_mut(move |_, ()| {
                i += 1;
                Ok((keys.raw_get::<LuaValue>(i)?, values.raw_get::<LuaValue>(i)?))
            })
        })?,
    )?;
    // `:contains(k)` asks for a key, as Python's `in` on a dict
    t.raw_set(
        "contains",
        lua.create_function(move |lua, (ud, k): (mlua::AnyUserData, LuaValue)| {
            Ok(find(lua, &*coll(&ud)?, &k)?.is_some())
        })?,
    )?;
    Ok(t)
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    lua.set_named_registry_value("lualchemy.keyed_collection_methods", methods(lua)?)?;
    orm.set(
        "attribute_keyed_dict",
        lua.create_function(|_, name: LuaValue| match name {
            LuaValue::String(s) => Ok(LuaCollectionClass(KeyedBy::Attribute(
                s.to_str()?.to_string(),
            ))),
            other => Err(arg(format!(
                "orm.attribute_keyed_dict(name) expects an attribute name, got {}",
                other.type_name()
            ))),
        })?,
    )?;
    orm.set(
        "column_keyed_dict",
        lua.create_function(|_, col: LuaValue| {
            let key = match &col {
                LuaValue::UserData(ud) => ud
                    .borrow::<super::expr::LuaExpr>()
                    .ok()
                    .and_then(|e| e.attr.as_ref().map(|a| a.mapper.attrs[a.index].key.clone())),
                _ => None,
            };
            match key {
                Some(k) => Ok(LuaCollectionClass(KeyedBy::Attribute(k))),
                None => Err(arg(format!(
                    "orm.column_keyed_dict(Model.column) expects a column attribute, got {}",
                    super::convert::lua_debug(&col)
                ))),
            }
        })?,
    )?;
    orm.set(
        "keyfunc_mapping",
        lua.create_function(|_, f: LuaValue| match f {
            LuaValue::Function(f) => Ok(LuaCollectionClass(KeyedBy::Function(f))),
            other => Err(arg(format!(
                "orm.keyfunc_mapping(fn) expects a function of the member, got {}",
                other.type_name()
            ))),
        })?,
    )?;
    Ok(())
}

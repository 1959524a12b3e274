//! Inheritance in Lua: `orm.with_polymorphic(Unit, { Archer, ... })` / `(Unit, "*")`, an
//! entity that selects the named subclasses' columns with the base's (the declaration
//! itself, `Unit:model("Archer", spec)`, is in `model.rs`).

use std::rc::Rc;

use mlua::{Lua, MetaMethod, ObjectLike, UserData, UserDataMethods, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::model::{mapper_of, model_host};
use crate::orm::Mapper;

/// `orm.with_polymorphic(Base, subclasses)`: selected like the base class, with the
/// subclasses' columns loaded in the same row; `wp.Archer` is the subclass, `wp.name` the
/// base's attribute.
pub struct LuaWithPolymorphic {
    pub mapper: Rc<Mapper>,
    pub subs: Vec<Rc<Mapper>>,
}

impl UserData for LuaWithPolymorphic {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_meta_method(MetaMethod::Index, |lua, this, key: LuaValue| {
            if let LuaValue::String(s) = &key {
                let k = s.to_str()?;
                if let Some(sub) = this.subs.iter().find(|m| m.class_name == *k) {
                    return Ok(LuaValue::UserData(model_host(sub).class_ud(lua)?));
                }
            }
            model_host(&this.mapper).class_ud(lua)?.get::<LuaValue>(key)
        });
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!(
                "with_polymorphic({}, [{}])",
                this.mapper.class_name,
                this.subs
                    .iter()
                    .map(|m| m.class_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        });
    }
}

/// The base and the subclasses `orm.with_polymorphic` / `orm.selectin_polymorphic` name.
fn polymorphic_args(
    what: &str,
    base: &LuaValue,
    classes: &LuaValue,
) -> LuaResult<(Rc<Mapper>, Vec<Rc<Mapper>>)> {
    {
        {
            let mapper = mapper_of(base).map_err(|_| {
                arg(format!(
                    "orm.{what}(): the first argument must be a mapped class"
                ))
            })?;
            if mapper.concrete().is_some() {
                let named = match classes {
                    LuaValue::String(s) if &*s.to_str()? == "*" => None,
                    LuaValue::Table(t) => Some(
                        t.sequence_values::<LuaValue>()
                            .map(|v| mapper_of(&v?))
                            .collect::<LuaResult<Vec<_>>>()?,
                    ),
                    other => {
                        return Err(arg(format!(
                            "orm.{what}({}, classes): classes must be a list of subclasses or \"*\", got {}",
                            mapper.class_name,
                            other.type_name()
                        )))
                    }
                };
                let subs = mapper.concrete_polymorphic(what, named.as_deref()).lua()?;
                return Ok((mapper, subs));
            }
            let Some(inh) = &mapper.inherit else {
                return Err(arg(format!(
                    "orm.{what}(): {} is not part of an inheritance hierarchy",
                    mapper.class_name
                )));
            };
            let subs: Vec<Rc<Mapper>> = match classes {
                LuaValue::String(s) if &*s.to_str()? == "*" => inh
                    .map
                    .mappers()
                    .into_iter()
                    .map(|(_, m)| m)
                    .filter(|m| m.isa(&mapper))
                    .collect(),
                LuaValue::Table(t) => {
                    let mut out = Vec::new();
                    for v in t.sequence_values::<LuaValue>() {
                        let m = mapper_of(&v?)?;
                        if !m.isa(&mapper) {
                            return Err(arg(format!(
                                "orm.{what}(): {} is not a subclass of {}",
                                m.class_name, mapper.class_name
                            )));
                        }
                        if m.concrete().is_some() {
                            return Err(arg(format!(
                                "orm.{what}({}, ...): {} is a concrete class (a table of its own, not read with {}'s rows)",
                                mapper.class_name, m.class_name, mapper.class_name
                            )));
                        }
                        // a subclass brings its parents' columns too
                        let mut p = Some(m.clone());
                        while let Some(x) = p {
                            if x.id == mapper.id {
                                break;
                            }
                            if !out.iter().any(|o: &Rc<Mapper>| o.id == x.id) {
                                out.push(x.clone());
                            }
                            p = x.inherits().cloned();
                        }
                    }
                    out
                }
                other => {
                    return Err(arg(format!(
                        "orm.{what}({}, classes): classes must be a list of subclasses or \"*\", got {}",
                        mapper.class_name,
                        other.type_name()
                    )))
                }
            };
            Ok((mapper, subs))
        }
    }
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    orm.set(
        "with_polymorphic",
        lua.create_function(|_, (base, classes): (LuaValue, LuaValue)| {
            let (mapper, subs) = polymorphic_args("with_polymorphic", &base, &classes)?;
            Ok(LuaWithPolymorphic { mapper, subs })
        })?,
    )?;
    orm.set(
        "selectin_polymorphic",
        lua.create_function(|_, (base, classes): (LuaValue, LuaValue)| {
            let (mapper, subs) = polymorphic_args("selectin_polymorphic", &base, &classes)?;
            // a query of a concrete class reads its classes' columns from its union already
            if mapper.concrete().is_some() {
                return Ok(super::loader_options::LuaLoad::default());
            }
            Ok(super::loader_options::lone_option(
                crate::orm::strategy_options::LoaderOption::SelectinPolymorphic { mapper, subs },
            ))
        })?,
    )?;
    Ok(())
}

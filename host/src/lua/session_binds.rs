//! The Lua side of `orm/session_binds.rs`: the `binds` option of `orm.Session` and
//! `orm.sessionmaker` (`{ [User] = engine, [Base] = engine2, [users_table] = engine3 }`) and
//! `session:get_bind(Model)`.

use mlua::{UserDataMethods, Value as LuaValue};

use super::engine::{engine_of, LuaEngine};
use super::error::{arg, IntoLuaResult, LuaResult};
use super::model::{mapper_of, LuaAbstract, LuaBase, LuaModel};
use super::schema::LuaTableObj;
use super::session::LuaSession;
use crate::orm::session_binds::{BindKey, Binds};

/// What a `binds` key names: a model, an abstract model, a declarative base or a table.
fn bind_key(k: &LuaValue) -> LuaResult<BindKey> {
    if let LuaValue::UserData(ud) = k {
        if let Ok(m) = ud.borrow::<LuaModel>() {
            return Ok(BindKey::Mapper(m.mapper.id));
        }
        if let Ok(a) = ud.borrow::<LuaAbstract>() {
            if let Some(&id) = a.inherited.lineage.first() {
                return Ok(BindKey::Class(id));
            }
        }
        if let Ok(b) = ud.borrow::<LuaBase>() {
            return Ok(BindKey::Class(b.0.class_id));
        }
        if let Ok(t) = ud.borrow::<LuaTableObj>() {
            return Ok(BindKey::Table(t.0.id));
        }
    }
    Err(arg(format!(
        "orm.Session: a binds key must be a model, an abstract model, a declarative base or a Table, got {}",
        super::convert::lua_debug(k)
    )))
}

/// `binds = { [key] = engine, ... }`.
pub fn parse_binds(v: &LuaValue) -> LuaResult<Binds> {
    let LuaValue::Table(t) = v else {
        return Err(arg(format!(
            "orm.Session: binds must be a table of {{ [Model] = engine, ... }}, got {}",
            v.type_name()
        )));
    };
    let mut entries = Vec::new();
    for pair in t.pairs::<LuaValue, LuaValue>() {
        let (k, e) = pair?;
        let key = bind_key(&k)?;
        let engine = engine_of(&e).map_err(|_| {
            arg(format!(
                "orm.Session: binds[{}] must be an Engine, got {}",
                super::convert::lua_debug(&k),
                e.type_name()
            ))
        })?;
        entries.push((key, engine));
    }
    Ok(Binds::new(entries))
}

pub fn add_session_methods<M: UserDataMethods<LuaSession>>(m: &mut M) {
    // session:get_bind([Model]): the engine the model's statements run on
    m.add_method("get_bind", |lua, this, model: Option<LuaValue>| {
        let mapper = match &model {
            None | Some(LuaValue::Nil) => None,
            Some(v) => Some(mapper_of(v)?),
        };
        let engine = this.core.get_bind(mapper.as_deref()).lua()?;
        lua.create_userdata(LuaEngine(engine))
    });
}

//! Collections never loaded, as Lua values: `lazy = "write_only"` gives a
//! `WriteOnlyCollection` (`:add`, `:add_all`, `:remove`, `:select()`); `lazy = "dynamic"`
//! gives the legacy query of the members (`statement.rs`'s `LuaQuery` with its parent), which
//! also has `:append`, `:extend` and `:remove`. What they record is the core's
//! (`orm/write_only.rs`).

use std::rc::Rc;

use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value as LuaValue};

use super::error::{arg, IntoLuaResult, LuaResult};
use super::statement::{LuaQuery, LuaSelect};
use crate::orm::collections::Events;
use crate::orm::relationships::Relationship;
use crate::orm::write_only::members_select;
use crate::orm::Instance;

/// `parent.rel` of a `lazy = "write_only"` relationship.
pub struct LuaWriteOnly {
    inst: Rc<Instance>,
    rel: Rc<Relationship>,
}

pub fn write_only(lua: &Lua, inst: &Rc<Instance>, rel: Rc<Relationship>) -> LuaResult<LuaValue> {
    Ok(LuaValue::UserData(lua.create_userdata(LuaWriteOnly {
        inst: inst.clone(),
        rel,
    })?))
}

/// `parent.rel` of a `lazy = "dynamic"` relationship: a query of the members, run in the
/// parent's session.
pub fn dynamic(lua: &Lua, inst: &Rc<Instance>, rel: Rc<Relationship>) -> LuaResult<LuaValue> {
    let session = match inst.session() {
        Some(s) => match super::session::session_value(lua, &s)? {
            LuaValue::UserData(ud) => Some(ud),
            _ => None,
        },
        None => None,
    };
    Ok(LuaValue::UserData(lua.create_userdata(LuaQuery {
        session,
        q: crate::orm::write_only::target_query(&rel),
        appender: Some((inst.clone(), rel)),
    })?))
}

fn no_iteration(rel: &Relationship) -> mlua::Error {
    super::error::kind_err(
        crate::error::ErrorKind::InvalidRequestError,
        format!(
            "{} is a write-only collection: it is never loaded, so it cannot be read or iterated in place; run its select() with session:scalars()",
            rel.path()
        ),
    )
}

impl UserData for LuaWriteOnly {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("add", |lua, this, x: LuaValue| {
            let x = super::relationship::member(lua, &x, &this.rel)?;
            Events.append(&this.inst, &this.rel, &x).lua()
        });
        m.add_method("add_all", |lua, this, list: LuaValue| {
            let LuaValue::Table(list) = list else {
                return Err(arg(format!(
                    "{}:add_all() expects a list of {} objects, got {}",
                    this.rel.path(),
                    this.rel.target().class_name,
                    list.type_name()
                )));
            };
            for x in list.sequence_values::<LuaValue>() {
                let x = super::relationship::member(lua, &x?, &this.rel)?;
                Events.append(&this.inst, &this.rel, &x).lua()?;
            }
            Ok(())
        });
        m.add_method("remove", |lua, this, x: LuaValue| {
            let x = super::relationship::member(lua, &x, &this.rel)?;
            Events.remove(&this.inst, &this.rel, &x).lua().map(|_| ())
        });
        m.add_method("select", |_, this, ()| {
            Ok(LuaSelect {
                q: members_select(&this.inst, &this.rel).lua()?,
            })
        });
        m.add_meta_method(MetaMethod::Len, |_, this, ()| -> LuaResult<()> {
            Err(no_iteration(&this.rel))
        });
        m.add_meta_method(
            MetaMethod::Index,
            |_, this, _k: LuaValue| -> LuaResult<()> { Err(no_iteration(&this.rel)) },
        );
        m.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("<write-only collection {}>", this.rel.path()))
        });
    }
}

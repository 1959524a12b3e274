//! `orm.event`: `listen`, `listens_for`, `remove`, `contains` for mapper events (on a model,
//! or on a declarative base for all its models), session events (on a session or a
//! sessionmaker) and engine events, each Lua function wrapped in a core listener.
//!
//! A listener runs under `pcall`; what it raises is kept (a small ring in the registry) and
//! carried through the core as the cause of the error, so the session methods of
//! `lua/prelude.lua` can raise the very value again to their caller.

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use mlua::{AnyUserData, Function, Lua, MultiValue, Value as LuaValue};

use super::error::{arg, find_orm_error, from_lua, LuaResult};
use super::instance::push_instance;
use super::model::{LuaAbstract, LuaBase, LuaModel, MapperInfo};
use crate::engine::events::{EngineArgs, EngineEvent};
use crate::engine::EchoParams;
use crate::error::{Error, ErrorKind};
use crate::orm::events::{mapper_listeners, MapperArgs, MapperEvent, SessionArgs, SessionEvent};
use crate::orm::Mapper;

const RAISED: &str = "lualchemy.raised";
const PCALL: &str = "lualchemy.pcall";
const IDS: &str = "lualchemy.listener_ids";
/// How many raised values are kept for their callers.
const KEEP: u64 = 16;

/// A value a Lua listener raised, kept in the registry under `id`.
#[derive(Debug)]
pub struct RaisedValue {
    id: u64,
    message: String,
}

impl fmt::Display for RaisedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RaisedValue {}

/// Turns what a listener raised into a core error that remembers the value.
fn raised_error(lua: &Lua, v: LuaValue) -> Error {
    if let LuaValue::Error(e) = &v {
        return from_lua((**e).clone());
    }
    let message = match &v {
        LuaValue::String(s) => s.to_string_lossy(),
        other => super::convert::lua_debug(other),
    };
    let keep = || -> LuaResult<u64> {
        let t: mlua::Table = lua.named_registry_value(RAISED)?;
        let id: u64 = t.raw_get::<Option<u64>>("next")?.unwrap_or(1);
        t.raw_set("next", id + 1)?;
        // boxed, so that a raised nil is kept too
        t.raw_set(id, lua.create_sequence_from([v])?)?;
        if id > KEEP {
            t.raw_set(id - KEEP, LuaValue::Nil)?;
        }
        Ok(id)
    };
    match keep() {
        Ok(id) => Error::external(
            ErrorKind::InvalidRequestError,
            message.clone(),
            Arc::new(RaisedValue { id, message }),
        ),
        Err(e) => from_lua(e),
    }
}

/// The value a listener raised (nil included), if `e` carries one.
pub fn raised_value(lua: &Lua, e: &mlua::Error) -> Option<LuaValue> {
    let cause = find_orm_error(e)?.cause.as_ref()?;
    let r = cause.downcast_ref::<RaisedValue>()?;
    let t: mlua::Table = lua.named_registry_value(RAISED).ok()?;
    let boxed: mlua::Table = t.raw_get::<Option<mlua::Table>>(r.id).ok()??;
    boxed.raw_get::<LuaValue>(1).ok()
}

/// Calls a Lua listener; an error it raises becomes a core error carrying the value.
pub fn call(lua: &Lua, f: &Function, args: MultiValue) -> crate::error::Result<MultiValue> {
    let _nested = super::compat::nested().map_err(Error::invalid)?;
    let pcall: Function = lua.named_registry_value(PCALL).map_err(from_lua)?;
    let mut all = MultiValue::new();
    all.push_back(LuaValue::Function(f.clone()));
    all.extend(args);
    let mut out = pcall.call::<MultiValue>(all).map_err(from_lua)?;
    match out.pop_front() {
        Some(LuaValue::Boolean(true)) => Ok(out),
        _ => Err(raised_error(lua, out.pop_front().unwrap_or(LuaValue::Nil))),
    }
}

fn upgrade(weak: &mlua::WeakLua) -> crate::error::Result<Lua> {
    weak.try_upgrade()
        .ok_or_else(|| Error::invalid("the Lua state of a listener is gone"))
}

/// A Lua value for a connection the core hands a listener: one that works inside the
/// current transaction.
fn connection_value(lua: &Lua, c: Option<&crate::engine::Connection>) -> LuaResult<LuaValue> {
    match c {
        Some(c) => Ok(LuaValue::UserData(
            lua.create_userdata(super::engine::LuaConnection::joined(c.share()))?,
        )),
        None => Ok(LuaValue::Nil),
    }
}

/// Calls `f` with the arguments `build` makes, from a core listener (`weak`: the Lua state).
fn call_with(
    weak: &mlua::WeakLua,
    f: &Function,
    build: impl FnOnce(&Lua) -> LuaResult<MultiValue>,
) -> crate::error::Result<()> {
    let lua = upgrade(weak)?;
    let args = build(&lua).map_err(from_lua)?;
    call(&lua, f, args).map(|_| ())
}

fn mapper_listener(
    lua: &Lua,
    mapper: &Rc<Mapper>,
    f: Function,
) -> crate::orm::events::MapperListener {
    let weak = lua.weak();
    let mapper = mapper.clone();
    // the `mapper` argument, made once
    let info: std::cell::OnceCell<AnyUserData> = std::cell::OnceCell::new();
    Rc::new(move |a: &MapperArgs<'_>| {
        call_with(&weak, &f, |lua| {
            let target = push_instance(lua, a.target)?;
            let mut args = MultiValue::new();
            match a.event {
                MapperEvent::Load => {
                    args.push_back(target);
                    args.push_back(LuaValue::Nil);
                }
                MapperEvent::Refresh => {
                    args.push_back(target);
                    args.push_back(LuaValue::Nil);
                    args.push_back(match a.attrs {
                        Some(list) => LuaValue::Table(lua.create_sequence_from(
                            list.iter().map(|&i| mapper.attrs[i].key.clone()),
                        )?),
                        None => LuaValue::Nil,
                    });
                }
                _ => {
                    let info = match info.get() {
                        Some(u) => u.clone(),
                        None => {
                            let u = lua.create_userdata(MapperInfo(mapper.clone()))?;
                            info.get_or_init(|| u).clone()
                        }
                    };
                    args.push_back(LuaValue::UserData(info));
                    args.push_back(connection_value(lua, a.connection)?);
                    args.push_back(target);
                }
            }
            Ok(args)
        })
    })
}

fn session_listener(lua: &Lua, f: Function) -> crate::orm::events::SessionListener {
    let weak = lua.weak();
    Rc::new(move |a: &SessionArgs<'_>| {
        call_with(&weak, &f, |lua| {
            let session = match a.session.weak().upgrade() {
                Some(s) => super::session::session_value(lua, &s)?,
                None => LuaValue::Nil,
            };
            let mut args = MultiValue::new();
            args.push_back(session);
            match a.event {
                SessionEvent::TransientToPending
                | SessionEvent::PendingToPersistent
                | SessionEvent::PersistentToDetached => {
                    if let Some(o) = a.object {
                        args.push_back(push_instance(lua, o)?);
                    }
                }
                SessionEvent::AfterBegin => {
                    args.push_back(LuaValue::Nil);
                    args.push_back(connection_value(lua, a.connection)?);
                }
                _ => {}
            }
            Ok(args)
        })
    })
}

fn engine_listener(lua: &Lua, f: Function) -> crate::engine::events::EngineListener {
    let weak = lua.weak();
    Rc::new(move |a: &EngineArgs<'_>| {
        call_with(&weak, &f, |lua| {
            let kind = crate::schema::ValueKind::Any;
            let row = |r: &[crate::value::Value]| -> LuaResult<mlua::Table> {
                let t = lua.create_table()?;
                for (i, v) in r.iter().enumerate() {
                    t.raw_set(i + 1, super::convert::value_to_lua(lua, v, kind)?)?;
                }
                Ok(t)
            };
            let params = match a.params {
                EchoParams::None => LuaValue::Nil,
                EchoParams::One(p) | EchoParams::Batch(p) => LuaValue::Table(row(p)?),
                EchoParams::Many(rows) => {
                    let t = lua.create_table()?;
                    for (i, r) in rows.iter().enumerate() {
                        t.raw_set(i + 1, row(r)?)?;
                    }
                    LuaValue::Table(t)
                }
            };
            let mut args = MultiValue::new();
            match a.event {
                EngineEvent::Connect => {}
                _ => {
                    args.push_back(LuaValue::Nil); // conn
                    args.push_back(LuaValue::Nil); // cursor
                    args.push_back(LuaValue::String(lua.create_string(a.statement)?));
                    args.push_back(params);
                    args.push_back(LuaValue::Nil); // context
                    args.push_back(LuaValue::Boolean(a.executemany));
                }
            }
            Ok(args)
        })
    })
}

/// The id a function is known by in listener registries (one per function).
fn id_of(lua: &Lua, f: &Function) -> LuaResult<u64> {
    let t: mlua::Table = lua.named_registry_value(IDS)?;
    if let Some(id) = t.raw_get::<Option<u64>>(f.clone())? {
        return Ok(id);
    }
    let next: u64 = lua
        .named_registry_value::<Option<u64>>("lualchemy.next_listener")?
        .unwrap_or(1);
    lua.set_named_registry_value("lualchemy.next_listener", next + 1)?;
    t.raw_set(f.clone(), next)?;
    Ok(next)
}

/// What an event target is.
enum Target {
    /// The models, and the key of the base or abstract class whose later models get the
    /// listener too.
    Mappers(Vec<Rc<Mapper>>, Option<*const std::ffi::c_void>),
    Session(AnyUserData),
    Engine(crate::engine::Engine),
    /// A column attribute (`User.name`): `set` events.
    Column(Rc<Mapper>, usize),
    /// A relationship attribute (`User.posts`): `append`, `remove`, `set` events.
    Relationship(Rc<crate::orm::relationships::Relationship>),
}

fn target_of(v: &LuaValue) -> LuaResult<Target> {
    if let LuaValue::UserData(ud) = v {
        if let Ok(m) = ud.borrow::<LuaModel>() {
            return Ok(Target::Mappers(vec![m.mapper.clone()], None));
        }
        if let Ok(b) = ud.borrow::<LuaBase>() {
            let mappers = b.0.mappers.borrow().clone();
            return Ok(Target::Mappers(mappers, Some(Rc::as_ptr(&b.0) as *const _)));
        }
        if ud.is::<LuaAbstract>() {
            return Ok(Target::Mappers(Vec::new(), Some(ud.to_pointer())));
        }
        if ud.is::<super::session::LuaSession>() || ud.is::<super::session::SessionMaker>() {
            return Ok(Target::Session(ud.clone()));
        }
        if let Ok(e) = ud.borrow::<super::engine::LuaEngine>() {
            return Ok(Target::Engine(e.0.clone()));
        }
        if let Ok(r) = ud.borrow::<super::relationship::LuaRelAttr>() {
            return Ok(Target::Relationship(r.0.rel.clone()));
        }
        if let Ok(e) = ud.borrow::<super::expr::LuaExpr>() {
            if let Some(a) = &e.attr {
                return Ok(Target::Column(a.mapper.clone(), a.index));
            }
        }
    }
    Err(arg(format!(
        "orm.event: expected a model, a declarative base, a session, a sessionmaker or an engine as the target, got {}",
        super::convert::lua_debug(v)
    )))
}

fn unknown(name: &str, what: &str, known: &str) -> mlua::Error {
    arg(format!(
        "orm.event: no event '{name}' for {what} (they have: {known})"
    ))
}

const MAPPER_EVENTS: &str = "init, before_insert, after_insert, before_update, after_update, before_delete, after_delete, load, refresh";
const SESSION_EVENTS: &str = "before_flush, after_flush, after_flush_postexec, before_commit, after_commit, after_rollback, after_begin, transient_to_pending, pending_to_persistent, persistent_to_detached";
const ENGINE_EVENTS: &str = "connect, before_cursor_execute, after_cursor_execute";

/// listen / remove / contains on one target: what `op` does to each registry.
#[allow(clippy::too_many_arguments)]
fn apply(
    lua: &Lua,
    target: &LuaValue,
    name: &str,
    f: &Function,
    op: Op,
    once: bool,
    retval: bool,
    propagate: bool,
) -> LuaResult<bool> {
    let id = id_of(lua, f)?;
    if matches!(op, Op::Listen) {
        raise_values_from_now_on(lua)?;
    }
    let mut t = target_of(target)?;
    // `propagate = true` on a model: its subclasses now, and those declared later
    if let (true, Target::Mappers(ms, later @ None), LuaValue::UserData(ud)) =
        (propagate, &mut t, target)
    {
        if let Some(m) = ms.first().cloned() {
            if let Some(base) = super::model::model_host(&m).base.upgrade() {
                for sub in base.mappers.borrow().iter() {
                    if sub.id != m.id && sub.isa(&m) {
                        ms.push(sub.clone());
                    }
                }
            }
            *later = Some(ud.to_pointer());
        }
    }
    match t {
        Target::Relationship(rel) => rel_listener_op(lua, &rel, name, f, op, once, retval),
        Target::Column(mapper, col) => {
            if name != "set" {
                return Err(unknown(name, "column attributes", "set"));
            }
            let mt = super::instance::class_metatable(lua, &mapper)?;
            let key = mapper.attrs[col].key.clone();
            match op {
                Op::Listen => {
                    install_set_hook(lua, &mt, col, &key, None, Some((f.clone(), retval, once)))?;
                    let keys: mlua::Table = mt.raw_get(super::instance::KEYS)?;
                    keys.raw_set(key.as_str(), (col | super::instance::VALIDATED) as i64)?;
                    super::instance::keys_changed(&mapper);
                    Ok(true)
                }
                Op::Remove => set_listener_op(lua, &mt, col, f, true),
                Op::Contains => set_listener_op(lua, &mt, col, f, false),
            }
        }
        Target::Mappers(mappers, later) if name == "init" => {
            let mut any = false;
            for m in &mappers {
                any |= init_listener_op(lua, m, f, op, once)?;
            }
            if let Some(key) = later {
                any |= remember_for_base(lua, key, name, f, op, once)?;
            }
            Ok(any)
        }
        Target::Mappers(mappers, later) => {
            let event =
                MapperEvent::parse(name).ok_or_else(|| unknown(name, "models", MAPPER_EVENTS))?;
            let mut any = false;
            for m in &mappers {
                let l = mapper_listeners(m.id);
                any |= match op {
                    Op::Listen => {
                        l.add(event, id, once, mapper_listener(lua, m, f.clone()));
                        true
                    }
                    Op::Remove => l.remove(event, id),
                    Op::Contains => l.contains(event, id),
                };
            }
            if let Some(key) = later {
                // models declared on the base (or from the abstract class) later get it too
                any |= remember_for_base(lua, key, name, f, op, once)?;
            }
            Ok(any)
        }
        Target::Session(ud) => {
            let event = SessionEvent::parse(name)
                .ok_or_else(|| unknown(name, "sessions", SESSION_EVENTS))?;
            let listeners = if let Ok(s) = ud.borrow::<super::session::LuaSession>() {
                s.core.0.clone()
            } else {
                let m = ud.borrow::<super::session::SessionMaker>()?;
                return Ok(m.with_listeners(|l| match op {
                    Op::Listen => {
                        l.add(event, id, once, session_listener(lua, f.clone()));
                        true
                    }
                    Op::Remove => l.remove(event, id),
                    Op::Contains => l.contains(event, id),
                }));
            };
            let l = &listeners.listeners;
            Ok(match op {
                Op::Listen => {
                    l.add(event, id, once, session_listener(lua, f.clone()));
                    true
                }
                Op::Remove => l.remove(event, id),
                Op::Contains => l.contains(event, id),
            })
        }
        Target::Engine(engine) => {
            let event =
                EngineEvent::parse(name).ok_or_else(|| unknown(name, "engines", ENGINE_EVENTS))?;
            let l = engine.listeners();
            Ok(match op {
                Op::Listen => {
                    l.add(event, id, once, engine_listener(lua, f.clone()));
                    true
                }
                Op::Remove => l.remove(event, id),
                Op::Contains => l.contains(event, id),
            })
        }
    }
}

#[derive(Clone, Copy)]
enum Op {
    Listen,
    Remove,
    Contains,
}

/// Base-level mapper listeners, applied to each model declared on the base (or from the
/// abstract class) afterwards; whether one matched (remove / contains).
fn remember_for_base(
    lua: &Lua,
    key: *const std::ffi::c_void,
    name: &str,
    f: &Function,
    op: Op,
    once: bool,
) -> LuaResult<bool> {
    let all: mlua::Table = lua.named_registry_value("lualchemy.base_listeners")?;
    let key = LuaValue::LightUserData(mlua::LightUserData(key as *mut _));
    let list: mlua::Table = match all.raw_get::<Option<mlua::Table>>(key.clone())? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            all.raw_set(key.clone(), t.clone())?;
            t
        }
    };
    let matches = |e: &mlua::Table| -> LuaResult<bool> {
        Ok(e.raw_get::<String>(1)? == name && e.raw_get::<Function>(2)? == *f)
    };
    match op {
        Op::Listen => {
            let entry = lua.create_table()?;
            entry.raw_set(1, name)?;
            entry.raw_set(2, f.clone())?;
            entry.raw_set(3, once)?;
            list.raw_push(entry)?;
            Ok(true)
        }
        Op::Contains => {
            for e in list.sequence_values::<mlua::Table>() {
                if matches(&e?)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Op::Remove => {
            let kept = lua.create_table()?;
            let mut found = false;
            for e in list.sequence_values::<mlua::Table>() {
                let e = e?;
                if matches(&e)? {
                    found = true;
                } else {
                    kept.raw_push(e)?;
                }
            }
            all.raw_set(key, kept)?;
            Ok(found)
        }
    }
}

/// A model was declared on the base or abstract class `key`: it gets their mapper listeners.
pub fn on_new_model(lua: &Lua, key: *const std::ffi::c_void, model: &LuaValue) -> LuaResult<()> {
    let LuaValue::UserData(ud) = model else {
        return Ok(());
    };
    let Ok(m) = ud.borrow::<LuaModel>() else {
        return Ok(());
    };
    let mapper = m.mapper.clone();
    let all: Option<mlua::Table> = lua.named_registry_value("lualchemy.base_listeners").ok();
    let Some(all) = all else { return Ok(()) };
    let key = LuaValue::LightUserData(mlua::LightUserData(key as *mut _));
    let Some(list) = all.raw_get::<Option<mlua::Table>>(key)? else {
        return Ok(());
    };
    for e in list.sequence_values::<mlua::Table>() {
        let e = e?;
        let name: String = e.raw_get(1)?;
        let f: Function = e.raw_get(2)?;
        let once: bool = e.raw_get(3)?;
        if name == "init" {
            init_listener_op(lua, &mapper, &f, Op::Listen, once)?;
        } else if let Some(event) = MapperEvent::parse(&name) {
            let id = id_of(lua, &f)?;
            mapper_listeners(mapper.id).add(event, id, once, mapper_listener(lua, &mapper, f));
        }
    }
    Ok(())
}

/// `{ once = true, retval = true }`: (once, retval).
fn options(opts: Option<&mlua::Table>) -> LuaResult<(bool, bool, bool)> {
    let Some(o) = opts else {
        return Ok((false, false, false));
    };
    for pair in o.pairs::<String, LuaValue>() {
        let (k, _) = pair?;
        if k != "once" && k != "retval" && k != "propagate" {
            return Err(arg(format!(
                "orm.event.listen: unknown option '{k}' (expected once, retval or propagate)"
            )));
        }
    }
    Ok((
        o.get::<Option<bool>>("once")?.unwrap_or(false),
        o.get::<Option<bool>>("retval")?.unwrap_or(false),
        o.get::<Option<bool>>("propagate")?.unwrap_or(false),
    ))
}

/// The function a column's writes go through once it has a validator or `set` listeners
/// (called from the raw `__newindex`, so what they raise reaches the caller unchanged):
/// the validator first, then each listener `fn(target, value, oldvalue, initiator)`, whose
/// result replaces the value when it was registered with `retval`.
const SET_HOOK: &str = r#"
local validators, listeners, col, key, old_of = ...
return function(obj, k, value)
  local v = validators[col]
  if v then value = v(obj, k, value) end
  local ls = listeners[col]
  if ls and #ls > 0 then
    local old = old_of(obj, key)
    local initiator = { key = key, op = "replace" }
    local i = 1
    while i <= #ls do
      local l = ls[i]
      if l.once then table.remove(ls, i) else i = i + 1 end
      local r = l.fn(obj, value, old, initiator)
      if l.retval then value = r end
    end
  end
  return value
end
"#;

/// The per-class tables of validators and `set` listeners, by column index + 1.
fn hook_tables(lua: &Lua, mt: &mlua::Table) -> LuaResult<(mlua::Table, mlua::Table)> {
    let get = |name: &str| -> LuaResult<mlua::Table> {
        match mt.raw_get::<Option<mlua::Table>>(name)? {
            Some(t) => Ok(t),
            None => {
                let t = lua.create_table()?;
                mt.raw_set(name, t.clone())?;
                Ok(t)
            }
        }
    };
    Ok((get("__validator_fns")?, get("__set_listeners")?))
}

/// Gives column `col` of a class its validator (`validator`) or one more `set` listener
/// (`listener`: the function, retval, once) and routes the column's writes through the hook.
pub fn install_set_hook(
    lua: &Lua,
    mt: &mlua::Table,
    col: usize,
    key: &str,
    validator: Option<Function>,
    listener: Option<(Function, bool, bool)>,
) -> LuaResult<()> {
    let (validators, listeners) = hook_tables(lua, mt)?;
    if let Some(v) = validator {
        validators.raw_set(col + 1, v)?;
    }
    if let Some((f, retval, once)) = listener {
        let list: mlua::Table = match listeners.raw_get::<Option<mlua::Table>>(col + 1)? {
            Some(t) => t,
            None => {
                let t = lua.create_table()?;
                listeners.raw_set(col + 1, t.clone())?;
                t
            }
        };
        list_op(lua, &list, &f, Op::Listen, once, retval)?;
    }
    let hooks: mlua::Table = match mt.raw_get::<Option<mlua::Table>>(super::instance::VALIDATORS)? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            mt.raw_set(super::instance::VALIDATORS, t.clone())?;
            t
        }
    };
    if hooks.raw_get::<Option<Function>>(col + 1)?.is_none() {
        let old_of: Function = lua.named_registry_value("lualchemy.old_value")?;
        let hook: Function = lua.load(SET_HOOK).set_name("=lualchemy/set_hook").call((
            validators,
            listeners,
            col + 1,
            key,
            old_of,
        ))?;
        hooks.raw_set(col + 1, hook)?;
    }
    Ok(())
}

/// The Lua listeners of one relationship's `append` / `remove` / `set` events, kept in the
/// registry by relationship (`REL_LISTENERS`); the core's attribute events call them
/// `fn(target, value, initiator)` (`set`: `fn(target, value, oldvalue, initiator)`), the
/// initiator a table `{ key = <relationship changed>, op = "append" | "remove" | "replace" |
/// "bulk_replace" }`; a `retval` listener's result replaces the value.
struct LuaAttrListener(mlua::WeakLua);

impl crate::orm::collections::AttrListener for LuaAttrListener {
    fn fire(
        &self,
        target: &Rc<crate::orm::Instance>,
        rel: &crate::orm::relationships::Relationship,
        event: crate::orm::collections::AttrEvent,
        value: Option<Rc<crate::orm::Instance>>,
        old: Option<Rc<crate::orm::Instance>>,
        initiator: crate::orm::collections::Initiator<'_>,
    ) -> crate::error::Result<Option<Rc<crate::orm::Instance>>> {
        let lua = upgrade(&self.0)?;
        rel_event(&lua, rel, target, event, value, old, initiator).map_err(from_lua)
    }

    fn bulk_replace(
        &self,
        target: &Rc<crate::orm::Instance>,
        rel: &crate::orm::relationships::Relationship,
        values: &mut Vec<Rc<crate::orm::Instance>>,
        initiator: crate::orm::collections::Initiator<'_>,
    ) -> crate::error::Result<()> {
        let lua = upgrade(&self.0)?;
        bulk_replace_event(&lua, rel, target, values, initiator).map_err(from_lua)
    }
}

/// The `bulk_replace` listeners `fn(target, values, initiator)` of an assigned collection:
/// `values` is a list of the members to be, which they may change in place.
fn bulk_replace_event(
    lua: &Lua,
    rel: &crate::orm::relationships::Relationship,
    target: &Rc<crate::orm::Instance>,
    values: &mut Vec<Rc<crate::orm::Instance>>,
    initiator: crate::orm::collections::Initiator<'_>,
) -> LuaResult<()> {
    let Some(list) = listener_list(lua, rel, "bulk_replace")? else {
        return Ok(());
    };
    let obj = push_instance(lua, target)?;
    let members = super::instance::push_instances(lua, values.iter())?;
    let init = initiator_table(lua, initiator)?;
    let mut i = 1;
    while let Some(e) = next_listener(&list, &mut i)? {
        let f: Function = e.raw_get("fn")?;
        let args: MultiValue = [
            obj.clone(),
            LuaValue::Table(members.clone()),
            LuaValue::Table(init.clone()),
        ]
        .into_iter()
        .collect();
        call(lua, &f, args).map_err(super::error::to_lua)?;
    }
    *values = members
        .sequence_values::<LuaValue>()
        .map(|v| {
            let v = v?;
            super::instance::instance_of(lua, &v).ok_or_else(|| {
                arg(format!(
                    "orm.event: a 'bulk_replace' listener of {} left {} in the list, not an instance of {}",
                    rel.path(),
                    super::convert::lua_debug(&v),
                    rel.target().class_name
                ))
            })
        })
        .collect::<LuaResult<_>>()?;
    Ok(())
}

/// The Lua listeners of relationship `rel`'s event `name`, if any.
fn listener_list(
    lua: &Lua,
    rel: &crate::orm::relationships::Relationship,
    name: &str,
) -> LuaResult<Option<mlua::Table>> {
    let all: mlua::Table = lua.named_registry_value(REL_LISTENERS)?;
    let key = LuaValue::LightUserData(mlua::LightUserData(rel as *const _ as *mut _));
    let Some(by_name) = all.raw_get::<Option<mlua::Table>>(key)? else {
        return Ok(None);
    };
    Ok(by_name
        .raw_get::<Option<mlua::Table>>(name)?
        .filter(|l| l.raw_len() > 0))
}

/// SQLAlchemy's initiator as a Lua table: `{ key = <relationship>, op = <operation> }`.
fn initiator_table(
    lua: &Lua,
    initiator: crate::orm::collections::Initiator<'_>,
) -> LuaResult<mlua::Table> {
    use crate::orm::collections::InitiatorOp;
    let init = lua.create_table()?;
    init.raw_set("key", initiator.rel.key.as_str())?;
    init.raw_set(
        "op",
        match initiator.op {
            InitiatorOp::Append => "append",
            InitiatorOp::Remove => "remove",
            InitiatorOp::Replace => "replace",
            InitiatorOp::BulkReplace => "bulk_replace",
        },
    )?;
    Ok(init)
}

fn rel_event(
    lua: &Lua,
    rel: &crate::orm::relationships::Relationship,
    target: &Rc<crate::orm::Instance>,
    event: crate::orm::collections::AttrEvent,
    value: Option<Rc<crate::orm::Instance>>,
    old: Option<Rc<crate::orm::Instance>>,
    initiator: crate::orm::collections::Initiator<'_>,
) -> LuaResult<Option<Rc<crate::orm::Instance>>> {
    use crate::orm::collections::AttrEvent;
    let name = match event {
        AttrEvent::Append => "append",
        AttrEvent::Remove => "remove",
        AttrEvent::Set => "set",
    };
    let Some(list) = listener_list(lua, rel, name)? else {
        return Ok(value);
    };
    let push = |v: &Option<Rc<crate::orm::Instance>>| match v {
        Some(o) => push_instance(lua, o),
        None => Ok(LuaValue::Nil),
    };
    let obj = push_instance(lua, target)?;
    let mut value_lua = push(&value)?;
    let old = push(&old)?;
    let init = initiator_table(lua, initiator)?;
    let mut replaced = false;
    let mut i = 1;
    while let Some(e) = next_listener(&list, &mut i)? {
        let f: Function = e.raw_get("fn")?;
        let mut args = MultiValue::new();
        args.push_back(obj.clone());
        args.push_back(value_lua.clone());
        if event == AttrEvent::Set {
            args.push_back(old.clone());
        }
        args.push_back(LuaValue::Table(init.clone()));
        let out = call(lua, &f, args).map_err(super::error::to_lua)?;
        if e.raw_get::<bool>("retval")? {
            value_lua = out.into_iter().next().unwrap_or(LuaValue::Nil);
            replaced = true;
        }
    }
    if !replaced {
        return Ok(value);
    }
    match &value_lua {
        LuaValue::Nil if event == AttrEvent::Set => Ok(None),
        v => super::instance::instance_of(lua, v)
            .map(Some)
            .ok_or_else(|| {
                arg(format!(
                "orm.event: a retval '{name}' listener of {} returned {}, not an instance of {}",
                rel.path(),
                super::convert::lua_debug(v),
                rel.target().class_name
            ))
            }),
    }
}

const REL_LISTENERS: &str = "lualchemy.rel_listeners";

/// `init` listeners `fn(target, args)`: a list in the class metatable, run by a dispatcher
/// the raw constructor calls before it sets the keyword arguments.
fn init_listener_op(
    lua: &Lua,
    mapper: &Rc<Mapper>,
    f: &Function,
    op: Op,
    once: bool,
) -> LuaResult<bool> {
    let mt = super::instance::class_metatable(lua, mapper)?;
    let list: mlua::Table = match mt.raw_get::<Option<mlua::Table>>("__init_listeners")? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            mt.raw_set("__init_listeners", t.clone())?;
            let dispatch: Function = lua
                .load(
                    r#"
local ls = ...
return function(obj, args)
  local i = 1
  while i <= #ls do
    local l = ls[i]
    if l.once then table.remove(ls, i) else i = i + 1 end
    l.fn(obj, args)
  end
end
"#,
                )
                .set_name("=lualchemy/init_event")
                .call(t.clone())?;
            mt.raw_set(super::instance::INIT, dispatch)?;
            super::instance::init_dispatcher_set(mapper);
            t
        }
    };
    list_op(lua, &list, f, op, once, false)
}

/// `table.remove(list, i)`, without the script's `table` (a sandbox may have replaced it).
/// The listener entry at `i` of a dispatcher's list, moving `i` past it; a `once` entry is
/// taken out of the list instead, so it runs this time only.
fn next_listener(list: &mlua::Table, i: &mut usize) -> LuaResult<Option<mlua::Table>> {
    if *i > list.raw_len() {
        return Ok(None);
    }
    let e: mlua::Table = list.raw_get(*i)?;
    if e.raw_get::<bool>("once")? {
        list_remove(list, *i)?;
    } else {
        *i += 1;
    }
    Ok(Some(e))
}

fn list_remove(list: &mlua::Table, i: usize) -> LuaResult<()> {
    let n = list.raw_len();
    for j in i..n {
        list.raw_set(j, list.raw_get::<LuaValue>(j + 1)?)?;
    }
    list.raw_set(n, LuaValue::Nil)
}

/// listen / remove / contains on a Lua list of `{ fn = f, retval = .., once = .. }` entries
/// (the listeners the Lua-side dispatchers run).
fn list_op(
    lua: &Lua,
    list: &mlua::Table,
    f: &Function,
    op: Op,
    once: bool,
    retval: bool,
) -> LuaResult<bool> {
    match op {
        Op::Listen => {
            let entry = lua.create_table()?;
            entry.raw_set("fn", f.clone())?;
            entry.raw_set("retval", retval)?;
            entry.raw_set("once", once)?;
            list.raw_push(entry)?;
            Ok(true)
        }
        Op::Remove | Op::Contains => {
            for i in 1..=list.raw_len() {
                let e: mlua::Table = list.raw_get(i)?;
                if e.raw_get::<Function>("fn")? == *f {
                    if matches!(op, Op::Remove) {
                        list_remove(list, i)?;
                    }
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }
}

const LISTENING: &str = "lualchemy.listening";

/// From now on what a Lua function the core calls raises (a listener, a column default)
/// comes back unchanged from everything that may run one: the instances' slow paths, the
/// collection methods and the session methods (lua/prelude.lua). Done once per state.
pub fn raise_values_from_now_on(lua: &Lua) -> LuaResult<()> {
    if listening(lua) {
        return Ok(());
    }
    lua.set_named_registry_value(LISTENING, true)?;
    super::instance::raise_listener_values_in_all_classes(lua)?;
    wrap_collection_methods(lua)?;
    let orm: mlua::Table = lua.named_registry_value("lualchemy.module")?;
    orm.get::<Function>("_raise_in_session_methods")?
        .call::<()>(())
}

/// Whether any event listener was ever registered in this state.
pub fn listening(lua: &Lua) -> bool {
    lua.named_registry_value::<bool>(LISTENING).unwrap_or(false)
}

/// The collection methods raise what a listener raised as the very value (until a listener
/// exists they are the plain Rust functions, at no cost).
fn wrap_collection_methods(lua: &Lua) -> LuaResult<()> {
    let methods: mlua::Table = lua.named_registry_value("lualchemy.collection_methods")?;
    let raising: Function = lua.named_registry_value("lualchemy.raising")?;
    for name in ["append", "remove", "extend"] {
        let raw: Function = methods.raw_get(name)?;
        methods.raw_set(name, raising.call::<Function>(raw)?)?;
    }
    Ok(())
}

/// listen / remove / contains for a relationship attribute's events.
fn rel_listener_op(
    lua: &Lua,
    rel: &crate::orm::relationships::Relationship,
    name: &str,
    f: &Function,
    op: Op,
    once: bool,
    retval: bool,
) -> LuaResult<bool> {
    if !matches!(name, "append" | "remove" | "set" | "bulk_replace") {
        return Err(unknown(
            name,
            "relationship attributes",
            "append, remove, bulk_replace, set",
        ));
    }
    if name == "set" && rel.uselist {
        return Err(arg(format!(
            "orm.event: '{}' is a collection: listen for append, remove and bulk_replace",
            rel.path()
        )));
    }
    if name != "set" && !rel.uselist {
        return Err(arg(format!(
            "orm.event: '{}' is a scalar reference: listen for set",
            rel.path()
        )));
    }
    let all: mlua::Table = lua.named_registry_value(REL_LISTENERS)?;
    let key = LuaValue::LightUserData(mlua::LightUserData(rel as *const _ as *mut _));
    let by_name = match all.raw_get::<Option<mlua::Table>>(key.clone())? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            all.raw_set(key, t.clone())?;
            t
        }
    };
    let list = match by_name.raw_get::<Option<mlua::Table>>(name)? {
        Some(t) => t,
        None => {
            let t = lua.create_table()?;
            by_name.raw_set(name, t.clone())?;
            t
        }
    };
    if matches!(op, Op::Listen) && rel.listener.0.borrow().is_none() {
        rel.listener
            .0
            .replace(Some(Rc::new(LuaAttrListener(lua.weak()))));
    }
    list_op(lua, &list, f, op, once, retval)
}

/// Removes (or finds) `f` among column `col`'s `set` listeners.
fn set_listener_op(
    lua: &Lua,
    mt: &mlua::Table,
    col: usize,
    f: &Function,
    remove: bool,
) -> LuaResult<bool> {
    let (_, listeners) = hook_tables(lua, mt)?;
    let Some(list) = listeners.raw_get::<Option<mlua::Table>>(col + 1)? else {
        return Ok(false);
    };
    list_op(
        lua,
        &list,
        f,
        if remove { Op::Remove } else { Op::Contains },
        false,
        false,
    )
}

pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    let pcall: Function = lua.globals().get("pcall")?;
    // the loaded value of an attribute, without loading it (nil when not loaded)
    lua.set_named_registry_value(
        "lualchemy.old_value",
        lua.create_function(|lua, (obj, key): (LuaValue, String)| {
            let Some(inst) = super::instance::instance_of(lua, &obj) else {
                return Ok(LuaValue::Nil);
            };
            let Some(i) = inst.mapper.attr_index(&key) else {
                return Ok(LuaValue::Nil);
            };
            let v = {
                let st = inst.state();
                if !st.loaded.contains(i) {
                    return Ok(LuaValue::Nil);
                }
                st.values[i].clone()
            };
            super::convert::value_to_lua(lua, &v, inst.mapper.attrs[i].kind)
        })?,
    )?;
    lua.set_named_registry_value(PCALL, pcall)?;
    lua.set_named_registry_value(RAISED, lua.create_table()?)?;
    let ids = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.raw_set("__mode", "k")?;
    ids.set_metatable(Some(mt))?;
    lua.set_named_registry_value(IDS, ids)?;
    lua.set_named_registry_value("lualchemy.base_listeners", lua.create_table()?)?;
    lua.set_named_registry_value(REL_LISTENERS, lua.create_table()?)?;

    let event = lua.create_table()?;
    event.set(
        "listen",
        lua.create_function(
            |lua, (target, name, f, opts): (LuaValue, String, Function, Option<mlua::Table>)| {
                let (once, retval, propagate) = options(opts.as_ref())?;
                apply(lua, &target, &name, &f, Op::Listen, once, retval, propagate)?;
                Ok(())
            },
        )?,
    )?;
    event.set(
        "listens_for",
        lua.create_function(
            |lua, (target, name, a, b): (LuaValue, String, LuaValue, Option<mlua::Table>)| {
                match a {
                    // listens_for(target, name, fn [, opts])
                    LuaValue::Function(f) => {
                        let (once, retval, propagate) = options(b.as_ref())?;
                        apply(lua, &target, &name, &f, Op::Listen, once, retval, propagate)?;
                        Ok(LuaValue::Function(f))
                    }
                    // listens_for(target, name [, opts]) returns a decorator
                    other => {
                        let opts = match other {
                            LuaValue::Table(t) => Some(t),
                            _ => None,
                        };
                        let (once, retval, propagate) = options(opts.as_ref())?;
                        target_of(&target)?;
                        Ok(LuaValue::Function(lua.create_function(
                            move |lua, f: Function| {
                                apply(
                                    lua,
                                    &target,
                                    &name,
                                    &f,
                                    Op::Listen,
                                    once,
                                    retval,
                                    propagate,
                                )?;
                                Ok(f)
                            },
                        )?))
                    }
                }
            },
        )?,
    )?;
    event.set(
        "remove",
        lua.create_function(|lua, (target, name, f): (LuaValue, String, Function)| {
            if !apply(lua, &target, &name, &f, Op::Remove, false, false, false)? {
                return Err(super::error::invalid(format!(
                    "orm.event.remove: no listener for '{name}' with this function on the target"
                )));
            }
            Ok(())
        })?,
    )?;
    event.set(
        "contains",
        lua.create_function(|lua, (target, name, f): (LuaValue, String, Function)| {
            apply(lua, &target, &name, &f, Op::Contains, false, false, false)
        })?,
    )?;
    orm.set("event", event)?;
    // the value a listener raised, from the error that carried it (lua/prelude.lua), and
    // whether there was one (a raised nil is a value too)
    orm.set(
        "_raised",
        lua.create_function(|lua, e: LuaValue| {
            Ok(match e {
                LuaValue::Error(e) => match raised_value(lua, &e) {
                    Some(v) => (v, true),
                    None => (LuaValue::Nil, false),
                },
                _ => (LuaValue::Nil, false),
            })
        })?,
    )?;
    Ok(())
}

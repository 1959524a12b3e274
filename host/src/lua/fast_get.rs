//! `session:get(Model, pk)` for its common case, as a raw `lua_CFunction` (issue 19, W4): a
//! session, a model and one integer key, no options. It decodes its arguments with the C API
//! (the session's core through a weak-keyed table, the mapper through the models table, as the
//! constructor finds it), calls the very core function the ordinary path calls
//! (`SessionCore::get_with`: autoflush, the identity map, expired objects, events, the SELECT)
//! and pushes the instance as the loader does. Everything else (options, a composite or
//! non-integer key, a float, a model whose relationships still need configuring, a value that
//! is not a session) goes to the ordinary `_get` through the Lua fallback the prelude gives,
//! with the arguments untouched, so errors and their messages are the ordinary path's.
//!
//! What the ordinary path saves the fast one: mlua's callback machinery (argument conversion
//! into registry references, a protected call to push the result) and the checks it repeats.
//! A core error is raised by an mlua function (upvalue 6, called through the prelude's
//! `reraise`, upvalue 5), so it reaches Lua as the value the ordinary path raises; nothing
//! with a destructor is alive in this frame when it unwinds.

use std::cell::RefCell;
use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::rc::Rc;

use mlua::{ffi, Lua};

use super::compat;
use super::error::{IntoLuaResult, LuaResult};
use super::instance::{key, push_raw, CONFIGURE, MAPPER, MODELS_KEY, OBJECTS_KEY};
use crate::orm::session::SessionCore;
use crate::orm::Mapper;
use crate::schema::ValueKind;
use crate::value::Value;

/// What the raise function (upvalue 6) raises: the core's error, or a panic to resume.
enum Pending {
    Error(crate::error::Error),
    Panic(Box<dyn std::any::Any + Send>),
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

static SESSIONS_KEY: u8 = 0;

const UP_SESSIONS: c_int = ffi::lua_upvalueindex(1);
const UP_MODELS: c_int = ffi::lua_upvalueindex(2);
const UP_OBJECTS: c_int = ffi::lua_upvalueindex(3);
const UP_FALLBACK: c_int = ffi::lua_upvalueindex(4);
const UP_RAISER: c_int = ffi::lua_upvalueindex(5);
const UP_RAISE: c_int = ffi::lua_upvalueindex(6);

/// Creates the sessions table: session userdata -> its core (light userdata), weak keys;
/// `[true]` holds the sessions' metatable, which mlua replaces when a session is destroyed.
pub fn install(lua: &Lua, orm: &mlua::Table) -> LuaResult<()> {
    let sessions = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.raw_set("__mode", "k")?;
    sessions.set_metatable(Some(mt))?;
    unsafe {
        lua.exec_raw::<()>(sessions, |l| {
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key(&SESSIONS_KEY));
        })?;
    }
    orm.raw_set(
        "_fast_get",
        lua.create_function(
            |lua, (fallback, raiser): (mlua::Function, mlua::Function)| make(lua, fallback, raiser),
        )?,
    )
}

/// Records a new session: its core, and the sessions' metatable.
pub fn register(lua: &Lua, ud: &mlua::AnyUserData, core: *const SessionCore) -> LuaResult<()> {
    unsafe {
        lua.exec_raw::<()>(ud.clone(), |l| {
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&SESSIONS_KEY)); // 2
            ffi::lua_pushvalue(l, 1);
            ffi::lua_pushlightuserdata(l, core as *mut _);
            ffi::lua_rawset(l, 2);
            ffi::lua_pushboolean(l, 1);
            ffi::lua_getmetatable(l, 1);
            ffi::lua_rawset(l, 2);
            ffi::lua_settop(l, 0);
        })
    }
}

/// `session.get`: the raw function over its upvalues, falling back on `fallback`; a core
/// error is raised by `raiser(raise)`, `raise` being the Rust function that raises it.
fn make(lua: &Lua, fallback: mlua::Function, raiser: mlua::Function) -> LuaResult<mlua::Function> {
    let raise = lua.create_function(|_, ()| -> LuaResult<()> {
        match PENDING.with(|p| p.borrow_mut().take()) {
            Some(Pending::Error(e)) => Err(e).lua(),
            Some(Pending::Panic(p)) => std::panic::resume_unwind(p),
            None => Ok(()),
        }
    })?;
    unsafe {
        lua.exec_raw((fallback, raiser, raise), |l| {
            // 1: fallback, 2: raiser, 3: raise
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&SESSIONS_KEY));
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&MODELS_KEY));
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY));
            ffi::lua_pushvalue(l, 1);
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushvalue(l, 3);
            ffi::lua_pushcclosure(l, fast_get, 6);
            ffi::lua_replace(l, 1);
            ffi::lua_settop(l, 1);
        })
    }
}

/// The session core and mapper of a call `(session, Model, id)` the fast path takes, and the
/// key; `None` for anything else. Leaves the stack at 3 values.
unsafe fn decode(l: *mut ffi::lua_State) -> Option<(*const SessionCore, *const Mapper, i64)> {
    // the session: its metatable is the live sessions' one
    if ffi::lua_type(l, 1) != ffi::LUA_TUSERDATA || ffi::lua_getmetatable(l, 1) == 0 {
        return None;
    }
    ffi::lua_pushboolean(l, 1);
    ffi::lua_rawget(l, UP_SESSIONS);
    let live = ffi::lua_rawequal(l, 4, 5) != 0;
    ffi::lua_settop(l, 3);
    if !live {
        return None;
    }
    ffi::lua_pushvalue(l, 1);
    ffi::lua_rawget(l, UP_SESSIONS);
    let core = ffi::lua_touserdata(l, 4) as *const SessionCore;
    ffi::lua_settop(l, 3);
    if core.is_null() {
        return None;
    }
    // the model: its instance metatable, with relationships configured
    ffi::lua_pushvalue(l, 2);
    if ffi::lua_rawget(l, UP_MODELS) != ffi::LUA_TTABLE {
        ffi::lua_settop(l, 3);
        return None;
    }
    let configured = ffi::lua_rawgeti(l, 4, CONFIGURE) == ffi::LUA_TNIL;
    ffi::lua_rawgeti(l, 4, MAPPER);
    let mapper = ffi::lua_touserdata(l, -1) as *const Mapper;
    ffi::lua_settop(l, 3);
    if !configured || mapper.is_null() {
        return None;
    }
    // the key: an integer this Lua holds exactly, for a one-column integer primary key
    if ffi::lua_type(l, 3) != ffi::LUA_TNUMBER {
        return None;
    }
    let id = compat::integer_of_number(l, 3)?;
    let m = &*mapper;
    let simple = compat::exact_integer(id)
        && matches!(m.pk.as_slice(), [pk] if m.attrs[*pk].kind == ValueKind::Integer);
    simple.then_some((core, mapper, id))
}

/// `session:get(Model, id)`: (session, Model, id[, opts]) -> instance or nil.
unsafe extern "C-unwind" fn fast_get(l: *mut ffi::lua_State) -> c_int {
    let n = ffi::lua_gettop(l);
    if n == 3 {
        if let Some((core, mapper, id)) = decode(l) {
            // The session userdata (argument 1, alive and not destroyed) holds its core, and
            // the model its mapper; the strong counts taken here last only for the call.
            Rc::increment_strong_count(core);
            let core = Rc::from_raw(core);
            let mapper = ManuallyDrop::new(Rc::from_raw(mapper));
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                core.get_with(&mapper, &[Value::Integer(id)], &[])
            }));
            drop(core);
            let pending = match result {
                Ok(Ok(Some(inst))) => {
                    let mt_ref = super::model::model_host(&inst.mapper).mt_ref;
                    // no destructor may be pending if pushing raises (out of memory): the
                    // count is given back after
                    let p = Rc::into_raw(inst);
                    let inst = ManuallyDrop::new(Rc::from_raw(p));
                    push_raw(l, &inst, UP_OBJECTS, mt_ref);
                    drop(ManuallyDrop::into_inner(inst));
                    return 1;
                }
                Ok(Ok(None)) => {
                    ffi::lua_pushnil(l);
                    return 1;
                }
                Ok(Err(e)) => Pending::Error(e),
                Err(panic) => Pending::Panic(panic),
            };
            PENDING.with(|p| *p.borrow_mut() = Some(pending));
            ffi::lua_pushvalue(l, UP_RAISER);
            ffi::lua_pushvalue(l, UP_RAISE);
            ffi::lua_call(l, 1, 0);
            return 0;
        }
    }
    // anything else: the ordinary path, with the arguments as given
    ffi::lua_settop(l, n);
    ffi::lua_pushvalue(l, UP_FALLBACK);
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, n, ffi::LUA_MULTRET);
    ffi::lua_gettop(l)
}

//! Instances as raw userdata: the hot paths of the binding, written as plain `lua_CFunction`s
//! over `mlua::ffi` (see `../shared/bench/FLOOR.md`: mlua's callback machinery costs about
//! three times a raw C call on every attribute access).
//!
//! An instance's Lua value is a full userdata holding one pointer, an `Rc<Instance>` made raw,
//! and nothing else (no user value slots: 40 bytes of Lua heap, and nothing for the collector
//! to traverse). The extra (non-mapped) Lua fields a script stores on an object live in a
//! weak-keyed registry table, object -> fields. Each model has its own metatable:
//!
//! | key | value |
//! |---|---|
//! | `[1]` | attribute name -> attribute index |
//! | `[2]` | the class table (methods, `__tostring`, ...) |
//! | `[3]` | the slow read: `(obj, index) -> value` (loads expired attributes, converts rich types) |
//! | `[4]` | the slow write: `(obj, key, value)` (converts rich types, raises the errors) |
//! | `[5]` | while relationships need configuring: a function to call first |
//! | `[6]` `[7]` | getters and setters of hybrid properties and synonyms (see `computed.rs`) |
//! | `[8]` | validators by column index + 1 |
//! | `[10]` | the `Mapper` as light userdata again, read by the constructor and `session:get`, which know the metatable is one (an integer key costs less) |
//! | light userdata `MAPPER_KEY` | the `Mapper` (its presence marks an instance metatable) |
//! | `__index` `__newindex` | the raw functions below, as closures over this metatable and its keys table |
//! | `__gc` | the raw finalizer below |
//!
//! Reads and writes of loaded integer, float, string and boolean attributes never leave
//! these functions; everything else calls the slow functions, which are ordinary mlua
//! functions, so errors are `orm.Error` values as everywhere else.
//!
//! A weak-valued registry table, the objects table, holds the Lua value of every instance
//! that has one, so the loader hands out the very Lua value a script already holds for a
//! row. An object nobody in Lua refers to any more is collected; its row data lives on in
//! the session (as SQLAlchemy's weak identity map keeps nothing but what the session
//! needs), its extra Lua fields do not.
//!
//! The objects table is an array: an instance given a Lua value takes a slot, an index kept
//! in the `Instance` (`Instance::lua_slot`), and its userdata is `objects[slot]` (no hashing,
//! 16 bytes an entry on 5.4, 8 on LuaJIT, where a hash entry took 24 to 48 and a rehash
//! as the table grew). Free slots make a list threaded through the array (a free slot
//! holds the number of the next one, 0 ending it), whose head and the highest slot handed
//! out are the `SlotCounters` of a small userdata at `objects[COUNTERS]` (kept alive by the
//! registry: the table is weak-valued). A weak table's array part is weak too: the
//! collector clears a collected userdata's entry (before its finalizer runs, on every
//! version), and the slot stays the instance's until that finalizer, `__gc`, gives it back, unless the
//! instance has a newer userdata in it by then (pushed again between the two: the slot is
//! reused, and that userdata's own finalizer gives it back). Instances never cross Lua
//! states (their metatable is a registry reference of one state), so one slot number per
//! instance is enough. Luau, whose finalizers cannot reach Lua, keys the table by the
//! instance's address instead (`compat::SLOT_OBJECTS`).
//!
//! Safety rules for every function here: no Rust value with a destructor (a `RefCell`
//! borrow above all) is alive across a Lua call that can raise, since a Lua error unwinds by
//! `longjmp` (the one exception, `compat::Nested`, counts only on LuaJIT, whose errors
//! unwind through Rust frames and drop it; its drop does nothing elsewhere). The calls that
//! differ between Lua versions (`new_userdata`, the `exact_integer` check of the integer
//! fast paths) come from `compat`, the binding's seam for versions; everything else here is
//! the C API every version shares.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::rc::Rc;

use mlua::{ffi, AnyUserData, Lua, Value as LuaValue};

use super::compat;
use super::convert::{lua_debug, lua_to_value, value_to_lua_named};
use super::error::{arg, kind_err, IntoLuaResult, LuaResult};
use crate::error::ErrorKind;
use crate::orm::session::SessionCore;
use crate::orm::{Instance, Mapper};
use crate::schema::ValueKind;
use crate::value::{Text, Value};

pub(super) static MAPPER_KEY: u8 = 0;
pub(super) static OBJECTS_KEY: u8 = 0;
pub(super) static MODELS_KEY: u8 = 0;
static RAISE_KEY: u8 = 0;
static EXTRAS_KEY: u8 = 0;

/// Where the objects table keeps its `SlotCounters` (a full userdata, also in the registry
/// under `COUNTERS_KEY`).
const COUNTERS: ffi::lua_Integer = 1;
static COUNTERS_KEY: u8 = 0;

/// The objects table's head of its free-slot list (`free`, 0: empty) and its highest slot
/// handed out (`top`; slot 1 is the counters themselves).
#[repr(C)]
struct SlotCounters {
    free: u32,
    top: u32,
}

pub const KEYS: ffi::lua_Integer = 1;
const CLASS: ffi::lua_Integer = 2;
const SLOW_GET: ffi::lua_Integer = 3;
const SLOW_SET: ffi::lua_Integer = 4;
/// Present while the model's relationships need configuring: a function to call first.
pub(super) const CONFIGURE: ffi::lua_Integer = 5;
/// Getters of hybrid properties and synonyms, by descriptor number + 1.
pub const GETTERS: ffi::lua_Integer = 6;
/// Setters of hybrid properties and synonyms, by descriptor number + 1.
pub const SETTERS: ffi::lua_Integer = 7;
/// Validators, by column index + 1.
pub const VALIDATORS: ffi::lua_Integer = 8;
/// The model's `Mapper` as light userdata (as at `MAPPER_KEY`).
pub(super) const MAPPER: ffi::lua_Integer = 10;
/// The `init` event's dispatcher, `fn(obj, args)`, when the model has `init` listeners.
pub const INIT: ffi::lua_Integer = 9;

/// Entries of `KEYS` at or above this are no plain attribute index; the fast paths never
/// see them (they fail the bounds check) and hand them to `special_get` / `special_set`.
const SPECIAL: usize = 1 << 40;
/// Marks a column with a validator: `column index | VALIDATED`.
pub const VALIDATED: usize = 1 << 40;
/// A hybrid property or synonym: `DESCRIPTOR + descriptor number`.
pub const DESCRIPTOR: usize = 1 << 41;

pub(super) fn key(k: &'static u8) -> *const c_void {
    k as *const u8 as *const c_void
}

type Block = *const Instance;

/// What `construct` reads per object without a metatable lookup, kept in the model's
/// `ModelHost`: whether the metatable has a configure hook or an `init` dispatcher
/// (`mt[CONFIGURE]`, `mt[INIT]`: two lookups of absent keys for most models), and the
/// entries of its keys table by the address of their key strings (`compat::string_address`:
/// the `TString` on 5.4 and 5.5, the string's bytes on 5.1 to 5.3 and LuaJIT, none on
/// Luau). A key of the argument table whose string is one of those very objects (short
/// strings are interned, every string on 5.1 and LuaJIT) needs no lookup in the keys table;
/// any other key is looked up there as before. The addresses are of strings the keys table
/// holds, so no other live string can have one.
#[derive(Default)]
pub struct CtorCache {
    hooks: Cell<u8>,
    keys: RefCell<Vec<(usize, usize)>>,
    keys_state: Cell<u8>,
}

const HOOK_CONFIGURE: u8 = 1;
const HOOK_INIT: u8 = 2;
/// `CtorCache::keys_state`: rebuild before use (the keys table changed)...
const KEYS_STALE: u8 = 0;
/// ... up to date ...
const KEYS_READY: u8 = 1;
/// ... or not used (too many keys for a linear scan, or no string addresses on this Lua).
const KEYS_UNUSED: u8 = 2;
/// The most keys a cache scans (a model with more looks its keys up in the keys table).
const KEYS_SCANNED: usize = 16;

impl CtorCache {
    fn set_hook(&self, hook: u8, on: bool) {
        let h = self.hooks.get();
        self.hooks.set(if on { h | hook } else { h & !hook });
    }

    /// The entry of the keys table for the string at `addr`, if the cache has it.
    #[inline(always)]
    fn lookup(&self, addr: usize) -> Option<usize> {
        self.keys.borrow().iter().find(|e| e.0 == addr).map(|e| e.1)
    }

    /// Reads the keys table at `keys` again. Calls nothing that can raise.
    unsafe fn rebuild(&self, l: *mut ffi::lua_State, keys: c_int) {
        let mut usable = true;
        {
            let mut v = self.keys.borrow_mut();
            v.clear();
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, keys) != 0 {
                if ffi::lua_type(l, -2) == ffi::LUA_TSTRING {
                    let a = compat::string_address(l, -2);
                    usable &= !a.is_null();
                    v.push((a as usize, ffi::lua_tointeger(l, -1) as usize));
                }
                ffi::lua_pop(l, 1);
            }
            usable &= v.len() <= KEYS_SCANNED;
        }
        self.keys_state
            .set(if usable { KEYS_READY } else { KEYS_UNUSED });
    }
}

/// The keys table of `mapper`'s instances changed (an entry added or its value changed):
/// the constructor reads it again.
pub(super) fn keys_changed(mapper: &Mapper) {
    super::model::model_host(mapper)
        .ctor
        .keys_state
        .set(KEYS_STALE);
}

/// The model's instance metatable now has an `init` dispatcher (`mt[INIT]`).
pub(super) fn init_dispatcher_set(mapper: &Mapper) {
    super::model::model_host(mapper)
        .ctor
        .set_hook(HOOK_INIT, true);
}

/// Creates the registry tables and slow-path functions; called once by `install`.
pub fn install(lua: &Lua) -> LuaResult<()> {
    let objects = lua.create_table()?;
    let weak = lua.create_table()?;
    weak.raw_set("__mode", "v")?;
    objects.set_metatable(Some(weak))?;
    let models = lua.create_table()?;
    let extras = lua.create_table()?;
    let weak_keys = lua.create_table()?;
    weak_keys.raw_set("__mode", "k")?;
    extras.set_metatable(Some(weak_keys))?;
    let raise = lua.create_function(|_, (kind, msg): (String, String)| -> LuaResult<()> {
        let kind = ErrorKind::from_name(&kind).unwrap_or(ErrorKind::ArgumentError);
        Err(kind_err(kind, msg))
    })?;
    unsafe {
        lua.exec_raw::<()>((objects, models, raise, extras), |l| {
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key(&EXTRAS_KEY));
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key(&RAISE_KEY));
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key(&MODELS_KEY));
            ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY));
            compat::verify_table_layout(l);
            if compat::SLOT_OBJECTS {
                ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY));
                let c = ffi::lua_newuserdata(l, std::mem::size_of::<SlotCounters>());
                (c as *mut SlotCounters).write(SlotCounters { free: 0, top: 1 });
                ffi::lua_pushvalue(l, -1);
                ffi::lua_rawsetp(l, ffi::LUA_REGISTRYINDEX, key(&COUNTERS_KEY));
                ffi::lua_rawseti(l, -2, COUNTERS);
                ffi::lua_pop(l, 1);
            }
        })
    }
}

/// The slow paths of a class may load (autoflush, lazy loads, refresh events): once event
/// listeners exist, they go through `orm._raising` (lua/prelude.lua) so that what a listener
/// raises reaches the caller as the very value. Until then they are the plain functions.
fn raise_listener_values(lua: &Lua, mt: &mlua::Table) -> LuaResult<()> {
    let raising: mlua::Function = lua.named_registry_value("lualchemy.raising")?;
    for slot in [SLOW_GET, SLOW_SET] {
        let f: mlua::Function = mt.raw_get(slot)?;
        mt.raw_set(slot, raising.call::<mlua::Function>(f)?)?;
    }
    Ok(())
}

/// Every declared class's slow paths raise listeners' values unchanged (the first event
/// listener was registered; classes declared later do it from the start).
pub fn raise_listener_values_in_all_classes(lua: &Lua) -> LuaResult<()> {
    let models: mlua::Table = unsafe {
        lua.exec_raw((), |l| {
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&MODELS_KEY));
        })?
    };
    for pair in models.pairs::<LuaValue, mlua::Table>() {
        raise_listener_values(lua, &pair?.1)?;
    }
    Ok(())
}

/// Builds the instance metatable of a model and registers the model's constructor.
/// Returns the registry reference of the metatable, kept in the model's host data.
pub fn make_class(
    lua: &Lua,
    mapper: &Rc<Mapper>,
    class: &mlua::Table,
    model: &AnyUserData,
) -> LuaResult<c_int> {
    let mt = lua.create_table()?;
    let keys = lua.create_table()?;
    for (i, a) in mapper.attrs.iter().enumerate() {
        keys.raw_set(a.key.as_str(), i as i64)?;
    }
    for (n, p) in mapper.props.iter().enumerate() {
        keys.raw_set(p.key.as_str(), (mapper.attrs.len() + n) as i64)?;
    }
    mt.raw_set(KEYS, keys)?;
    mt.raw_set(CLASS, class.clone())?;
    mt.raw_set(SLOW_GET, lua.create_function(slow_get)?)?;
    mt.raw_set(SLOW_SET, lua.create_function(slow_set)?)?;
    if super::events::listening(lua) {
        raise_listener_values(lua, &mt)?;
    }
    mt.raw_set("__name", mapper.class_name.as_str())?;
    mt.raw_set("__metatable", false)?;
    for name in ["__tostring", "__eq", "__lt", "__le", "__concat"] {
        mt.raw_set(
            name,
            lua.create_function(move |lua, args| class_meta(lua, name, args))?,
        )?;
    }
    let mapper_ptr = Rc::as_ptr(mapper) as *mut c_void;
    let mut mt_ref = 0;
    unsafe {
        lua.exec_raw::<()>((mt, model.clone()), |l| {
            // 1: mt, 2: model
            ffi::lua_pushlightuserdata(l, mapper_ptr);
            ffi::lua_rawsetp(l, 1, key(&MAPPER_KEY));
            ffi::lua_pushlightuserdata(l, mapper_ptr);
            ffi::lua_rawseti(l, 1, MAPPER);
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&MODELS_KEY));
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushvalue(l, 1);
            ffi::lua_rawset(l, -3); // models[model] = mt
            ffi::lua_settop(l, 1);
            // `__gc`: a closure over the objects table, whose slot it gives back
            ffi::lua_pushlstring(l, "__gc".as_ptr() as *const _, 4);
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY));
            ffi::lua_pushcclosure(l, instance_gc, 1);
            ffi::lua_rawset(l, 1);
            // `__index` and `__newindex`: closures over the metatable (to know their own
            // instances by one comparison) and its keys table (one lookup per access)
            for (name, f) in [
                ("__index", instance_index as ffi::lua_CFunction),
                ("__newindex", instance_newindex as ffi::lua_CFunction),
            ] {
                ffi::lua_pushlstring(l, name.as_ptr() as *const _, name.len());
                ffi::lua_pushvalue(l, 1);
                ffi::lua_rawgeti(l, 1, KEYS);
                ffi::lua_pushcclosure(l, f, 2);
                ffi::lua_rawset(l, 1);
            }
            mt_ref = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        })?;
    }
    Ok(mt_ref)
}

/// The instance metatable of a model.
pub fn class_metatable(lua: &Lua, mapper: &Mapper) -> LuaResult<mlua::Table> {
    let mt_ref = super::model::model_host(mapper).mt_ref;
    unsafe {
        lua.exec_raw((), |l| {
            ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, mt_ref as ffi::lua_Integer);
        })
    }
}

/// Sets (a function that configures the model's base) or clears a model's metatable slot
/// checked by the constructor before it makes an instance (`mt[CONFIGURE]`).
pub fn set_configure_hook(
    lua: &Lua,
    mapper: &Mapper,
    hook: Option<mlua::Function>,
) -> LuaResult<()> {
    let on = hook.is_some();
    class_metatable(lua, mapper)?.raw_set(CONFIGURE, hook)?;
    super::model::model_host(mapper)
        .ctor
        .set_hook(HOOK_CONFIGURE, on);
    Ok(())
}

/// `__tostring` and the comparison metamethods: the class's own, looked up on each call so
/// that methods assigned after declaration count.
fn class_meta(lua: &Lua, name: &str, args: mlua::MultiValue) -> LuaResult<LuaValue> {
    let inst = args
        .iter()
        .find_map(|v| instance_of(lua, v))
        .ok_or_else(|| arg(format!("{name}: no lualchemy instance among the operands")))?;
    let class = super::model::model_host(&inst.mapper).class(lua)?;
    let _nested = compat::nested().map_err(mlua::Error::runtime)?;
    match (class.get::<LuaValue>(name)?, name) {
        (LuaValue::Function(f), "__tostring") => {
            let v = f.call::<LuaValue>(args.into_iter().next())?;
            Ok(LuaValue::String(match lua.coerce_string(v)? {
                Some(s) => s,
                None => lua.create_string("")?,
            }))
        }
        (LuaValue::Function(f), _) => f.call(args),
        (_, "__tostring") => Ok(LuaValue::String(lua.create_string(format!(
            "<{} object at {:p}>",
            inst.mapper.class_name,
            Rc::as_ptr(&inst)
        ))?)),
        (_, "__eq") => Ok(LuaValue::Boolean(false)),
        _ => Err(arg(format!(
            "{} defines no {name} metamethod",
            inst.mapper.class_name
        ))),
    }
}

/// The instance behind a Lua value, if it is one.
pub fn instance_of(lua: &Lua, v: &LuaValue) -> Option<Rc<Instance>> {
    let LuaValue::UserData(_) = v else {
        return None;
    };
    // Straight on the running state, without `exec_raw`'s protected call (a new C closure
    // per call on LuaJIT): pushing a value mlua holds, `check`'s lookups and `settop` raise
    // no error and allocate nothing, once the stack has room.
    lua.exec_raw_lua(|raw| unsafe {
        let l = raw.state();
        if ffi::lua_checkstack(l, 4) == 0 {
            return None;
        }
        let top = ffi::lua_gettop(l);
        let p = match raw.push_value(v) {
            Ok(()) => check(l, top + 1),
            Err(_) => std::ptr::null(),
        };
        ffi::lua_settop(l, top);
        // the userdata (alive: `v` refers to it) holds a strong count
        own(p)
    })
}

/// The instance behind a Lua value, or `UnmappedInstanceError` naming what it is.
pub fn expect_instance(lua: &Lua, v: &LuaValue) -> LuaResult<Rc<Instance>> {
    instance_of(lua, v).ok_or_else(|| unmapped(v))
}

fn unmapped(v: &LuaValue) -> mlua::Error {
    if let LuaValue::UserData(ud) = v {
        if let Ok(m) = ud.borrow::<super::model::LuaModel>() {
            return kind_err(ErrorKind::UnmappedInstanceError, format!("Class '{}' is a mapped class, not an instance of it: create one with {}{{...}}", m.mapper.class_name, m.mapper.class_name));
        }
    }
    kind_err(
        ErrorKind::UnmappedInstanceError,
        format!(
            "Class '{}' is not mapped: expected an instance of a model",
            v.type_name()
        ),
    )
}

/// The instances of a Lua sequence (`session:add_all`), in one pass over the list.
pub fn instances_of(lua: &Lua, list: &mlua::Table) -> LuaResult<Vec<Rc<Instance>>> {
    let mut ptrs: Vec<Block> = Vec::with_capacity(list.raw_len());
    let mut bad: Option<i64> = None;
    unsafe {
        lua.exec_raw::<()>(list.clone(), |l| {
            let n = ffi::lua_rawlen(l, 1) as ffi::lua_Integer;
            // the metatable last found to be an instance metatable (the list holds the
            // objects, so it stays alive, and nothing here runs Lua)
            let mut known: *const c_void = std::ptr::null();
            let t = ffi::lua_topointer(l, 1);
            for i in 1..=n {
                // read in place where compat can (the bundled LuaJIT)
                if !known.is_null() {
                    let u = compat::list_userdata(t, i as usize, known);
                    if !u.is_null() && !(*(u as *const Block)).is_null() {
                        ptrs.push(*(u as *const Block));
                        continue;
                    }
                }
                ffi::lua_rawgeti(l, 1, i);
                let p = check_known(l, 2, &mut known);
                ffi::lua_settop(l, 1);
                if p.is_null() {
                    bad = Some(i);
                    break;
                }
                ptrs.push(p);
            }
            ffi::lua_settop(l, 0);
        })?;
    }
    if let Some(i) = bad {
        return Err(unmapped(&list.raw_get::<LuaValue>(i)?));
    }
    // the list still holds every userdata, and each holds a strong count
    Ok(ptrs.into_iter().filter_map(|p| unsafe { own(p) }).collect())
}

/// The Lua value of an instance: the one Lua already holds, or a new one.
pub fn push_instance(lua: &Lua, inst: &Rc<Instance>) -> LuaResult<LuaValue> {
    let mt_ref = super::model::model_host(&inst.mapper).mt_ref;
    unsafe {
        lua.exec_raw((), |l| {
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY));
            push_raw(l, inst, 1, mt_ref);
            ffi::lua_replace(l, 1);
        })
    }
}

/// A Lua sequence of the values of many instances (the loader's `all()`), in one pass.
pub fn push_instances<'a>(
    lua: &Lua,
    items: impl ExactSizeIterator<Item = &'a Rc<Instance>>,
) -> LuaResult<mlua::Table> {
    let n = items.len();
    unsafe {
        lua.exec_raw((), move |l| {
            ffi::lua_checkstack(l, 8);
            ffi::lua_createtable(l, n as c_int, 0); // 1
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY)); // 2
            let mut last: Option<(u32, c_int)> = None;
            for (k, inst) in items.enumerate() {
                let mt_ref = match last {
                    Some((id, r)) if id == inst.mapper.id => r,
                    _ => {
                        let r = super::model::model_host(&inst.mapper).mt_ref;
                        last = Some((inst.mapper.id, r));
                        r
                    }
                };
                push_raw(l, inst, 2, mt_ref);
                ffi::lua_rawseti(l, 1, k as ffi::lua_Integer + 1);
            }
            ffi::lua_settop(l, 1);
        })
    }
}

/// Takes a new strong count on the instance a live userdata holds.
unsafe fn own(p: Block) -> Option<Rc<Instance>> {
    if p.is_null() {
        return None;
    }
    Rc::increment_strong_count(p);
    Some(Rc::from_raw(p))
}

/// Pushes the Lua value of `inst`: found in the objects table at `objects`, or a new
/// userdata with the metatable at registry reference `mt_ref`.
pub(super) unsafe fn push_raw(
    l: *mut ffi::lua_State,
    inst: &Rc<Instance>,
    objects: c_int,
    mt_ref: c_int,
) {
    if compat::SLOT_OBJECTS {
        let slot = inst.lua_slot();
        if slot != 0 {
            if ffi::lua_rawgeti(l, objects, slot as ffi::lua_Integer) == ffi::LUA_TUSERDATA {
                return;
            }
            ffi::lua_pop(l, 1);
        }
    } else {
        if ffi::lua_rawgetp(l, objects, Rc::as_ptr(inst) as *const c_void) == ffi::LUA_TUSERDATA {
            return;
        }
        ffi::lua_pop(l, 1);
    }
    let objects = ffi::lua_absindex(l, objects);
    ffi::lua_rawgeti(l, ffi::LUA_REGISTRYINDEX, mt_ref as ffi::lua_Integer);
    let mt = ffi::lua_gettop(l);
    new_userdata(l, Rc::clone(inst), mt, objects, std::ptr::null_mut());
    ffi::lua_remove(l, mt);
}

/// Pushes a new userdata for `inst`, with the metatable at `mt`, and records it in the
/// objects table at `objects`, whose slot counters are `c` (null: read from the table).
/// `mt` and `objects` are absolute or upvalue indices.
unsafe fn new_userdata(
    l: *mut ffi::lua_State,
    inst: Rc<Instance>,
    mt: c_int,
    objects: c_int,
    c: *mut SlotCounters,
) {
    let block = compat::new_userdata(l, std::mem::size_of::<Block>(), drop_block) as *mut Block;
    let p = Rc::into_raw(inst);
    block.write(p);
    ffi::lua_pushvalue(l, mt);
    ffi::lua_setmetatable(l, -2);
    ffi::lua_pushvalue(l, -1);
    if !compat::SLOT_OBJECTS {
        ffi::lua_rawsetp(l, objects, p as *const c_void);
        return;
    }
    // its slot: the one it has (its earlier userdata was collected, and that one's `__gc`
    // has not run yet: it will see this userdata in it and leave it), or a free one
    let mut slot = (*p).lua_slot();
    if slot == 0 {
        slot = take_slot(l, objects, c);
        (*p).set_lua_slot(slot);
    }
    // a new slot past the array may grow it, and raise (out of memory): the userdata's
    // `__gc` then gives the slot back
    ffi::lua_rawseti(l, objects, slot as ffi::lua_Integer);
}

/// The slot counters of the objects table at `objects`. The registry keeps them alive.
#[inline(always)]
unsafe fn counters(l: *mut ffi::lua_State, objects: c_int) -> *mut SlotCounters {
    ffi::lua_rawgeti(l, objects, COUNTERS);
    let c = ffi::lua_touserdata(l, -1) as *mut SlotCounters;
    ffi::lua_pop(l, 1);
    c
}

/// A free slot of the objects table at `objects` (absolute), whose counters are `c` (null:
/// read from the table): the head of its free list, or the one past its highest.
/// Allocates nothing.
unsafe fn take_slot(l: *mut ffi::lua_State, objects: c_int, c: *mut SlotCounters) -> u32 {
    let c = if c.is_null() { counters(l, objects) } else { c };
    let head = (*c).free;
    if head != 0 {
        ffi::lua_rawgeti(l, objects, head as ffi::lua_Integer); // the next free slot
        (*c).free = ffi::lua_tointeger(l, -1) as u32;
        ffi::lua_pop(l, 1);
        return head;
    }
    (*c).top += 1;
    (*c).top
}

/// The slot of the instance `p`, whose userdata at `ud` is being finalized, taken from the
/// instance to be given back (`free_slot`); 0 when it has none or a newer userdata of the
/// instance holds it. The objects table is at `objects`. Leaves the stack as it was.
unsafe fn claim_slot(l: *mut ffi::lua_State, p: Block, ud: c_int, objects: c_int) -> u32 {
    let slot = (*p).lua_slot();
    if slot == 0 {
        return 0;
    }
    // cleared by the collector (or this very userdata, when the state closes)
    let newer = ffi::lua_rawgeti(l, objects, slot as ffi::lua_Integer) == ffi::LUA_TUSERDATA
        && ffi::lua_rawequal(l, -1, ud) == 0;
    ffi::lua_pop(l, 1);
    if newer {
        return 0;
    }
    (*p).set_lua_slot(0);
    slot
}

/// Puts `slot` at the head of the free list of the objects table at `objects`.
unsafe fn free_slot(l: *mut ffi::lua_State, objects: c_int, slot: u32) {
    let c = counters(l, objects);
    ffi::lua_pushinteger(l, (*c).free as ffi::lua_Integer);
    ffi::lua_rawseti(l, objects, slot as ffi::lua_Integer); // objects[slot] = the old head
    (*c).free = slot;
}

/// The instance held by the userdata at `idx`, or null when it is no lualchemy instance.
/// Leaves the stack as it was.
unsafe fn check(l: *mut ffi::lua_State, idx: c_int) -> Block {
    if ffi::lua_type(l, idx) != ffi::LUA_TUSERDATA || ffi::lua_getmetatable(l, idx) == 0 {
        return std::ptr::null();
    }
    let ours = ffi::lua_rawgetp(l, -1, key(&MAPPER_KEY)) == ffi::LUA_TLIGHTUSERDATA;
    ffi::lua_pop(l, 2);
    if !ours {
        return std::ptr::null();
    }
    *(ffi::lua_touserdata(l, idx) as *const Block)
}

/// `check`, for a loop over values most of which share a metatable: `known` is the last
/// metatable found to be an instance metatable (null at first), and one at the same
/// address needs no lookup. The caller keeps that metatable alive between calls.
unsafe fn check_known(l: *mut ffi::lua_State, idx: c_int, known: &mut *const c_void) -> Block {
    if ffi::lua_type(l, idx) != ffi::LUA_TUSERDATA || ffi::lua_getmetatable(l, idx) == 0 {
        return std::ptr::null();
    }
    let mt = ffi::lua_topointer(l, -1);
    let ours = mt == *known || {
        let ours = ffi::lua_rawgetp(l, -1, key(&MAPPER_KEY)) == ffi::LUA_TLIGHTUSERDATA;
        ffi::lua_pop(l, 1);
        if ours {
            *known = mt;
        }
        ours
    };
    ffi::lua_pop(l, 1);
    if !ours {
        return std::ptr::null();
    }
    *(ffi::lua_touserdata(l, idx) as *const Block)
}

/// Raises an `orm.Error` of `kind` from a raw function.
unsafe fn raise(l: *mut ffi::lua_State, kind: &'static str, msg: String) -> c_int {
    ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&RAISE_KEY));
    ffi::lua_pushlstring(l, kind.as_ptr() as *const _, kind.len());
    ffi::lua_pushlstring(l, msg.as_ptr() as *const _, msg.len());
    drop(msg); // nothing with a destructor may be alive when the error unwinds
    ffi::lua_call(l, 2, 0);
    0
}

/// A value as a raw function can push it without allocating on the Rust side.
enum Fast {
    Nil,
    Int(i64),
    Num(f64),
    Bool(bool),
    Str(*const u8, usize),
    Slow,
}

/// Reads a loaded attribute of a simple kind (everything else takes the slow path).
fn read_fast(inst: &Instance, i: usize) -> Fast {
    let Some(st) = inst.try_state() else {
        return Fast::Slow;
    };
    if i >= inst.mapper.attrs.len() || !st.loaded.contains(i) {
        return Fast::Slow; // a relationship, or not loaded
    }
    let kind = inst.mapper.attrs[i].kind;
    match (&st.values[i], kind) {
        // a TypeDecorator's process_result_value sees NULL too
        (Value::Null, ValueKind::Custom(_)) => Fast::Slow,
        (Value::Null, _) => Fast::Nil,
        // beyond 2^53 on a Lua without integers: the slow path raises the error
        (Value::Integer(n), ValueKind::Integer | ValueKind::Any) if compat::exact_integer(*n) => {
            Fast::Int(*n)
        }
        (Value::Integer(n), ValueKind::Boolean) => Fast::Bool(*n != 0),
        (Value::Real(r), ValueKind::Real | ValueKind::Any) => Fast::Num(*r),
        (Value::Text(s), ValueKind::Text | ValueKind::Enum | ValueKind::Any) => {
            // The bytes stay valid while pushed: nothing runs Lua code before
            // lua_pushlstring has copied them.
            Fast::Str(s.as_ptr(), s.len())
        }
        _ => Fast::Slow,
    }
}

/// Converts the Lua value at `idx` for an attribute of a simple kind, as `lua_to_value` would;
/// `None` sends it to the slow path (which converts it or raises the error).
unsafe fn value_fast(l: *mut ffi::lua_State, idx: c_int, kind: ValueKind) -> Option<Value> {
    match (ffi::lua_type(l, idx), kind) {
        // a TypeDecorator's process_bind_param sees nil too
        (ffi::LUA_TNIL, ValueKind::Custom(_)) => None,
        (ffi::LUA_TNIL, _) => Some(Value::Null),
        (ffi::LUA_TNUMBER, ValueKind::Integer) => compat::integer_of_number(l, idx)
            .filter(|&n| compat::exact_integer(n))
            .map(Value::Integer),
        (ffi::LUA_TNUMBER, ValueKind::Real) => Some(Value::Real(ffi::lua_tonumber(l, idx))),
        (ffi::LUA_TBOOLEAN, ValueKind::Boolean) => {
            Some(Value::Integer(ffi::lua_toboolean(l, idx) as i64))
        }
        (ffi::LUA_TSTRING, ValueKind::Text | ValueKind::Enum) => {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, idx, &mut len) as *const u8;
            text_of(std::slice::from_raw_parts(p, len))
        }
        _ => None,
    }
}

/// The value kind of column attribute `i` of a live instance (`None`: a relationship).
unsafe fn kind_of(p: Block, i: usize) -> Option<ValueKind> {
    let inst: &Instance = &*p;
    inst.mapper.attrs.get(i).map(|a| a.kind)
}

/// Stores a converted value; false when the state is busy (the slow path then reports it).
fn write_fast(p: Block, i: usize, v: Value) -> bool {
    // The userdata being indexed holds a strong count for the duration of the call.
    let inst = ManuallyDrop::new(unsafe { Rc::from_raw(p) });
    inst.try_set(i, v)
}

/// The attribute index of the key at `key_idx` in the keys table at `keys`, if it is one.
#[inline(always)]
unsafe fn attr_index(l: *mut ffi::lua_State, keys: c_int, key_idx: c_int) -> Option<usize> {
    ffi::lua_pushvalue(l, key_idx);
    let found = ffi::lua_rawget(l, keys) == ffi::LUA_TNUMBER;
    let i = ffi::lua_tointeger(l, -1) as usize;
    ffi::lua_pop(l, 1);
    found.then_some(i)
}

/// Upvalues of `__index` and `__newindex`: the model's instance metatable and its keys table.
const UP_MT: c_int = ffi::lua_upvalueindex(1);
const UP_KEYS: c_int = ffi::lua_upvalueindex(2);

/// Pushes the metatable of the instance at index 1 and returns its instance, or raises: an
/// instance of this closure's model (its metatable is upvalue 1) that is not finalized.
#[inline(always)]
unsafe fn self_instance(l: *mut ffi::lua_State) -> Block {
    if ffi::lua_type(l, 1) == ffi::LUA_TUSERDATA
        && ffi::lua_getmetatable(l, 1) != 0
        && ffi::lua_rawequal(l, -1, UP_MT) != 0
    {
        let p = *(ffi::lua_touserdata(l, 1) as *const Block);
        if !p.is_null() {
            return p;
        }
    }
    raise(l, "ArgumentError", "expected a lualchemy instance".into());
    std::ptr::null()
}

/// `obj.key`: (obj, key) -> value.
unsafe extern "C-unwind" fn instance_index(l: *mut ffi::lua_State) -> c_int {
    ffi::lua_settop(l, 2);
    let p = self_instance(l); // mt at 3
    if let Some(i) = attr_index(l, UP_KEYS, 2) {
        if i >= SPECIAL {
            return special_get(l, p, i);
        }
        push_attr(l, p, i);
        return 1;
    }
    // a method or other class member, then an extra Lua field
    ffi::lua_rawgeti(l, 3, CLASS);
    ffi::lua_pushvalue(l, 2);
    if ffi::lua_rawget(l, -2) != ffi::LUA_TNIL {
        return 1;
    }
    // a subclass's class table falls back on its parent's (inherited methods)
    ffi::lua_settop(l, 4);
    if ffi::lua_getmetatable(l, 4) != 0 {
        ffi::lua_pop(l, 1);
        ffi::lua_pushvalue(l, 2);
        if ffi::lua_gettable(l, 4) != ffi::LUA_TNIL {
            return 1;
        }
    }
    ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&EXTRAS_KEY));
    ffi::lua_pushvalue(l, 1);
    if ffi::lua_rawget(l, -2) == ffi::LUA_TTABLE {
        ffi::lua_pushvalue(l, 2);
        ffi::lua_rawget(l, -2);
        return 1;
    }
    ffi::lua_pushnil(l);
    1
}

/// `obj.key = value`: (obj, key, value).
unsafe extern "C-unwind" fn instance_newindex(l: *mut ffi::lua_State) -> c_int {
    ffi::lua_settop(l, 3);
    let p = self_instance(l); // mt at 4
    if let Some(i) = attr_index(l, UP_KEYS, 2) {
        let done = match kind_of(p, i).and_then(|k| value_fast(l, 3, k)) {
            Some(v) => write_fast(p, i, v),
            None => false,
        };
        if !done {
            if i >= SPECIAL {
                special_set(l, 4, 1, 2, 3, p, i);
                return 0;
            }
            ffi::lua_rawgeti(l, 4, SLOW_SET);
            ffi::lua_pushvalue(l, 1);
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushvalue(l, 3);
            ffi::lua_call(l, 3, 0);
        }
        return 0;
    }
    ffi::lua_settop(l, 3);
    ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&EXTRAS_KEY)); // 4
    ffi::lua_pushvalue(l, 1);
    if ffi::lua_rawget(l, 4) != ffi::LUA_TTABLE {
        ffi::lua_pop(l, 1);
        ffi::lua_createtable(l, 0, 2);
        ffi::lua_pushvalue(l, 1);
        ffi::lua_pushvalue(l, -2);
        ffi::lua_rawset(l, 4); // extras[obj] = fields
    }
    ffi::lua_pushvalue(l, 2);
    ffi::lua_pushvalue(l, 3);
    ffi::lua_rawset(l, -3);
    0
}

/// `__gc`: gives back the instance's slot in the objects table (upvalue 1) and lets go of
/// the instance.
unsafe extern "C-unwind" fn instance_gc(l: *mut ffi::lua_State) -> c_int {
    let p = check(l, 1);
    if p.is_null() {
        return 0;
    }
    let objects = ffi::lua_upvalueindex(1);
    // read before the instance may go (this userdata may hold its last count)
    let slot = if compat::SLOT_OBJECTS {
        claim_slot(l, p, 1, objects)
    } else {
        0
    };
    drop_block(ffi::lua_touserdata(l, 1));
    // last: writing a slot whose cleared entry a rehash dropped can allocate, and raise
    if slot != 0 {
        free_slot(l, objects, slot);
    }
    0
}

/// Lets go of the instance an instance userdata's memory holds (its finalizer: `__gc`, or
/// on Luau the destructor given at creation). Calls no Lua.
unsafe fn drop_block(block: *mut c_void) {
    let p = (block as *mut Block).replace(std::ptr::null());
    if !p.is_null() {
        drop(Rc::from_raw(p));
    }
}

/// The models' `__call`: `construct` as a closure over the models table, the objects
/// table and its slot counters (upvalues: no registry lookup per object, which costs LuaJIT
/// a long hash chain), and the last model it made an instance of with its metatable (a
/// loop making objects of one model looks up nothing in the models table).
pub fn constructor(lua: &Lua) -> LuaResult<mlua::Function> {
    unsafe {
        lua.exec_raw((), |l| {
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&MODELS_KEY));
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&OBJECTS_KEY));
            // the registry keeps the counters alive (Luau has none: null)
            ffi::lua_rawgetp(l, ffi::LUA_REGISTRYINDEX, key(&COUNTERS_KEY));
            let c = ffi::lua_touserdata(l, -1);
            ffi::lua_pop(l, 1);
            ffi::lua_pushlightuserdata(l, c);
            // no model yet: a table no caller can pass
            ffi::lua_createtable(l, 0, 0);
            ffi::lua_pushnil(l);
            ffi::lua_pushlightuserdata(l, std::ptr::null_mut());
            ffi::lua_pushcclosure(l, construct, UP_LAST_MAPPER);
        })
    }
}

/// `construct`'s upvalues: the last model, its metatable and its `Mapper` (light userdata).
const UP_LAST_MODEL: c_int = 4;
const UP_LAST_MT: c_int = 5;
const UP_LAST_MAPPER: c_int = 6;

/// `Model{ key = value, ... }`: (model, args) -> a transient instance. An unknown key is an
/// error naming the model and the key (raised by the slow write). Upvalues: the models table
/// and the objects table (`constructor`).
unsafe extern "C-unwind" fn construct(l: *mut ffi::lua_State) -> c_int {
    ffi::lua_settop(l, 2);
    let mapper = if ffi::lua_rawequal(l, 1, ffi::lua_upvalueindex(UP_LAST_MODEL)) != 0 {
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(UP_LAST_MT));
        ffi::lua_touserdata(l, ffi::lua_upvalueindex(UP_LAST_MAPPER)) as *const Mapper
    } else {
        ffi::lua_pushvalue(l, 1);
        if ffi::lua_rawget(l, ffi::lua_upvalueindex(1)) != ffi::LUA_TTABLE {
            return raise(l, "ArgumentError", "expected a model class".into());
        }
        ffi::lua_rawgeti(l, 3, MAPPER);
        let mapper = ffi::lua_touserdata(l, -1) as *const Mapper;
        ffi::lua_replace(l, ffi::lua_upvalueindex(UP_LAST_MAPPER));
        ffi::lua_copy(l, 1, ffi::lua_upvalueindex(UP_LAST_MODEL));
        ffi::lua_copy(l, 3, ffi::lua_upvalueindex(UP_LAST_MT));
        mapper
    };
    // 3: mt
    // The model userdata at 1 keeps its mapper, and so this, alive.
    let ctor = &super::model::model_host(&*mapper).ctor;
    if ctor.hooks.get() & HOOK_CONFIGURE != 0 {
        if ffi::lua_rawgeti(l, 3, CONFIGURE) == ffi::LUA_TFUNCTION {
            ffi::lua_call(l, 0, 0); // relationships are configured before the first instance
        } else {
            ffi::lua_pop(l, 1);
        }
    }
    let args_type = ffi::lua_type(l, 2);
    if args_type != ffi::LUA_TTABLE && args_type != ffi::LUA_TNIL {
        let msg = format!(
            "{}{{...}} takes a table of attribute values",
            (*mapper).class_name
        );
        return raise(l, "ArgumentError", msg);
    }
    if (*mapper).is_abstract_concrete() {
        let msg = format!(
            "Can't instantiate class for Mapper[{}]; it is an orm.AbstractConcreteBase (mapped to its subclasses' polymorphic union, with no table of its own)",
            (*mapper).class_name
        );
        return raise(l, "InvalidRequestError", msg);
    }
    let inst = {
        let mapper = ManuallyDrop::new(Rc::from_raw(mapper));
        Instance::new(&mapper)
    };
    // the userdata made below holds the count `inst` has, for as long as it is at 4
    let p = Rc::as_ptr(&inst);
    let counters = ffi::lua_touserdata(l, ffi::lua_upvalueindex(3)) as *mut SlotCounters;
    new_userdata(l, inst, 3, ffi::lua_upvalueindex(2), counters); // 4: obj
                                                                  // the `init` event, before the keyword arguments are set (an error it raises reaches
                                                                  // the caller unchanged)
    if ctor.hooks.get() & HOOK_INIT != 0 {
        if ffi::lua_rawgeti(l, 3, INIT) == ffi::LUA_TFUNCTION {
            ffi::lua_pushvalue(l, 4);
            ffi::lua_pushvalue(l, 2);
            ffi::lua_call(l, 2, 0);
        } else {
            ffi::lua_pop(l, 1);
        }
    }
    if args_type != ffi::LUA_TTABLE {
        return 1;
    }
    if ctor.keys_state.get() == KEYS_STALE {
        ffi::lua_rawgeti(l, 3, KEYS);
        ctor.rebuild(l, 5);
        ffi::lua_settop(l, 4);
    }
    if ctor.keys_state.get() == KEYS_READY && set_in_place(l, ctor, p) {
        return 1; // 4: obj
    }
    ffi::lua_rawgeti(l, 3, KEYS); // 5: keys
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, 2) != 0 {
        // 6: key, 7: value
        let done = if ffi::lua_type(l, 6) == ffi::LUA_TSTRING {
            // (a setter or validator called below may change the keys table: read the
            // state for each key)
            let cached = if ctor.keys_state.get() == KEYS_READY {
                ctor.lookup(compat::string_address(l, 6) as usize)
            } else {
                None
            };
            match cached.or_else(|| attr_index(l, 5, 6)) {
                Some(i) if i >= SPECIAL => {
                    special_set(l, 3, 4, 6, 7, p, i);
                    true
                }
                Some(i) => match kind_of(p, i).and_then(|k| value_fast(l, 7, k)) {
                    Some(v) => write_fast(p, i, v),
                    None => false,
                },
                None => false,
            }
        } else {
            false
        };
        if !done {
            ffi::lua_rawgeti(l, 3, SLOW_SET);
            ffi::lua_pushvalue(l, 4);
            ffi::lua_pushvalue(l, 6);
            ffi::lua_pushvalue(l, 7);
            ffi::lua_call(l, 3, 0);
        }
        ffi::lua_pop(l, 1);
    }
    ffi::lua_settop(l, 4);
    1
}

/// The constructor's arguments (the table at 2) set on the new instance `p` without
/// `lua_next`, where `compat::each_entry` reads the table in place (the bundled LuaJIT),
/// in `lua_next`'s order, while each key is a plain column found in the key cache and its
/// value converts on the fast path as `value_fast` would convert it. At the first entry
/// that is anything else (an unknown, special or relationship key, a value for the slow
/// path), or for a table it does not read, it returns false, and the caller's `lua_next`
/// loop sets every key as always, starting with the very writes made here (the same
/// values, in the same order, on a new instance whose plain columns have no side effects:
/// a setter or validator it then calls sees what it would have seen). Runs no Lua.
#[inline]
unsafe fn set_in_place(l: *mut ffi::lua_State, ctor: &CtorCache, p: Block) -> bool {
    compat::each_entry(l, 2, |addr, v| {
        let Some(i) = ctor.lookup(addr).filter(|&i| i < SPECIAL) else {
            return false;
        };
        match kind_of(p, i).and_then(|k| value_of_raw(v, k)) {
            Some(v) => write_fast(p, i, v),
            None => false,
        }
    })
}

/// `value_fast` for a value `compat::each_entry` read in place (numbers are doubles
/// there, as on every Lua it reads).
#[inline(always)]
unsafe fn value_of_raw(v: compat::RawValue, kind: ValueKind) -> Option<Value> {
    use compat::RawValue;
    match (v, kind) {
        (RawValue::Num(n), ValueKind::Integer) => compat::integer_of_double(n)
            .filter(|&n| compat::exact_integer(n))
            .map(Value::Integer),
        (RawValue::Num(n), ValueKind::Real) => Some(Value::Real(n)),
        (RawValue::Bool(b), ValueKind::Boolean) => Some(Value::Integer(b as i64)),
        (RawValue::Str(p, len), ValueKind::Text | ValueKind::Enum) => {
            text_of(std::slice::from_raw_parts(p, len))
        }
        _ => None,
    }
}

/// Text from a Lua string's bytes: ASCII (the common case, checked a word at a time)
/// without `from_utf8`'s walk; `None` for bytes that are not UTF-8.
#[inline(always)]
fn text_of(bytes: &[u8]) -> Option<Value> {
    if bytes.is_ascii() {
        // SAFETY: ASCII is UTF-8
        return Some(Value::Text(Text::new(unsafe {
            std::str::from_utf8_unchecked(bytes)
        })));
    }
    std::str::from_utf8(bytes)
        .ok()
        .map(|s| Value::Text(Text::new(s)))
}

/// `obj.key` for a `KEYS` entry at or above `SPECIAL` (stack: 1 obj, 2 key, 3 mt): a
/// hybrid property's or synonym's getter, called here so that an error it raises reaches
/// the caller unchanged; or a validated column, read as any other.
unsafe fn special_get(l: *mut ffi::lua_State, p: Block, i: usize) -> c_int {
    if i >= DESCRIPTOR {
        let _nested = match compat::nested() {
            Ok(n) => n,
            Err(msg) => return raise(l, "InvalidRequestError", msg),
        };
        ffi::lua_rawgeti(l, 3, GETTERS);
        ffi::lua_rawgeti(l, -1, (i - DESCRIPTOR) as ffi::lua_Integer + 1);
        ffi::lua_pushvalue(l, 1);
        ffi::lua_call(l, 1, 1);
        return 1;
    }
    push_attr(l, p, i - VALIDATED);
    1
}

/// Pushes attribute `i` of the object at 1 (metatable at 3): straight from its state when
/// loaded and of a simple kind, else through the slow path.
#[inline]
unsafe fn push_attr(l: *mut ffi::lua_State, p: Block, i: usize) {
    match read_fast(&*p, i) {
        Fast::Nil => ffi::lua_pushnil(l),
        Fast::Int(n) => ffi::lua_pushinteger(l, n),
        Fast::Num(r) => ffi::lua_pushnumber(l, r),
        Fast::Bool(b) => ffi::lua_pushboolean(l, b as c_int),
        Fast::Str(s, n) => {
            compat::push_bytes(l, s as *const _, n);
        }
        Fast::Slow => {
            ffi::lua_rawgeti(l, 3, SLOW_GET);
            ffi::lua_pushvalue(l, 1);
            ffi::lua_pushinteger(l, i as ffi::lua_Integer);
            ffi::lua_call(l, 2, 1);
        }
    }
}

/// `obj.key = value` for a `KEYS` entry at or above `SPECIAL`, with the metatable, object,
/// key and value at the given stack indices: a hybrid property's or synonym's setter (an
/// `AttributeError` without one), or a validated column, whose validator's result is stored.
/// Validators and setters are called here, so that an error they raise reaches the caller
/// unchanged (and nothing is stored). Leaves the stack as it was.
unsafe fn special_set(
    l: *mut ffi::lua_State,
    mt: c_int,
    obj: c_int,
    key: c_int,
    val: c_int,
    p: Block,
    i: usize,
) {
    let top = ffi::lua_gettop(l);
    ffi::lua_checkstack(l, 8);
    let _nested = match compat::nested() {
        Ok(n) => n,
        Err(msg) => {
            raise(l, "InvalidRequestError", msg);
            return;
        }
    };
    if i >= DESCRIPTOR {
        ffi::lua_rawgeti(l, mt, SETTERS);
        if ffi::lua_rawgeti(l, -1, (i - DESCRIPTOR) as ffi::lua_Integer + 1) != ffi::LUA_TFUNCTION {
            let mut len = 0usize;
            let k = ffi::lua_tolstring(l, key, &mut len) as *const u8;
            let k = String::from_utf8_lossy(std::slice::from_raw_parts(k, len)).into_owned();
            let msg = super::computed::no_setter_message(&(*p).mapper, &k);
            drop(k);
            raise(l, "AttributeError", msg);
            return;
        }
        ffi::lua_pushvalue(l, obj);
        ffi::lua_pushvalue(l, val);
        ffi::lua_call(l, 2, 0);
        ffi::lua_settop(l, top);
        return;
    }
    let i = i - VALIDATED;
    ffi::lua_rawgeti(l, mt, VALIDATORS);
    ffi::lua_rawgeti(l, -1, i as ffi::lua_Integer + 1);
    ffi::lua_pushvalue(l, obj);
    ffi::lua_pushvalue(l, key);
    ffi::lua_pushvalue(l, val);
    ffi::lua_call(l, 3, 1); // the value to store, at top + 2
    let v = top + 2;
    let done = match kind_of(p, i).and_then(|k| value_fast(l, v, k)) {
        Some(x) => write_fast(p, i, x),
        None => false,
    };
    if !done {
        ffi::lua_rawgeti(l, mt, SLOW_SET);
        ffi::lua_pushvalue(l, obj);
        ffi::lua_pushvalue(l, key);
        ffi::lua_pushvalue(l, v);
        ffi::lua_call(l, 3, 0);
    }
    ffi::lua_settop(l, top);
}

/// The slow read: loads an expired attribute (or raises `DetachedInstanceError`) and
/// converts rich types (JSON, dates); column properties and relationships (their indices
/// follow the columns').
fn slow_get(lua: &Lua, (obj, i): (LuaValue, usize)) -> LuaResult<LuaValue> {
    let inst = expect_instance(lua, &obj)?;
    if i >= inst.mapper.attrs.len() {
        if i < inst.mapper.width() {
            return super::computed::read_prop(lua, &inst, i);
        }
        return super::relationship::get(lua, &inst, i - inst.mapper.width());
    }
    SessionCore::ensure_loaded(&inst, i).lua()?;
    let v = inst.state().values[i].clone();
    value_to_lua_named(lua, &v, inst.mapper.attrs[i].kind, &|| {
        inst.mapper.attr_path(i)
    })
}

/// The slow write: converts by the column's type or raises the error naming the attribute;
/// an unknown key (from the constructor) is an error naming the model and the key.
fn slow_set(lua: &Lua, (obj, k, value): (LuaValue, LuaValue, LuaValue)) -> LuaResult<()> {
    let inst = expect_instance(lua, &obj)?;
    let mapper = &inst.mapper;
    let key = match &k {
        LuaValue::String(s) => s.to_str()?.to_string(),
        other => {
            return Err(arg(format!(
                "{}{{...}}: keys must be attribute names, got {}",
                mapper.class_name,
                lua_debug(other)
            )))
        }
    };
    let Some(i) = mapper.attr_index(&key) else {
        if mapper.prop_index(&key).is_some() {
            return Err(super::computed::read_only(
                mapper,
                &key,
                "a column_property is read-only (the database computes it)",
            ));
        }
        super::relationship::ensure_configured(lua, [mapper])?;
        if let Some(r) = mapper.relationship(&key) {
            return super::relationship::set(lua, &inst, r.index, &value);
        }
        return Err(arg(format!(
            "'{key}' is an invalid keyword argument for {}",
            mapper.class_name
        )));
    };
    let v = lua_to_value(lua, &value, mapper.attrs[i].kind, &|| mapper.attr_path(i))?;
    if !inst.try_set(i, v) {
        return Err(kind_err(
            ErrorKind::InvalidRequestError,
            format!(
                "{} cannot be set while the session is working on it",
                mapper.attr_path(i)
            ),
        ));
    }
    Ok(())
}

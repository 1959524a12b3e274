//! LuaJIT 2.1: the Lua 5.1 language (numbers are doubles, integers exact to 2^53; `pairs` and
//! `ipairs` ignore metamethods) with the `bit` library. Its count hook is not called inside
//! JIT-compiled traces, so a sandboxed state runs with the compiler off.

use std::ffi::{c_int, c_void};

use mlua::{ffi, Lua, StdLib};

pub const NAME: &str = "LuaJIT";
/// The Lua language version whose syntax and library this runtime has (`-- requires:`).
pub const LANGUAGE: (u32, u32) = (5, 1);
pub const INTEGERS: bool = false;
pub const IDIV: bool = false;
pub const BITWISE: bool = false;
pub const CLOSE: bool = false;
pub const PAIRS: bool = false;
pub const IPAIRS_INDEX: bool = false;
/// `__lt` / `__le` only between two tables or two userdata.
pub const MIXED_COMPARE: bool = false;
/// The objects table is an array indexed by a slot each instance keeps (`__gc` gives the
/// slot back).
pub const SLOT_OBJECTS: bool = true;
/// No limit on nested C calls: the binary runs on a 256 MiB stack (reserved, touched only as
/// deep as a recursion goes), so LuaJIT's own Lua stack limit ends a runaway recursion that
/// `nested` does not count (about 25 MiB deep in a debug build).
pub const NATIVE_STACK: Option<usize> = Some(256 << 20);

/// # Safety
/// `l` is a live state with room for one more value on its stack.
#[inline(always)]
pub unsafe fn new_userdata(
    l: *mut ffi::lua_State,
    size: usize,
    _gc: unsafe fn(*mut c_void),
) -> *mut c_void {
    ffi::lua_newuserdata(l, size)
}

/// No `jit` library: scripts cannot turn the compiler back on.
pub fn sandbox_libs() -> StdLib {
    StdLib::TABLE | StdLib::OS | StdLib::STRING | StdLib::MATH | StdLib::BIT
}

extern "C" {
    // luajit.h
    fn luaJIT_setmode(l: *mut ffi::lua_State, idx: c_int, mode: c_int) -> c_int;
}
const LUAJIT_MODE_ENGINE: c_int = 0;
const LUAJIT_MODE_OFF: c_int = 0x0000;
const LUAJIT_MODE_FLUSH: c_int = 0x0200;

/// Turns the JIT compiler off (and drops the traces compiled so far) for the whole state.
pub fn jit_off(lua: &Lua) -> mlua::Result<()> {
    unsafe {
        lua.exec_raw::<()>((), |l| {
            luaJIT_setmode(l, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_FLUSH);
            luaJIT_setmode(l, 0, LUAJIT_MODE_ENGINE | LUAJIT_MODE_OFF);
        })
    }
}

/// The count hook, with the JIT compiler off: compiled traces would run unmetered.
pub fn set_budget_hook(
    lua: &Lua,
    every: u32,
    tick: impl Fn() -> Result<(), String> + 'static,
) -> mlua::Result<()> {
    jit_off(lua)?;
    super::count_hook(lua, every, tick)
}

/// The collector mode of this version's stock interpreter (`lua.c`): incremental, Lua's
/// default, so nothing to change.
pub fn stock_interpreter_gc(_lua: &mlua::Lua) {}

pub use super::pre54::string_address;

pub use super::pre54::push_bytes;

/// The constructor's argument table read in place (`each_entry`), on the LuaJIT this
/// binary builds and bundles (`vendored`: 2.1 with 64-bit GC references, `LJ_GC64`), whose
/// object layout it knows: `lj_obj.h`'s `GCtab`, `Node`, `GCstr` and the tagged `TValue`.
/// `lua_next` costs LuaJIT a hash lookup of the previous key per entry, and each value a
/// `lua_type` and a conversion through the C API (about 1k instructions for W1's three
/// attributes). A loadable module (`module`) runs on whatever LuaJIT loads it, so it keeps
/// `lua_next`; and `verify_table_layout` checks the layout once per state against
/// `lua_next` before any of this is used.
#[cfg(feature = "vendored")]
mod layout {
    /// `GCtab`: `MRef array` at 16, `MRef node` at 40, `asize` at 48, `hmask` at 52.
    pub const TAB_ARRAY: usize = 16;
    pub const TAB_NODE: usize = 40;
    pub const TAB_ASIZE: usize = 48;
    pub const TAB_HMASK: usize = 52;
    /// `Node`: `TValue val`, `TValue key`, `MRef next`: three words.
    pub const NODE_WORDS: usize = 3;
    /// `GCudata`: `metatable` at 32 (as in `GCtab`), the payload after its 48-byte header.
    pub const UD_METATABLE: usize = 32;
    pub const UD_DATA: usize = 48;
    /// `GCstr`: `len` at 20, the bytes after its 24-byte header.
    pub const STR_LEN: usize = 20;
    pub const STR_DATA: usize = 24;
    /// `TValue`: nil is all ones; else the tag is the top 17 bits (sign-extended), the GC
    /// object's address the low 47; a double is any value whose tag is at most `ISNUM`.
    pub const NIL: u64 = u64::MAX;
    pub const TFALSE: u32 = !1;
    pub const TTRUE: u32 = !2;
    pub const TSTR: u32 = !4;
    pub const TUDATA: u32 = !12;
    pub const ISNUM: u32 = !13;
    pub const GCVMASK: u64 = (1 << 47) - 1;
    /// The largest hash part read in place (a constructor's table has a few keys).
    pub const MAX_HASH: usize = 64;

    #[inline(always)]
    pub fn itype(v: u64) -> u32 {
        ((v as i64) >> 47) as u32
    }
}

#[cfg(feature = "vendored")]
static TABLE_LAYOUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Hands each entry of the table at `idx` (the caller checked it is one) to `f`, read in
/// place, in `lua_next`'s order: (the address of the key string's bytes, as
/// `string_address` gives it; the value), while `f` returns true. False at the first
/// entry whose key is not a string or whose value is not a number, a boolean or a string,
/// when `f` returns false, for a table with a large hash part, or before the layout is
/// verified: the caller then goes over the table with `lua_next`. Calls nothing and
/// allocates nothing (`f` must not change the table).
/// # Safety
/// `l` is a live state and `idx` a table.
#[cfg(feature = "vendored")]
#[inline(always)]
pub unsafe fn each_entry(
    l: *mut ffi::lua_State,
    idx: c_int,
    mut f: impl FnMut(usize, super::RawValue) -> bool,
) -> bool {
    use layout::*;
    if !TABLE_LAYOUT.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let t = ffi::lua_topointer(l, idx) as *const u8;
    let asize = *(t.add(TAB_ASIZE) as *const u32) as usize;
    if asize != 0 {
        let array = *(t.add(TAB_ARRAY) as *const *const u64);
        if (0..asize).any(|k| *array.add(k) != NIL) {
            return false;
        }
    }
    let hmask = *(t.add(TAB_HMASK) as *const u32) as usize;
    if hmask >= MAX_HASH {
        return false;
    }
    let node = *(t.add(TAB_NODE) as *const *const u64);
    for k in 0..=hmask {
        let val = *node.add(k * NODE_WORDS);
        if val == NIL {
            continue;
        }
        let key = *node.add(k * NODE_WORDS + 1);
        if itype(key) != TSTR {
            return false;
        }
        let v = match itype(val) {
            TSTR => {
                let s = (val & GCVMASK) as *const u8;
                let len = *(s.add(STR_LEN) as *const u32) as usize;
                super::RawValue::Str(s.add(STR_DATA), len)
            }
            TTRUE => super::RawValue::Bool(true),
            TFALSE => super::RawValue::Bool(false),
            t if t <= ISNUM => super::RawValue::Num(f64::from_bits(val)),
            _ => return false,
        };
        if !f(((key & GCVMASK) as usize) + STR_DATA, v) {
            return false;
        }
    }
    true
}

/// The payload of the full userdata at `list[i]`, read in place from the array part of
/// the table at address `list` (`lua_topointer`), when that userdata's metatable is the
/// table at address `mt`; null otherwise (not in the array part, not a userdata, another
/// metatable, or the layout not verified), and the caller reads it through the C API.
/// # Safety
/// `list` is the address of a live table.
#[cfg(feature = "vendored")]
#[inline(always)]
pub unsafe fn list_userdata(
    list: *const std::ffi::c_void,
    i: usize,
    mt: *const std::ffi::c_void,
) -> *mut c_void {
    use layout::*;
    if !TABLE_LAYOUT.load(std::sync::atomic::Ordering::Relaxed) {
        return std::ptr::null_mut();
    }
    let t = list as *const u8;
    if i >= *(t.add(TAB_ASIZE) as *const u32) as usize {
        return std::ptr::null_mut();
    }
    let v = *(*(t.add(TAB_ARRAY) as *const *const u64)).add(i);
    if itype(v) != TUDATA {
        return std::ptr::null_mut();
    }
    let u = (v & GCVMASK) as *mut u8;
    if *(u.add(UD_METATABLE) as *const usize) != mt as usize {
        return std::ptr::null_mut();
    }
    u.add(UD_DATA) as *mut c_void
}

/// Checks `each_entry`'s reading of a table against `lua_next` on one made here (string
/// keys; a string, a number and both booleans as values) and `list_userdata`'s on a list
/// holding a userdata with a metatable, and turns both on if they agree. Leaves the stack
/// as it was.
/// # Safety
/// `l` is a live state with room for 4 more values.
#[cfg(feature = "vendored")]
pub unsafe fn verify_table_layout(l: *mut ffi::lua_State) {
    use super::RawValue;
    let top = ffi::lua_gettop(l);
    ffi::lua_createtable(l, 0, 4);
    for (k, v) in [("alpha", 0), ("beta", 1), ("gamma", 2), ("delta", 3)] {
        ffi::lua_pushlstring_(l, k.as_ptr() as *const _, k.len());
        match v {
            0 => ffi::lua_pushlstring_(l, c"a longer value".as_ptr(), 14),
            1 => ffi::lua_pushnumber(l, -12.5),
            2 => ffi::lua_pushboolean(l, 1),
            _ => ffi::lua_pushboolean(l, 0),
        }
        ffi::lua_rawset(l, -3);
    }
    let t = ffi::lua_gettop(l);
    let mut read = [(0usize, RawValue::Bool(false)); 4];
    let mut got = 0;
    TABLE_LAYOUT.store(true, std::sync::atomic::Ordering::Relaxed);
    let all = each_entry(l, t, |k, v| {
        if got < read.len() {
            read[got] = (k, v);
        }
        got += 1;
        true
    });
    let mut ok = all && got == 4;
    let mut i = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, t) != 0 {
        if ok && i < 4 {
            let key = ffi::lua_tolstring(l, -2, std::ptr::null_mut()) as usize;
            let (k, v) = read[i];
            ok = k == key
                && match (ffi::lua_type(l, -1), v) {
                    (ffi::LUA_TSTRING, RawValue::Str(p, n)) => {
                        let mut len = 0;
                        let s = ffi::lua_tolstring(l, -1, &mut len) as *const u8;
                        s == p && len == n
                    }
                    (ffi::LUA_TNUMBER, RawValue::Num(x)) => x == ffi::lua_tonumber(l, -1),
                    (ffi::LUA_TBOOLEAN, RawValue::Bool(b)) => b == (ffi::lua_toboolean(l, -1) != 0),
                    _ => false,
                };
        }
        i += 1;
        ffi::lua_pop(l, 1);
    }
    ok &= i == 4;
    // a list { false, ud } whose userdata has the table above as its metatable
    ffi::lua_createtable(l, 2, 0);
    ffi::lua_pushboolean(l, 0);
    ffi::lua_rawseti(l, -2, 1);
    let ud = ffi::lua_newuserdata(l, 8);
    ffi::lua_pushvalue(l, t);
    ffi::lua_setmetatable(l, -2);
    ffi::lua_rawseti(l, -2, 2);
    let list = ffi::lua_topointer(l, -1);
    let mt = ffi::lua_topointer(l, t);
    ok &= list_userdata(list, 2, mt) == ud
        && list_userdata(list, 1, mt).is_null()
        && list_userdata(list, 2, list).is_null()
        && list_userdata(list, 3, mt).is_null();
    TABLE_LAYOUT.store(ok, std::sync::atomic::Ordering::Relaxed);
    ffi::lua_settop(l, top);
}

/// A module build does not know the layout of the LuaJIT that loads it.
#[cfg(not(feature = "vendored"))]
pub unsafe fn verify_table_layout(_l: *mut ffi::lua_State) {}

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

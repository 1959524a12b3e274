//! Lua 5.3: 64-bit integers and the bitwise operators; no `<close>`; userdata without user
//! value slots (`lua_newuserdata`).

use std::ffi::c_void;

use mlua::{ffi, Lua, StdLib};

pub const NAME: &str = "Lua 5.3";
/// The Lua language version whose syntax and library this runtime has (`-- requires:`).
pub const LANGUAGE: (u32, u32) = (5, 3);
pub const INTEGERS: bool = true;
pub const IDIV: bool = true;
pub const BITWISE: bool = true;
pub const CLOSE: bool = false;
pub const PAIRS: bool = true;
pub const IPAIRS_INDEX: bool = true;
/// `<` and `<=` call `__lt` / `__le` when one operand is a number.
pub const MIXED_COMPARE: bool = true;
/// The objects table is an array indexed by a slot each instance keeps (`__gc` gives the
/// slot back).
pub const SLOT_OBJECTS: bool = true;
/// Lua limits nested C calls itself: the main thread's stack is enough.
pub const NATIVE_STACK: Option<usize> = None;

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

pub fn sandbox_libs() -> StdLib {
    StdLib::COROUTINE | StdLib::TABLE | StdLib::OS | StdLib::STRING | StdLib::UTF8 | StdLib::MATH
}

pub fn set_budget_hook(
    lua: &Lua,
    every: u32,
    tick: impl Fn() -> Result<(), String> + 'static,
) -> mlua::Result<()> {
    super::count_hook(lua, every, tick)
}

/// The collector mode of this version's stock interpreter (`lua.c`): incremental, Lua's
/// default, so nothing to change.
pub fn stock_interpreter_gc(_lua: &mlua::Lua) {}

pub use super::pre54::string_address;

/// Pushes the `n` bytes at `s` as a string (`lua_pushlstring`).
/// # Safety
/// `l` is a live state with room for one more value; `s` points at `n` readable bytes.
#[inline(always)]
pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: *const std::ffi::c_char, n: usize) {
    ffi::lua_pushlstring(l, s, n);
}

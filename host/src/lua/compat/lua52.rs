//! Lua 5.2: numbers are doubles (integers exact to 2^53), no operator metamethods beyond
//! arithmetic (`bit32` functions instead of operators), `__pairs` but `ipairs` ignores
//! `__index` on a userdata.

use std::ffi::c_void;

use mlua::{ffi, Lua, StdLib};

pub const NAME: &str = "Lua 5.2";
/// The Lua language version whose syntax and library this runtime has (`-- requires:`).
pub const LANGUAGE: (u32, u32) = (5, 2);
pub const INTEGERS: bool = false;
pub const IDIV: bool = false;
pub const BITWISE: bool = false;
pub const CLOSE: bool = false;
pub const PAIRS: bool = true;
pub const IPAIRS_INDEX: bool = false;
/// `__lt` / `__le` only between two tables or two userdata.
pub const MIXED_COMPARE: bool = false;
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
    StdLib::COROUTINE | StdLib::TABLE | StdLib::OS | StdLib::STRING | StdLib::BIT | StdLib::MATH
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

/// The address of the bytes of the string at `idx` (`lua_tolstring`: `lua_topointer` gives
/// no address for a string before 5.4), which the constructor's key cache compares: it
/// stands for the string object, which a non-moving collector keeps where it is for as long
/// as it lives. Lua 5.2 interns strings of up to 40 bytes, so every such string of the same bytes alive
/// at once is one object, whose bytes are at this one address (a longer string is an object
/// of its own: it never has a cached address unless it is the keys table's very string, and
/// is otherwise looked up in the keys table).
/// # Safety
/// `l` is a live state and `idx` a string (`lua_tolstring` would turn a number at `idx` into
/// a string in place).
#[inline(always)]
pub unsafe fn string_address(
    l: *mut mlua::ffi::lua_State,
    idx: std::ffi::c_int,
) -> *const std::ffi::c_void {
    mlua::ffi::lua_tolstring(l, idx, std::ptr::null_mut()) as *const std::ffi::c_void
}

/// Pushes the `n` bytes at `s` as a string (`lua_pushlstring`).
/// # Safety
/// `l` is a live state with room for one more value; `s` points at `n` readable bytes.
#[inline(always)]
pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: *const std::ffi::c_char, n: usize) {
    ffi::lua_pushlstring(l, s, n);
}

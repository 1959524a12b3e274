//! Lua 5.1: numbers are doubles (integers exact to 2^53), no operator metamethods beyond
//! arithmetic, `pairs` and `ipairs` ignore metamethods; `coroutine` is part of the base
//! library.

use std::ffi::c_void;

use mlua::{ffi, Lua, StdLib};

pub const NAME: &str = "Lua 5.1";
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
    StdLib::TABLE | StdLib::OS | StdLib::STRING | StdLib::MATH
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

pub use super::pre54::push_bytes;

//! Luau: numbers are doubles (integers exact to 2^53), `//` but no bitwise operators (the
//! `bit32` library), no `<close>`, no `__pairs` (generalized iteration with `__iter`),
//! `ipairs` ignores `__index`. Userdata are finalized by a destructor given at creation
//! (Luau ignores `__gc`), which may not call Lua. No debug hooks: the sandbox's budget is
//! charged from the interrupt callback.

use std::ffi::c_void;

use mlua::{ffi, Lua, StdLib, VmState};

pub const NAME: &str = "Luau";
/// The Lua language version whose syntax and library this runtime has (`-- requires:`).
pub const LANGUAGE: (u32, u32) = (5, 1);
pub const INTEGERS: bool = false;
pub const IDIV: bool = true;
pub const BITWISE: bool = false;
pub const CLOSE: bool = false;
pub const PAIRS: bool = false;
pub const IPAIRS_INDEX: bool = false;
/// `__lt` / `__le` only between two tables or two userdata.
pub const MIXED_COMPARE: bool = false;
/// The objects table is keyed by the instances' addresses (light userdata): a finalizer
/// (the destructor given at creation) may not call Lua, so it cannot give a slot back.
pub const SLOT_OBJECTS: bool = false;
/// Lua limits nested C calls itself: the main thread's stack is enough.
pub const NATIVE_STACK: Option<usize> = None;

/// The finalizer of each instance userdata, set at creation (`instance.rs` passes it).
static mut GC: Option<unsafe fn(*mut c_void)> = None;

unsafe extern "C" fn destructor(_l: *mut ffi::lua_State, ud: *mut c_void) {
    if let Some(gc) = GC {
        gc(ud);
    }
}

/// # Safety
/// `l` is a live state with room for one more value on its stack.
#[inline(always)]
pub unsafe fn new_userdata(
    l: *mut ffi::lua_State,
    size: usize,
    gc: unsafe fn(*mut c_void),
) -> *mut c_void {
    GC = Some(gc);
    ffi::lua_newuserdatadtor(l, size, destructor)
}

pub fn sandbox_libs() -> StdLib {
    StdLib::COROUTINE | StdLib::TABLE | StdLib::OS | StdLib::STRING | StdLib::UTF8 | StdLib::MATH
}

/// Luau calls the interrupt at function calls and loop back-edges, not per instruction:
/// each call is charged as `every` instructions. Also turns Luau's sandbox mode on.
pub fn set_budget_hook(
    lua: &Lua,
    every: u32,
    tick: impl Fn() -> Result<(), String> + 'static,
) -> mlua::Result<()> {
    let _ = every;
    // Luau's own sandbox mode on top of lua/sandbox.lua's environment: the libraries and the
    // globals read-only, each script's writes in an environment of its own
    lua.sandbox(true)?;
    lua.set_interrupt(move |_| match tick() {
        Ok(()) => Ok(VmState::Continue),
        Err(msg) => Err(mlua::Error::runtime(msg)),
    });
    Ok(())
}

/// The collector mode of this version's stock interpreter (`lua.c`): incremental, Lua's
/// default, so nothing to change.
pub fn stock_interpreter_gc(_lua: &mlua::Lua) {}

/// The address of the string at `idx`, which the constructor's key cache compares; null
/// here (`lua_topointer` gives no address for a string on this version): the constructor
/// then looks every key up in the keys table.
/// # Safety
/// `l` is a live state.
#[inline(always)]
pub unsafe fn string_address(
    _l: *mut mlua::ffi::lua_State,
    _idx: std::ffi::c_int,
) -> *const std::ffi::c_void {
    std::ptr::null()
}

/// Pushes the `n` bytes at `s` as a string (`lua_pushlstring`).
/// # Safety
/// `l` is a live state with room for one more value; `s` points at `n` readable bytes.
#[inline(always)]
pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: *const std::ffi::c_char, n: usize) {
    ffi::lua_pushlstring(l, s, n);
}

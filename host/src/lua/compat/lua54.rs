//! Lua 5.4 (and 5.5, which mlua binds the same way): 64-bit integers, every operator
//! metamethod, `<close>`, userdata with user value slots.

use std::ffi::c_void;

use mlua::{ffi, Lua, StdLib};

pub const NAME: &str = if cfg!(feature = "lua55") {
    "Lua 5.5"
} else {
    "Lua 5.4"
};
/// Numbers have a 64-bit integer subtype.
/// The Lua language version whose syntax and library this runtime has (`-- requires:`).
pub const LANGUAGE: (u32, u32) = if cfg!(feature = "lua55") {
    (5, 5)
} else {
    (5, 4)
};
pub const INTEGERS: bool = true;
/// `//` calls `__idiv`.
pub const IDIV: bool = true;
/// `&`, `|`, `~` call `__band`, `__bor`, `__bnot`.
pub const BITWISE: bool = true;
/// `local x <close>` calls `__close`.
pub const CLOSE: bool = true;
/// `pairs` honours `__pairs`.
pub const PAIRS: bool = true;
/// `ipairs` (and `table.insert`, `#`) go through `__index` / `__len` on a userdata.
pub const IPAIRS_INDEX: bool = true;
/// `<` and `<=` call `__lt` / `__le` when one operand is a number.
pub const MIXED_COMPARE: bool = true;
/// The objects table is an array indexed by a slot each instance keeps (`__gc` gives the
/// slot back).
pub const SLOT_OBJECTS: bool = true;
/// Lua limits nested C calls itself: the main thread's stack is enough.
pub const NATIVE_STACK: Option<usize> = None;

/// A new full userdata of `size` bytes, no user values. `gc` is the finalizer the
/// metatable's `__gc` also calls (Luau needs it here; Lua 5.4 does not).
/// # Safety
/// `l` is a live state with room for one more value on its stack.
#[inline(always)]
pub unsafe fn new_userdata(
    l: *mut ffi::lua_State,
    size: usize,
    _gc: unsafe fn(*mut c_void),
) -> *mut c_void {
    ffi::lua_newuserdatauv(l, size, 0)
}

/// The libraries a sandboxed state opens (lua/sandbox.lua filters them further).
pub fn sandbox_libs() -> StdLib {
    StdLib::COROUTINE | StdLib::TABLE | StdLib::OS | StdLib::STRING | StdLib::UTF8 | StdLib::MATH
}

/// Calls `tick` about every `every` VM instructions; an error message it returns is raised in
/// the running code, and again at every instruction after (so `pcall` cannot buy time).
pub fn set_budget_hook(
    lua: &Lua,
    every: u32,
    tick: impl Fn() -> Result<(), String> + 'static,
) -> mlua::Result<()> {
    super::count_hook(lua, every, tick)
}

/// The collector mode of this version's stock interpreter: `lua.c` of 5.4 and 5.5 restarts
/// the collector in generational mode before it runs a script (the library's default stays
/// incremental, so hosts keep theirs). Short-lived garbage, such as the strings a loop of
/// attribute reads makes, is then freed by minor collections.
pub fn stock_interpreter_gc(lua: &mlua::Lua) {
    lua.gc_set_mode(mlua::state::GcMode::Generational(Default::default()));
}

/// The address of the string at `idx` (its `TString`), which the constructor's key cache
/// compares: a short string is interned, so every string of the same bytes alive at once is
/// this one object.
/// # Safety
/// `l` is a live state and `idx` a string.
#[inline(always)]
pub unsafe fn string_address(l: *mut ffi::lua_State, idx: std::ffi::c_int) -> *const c_void {
    ffi::lua_topointer(l, idx)
}

/// Pushes the `n` bytes at `s` as a string (`lua_pushlstring`).
/// # Safety
/// `l` is a live state with room for one more value; `s` points at `n` readable bytes.
#[inline(always)]
pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: *const std::ffi::c_char, n: usize) {
    ffi::lua_pushlstring(l, s, n);
}

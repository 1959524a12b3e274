//! What Lua 5.1, 5.2, 5.3 and LuaJIT share behind the version seam (before 5.4's C API).

use mlua::ffi;

/// The address of the bytes of the string at `idx` (`lua_tolstring`: `lua_topointer` gives
/// no address for a string before 5.4), which the constructor's key cache compares: it
/// stands for the string object, which a non-moving collector keeps where it is for as long
/// as it lives. LuaJIT and 5.1 intern every string, 5.2 and 5.3 those of up to 40 bytes: every
/// such string of the same bytes alive at once is one object, whose bytes are at this one
/// address (a longer string is an object of its own: it never has a cached address unless it
/// is the keys table's very string, and is otherwise looked up in the keys table).
/// # Safety
/// `l` is a live state and `idx` a string (`lua_tolstring` would turn a number at `idx` into
/// a string in place).
#[inline(always)]
pub unsafe fn string_address(
    l: *mut ffi::lua_State,
    idx: std::ffi::c_int,
) -> *const std::ffi::c_void {
    ffi::lua_tolstring(l, idx, std::ptr::null_mut()) as *const std::ffi::c_void
}

/// Pushes the `n` bytes at `s` as a string, for 5.1 and LuaJIT, where mlua's
/// `lua_pushlstring` is a shim that reads the new string back (`lua_tostring`) for the
/// result 5.3 and later return: the raw call, with the shim's care for an empty string (`s`
/// may then dangle).
/// # Safety
/// `l` is a live state with room for one more value; `s` points at `n` readable bytes.
#[cfg(any(feature = "lua51", feature = "luajit"))]
#[inline(always)]
pub unsafe fn push_bytes(l: *mut ffi::lua_State, s: *const std::ffi::c_char, n: usize) {
    if n == 0 {
        ffi::lua_pushlstring_(l, c"".as_ptr(), 0);
    } else {
        ffi::lua_pushlstring_(l, s, n);
    }
}

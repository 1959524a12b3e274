//! The few steps of the stand-alone interpreter that go through Lua's C API, so that they
//! behave exactly as stock `lua`'s: loading a file (`luaL_loadfile`: a `#` first line
//! skipped, `-` as stdin, its "cannot open" message), loading a string under a chunk name,
//! and calling a function under a message handler that appends a traceback (`docall`).

use std::ffi::{c_int, CStr, CString};

use mlua::{ffi, Function, Lua, MultiValue, Value};

/// The registry key of the metatable of the error values lualchemy's Rust functions raise
/// (mlua's error userdata, `orm.Error` among them).
const ERROR_METATABLE: &CStr = c"lualchemy.cli.error_metatable";

/// What loading or calling gave: the function or results, or the error message (a string,
/// the traceback included for a call).
pub type Outcome<T> = Result<T, String>;

/// Remembers the metatable of lualchemy's error values, so that the message handler gives
/// them a traceback too (stock `lua` gives an error value with `__tostring` none).
pub fn remember_error_metatable(lua: &Lua) -> mlua::Result<()> {
    let probe = lua.create_function(|_, ()| -> mlua::Result<()> {
        Err(lualchemy::lua::error::invalid("probe"))
    })?;
    let err: Value = lua
        .load("local ok, e = pcall(...) return e")
        .set_name("=lualchemy")
        .call(probe)?;
    // SAFETY: reads the metatable of the one argument (mlua protects it from
    // getmetatable) into the registry, leaving the stack as it was
    unsafe {
        lua.exec_raw::<()>(err, |l| {
            if ffi::lua_getmetatable(l, 1) != 0 {
                ffi::lua_setfield(l, ffi::LUA_REGISTRYINDEX, ERROR_METATABLE.as_ptr());
            }
            ffi::lua_settop(l, 0);
        })
    }
}

/// Whether the value at `idx` has the metatable of lualchemy's error values.
unsafe fn is_lualchemy_error(l: *mut ffi::lua_State, idx: c_int) -> bool {
    if ffi::lua_getmetatable(l, idx) == 0 {
        return false;
    }
    ffi::lua_getfield(l, ffi::LUA_REGISTRYINDEX, ERROR_METATABLE.as_ptr());
    let same = ffi::lua_rawequal(l, -1, -2) != 0;
    ffi::lua_pop(l, 2);
    same
}

/// `lua.c`'s message handler: the error as a string (through `__tostring`, or "(error
/// object is a X value)") with a traceback appended; a value with `__tostring` other than
/// lualchemy's errors is its string alone, as in stock `lua`.
unsafe extern "C-unwind" fn msghandler(l: *mut ffi::lua_State) -> c_int {
    let mut msg = ffi::lua_tostring(l, 1);
    if msg.is_null() {
        if ffi::luaL_callmeta(l, 1, c"__tostring".as_ptr()) != 0
            && ffi::lua_type(l, -1) == ffi::LUA_TSTRING
        {
            if !is_lualchemy_error(l, 1) {
                return 1;
            }
            // mlua's text of an error raised in a Rust function (a bad argument) carries a
            // traceback of its own: keep the message, the traceback follows
            let mut len = 0usize;
            let text = ffi::lua_tolstring(l, -1, &mut len);
            let bytes = std::slice::from_raw_parts(text.cast::<u8>(), len);
            let marker = b"\nstack traceback:";
            if let Some(end) = bytes.windows(marker.len()).position(|w| w == marker) {
                ffi::lua_pushlstring(l, text, end);
            }
            msg = ffi::lua_tostring(l, -1);
        } else {
            let type_name = CStr::from_ptr(ffi::luaL_typename(l, 1)).to_string_lossy();
            let text = format!("(error object is a {type_name} value)");
            ffi::lua_pushlstring(l, text.as_ptr().cast(), text.len());
            msg = ffi::lua_tostring(l, -1);
        }
    }
    ffi::luaL_traceback(l, l, msg, 1);
    1
}

/// The status and values a raw step left: status 0 with the values, or an error value.
fn outcome(values: MultiValue) -> (c_int, MultiValue) {
    let mut values = values.into_iter();
    let status = match values.next() {
        Some(Value::Integer(s)) => s as c_int,
        _ => -1,
    };
    (status, values.collect())
}

/// The message of an error value as `lua.c`'s `report` prints it.
pub fn message(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.to_string_lossy(),
        Some(Value::Integer(i)) => i.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "(null)".to_string(),
    }
}

fn loaded(values: MultiValue) -> Outcome<Function> {
    let (status, values) = outcome(values);
    match (status, values.front()) {
        (0, Some(Value::Function(f))) => Ok(f.clone()),
        (_, v) => Err(message(v)),
    }
}

/// `luaL_loadfile`: the file at `path`, or standard input for `None`.
pub fn load_file(lua: &Lua, path: Option<&str>) -> mlua::Result<Outcome<Function>> {
    let path = match path {
        Some(p) => Some(CString::new(p).map_err(|_| {
            mlua::Error::runtime(format!(
                "cannot open {}: invalid file name",
                p.escape_default()
            ))
        })?),
        None => None,
    };
    // SAFETY: pushes the loaded function or the error message, and the status beneath.
    let values: MultiValue = unsafe {
        lua.exec_raw((), |l| {
            let name = path.as_ref().map_or(std::ptr::null(), |p| p.as_ptr());
            let status = loadfile(l, name);
            ffi::lua_pushinteger(l, status as ffi::lua_Integer);
            ffi::lua_insert(l, -2);
        })?
    };
    Ok(loaded(values))
}

#[cfg(not(any(feature = "lua51", feature = "luajit", feature = "luau")))]
unsafe fn loadfile(l: *mut ffi::lua_State, name: *const std::ffi::c_char) -> c_int {
    ffi::luaL_loadfilex(l, name, std::ptr::null())
}

#[cfg(any(feature = "lua51", feature = "luajit"))]
unsafe fn loadfile(l: *mut ffi::lua_State, name: *const std::ffi::c_char) -> c_int {
    ffi::luaL_loadfile(l, name)
}

/// Luau has no `luaL_loadfile`: the file (or stdin) is read here, a `#` first line blanked
/// (its newline kept, so line numbers hold), and compiled as a string.
#[cfg(feature = "luau")]
unsafe fn loadfile(l: *mut ffi::lua_State, name: *const std::ffi::c_char) -> c_int {
    use std::io::Read;
    let (chunkname, read) = if name.is_null() {
        let mut code = Vec::new();
        let r = std::io::stdin().read_to_end(&mut code).map(|_| code);
        ("=stdin".to_string(), r)
    } else {
        let path = CStr::from_ptr(name).to_string_lossy().into_owned();
        (format!("@{path}"), std::fs::read(&path))
    };
    let mut code = match read {
        Ok(code) => code,
        Err(e) => {
            let what = chunkname.trim_start_matches(['@', '=']);
            let msg = format!("cannot open {what}: {e}");
            ffi::lua_pushlstring(l, msg.as_ptr().cast(), msg.len());
            return ffi::LUA_ERRRUN;
        }
    };
    if code.first() == Some(&b'#') {
        let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
        code.drain(..end);
    }
    let chunkname = CString::new(chunkname).unwrap_or_default();
    ffi::luaL_loadbufferx(
        l,
        code.as_ptr().cast(),
        code.len(),
        chunkname.as_ptr(),
        std::ptr::null(),
    )
}

/// `luaL_loadbuffer`: `code` under the chunk name `name` (`=(command line)`, `=stdin`).
pub fn load_string(lua: &Lua, code: &[u8], name: &str) -> mlua::Result<Outcome<Function>> {
    let name = CString::new(name).map_err(|_| mlua::Error::runtime("chunk name with a NUL"))?;
    // SAFETY: as in load_file
    let values: MultiValue = unsafe {
        lua.exec_raw((), |l| {
            let status = ffi::luaL_loadbufferx(
                l,
                code.as_ptr().cast(),
                code.len(),
                name.as_ptr(),
                std::ptr::null(),
            );
            ffi::lua_pushinteger(l, status as ffi::lua_Integer);
            ffi::lua_insert(l, -2);
        })?
    };
    Ok(loaded(values))
}

/// `lua.c`'s `docall`: calls `f` with `args` under the message handler; its results, or
/// the error message with a traceback.
pub fn docall(lua: &Lua, f: &Function, args: MultiValue) -> mlua::Result<Outcome<MultiValue>> {
    let mut pushed = MultiValue::new();
    pushed.push_back(Value::Function(f.clone()));
    pushed.extend(args);
    // SAFETY: the stack holds the function and its arguments; the handler goes beneath
    // them, and after the call the status replaces it.
    let values: MultiValue = unsafe {
        lua.exec_raw(pushed, |l| {
            let nargs = ffi::lua_gettop(l) - 1;
            ffi::lua_pushcfunction(l, msghandler);
            ffi::lua_insert(l, 1);
            let status = ffi::lua_pcall(l, nargs, ffi::LUA_MULTRET, 1);
            ffi::lua_pushinteger(l, status as ffi::lua_Integer);
            ffi::lua_replace(l, 1);
        })?
    };
    let (status, values) = outcome(values);
    Ok(if status == 0 {
        Ok(values)
    } else {
        Err(message(values.front()))
    })
}

/// Flushes C's output streams (`fflush(NULL)`), where Lua's `print` and `io.write` write:
/// 5.1's and LuaJIT's `print` do not flush, and what they printed must come out before
/// what the interpreter writes next through Rust's stdout (a prompt).
pub fn flush_c_stdout() {
    extern "C" {
        fn fflush(stream: *mut std::ffi::c_void) -> c_int;
    }
    // SAFETY: fflush(NULL) flushes every output stream and touches nothing of ours
    unsafe {
        fflush(std::ptr::null_mut());
    }
}

//! The one seam for what differs between the Lua versions the binding builds for (cargo
//! features `lua54` (default), `lua55`, `lua53`, `lua52`, `lua51`, `luajit`, `luau`; see
//! docs/LUA_VERSIONS.md). One file per version family, as mlua keeps its `ffi/` per version;
//! exactly one is compiled in, and the rest of the binding asks it instead of testing
//! features itself:
//!
//! - what the language has: 64-bit integers (`INTEGERS`), the metamethods of `//`, the
//!   bitwise operators and `<close>` (`IDIV`, `BITWISE`, `CLOSE`), whether `pairs` honours
//!   `__pairs` (`PAIRS`), `ipairs` honours `__index` (`IPAIRS_INDEX`) and `<` reaches `__lt`
//!   with a number on one side (`MIXED_COMPARE`); the language version (`LANGUAGE`) that a
//!   `-- requires: Lua 5.x` first line is compared with (`unmet_requirement`), and all of it
//!   as a Lua table (`features_table`, the specs' `LUA`);
//! - the raw C API calls that differ (`new_userdata`: user value slots on 5.4, a destructor
//!   instead of `__gc` on Luau), all `#[inline(always)]`, so the hot paths of `instance.rs`
//!   compile to the same calls as before on each version; how the objects table finds an
//!   instance's userdata (`SLOT_OBJECTS`: by a slot kept in the instance, which `__gc`
//!   gives back; on Luau, whose finalizers cannot call Lua, by its address);
//! - the sandbox's libraries and its instruction budget (`sandbox_libs`, `set_budget_hook`:
//!   a count hook; on LuaJIT with the JIT compiler off, since the hook does not fire inside
//!   compiled traces; on Luau the interrupt callback and Luau's sandbox mode);
//! - nested calls into the script's code: counted up to `MAX_NESTED` where Lua does not
//!   limit nested C calls itself (LuaJIT: `nested`, with the binary on a deep native stack,
//!   `with_native_stack`); free elsewhere.
//!
//! Integers: on the versions without a 64-bit integer subtype (5.1, 5.2, LuaJIT, Luau) a
//! number is a double, exact for integers up to 2^53. The binding never hands out or takes in
//! an integer beyond that silently rounded: `check_integer` makes it an `orm.Error` naming
//! the column (docs/LUA_VERSIONS.md, "Integers").

#[cfg(any(
    feature = "lua51",
    feature = "lua52",
    feature = "lua53",
    feature = "luajit"
))]
mod pre54;
#[cfg_attr(any(feature = "lua54", feature = "lua55"), path = "lua54.rs")]
#[cfg_attr(feature = "lua53", path = "lua53.rs")]
#[cfg_attr(feature = "lua52", path = "lua52.rs")]
#[cfg_attr(feature = "lua51", path = "lua51.rs")]
#[cfg_attr(feature = "luajit", path = "luajit.rs")]
#[cfg_attr(feature = "luau", path = "luau.rs")]
mod version;

pub use version::*;

#[cfg(not(feature = "luau"))]
use mlua::Lua;

/// A value of a table entry as `each_entry` reads it in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RawValue {
    Num(f64),
    Bool(bool),
    /// The string's bytes (valid while the table holds the string) and their length.
    Str(*const u8, usize),
}

/// The entries of the table at `idx` read in place and handed to `f`, where the binary
/// knows its Lua's object layout (the bundled LuaJIT: `luajit.rs`); elsewhere false at
/// once, and the caller uses `lua_next`.
/// # Safety
/// `l` is a live state and `idx` a table.
#[cfg(not(all(feature = "luajit", feature = "vendored")))]
#[inline(always)]
pub unsafe fn each_entry(
    _l: *mut mlua::ffi::lua_State,
    _idx: std::ffi::c_int,
    _f: impl FnMut(usize, RawValue) -> bool,
) -> bool {
    false
}

/// `list[i]`'s userdata payload read in place where `each_entry` reads tables in place,
/// when its metatable is the table at `mt`; elsewhere null, and the caller uses the C API.
/// # Safety
/// `list` is the address of a live table.
#[cfg(not(all(feature = "luajit", feature = "vendored")))]
#[inline(always)]
pub unsafe fn list_userdata(
    _list: *const std::ffi::c_void,
    _i: usize,
    _mt: *const std::ffi::c_void,
) -> *mut std::ffi::c_void {
    std::ptr::null_mut()
}

/// Checks `each_entry`'s reading of tables once per state (nothing to check where it
/// reads none).
/// # Safety
/// `l` is a live state with room for 4 more values.
#[cfg(not(feature = "luajit"))]
#[inline(always)]
pub unsafe fn verify_table_layout(_l: *mut mlua::ffi::lua_State) {}

/// The largest integer a double holds exactly (and every integer below it).
pub const MAX_EXACT_DOUBLE_INTEGER: i64 = 1 << 53;

/// The integer the number at `idx` is, as `lua_isinteger` then `lua_tointeger` give it
/// (`None` for a fraction, -0.0, NaN or a value beyond an `i64`). Where numbers are doubles,
/// one `lua_tonumber`: mlua's shims of those two calls read the number three times.
/// # Safety
/// `l` is a live state and the value at `idx` a number.
#[inline(always)]
pub unsafe fn integer_of_number(l: *mut mlua::ffi::lua_State, idx: std::ffi::c_int) -> Option<i64> {
    use mlua::ffi;
    if INTEGERS {
        return (ffi::lua_isinteger(l, idx) != 0).then(|| ffi::lua_tointeger(l, idx));
    }
    integer_of_double(ffi::lua_tonumber(l, idx))
}

/// The integer `n` is, by the test of mlua's `lua_isinteger` shim for Lua 5.1 and 5.2:
/// within an `i64`, and of the very bits of that integer as a double (so not -0.0 or NaN).
#[inline(always)]
pub fn integer_of_double(n: f64) -> Option<i64> {
    let i = n as i64;
    (n >= i64::MIN as f64 && n < -(i64::MIN as f64) && n.to_bits() == (i as f64).to_bits())
        .then_some(i)
}

/// Whether Lua holds the integer `n` exactly (always, where Lua has 64-bit integers).
#[inline(always)]
pub fn exact_integer(n: i64) -> bool {
    INTEGERS || n.unsigned_abs() <= MAX_EXACT_DOUBLE_INTEGER as u64
}

/// `n`, or the error naming what holds it when this Lua cannot hold it exactly.
pub fn check_integer(n: i64, what: &dyn Fn() -> String) -> mlua::Result<i64> {
    if exact_integer(n) {
        return Ok(n);
    }
    Err(super::error::kind_err(
        crate::error::ErrorKind::ArgumentError,
        format!(
            "{}: the integer {n} is beyond 2^53, which {NAME} numbers (doubles) cannot hold \
             exactly; store it in a String column, or build lualchemy for Lua 5.3 or later",
            what()
        ),
    ))
}

/// Why a Lua file whose first line is `-- requires: Lua 5.3` (or `5.4`, ...) cannot run here,
/// or `None` when it can (no such line, or this Lua is that version or later). Spec files and
/// examples that show a newer version's syntax (`<close>`, `//`, `&`) carry the line, and
/// the spec runner skips them elsewhere, saying why.
pub fn unmet_requirement(first_line: &str) -> Option<String> {
    let rest = first_line.trim().strip_prefix("--")?.trim();
    let version = rest
        .strip_prefix("requires:")?
        .trim()
        .strip_prefix("Lua")?
        .trim();
    let (major, minor) = version.split_once('.')?;
    let wanted: (u32, u32) = (major.trim().parse().ok()?, minor.trim().parse().ok()?);
    (LANGUAGE < wanted).then(|| {
        format!(
            "requires Lua {}.{}; this build runs {NAME}",
            wanted.0, wanted.1
        )
    })
}

/// What this Lua has, as a table scripts and specs can test (the spec runner's `LUA`):
/// `name`, `integers`, `idiv`, `bitwise`, `close`, `pairs`, `ipairs_index`,
/// `unmet(first_line)` (`unmet_requirement`) and `skip(why)` (prints why a test is skipped).
pub fn features_table(lua: &mlua::Lua) -> mlua::Result<mlua::Table> {
    let t = lua.create_table()?;
    t.set("name", NAME)?;
    t.set("integers", INTEGERS)?;
    t.set("idiv", IDIV)?;
    t.set("bitwise", BITWISE)?;
    t.set("close", CLOSE)?;
    t.set("pairs", PAIRS)?;
    t.set("ipairs_index", IPAIRS_INDEX)?;
    t.set("mixed_compare", MIXED_COMPARE)?;
    // `pending(LUA.skip(why))` in a spec: says why a test does not run on this Lua
    t.set(
        "skip",
        lua.create_function(|_, why: String| {
            println!("SKIP on {NAME}: {why}");
            Ok(format!("{why}; this is {NAME}"))
        })?,
    )?;
    t.set(
        "unmet",
        lua.create_function(|_, line: String| Ok(unmet_requirement(&line)))?,
    )?;
    Ok(t)
}

/// Runs `f` (the binary's whole work) on a native stack deep enough for this Lua. LuaJIT has
/// no limit of its own on nested C calls (5.1 to 5.4 stop at about 200): a recursion through
/// lualchemy's Rust functions (a validator setting its own attribute, a hybrid reading
/// itself) ends with LuaJIT's "stack overflow" error at its Lua stack's limit, which takes
/// more than the 8 MiB of a main thread. Elsewhere `f` runs where it is.
pub fn with_native_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let Some(size) = NATIVE_STACK else {
        return f();
    };
    // where the stack cannot be had (an address-space limit), `f` runs where it is
    let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(f)));
    let in_thread = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("lua".into())
        .stack_size(size)
        .spawn(move || {
            let f = in_thread.lock().ok().and_then(|mut f| f.take());
            f.map(|f| f())
        });
    match spawned.map(|t| t.join()) {
        Ok(Ok(Some(v))) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        _ => {
            let f = slot.lock().ok().and_then(|mut f| f.take());
            f.expect("the work ran nowhere")()
        }
    }
}

thread_local! {
    static NESTED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Nested calls from lualchemy into the script's functions (validators, hybrids, listeners,
/// defaults, `__tostring`) allowed at once where Lua does not limit nested C calls itself
/// (LuaJIT): Lua 5.4's own limit, so that a runaway recursion through them is the same quick,
/// catchable error on every version.
pub const MAX_NESTED: u32 = 200;

/// One nested call into the script's code, counted while alive (`nested`). A Lua error
/// crossing it drops it too: LuaJIT unwinds through Rust frames (elsewhere nothing is
/// counted).
pub struct Nested(());

impl Drop for Nested {
    #[inline(always)]
    fn drop(&mut self) {
        if NATIVE_STACK.is_some() {
            NESTED.with(|n| n.set(n.get() - 1));
        }
    }
}

/// Enters a nested call into the script's code, or the message for one too many. Free where
/// Lua counts C calls itself (every version but LuaJIT).
#[inline(always)]
pub fn nested() -> Result<Nested, String> {
    if NATIVE_STACK.is_some() {
        let depth = NESTED.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        let guard = Nested(());
        if depth > MAX_NESTED {
            return Err(format!(
                "stack overflow: more than {MAX_NESTED} nested calls through lualchemy (a \
                 validator, hybrid, listener, default or __tostring that calls itself?)"
            ));
        }
        return Ok(guard);
    }
    Ok(Nested(()))
}

/// The count hook every version but Luau has: `tick` every `every` instructions; after it
/// failed once, every instruction fails with the same message.
#[cfg(not(feature = "luau"))]
fn count_hook(
    lua: &Lua,
    every: u32,
    tick: impl Fn() -> Result<(), String> + 'static,
) -> mlua::Result<()> {
    use mlua::{HookTriggers, VmState};
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(every),
        move |lua, _| match tick() {
            Ok(()) => Ok(VmState::Continue),
            Err(msg) => {
                let again = msg.clone();
                lua.set_global_hook(HookTriggers::new().every_nth_instruction(1), move |_, _| {
                    Err(mlua::Error::runtime(again.clone()))
                })?;
                Err(mlua::Error::runtime(msg))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_compare_language_versions() {
        assert_eq!(unmet_requirement("-- requires: Lua 5.1"), None);
        assert_eq!(unmet_requirement("local x = 1"), None);
        let newest = unmet_requirement("-- requires: Lua 9.9").unwrap();
        assert!(
            newest.contains("requires Lua 9.9") && newest.contains(NAME),
            "{newest}"
        );
        assert_eq!(
            unmet_requirement("-- requires: Lua 5.4").is_some(),
            LANGUAGE < (5, 4)
        );
    }

    #[test]
    fn doubles_are_integers_as_the_shims_say() {
        let two63 = -(i64::MIN as f64);
        for (n, want) in [
            (0.0, Some(0)),
            (1.0, Some(1)),
            (-7.0, Some(-7)),
            (9007199254740992.0, Some(9007199254740992)),
            (i64::MIN as f64, Some(i64::MIN)),
            (-0.0, None),
            (1.5, None),
            (-0.5, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
            (f64::NEG_INFINITY, None),
            (two63, None),
            (-two63 * 2.0, None),
        ] {
            assert_eq!(integer_of_double(n), want, "{n}");
        }
    }

    #[test]
    fn integers_are_exact_or_refused() {
        assert!(
            exact_integer(MAX_EXACT_DOUBLE_INTEGER) && exact_integer(-MAX_EXACT_DOUBLE_INTEGER)
        );
        assert_eq!(exact_integer(i64::MAX), INTEGERS);
        let err = check_integer(i64::MIN, &|| "User.id".into());
        assert_eq!(err.is_ok(), INTEGERS);
        if let Err(e) = err {
            assert!(e.to_string().contains("User.id"), "{e}");
        }
    }
}

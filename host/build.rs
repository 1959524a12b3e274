//! Exports the vendored Lua's C API from the `lualchemy` binary, so that the C modules a
//! script requires from `package.cpath` (lsqlite3, luasocket, LuaSQL, built against a
//! shared liblua or none) find `lua_*` and `luaL_*` in it, as they do in stock `lua`
//! (linked with `-Wl,-E`). Only the Lua API is exported, not every Rust symbol.

use std::io::Write;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let vendored = std::env::var_os("CARGO_FEATURE_VENDORED").is_some();
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if !vendored
        || !matches!(
            target_os.as_str(),
            "linux" | "freebsd" | "netbsd" | "openbsd"
        )
    {
        return;
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let list = out.join("lua_api.dynamic-list");
    let mut f = std::fs::File::create(&list).expect("write the dynamic list");
    writeln!(f, "{{ lua_*; luaL_*; luaopen_*; luaJIT_*; }};").expect("write the dynamic list");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--dynamic-list={}",
        list.display()
    );
}

//! `package.path` and `package.cpath` as the stock interpreter of the same Lua version sets
//! them: the default of a Debian-style install (upstream's `/usr/local` directories with
//! the distribution's `/usr/share/lua/V` and `/usr/lib/<multiarch>/lua/V` between), where
//! `;;` in `LUA_PATH_5_4` / `LUA_PATH` (`LUA_CPATH...`) stands for it, and the environment
//! ignored under `-E`. The vendored Lua would otherwise look under `/usr/local` only, and
//! not find the C modules a distribution installs (lsqlite3, luasocket).

use mlua::Lua;

/// "5.4" from `_VERSION` ("Lua 5.4").
pub fn version(lua: &Lua) -> String {
    let v: String = lua.globals().get("_VERSION").unwrap_or_default();
    v.trim_start_matches("Lua ").to_string()
}

/// The multiarch triple Debian names its C module directory after.
fn multiarch() -> String {
    let arch = match std::env::consts::ARCH {
        "x86" => "i386",
        "arm" => "arm",
        other => other,
    };
    let abi = if arch == "arm" { "gnueabihf" } else { "gnu" };
    format!("{arch}-linux-{abi}")
}

/// LuaJIT's own directory of Lua modules (`jit.*`): /usr/share/luajit-2.1.0-beta3/ for
/// "LuaJIT 2.1.0-beta3", on LuaJIT only.
fn luajit_dir(lua: &Lua) -> Option<String> {
    let jit: mlua::Table = lua.globals().get::<Option<mlua::Table>>("jit").ok()??;
    let version: String = jit.get("version").ok()?;
    let number = version.strip_prefix("LuaJIT ")?;
    Some(format!("/usr/share/luajit-{number}/?.lua"))
}

/// The default `package.path` of the stock interpreter of Lua `v` (Debian's `luajit` on
/// LuaJIT: the current directory, its own directory, no `/usr/local/lib`).
pub fn default_path(lua: &Lua, v: &str) -> String {
    if let Some(jit_dir) = luajit_dir(lua) {
        return [
            "./?.lua".to_string(),
            jit_dir,
            format!("/usr/local/share/lua/{v}/?.lua"),
            format!("/usr/local/share/lua/{v}/?/init.lua"),
            format!("/usr/share/lua/{v}/?.lua"),
            format!("/usr/share/lua/{v}/?/init.lua"),
        ]
        .join(";");
    }
    let mut dirs = vec![
        format!("/usr/local/share/lua/{v}/?.lua"),
        format!("/usr/local/share/lua/{v}/?/init.lua"),
        format!("/usr/local/lib/lua/{v}/?.lua"),
        format!("/usr/local/lib/lua/{v}/?/init.lua"),
    ];
    if cfg!(target_os = "linux") {
        dirs.push(format!("/usr/share/lua/{v}/?.lua"));
        dirs.push(format!("/usr/share/lua/{v}/?/init.lua"));
    }
    if v == "5.1" {
        // 5.1 looks in the current directory first
        dirs.insert(0, "./?.lua".into());
    } else {
        dirs.push("./?.lua".into());
        dirs.push("./?/init.lua".into());
    }
    dirs.join(";")
}

/// The default `package.cpath` of the stock interpreter of Lua `v`.
pub fn default_cpath(lua: &Lua, v: &str) -> String {
    let jit = luajit_dir(lua).is_some();
    let mut dirs = vec![format!("/usr/local/lib/lua/{v}/?.so")];
    if cfg!(target_os = "linux") {
        dirs.push(format!("/usr/lib/{}/lua/{v}/?.so", multiarch()));
        if !jit {
            dirs.push(format!("/usr/lib/lua/{v}/?.so"));
        }
    }
    dirs.push(format!("/usr/local/lib/lua/{v}/loadall.so"));
    if v == "5.1" {
        dirs.insert(0, "./?.so".into());
    } else {
        dirs.push("./?.so".into());
    }
    dirs.join(";")
}

/// `loadlib.c`'s `setpath`: the versioned variable, else the plain one, else the default;
/// a `;;` in the variable is replaced by the default.
fn resolve(env_name: &str, v: &str, default: &str, ignore_env: bool) -> String {
    if ignore_env {
        return default.to_string();
    }
    let versioned = format!("{env_name}_{}", v.replace('.', "_"));
    let value = if v == "5.1" {
        std::env::var(env_name).ok()
    } else {
        std::env::var(&versioned)
            .ok()
            .or_else(|| std::env::var(env_name).ok())
    };
    let Some(value) = value else {
        return default.to_string();
    };
    if v == "5.1" {
        // 5.1 replaces every ";;" with ";default;"
        return value.replace(";;", &format!(";{default};"));
    }
    let Some(mark) = value.find(";;") else {
        return value;
    };
    let (prefix, suffix) = (&value[..mark], &value[mark + 2..]);
    let mut path = String::new();
    if !prefix.is_empty() {
        path.push_str(prefix);
        path.push(';');
    }
    path.push_str(default);
    if !suffix.is_empty() {
        path.push(';');
        path.push_str(suffix);
    }
    path
}

/// Sets `package.path` and `package.cpath`.
pub fn set(lua: &Lua, ignore_env: bool) -> mlua::Result<()> {
    let Some(package) = lua.globals().get::<Option<mlua::Table>>("package")? else {
        return Ok(());
    };
    let v = version(lua);
    package.set(
        "path",
        resolve("LUA_PATH", &v, &default_path(lua, &v), ignore_env),
    )?;
    package.set(
        "cpath",
        resolve("LUA_CPATH", &v, &default_cpath(lua, &v), ignore_env),
    )?;
    Ok(())
}

//! Keeps `types/lualchemy.lua` (the LuaLS `---@meta` stubs shipped with the module) and the
//! module in step: every public name the module exports, on the module table and on a
//! sample of each kind of value it hands out, has a stub, and every stubbed name exists.
//! The walk is in `lua_stubs.lua`; it reads metatables, so it runs with the debug library.

use mlua::Lua;

/// A state with the module and the debug library, or `None` where the runtime's debug
/// library cannot read upvalues and the registry (Luau): there the walk cannot run.
fn state() -> Option<Lua> {
    // SAFETY: the debug library is needed to read mlua's userdata metatables; the chunks
    // run here are this test's own.
    let lua = unsafe { Lua::unsafe_new() };
    lualchemy::install(&lua).unwrap();
    let usable: bool = lua
        .load("return debug ~= nil and debug.getupvalue ~= nil and debug.getregistry ~= nil")
        .eval()
        .unwrap();
    if !usable {
        eprintln!("SKIPPED: this Lua's debug library cannot walk metatables; the stubs are checked on the others");
        return None;
    }
    Some(lua)
}

fn repo_file(path: &str) -> String {
    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn every_exported_name_has_a_stub_and_every_stub_exists() {
    let Some(lua) = state() else { return };
    let (problems, inventory): (Vec<String>, mlua::Table) = lua
        .load(include_str!("lua_stubs.lua"))
        .set_name("@host/tests/lua_stubs.lua")
        .call((
            repo_file("types/lualchemy.lua"),
            repo_file("lua/prelude.lua"),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    // The walk found the names it should: a few from each family of values.
    let names = |class: &str| -> Vec<String> {
        inventory
            .get::<Option<Vec<String>>>(class)
            .unwrap()
            .unwrap_or_default()
    };
    for (class, name) in [
        ("lualchemy", "select"),
        ("lualchemy.Session", "commit"),
        ("lualchemy.Session", "begin"),
        ("lualchemy.Engine", "begin"),
        ("lualchemy.Result", "scalars"),
        ("lualchemy.Collection", "append"),
        ("lualchemy.ColumnElement", "in_"),
        ("lualchemy.InstanceState", "persistent"),
    ] {
        assert!(
            names(class).iter().any(|n| n == name),
            "the walk of {class} did not find '{name}': {:?}",
            names(class)
        );
    }
    assert!(
        problems.is_empty(),
        "types/lualchemy.lua and the module differ:\n  {}",
        problems.join("\n  ")
    );
}

/// The checker itself catches a missing stub and a stub of nothing.
#[test]
fn the_check_fails_on_a_missing_or_extra_stub() {
    let Some(lua) = state() else { return };
    let stubs = repo_file("types/lualchemy.lua")
        .replace("function Session:commit() end", "")
        .replace(
            "function Session:rollback() end",
            "function Session:rollback() end\nfunction Session:frobnicate() end",
        );
    let (problems, _): (Vec<String>, mlua::Table) = lua
        .load(include_str!("lua_stubs.lua"))
        .call((stubs, repo_file("lua/prelude.lua")))
        .unwrap();
    assert_eq!(
        problems,
        vec![
            // the scoped session's stub inherits the session's (and its value proxies them)
            "lualchemy.ScopedSession.frobnicate has a stub but the module has no such name"
                .to_string(),
            "lualchemy.Session.commit exists but has no stub".to_string(),
            "lualchemy.Session.frobnicate has a stub but the module has no such name".to_string(),
        ]
    );
}

/// The names the stubs declare: `(module names, every method and field name of any class)`.
fn stub_names(stubs: &str) -> (Vec<String>, Vec<String>) {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut module = Vec::new();
    let mut all = Vec::new();
    let mut in_module_class = false;
    for line in stubs.lines() {
        if let Some(class) = line.strip_prefix("---@class ") {
            in_module_class = class.trim() == "lualchemy";
        } else if let Some(field) = line.strip_prefix("---@field ") {
            let name = ident(field);
            if in_module_class {
                module.push(name.clone());
            }
            all.push(name);
        } else if let Some(rest) = line.strip_prefix("function ") {
            let (owner, name) = rest.split_once([':', '.']).unwrap_or_default();
            let name = ident(name);
            if owner == "orm" {
                module.push(name.clone());
            }
            all.push(name);
        }
    }
    (module, all)
}

/// docs/API.md documents nothing the module lacks: each `orm.NAME` it mentions is a name of
/// the module (and `orm.NAME.MORE` one of `NAME`'s, except `orm.func.<any SQL function>`),
/// and each `:method(` a method of some value, as declared in the stubs (which the test
/// above holds to the module).
#[test]
fn every_name_docs_api_md_mentions_exists() {
    let (module, all) = stub_names(&repo_file("types/lualchemy.lua"));
    let api = repo_file("docs/API.md");
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    // methods of Lua itself, or of the example model and classes the page defines
    let not_ours = ["format", "greet", "gmatch", "__composite_values__"];
    let mut unknown = Vec::new();
    let mut seen = 0;
    for (i, _) in api.match_indices("orm.") {
        if api[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &api[i + 4..];
        let name = ident(rest);
        if name.is_empty() {
            continue;
        }
        seen += 1;
        if !module.contains(&name) {
            unknown.push(format!("orm.{name}"));
            continue;
        }
        if name != "func" {
            if let Some(more) = rest[name.len()..].strip_prefix('.') {
                let more = ident(more);
                if !more.is_empty() && !all.contains(&more) {
                    unknown.push(format!("orm.{name}.{more}"));
                }
            }
        }
    }
    for (i, _) in api.match_indices(':') {
        // `lualchemy::install(`: Rust paths
        if api[..i].ends_with(':') || api[i + 1..].starts_with(':') {
            continue;
        }
        let rest = &api[i + 1..];
        let name = ident(rest);
        if name.is_empty() || !rest[name.len()..].starts_with('(') {
            continue;
        }
        seen += 1;
        if !all.contains(&name) && !not_ours.contains(&name.as_str()) {
            unknown.push(format!(":{name}("));
        }
    }
    assert!(seen > 100, "only {seen} names found in docs/API.md");
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "docs/API.md mentions names the module does not have: {unknown:?}"
    );
}

//! The Lua spec runner (`lualchemy test`): finds `*_spec.lua` files and runs them with the
//! busted-style runner in `lua/spec_runner.lua`.

use std::path::{Path, PathBuf};

use mlua::{Lua, Value as LuaValue};

fn collect_specs(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            collect_specs(&e, out);
        }
    } else if path.to_string_lossy().ends_with("_spec.lua") {
        out.push(path.to_path_buf());
    }
}

/// Runs the specs under `paths`; returns (passed, failed).
pub fn run_specs(paths: &[String]) -> mlua::Result<(i64, i64)> {
    let mut files = Vec::new();
    let paths: Vec<String> = if paths.is_empty() {
        vec!["spec".into()]
    } else {
        paths.to_vec()
    };
    for p in &paths {
        let path = Path::new(p);
        if !path.exists() {
            return Err(mlua::Error::runtime(format!(
                "no such file or directory: {p}"
            )));
        }
        collect_specs(path, &mut files);
    }
    let lua = Lua::new();
    crate::install(&lua)?;
    let runner: mlua::Table = lua
        .load(include_str!("../../lua/spec_runner.lua"))
        .set_name("=lualchemy/spec_runner.lua")
        .call(())?;
    let run: mlua::Function = runner.get("run")?;
    let list = lua.create_sequence_from(files.iter().map(|f| f.to_string_lossy().into_owned()))?;
    let opts = lua.create_table()?;
    if let Ok(f) = std::env::var("LUALCHEMY_SPEC_FILTER") {
        opts.set("filter", f)?;
    }
    opts.set("verbose", std::env::var("LUALCHEMY_SPEC_VERBOSE").is_ok())?;
    let (passed, failed, _pending): (i64, i64, LuaValue) = run.call((list, opts))?;
    Ok((passed, failed))
}
